r"""The GPU backend: CuPy arrays, cuBLAS matrix products, hand-written CUDA kernels.

Parameters and activations live on the GPU as CuPy arrays. The kernel set is
the NumPy backend's, with the same signatures, caches and results (to rounding):

* matrix products (dense layers, the convolution's window matrix times the
  filters) go to cuBLAS through ``@``. CuPy does not use TF32 for float32
  products unless ``CUPY_TF32=1`` is set, so float32 stays float32;
* the element-wise work is CuPy ``ElementwiseKernel`` objects: ReLU and its
  backward, the stable sigmoid, and bias-add + ReLU fused into one pass;
* the masked logistic cost and its gradient are one pass over ``ZL`` and ``Y``
  (a ``RawModule`` kernel): each thread writes ``dZ[L]`` and adds its masked
  losses into a per-block partial sum (float64), and a one-block kernel adds the
  partial sums in a fixed order, so the cost is deterministic;
* convolution is im2col (a kernel that writes the window matrix straight from the
  unpadded input: the zero padding is never materialised) plus one cuBLAS product;
  its backward is two products plus col2im written as a *gather* (each input
  element sums the window entries that read it: no atomics, deterministic);
* max and average pooling, forward and backward, are kernels; max-pool backward
  sends each window's gradient to the *first* maximum in row-major window order,
  like :mod:`mtl_numpy.conv`, the naive loops and PyTorch.

Every kernel is built once, at import, with a ``name=`` (which is what a profiler
shows); CuPy compiles it for a device on first use and caches the binary on disk.
The raw kernels are C++ templates instantiated for ``float`` and ``double``
(``RawModule`` with ``name_expressions``), so float32 and float64 models both run
on them. '?' labels are selected with ``y == y`` (false only for nan), never
multiplied.

Device-to-host copies happen only where the caller asks for host data: the cost
(a Python float, one 8-byte copy) and :func:`to_numpy`.

This module imports without CuPy (so that ``import mtl_numpy`` and
:func:`mtl_numpy.available_backends` work anywhere); :func:`check_available`
raises ``ImportError`` when CuPy or a CUDA GPU is missing, and
:func:`mtl_numpy.get_backend` calls it before handing the module out.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..conv import check_conv_args, check_pool_args, check_upstream
from ..layers import (  # noqa: F401 - re-exported: matmul (cuBLAS) and views, already CuPy-ready
    flatten_backward,
    flatten_forward,
    linear_backward,
    linear_forward,
)

try:  # CuPy is optional: without it the module still imports, and check_available() says why.
    import cupy
except Exception as _exc:  # pragma: no cover - ImportError, or a broken CUDA install at import
    cupy = None
    _IMPORT_ERROR = _exc
else:
    _IMPORT_ERROR = None

name = "cupy"
xp = cupy

__all__ = [
    "name", "xp", "check_available", "asarray", "to_numpy",
    "linear_forward", "linear_backward", "relu_forward", "relu_backward",
    "sigmoid", "sigmoid_forward", "sigmoid_backward",
    "linear_relu_forward", "linear_relu_backward",
    "flatten_forward", "flatten_backward",
    "masked_logistic_cost_and_grad",
    "conv_forward", "conv_backward", "pool_forward", "pool_backward",
    "conv_relu_pool_forward", "conv_relu_pool_backward",
]


def check_available():
    """Raise ``ImportError`` unless CuPy is installed and sees at least one CUDA GPU."""
    if cupy is None:
        raise ImportError(f"CuPy is not installed ({_IMPORT_ERROR})")
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, insufficient driver, ...
        raise ImportError(f"CuPy is installed but cannot use a CUDA GPU: {exc}") from exc
    if n_devices == 0:
        raise ImportError("CuPy is installed but no CUDA GPU is visible")


def asarray(x, dtype=None):
    """``x`` (NumPy, CuPy, or a nested sequence) as a CuPy array of ``dtype``.

    Host data is cast on the host (fewer bytes to move when narrowing to float32) and
    copied to the device once; a CuPy array already of ``dtype`` is returned as it is,
    like :func:`numpy.asarray`.
    """
    if isinstance(x, cupy.ndarray):
        return x if dtype is None else x.astype(dtype, copy=False)
    return cupy.asarray(np.asarray(x, dtype=dtype))


def to_numpy(x):
    """Host (NumPy) copy of ``x``; NumPy input is returned as it is."""
    if isinstance(x, np.ndarray):
        return x
    return cupy.asnumpy(x)


def _contiguous(x):
    """C-contiguous CuPy array (no copy when it already is): the raw kernels index flat."""
    return cupy.ascontiguousarray(x)


def _float_dtype(*arrays):
    """The float dtype the kernels run in: float32 if every input is float32, else float64."""
    dtype = np.result_type(*[a.dtype for a in arrays])
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


# ----------------------------------------------------------------------------------------------
# Element-wise kernels (ElementwiseKernel: CuPy writes the indexing; T is float or double)
# ----------------------------------------------------------------------------------------------

# Stable logistic function from e = exp(-|z|), which never overflows:
# sigma(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) for z < 0.
_SIGMOID_BODY = "const T e = exp(-fabs(z)); const T s = (z >= (T)0 ? (T)1 : e) / ((T)1 + e);"

if cupy is not None:
    # A = max(Z, 0), written so that nan propagates as it does in numpy.maximum.
    _relu_forward_kernel = cupy.ElementwiseKernel(
        "T z", "T a", "a = z < (T)0 ? (T)0 : z", "mtl_relu_forward")

    # dZ = dA * 1[Z > 0] (derivative 0 at Z = 0, as the course and PyTorch take it).
    _relu_backward_kernel = cupy.ElementwiseKernel(
        "T da, T z", "T dz", "dz = z > (T)0 ? da : (T)0", "mtl_relu_backward")

    _sigmoid_kernel = cupy.ElementwiseKernel(
        "T z", "T a", _SIGMOID_BODY + " a = s;", "mtl_sigmoid")

    # dZ = dA * sigma(Z) * (1 - sigma(Z))
    _sigmoid_backward_kernel = cupy.ElementwiseKernel(
        "T da, T z", "T dz", _SIGMOID_BODY + " dz = da * s * ((T)1 - s);", "mtl_sigmoid_backward")

    # Z += b (b of shape (n, 1) broadcast over the columns), A = max(Z, 0): one pass
    # over the product W @ A_prev instead of two. ``z`` is read and written in place.
    _bias_relu_kernel = cupy.ElementwiseKernel(
        "T b", "T z, T a", "z += b; a = z < (T)0 ? (T)0 : z;", "mtl_bias_relu_forward")

    # Reference two-pass masked cost (used by the tests and the benchmark as a check on
    # the fused kernel): a reduction for the sum of the masked losses (accumulated in
    # float64), then an element-wise pass for dZ[L].
    _masked_loss_sum_kernel = cupy.ReductionKernel(
        "T z, T y", "float64 total",
        "y == y ? (double)(fmax(z, (T)0) - z * y + log1p(exp(-fabs(z)))) : 0.0",
        "a + b", "total = a", "0", "mtl_masked_logistic_loss_sum")   # reduces in double (the
    # out parameter's C type; ``reduce_type=`` would take a C type name, not a NumPy one)
    _count_known_kernel = cupy.ReductionKernel(
        "T y", "int64 n", "y == y ? 1 : 0", "a + b", "n = a", "0", "mtl_count_known_labels")
    _masked_grad_kernel = cupy.ElementwiseKernel(
        "T z, T y, T scale", "T dz",
        "if (y == y) { " + _SIGMOID_BODY + " dz = (s - y) * scale; } else { dz = (T)0; }",
        "mtl_masked_logistic_grad")


# ----------------------------------------------------------------------------------------------
# Raw kernels: the fused cost, im2col / col2im, pooling. One template source, float + double.
# ----------------------------------------------------------------------------------------------

_BLOCK = 256  # threads per block for every raw kernel (the block reduction assumes it)

_RAW_SOURCE = r"""
#define MTL_BLOCK 256

