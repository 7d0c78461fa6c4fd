r"""The CPU engine of the NumPy and Numba backends: a small thread pool, scratch buffers, and
blocked conv / pool / fused-conv-block drivers. Private: only those two backends import it.

The math is :mod:`mtl_numpy.conv`'s (the window matrix, ``Z = cols W + b``, ``dW = cols^T dZ``,
max-pool's first-maximum rule); this module runs it differently on NumPy float arrays of one
dtype (:func:`same_float`), with the same results:

* the batch is cut into one chunk of examples per thread (:func:`cpu_pool`, single-threaded
  BLAS in each), and each chunk goes through in blocks of examples small enough to stay in the
  core's cache (``BLOCK_BYTES``), in per-thread scratch buffers reused from call to call (no
  fresh 30 MB window matrix, and its page faults, per call): the block's window matrix
  (channel-major for few channels, :func:`gather_windows_planar`), its product with ``W`` and
  the bias; ``dW`` and ``db`` summed per thread and then over the threads in a fixed order; and
  for stride 1, ``dA_prev`` as a *gather* -- the window matrix of ``dZ`` (padded by
  ``f - 1 - pad``) times the flipped, transposed filters -- instead of the scatter-add of
  :func:`mtl_numpy.conv.col2im`;
* exactly tiled max-pooling (stride = window) is a reshape and two ``maximum`` calls forward,
  and one select per window offset backward (:func:`pool_forward_tiled`,
  :func:`pool_backward_tiled`);
* :func:`fused_block_forward` / :func:`fused_block_backward` run CONV -> RELU -> MAX-POOL as one
  pass for the backends' ``conv_relu_pool_forward/backward`` when the pooling tiles the conv
  output: each block is multiplied, biased, rectified and pooled while in cache, and only the
  pooled output and one byte per window (which input won, 0 where ReLU stops the gradient) are
  kept (:class:`FusedBlockCache`).

The element-wise steps of a block come from an ``ops`` class: :class:`NumpyOps` here, the Numba
backend's compiled twin there. Dtypes are kept; the ``1/m`` lives in the loss, as everywhere.
"""
from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy

from ..conv import check_conv_args, check_pool_hparameters, check_upstream, col2im


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

class CPUPool:
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
        """NumPy's own OpenBLAS, found among the loaded libraries (None if there is none).

        Other packages bring their own copy (SciPy's ``scipy.libs``, loaded with scikit-learn);
        setting the thread count of *that* copy would leave NumPy's products multi-threaded
        inside our worker threads, so a library under NumPy's install is preferred.
        """
        try:
            with open("/proc/self/maps") as maps:
                paths = []
                for line in maps:
                    path = line.split()[-1] if line.strip() else ""
                    name = os.path.basename(path).lower()
                    if "openblas" in name and ".so" in name and path not in paths:
                        paths.append(path)
        except OSError:
            return None
        if not paths:
            return None
        # a wheel keeps it in site-packages/numpy.libs/ (older ones: numpy/.libs/)
        own = [p for p in paths if any(part.lower().startswith("numpy")
                                       for part in os.path.dirname(p).split(os.sep))]
        return ctypes.CDLL((own or paths)[0])

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
    """The process's :class:`CPUPool` (made on first use)."""
    global _POOL
    if _POOL is None:
        _POOL = CPUPool()
    return _POOL


def _forget_pool_in_child():
    # A forked child has none of the parent's threads: a new pool is made on first use there.
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


#: Below this many multiply-adds a dense product runs in one piece (on single-threaded BLAS).
DENSE_SPLIT_MIN = 1 << 21
#: Below this many entries ReLU runs in one piece.
RELU_SPLIT_MIN = 1 << 18


