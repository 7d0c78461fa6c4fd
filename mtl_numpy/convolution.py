r"""Vectorised convolution and pooling, channels last, forward and backward.

These are the fast twins of the loop-by-loop teaching versions in
:mod:`mtl_numpy.backends.naive`: same signatures, same caches, same results (the tests hold
them equal to 1e-10 in float64, max-pool ties included).

* Convolution is one matrix product. :func:`im2col` gathers every ``f x f x n_C_prev`` window
  into a row of a contiguous 2-D matrix (one copy of a strided view of the padded input), so
  ``Z = cols @ W.reshape(f*f*n_C_prev, n_C)`` runs on BLAS. The backward pass reuses the
  trick: ``dW = cols.T @ dZ``, and ``dcols = dZ @ W.T`` is added back onto the input with
  ``f*f`` strided slice additions, one per kernel offset ``(u, v)`` (:func:`col2im`;
  ``np.add.at`` would be an order of magnitude slower).
* Pooling loops over the ``f*f`` offsets of the window and combines strided slices
  (``maximum`` / ``+``); there is no loop over examples, positions or channels.
* Max-pool backward sends each window's gradient to *one* position: the first maximum in
  row-major window order (``argmax``'s rule, and PyTorch's). The naive
  ``create_mask_from_window`` follows the same rule.
* The functions run unchanged on CuPy arrays: the array module is picked from the input with
  :func:`_xp`, and only slicing, ``reshape``, ``@``, ``zeros`` and element-wise ufuncs are
  used on the hot path (all of which CuPy has).
* On NumPy float arrays of one dtype (the CPU hot path) the work runs differently, with the
  same results: the batch is cut into one chunk of examples per thread (:func:`cpu_pool`,
  single-threaded BLAS in each), and each chunk goes through in blocks of examples small
  enough to stay in the core's cache (``BLOCK_BYTES``), in per-thread scratch buffers reused
  from call to call (no fresh 30 MB window matrix, and its page faults, per call): the block's
  window matrix (channel-major for few channels, :func:`_gather_windows_planar`), its product
  with ``W`` and the bias; ``dW`` and ``db`` summed per thread and then over the threads in a
  fixed order; and for stride 1, ``dA_prev`` as a *gather* -- the window matrix of ``dZ``
  (padded by ``f - 1 - pad``) times the flipped, transposed filters -- instead of the
  scatter-add of :func:`col2im`. Exactly tiled max-pooling (stride = window) is a reshape and
  two ``maximum`` calls forward, and one select per window offset backward.
* :func:`_block_forward` / :func:`_block_backward` run CONV -> RELU -> MAX-POOL as one call for
  the backends' ``conv_relu_pool_forward/backward`` (the CNN's training step): on the CPU path
  each block is multiplied, biased, rectified and pooled while in cache, and only the pooled
  output and one byte per window (which input won, 0 where ReLU stops the gradient) are kept.
* Dtypes are kept: float32 in gives float32 out, with no float64 temporaries.
* The ``1/m`` of the cost lives in the loss: the upstream ``dZ`` / ``dA`` already carries it,
  so nothing here divides by ``m`` (the course puts ``1/m`` inside ``linear_backward``).

Layout::

    A_prev  (m, n_H_prev, n_W_prev, n_C_prev)
    W       (f, f, n_C_prev, n_C)
    b       (1, 1, 1, n_C)
    Z, A    (m, n_H, n_W, n_C)

    conv cache = (A_prev, W, b, hparameters)   hparameters = {"stride": s, "pad": p}
    pool cache = (A_prev, hparameters)         hparameters = {"f": f, "stride": s}

For a 'same' convolution (output size = input size) with stride 1 and odd ``f``, use
``pad = (f - 1) // 2``.
"""

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy

__all__ = [
    "conv_forward",
    "conv_backward",
    "pool_forward",
    "pool_backward",
    "im2col",
    "col2im",
]


def _xp(x):
    """The array module of ``x``: ``cupy`` for a CuPy array, ``numpy`` otherwise.

    CuPy is imported only when a CuPy array is seen, so this module needs nothing but NumPy.
    """
    if type(x).__module__.startswith("cupy"):
        import cupy
        return cupy
    return numpy


def _as_strided(xp):
    """``numpy.lib.stride_tricks.as_strided`` or ``cupy.lib.stride_tricks.as_strided``."""
    if xp is numpy:
        from numpy.lib.stride_tricks import as_strided
    else:
        from cupy.lib.stride_tricks import as_strided
    return as_strided


# ----------------------------------------------------------------------------------------------
# CPU execution: the batch in chunks on a small thread pool, single-threaded BLAS in each chunk
# ----------------------------------------------------------------------------------------------
#
# NumPy runs element-wise work on one core, and OpenBLAS's own threads split every product,
# however small, with a spin-wait at each end: on a two-core machine that is shared with other
# work, a woken OpenBLAS thread that cannot get a core stalls the product, and one spinning
# after it steals the core from the next NumPy pass (measured: a 64x2048x256 product took 130
# ms with two OpenBLAS threads on a loaded host, 3 ms with one). So on NumPy arrays the conv,
# pool and dense kernels split the *batch* into one chunk per thread instead, and run every
# product of a chunk on single-threaded BLAS (OpenBLAS's thread-local setting, which leaves the
# caller's own setting alone): copies, element-wise passes and products all run in parallel,
# with one hand-off per kernel. NumPy releases the GIL in products, copies and ufunc loops.
#
# The thread count is BLAS's (``OPENBLAS_NUM_THREADS``, or the cores), capped by the cores
# this process may use, overridable with ``MTL_NUMPY_THREADS``; where the BLAS is not an
# OpenBLAS with ``openblas_set_num_threads_local`` (0.3.27+), everything runs on the calling
# thread as before (a chunk's products would otherwise multiply the threads).

