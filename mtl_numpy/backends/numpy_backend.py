"""The reference backend: vectorised NumPy.

Matrix products go to BLAS through ``@``; convolution is im2col plus one matrix product
(:mod:`mtl_numpy.conv`); the masked logistic cost and its gradient are computed in one fused,
numerically stable function.

On NumPy float arrays of one dtype, the conv, pool and dense kernels run on the CPU engine
(:mod:`mtl_numpy.backends._cpu`): split over the examples into one chunk per thread of its
pool, every product of a chunk on single-threaded BLAS (see there why), with the same results
as the plain functions. Small layers, CuPy arrays and mixed dtypes go to the plain functions of
:mod:`mtl_numpy.conv` and :mod:`mtl_numpy.layers`. The conv block
(:func:`conv_relu_pool_forward`) runs fused where its pooling tiles the conv output, and as its
three kernels otherwise.
"""
from __future__ import annotations

import numpy as np

from .. import conv as _conv
from .. import layers as _layers
from ..labels import known_labels
from ..conv import check_conv_args, check_pool_args, check_upstream
from ..layers import (  # noqa: F401 - re-exported as this backend's kernels
    flatten_backward,
    flatten_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
)
from . import _cpu
from ._cpu import cpu_pool, same_float
from ._interface import linear_relu_backward_tasks as _generic_linear_relu_backward_tasks

name = "numpy"
xp = np


def asarray(x, dtype=None):
    """Return ``x`` as a NumPy array of ``dtype`` (a CuPy array is copied to the host)."""
    if type(x).__module__.startswith("cupy"):
        x = x.get()
    return np.asarray(x, dtype=dtype)


def to_numpy(x):
    """Host copy of ``x`` (NumPy arrays are returned as they are)."""
    return np.asarray(x)


def masked_logistic_cost_and_grad(ZL, Y, normalize="examples"):
    r"""Fused masked logistic cost and its gradient, from logits.

    Parameters
    ----------
    ZL : ndarray of shape (n_tasks, m)
        Logits of the output layer.
    Y : ndarray of shape (n_tasks, m)
        Labels 0.0 / 1.0, ``nan`` for '?'. Already validated.
    normalize : {"examples", "labels"}
        Divide by ``m`` (the lecture) or by the number of known labels.

    Returns
    -------
    cost : float
    dZL : ndarray of shape (n_tasks, m), dtype of ``ZL``

    Notes
    -----
    With :math:`M` the mask and :math:`N` the normaliser (``m`` or
    :math:`\sum M`),

    .. math::
        J = \frac{1}{N} \sum_{i} \sum_{j: M_{ji}=1}
            \max(z_{ji}, 0) - z_{ji} y_{ji} + \log(1 + e^{-|z_{ji}|}),
        \qquad dZ^{[L]} = M \odot (\sigma(Z^{[L]}) - Y) / N.

    '?' entries are replaced by 0 with ``where`` before any arithmetic, so no
    ``nan`` is ever multiplied (``0 * nan`` is ``nan``).
    """
    known = known_labels(Y)
    n_known = int(np.count_nonzero(known))
    if n_known == 0:
        return 0.0, np.zeros_like(ZL)
    N = ZL.shape[1] if normalize == "examples" else n_known
    dtype = ZL.dtype
    Y0 = np.where(known, Y, 0).astype(dtype, copy=False)
    e = np.exp(-np.abs(ZL))
    loss = np.maximum(ZL, 0) - ZL * Y0 + np.log1p(e)
    cost = float(np.sum(loss, where=known, dtype=np.float64)) / N
    A = np.where(ZL >= 0, 1, e) / (1 + e)
    A -= Y0
    dZL = np.where(known, A, 0).astype(dtype, copy=False)
    dZL *= dtype.type(1.0 / N)
    return cost, dZL


# ----------------------------------------------------------------------------------------------
# Dense layers and ReLU, split over the examples (columns) on the CPU pool
# ----------------------------------------------------------------------------------------------

#: Entries of one block of an element-wise pass (so the mask and output stay in cache).
ELEMENTWISE_BLOCK = 1 << 16


def _dense_ok(A_prev, W, b):
    return (same_float(A_prev, W, b) and A_prev.ndim == 2 and W.ndim == 2
            and b.shape == (W.shape[0], 1))


