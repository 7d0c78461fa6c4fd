"""Backends: one module per way of running the model, all with the same declared kernel set.

A model holds the backend *module* it was built with and calls its kernels
(``backend.linear_forward``, ``backend.conv_relu_pool_forward``, ...); model code never asks
which backend it is talking to. The kernel set is declared once, with each kernel's signature
and contract, in :mod:`mtl_numpy.backends._interface` (``KERNELS``); :func:`get_backend` checks
every backend against it -- one of the package's, or a module of one's own -- and names what is
missing.

The house, from the bottom up (each layer imports only the ones above it in this list)::

    mtl_numpy.arrays            which array module an array belongs to; host copies
    mtl_numpy.layers            dense layers, ReLU, sigmoid, flatten (NumPy or CuPy arrays)
    mtl_numpy.conv              the course's conv / pool math: im2col, col2im, forward/backward
    backends/_interface.py      the declared kernel list and its check
    backends/_cpu.py            the CPU engine (thread pool, scratch buffers, blocked conv/pool
                                drivers, the fused conv block); private to the two CPU backends
    backends/numpy_backend.py   the reference: layers + conv, on the CPU engine for NumPy floats
    backends/numba_backend.py   the NumPy backend's set with the hot loops compiled (@njit);
                                imports numpy_backend's public kernels and the CPU engine
    backends/cupy_backend.py    CuPy arrays, cuBLAS, CUDA kernels; imports layers and conv only
    backends/naive.py           not a backend: the course's loop-by-loop conv and pool, the
                                teaching versions and the test oracle for the fast ones

Every backend owns its conv block ``conv_relu_pool_forward/backward``: fused on the CPU where
the pooling tiles the conv output, its three kernels one after the other otherwise; the cache is
the backend's own. The per-task backward kernels (``*_backward_tasks``, for
``model.task_costs_and_grads``) are optional: :func:`task_kernel` gives a backend's own or a
fallback that runs on any backend.
"""
from __future__ import annotations

import importlib
import types

from ..arrays import get_array_module, to_numpy  # noqa: F401 - re-exported
from ._interface import KERNELS, TASK_KERNELS, check_backend, missing_kernels, task_kernel  # noqa: F401

__all__ = ["BACKENDS", "KERNELS", "TASK_KERNELS", "available_backends", "check_backend",
           "get_backend", "get_array_module", "missing_kernels", "task_kernel", "to_numpy"]

#: Every backend the package knows, in order of preference for the CPU.
BACKENDS = ("numpy", "numba", "cupy")

_MODULES = {
    "numpy": "mtl_numpy.backends.numpy_backend",
    "numba": "mtl_numpy.backends.numba_backend",
    "cupy": "mtl_numpy.backends.cupy_backend",
}
_EXTRAS = {"numba": ("Numba", "numba"), "cupy": ("CuPy and a CUDA GPU", "cuda")}
_cache = {}      # name -> loaded and checked module
_checked = {}    # id -> a module handed to get_backend that passed the check


def _load(name):
    if name in _cache:
        return _cache[name]
    module = importlib.import_module(_MODULES[name])
    check = getattr(module, "check_available", None)
    if check is not None:
        check()
    _cache[name] = check_backend(module)
    return module


def get_backend(backend="numpy"):
    """Return the backend module for ``backend``: a name, or a backend module (or any object
    with the kernels as attributes), checked against the declared kernel interface.

    Raises
    ------
    ValueError
        For an unknown name, or a module that lacks a kernel of
        :data:`mtl_numpy.backends._interface.KERNELS` (the message names each one).
    ImportError
        When the backend's optional dependency is missing; the message names
        the extra to install.
    """
    if isinstance(backend, str):
        if backend not in _MODULES:
            raise ValueError(f"backend must be one of {list(BACKENDS)}; got {backend!r}")
        try:
            return _load(backend)
        except ImportError as exc:
            what, extra = _EXTRAS.get(backend, (backend, backend))
            raise ImportError(
                f"backend {backend!r} needs {what}: pip install 'mtl-numpy[{extra}]' "
                f"({exc})"
            ) from exc
    if not hasattr(backend, "__dict__") or isinstance(backend, type):
        raise ValueError(f"backend must be one of {list(BACKENDS)} or a backend module; "
                         f"got {backend!r}")
    if _checked.get(id(backend)) is backend:
        return backend
    check_backend(backend)
    if isinstance(backend, types.ModuleType):     # modules live on: check each one once
        _checked[id(backend)] = backend
    return backend


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