def dense_min_chunk(n_out, n_in, m):
    """Columns per chunk of a dense product ``(n_out x n_in) @ (n_in x m)`` so that a chunk has
    at least ``DENSE_SPLIT_MIN`` multiply-adds (``m`` is not used: the pool caps the count)."""
    return max(1, -(-DENSE_SPLIT_MIN // max(1, n_out * n_in)))


#: Bytes of one chunk's window matrix (and its product) handled per step of the loop, so that
#: they are still in the core's cache when the product reads them.
BLOCK_BYTES = 1 << 20


def same_float(*arrays):
    """True when every array is a NumPy ``ndarray`` (not a subclass, not CuPy) of one dtype,
    float32 or float64: what the engine and the Numba kernels run on. Anything else goes to
    :mod:`mtl_numpy.conv`'s generic functions (or :mod:`mtl_numpy.layers`')."""
    dtype = arrays[0].dtype
    return (dtype in (numpy.float32, numpy.float64) and all(a.dtype == dtype for a in arrays[1:])
            and all(type(a) is numpy.ndarray for a in arrays))


def window_view(buf, n_out_h, n_out_w, f, stride):
    """The ``(b, n_out_h, n_out_w, f, f*C)`` strided view of the windows of a padded
    C-contiguous ``buf`` of shape ``(b, H, W, C)`` (no copy)."""
    s0, s1, s2, s3 = buf.strides
    return numpy.lib.stride_tricks.as_strided(
        buf, shape=(buf.shape[0], n_out_h, n_out_w, f, f * buf.shape[3]),
        strides=(s0, stride * s1, stride * s2, s1, s3), writeable=False)


def gather_windows(pool, tag, src, f, stride, pad, n_out_h, n_out_w, n_ex):
    """Window matrix ``(n_ex*n_out_h*n_out_w, f*f*C)`` of ``src`` (``n_ex`` examples), zero
    padded by ``pad``, in this thread's buffers (the padded copy keeps its zero border)."""
    b, H, W, C = src.shape
    if f * C < PLANAR_RUN and n_out_w >= 2 * f * C:
        return gather_windows_planar(pool, tag, src, f, stride, pad, n_out_h, n_out_w, n_ex)
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
    windows = window_view(padded, n_out_h, n_out_w, f, stride)
    numpy.copyto(cols.reshape(b, n_out_h, n_out_w, f, f * C), windows)
    return cols


#: Below this many numbers per window row (``f * n_C_prev``) the window matrix is gathered
#: channel-major (:func:`gather_windows_planar`): NumPy copies short runs slowly.
PLANAR_RUN = 16


def gather_windows_planar(pool, tag, src, f, stride, pad, n_out_h, n_out_w, n_ex):
    """:func:`gather_windows` for few channels: the same matrix, returned as the transpose of a
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


def examples_per_block(rows_per_example, K, itemsize, block_bytes=None):
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    return max(1, block_bytes // max(1, rows_per_example * K * itemsize))


class NumpyOps:
    """The element-wise steps of a block of examples, in NumPy (the Numba backend passes its
    compiled twins): window gathering, bias + ReLU + max-pool with the winner's code, and the
    routing of the pooled gradient back through it."""

    gather = staticmethod(gather_windows)

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
            return NumpyOps._relu_pool2(z4, P, code, pool)
        b, n_H, n_W, C = z4.shape
        nPH, nPW = n_H // pf, n_W // pf
        pool_max_into(z4, pf, P, "blk_t", pool)
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


    @staticmethod
    def unpool_tasks(dP_tasks, code, pf, out5, pool):
        """:meth:`unpool` for ``T`` tasks at once, into the side-by-side layout: ``out5`` of shape
        ``(b, n_H, n_W, T, C)`` (C-contiguous), whose ``(b n_H n_W, T C)`` reshape is the matrix
        ``[dz_1 ... dz_T]``. The pooled gradients and the winners' code are first laid out as
        ``(b, nPH, nPW, T, C)`` (the winners are the same for every task), so that each offset's
        select runs over runs of ``T C`` numbers instead of ``C``."""
        T, b, nPH, nPW, C = dP_tasks.shape
        shape = (b, nPH, nPW, T, C)
        dPT, _ = pool.scratch("tasks_dPT", shape, dP_tasks.dtype)
        codeT, _ = pool.scratch("tasks_codeT", shape, numpy.int8)
        hit, _ = pool.scratch("tasks_hit", shape, numpy.bool_)
        numpy.copyto(dPT, dP_tasks.transpose(1, 2, 3, 0, 4))
        numpy.copyto(codeT, code[:, :, :, None, :])
        out7 = out5.reshape(b, nPH, pf, nPW, pf, T, C)
        for u in range(pf):
            for v in range(pf):
                numpy.equal(codeT, u * pf + v + 1, out=hit)
                numpy.multiply(dPT, hit, out=out7[:, :, u, :, v])


def conv_forward_blocks(A_prev, W, b, f, stride, pad, n_H, n_W, ops=NumpyOps, pf=None,
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
    step = examples_per_block(n_H * n_W, K + n_C, dtype.itemsize, block_bytes)

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


def _input_gradient_plan(W_c, f, stride, pad, need_dA_prev):
    """How a conv backward forms ``dA_prev``: ``(q, gather, W_flip)``.

    For stride 1, ``dA_prev`` is a convolution of ``dZ`` (padded by ``q = f - 1 - pad``) with the
    flipped, transposed filters ``W_flip`` of shape ``(f*f*n_C, n_C_prev)``: a gather (window
    matrix of ``dZ``, one product) instead of a scatter-add (``gather`` True). Otherwise
    ``W_flip`` is None and the caller scatter-adds with col2im.
    """
    q = f - 1 - pad
    gather = need_dA_prev and stride == 1 and q >= 0
    W_flip = None
    if gather:
        n_C_prev, n_C = W_c.shape[2], W_c.shape[3]
        W_flip = numpy.ascontiguousarray(
            W_c[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(f * f * n_C, n_C_prev)
    return q, gather, W_flip


def conv_backward_blocks(dZ, A_prev, W, f, stride, pad, n_H, n_W, need_dA_prev, ops=NumpyOps,
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
    q, gather, W_flip = _input_gradient_plan(W_c, f, stride, pad, need_dA_prev)
    dA_prev = numpy.empty(A_prev.shape, dtype=dtype) if gather else (
        numpy.zeros(A_prev.shape, dtype=dtype) if need_dA_prev else None)
    pool = cpu_pool()
    step = examples_per_block(n_H * n_W, K + n_C, dtype.itemsize, block_bytes)
    if gather:
        step = min(step, examples_per_block(n_H_prev * n_W_prev, f * f * n_C + n_C_prev,
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
                # other strides: the block's dZ W^T added back onto its inputs (col2im)
                dcols = dz @ W_c.reshape(K, n_C).T
                dA_prev[s:e] = col2im(dcols.reshape(e - s, n_H, n_W, f, f, n_C_prev),
                                      (e - s, n_H_prev, n_W_prev, n_C_prev), f, stride, pad)
        return dW, db

    parts = pool.run(work, m)
    dW, db = parts[0]
    for dW_i, db_i in parts[1:]:
        dW += dW_i
        db += db_i
    return dA_prev, dW.reshape(f, f, n_C_prev, n_C), db.reshape(1, 1, 1, n_C)


def tiled(A_prev, f, stride, n_H, n_W):
    """True when the pooling windows tile ``A_prev`` exactly (stride = window, no remainder)."""
    return stride == f and n_H * f == A_prev.shape[1] and n_W * f == A_prev.shape[2]


def pool_max_into(x, f, out, tmp_key, pool):
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


def pool_forward_tiled(A_prev, f, n_H, n_W):
    m, C = A_prev.shape[0], A_prev.shape[3]
    x = numpy.ascontiguousarray(A_prev)
    A = numpy.empty((m, n_H, n_W, C), dtype=A_prev.dtype)
    pool = cpu_pool()
    step = max(1, BLOCK_BYTES // max(1, x[0].nbytes))

    def work(lo, hi):
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            pool_max_into(x[s:e], f, A[s:e], "pool_fwd_t", pool)

    pool.run(work, m)
    return A


def pool_backward_tiled(dA, A_prev, f, n_H, n_W):
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
            M = pool_max_into(x[s:e], f, M[:b], "pool_bwd_t", pool)
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
# The conv block fused: CONV -> RELU -> MAX-POOL in one pass over each block of examples
# ----------------------------------------------------------------------------------------------

class FusedBlockCache:
    """What :func:`fused_block_backward` needs: the conv cache ``(A_prev, W, b, hparameters)``,
    the pool hyperparameters, and ``code`` (int8, the pooled output's shape): 1 + the row-major
    offset of each window's first maximum, 0 where that maximum is <= 0 (ReLU stops the
    gradient there). Neither ``Z`` nor ``relu(Z)`` is kept."""

    __slots__ = ("conv_cache", "pool_hparameters", "code")

    def __init__(self, conv_cache, pool_hparameters, code):
        self.conv_cache = conv_cache
        self.pool_hparameters = pool_hparameters
        self.code = code


class LayerCaches:
    """The block run as its three kernels, one after the other: their three caches."""

    __slots__ = ("conv_cache", "relu_cache", "pool_cache")

    def __init__(self, conv_cache, relu_cache, pool_cache):
        self.conv_cache = conv_cache
        self.relu_cache = relu_cache
        self.pool_cache = pool_cache


def fused_pool_size(A_prev, W, b, n_H, n_W, pool_hparameters):
    """The pool window ``pf`` when the block can run fused -- NumPy floats of one dtype, and a
    max-pool of stride = window (at most 11, so the winner's offset fits an int8) that tiles
    the ``n_H x n_W`` conv output -- else None (then the three kernels run one after the
    other)."""
    pf, ps = check_pool_hparameters(pool_hparameters, "max")
    if (same_float(A_prev, W, b) and ps == pf and pf <= 11
            and n_H % pf == 0 and n_W % pf == 0):
        return pf
    return None


def fused_block_forward(A_prev, W, b, conv_hparameters, pool_hparameters, pf, ops=NumpyOps,
                        block_bytes=None):
    """CONV -> RELU -> MAX-POOL fused (when :func:`fused_pool_size` gave ``pf``): each block of
    examples goes window matrix -> product -> bias, ReLU and max-pool while it is in cache.
    Returns ``(A, FusedBlockCache)``."""
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, conv_hparameters)
    P, code = conv_forward_blocks(A_prev, W, b, f, stride, pad, n_H, n_W, ops=ops, pf=pf,
                                  block_bytes=block_bytes)
    return P, FusedBlockCache((A_prev, W, b, conv_hparameters), pool_hparameters, code)


def fused_block_backward(dA, cache, need_dA_prev=True, ops=NumpyOps, block_bytes=None):
    """Backward of :func:`fused_block_forward`: ``(dA_prev, dW, db)``; each block's conv gradient
    is rebuilt from the pooled gradient ``dA`` and the winners' code, then the products of
    :func:`conv_backward_blocks` run on it (``dA_prev`` None when ``need_dA_prev`` is False)."""
    A_prev, W, b, conv_hparameters = cache.conv_cache
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, conv_hparameters)
    check_upstream("dA", dA, cache.code.shape)
    if not same_float(dA, A_prev, W):
        dA = numpy.asarray(dA, dtype=A_prev.dtype)
    return conv_backward_blocks(dA, A_prev, W, f, stride, pad, n_H, n_W, need_dA_prev, ops=ops,
                                pf=cache.pool_hparameters["f"], code=cache.code,
                                block_bytes=block_bytes)


# ----------------------------------------------------------------------------------------------
# The fused conv block's backward for a stack of per-task upstream gradients
# ----------------------------------------------------------------------------------------------

def fused_block_backward_tasks(dA_tasks, cache, need_dA_prev=True, ops=NumpyOps, block_bytes=None):
    """:func:`fused_block_backward` for ``dA_tasks`` of shape ``(T, m, n_H // p, n_W // p, n_C)``,
    one pooled gradient per task: ``(dA_prev_tasks (T, m, ...) or None, dW (T, f, f, n_C_prev,
    n_C), db (T, 1, 1, 1, n_C))``, task ``t``'s slice equal to ``fused_block_backward(dA_tasks[t])``.

    Per block of examples (the single-task backward's blocks): every task's conv gradient is
    rebuilt side by side, ``[dz_1 ... dz_T]`` (``ops.unpool_tasks``; the winners are shared),
    the input's window matrix is gathered ONCE for all tasks, and all tasks' ``dW`` come from
    ONE product ``cols^T [dz_1 ... dz_T]`` (a ``K x T n_C`` result); each task's ``dA_prev``
    is then its own gather and product, as in the single-task backward (those are per-task
    work by nature)."""
    A_prev, W, b, conv_hparameters = cache.conv_cache
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, conv_hparameters)
    shape = getattr(dA_tasks, "shape", None)
    if shape is None or len(shape) != 5:
        raise ValueError(f"dA_tasks must have shape (n_tasks, *{cache.code.shape}); got {shape}")
    check_upstream("dA_tasks", dA_tasks, (shape[0],) + cache.code.shape)
    if not same_float(dA_tasks, A_prev, W):
        dA_tasks = numpy.asarray(dA_tasks, dtype=A_prev.dtype)
    return _conv_backward_blocks_tasks(dA_tasks, A_prev, W, f, stride, pad, n_H, n_W, need_dA_prev,
                                       ops, cache.pool_hparameters["f"], cache.code, block_bytes)


def _conv_backward_blocks_tasks(dP, A_prev, W, f, stride, pad, n_H, n_W, need_dA_prev, ops, pf,
                                code, block_bytes):
    T = dP.shape[0]
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    n_C = W.shape[3]
    K = f * f * n_C_prev
    dtype = dP.dtype
    dP = numpy.ascontiguousarray(dP)
    W_c = numpy.ascontiguousarray(W)
    q, gather, W_flip = _input_gradient_plan(W_c, f, stride, pad, need_dA_prev)
    dA_prev = numpy.empty((T,) + A_prev.shape, dtype=dtype) if gather else (
        numpy.zeros((T,) + A_prev.shape, dtype=dtype) if need_dA_prev else None)
    pool = cpu_pool()
    # the single-task backward's blocks: what a block keeps in cache per task is the same
    step = examples_per_block(n_H * n_W, K + n_C, dtype.itemsize, block_bytes)
    if gather:
        step = min(step, examples_per_block(n_H_prev * n_W_prev, f * f * n_C + n_C_prev,
                                             dtype.itemsize, block_bytes))
    unpool_tasks = getattr(ops, "unpool_tasks", NumpyOps.unpool_tasks)

    def work(lo, hi):
        dW = numpy.zeros((K, T * n_C), dtype=dtype)
        part = numpy.empty((K, T * n_C), dtype=dtype)
        ones, fresh = pool.scratch("ones", (step * n_H * n_W,), dtype)
        if fresh:
            ones[:] = 1
        db = numpy.zeros(T * n_C, dtype=dtype)
        wide_buf, _ = pool.scratch("tasks_bwd_wide", (step * n_H * n_W, T, n_C), dtype)
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            bsz = e - s
            rows = bsz * n_H * n_W
            # every task's conv gradient, rebuilt from its pooled gradient and the (shared)
            # winners, side by side: wide = [dz_1 ... dz_T], (rows, T n_C)
            wide5 = wide_buf[:rows].reshape(bsz, n_H, n_W, T, n_C)
            unpool_tasks(dP[:, s:e], code[s:e], pf, wide5, pool)
            wide = wide5.reshape(rows, T * n_C)
            # the input's windows, gathered once for every task; every task's dW in one product
            cols = ops.gather(pool, "conv_bwd_", A_prev[s:e], f, stride, pad, n_H, n_W, step)
            numpy.matmul(cols.T, wide, out=part)
            dW += part
            numpy.matmul(ones[:rows], wide, out=part[0])
            db += part[0]
            for t in range(T):
                dz4 = wide5[:, :, :, t, :]
                if gather:
                    dcols = ops.gather(pool, "conv_bwd_dz_", dz4, f, 1, q, n_H_prev, n_W_prev, step)
                    numpy.matmul(dcols, W_flip, out=dA_prev[t, s:e].reshape(-1, n_C_prev))
                elif need_dA_prev:
                    dcols = dz4.reshape(rows, n_C) @ W_c.reshape(K, n_C).T
                    dA_prev[t, s:e] = col2im(dcols.reshape(bsz, n_H, n_W, f, f, n_C_prev),
                                             (bsz, n_H_prev, n_W_prev, n_C_prev), f, stride, pad)
        return dW, db

    parts = pool.run(work, m)
    dW, db = parts[0]
    for dW_i, db_i in parts[1:]:
        dW += dW_i
        db += db_i
    dW = numpy.ascontiguousarray(dW.reshape(K, T, n_C).transpose(1, 0, 2))
    return dA_prev, dW.reshape(T, f, f, n_C_prev, n_C), db.reshape(T, 1, 1, 1, n_C)