def _bias_relu_block(z, b, a):
    z += b
    if a is not None:
        np.maximum(z, 0, out=a)


def linear_forward(A_prev, W, b):
    r"""``Z = W A_prev + b``, as :func:`mtl_numpy.layers.linear_forward` (cache ``(A_prev, W, b)``)."""
    if not _dense_ok(A_prev, W, b):
        return _layers.linear_forward(A_prev, W, b)
    Z = _dense_forward(A_prev, W, b, relu=False)[0]
    return Z, (A_prev, W, b)


def linear_relu_forward(A_prev, W, b):
    r"""LINEAR -> RELU, as :func:`mtl_numpy.layers.linear_relu_forward`: ``(A, ((A_prev, W, b), Z))``.

    The product, bias and ReLU of each chunk of columns run together on one thread.
    """
    if not _dense_ok(A_prev, W, b):
        return _layers.linear_relu_forward(A_prev, W, b)
    Z, A = _dense_forward(A_prev, W, b, relu=True)
    return A, ((A_prev, W, b), Z)


def _dense_forward(A_prev, W, b, relu):
    n, n_prev = W.shape
    m = A_prev.shape[1]
    Z = np.empty((n, m), dtype=W.dtype)
    A = np.empty_like(Z) if relu else None

    def work(lo, hi):
        z = Z[:, lo:hi]
        np.matmul(W, A_prev[:, lo:hi], out=z)
        _bias_relu_block(z, b, None if A is None else A[:, lo:hi])

    cpu_pool().run(work, m, _cpu.dense_min_chunk(n, n_prev, m))
    return Z, A


def linear_backward(dZ, cache, need_dA_prev=True):
    r"""Backward of :func:`linear_forward`, as :func:`mtl_numpy.layers.linear_backward`."""
    A_prev, W, b = cache
    if not (_dense_ok(A_prev, W, b) and same_float(dZ, W) and dZ.shape == (W.shape[0], A_prev.shape[1])):
        return _layers.linear_backward(dZ, cache, need_dA_prev)
    return _dense_backward(dZ, None, A_prev, W, need_dA_prev)


def linear_relu_backward(dA, cache, need_dA_prev=True):
    r"""Backward of :func:`linear_relu_forward`, as :func:`mtl_numpy.layers.linear_relu_backward`:
    ``dZ = dA * [Z > 0]`` (the derivative at 0 is 0), then the products of
    :func:`linear_backward`."""
    (A_prev, W, b), Z = cache
    if not (_dense_ok(A_prev, W, b) and same_float(dA, Z, W) and dA.shape == Z.shape
            and Z.shape == (W.shape[0], A_prev.shape[1])):
        return _layers.linear_relu_backward(dA, cache, need_dA_prev)
    return _dense_backward(dA, Z, A_prev, W, need_dA_prev)


def _dense_backward(dA, Z, A_prev, W, need_dA_prev):
    """``dZ`` (ReLU-masked when ``Z`` is given), then ``dW = dZ A^T``, ``db``, ``dA_prev = W^T dZ``.

    Two rounds on the pool: over the examples (mask, ``dA_prev``), then over the rows of
    ``A_prev`` (``dW``: a chunk of its columns each, no partial sums to add)."""
    n, n_prev = W.shape
    m = A_prev.shape[1]
    pool = cpu_pool()
    if Z is None:
        dZ = dA
    else:
        dZ = np.empty(Z.shape, dtype=dA.dtype)
    dA_prev = np.empty((n_prev, m), dtype=dA.dtype) if need_dA_prev else None
    dW = np.empty((n, n_prev), dtype=dA.dtype)

    def by_examples(lo, hi):
        if Z is not None:
            np.multiply(dA[:, lo:hi], Z[:, lo:hi] > 0, out=dZ[:, lo:hi])
        if dA_prev is not None:
            np.matmul(W.T, dZ[:, lo:hi], out=dA_prev[:, lo:hi])

    def by_inputs(lo, hi):
        np.matmul(dZ, A_prev[lo:hi].T, out=dW[:, lo:hi])

    min_chunk = _cpu.dense_min_chunk(n, n_prev, m)
    if Z is not None or dA_prev is not None:
        pool.run(by_examples, m, min_chunk)
    pool.run(by_inputs, n_prev, _cpu.dense_min_chunk(n, m, 1))
    db = dZ.sum(axis=1, keepdims=True)
    return dA_prev, dW, db


