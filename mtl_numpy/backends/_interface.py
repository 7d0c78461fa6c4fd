r"""The kernel interface: what every backend module must provide, in one declared list.

A model holds a backend and calls only these names on it; :func:`check_backend` holds a module
(or any object with attributes) to the list, and :func:`mtl_numpy.get_backend` runs it on every
backend it hands out, so a backend of one's own that lacks a kernel, or takes too few
arguments, is refused with the names of what is wrong instead of failing mid-training.

=================================================================  ==============================
signature                                                          contract
=================================================================  ==============================
``name``                                                           str, the backend's name
``xp``                                                             its array module (``numpy``,
                                                                   ``cupy``)
``asarray(x, dtype)``                                              ``x`` as this backend's array
``to_numpy(x)``                                                    host (NumPy) copy
``linear_forward(A_prev, W, b) -> (Z, cache)``                     :math:`Z = W A_{prev} + b`
``linear_backward(dZ, cache, need_dA_prev) -> (dA_prev, dW, db)``  ``dZ`` carries the ``1/m``
``relu_forward(Z) -> (A, cache)``                                  :math:`A = \max(Z, 0)`
``relu_backward(dA, cache) -> dZ``                                 derivative 0 at 0
``sigmoid(Z) -> A``                                                stable :math:`\sigma(Z)`
``sigmoid_forward(Z) -> (A, cache)``                               :math:`A = \sigma(Z)`
``sigmoid_backward(dA, cache) -> dZ``                              :math:`dA\,\sigma(1-\sigma)`
``linear_relu_forward(A_prev, W, b) -> (A, cache)``                LINEAR -> RELU
``linear_relu_backward(dA, cache, need_dA_prev)``                  ``(dA_prev, dW, db)``
``masked_logistic_cost_and_grad(ZL, Y, normalize)``                ``(cost, dZL)``, '?' masked
``conv_forward(A_prev, W, b, hparameters) -> (Z, cache)``          cross-correlation
``conv_backward(dZ, cache, need_dA_prev) -> (dA_prev, dW, db)``
``pool_forward(A_prev, hparameters, mode) -> (A, cache)``          ``"max"`` or ``"average"``
``pool_backward(dA, cache, mode) -> dA_prev``                      max: first maximum takes it
``flatten_forward(A) -> (A_flat, cache)``                          ``(m, ...)`` -> ``(n, m)``
``flatten_backward(dA_flat, cache) -> dA``
``conv_relu_pool_forward(A_prev, W, b, conv_hp, pool_hp)``         ``(A, cache)``, the conv block
``conv_relu_pool_backward(dA, cache, need_dA_prev)``               ``(dA_prev, dW, db)``
=================================================================  ==============================

Shapes, dtypes and caches are those of :mod:`mtl_numpy.layers` (dense, one example per column)
and :mod:`mtl_numpy.conv` (channels last); ``need_dA_prev=False`` returns ``dA_prev`` as None.
The conv block must take any valid input (any pooling, odd sizes, mixed dtypes) and give the
numbers of ``pool_forward(relu_forward(conv_forward(...)))`` (max pooling); its cache is the
backend's own, read only by its ``conv_relu_pool_backward``. A backend may also define
``check_available()`` (raise ``ImportError`` when its optional dependency is missing).
"""
from __future__ import annotations

import inspect
from typing import NamedTuple

__all__ = ["Kernel", "KERNELS", "ATTRIBUTES", "missing_kernels", "check_backend"]


class Kernel(NamedTuple):
    """One entry of the interface: a function's name, its positional parameters (which a call
    may pass), and what it returns."""

    name: str
    parameters: tuple
    returns: str


#: The plain attributes every backend has.
ATTRIBUTES = ("name", "xp")

#: Every kernel a backend must provide, in the order a reader meets them.
KERNELS = (
    Kernel("asarray", ("x", "dtype"), "array"),
    Kernel("to_numpy", ("x",), "numpy.ndarray"),
    Kernel("linear_forward", ("A_prev", "W", "b"), "(Z, cache)"),
    Kernel("linear_backward", ("dZ", "cache", "need_dA_prev"), "(dA_prev, dW, db)"),
    Kernel("relu_forward", ("Z",), "(A, cache)"),
    Kernel("relu_backward", ("dA", "cache"), "dZ"),
    Kernel("sigmoid", ("Z",), "A"),
    Kernel("sigmoid_forward", ("Z",), "(A, cache)"),
    Kernel("sigmoid_backward", ("dA", "cache"), "dZ"),
    Kernel("linear_relu_forward", ("A_prev", "W", "b"), "(A, cache)"),
    Kernel("linear_relu_backward", ("dA", "cache", "need_dA_prev"), "(dA_prev, dW, db)"),
    Kernel("masked_logistic_cost_and_grad", ("ZL", "Y", "normalize"), "(cost, dZL)"),
    Kernel("conv_forward", ("A_prev", "W", "b", "hparameters"), "(Z, cache)"),
    Kernel("conv_backward", ("dZ", "cache", "need_dA_prev"), "(dA_prev, dW, db)"),
    Kernel("pool_forward", ("A_prev", "hparameters", "mode"), "(A, cache)"),
    Kernel("pool_backward", ("dA", "cache", "mode"), "dA_prev"),
    Kernel("flatten_forward", ("A",), "(A_flat, cache)"),
    Kernel("flatten_backward", ("dA_flat", "cache"), "dA"),
    Kernel("conv_relu_pool_forward",
           ("A_prev", "W", "b", "conv_hparameters", "pool_hparameters"), "(A, cache)"),
    Kernel("conv_relu_pool_backward", ("dA", "cache", "need_dA_prev"), "(dA_prev, dW, db)"),
)


def _takes(fn, n_args):
    """False when ``fn`` visibly cannot be called with ``n_args`` positional arguments."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):       # a builtin without a signature: give it the benefit
        return True
    try:
        signature.bind(*range(n_args))
    except TypeError:
        return False
    return True


def missing_kernels(backend):
    """What ``backend`` lacks: a list of strings, one per missing attribute or kernel and per
    kernel that cannot take the declared arguments (empty when it passes)."""
    problems = [attr for attr in ATTRIBUTES if not hasattr(backend, attr)]
    for kernel in KERNELS:
        fn = getattr(backend, kernel.name, None)
        if not callable(fn):
            problems.append(kernel.name)
        elif not _takes(fn, len(kernel.parameters)):
            problems.append(f"{kernel.name}({', '.join(kernel.parameters)}) "
                            f"(its signature is {kernel.name}{inspect.signature(fn)})")
    return problems


def check_backend(backend):
    """Return ``backend`` if it provides every kernel of :data:`KERNELS`.

    Raises
    ------
    ValueError
        Naming the backend and each missing attribute or kernel.
    """
    problems = missing_kernels(backend)
    if problems:
        label = getattr(backend, "__name__", None) or getattr(backend, "name", None) or backend
        raise ValueError(
            f"backend {label!r} does not provide the kernel interface of "
            f"mtl_numpy.backends._interface: missing or wrong {', '.join(problems)}")
    return backend
