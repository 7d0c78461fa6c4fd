r"""The Numba backend: the NumPy backend's kernel set, with the hot loops compiled.

Same functions, signatures, dtypes and caches as :mod:`mtl_numpy.backends.numpy_backend`
(the tests hold every kernel equal to its NumPy twin), so a cache made by one backend can be
handed to the other's backward function. What is compiled, and why:

* :func:`masked_logistic_cost_and_grad` -- ONE pass over ``ZL`` and ``Y`` gives the cost and
  ``dZL``. A '?' is detected with ``y == y`` (false only for NaN) and removed with a select, never
  with arithmetic. The transcendental math is written so that LLVM can vectorise it: in float32,
  :func:`_exp_neg_f32` and :func:`_log1p_f32` are branch-free polynomial versions of
  :math:`e^{-a}` and :math:`\log(1 + e)` (a few ulp), because the LLVM inside llvmlite has no
  vector math library (no SVML) and a call to ``expf`` per element would keep the loop scalar;
  in float64, the real ``math.exp`` / ``math.log1p``. The cost is summed in float64. For very
  large inputs the chunks run in parallel (``prange``, one partial sum per chunk: no racing
  ``+=``).
* :func:`linear_relu_forward` -- ``W @ A_prev`` stays on BLAS; bias-add and ReLU are one
  compiled pass that writes ``Z`` (the cache) and ``A``.
* :func:`relu_backward` and :func:`linear_relu_backward` -- the ReLU mask is applied in one pass,
  which for a dense layer also sums ``db`` (in float64) on the way; the products stay on BLAS.
* :func:`conv_forward` / :func:`conv_backward` -- im2col compiled (padding written on the fly,
  never a padded copy), over blocks of examples that fit one reused scratch buffer per thread;
  the products ``cols @ W``, ``cols^T dZ`` and, for stride 1, ``dA_prev`` as the window matrix
  of ``dZ`` times the flipped filters stay on BLAS (direct compiled loops measured 2-3x slower
  than BLAS here). ``conv_backward`` takes ``need_dA_prev=False``.
* :func:`conv_relu_pool_forward` / :func:`conv_relu_pool_backward` -- the conv block of the CNN's
  training step in one call: per block of examples, while it is in cache, im2col, the product,
  then bias + ReLU + 2x2 max-pool + the winner's offset in one compiled pass
  (:func:`_bias_relu_pool2_kernel`); backward rebuilds the block's conv gradient from the pooled
  one (:func:`_unpool2_kernel`) and runs the two products. Neither ``Z`` nor ``relu(Z)`` is ever
  stored whole.
* :func:`pool_forward` / :func:`pool_backward` (max) -- one pass each, vectorised over channels;
  the backward routes every window's gradient to the window's first maximum in row-major
  order, as the NumPy version does.
* Threads: the batch is cut into one chunk of examples per thread of
  :func:`mtl_numpy.backends._cpu.cpu_pool` (Python threads; these kernels are ``nogil``), and
  every BLAS call inside a chunk is single-threaded. Numba's own thread pool is used only by
  the masked cost on very large inputs, never at the same time as this one, and OpenBLAS's
  threads are never woken on the hot path (see :mod:`mtl_numpy.backends._cpu` for why).

Everything else is not compiled: ``linear_forward`` and ``relu_forward`` are the NumPy backend's
(re-exported), ``sigmoid`` and ``flatten`` :mod:`mtl_numpy.layers`', and average pooling and
inputs of mixed or integer dtypes (or CuPy arrays) run :mod:`mtl_numpy.conv`'s functions or the
NumPy backend's: Numba would not make them faster. The blocked conv drivers, the thread pool
and the fused block's driver are the CPU engine's (:mod:`mtl_numpy.backends._cpu`), shared
with the NumPy backend; this module passes them its compiled steps (:class:`_NumbaOps`).

Compiler flags come from :mod:`mtl_numpy.backends._numba_config` (never ``fastmath=True``: its
``nnan`` would break the '?' test). Every kernel is ``cache=True``. With ``NUMBA_DISABLE_JIT=1``
the same code runs as plain Python (slowly), which the tests use to check the kernels' logic.
"""
from __future__ import annotations

import math

import numpy as np