def linear_relu_backward_tasks(dA_tasks, cache, need_dA_prev=True):
    r"""LINEAR -> RELU backward for a stack of per-task upstream gradients (the optional kernel
    of :data:`mtl_numpy.backends._interface.TASK_KERNELS`): ``dA_tasks (T, n, m)`` ->
    ``(dA_prev (T, n_prev, m) or None, dW (T, n, n_prev), db (T, n, 1))``.

    As :func:`linear_relu_backward` per task, on the CPU pool: the mask and each task's
    ``dA_prev = W^T dZ_t`` by chunks of examples, then every task's ``dW`` in one product
    ``[dZ_1; ...; dZ_T] A_prev^T`` (the ``(T n, m)`` stack) by chunks of ``A_prev``'s rows.
    """
    (A_prev, W, b), Z = cache
    if not (_dense_ok(A_prev, W, b) and same_float(dA_tasks, Z, W) and dA_tasks.ndim == 3
            and dA_tasks.shape[1:] == Z.shape and Z.shape == (W.shape[0], A_prev.shape[1])):
        return _generic_linear_relu_backward_tasks(dA_tasks, cache, need_dA_prev)
    T, n, m = dA_tasks.shape
    n_prev = W.shape[1]
    pool = cpu_pool()
    dZ = np.empty(dA_tasks.shape, dtype=dA_tasks.dtype)
    dA_prev = np.empty((T, n_prev, m), dtype=dA_tasks.dtype) if need_dA_prev else None
    dW = np.empty((T * n, n_prev), dtype=dA_tasks.dtype)

    def by_examples(lo, hi):
        np.multiply(dA_tasks[:, :, lo:hi], Z[:, lo:hi] > 0, out=dZ[:, :, lo:hi])
        if dA_prev is not None:
            for t in range(T):
                np.matmul(W.T, dZ[t, :, lo:hi], out=dA_prev[t, :, lo:hi])

    def by_inputs(lo, hi):
        np.matmul(dZ.reshape(T * n, m), A_prev[lo:hi].T, out=dW[:, lo:hi])

    pool.run(by_examples, m, _cpu.dense_min_chunk(T * n, n_prev, m))
    pool.run(by_inputs, n_prev, _cpu.dense_min_chunk(T * n, m, 1))
    db = dZ.sum(axis=2, keepdims=True)
    return dA_prev, dW.reshape(T, n, n_prev), db


