"""Backends: one module per way of running the model, all with the same kernel set.

A model holds the backend *module* it was built with and calls its kernels
(``backend.linear_forward``, ``backend.masked_logistic_cost_and_grad``, ...);
model code never asks which backend it is talking to.

Every backend module defines:

``name`` (str), ``xp`` (its array module), ``asarray(x, dtype)``, ``to_numpy(x)``,
``linear_forward / linear_backward``, ``relu_forward / relu_backward``,
``sigmoid_forward / sigmoid_backward``, ``linear_relu_forward / linear_relu_backward``,
``masked_logistic_cost_and_grad(ZL, Y, normalize)``,
``conv_forward / conv_backward``, ``pool_forward / pool_backward``,
``flatten_forward / flatten_backward``, and the fused conv block of the training step,
``conv_relu_pool_forward / conv_relu_pool_backward`` (conv, bias + ReLU and max-pool in one
call; its cache is the backend's own). A backend without the fused pair still works: the model
then runs conv, ReLU and pool layer by layer.

``naive`` is not a backend: it holds the course's loop-by-loop conv and pool,
the teaching versions and the test oracle for the fast ones.
"""
from __future__ import annotations

import importlib

import numpy as np  # noqa: F401

from ..arrays import get_array_module, to_numpy  # noqa: F401 - re-exported

__all__ = ["BACKENDS", "available_backends", "get_backend", "get_array_module", "to_numpy"]

#: Every backend the package knows, in order of preference for the CPU.
BACKENDS = ("numpy", "numba", "cupy")

_MODULES = {
    "numpy": "mtl_numpy.backends.numpy_backend",
    "numba": "mtl_numpy.backends.numba_backend",
    "cupy": "mtl_numpy.backends.cupy_backend",
}
_EXTRAS = {"numba": ("Numba", "numba"), "cupy": ("CuPy and a CUDA GPU", "cuda")}
_cache = {}


def _load(name):
    if name in _cache:
        return _cache[name]
    module = importlib.import_module(_MODULES[name])
    check = getattr(module, "check_available", None)
    if check is not None:
        check()
    _cache[name] = module
    return module


def get_backend(backend="numpy"):
    """Return the backend module for ``backend`` (a name, or a backend module).

    Raises
    ------
    ValueError
        For an unknown name.
    ImportError
        When the backend's optional dependency is missing; the message names
        the extra to install.
    """
    if hasattr(backend, "masked_logistic_cost_and_grad") and hasattr(backend, "name"):
        return backend
    if not isinstance(backend, str) or backend not in _MODULES:
        raise ValueError(
            f"backend must be one of {list(BACKENDS)}; got {backend!r}"
        )
    try:
        return _load(backend)
    except ImportError as exc:
        what, extra = _EXTRAS.get(backend, (backend, backend))
        raise ImportError(
            f"backend {backend!r} needs {what}: pip install 'mtl-numpy[{extra}]' "
            f"({exc})"
        ) from exc


def available_backends():
    """Names of the backends that can run on this machine, e.g. ``["numpy", "numba"]``."""
    names = []
    for name in BACKENDS:
        try:
            _load(name)
        except Exception:  # noqa: BLE001 - any failure means "not usable here"
            continue
        names.append(name)
    return names