try:  # the module must import without Numba; check_available() tells get_backend
    import numba
    from numba import njit, prange

    _IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only where Numba is missing
    numba = None
    _IMPORT_ERROR = exc

    def njit(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda func: func

    prange = range

from .. import conv as _conv
from ..conv import check_conv_args, check_pool_args, check_upstream
from ..layers import (  # noqa: F401 - re-exported: Numba would not make these faster
    flatten_backward,
    flatten_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
)
from . import _cpu
from . import _numba_config as config
from . import numpy_backend as _np_backend
from ._cpu import cpu_pool, same_float
from .numpy_backend import (  # noqa: F401 - re-exported: the NumPy backend's, on the CPU pool
    linear_backward,
    linear_forward,
    linear_relu_backward_tasks,
    relu_forward,
)

name = "numba"
xp = np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_U = np.uint64  # unsigned flat indices: no negative-index wraparound for LLVM to allow for


def check_available():
    """Raise ImportError if Numba cannot be imported (``get_backend`` turns it into a hint)."""
    if _IMPORT_ERROR is not None:
        raise ImportError(f"the numba backend needs Numba ({_IMPORT_ERROR})")


def asarray(x, dtype=None):
    """Return ``x`` as a NumPy array of ``dtype`` (a CuPy array is copied to the host)."""
    return _np_backend.asarray(x, dtype=dtype)


def to_numpy(x):
    """Host copy of ``x`` (NumPy arrays are returned as they are)."""
    return np.asarray(x)


# ==============================================================================================
# Masked logistic cost and gradient
# ==============================================================================================

# float32 constants, as float32 globals: Numba freezes a global NumPy scalar with its own type,
# so the polynomials below stay in float32 (a Python float would promote them to float64 and
# halve the SIMD width).
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)
_HALF = np.float32(0.5)
_LOG2E = np.float32(1.44269504088896341)
_LN2 = np.float32(0.693147180559945309)
_LN2_HI = np.float32(0.693359375)          # exactly representable: n * _LN2_HI is exact
_LN2_LO = np.float32(-2.12194440e-4)       # ln 2 - _LN2_HI
_EXP_MIN = np.float32(-87.33654)           # ln(smallest normal float32)
_SQRT2 = np.float32(1.41421356237309505)
# Cephes expf: e^r = 1 + r + r^2 P(r) on |r| <= ln(2)/2, relative error ~1e-7.
_P0 = np.float32(1.9875691500e-4)
_P1 = np.float32(1.3981999507e-3)
_P2 = np.float32(8.3334519073e-3)
_P3 = np.float32(4.1665795894e-2)
_P4 = np.float32(1.6666665459e-1)
_P5 = np.float32(5.0000001201e-1)
# log(1 + f) = 2 atanh(s), s = f / (2 + f): 2 (s + s^3/3 + s^5/5 + s^7/7 + s^9/9), |s| <= 0.172,
# truncation error < 3e-9 relative.
_L3 = np.float32(1.0 / 3.0)
_L5 = np.float32(1.0 / 5.0)
_L7 = np.float32(1.0 / 7.0)
_L9 = np.float32(1.0 / 9.0)


@njit(**config.SERIAL)
def _exp_neg_f32(a):
    r"""float32 :math:`e^{-a}` for :math:`a \ge 0`, branch-free so that a loop over it vectorises.

    Range reduction :math:`-a = n \ln 2 + r`, :math:`|r| \le \ln(2)/2`; Cephes' polynomial for
    :math:`e^r`; :math:`2^n` built from its exponent bits. Below :math:`\ln(2^{-126})` the result
    is 0 (NumPy would give a subnormal number, at most 1.2e-38).
    """
    x = -a
    tiny = x < _EXP_MIN
    x = max(x, _EXP_MIN)
    n = np.floor(x * _LOG2E + _HALF)
    r = x - n * _LN2_HI
    r = r - n * _LN2_LO
    p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
    y = p * r * r + r + _F1
    two_n = np.int32((np.int32(n) + np.int32(127)) << np.int32(23)).view(np.float32)
    return _F0 if tiny else y * two_n


@njit(**config.SERIAL)
def _log1p_f32(e):
    r"""float32 :math:`\log(1 + e)` for :math:`0 \le e \le 1`, branch-free, accurate for tiny ``e``.

    If :math:`1 + e > \sqrt 2`, use :math:`\log(1+e) = \ln 2 + \log(1 + f)` with
    :math:`f = (e - 1)/2`; else :math:`f = e` itself (not :math:`(1 + e) - 1`, which would lose
    every digit of a tiny ``e``). Then :math:`\log(1 + f) = 2\,\mathrm{atanh}(f / (2 + f))` by
    its odd series.
    """
    big = e > _SQRT2 - _F1
    f = (e - _F1) * _HALF if big else e
    k = _LN2 if big else _F0
    s = f / (_F2 + f)
    s2 = s * s
    q = s2 * (_L3 + s2 * (_L5 + s2 * (_L7 + s2 * _L9)))
    return k + (s + s) + (s + s) * q


@njit(**config.SERIAL)
def _cost_grad_span_f32(z, y, dz, scale):
    """Cost (float64 sum) and ``dz`` of a 1-d span, float32, every step vectorisable.

    The loop runs from 0 so that LLVM knows no index is negative: with ``range(lo, hi)`` it
    must allow for Python's negative-index wraparound and falls back to gathers and scatters.
    """
    acc = 0.0
    for i in range(z.size):
        zi = z[i]
        yi = y[i]
        e = _exp_neg_f32(abs(zi))                         # e^{-|z|}, never overflows
        u = _F1 + e
        # loss = max(z, 0) - z y + log(1 + e^{-|z|}), with max(z, 0) - z y written as one
        # product: under the "reassoc" flag LLVM may regroup a three-term sum as
        # max(z, 0) + (log1p - z y), which cancels catastrophically when z = y * 20, say.
        lin = zi * (_F1 - yi) if zi >= _F0 else -zi * yi
        loss = lin + _log1p_f32(e)
        # sigma(z) = 1 / (1 + e^{-|z|}) for z >= 0, e^{-|z|} / (1 + e^{-|z|}) for z < 0
        a = (_F1 if zi >= _F0 else e) / u
        known = yi == yi                                  # False only for nan, i.e. '?'
        dz[i] = (a - yi) * scale if known else _F0        # a select: nan never reaches dz
        acc += np.float64(loss) if known else 0.0
    return acc


@njit(**config.SERIAL)
def _cost_grad_span_f64(z, y, dz, scale):
    """Cost and ``dz`` of a 1-d span, float64, with the accurate ``math.exp`` / ``math.log1p``."""
    acc = 0.0
    for i in range(z.size):
        zi = z[i]
        yi = y[i]
        e = math.exp(-abs(zi))
        lin = zi * (1.0 - yi) if zi >= 0.0 else -zi * yi     # max(z, 0) - z y, see the f32 twin
        loss = lin + math.log1p(e)
        a = (1.0 if zi >= 0.0 else e) / (1.0 + e)
        known = yi == yi
        dz[i] = (a - yi) * scale if known else 0.0
        acc += loss if known else 0.0
    return acc