def relu_forward(Z):
    r"""ReLU, :math:`A = \max(Z, 0)`, as :func:`mtl_numpy.layers.relu_forward` (cache ``Z``)."""
    if not (same_float(Z) and Z.flags.c_contiguous and Z.size >= _cpu.RELU_SPLIT_MIN):
        return _layers.relu_forward(Z)
    A = np.empty_like(Z)
    z, a = Z.reshape(-1), A.reshape(-1)

    def work(lo, hi):
        np.maximum(z[lo:hi], 0, out=a[lo:hi])

    cpu_pool().run(work, z.size, _cpu.RELU_SPLIT_MIN // 2)
    return A, Z


def relu_backward(dA, cache):
    r"""Backward of ReLU, :math:`dZ = dA \odot \mathbb{1}[Z > 0]`, as
    :func:`mtl_numpy.layers.relu_backward` (the derivative at 0 is 0).

    A product with the 0/1 mask, in cache-sized blocks: ten times faster than ``where`` or a
    masked ``copyto`` in NumPy, and the same for every finite ``dA``."""
    Z = cache
    if not (same_float(dA, Z) and dA.shape == Z.shape and Z.flags.c_contiguous
            and dA.flags.c_contiguous and Z.size >= _cpu.RELU_SPLIT_MIN):
        return _layers.relu_backward(dA, cache)
    dZ = np.empty_like(dA)
    z, da, dz = Z.reshape(-1), dA.reshape(-1), dZ.reshape(-1)
    pool = cpu_pool()

    def work(lo, hi):
        mask, _ = pool.scratch("relu_mask", (ELEMENTWISE_BLOCK,), np.bool_)
        for s in range(lo, hi, ELEMENTWISE_BLOCK):
            e = min(s + ELEMENTWISE_BLOCK, hi)
            k = mask[:e - s]
            np.greater(z[s:e], 0, out=k)
            np.multiply(da[s:e], k, out=dz[s:e])

    pool.run(work, z.size, _cpu.RELU_SPLIT_MIN // 2)
    return dZ


# ----------------------------------------------------------------------------------------------
# Convolution and pooling: the engine's blocked drivers on NumPy floats, mtl_numpy.conv otherwise
# ----------------------------------------------------------------------------------------------

def conv_forward(A_prev, W, b, hparameters):
    r"""Forward pass of a convolution layer, as :func:`mtl_numpy.conv.conv_forward`: ``(Z, cache)``
    with cache ``(A_prev, W, b, hparameters)``.

    .. math:: Z[i, h, w, c] = \sum_{u, v, k} A_{pad}[i, s h + u, s w + v, k] \, W[u, v, k, c]
              + b[0, 0, 0, c]

    NumPy floats of one dtype run block by block on the CPU engine
    (:func:`mtl_numpy.backends._cpu.conv_forward_blocks`); anything else runs
    :func:`mtl_numpy.conv.conv_forward`.
    """
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, hparameters)
    if not same_float(A_prev, W, b):
        return _conv.conv_forward(A_prev, W, b, hparameters)
    Z = _cpu.conv_forward_blocks(A_prev, W, b, f, stride, pad, n_H, n_W)
    return Z, (A_prev, W, b, hparameters)


def conv_backward(dZ, cache, need_dA_prev=True):
    r"""Backward pass of a convolution layer, as :func:`mtl_numpy.conv.conv_backward`:
    ``(dA_prev, dW, db)``, ``dA_prev`` None when ``need_dA_prev`` is False.

    .. math:: dW = \text{cols}^T dZ, \qquad db_c = \sum_{i, h, w} dZ[i, h, w, c], \qquad
              dA_{prev} = \operatorname{col2im}(dZ \, W^T)

    (on the CPU engine, for stride 1, ``dA_prev`` is the equal gather: the window matrix of
    ``dZ`` padded by ``f - 1 - pad`` times the flipped, transposed filters).
    """
    A_prev, W, b, hparameters = cache
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, hparameters)
    check_upstream("dZ", dZ, (A_prev.shape[0], n_H, n_W, W.shape[3]))
    if not same_float(dZ, A_prev, W):
        return _conv.conv_backward(dZ, cache, need_dA_prev)
    return _cpu.conv_backward_blocks(dZ, A_prev, W, f, stride, pad, n_H, n_W, need_dA_prev)


def pool_forward(A_prev, hparameters, mode="max"):
    r"""Forward pass of a max or average pooling layer, as :func:`mtl_numpy.conv.pool_forward`:
    ``(A, cache)`` with cache ``(A_prev, hparameters)``.

    Max-pooling of NumPy floats whose windows tile the input exactly (stride = window) runs on
    the CPU engine (:func:`mtl_numpy.backends._cpu.pool_forward_tiled`).
    """
    f, stride, n_H, n_W = check_pool_args(A_prev, hparameters, mode)
    if mode == "max" and same_float(A_prev) and _cpu.tiled(A_prev, f, stride, n_H, n_W):
        return _cpu.pool_forward_tiled(A_prev, f, n_H, n_W), (A_prev, hparameters)
    return _conv.pool_forward(A_prev, hparameters, mode)


def pool_backward(dA, cache, mode="max"):
    r"""Backward pass of a pooling layer, as :func:`mtl_numpy.conv.pool_backward`: each max
    window's gradient goes to its first maximum in row-major order."""
    A_prev, hparameters = cache
    f, stride, n_H, n_W = check_pool_args(A_prev, hparameters, mode)
    check_upstream("dA", dA, (A_prev.shape[0], n_H, n_W, A_prev.shape[3]))
    if mode == "max" and same_float(dA, A_prev) and _cpu.tiled(A_prev, f, stride, n_H, n_W):
        return _cpu.pool_backward_tiled(dA, A_prev, f, n_H, n_W)
    return _conv.pool_backward(dA, cache, mode)


# ----------------------------------------------------------------------------------------------
# The conv block: CONV -> RELU -> MAX-POOL
# ----------------------------------------------------------------------------------------------