// Grid-stride loop over [0, n): correct for any grid size.
#define MTL_FOR(idx, n) \
    for (long long idx = (long long)blockIdx.x * MTL_BLOCK + threadIdx.x; idx < (n); \
         idx += (long long)gridDim.x * MTL_BLOCK)

// Sum of v over the block, valid in thread 0. Needs blockDim.x == MTL_BLOCK and every
// thread of the block to call it (it has a __syncthreads).
__device__ __forceinline__ double mtl_block_sum(double v) {
    __shared__ double warp_sums[MTL_BLOCK / 32];
    const unsigned lane = threadIdx.x & 31u;
    const unsigned warp = threadIdx.x >> 5;
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    v = (threadIdx.x < MTL_BLOCK / 32) ? warp_sums[threadIdx.x] : 0.0;
    if (warp == 0) {
        for (int offset = 16; offset > 0; offset >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, offset);
    }
    return v;
}

// ---------------------------------------------------------------- masked logistic cost
// For a known label (y == y; false only for nan, the '?'):
//   loss = max(z, 0) - z*y + log1p(exp(-|z|)),   dz = (sigmoid(z) - y) * scale
// and for a '?': loss not counted, dz = 0. scale = 1/N (N = m, or the number of known
// labels, read from *count when BY_LABELS). One read of z and y, one write of dz; each
// block leaves the float64 sum of its losses in partial[blockIdx.x].
template <typename T, bool BY_LABELS>
__global__ void masked_logistic_fused(const T* __restrict__ z, const T* __restrict__ y,
                                      T scale, const unsigned long long* __restrict__ count,
                                      T* __restrict__ dz, double* __restrict__ partial,
                                      const long long n) {
    if (BY_LABELS) {
        const unsigned long long n_known = count[0];
        scale = n_known > 0ull ? (T)(1.0 / (double)n_known) : (T)0;
    }
    double acc = 0.0;
    MTL_FOR(i, n) {
        const T yi = y[i];
        T g = (T)0;
        if (yi == yi) {
            const T zi = z[i];
            const T e = exp(-fabs(zi));
            const T loss = fmax(zi, (T)0) - zi * yi + log1p(e);
            const T s = (zi >= (T)0 ? (T)1 : e) / ((T)1 + e);
            acc += (double)loss;
            g = (s - yi) * scale;
        }
        dz[i] = g;
    }
    acc = mtl_block_sum(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// Number of known labels (y == y), added into *count (which must start at 0).
template <typename T>
__global__ void count_known(const T* __restrict__ y, unsigned long long* __restrict__ count,
                            const long long n) {
    double acc = 0.0;
    MTL_FOR(i, n) {
        const T yi = y[i];
        acc += (yi == yi) ? 1.0 : 0.0;
    }
    acc = mtl_block_sum(acc);  // exact: integers below 2^53
    if (threadIdx.x == 0 && acc > 0.0) atomicAdd(count, (unsigned long long)acc);
}

// One block: cost = (sum of the partial sums, in a fixed order) / N, or 0 when N == 0.
// N = n_examples, or *count when by_labels.
__global__ void masked_logistic_finalize(const double* __restrict__ partial, const int n_partial,
                                         const double n_examples,
                                         const unsigned long long* __restrict__ count,
                                         const int by_labels, double* __restrict__ out) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < n_partial; i += MTL_BLOCK) acc += partial[i];
    acc = mtl_block_sum(acc);
    if (threadIdx.x == 0) {
        const double N = by_labels ? (double)count[0] : n_examples;
        out[0] = N > 0.0 ? acc / N : 0.0;
    }
}

