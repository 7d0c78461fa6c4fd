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

Per-task kernels (optional, with a fallback)
--------------------------------------------
:data:`TASK_KERNELS` are the backward kernels run once for a *stack* of per-task upstream
gradients (leading axis ``T = n_tasks``), for
:meth:`mtl_numpy.SharedNetwork.task_costs_and_grads`. The backward of a layer is linear in
its upstream gradient, so task ``t``'s slice of every output is exactly the ordinary
backward run on ``dA_tasks[t]``:

=====================================================================  =========================
signature                                                              returns
=====================================================================  =========================
``linear_relu_backward_tasks(dA_tasks, cache, need_dA_prev)``          ``dA_tasks (T, n, m)`` ->
                                                                       ``dA_prev (T, n_prev, m)``,
                                                                       ``dW (T, n, n_prev)``,
                                                                       ``db (T, n, 1)``
``conv_relu_pool_backward_tasks(dA_tasks, cache, need_dA_prev)``       ``dA_tasks (T, m, ...)``
                                                                       -> ``dA_prev (T, m, ...)``,
                                                                       ``dW (T, f, f, C', C)``,
                                                                       ``db (T, 1, 1, 1, C)``
=====================================================================  =========================

A backend may define them (the CPU backends do: one wide product for every task's ``dW``);
:func:`task_kernel` hands out the backend's own or the fallback here, which any backend can
run: batched products on the dense cache ``((A_prev, W, b), Z)`` that every backend shares,
and, for the conv block (whose cache is the backend's own), a plain loop over the tasks of
the backend's ``conv_relu_pool_backward``.
"""
from __future__ import annotations

import inspect
from typing import NamedTuple

from ..arrays import get_array_module

__all__ = ["Kernel", "KERNELS", "TASK_KERNELS", "ATTRIBUTES", "missing_kernels", "check_backend",
           "task_kernel"]


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


#: Optional per-task kernels: a backend may define them, else :func:`task_kernel` falls back.
TASK_KERNELS = (
    Kernel("linear_relu_backward_tasks", ("dA_tasks", "cache", "need_dA_prev"),
           "(dA_prev_tasks, dW_tasks, db_tasks)"),
    Kernel("conv_relu_pool_backward_tasks", ("dA_tasks", "cache", "need_dA_prev"),
           "(dA_prev_tasks, dW_tasks, db_tasks)"),
)


def linear_relu_backward_tasks(dA_tasks, cache, need_dA_prev=True):
    r"""LINEAR -> RELU backward for a stack of per-task upstream gradients (any backend).

    Parameters
    ----------
    dA_tasks : array of shape (T, n, m)
        Task ``t``'s gradient of its own cost with respect to this layer's ``A``.
    cache : tuple ``((A_prev, W, b), Z)``
        The dense cache of ``linear_relu_forward`` (the same on every backend).
    need_dA_prev : bool

    Returns
    -------
    dA_prev_tasks : array of shape (T, n_prev, m), or None
    dW_tasks : array of shape (T, n, n_prev)
    db_tasks : array of shape (T, n, 1)

    Notes
    -----
    .. math:: dZ_t = dA_t \odot [Z > 0], \quad dW_t = dZ_t A_{prev}^T, \quad
              db_t = \textstyle\sum_i dZ_t^{(i)}, \quad dA_{prev,t} = W^T dZ_t

    All tasks' ``dW`` in one product: the ``(T n, m)`` stack of the ``dZ_t`` times
    ``A_prev^T``.
    """
    (A_prev, W, _), Z = cache
    xp = get_array_module(dA_tasks)
    T, n, m = dA_tasks.shape
    dZ = xp.where(Z > 0, dA_tasks, xp.zeros((), dtype=dA_tasks.dtype))   # derivative 0 at 0
    dW = (dZ.reshape(T * n, m) @ A_prev.T).reshape(T, n, W.shape[1])
    db = dZ.sum(axis=2, keepdims=True)
    dA_prev = xp.matmul(W.T, dZ) if need_dA_prev else None
    return dA_prev, dW, db


def conv_relu_pool_backward_tasks_loop(backend):
    """The per-task conv block backward of ``backend`` as a loop of its
    ``conv_relu_pool_backward``, one call per task, stacked (works with any backend's cache)."""

    def conv_relu_pool_backward_tasks(dA_tasks, cache, need_dA_prev=True):
        xp = get_array_module(dA_tasks)
        parts = [backend.conv_relu_pool_backward(dA, cache, need_dA_prev) for dA in dA_tasks]
        dA_prev = xp.stack([p[0] for p in parts]) if need_dA_prev else None
        return dA_prev, xp.stack([p[1] for p in parts]), xp.stack([p[2] for p in parts])

    return conv_relu_pool_backward_tasks


def task_kernel(backend, name):
    """The per-task kernel ``name`` of :data:`TASK_KERNELS`: the backend's own if it has one,
    else the fallback that runs on every backend."""
    fn = getattr(backend, name, None)
    if callable(fn):
        return fn
    if name == "linear_relu_backward_tasks":
        return linear_relu_backward_tasks
    if name == "conv_relu_pool_backward_tasks":
        return conv_relu_pool_backward_tasks_loop(backend)
    raise ValueError(f"no per-task kernel named {name!r}; the per-task kernels are "
                     f"{[k.name for k in TASK_KERNELS]}")


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
    for kernel in TASK_KERNELS:     # optional; when defined, it must take the declared arguments
        fn = getattr(backend, kernel.name, None)
        if fn is not None and (not callable(fn) or not _takes(fn, len(kernel.parameters))):
            problems.append(f"{kernel.name}({', '.join(kernel.parameters)}) (optional, but "
                            f"defined with the wrong signature)")
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