@njit(**config.SERIAL)
def _cost_grad_serial_f32(z, y, dz, scale):
    return _cost_grad_span_f32(z, y, dz, scale)


@njit(**config.SERIAL)
def _cost_grad_serial_f64(z, y, dz, scale):
    return _cost_grad_span_f64(z, y, dz, scale)


@njit(**config.PARALLEL)
def _cost_grad_parallel_f32(z, y, dz, scale, chunk):
    n = z.size
    n_chunks = (n + chunk - 1) // chunk
    partial = np.zeros(n_chunks)                          # one partial sum per chunk, no races
    for c in prange(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, n)
        partial[c] = _cost_grad_span_f32(z[lo:hi], y[lo:hi], dz[lo:hi], scale)
    return partial.sum()


@njit(**config.PARALLEL)
def _cost_grad_parallel_f64(z, y, dz, scale, chunk):
    n = z.size
    n_chunks = (n + chunk - 1) // chunk
    partial = np.zeros(n_chunks)
    for c in prange(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, n)
        partial[c] = _cost_grad_span_f64(z[lo:hi], y[lo:hi], dz[lo:hi], scale)
    return partial.sum()


@njit(**config.SERIAL)
def _count_known(y):
    """Number of entries of ``y`` that are not nan (known labels)."""
    count = 0
    for i in range(y.size):
        count += 1 if y[i] == y[i] else 0
    return count


_COST_KERNELS = {
    # dtype: (serial, parallel)
    np.dtype(np.float32): (_cost_grad_serial_f32, _cost_grad_parallel_f32),
    np.dtype(np.float64): (_cost_grad_serial_f64, _cost_grad_parallel_f64),
}


def masked_logistic_cost_and_grad(ZL, Y, normalize="examples", parallel=None):
    r"""Fused masked logistic cost and its gradient, from logits: one compiled pass.

    Parameters
    ----------
    ZL : ndarray of shape (n_tasks, m)
        Logits of the output layer (float32 or float64; other dtypes go to the NumPy kernel).
    Y : ndarray of shape (n_tasks, m)
        Labels 0.0 / 1.0, ``nan`` for '?'. Already validated.
    normalize : {"examples", "labels"}
        Divide by ``m = ZL.shape[1]`` (the lecture) or by the number of known labels.
    parallel : bool or None
        Run the ``prange`` version (None: when there are at least
        ``_numba_config.COST_PARALLEL_MIN`` entries). For benchmarks.

    Returns
    -------
    cost : float
        Summed in float64; 0.0 when no label is known.
    dZL : ndarray of shape (n_tasks, m), dtype of ``ZL``
        Exactly 0 at '?' entries; all zeros when no label is known.

    Notes
    -----
    The NumPy twin's formula, element by element, with :math:`N` the normaliser:

    .. math::
        J = \frac{1}{N} \sum_{j,i:\, y_{ji} = y_{ji}}
            \max(z_{ji}, 0) - z_{ji} y_{ji} + \log(1 + e^{-|z_{ji}|}),
        \qquad dZ^{[L]}_{ji} = [y_{ji} = y_{ji}]\,(\sigma(z_{ji}) - y_{ji}) / N

    One :math:`e^{-|z|}` and one :math:`\log(1 + \cdot)` per element. For
    ``normalize="labels"`` the known labels are counted first (a read of ``Y`` only), so the
    gradient is scaled in the same single pass.
    """
    ZL = np.asarray(ZL)
    dtype = ZL.dtype
    if dtype not in _FLOATS:
        return _np_backend.masked_logistic_cost_and_grad(ZL, Y, normalize)
    z = np.ascontiguousarray(ZL).reshape(-1)
    y = np.ascontiguousarray(Y, dtype=dtype).reshape(-1)
    if normalize == "examples":
        N = ZL.shape[1]
    else:
        N = int(_count_known(y))
        if N == 0:
            return 0.0, np.zeros_like(ZL)
    dZL = np.empty(ZL.shape, dtype=dtype)
    dz = dZL.reshape(-1)
    scale = dtype.type(1.0 / N)
    serial_kernel, parallel_kernel = _COST_KERNELS[dtype]
    if parallel is None:
        parallel = z.size >= config.COST_PARALLEL_MIN and numba.get_num_threads() > 1
    if parallel:
        total = parallel_kernel(z, y, dz, scale, config.COST_CHUNK)
    else:
        total = serial_kernel(z, y, dz, scale)
    return float(total) / N, dZL


# ==============================================================================================
# Dense layers: bias-add + ReLU forward, ReLU mask (+ db) backward; products on BLAS
# ==============================================================================================

@njit(**config.SERIAL)
def _bias_relu(Z, b, A):
    """``Z += b`` then ``A = max(Z, 0)``, in one pass (row by row: ``b`` is one number per row)."""
    zero = Z.dtype.type(0)
    for j in range(Z.shape[0]):
        z_row = Z[j]
        a_row = A[j]
        bj = b[j, 0]
        for i in range(z_row.size):
            z = z_row[i] + bj
            z_row[i] = z
            a_row[i] = zero if z < zero else z              # np.maximum(z, 0), nan kept


@njit(**config.SERIAL)
def _relu_mask_db(dA, Z, dZ, db):
    """``dZ = dA * [Z > 0]`` and, in the same pass, ``db = sum_i dZ`` (summed in float64)."""
    zero = dZ.dtype.type(0)
    for j in range(Z.shape[0]):
        da_row = dA[j]
        z_row = Z[j]
        dz_row = dZ[j]
        acc = 0.0
        for i in range(dz_row.size):
            d = da_row[i] if z_row[i] > zero else zero
            dz_row[i] = d
            acc += np.float64(d)
        db[j, 0] = acc