// ---------------------------------------------------------------- im2col / col2im (NHWC)
// cols[r, (u*f + v)*C + k] = A_pad[i, h*s + u, w*s + v, k],  r = (i*n_H + h)*n_W + w,
// reading the unpadded input (out-of-range = the zero padding).
template <typename T>
__global__ void im2col_nhwc(const T* __restrict__ x, T* __restrict__ cols, const long long total,
                            const int n_H_prev, const int n_W_prev, const int C,
                            const int n_H, const int n_W, const int f, const int stride,
                            const int pad) {
    const long long K = (long long)f * f * C;
    MTL_FOR(idx, total) {
        const long long r = idx / K;
        const int col = (int)(idx - r * K);
        const int k = col % C;
        const int uv = col / C;
        const int v = uv % f;
        const int u = uv / f;
        const int w = (int)(r % n_W);
        const long long t = r / n_W;
        const int h = (int)(t % n_H);
        const long long i = t / n_H;
        const int yy = h * stride + u - pad;
        const int xx = w * stride + v - pad;
        T val = (T)0;
        if (yy >= 0 && yy < n_H_prev && xx >= 0 && xx < n_W_prev)
            val = x[((i * n_H_prev + yy) * n_W_prev + xx) * C + k];
        cols[idx] = val;
    }
}