class _CPUPool:
    """Runs ``work(lo, hi)`` over chunks of ``range(n)`` on ``threads`` threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.executor = None
        self.local = threading.local()
        self.set_local = self._find_set_local()
        self.threads = self._thread_count() if self.set_local is not None else 1

    # -- set-up ---------------------------------------------------------------------------
    @staticmethod
    def _blas_library():
        try:
            with open("/proc/self/maps") as maps:
                for line in maps:
                    path = line.split()[-1] if line.strip() else ""
                    name = os.path.basename(path).lower()
                    if "openblas" in name and ".so" in name:
                        return ctypes.CDLL(path)
        except OSError:
            pass
        return None

    def _find_set_local(self):
        lib = self._blas_library()
        if lib is None:
            return None
        self.lib = lib
        for symbol in ("openblas_set_num_threads_local", "scipy_openblas_set_num_threads_local"):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int]
                fn.restype = ctypes.c_int
                return fn
        return None

    def _thread_count(self):
        env = os.environ.get("MTL_NUMPY_THREADS")
        if env:
            try:
                return max(1, int(env))
            except ValueError:
                pass
        n = None
        for symbol in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                       "openblas_get_num_threads64_", "openblas_get_num_threads"):
            fn = getattr(self.lib, symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_int
                n = int(fn())
                break
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            cores = os.cpu_count() or 1
        return max(1, min(n or cores, cores))

    def _start(self):
        with self.lock:
            if self.executor is None and self.threads > 1:
                self.executor = ThreadPoolExecutor(self.threads - 1,
                                                   thread_name_prefix="mtl-numpy",
                                                   initializer=self.set_local, initargs=(1,))
        return self.executor

    # -- running ----------------------------------------------------------------------------
    def scratch(self, key, shape, dtype, zero=False):
        """This thread's reusable buffer for ``key``: ``(buffer, fresh)``; a new one whenever
        the shape or dtype changes (``zero``: a new one starts as zeros)."""
        store = getattr(self.local, "store", None)
        if store is None:
            store = self.local.store = {}
        buf = store.get(key)
        if buf is not None and buf.shape == shape and buf.dtype == dtype:
            return buf, False
        buf = (numpy.zeros if zero else numpy.empty)(shape, dtype=dtype)
        store[key] = buf
        return buf, True

    def chunks(self, n, min_chunk=1):
        """``[(lo, hi), ...]``: ``range(n)`` in at most ``threads`` near-equal chunks."""
        k = max(1, min(self.threads, n // max(1, min_chunk)))
        bounds = [n * i // k for i in range(k + 1)]
        return [(bounds[i], bounds[i + 1]) for i in range(k) if bounds[i + 1] > bounds[i]]

    def run(self, work, n, min_chunk=1):
        """``[work(lo, hi) for each chunk]``, the chunks in parallel; every BLAS call inside is
        single-threaded. The calling thread does the first chunk itself."""
        parts = self.chunks(n, min_chunk)
        executor = self._start() if len(parts) > 1 else None
        previous = self.set_local(1) if self.set_local is not None else None
        try:
            futures = [executor.submit(work, lo, hi) for lo, hi in parts[1:]] if executor else []
            first = work(*parts[0]) if parts else None
            rest = [f.result() for f in futures]
            if not executor:
                rest = [work(lo, hi) for lo, hi in parts[1:]]
        finally:
            if previous is not None:
                self.set_local(previous)
        return [first] + rest if parts else []


_POOL = None


def cpu_pool():
    """The process's :class:`_CPUPool` (made on first use)."""
    global _POOL
    if _POOL is None:
        _POOL = _CPUPool()
    return _POOL


def _forget_pool_in_child():
    # A forked child has none of the parent's threads: a new pool is made on first use there.
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


#: Bytes of one chunk's window matrix (and its product) handled per step of the loop, so that
#: they are still in the core's cache when the product reads them.
BLOCK_BYTES = 1 << 20


def _same_float(*arrays):
    dtype = arrays[0].dtype
    return (dtype in (numpy.float32, numpy.float64) and all(a.dtype == dtype for a in arrays[1:])
            and all(type(a) is numpy.ndarray for a in arrays))


def _window_view(buf, n_out_h, n_out_w, f, stride):
    """The ``(b, n_out_h, n_out_w, f, f*C)`` strided view of the windows of a padded
    C-contiguous ``buf`` of shape ``(b, H, W, C)`` (no copy)."""
    s0, s1, s2, s3 = buf.strides
    return numpy.lib.stride_tricks.as_strided(
        buf, shape=(buf.shape[0], n_out_h, n_out_w, f, f * buf.shape[3]),
        strides=(s0, stride * s1, stride * s2, s1, s3), writeable=False)


def _gather_windows(pool, tag, src, f, stride, pad, n_out_h, n_out_w, n_ex):
    """Window matrix ``(n_ex*n_out_h*n_out_w, f*f*C)`` of ``src`` (``n_ex`` examples), zero
    padded by ``pad``, in this thread's buffers (the padded copy keeps its zero border)."""
    b, H, W, C = src.shape
    if f * C < PLANAR_RUN and n_out_w >= 2 * f * C:
        return _gather_windows_planar(pool, tag, src, f, stride, pad, n_out_h, n_out_w, n_ex)
    cols, _ = pool.scratch(tag + "cols", (n_ex * n_out_h * n_out_w, f * f * C), src.dtype)
    cols = cols[:b * n_out_h * n_out_w]
    if pad:
        # keyed by the interior too: only this interior is ever written, the border stays 0
        padded, _ = pool.scratch(f"{tag}pad{pad}_{H}x{W}", (n_ex, H + 2 * pad, W + 2 * pad, C),
                                 src.dtype, zero=True)
        padded = padded[:b]
        padded[:, pad:pad + H, pad:pad + W, :] = src
    else:
        padded = numpy.ascontiguousarray(src)
    windows = _window_view(padded, n_out_h, n_out_w, f, stride)
    numpy.copyto(cols.reshape(b, n_out_h, n_out_w, f, f * C), windows)
    return cols


#: Below this many numbers per window row (``f * n_C_prev``) the window matrix is gathered
#: channel-major (:func:`_gather_windows_planar`): NumPy copies short runs slowly.
PLANAR_RUN = 16


def _gather_windows_planar(pool, tag, src, f, stride, pad, n_out_h, n_out_w, n_ex):
    """:func:`_gather_windows` for few channels: the same matrix, returned as the transpose of a
    C-contiguous ``(f*f*C, rows)`` array (BLAS takes either), gathered from a channel-major
    padded copy so that every copied run is a whole output row (``n_out_w`` numbers) instead
    of ``f * C``: about twice as fast for the 3-channel input layer."""
    b, H, W, C = src.shape
    rows = b * n_out_h * n_out_w
    colsT, _ = pool.scratch(tag + "colsT", (f * f * C, n_ex * n_out_h * n_out_w), src.dtype)
    colsT = colsT[:, :rows]
    planar, _ = pool.scratch(f"{tag}planar{pad}_{H}x{W}", (C, n_ex, H + 2 * pad, W + 2 * pad),
                             src.dtype, zero=True)
    planar = planar[:, :b]
    planar[:, :, pad:pad + H, pad:pad + W] = src.transpose(3, 0, 1, 2)
    s0, s1, s2, s3 = planar.strides
    windows = numpy.lib.stride_tricks.as_strided(
        planar, shape=(f, f, C, b, n_out_h, n_out_w),
        strides=(s2, s3, s0, s1, stride * s2, stride * s3), writeable=False)
    numpy.copyto(colsT.reshape(f, f, C, b, n_out_h, n_out_w), windows)
    return colsT.T