@njit(**config.SERIAL)
def _relu_mask(dA, Z, dZ):
    """``dZ = dA * [Z > 0]`` over flat arrays (a select: the derivative at 0 is 0)."""
    zero = dZ.dtype.type(0)
    for i in range(dZ.size):
        dZ[i] = dA[i] if Z[i] > zero else zero


def linear_relu_forward(A_prev, W, b):
    r"""LINEAR -> RELU: ``Z = W A_prev`` on BLAS, then ``Z += b`` and ``A = max(Z, 0)`` in one pass.

    Parameters
    ----------
    A_prev : ndarray of shape (n[l-1], m)
    W : ndarray of shape (n[l], n[l-1])
    b : ndarray of shape (n[l], 1)

    Returns
    -------
    A : ndarray of shape (n[l], m)
    cache : tuple ``((A_prev, W, b), Z)``, the layout of :func:`mtl_numpy.layers.linear_relu_forward`

    Notes
    -----
    .. math:: Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}, \qquad A^{[l]} = \max(Z^{[l]}, 0)
    """
    if not (same_float(A_prev, W, b) and b.shape == (W.shape[0], 1) and A_prev.ndim == 2
            and W.ndim == 2):
        return _np_backend.linear_relu_forward(A_prev, W, b)
    n, n_prev = W.shape
    m = A_prev.shape[1]
    Z = np.empty((n, m), dtype=W.dtype)
    A = np.empty_like(Z)

    def work(lo, hi):                                  # a chunk of examples per thread
        z = Z[:, lo:hi]
        np.matmul(W, A_prev[:, lo:hi], out=z)
        _bias_relu(z, b, A[:, lo:hi])

    cpu_pool().run(work, m, _cpu.dense_min_chunk(n, n_prev, m))
    return A, ((A_prev, W, b), Z)


def linear_relu_backward(dA, cache, need_dA_prev=True):
    r"""Backward pass of :func:`linear_relu_forward`: ``(dA_prev, dW, db)``.

    One compiled pass gives ``dZ = dA * [Z > 0]`` and, on the way, ``db`` (row sums, in
    float64); ``dW = dZ A_prev^T`` and ``dA_prev = W^T dZ`` stay on BLAS. ``need_dA_prev=False``
    skips ``dA_prev`` (returned as None), as :func:`mtl_numpy.layers.linear_backward` does.
    The upstream ``dA`` already carries the cost's ``1/m``.
    """
    (A_prev, W, b), Z = cache
    if not (same_float(dA, Z, A_prev, W) and dA.shape == Z.shape and Z.ndim == 2):
        return _np_backend.linear_relu_backward(dA, cache, need_dA_prev)
    n, n_prev = W.shape
    m = Z.shape[1]
    dZ = np.empty(Z.shape, dtype=dA.dtype)
    dA_prev = np.empty((n_prev, m), dtype=dA.dtype) if need_dA_prev else None
    dW = np.empty((n, n_prev), dtype=dA.dtype)

    def by_examples(lo, hi):                           # mask, db partial, dA_prev columns
        db64 = np.empty((n, 1))
        _relu_mask_db(dA[:, lo:hi], Z[:, lo:hi], dZ[:, lo:hi], db64)
        if dA_prev is not None:
            np.matmul(W.T, dZ[:, lo:hi], out=dA_prev[:, lo:hi])
        return db64

    def by_inputs(lo, hi):                             # dW columns
        np.matmul(dZ, A_prev[lo:hi].T, out=dW[:, lo:hi])

    pool = cpu_pool()
    parts = pool.run(by_examples, m, _cpu.dense_min_chunk(n, n_prev, m))
    pool.run(by_inputs, n_prev, _cpu.dense_min_chunk(n, m, 1))
    db64 = parts[0]
    for part in parts[1:]:
        db64 += part
    return dA_prev, dW, db64.astype(dZ.dtype)