// Adjoint of im2col as a gather: dx[i, yy, xx, k] = sum over the (u, v) whose window
// (h, w) = ((yy + pad - u)/s, (xx + pad - v)/s) exists of dcols[(i, h, w), (u, v, k)].
// Offsets are taken in row-major (u, v) order, as mtl_numpy.conv adds them.
template <typename T>
__global__ void col2im_nhwc(const T* __restrict__ dcols, T* __restrict__ dx, const long long total,
                            const int n_H_prev, const int n_W_prev, const int C,
                            const int n_H, const int n_W, const int f, const int stride,
                            const int pad) {
    const long long K = (long long)f * f * C;
    MTL_FOR(idx, total) {
        const int k = (int)(idx % C);
        long long t = idx / C;
        const int xx = (int)(t % n_W_prev);
        t /= n_W_prev;
        const int yy = (int)(t % n_H_prev);
        const long long i = t / n_H_prev;
        T acc = (T)0;
        for (int u = 0; u < f; ++u) {
            const int hp = yy + pad - u;
            if (hp < 0 || hp % stride != 0) continue;
            const int h = hp / stride;
            if (h >= n_H) continue;
            for (int v = 0; v < f; ++v) {
                const int wp = xx + pad - v;
                if (wp < 0 || wp % stride != 0) continue;
                const int w = wp / stride;
                if (w >= n_W) continue;
                acc += dcols[((i * n_H + h) * n_W + w) * K + (long long)(u * f + v) * C + k];
            }
        }
        dx[idx] = acc;
    }
}

// ---------------------------------------------------------------- pooling (NHWC, no padding)
// Window (h, w) of example i, channel c starts at x[i, h*s, w*s, c]; offset (u, v) is
// (u*n_W_prev + v)*C further on.

// Max of a window and the row-major offset u*f + v of its FIRST maximum (strictly greater
// replaces; a nan makes the maximum nan, as numpy.maximum does, without moving the argmax).
template <typename T>
__device__ __forceinline__ T mtl_window_max(const T* __restrict__ base, const int n_W_prev,
                                            const int C, const int f, int* arg) {
    T best = base[0];
    int best_arg = 0;
    for (int u = 0; u < f; ++u) {
        for (int v = 0; v < f; ++v) {
            if (u == 0 && v == 0) continue;
            const T val = base[((long long)u * n_W_prev + v) * C];
            if (val > best) { best = val; best_arg = u * f + v; }
            else if (val != val) { best = val; }
        }
    }
    *arg = best_arg;
    return best;
}

// mode 0 = max, 1 = average. One thread per output element.
template <typename T>
__global__ void pool_forward_nhwc(const T* __restrict__ x, T* __restrict__ out,
                                  const long long total, const int n_H_prev, const int n_W_prev,
                                  const int C, const int n_H, const int n_W, const int f,
                                  const int stride, const int mode) {
    MTL_FOR(idx, total) {
        const int c = (int)(idx % C);
        long long t = idx / C;
        const int w = (int)(t % n_W);
        t /= n_W;
        const int h = (int)(t % n_H);
        const long long i = t / n_H;
        const T* base = x + ((i * n_H_prev + (long long)h * stride) * n_W_prev
                             + (long long)w * stride) * C + c;
        T result;
        if (mode == 0) {
            int arg;
            result = mtl_window_max(base, n_W_prev, C, f, &arg);
        } else {
            T acc = (T)0;
            for (int u = 0; u < f; ++u)
                for (int v = 0; v < f; ++v)
                    acc += base[((long long)u * n_W_prev + v) * C];
            result = acc / (T)(f * f);
        }
        out[idx] = result;
    }
}