def conv_relu_pool_forward(A_prev, W, b, conv_hparameters, pool_hparameters):
    r"""CONV -> RELU -> MAX-POOL, the conv block of :class:`mtl_numpy.SharedCNN`, in one call.

    Parameters
    ----------
    A_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev)
    W : ndarray of shape (f, f, n_C_prev, n_C)
    b : ndarray of shape (1, 1, 1, n_C)
    conv_hparameters : dict ``{"stride": s, "pad": p}``
    pool_hparameters : dict ``{"f": f, "stride": s}`` (max pooling)

    Returns
    -------
    A : ndarray of shape (m, n_H, n_W, n_C)
        ``pool_forward(relu_forward(conv_forward(A_prev, W, b)))``, the same numbers.
    cache : object
        For :func:`conv_relu_pool_backward` only (its layout is private). When the pooling
        tiles the conv output of NumPy floats of one dtype, the conv output never exists
        whole: each block of examples is multiplied, biased, rectified and pooled while in
        cache, and the cache keeps one byte per pooled entry (which input won the window)
        instead of ``Z`` and ``relu(Z)`` (:class:`mtl_numpy.backends._cpu.FusedBlockCache`).
        Otherwise the three kernels run one after the other and the cache holds their caches.
    """
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, conv_hparameters)
    pf = _cpu.fused_pool_size(A_prev, W, b, n_H, n_W, pool_hparameters)
    if pf is not None:
        return _cpu.fused_block_forward(A_prev, W, b, conv_hparameters, pool_hparameters, pf)
    Z, conv_cache = conv_forward(A_prev, W, b, conv_hparameters)
    A, relu_cache = relu_forward(Z)
    P, pool_cache = pool_forward(A, pool_hparameters, mode="max")
    return P, _cpu.LayerCaches(conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dA, cache, need_dA_prev=True):
    r"""Backward of :func:`conv_relu_pool_forward`: ``(dA_prev, dW, db)``.

    ``dA`` is the gradient of the pooled output (it carries the cost's ``1/m``). Each window's
    gradient goes to its first maximum (row-major), and nowhere where that maximum is <= 0
    (ReLU's derivative at 0 is 0): the rule of :func:`pool_backward` then :func:`relu_backward`.
    ``need_dA_prev=False`` skips ``dA_prev`` (returned as None).
    """
    if isinstance(cache, _cpu.FusedBlockCache):
        return _cpu.fused_block_backward(dA, cache, need_dA_prev)
    dA_pool = pool_backward(dA, cache.pool_cache, mode="max")
    dZ = relu_backward(dA_pool, cache.relu_cache)
    return conv_backward(dZ, cache.conv_cache, need_dA_prev)


def conv_relu_pool_backward_tasks(dA_tasks, cache, need_dA_prev=True):
    r"""Per-task backward of :func:`conv_relu_pool_forward` (the optional kernel of
    :data:`mtl_numpy.backends._interface.TASK_KERNELS`).

    Parameters
    ----------
    dA_tasks : ndarray of shape (n_tasks, m, n_H // p, n_W // p, n_C)
        Task ``t``'s gradient of its own cost with respect to the block's output.
    cache, need_dA_prev
        As for :func:`conv_relu_pool_backward`.

    Returns
    -------
    dA_prev_tasks : ndarray of shape (n_tasks, m, n_H_prev, n_W_prev, n_C_prev), or None
    dW_tasks : ndarray of shape (n_tasks, f, f, n_C_prev, n_C)
    db_tasks : ndarray of shape (n_tasks, 1, 1, 1, n_C)
        Slice ``t`` is ``conv_relu_pool_backward(dA_tasks[t], cache, need_dA_prev)``.

    Notes
    -----
    On the fused path (:func:`mtl_numpy.backends._cpu.fused_block_backward_tasks`) the input's
    window matrix is gathered once per block of examples for all tasks, and every task's
    ``dW`` comes from one product :math:`\text{cols}^T [dZ_1 \dots dZ_T]`; otherwise one
    :func:`conv_relu_pool_backward` per task.
    """
    if isinstance(cache, _cpu.FusedBlockCache):
        return _cpu.fused_block_backward_tasks(dA_tasks, cache, need_dA_prev)
    parts = [conv_relu_pool_backward(dA, cache, need_dA_prev) for dA in dA_tasks]
    dA_prev = np.stack([p[0] for p in parts]) if need_dA_prev else None
    return dA_prev, np.stack([p[1] for p in parts]), np.stack([p[2] for p in parts])