def relu_backward(dA, cache):
    r"""Backward pass of ReLU, :math:`dZ = dA \odot \mathbb{1}[Z > 0]`, one compiled pass.

    ``cache`` is ``Z``; any shape (dense ``(n, m)`` or conv ``(m, n_H, n_W, n_C)``). The
    derivative at 0 is 0, as in :func:`mtl_numpy.layers.relu_backward`.
    """
    Z = cache
    if not (same_float(dA, Z) and dA.shape == Z.shape):
        return _np_backend.relu_backward(dA, cache)
    dZ = np.empty(Z.shape, dtype=dA.dtype)
    da = np.ascontiguousarray(dA).reshape(-1)
    z = np.ascontiguousarray(Z).reshape(-1)
    dz = dZ.reshape(-1)

    def work(lo, hi):
        _relu_mask(da[lo:hi], z[lo:hi], dz[lo:hi])

    cpu_pool().run(work, z.size, _cpu.RELU_SPLIT_MIN // 2)
    return dZ


# ==============================================================================================
# Convolution: compiled im2col / col2im (padding written on the fly) + BLAS products
# ==============================================================================================

@njit(**config.SERIAL)
def _im2col_kernel(A_prev, f, stride, pad, cols):
    r"""``cols[i, h, w, u, v, :] = A_pad[i, s h + u, s w + v, :]``, the padding written as zeros.

    The padded input is never built. In channels-last memory one window row, ``(v, k)``, is
    ``f * n_C_prev`` contiguous numbers of ``A_prev[i, y]`` when it lies inside the image, so
    interior rows are copied as one run; rows that cross the border go column by column.
    Flat unsigned indices (``_U``): with signed ones Numba must allow for negative-index
    wraparound and LLVM turns every copy into gathers and scatters. Serial on purpose: it is a
    copy, and it runs between BLAS calls whose threads a second thread pool would fight.
    """
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    n_H = cols.shape[1]
    n_W = cols.shape[2]
    run = _U(f * n_C_prev)
    C = _U(n_C_prev)
    src = A_prev.reshape(A_prev.size)
    dst = cols.reshape(cols.size)
    zero = A_prev.dtype.type(0)
    d = _U(0)                                     # flat index of cols[i, h, w, u, 0, 0]
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                x0 = stride * w - pad
                for u in range(f):
                    y = stride * h + u - pad
                    if y < 0 or y >= n_H_prev:
                        for j in range(run):
                            dst[d + j] = zero
                    elif x0 >= 0 and x0 + f <= n_W_prev:
                        s0 = _U(((i * n_H_prev + y) * n_W_prev + x0) * n_C_prev)
                        for j in range(run):
                            dst[d + j] = src[s0 + j]
                    else:
                        for v in range(f):
                            x = x0 + v
                            o = d + _U(v) * C
                            if x >= 0 and x < n_W_prev:
                                s0 = _U(((i * n_H_prev + y) * n_W_prev + x) * n_C_prev)
                                for k in range(C):
                                    dst[o + k] = src[s0 + k]
                            else:
                                for k in range(C):
                                    dst[o + k] = zero
                    d += run


def conv_forward(A_prev, W, b, hparameters):
    r"""Forward pass of a convolution layer: compiled im2col, then one BLAS product per block.

    Same parameters, result, dtype rules and cache ``(A_prev, W, b, hparameters)`` as
    :func:`mtl_numpy.conv.conv_forward` (which this falls back to for mixed or
    non-float dtypes).

    Notes
    -----
    .. math::
        Z[i, h, w, c] = \sum_{u, v, k} A_{pad}[i, s h + u, s w + v, k] \, W[u, v, k, c]
                        + b[0, 0, 0, c]

    The batch is split into one chunk of examples per thread of
    :func:`mtl_numpy.backends._cpu.cpu_pool` (single-threaded BLAS in each), and each chunk goes
    through in blocks of examples whose window matrix fits ``CONV_BLOCK_BYTES`` (one scratch
    buffer per thread, reused across calls: a fresh 30 MiB array per call would cost as many
    page faults as the copy itself). For each block the window rows are gathered by
    :func:`_im2col_kernel` (the padding written as zeros on the fly) and multiplied by ``W`` as
    an ``(f f n_C_prev) x n_C`` matrix on BLAS, straight into ``Z``.
    """
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, hparameters)
    if not same_float(A_prev, W, b):
        return _conv.conv_forward(A_prev, W, b, hparameters)
    Z = _cpu.conv_forward_blocks(A_prev, W, b, f, stride, pad, n_H, n_W, ops=_NumbaOps,
                                 block_bytes=config.CONV_BLOCK_BYTES)
    return Z, (A_prev, W, b, hparameters)


def conv_backward(dZ, cache, need_dA_prev=True):
    r"""Backward pass of a convolution layer: compiled im2col and BLAS products.

    Parameters
    ----------
    dZ : ndarray of shape (m, n_H, n_W, n_C)
        Gradient of the cost with respect to ``Z``; it already carries the cost's ``1/m``.
    cache : tuple ``(A_prev, W, b, hparameters)`` from :func:`conv_forward`
    need_dA_prev : bool, default True
        ``False`` skips ``dA_prev`` (returned as None) and its product: the first layer's
        input needs no gradient.

    Returns
    -------
    dA_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev), or None
    dW : ndarray of shape (f, f, n_C_prev, n_C)
    db : ndarray of shape (1, 1, 1, n_C)

    Notes
    -----
    Chunk by chunk and block by block (as in :func:`conv_forward`), with
    :math:`\text{cols}` the block's window matrix and :math:`dZ` flattened to rows:

    .. math::
        dW \mathrel{+}= \text{cols}^T dZ, \qquad db_c = \sum_{i, h, w} dZ[i, h, w, c]

    and, for stride 1, :math:`dA_{prev}` as the convolution of :math:`dZ` (padded by
    :math:`f - 1 - p`) with the flipped, transposed filters: the window matrix of the block's
    :math:`dZ` (the same compiled gather) times one BLAS product, written straight into
    ``dA_prev`` (other strides: ``dZ W^T`` added back with col2im). Each thread sums its own
    ``dW`` and ``db``; the threads' sums are added in a fixed order.
    """
    A_prev, W, b, hparameters = cache
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, hparameters)
    m, n_C = A_prev.shape[0], W.shape[3]
    check_upstream("dZ", dZ, (m, n_H, n_W, n_C))
    if not same_float(dZ, A_prev, W):
        return _conv.conv_backward(dZ, cache, need_dA_prev=need_dA_prev)
    return _cpu.conv_backward_blocks(dZ, A_prev, W, f, stride, pad, n_H, n_W, need_dA_prev,
                                     ops=_NumbaOps, block_bytes=config.CONV_BLOCK_BYTES)