// Backward as a gather, one thread per INPUT element (i, yy, xx, c): it adds the upstream
// gradient of every window that covers it and (max) picked it as the first maximum, or
// (average) the 1/f^2 share of every covering window. Overlapping windows (stride < f)
// need no atomics; inputs no window covers get 0.
template <typename T>
__global__ void pool_backward_nhwc(const T* __restrict__ x, const T* __restrict__ dout,
                                   T* __restrict__ dx, const long long total,
                                   const int n_H_prev, const int n_W_prev, const int C,
                                   const int n_H, const int n_W, const int f, const int stride,
                                   const int mode) {
    MTL_FOR(idx, total) {
        const int c = (int)(idx % C);
        long long t = idx / C;
        const int xx = (int)(t % n_W_prev);
        t /= n_W_prev;
        const int yy = (int)(t % n_H_prev);
        const long long i = t / n_H_prev;
        // windows h with h*s <= yy <= h*s + f - 1
        const int h_lo = yy - f + 1 <= 0 ? 0 : (yy - f + 1 + stride - 1) / stride;
        const int h_hi = min(yy / stride, n_H - 1);
        const int w_lo = xx - f + 1 <= 0 ? 0 : (xx - f + 1 + stride - 1) / stride;
        const int w_hi = min(xx / stride, n_W - 1);
        T acc = (T)0;
        for (int h = h_lo; h <= h_hi; ++h) {
            for (int w = w_lo; w <= w_hi; ++w) {
                const T g = dout[((i * n_H + h) * n_W + w) * C + c];
                if (mode == 0) {
                    const T* base = x + ((i * n_H_prev + (long long)h * stride) * n_W_prev
                                         + (long long)w * stride) * C + c;
                    int arg;
                    mtl_window_max(base, n_W_prev, C, f, &arg);
                    if (arg == (yy - h * stride) * f + (xx - w * stride)) acc += g;
                } else {
                    acc += g / (T)(f * f);
                }
            }
        }
        dx[idx] = acc;
    }
}
"""

_TEMPLATES = ("im2col_nhwc", "col2im_nhwc", "pool_forward_nhwc", "pool_backward_nhwc",
              "count_known")
_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def _name_expressions():
    names = ["masked_logistic_finalize"]
    for ctype in _CTYPES.values():
        names += [f"{t}<{ctype}>" for t in _TEMPLATES]
        names += [f"masked_logistic_fused<{ctype}, false>", f"masked_logistic_fused<{ctype}, true>"]
    return names


if cupy is not None:
    _raw_module = cupy.RawModule(code=_RAW_SOURCE, options=("--std=c++14",),
                                 name_expressions=_name_expressions())

_functions = {}   # (device id, name expression) -> compiled kernel
_sm_counts = {}   # device id -> number of multiprocessors


def _kernel(expression):
    device = cupy.cuda.runtime.getDevice()
    key = (device, expression)
    fn = _functions.get(key)
    if fn is None:
        fn = _functions[key] = _raw_module.get_function(expression)
    return fn


def _grid(n, per_sm=32):
    """Blocks for a grid-stride loop over n items: enough to fill the GPU, never more than needed."""
    device = cupy.cuda.runtime.getDevice()
    sms = _sm_counts.get(device)
    if sms is None:
        sms = _sm_counts[device] = cupy.cuda.Device(device).attributes["MultiProcessorCount"]
    return max(1, min(-(-n // _BLOCK), sms * per_sm))


def _launch(expression, n, args):
    if n > 0:
        _kernel(expression)((_grid(n),), (_BLOCK,), args)


# ----------------------------------------------------------------------------------------------
# Activations and dense layers
# ----------------------------------------------------------------------------------------------

def relu_forward(Z):
    r"""ReLU, :math:`A = \max(Z, 0)`: ``(A, cache)`` with cache ``Z``."""
    return _relu_forward_kernel(Z), Z


def relu_backward(dA, cache):
    r"""Backward of :func:`relu_forward`: :math:`dZ = dA \odot 1[Z > 0]`."""
    return _relu_backward_kernel(dA, cache)


def sigmoid(Z):
    r"""Stable logistic function :math:`\sigma(Z)` from :math:`e^{-|z|}`."""
    return _sigmoid_kernel(Z)


def sigmoid_forward(Z):
    r"""Sigmoid activation: ``(sigmoid(Z), cache)`` with cache ``Z``."""
    return _sigmoid_kernel(Z), Z


def sigmoid_backward(dA, cache):
    r"""Backward of :func:`sigmoid_forward`: :math:`dZ = dA\,\sigma(Z)(1 - \sigma(Z))`."""
    return _sigmoid_backward_kernel(dA, cache)


def linear_relu_forward(A_prev, W, b):
    r"""LINEAR -> RELU with the bias add and the ReLU fused into one kernel.

    ``Z = W @ A_prev`` on cuBLAS, then one pass writes ``Z += b`` (in place) and
    ``A = max(Z, 0)``. Cache ``((A_prev, W, b), Z)``, as in :mod:`mtl_numpy.layers`.
    """
    Z = W @ A_prev
    if Z.dtype != b.dtype:            # b wider than the product (mixed dtypes): promote first
        Z = Z.astype(np.result_type(Z.dtype, b.dtype))
    A = cupy.empty_like(Z)
    _bias_relu_kernel(b, Z, A)
    return A, ((A_prev, W, b), Z)


def linear_relu_backward(dA, cache, need_dA_prev=True):
    """Backward of :func:`linear_relu_forward`: ``(dA_prev, dW, db)``; ``dA_prev`` is None
    when ``need_dA_prev`` is False."""
    linear_cache, Z = cache
    return linear_backward(_relu_backward_kernel(dA, Z), linear_cache, need_dA_prev)


# ----------------------------------------------------------------------------------------------
# Masked logistic cost
# ----------------------------------------------------------------------------------------------

def _masked_cost_fused(ZL, Y, normalize, out=None):
    """The fused kernel; ``out`` (optional, for tests) receives dZ[L]. Returns (cost, dZL)."""
    n = ZL.size
    dtype = _float_dtype(ZL)
    ctype = _CTYPES[dtype]
    ZL = _contiguous(ZL.astype(dtype, copy=False))
    Y = _contiguous(Y.astype(dtype, copy=False))
    dZL = cupy.empty_like(ZL) if out is None else out
    by_labels = normalize == "labels"
    n_blocks = _grid(n)
    partial = cupy.empty(n_blocks, dtype=np.float64)
    cost = cupy.empty(1, dtype=np.float64)
    n64 = np.int64(n)
    if by_labels:
        count = cupy.zeros(1, dtype=np.uint64)
        _launch(f"count_known<{ctype}>", n, (Y, count, n64))
        scale = dtype.type(0)                        # read from count inside the kernel
    else:
        count = partial                              # never read when not by labels
        scale = dtype.type(1.0 / ZL.shape[1])        # numpy backend: dtype.type(1.0 / N)
    _kernel(f"masked_logistic_fused<{ctype}, {'true' if by_labels else 'false'}>")(
        (n_blocks,), (_BLOCK,), (ZL, Y, scale, count, dZL, partial, n64))
    _kernel("masked_logistic_finalize")(
        (1,), (_BLOCK,),
        (partial, np.int32(n_blocks), np.float64(ZL.shape[1]), count, np.int32(by_labels), cost))
    return float(cost.get()[0]), dZL


def _masked_cost_two_pass(ZL, Y, normalize):
    """Reference version: ReductionKernel for the cost, ElementwiseKernel for dZ[L].

    Reads ``ZL`` and ``Y`` twice (five array passes instead of the fused kernel's three);
    kept as an independent check on :func:`_masked_cost_fused` and as a benchmark baseline.
    """
    dtype = _float_dtype(ZL)
    ZL = ZL.astype(dtype, copy=False)
    Y = Y.astype(dtype, copy=False)
    if normalize == "labels":
        N = int(_count_known_kernel(Y))
    else:
        N = ZL.shape[1]
    if N == 0:
        return 0.0, cupy.zeros_like(ZL)
    total = _masked_loss_sum_kernel(ZL, Y)
    dZL = _masked_grad_kernel(ZL, Y, dtype.type(1.0 / N))
    return float(total) / N, dZL


def masked_logistic_cost_and_grad(ZL, Y, normalize="examples"):
    r"""Fused masked logistic cost and its gradient, from logits, in one pass on the GPU.

    Parameters
    ----------
    ZL : cupy.ndarray of shape (n_tasks, m)
        Logits of the output layer.
    Y : cupy.ndarray of shape (n_tasks, m)
        Labels 0.0 / 1.0, ``nan`` for '?'. Already validated.
    normalize : {"examples", "labels"}
        Divide by ``m`` (the lecture) or by the number of known labels.

    Returns
    -------
    cost : float
        0.0 when no label is known.
    dZL : cupy.ndarray of shape (n_tasks, m), dtype of ``ZL``
        Exactly 0 at '?' entries.

    Notes
    -----
    .. math::
        J = \frac{1}{N} \sum_{i} \sum_{j: y_{ji} = y_{ji}}
            \max(z_{ji}, 0) - z_{ji} y_{ji} + \log(1 + e^{-|z_{ji}|}),
        \qquad dZ^{[L]}_{ji} = [y_{ji} = y_{ji}]\,(\sigma(z_{ji}) - y_{ji}) / N

    (``y == y`` is false only for nan). The losses are computed in ``ZL``'s dtype and
    summed in float64, as the NumPy backend does; the sum is taken per block and then
    over the blocks in a fixed order, so the same inputs give the same cost bit for bit.
    """
    return _masked_cost_fused(ZL, Y, normalize)


# ----------------------------------------------------------------------------------------------
# Convolution: im2col kernel + cuBLAS
# ----------------------------------------------------------------------------------------------

def _im2col(A_prev, f, stride, pad, n_H, n_W, out=None):
    """Window matrix ``(m*n_H*n_W, f*f*n_C_prev)`` of a C-contiguous float32/64 ``A_prev``."""
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    shape = (m * n_H * n_W, f * f * n_C_prev)
    cols = cupy.empty(shape, dtype=A_prev.dtype) if out is None else out
    total = shape[0] * shape[1]
    i32 = np.int32
    _launch(f"im2col_nhwc<{_CTYPES[A_prev.dtype]}>", total,
            (A_prev, cols, np.int64(total), i32(n_H_prev), i32(n_W_prev), i32(n_C_prev),
             i32(n_H), i32(n_W), i32(f), i32(stride), i32(pad)))
    return cols


def _col2im(dcols, A_shape, f, stride, pad, n_H, n_W, out=None):
    """Gather ``dcols`` (C-contiguous, ``(m*n_H*n_W, f*f*n_C_prev)``) back onto ``A_shape``."""
    m, n_H_prev, n_W_prev, n_C_prev = A_shape
    dA_prev = cupy.empty(tuple(A_shape), dtype=dcols.dtype) if out is None else out
    total = m * n_H_prev * n_W_prev * n_C_prev
    i32 = np.int32
    _launch(f"col2im_nhwc<{_CTYPES[dcols.dtype]}>", total,
            (dcols, dA_prev, np.int64(total), i32(n_H_prev), i32(n_W_prev), i32(n_C_prev),
             i32(n_H), i32(n_W), i32(f), i32(stride), i32(pad)))
    return dA_prev


def conv_forward(A_prev, W, b, hparameters):
    r"""Convolution forward as im2col (one kernel) plus one cuBLAS product.

    Same signature, cache and result as :func:`mtl_numpy.conv.conv_forward`:
    ``A_prev (m, n_H_prev, n_W_prev, n_C_prev)``, ``W (f, f, n_C_prev, n_C)``,
    ``b (1, 1, 1, n_C)``, ``hparameters = {"stride": s, "pad": p}``; returns
    ``Z (m, n_H, n_W, n_C)`` and the cache ``(A_prev, W, b, hparameters)``.

    Notes
    -----
    .. math::
        Z_{(m n_H n_W) \times n_C} = \text{cols}_{(m n_H n_W) \times (f f n_{C,prev})}
        \; W_{(f f n_{C,prev}) \times n_C} + b
    """
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, hparameters)
    m, n_C_prev, n_C = A_prev.shape[0], A_prev.shape[3], W.shape[3]
    dtype = _float_dtype(A_prev, W, b)
    A = _contiguous(A_prev.astype(dtype, copy=False))
    cols = _im2col(A, f, stride, pad, n_H, n_W)
    Z = cols @ W.astype(dtype, copy=False).reshape(f * f * n_C_prev, n_C)
    Z += b.astype(dtype, copy=False).reshape(1, n_C)
    return Z.reshape(m, n_H, n_W, n_C), (A_prev, W, b, hparameters)


def conv_backward(dZ, cache, need_dA_prev=True):
    r"""Convolution backward: ``dW = cols^T dZ``, ``db`` = column sums, ``dA_prev = col2im(dZ W^T)``.

    Same signature and results as :func:`mtl_numpy.conv.conv_backward`: returns
    ``(dA_prev, dW, db)``, with ``dA_prev`` None when ``need_dA_prev`` is False (a model's
    first layer: the input images need no gradient, and ``dZ W^T`` plus col2im are skipped).
    ``dZ`` already carries the cost's ``1/m``. The window matrix is rebuilt from ``A_prev``
    (the cache does not keep it), and ``dcols = dZ W^T`` is one product whose entries col2im
    gathers back onto the input.
    """
    A_prev, W, b, hparameters = cache
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, hparameters)
    m, n_C_prev, n_C = A_prev.shape[0], A_prev.shape[3], W.shape[3]
    check_upstream("dZ", dZ, (m, n_H, n_W, n_C))
    dtype = _float_dtype(dZ, A_prev, W)
    N, K = m * n_H * n_W, f * f * n_C_prev
    dZ2 = _contiguous(dZ.astype(dtype, copy=False)).reshape(N, n_C)
    W2 = W.astype(dtype, copy=False).reshape(K, n_C)
    cols = _im2col(_contiguous(A_prev.astype(dtype, copy=False)), f, stride, pad, n_H, n_W)
    dW = (cols.T @ dZ2).reshape(f, f, n_C_prev, n_C)
    del cols
    # db as a product with a ones vector (cuBLAS gemv): a column sum of a tall C-ordered
    # matrix, which a generic axis-0 reduction does with little parallelism.
    db = (cupy.ones(N, dtype=dtype) @ dZ2).reshape(1, 1, 1, n_C)
    if not need_dA_prev:
        return None, dW, db
    dcols = dZ2 @ W2.T
    dA_prev = _col2im(dcols, A_prev.shape, f, stride, pad, n_H, n_W)
    return dA_prev, dW, db


# ----------------------------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------------------------

_POOL_MODES = {"max": 0, "average": 1}


def pool_forward(A_prev, hparameters, mode="max"):
    r"""Max or average pooling forward, one thread per output element.

    Same signature, cache and result as :func:`mtl_numpy.conv.pool_forward`:
    ``hparameters = {"f": f, "stride": s}``, no padding, output sizes round down;
    returns ``A (m, n_H, n_W, n_C)`` and the cache ``(A_prev, hparameters)``.
    """
    f, stride, n_H, n_W = check_pool_args(A_prev, hparameters, mode)
    m, n_H_prev, n_W_prev, C = A_prev.shape
    dtype = _float_dtype(A_prev)
    x = _contiguous(A_prev.astype(dtype, copy=False))
    A = cupy.empty((m, n_H, n_W, C), dtype=dtype)
    total = A.size
    i32 = np.int32
    _launch(f"pool_forward_nhwc<{_CTYPES[dtype]}>", total,
            (x, A, np.int64(total), i32(n_H_prev), i32(n_W_prev), i32(C), i32(n_H), i32(n_W),
             i32(f), i32(stride), i32(_POOL_MODES[mode])))
    return A, (A_prev, hparameters)


def pool_backward(dA, cache, mode="max"):
    r"""Max or average pooling backward, one thread per input element (a gather, no atomics).

    Same signature and result as :func:`mtl_numpy.conv.pool_backward`. Max pooling
    sends each window's gradient to the first maximum of the window in row-major order;
    overlapping windows add their contributions; inputs no window covers get 0.
    """
    A_prev, hparameters = cache
    f, stride, n_H, n_W = check_pool_args(A_prev, hparameters, mode)
    m, n_H_prev, n_W_prev, C = A_prev.shape
    check_upstream("dA", dA, (m, n_H, n_W, C))
    dtype = _float_dtype(dA)
    x = _contiguous(A_prev.astype(dtype, copy=False))
    g = _contiguous(dA.astype(dtype, copy=False))
    dA_prev = cupy.empty(A_prev.shape, dtype=dtype)
    total = dA_prev.size
    i32 = np.int32
    _launch(f"pool_backward_nhwc<{_CTYPES[dtype]}>", total,
            (x, g, dA_prev, np.int64(total), i32(n_H_prev), i32(n_W_prev), i32(C), i32(n_H),
             i32(n_W), i32(f), i32(stride), i32(_POOL_MODES[mode])))
    return dA_prev


# ----------------------------------------------------------------------------------------------
# The conv block: CONV -> RELU -> MAX-POOL (what SharedCNN calls for each conv layer)
# ----------------------------------------------------------------------------------------------

class _BlockCache(NamedTuple):
    """The conv block's cache: the caches of its three kernels."""

    conv_cache: tuple
    relu_cache: object
    pool_cache: tuple


def conv_relu_pool_forward(A_prev, W, b, conv_hparameters, pool_hparameters):
    r"""CONV -> RELU -> MAX-POOL in one call: :func:`conv_forward`, :func:`relu_forward` and
    :func:`pool_forward` (max) one after the other, as the NumPy backend's
    ``conv_relu_pool_forward`` computes them. Returns ``(A, cache)``; the cache (the three
    kernels' caches) is for :func:`conv_relu_pool_backward` only."""
    Z, conv_cache = conv_forward(A_prev, W, b, conv_hparameters)
    A, relu_cache = relu_forward(Z)
    P, pool_cache = pool_forward(A, pool_hparameters, mode="max")
    return P, _BlockCache(conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dA, cache, need_dA_prev=True):
    r"""Backward of :func:`conv_relu_pool_forward`: :func:`pool_backward`, :func:`relu_backward`,
    then :func:`conv_backward`; returns ``(dA_prev, dW, db)``."""
    dA_pool = pool_backward(dA, cache.pool_cache, mode="max")
    dZ = relu_backward(dA_pool, cache.relu_cache)
    return conv_backward(dZ, cache.conv_cache, need_dA_prev)