def _examples_per_block(rows_per_example, K, itemsize, block_bytes=None):
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    return max(1, block_bytes // max(1, rows_per_example * K * itemsize))


class _NumpyOps:
    """The element-wise steps of a block of examples, in NumPy (the Numba backend passes its
    compiled twins): window gathering, bias + ReLU + max-pool with the winner's code, and the
    routing of the pooled gradient back through it."""

    gather = staticmethod(_gather_windows)

    @staticmethod
    def bias(z, bias):
        z += bias

    @staticmethod
    def bias_relu_pool(z4, bias, pf, P, code, pool):
        """``P = maxpool(relu(z4 + bias))`` over ``pf x pf`` tiles, and ``code`` = 1 + the
        row-major offset of each window's first maximum, or 0 where that maximum is <= 0 (then
        ReLU stops the gradient anyway)."""
        z4 += bias
        if pf == 2:
            return _NumpyOps._relu_pool2(z4, P, code, pool)
        b, n_H, n_W, C = z4.shape
        nPH, nPW = n_H // pf, n_W // pf
        _pool_max_into(z4, pf, P, "blk_t", pool)
        z6 = z4.reshape(b, nPH, pf, nPW, pf, C)
        shape = P.shape
        hit, _ = pool.scratch("blk_hit", shape, numpy.bool_)
        free, _ = pool.scratch("blk_free", shape, numpy.bool_)
        tmp, _ = pool.scratch("blk_tmp", shape, numpy.int8)
        free[...] = True
        code[...] = 0
        last = pf * pf - 1
        for u in range(pf):
            for v in range(pf):
                k = u * pf + v
                if k < last:
                    numpy.equal(z6[:, :, u, :, v, :], P, out=hit)
                    hit &= free                          # only the first maximum of a window
                    free ^= hit
                else:
                    hit = free                           # the last offset takes what is left
                numpy.multiply(hit, numpy.int8(k + 1), out=tmp)
                code += tmp
        numpy.greater(P, 0, out=free)
        code *= free
        numpy.maximum(P, 0, out=P)

    @staticmethod
    def _relu_pool2(z4, P, code, pool):
        """2 x 2 windows: each row pair's maximum and whether its right entry won, then which
        row won (the top one on ties), so code = 1 + ct + rowsel (2 + cb - ct)."""
        b, n_H, n_W, C = z4.shape
        x6 = z4.reshape(b, n_H // 2, 2, n_W // 2, 2, C)
        a, b_, c_, d = x6[:, :, 0, :, 0], x6[:, :, 0, :, 1], x6[:, :, 1, :, 0], x6[:, :, 1, :, 1]
        shape = P.shape
        mb, _ = pool.scratch("blk_mb", shape, z4.dtype)
        ct, _ = pool.scratch("blk_hit", shape, numpy.bool_)
        cb, _ = pool.scratch("blk_free", shape, numpy.bool_)
        rowsel, _ = pool.scratch("blk_rowsel", shape, numpy.bool_)
        t, _ = pool.scratch("blk_tmp", shape, numpy.int8)
        numpy.maximum(a, b_, out=P)                      # top row's maximum
        numpy.greater(b_, a, out=ct)                     # strictly: ties keep the first
        numpy.maximum(c_, d, out=mb)
        numpy.greater(d, c_, out=cb)
        numpy.greater(mb, P, out=rowsel)
        numpy.maximum(P, mb, out=P)
        numpy.add(ct, numpy.int8(1), out=code)
        numpy.subtract(cb, ct, out=t, dtype=numpy.int8)
        t += numpy.int8(2)
        t *= rowsel
        code += t
        numpy.greater(P, 0, out=ct)
        code *= ct
        numpy.maximum(P, 0, out=P)

    @staticmethod
    def unpool(dP, code, pf, dz4, pool):
        """``dz4`` = each window's gradient at its code's offset, 0 elsewhere."""
        b, n_H, n_W, C = dz4.shape
        dz6 = dz4.reshape(b, n_H // pf, pf, n_W // pf, pf, C)
        hit, _ = pool.scratch("blk_hit", code.shape, numpy.bool_)
        for u in range(pf):
            for v in range(pf):
                numpy.equal(code, u * pf + v + 1, out=hit)
                numpy.multiply(dP, hit, out=dz6[:, :, u, :, v, :])


def _conv_forward_cpu(A_prev, W, b, f, stride, pad, n_H, n_W, ops=_NumpyOps, pf=None,
                      block_bytes=None):
    """Conv forward over blocks of examples: window matrix, product, bias (and with ``pf``:
    ReLU and ``pf x pf`` max-pool) while the block is in cache. Returns ``Z``, or with ``pf``
    the pooled ``A`` and the winners' ``code``."""
    m, _, _, n_C_prev = A_prev.shape
    n_C = W.shape[3]
    K = f * f * n_C_prev
    dtype = A_prev.dtype
    W_mat = numpy.ascontiguousarray(W).reshape(K, n_C)
    bias = b.reshape(n_C)
    if pf is None:
        Z = numpy.empty((m, n_H, n_W, n_C), dtype=dtype)
        Z_rows = Z.reshape(m, n_H * n_W, n_C)
    else:
        P = numpy.empty((m, n_H // pf, n_W // pf, n_C), dtype=dtype)
        code = numpy.empty(P.shape, dtype=numpy.int8)
    pool = cpu_pool()
    step = _examples_per_block(n_H * n_W, K + n_C, dtype.itemsize, block_bytes)

    def work(lo, hi):
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            cols = ops.gather(pool, "conv_fwd_", A_prev[s:e], f, stride, pad, n_H, n_W, step)
            if pf is None:
                out = Z_rows[s:e].reshape(-1, n_C)
                numpy.matmul(cols, W_mat, out=out)
                ops.bias(out, bias)
            else:
                zb, _ = pool.scratch("conv_fwd_z", (step * n_H * n_W, n_C), dtype)
                z = zb[:(e - s) * n_H * n_W]
                numpy.matmul(cols, W_mat, out=z)
                ops.bias_relu_pool(z.reshape(e - s, n_H, n_W, n_C), bias, pf, P[s:e],
                                   code[s:e], pool)

    pool.run(work, m)
    return Z if pf is None else (P, code)


def _conv_backward_cpu(dZ, A_prev, W, f, stride, pad, n_H, n_W, need_dA_prev, ops=_NumpyOps,
                       pf=None, code=None, block_bytes=None):
    """Conv backward over blocks of examples: ``dW`` and ``db`` summed per thread, ``dA_prev``
    written per block. With ``pf``, ``dZ`` is the *pooled* gradient and each block's conv
    gradient is first rebuilt from it and the winners' ``code`` (max-pool and ReLU backward)."""
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    n_C = W.shape[3]
    K = f * f * n_C_prev
    dtype = dZ.dtype
    dZ = numpy.ascontiguousarray(dZ)
    W_c = numpy.ascontiguousarray(W)
    # dA_prev as a convolution of dZ (padded by f-1-pad) with the flipped, transposed filters,
    # a gather (window matrix of dZ, one product) instead of a scatter-add; stride 1 only.
    q = f - 1 - pad
    gather = need_dA_prev and stride == 1 and q >= 0
    if gather:
        W_flip = numpy.ascontiguousarray(
            W_c[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(f * f * n_C, n_C_prev)
    dA_prev = numpy.empty(A_prev.shape, dtype=dtype) if gather else (
        numpy.zeros(A_prev.shape, dtype=dtype) if need_dA_prev else None)
    pool = cpu_pool()
    step = _examples_per_block(n_H * n_W, K + n_C, dtype.itemsize, block_bytes)
    if gather:
        step = min(step, _examples_per_block(n_H_prev * n_W_prev, f * f * n_C + n_C_prev,
                                             dtype.itemsize, block_bytes))

    def work(lo, hi):
        dW = numpy.zeros((K, n_C), dtype=dtype)
        part = numpy.empty((K, n_C), dtype=dtype)
        ones, fresh = pool.scratch("ones", (step * n_H * n_W,), dtype)
        if fresh:
            ones[:] = 1
        db = numpy.zeros(n_C, dtype=dtype)
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            rows = (e - s) * n_H * n_W
            if pf is None:
                dz4 = dZ[s:e]
            else:
                zb, _ = pool.scratch("conv_bwd_dz", (step, n_H, n_W, n_C), dtype)
                dz4 = zb[:e - s]
                ops.unpool(dZ[s:e], code[s:e], pf, dz4, pool)
            dz = dz4.reshape(rows, n_C)
            cols = ops.gather(pool, "conv_bwd_", A_prev[s:e], f, stride, pad, n_H, n_W, step)
            numpy.matmul(cols.T, dz, out=part)
            dW += part
            numpy.matmul(ones[:rows], dz, out=part[0])
            db += part[0]
            if gather:
                dcols = ops.gather(pool, "conv_bwd_dz_", dz4, f, 1, q, n_H_prev, n_W_prev, step)
                numpy.matmul(dcols, W_flip, out=dA_prev[s:e].reshape(-1, n_C_prev))
            elif need_dA_prev:
                dcols = dz @ W_c.reshape(K, n_C).T
                dA_block = dA_prev[s:e]
                dcols = dcols.reshape(e - s, n_H, n_W, f, f, n_C_prev)
                for u in range(f):
                    for v in range(f):
                        _add_offset(dA_block, dcols[:, :, :, u, v, :], u, v, stride, pad)
        return dW, db

    parts = pool.run(work, m)
    dW, db = parts[0]
    for dW_i, db_i in parts[1:]:
        dW += dW_i
        db += db_i
    return dA_prev, dW.reshape(f, f, n_C_prev, n_C), db.reshape(1, 1, 1, n_C)


def _block_forward(kernels, A_prev, W, b, conv_hparameters, pool_hparameters, ops=None,
                   block_bytes=None):
    """CONV -> RELU -> MAX-POOL in one call: ``(A, cache)``.

    With ``ops`` (a CPU backend's element-wise steps) and float inputs of one dtype whose
    pooling tiles the conv output exactly (stride = window), the block is fused: each block of
    examples goes window matrix -> product -> bias, ReLU and max-pool while it is in cache, and
    only the pooled output and one byte per pooled entry (the winner's offset, 0 where ReLU
    stops the gradient) are kept: ``cache = ("fused", conv_cache, pool_hparameters, code)``.
    Otherwise the backend's three kernels run one after the other:
    ``cache = ("composed", conv_cache, relu_cache, pool_cache)``.
    """
    f, stride, pad, n_H, n_W = _check_conv(A_prev, W, b, conv_hparameters)
    pf, ps = _pool_hparameters(pool_hparameters, "max")
    if (ops is not None and _same_float(A_prev, W, b) and ps == pf and pf <= 11
            and n_H % pf == 0 and n_W % pf == 0):
        P, code = _conv_forward_cpu(A_prev, W, b, f, stride, pad, n_H, n_W, ops=ops, pf=pf,
                                    block_bytes=block_bytes)
        return P, ("fused", (A_prev, W, b, conv_hparameters), pool_hparameters, code)
    Z, conv_cache = kernels.conv_forward(A_prev, W, b, conv_hparameters)
    A, relu_cache = kernels.relu_forward(Z)
    P, pool_cache = kernels.pool_forward(A, pool_hparameters, mode="max")
    return P, ("composed", conv_cache, relu_cache, pool_cache)


def _block_backward(kernels, dA, cache, need_dA_prev=True, ops=None, block_bytes=None):
    """Backward of :func:`_block_forward`: ``(dA_prev, dW, db)`` (``dA_prev`` None when
    ``need_dA_prev`` is False)."""
    if cache[0] == "fused":
        _, (A_prev, W, b, conv_hparameters), pool_hparameters, code = cache
        f, stride, pad, n_H, n_W = _check_conv(A_prev, W, b, conv_hparameters)
        _check_upstream("dA", dA, code.shape)
        if not _same_float(dA, A_prev, W):
            dA = numpy.asarray(dA, dtype=A_prev.dtype)
        return _conv_backward_cpu(dA, A_prev, W, f, stride, pad, n_H, n_W, need_dA_prev,
                                  ops=ops, pf=pool_hparameters["f"], code=code,
                                  block_bytes=block_bytes)
    _, conv_cache, relu_cache, pool_cache = cache
    dA_pool = kernels.pool_backward(dA, pool_cache, mode="max")
    dZ = kernels.relu_backward(dA_pool, relu_cache)
    return kernels.conv_backward(dZ, conv_cache, need_dA_prev)


def _tiled(A_prev, f, stride, n_H, n_W):
    return stride == f and n_H * f == A_prev.shape[1] and n_W * f == A_prev.shape[2]


def _pool_max_into(x, f, out, tmp_key, pool):
    """``out = max over the f x f windows`` of a C-contiguous tiled chunk ``x``."""
    b, H, W, C = x.shape
    n_H, n_W = H // f, W // f
    rows = x.reshape(b, n_H, f, n_W, f * C)
    if f == 1:
        out[...] = rows.reshape(out.shape)
        return out
    t, _ = pool.scratch(tmp_key, (b, n_H, n_W, f * C), x.dtype)
    numpy.maximum(rows[:, :, 0], rows[:, :, 1], out=t)
    for u in range(2, f):
        numpy.maximum(t, rows[:, :, u], out=t)
    t = t.reshape(b, n_H, n_W, f, C)
    numpy.maximum(t[:, :, :, 0], t[:, :, :, 1], out=out)
    for v in range(2, f):
        numpy.maximum(out, t[:, :, :, v], out=out)
    return out


def _pool_forward_cpu(A_prev, f, n_H, n_W):
    m, C = A_prev.shape[0], A_prev.shape[3]
    x = numpy.ascontiguousarray(A_prev)
    A = numpy.empty((m, n_H, n_W, C), dtype=A_prev.dtype)
    pool = cpu_pool()
    step = max(1, BLOCK_BYTES // max(1, x[0].nbytes))

    def work(lo, hi):
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            _pool_max_into(x[s:e], f, A[s:e], "pool_fwd_t", pool)

    pool.run(work, m)
    return A


def _pool_backward_cpu(dA, A_prev, f, n_H, n_W):
    """Max pooling backward for exactly tiled windows: first maximum in row-major order."""
    m, H, W, C = A_prev.shape
    x = numpy.ascontiguousarray(A_prev)
    dA = numpy.ascontiguousarray(dA)
    dA_prev = numpy.empty(A_prev.shape, dtype=dA.dtype)
    pool = cpu_pool()
    step = max(1, BLOCK_BYTES // max(1, x[0].nbytes))

    def work(lo, hi):
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            b = e - s
            M, _ = pool.scratch("pool_bwd_max", (step, n_H, n_W, C), x.dtype)
            M = _pool_max_into(x[s:e], f, M[:b], "pool_bwd_t", pool)
            hit, _ = pool.scratch("pool_bwd_hit", (step, n_H, n_W, C), numpy.bool_)
            free, _ = pool.scratch("pool_bwd_free", (step, n_H, n_W, C), numpy.bool_)
            hit, free = hit[:b], free[:b]
            free[...] = True
            x6 = x[s:e].reshape(b, n_H, f, n_W, f, C)
            d6 = dA_prev[s:e].reshape(b, n_H, f, n_W, f, C)
            g = dA[s:e]
            last = f * f - 1
            for u in range(f):
                for v in range(f):
                    if u * f + v < last:
                        numpy.equal(x6[:, :, u, :, v, :], M, out=hit)
                        hit &= free                      # only the first maximum of a window
                        free ^= hit
                    else:
                        hit = free                       # the last offset takes what is left
                    numpy.multiply(g, hit, out=d6[:, :, u, :, v, :])

    pool.run(work, m)
    return dA_prev


# ----------------------------------------------------------------------------------------------
# Argument checks (cheap; shapes only)
# ----------------------------------------------------------------------------------------------

def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _check_4d(name, x, expected="(m, n_H, n_W, n_C)"):
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(f"{name} must be a 4-d array of shape {expected}; got shape {shape}")


def _conv_hparameters(hparameters):
    try:
        stride, pad = hparameters["stride"], hparameters["pad"]
    except (TypeError, KeyError):
        raise ValueError('conv hparameters must be a dict {"stride": s, "pad": p}; '
                         f"got {hparameters!r}") from None
    return _check_int('hparameters["stride"]', stride, 1), _check_int('hparameters["pad"]', pad, 0)


def _pool_hparameters(hparameters, mode):
    try:
        f, stride = hparameters["f"], hparameters["stride"]
    except (TypeError, KeyError):
        raise ValueError('pool hparameters must be a dict {"f": f, "stride": s}; '
                         f"got {hparameters!r}") from None
    if mode not in ("max", "average"):
        raise ValueError(f"mode must be 'max' or 'average'; got {mode!r}")
    return _check_int('hparameters["f"]', f, 1), _check_int('hparameters["stride"]', stride, 1)


def _output_size(n_prev, f, pad, stride, what):
    n = (n_prev - f + 2 * pad) // stride + 1
    if n < 1:
        raise ValueError(f"{what}: a window of size f={f} with pad={pad} does not fit in an input "
                         f"of size {n_prev} (output size would be {n}); expected "
                         f"n_prev + 2*pad >= f")
    return n


def _check_conv(A_prev, W, b, hparameters):
    _check_4d("A_prev", A_prev, "(m, n_H_prev, n_W_prev, n_C_prev)")
    _check_4d("W", W, "(f, f, n_C_prev, n_C)")
    f, f2, n_C_prev, n_C = W.shape
    if f != f2 or f < 1:
        raise ValueError(f"W must have shape (f, f, n_C_prev, n_C) with a square f x f kernel; "
                         f"got {W.shape}")
    if n_C_prev != A_prev.shape[3]:
        raise ValueError(f"W must have shape (f, f, n_C_prev, n_C) with n_C_prev = A_prev.shape[3]"
                         f" = {A_prev.shape[3]}; got {W.shape}")
    if getattr(b, "shape", None) != (1, 1, 1, n_C):
        raise ValueError(f"b must have shape (1, 1, 1, n_C) = (1, 1, 1, {n_C}); "
                         f"got {getattr(b, 'shape', None)}")
    stride, pad = _conv_hparameters(hparameters)
    n_H = _output_size(A_prev.shape[1], f, pad, stride, "conv height")
    n_W = _output_size(A_prev.shape[2], f, pad, stride, "conv width")
    return f, stride, pad, n_H, n_W


def _check_upstream(name, d, expected):
    if getattr(d, "shape", None) != expected:
        raise ValueError(f"{name} must have the shape of the layer's output {expected}; "
                         f"got {getattr(d, 'shape', None)}")


# ----------------------------------------------------------------------------------------------
# im2col / col2im
# ----------------------------------------------------------------------------------------------

def im2col(A_prev, f, stride, pad):
    r"""Gather every convolution window of a batch into one array (no Python loop over windows).

    Parameters
    ----------
    A_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev)
        Input activations (NumPy or CuPy).
    f : int
        Kernel size.
    stride : int
        Stride.
    pad : int
        Zero padding on each side of height and width.

    Returns
    -------
    cols : ndarray of shape (m, n_H, n_W, f, f, n_C_prev)
        C-contiguous, dtype of ``A_prev``; ``cols.reshape(m*n_H*n_W, f*f*n_C_prev)`` is a free
        view whose rows line up with ``W.reshape(f*f*n_C_prev, n_C)``.

    Notes
    -----
    .. math::

        \text{cols}[i, h, w, u, v, k] = A_{pad}[i, s h + u, s w + v, k]

    The windows are first described as a strided *view* of the padded input (no copy): in
    channels-last memory the ``f * n_C_prev`` numbers of one window row, ``(v, k)``, are
    contiguous, whatever the stride, so the view has shape ``(m, n_H, n_W, f, f*n_C_prev)``
    with a unit inner stride. One copy of that view into a fresh C-contiguous array is the
    whole of im2col.
    """
    xp = _xp(A_prev)
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    n_H = (n_H_prev - f + 2 * pad) // stride + 1
    n_W = (n_W_prev - f + 2 * pad) // stride + 1
    if pad:
        A_pad = xp.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant")
    else:
        A_pad = xp.ascontiguousarray(A_prev)   # the (v, k) run is contiguous only if (W, C) are
    s0, s1, s2, s3 = A_pad.strides
    windows = _as_strided(xp)(
        A_pad, shape=(m, n_H, n_W, f, f * n_C_prev),
        strides=(s0, stride * s1, stride * s2, s1, s3))
    cols = xp.ascontiguousarray(windows)       # the one real copy: (m*n_H*n_W) x (f*f*n_C_prev)
    return cols.reshape(m, n_H, n_W, f, f, n_C_prev)


def _offset_range(u, pad, stride, n_out, n_in):
    """Output indices whose kernel offset ``u`` lands inside the unpadded input.

    Output index ``o`` reads input index ``stride*o + u - pad``. Returns ``(o_lo, o_hi, i_lo)``:
    the outputs ``o_lo <= o < o_hi`` read valid inputs, starting at input ``i_lo`` (step
    ``stride``); the others read the zero padding (``o_lo == o_hi`` if none is valid).
    """
    o_lo = max(0, -((u - pad) // stride))                 # ceil((pad - u) / stride), at least 0
    o_hi = min(n_out, (n_in - 1 + pad - u) // stride + 1)
    if o_hi <= o_lo:
        return 0, 0, 0
    return o_lo, o_hi, stride * o_lo + u - pad


def _add_offset(dA_prev, block, u, v, stride, pad):
    """``dA_prev[:, s*h+u-p, s*w+v-p, :] += block[:, h, w, :]`` over the valid ``(h, w)``.

    ``block`` has shape (m, n_H, n_W, n_C_prev): the gradient every window sends to its kernel
    offset ``(u, v)``. For a fixed offset the windows touch distinct inputs, so this is one
    vectorised strided ``+=``; what falls on the padding is dropped (no padded copy is made).
    """
    n_H_prev, n_W_prev = dA_prev.shape[1], dA_prev.shape[2]
    h_lo, h_hi, r = _offset_range(u, pad, stride, block.shape[1], n_H_prev)
    w_lo, w_hi, c = _offset_range(v, pad, stride, block.shape[2], n_W_prev)
    if h_hi == h_lo or w_hi == w_lo:
        return
    dA_prev[:, r:r + stride * (h_hi - h_lo):stride,
            c:c + stride * (w_hi - w_lo):stride, :] += block[:, h_lo:h_hi, w_lo:w_hi, :]


def col2im(dcols, A_shape, f, stride, pad):
    r"""Add window gradients back onto the input they were gathered from (adjoint of im2col).

    Parameters
    ----------
    dcols : ndarray of shape (m, n_H, n_W, f, f, n_C_prev)
        Gradient with respect to ``cols`` (NumPy or CuPy).
    A_shape : tuple of int
        ``(m, n_H_prev, n_W_prev, n_C_prev)``, the shape of the unpadded input.
    f, stride, pad : int
        As in :func:`im2col`.

    Returns
    -------
    dA_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev)
        C-contiguous, dtype of ``dcols``. Gradient that fell on the padding is dropped; input
        rows/columns that no window reads get 0.

    Notes
    -----
    .. math::

        dA_{prev}[i, y, x, k] = \sum_{\substack{h, w, u, v:\\ s h + u - p = y,\; s w + v - p = x}}
        \text{dcols}[i, h, w, u, v, k]

    Computed as ``f*f`` strided slice additions, one per kernel offset :math:`(u, v)` (for a
    fixed offset the windows touch distinct inputs); ``np.add.at`` would be far slower.
    :func:`conv_backward` does the same additions, but builds each offset's block with its own
    small matrix product so that the full ``dcols`` never exists.
    """
    xp = _xp(dcols)
    dA_prev = xp.zeros(tuple(A_shape), dtype=dcols.dtype)
    for u in range(f):
        for v in range(f):
            _add_offset(dA_prev, dcols[:, :, :, u, v, :], u, v, stride, pad)
    return dA_prev


# ----------------------------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------------------------

def conv_forward(A_prev, W, b, hparameters):
    r"""Forward pass of a convolution layer as one matrix product (im2col + BLAS).

    Parameters
    ----------
    A_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev)
        Activations of the previous layer (NumPy or CuPy).
    W : ndarray of shape (f, f, n_C_prev, n_C)
        Filters.
    b : ndarray of shape (1, 1, 1, n_C)
        Biases, one per filter.
    hparameters : dict
        ``{"stride": s, "pad": p}``.

    Returns
    -------
    Z : ndarray of shape (m, n_H, n_W, n_C)
        Convolution output (before the activation), C-contiguous, dtype
        ``result_type(A_prev, W, b)`` (float32 for float32 inputs).
    cache : tuple
        ``(A_prev, W, b, hparameters)``, for :func:`conv_backward` (the same cache as the naive
        version; the window matrix is rebuilt in the backward pass rather than kept).

    Raises
    ------
    ValueError
        If a shape or a hyperparameter does not fit (the message names it).

    Notes
    -----
    .. math::

        n_H = \left\lfloor \frac{n_{H,prev} - f + 2p}{s} \right\rfloor + 1, \qquad
        n_W = \left\lfloor \frac{n_{W,prev} - f + 2p}{s} \right\rfloor + 1

    .. math::

        Z[i, h, w, c] = \sum_{u, v, k} A_{pad}[i, s h + u, s w + v, k] \, W[u, v, k, c]
                        + b[0, 0, 0, c]

    (cross-correlation, no kernel flip), computed as

    .. math::

        Z_{(m n_H n_W) \times n_C} = \text{cols}_{(m n_H n_W) \times (f f n_{C,prev})}
        \; W_{(f f n_{C,prev}) \times n_C} + b
    """
    f, stride, pad, n_H, n_W = _check_conv(A_prev, W, b, hparameters)
    if _same_float(A_prev, W, b):
        return _conv_forward_cpu(A_prev, W, b, f, stride, pad, n_H, n_W), (A_prev, W, b, hparameters)
    m, n_C_prev, n_C = A_prev.shape[0], A_prev.shape[3], W.shape[3]
    cols = im2col(A_prev, f, stride, pad).reshape(m * n_H * n_W, f * f * n_C_prev)
    Z = cols @ W.reshape(f * f * n_C_prev, n_C)
    if Z.dtype == _xp(Z).result_type(Z.dtype, b.dtype):
        Z += b.reshape(1, n_C)                        # in place: no second (N, n_C) array
    else:
        Z = Z + b.reshape(1, n_C)                     # b is wider (say float64): promote
    cache = (A_prev, W, b, hparameters)
    return Z.reshape(m, n_H, n_W, n_C), cache


def conv_backward(dZ, cache, need_dA_prev=True):
    r"""Backward pass of a convolution layer as two matrix products plus col2im.

    Parameters
    ----------
    dZ : ndarray of shape (m, n_H, n_W, n_C)
        Gradient of the cost with respect to the conv output ``Z``. It already carries the
        ``1/m`` of the cost (the loss puts it there), so nothing is divided by ``m``.
    cache : tuple
        ``(A_prev, W, b, hparameters)`` from :func:`conv_forward`.
    need_dA_prev : bool, default True
        ``False`` skips ``dA_prev`` (returned as ``None``): a model's first layer reads the
        input images, which need no gradient.

    Returns
    -------
    dA_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev), or None
        Gradient with respect to ``A_prev`` (C-contiguous).
    dW : ndarray of shape (f, f, n_C_prev, n_C)
        Gradient with respect to ``W``.
    db : ndarray of shape (1, 1, 1, n_C)
        Gradient with respect to ``b``.

    Notes
    -----
    With :math:`\text{cols}` the window matrix of :func:`im2col` and :math:`dZ` flattened to
    :math:`(m n_H n_W) \times n_C`:

    .. math::

        dW = \text{cols}^T dZ, \qquad db_c = \sum_{i, h, w} dZ[i, h, w, c], \qquad
        d\text{cols} = dZ \, W^T, \qquad dA_{prev} = \operatorname{col2im}(d\text{cols})

    (``dcols`` is formed one kernel offset at a time, :math:`dZ \, W[u, v]^T`, and added onto
    ``dA_prev`` at once.)

    which is, entry by entry, the naive version's

    .. math::

        dA_{pad}[i, s h + u, s w + v, k] \mathrel{+}= W[u, v, k, c] \, dZ[i, h, w, c], \qquad
        dW[u, v, k, c] = \sum_{i, h, w} A_{pad}[i, s h + u, s w + v, k] \, dZ[i, h, w, c]
    """
    A_prev, W, b, hparameters = cache
    f, stride, pad, n_H, n_W = _check_conv(A_prev, W, b, hparameters)
    m, n_C_prev, n_C = A_prev.shape[0], A_prev.shape[3], W.shape[3]
    _check_upstream("dZ", dZ, (m, n_H, n_W, n_C))
    if _same_float(dZ, A_prev, W):
        return _conv_backward_cpu(dZ, A_prev, W, f, stride, pad, n_H, n_W, need_dA_prev)
    xp = _xp(dZ)

    N = m * n_H * n_W
    dZ2 = xp.ascontiguousarray(dZ).reshape(N, n_C)
    cols = im2col(A_prev, f, stride, pad).reshape(N, f * f * n_C_prev)
    dW = (cols.T @ dZ2).reshape(f, f, n_C_prev, n_C)  # cols.T is a free (Fortran) view for BLAS
    del cols                                          # free the big matrix before dA_prev
    # db as a BLAS product with a ones vector: a sum down the long axis of a C-ordered matrix
    # is ~10x slower in NumPy.
    db = (xp.ones(N, dtype=dZ2.dtype) @ dZ2).reshape(1, 1, 1, n_C)
    if not need_dA_prev:
        return None, dW, db
    # dcols = dZ W^T, one kernel offset at a time: each (u, v) block dZ W[u, v]^T has shape
    # (N, n_C_prev) and is added straight onto dA_prev, so the (N, f*f*n_C_prev) dcols is never
    # stored, and every addition reads a contiguous block.
    dA_prev = xp.zeros(A_prev.shape, dtype=xp.result_type(dZ2.dtype, W.dtype))
    for u in range(f):
        for v in range(f):
            block = (dZ2 @ W[u, v].T).reshape(m, n_H, n_W, n_C_prev)
            _add_offset(dA_prev, block, u, v, stride, pad)
    return dA_prev, dW, db


# ----------------------------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------------------------

def _window_slice(u, v, stride, n_H, n_W):
    """Index of the inputs that window offset ``(u, v)`` reads, for every output position."""
    return (slice(None), slice(u, u + stride * (n_H - 1) + 1, stride),
            slice(v, v + stride * (n_W - 1) + 1, stride), slice(None))


def _pool_sizes(A_prev, hparameters, mode):
    _check_4d("A_prev", A_prev, "(m, n_H_prev, n_W_prev, n_C_prev)")
    f, stride = _pool_hparameters(hparameters, mode)
    n_H = _output_size(A_prev.shape[1], f, 0, stride, "pool height")
    n_W = _output_size(A_prev.shape[2], f, 0, stride, "pool width")
    return f, stride, n_H, n_W


def _max_and_argmax(A_prev, f, stride, n_H, n_W, want_argmax):
    """Window maxima, and (if asked) the row-major offset ``u*f + v`` of each window's first max.

    A running maximum over the ``f*f`` strided slices, offsets taken in row-major order.
    """
    xp = _xp(A_prev)
    A = A_prev[_window_slice(0, 0, stride, n_H, n_W)].copy()   # C-contiguous
    arg = None
    if want_argmax:
        arg = xp.zeros(A.shape, dtype=numpy.int8 if f * f <= 127 else numpy.int32)
    for u in range(f):
        for v in range(f):
            if u == 0 and v == 0:
                continue
            x = A_prev[_window_slice(u, v, stride, n_H, n_W)]
            if want_argmax:
                # Strictly greater: on a tie the earlier (row-major) offset keeps the maximum.
                greater = x > A
                # Offsets come in increasing order, so "arg = k where greater" is
                # max(arg, k * greater) -- ten times faster than copyto(..., where=).
                xp.maximum(arg, xp.multiply(greater, u * f + v, dtype=arg.dtype), out=arg)
            xp.maximum(A, x, out=A)
    return A, arg


def pool_forward(A_prev, hparameters, mode="max"):
    r"""Forward pass of a max or average pooling layer, vectorised over the batch.

    Parameters
    ----------
    A_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev)
        Input activations (NumPy or CuPy).
    hparameters : dict
        ``{"f": f, "stride": s}``.
    mode : {"max", "average"}
        Which pooling to apply.

    Returns
    -------
    A : ndarray of shape (m, n_H, n_W, n_C_prev)
        Pooled output, C-contiguous, dtype of ``A_prev``.
    cache : tuple
        ``(A_prev, hparameters)``, for :func:`pool_backward`.

    Raises
    ------
    ValueError
        If ``mode``, a hyperparameter or the input shape does not fit.

    Notes
    -----
    No padding; rows and columns that do not fill a whole window are dropped:

    .. math::

        n_H = \left\lfloor \frac{n_{H,prev} - f}{s} \right\rfloor + 1, \qquad
        n_W = \left\lfloor \frac{n_{W,prev} - f}{s} \right\rfloor + 1

    .. math::

        A[i, h, w, c] = \max_{0 \le u, v < f} A_{prev}[i, s h + u, s w + v, c]
        \quad\text{or}\quad
        \frac{1}{f^2} \sum_{0 \le u, v < f} A_{prev}[i, s h + u, s w + v, c]

    computed as a running ``maximum`` / sum over the ``f*f`` strided slices
    ``A_prev[:, u::s, v::s, :]`` (trimmed to ``n_H x n_W``).
    """
    f, stride, n_H, n_W = _pool_sizes(A_prev, hparameters, mode)
    if mode == "max" and _same_float(A_prev) and _tiled(A_prev, f, stride, n_H, n_W):
        return _pool_forward_cpu(A_prev, f, n_H, n_W), (A_prev, hparameters)
    if mode == "max":
        A, _ = _max_and_argmax(A_prev, f, stride, n_H, n_W, want_argmax=False)
    else:
        A = A_prev[_window_slice(0, 0, stride, n_H, n_W)].copy()
        for u in range(f):
            for v in range(f):
                if u or v:
                    A += A_prev[_window_slice(u, v, stride, n_H, n_W)]
        A /= f * f
    cache = (A_prev, hparameters)
    return A, cache


def pool_backward(dA, cache, mode="max"):
    r"""Backward pass of a max or average pooling layer, vectorised over the batch.

    Parameters
    ----------
    dA : ndarray of shape (m, n_H, n_W, n_C)
        Gradient of the cost with respect to the pooling output. It already carries the ``1/m``
        of the cost (the loss puts it there).
    cache : tuple
        ``(A_prev, hparameters)`` from :func:`pool_forward`.
    mode : {"max", "average"}
        The pooling the forward pass applied.

    Returns
    -------
    dA_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C)
        Gradient with respect to the pooling input, C-contiguous, dtype of ``dA``. Rows and
        columns that no window covers (input size not reached by the windows, e.g. an odd size
        with ``f = s = 2``) get zero gradient.

    Notes
    -----
    Max pooling: each window's gradient goes to exactly one input, the *first* maximum of the
    window in row-major order (``argmax``'s rule, PyTorch's rule, and the naive
    ``create_mask_from_window``'s rule), so ties -- e.g. windows of zeros after a ReLU -- do not
    multiply the gradient:

    .. math::

        dA_{prev}[i, s h + u^*, s w + v^*, c] \mathrel{+}= dA[i, h, w, c], \qquad
        (u^*, v^*) = \operatorname{argmax}_{(u, v)} A_{prev}[i, s h + u, s w + v, c]

    Average pooling:

    .. math::

        dA_{prev}[i, s h + u, s w + v, c] \mathrel{+}= \frac{dA[i, h, w, c]}{f^2}
        \quad \text{for all } 0 \le u, v < f

    Overlapping windows (``stride < f``) add their contributions. Computed with one strided
    slice update per window offset :math:`(u, v)`.
    """
    A_prev, hparameters = cache
    f, stride, n_H, n_W = _pool_sizes(A_prev, hparameters, mode)
    _check_upstream("dA", dA, (A_prev.shape[0], n_H, n_W, A_prev.shape[3]))
    if mode == "max" and _same_float(dA, A_prev) and _tiled(A_prev, f, stride, n_H, n_W):
        return _pool_backward_cpu(dA, A_prev, f, n_H, n_W)
    xp = _xp(dA)
    n_H_prev, n_W_prev = A_prev.shape[1], A_prev.shape[2]
    # With stride >= f the windows do not overlap: each input gets at most one contribution,
    # so each offset's slice is written (out=) rather than read, added and written back; if
    # moreover the windows tile the input exactly, every entry is written once and the zero
    # fill can be skipped.
    disjoint = stride >= f
    tiled = stride == f and n_H * f == n_H_prev and n_W * f == n_W_prev
    dA_prev = (xp.empty if tiled else xp.zeros)(A_prev.shape, dtype=dA.dtype)
    if mode == "max":
        _, arg = _max_and_argmax(A_prev, f, stride, n_H, n_W, want_argmax=True)
        for u in range(f):
            for v in range(f):
                target = dA_prev[_window_slice(u, v, stride, n_H, n_W)]
                hit = arg == (u * f + v)
                if disjoint:
                    xp.multiply(dA, hit, out=target)
                else:
                    target += dA * hit
    else:
        share = dA / (f * f)                              # keeps dA's dtype
        for u in range(f):
            for v in range(f):
                target = dA_prev[_window_slice(u, v, stride, n_H, n_W)]
                if disjoint:
                    target[...] = share
                else:
                    target += share
    return dA_prev