def conv_relu_pool_forward(A_prev, W, b, conv_hparameters, pool_hparameters):
    r"""CONV -> RELU -> MAX-POOL in one call, as
    :func:`mtl_numpy.backends.numpy_backend.conv_relu_pool_forward` (same result; the cache is
    private to :func:`conv_relu_pool_backward`).

    Where the pooling tiles the conv output of NumPy floats of one dtype, block by block while
    in cache: :func:`_im2col_kernel`, the BLAS product, then :func:`_bias_relu_pool_kernel`
    (bias, ReLU, max-pool and the winner's offset in one pass). Otherwise this backend's
    :func:`conv_forward`, :func:`relu_forward` and :func:`pool_forward`, one after the other.
    """
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, conv_hparameters)
    pf = _cpu.fused_pool_size(A_prev, W, b, n_H, n_W, pool_hparameters)
    if pf is not None:
        return _cpu.fused_block_forward(A_prev, W, b, conv_hparameters, pool_hparameters, pf,
                                        ops=_NumbaOps, block_bytes=config.CONV_BLOCK_BYTES)
    Z, conv_cache = conv_forward(A_prev, W, b, conv_hparameters)
    A, relu_cache = relu_forward(Z)
    P, pool_cache = pool_forward(A, pool_hparameters, mode="max")
    return P, _cpu.LayerCaches(conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dA, cache, need_dA_prev=True):
    r"""Backward of :func:`conv_relu_pool_forward`: ``(dA_prev, dW, db)``. On the fused path each
    block's conv gradient is rebuilt from the pooled gradient and the winners by
    :func:`_unpool_kernel`; otherwise :func:`pool_backward`, :func:`relu_backward`, then
    :func:`conv_backward`."""
    if isinstance(cache, _cpu.FusedBlockCache):
        return _cpu.fused_block_backward(dA, cache, need_dA_prev, ops=_NumbaOps,
                                         block_bytes=config.CONV_BLOCK_BYTES)
    dA_pool = pool_backward(dA, cache.pool_cache, mode="max")
    dZ = relu_backward(dA_pool, cache.relu_cache)
    return conv_backward(dZ, cache.conv_cache, need_dA_prev)


def conv_relu_pool_backward_tasks(dA_tasks, cache, need_dA_prev=True):
    r"""Per-task backward of :func:`conv_relu_pool_forward` (the optional kernel of
    :data:`mtl_numpy.backends._interface.TASK_KERNELS`): ``dA_tasks`` of shape
    ``(n_tasks, *A.shape)`` -> ``(dA_prev_tasks, dW_tasks, db_tasks)`` with a leading task axis.
    On the fused path, :func:`mtl_numpy.backends._cpu.fused_block_backward_tasks` with the
    compiled unpooling and gathering (the input's windows gathered once for every task, one wide
    product for every task's ``dW``); otherwise one :func:`conv_relu_pool_backward` per task."""
    if isinstance(cache, _cpu.FusedBlockCache):
        return _cpu.fused_block_backward_tasks(dA_tasks, cache, need_dA_prev, ops=_NumbaOps,
                                               block_bytes=config.CONV_BLOCK_BYTES)
    return _tasks_loop(dA_tasks, cache, need_dA_prev)


def _tasks_loop(dA_tasks, cache, need_dA_prev):
    parts = [conv_relu_pool_backward(dA, cache, need_dA_prev) for dA in dA_tasks]
    dA_prev = np.stack([p[0] for p in parts]) if need_dA_prev else None
    return dA_prev, np.stack([p[1] for p in parts]), np.stack([p[2] for p in parts])


@njit(**config.SERIAL)
def _bias_relu_pool_kernel(z, bias, pf, P, code):
    r"""``P = maxpool(relu(z + bias))`` over ``pf x pf`` tiles of ``z`` (b, n_H, n_W, C), and
    ``code`` = 1 + the row-major offset of each window's first maximum of ``z + bias``, or 0
    where that maximum is <= 0 (ReLU stops the gradient there). One pass; ``z`` is biased in
    place. Channels innermost (vectorised), flat unsigned indices."""
    b, n_H, n_W, C = z.shape
    nPH = n_H // pf
    nPW = n_W // pf
    src = z.reshape(z.size)
    dst = P.reshape(P.size)
    cod = code.reshape(code.size)
    best = np.empty(C, dtype=z.dtype)
    arg = np.empty(C, dtype=np.int8)
    zero = z.dtype.type(0)
    o = _U(0)
    for i in range(b):
        for ph in range(nPH):
            for pw in range(nPW):
                for u in range(pf):
                    for v in range(pf):
                        x = _U(((i * n_H + ph * pf + u) * n_W + pw * pf + v) * C)
                        k = np.int8(u * pf + v + 1)
                        if u == 0 and v == 0:
                            for c in range(C):
                                val = src[x + c] + bias[c]
                                src[x + c] = val
                                best[c] = val
                                arg[c] = k
                        else:
                            for c in range(C):
                                val = src[x + c] + bias[c]
                                src[x + c] = val
                                greater = val > best[c]
                                best[c] = val if greater else best[c]
                                arg[c] = k if greater else arg[c]
                for c in range(C):
                    pos = best[c] > zero
                    dst[o + c] = best[c] if pos else zero
                    cod[o + c] = arg[c] if pos else np.int8(0)
                o += _U(C)


@njit(**config.SERIAL)
def _unpool_kernel(dP, code, pf, dz):
    r"""``dz[i, pf ph + u, pf pw + v, c] = dP[i, ph, pw, c]`` where ``code`` names offset
    ``(u, v)``, else 0: max-pool and ReLU backward for :func:`_bias_relu_pool_kernel`'s code."""
    b, n_H, n_W, C = dz.shape
    nPH = n_H // pf
    nPW = n_W // pf
    g = dP.reshape(dP.size)
    cod = code.reshape(code.size)
    dst = dz.reshape(dz.size)
    zero = dz.dtype.type(0)
    o = _U(0)
    for i in range(b):
        for ph in range(nPH):
            for pw in range(nPW):
                for u in range(pf):
                    for v in range(pf):
                        x = _U(((i * n_H + ph * pf + u) * n_W + pw * pf + v) * C)
                        k = np.int8(u * pf + v + 1)
                        for c in range(C):
                            dst[x + c] = g[o + c] if cod[o + c] == k else zero
                o += _U(C)


@njit(**config.SERIAL)
def _bias_relu_pool2_kernel(z, bias, P, code):
    """:func:`_bias_relu_pool_kernel` for 2 x 2 windows: the four inputs of a window side by side
    in registers, so that the channel loop is one vectorised pass (no per-window scratch)."""
    b, n_H, n_W, C = z.shape
    nPH = n_H // 2
    nPW = n_W // 2
    src = z.reshape(z.size)
    dst = P.reshape(P.size)
    cod = code.reshape(code.size)
    zero = z.dtype.type(0)
    row = _U(n_W * C)
    o = _U(0)
    for i in range(b):
        for ph in range(nPH):
            x0 = _U((i * n_H + 2 * ph) * n_W * C)
            for pw in range(nPW):
                a0 = x0 + _U(2 * pw * C)
                a1 = a0 + _U(C)
                a2 = a0 + row
                a3 = a2 + _U(C)
                for c in range(_U(C)):
                    bc = bias[c]
                    v0 = src[a0 + c] + bc
                    v1 = src[a1 + c] + bc
                    v2 = src[a2 + c] + bc
                    v3 = src[a3 + c] + bc
                    best = v0
                    k = np.int8(1)
                    g = v1 > best
                    best = v1 if g else best
                    k = np.int8(2) if g else k
                    g = v2 > best
                    best = v2 if g else best
                    k = np.int8(3) if g else k
                    g = v3 > best
                    best = v3 if g else best
                    k = np.int8(4) if g else k
                    pos = best > zero
                    dst[o + c] = best if pos else zero
                    cod[o + c] = k if pos else np.int8(0)
                o += _U(C)


@njit(**config.SERIAL)
def _unpool2_kernel(dP, code, dz):
    """:func:`_unpool_kernel` for 2 x 2 windows, one vectorised channel loop per window."""
    b, n_H, n_W, C = dz.shape
    nPH = n_H // 2
    nPW = n_W // 2
    g = dP.reshape(dP.size)
    cod = code.reshape(code.size)
    dst = dz.reshape(dz.size)
    zero = dz.dtype.type(0)
    row = _U(n_W * C)
    o = _U(0)
    for i in range(b):
        for ph in range(nPH):
            x0 = _U((i * n_H + 2 * ph) * n_W * C)
            for pw in range(nPW):
                a0 = x0 + _U(2 * pw * C)
                a1 = a0 + _U(C)
                a2 = a0 + row
                a3 = a2 + _U(C)
                # one store stream per loop: with four, LLVM gives up vectorising
                for c in range(_U(C)):
                    dst[a0 + c] = g[o + c] if cod[o + c] == np.int8(1) else zero
                for c in range(_U(C)):
                    dst[a1 + c] = g[o + c] if cod[o + c] == np.int8(2) else zero
                for c in range(_U(C)):
                    dst[a2 + c] = g[o + c] if cod[o + c] == np.int8(3) else zero
                for c in range(_U(C)):
                    dst[a3 + c] = g[o + c] if cod[o + c] == np.int8(4) else zero
                o += _U(C)


@njit(**config.SERIAL)
def _unpool_tasks_kernel(dP, code, pf, out):
    r""":func:`_unpool_kernel` for ``T`` tasks into the side-by-side layout:
    ``out[i, pf ph + u, pf pw + v, t, c] = dP[t, i, ph, pw, c]`` where ``code`` names offset
    ``(u, v)``, else 0; ``dP`` (T, b, nPH, nPW, C), ``out`` (b, n_H, n_W, T, C)."""
    T, b, nPH, nPW, C = dP.shape
    zero = out.dtype.type(0)
    for i in range(b):
        for ph in range(nPH):
            for pw in range(nPW):
                for u in range(pf):
                    for v in range(pf):
                        k = np.int8(u * pf + v + 1)
                        for t in range(T):
                            for c in range(C):
                                out[i, ph * pf + u, pw * pf + v, t, c] = (
                                    dP[t, i, ph, pw, c] if code[i, ph, pw, c] == k else zero)


class _NumbaOps:
    """The block steps of the CPU engine's conv pipeline (:mod:`mtl_numpy.backends._cpu`,
    whose :class:`~mtl_numpy.backends._cpu.NumpyOps` they replace), compiled."""

    @staticmethod
    def unpool_tasks(dP_tasks, code, pf, out5, pool):
        _unpool_tasks_kernel(np.ascontiguousarray(dP_tasks), np.ascontiguousarray(code), pf, out5)

    @staticmethod
    def gather(pool, tag, src, f, stride, pad, n_out_h, n_out_w, n_ex):
        b, _, _, C = src.shape
        cols, _ = pool.scratch(tag + "cols", (n_ex * n_out_h * n_out_w, f * f * C), src.dtype)
        cols = cols[:b * n_out_h * n_out_w]
        _im2col_kernel(np.ascontiguousarray(src), f, stride, pad,
                       cols.reshape(b, n_out_h, n_out_w, f, f, C))
        return cols

    @staticmethod
    def bias(z, bias):
        z += bias

    @staticmethod
    def bias_relu_pool(z4, bias, pf, P, code, pool):
        if pf == 2:
            _bias_relu_pool2_kernel(z4, np.ascontiguousarray(bias), P, code)
        else:
            _bias_relu_pool_kernel(z4, np.ascontiguousarray(bias), pf, P, code)

    @staticmethod
    def unpool(dP, code, pf, dz4, pool):
        if pf == 2:
            _unpool2_kernel(np.ascontiguousarray(dP), code, dz4)
        else:
            _unpool_kernel(np.ascontiguousarray(dP), code, pf, dz4)


# ==============================================================================================
# Max pooling
# ==============================================================================================

@njit(**config.SERIAL)
def _max_pool_forward_kernel(A_prev, f, stride, A):
    """``A[i,h,w,c] = max_{u,v} A_prev[i, s h + u, s w + v, c]``, vectorised over ``c``.

    Flat unsigned indices (no per-window array views, no wraparound checks).
    """
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H = A.shape[1]
    n_W = A.shape[2]
    C = _U(n_C)
    src = A_prev.reshape(A_prev.size)
    dst = A.reshape(A.size)
    o = _U(0)                                     # flat index of A[i, h, w, 0]
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                first = _U(((i * n_H_prev + stride * h) * n_W_prev + stride * w) * n_C)
                for c in range(C):
                    dst[o + c] = src[first + c]
                for u in range(f):
                    for v in range(f):
                        x = _U(((i * n_H_prev + stride * h + u) * n_W_prev + stride * w + v)
                               * n_C)
                        for c in range(C):
                            dst[o + c] = max(dst[o + c], src[x + c])
                o += C


@njit(**config.SERIAL)
def _max_pool_backward_kernel(dA, A_prev, f, stride, dA_prev):
    """Each window's gradient to its FIRST maximum (row-major offsets, strict ``>``).

    Per window: a running (max, offset) per channel over the ``f*f`` offsets, then one
    vectorised select per offset. Windows that do not overlap (``stride >= f``) *write* their
    entries, so ``dA_prev`` needs zeros only where no window reaches; overlapping windows add.
    """
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H = dA.shape[1]
    n_W = dA.shape[2]
    C = _U(n_C)
    src = A_prev.reshape(A_prev.size)
    grad = dA.reshape(dA.size)
    dst = dA_prev.reshape(dA_prev.size)
    best = np.empty(n_C, dtype=A_prev.dtype)
    arg = np.empty(n_C, dtype=np.int32)
    zero = dA.dtype.type(0)
    disjoint = stride >= f
    o = _U(0)                                     # flat index of dA[i, h, w, 0]
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                first = _U(((i * n_H_prev + stride * h) * n_W_prev + stride * w) * n_C)
                for c in range(C):
                    best[c] = src[first + c]
                    arg[c] = 0
                for u in range(f):
                    for v in range(f):
                        x = _U(((i * n_H_prev + stride * h + u) * n_W_prev + stride * w + v)
                               * n_C)
                        k = np.int32(u * f + v)
                        for c in range(C):
                            greater = src[x + c] > best[c]
                            best[c] = src[x + c] if greater else best[c]
                            arg[c] = k if greater else arg[c]
                for u in range(f):
                    for v in range(f):
                        x = _U(((i * n_H_prev + stride * h + u) * n_W_prev + stride * w + v)
                               * n_C)
                        k = np.int32(u * f + v)
                        if disjoint:
                            for c in range(C):
                                dst[x + c] = grad[o + c] if arg[c] == k else zero
                        else:
                            for c in range(C):
                                dst[x + c] += grad[o + c] if arg[c] == k else zero
                o += C


def pool_forward(A_prev, hparameters, mode="max"):
    r"""Forward pass of a pooling layer; max pooling compiled, average pooling NumPy's.

    Same parameters, result and cache ``(A_prev, hparameters)`` as
    :func:`mtl_numpy.conv.pool_forward`:

    .. math:: A[i, h, w, c] = \max_{0 \le u, v < f} A_{prev}[i, s h + u, s w + v, c]
    """
    f, stride, n_H, n_W = check_pool_args(A_prev, hparameters, mode)
    if mode != "max" or not same_float(A_prev):
        return _conv.pool_forward(A_prev, hparameters, mode=mode)
    m, n_C = A_prev.shape[0], A_prev.shape[3]
    A = np.empty((m, n_H, n_W, n_C), dtype=A_prev.dtype)
    x = np.ascontiguousarray(A_prev)

    def work(lo, hi):                              # a chunk of examples per thread
        _max_pool_forward_kernel(x[lo:hi], f, stride, A[lo:hi])

    cpu_pool().run(work, m)
    return A, (A_prev, hparameters)


def pool_backward(dA, cache, mode="max"):
    r"""Backward pass of a pooling layer; max pooling compiled, average pooling NumPy's.

    Each window's gradient goes to the window's *first* maximum in row-major order (the rule of
    :func:`mtl_numpy.conv.pool_backward`, ``argmax`` and PyTorch), so tied windows --
    all zeros after a ReLU -- do not multiply the gradient:

    .. math::
        dA_{prev}[i, s h + u^*, s w + v^*, c] \mathrel{+}= dA[i, h, w, c], \qquad
        (u^*, v^*) = \operatorname{argmax}_{(u, v)} A_{prev}[i, s h + u, s w + v, c]
    """
    A_prev, hparameters = cache
    f, stride, n_H, n_W = check_pool_args(A_prev, hparameters, mode)
    check_upstream("dA", dA, (A_prev.shape[0], n_H, n_W, A_prev.shape[3]))
    if mode != "max" or not same_float(dA, A_prev):
        return _conv.pool_backward(dA, cache, mode=mode)
    n_H_prev, n_W_prev = A_prev.shape[1], A_prev.shape[2]
    # Windows that tile the input exactly write every entry: no zero fill needed.
    tiled = stride == f and n_H * f == n_H_prev and n_W * f == n_W_prev
    dA_prev = (np.empty if tiled else np.zeros)(A_prev.shape, dtype=dA.dtype)
    g = np.ascontiguousarray(dA)
    x = np.ascontiguousarray(A_prev)

    def work(lo, hi):                              # a chunk of examples per thread
        _max_pool_backward_kernel(g[lo:hi], x[lo:hi], f, stride, dA_prev[lo:hi])

    cpu_pool().run(work, A_prev.shape[0])
    return dA_prev

