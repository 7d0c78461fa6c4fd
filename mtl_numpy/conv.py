r"""Convolution and pooling, channels last, forward and backward, vectorised over the batch.

The course's conv/pool math as a learner reads it: the fast twins of the loop-by-loop teaching
versions in :mod:`mtl_numpy.backends.naive` (same signatures, same caches, same results: the
tests hold them equal to 1e-10 in float64, max-pool ties included).

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
* The functions run unchanged on NumPy and CuPy arrays: the array module comes from the input
  (:func:`mtl_numpy.arrays.get_array_module`), and only slicing, ``reshape``, ``@``, ``zeros``
  and element-wise ufuncs are used.
* Dtypes are kept: float32 in gives float32 out, with no float64 temporaries.
* The ``1/m`` of the cost lives in the loss: the upstream ``dZ`` / ``dA`` already carries it,
  so nothing here divides by ``m`` (the course puts ``1/m`` inside ``linear_backward``).

This module calls no engine. The backends' kernels (:mod:`mtl_numpy.backends`) are what a model
runs: the NumPy and Numba backends send float arrays of one dtype to a blocked, multi-threaded
CPU engine with the same results (``mtl_numpy/backends/_cpu.py``), and everything else here.
The argument checks below are shared with them, so every backend rejects bad input with the
same message.

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
from __future__ import annotations

import numpy

from .arrays import get_array_module

__all__ = [
    "im2col",
    "col2im",
    "conv_forward",
    "conv_backward",
    "pool_forward",
    "pool_backward",
    "check_conv_args",
    "check_pool_args",
    "check_pool_hparameters",
    "check_upstream",
]


def _as_strided(xp):
    """``numpy.lib.stride_tricks.as_strided`` or ``cupy.lib.stride_tricks.as_strided``."""
    if xp is numpy:
        from numpy.lib.stride_tricks import as_strided
    else:
        from cupy.lib.stride_tricks import as_strided
    return as_strided


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
    xp = get_array_module(A_prev)
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
    xp = get_array_module(dcols)
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
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, hparameters)
    m, n_C_prev, n_C = A_prev.shape[0], A_prev.shape[3], W.shape[3]
    cols = im2col(A_prev, f, stride, pad).reshape(m * n_H * n_W, f * f * n_C_prev)
    Z = cols @ W.reshape(f * f * n_C_prev, n_C)
    if Z.dtype == get_array_module(Z).result_type(Z.dtype, b.dtype):
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
    f, stride, pad, n_H, n_W = check_conv_args(A_prev, W, b, hparameters)
    m, n_C_prev, n_C = A_prev.shape[0], A_prev.shape[3], W.shape[3]
    check_upstream("dZ", dZ, (m, n_H, n_W, n_C))
    xp = get_array_module(dZ)

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


def _max_and_argmax(A_prev, f, stride, n_H, n_W, want_argmax):
    """Window maxima, and (if asked) the row-major offset ``u*f + v`` of each window's first max.

    A running maximum over the ``f*f`` strided slices, offsets taken in row-major order.
    """
    xp = get_array_module(A_prev)
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
    f, stride, n_H, n_W = check_pool_args(A_prev, hparameters, mode)
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
    f, stride, n_H, n_W = check_pool_args(A_prev, hparameters, mode)
    check_upstream("dA", dA, (A_prev.shape[0], n_H, n_W, A_prev.shape[3]))
    xp = get_array_module(dA)
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


# ----------------------------------------------------------------------------------------------
# Argument checks (cheap; shapes only), shared with the backends' kernels
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


def check_pool_hparameters(hparameters, mode):
    """``(f, stride)`` from a pooling layer's ``{"f": f, "stride": s}``, with ``mode`` checked."""
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


def check_conv_args(A_prev, W, b, hparameters):
    """Check a convolution's inputs and hyperparameters: ``(f, stride, pad, n_H, n_W)``, or a
    ``ValueError`` naming the argument that does not fit."""
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


def check_pool_args(A_prev, hparameters, mode):
    """Check a pooling layer's input and hyperparameters: ``(f, stride, n_H, n_W)``, or a
    ``ValueError`` naming what does not fit."""
    _check_4d("A_prev", A_prev, "(m, n_H_prev, n_W_prev, n_C_prev)")
    f, stride = check_pool_hparameters(hparameters, mode)
    n_H = _output_size(A_prev.shape[1], f, 0, stride, "pool height")
    n_W = _output_size(A_prev.shape[2], f, 0, stride, "pool width")
    return f, stride, n_H, n_W


def check_upstream(name, d, expected):
    """A backward pass's upstream gradient ``d`` must have the layer output's shape."""
    if getattr(d, "shape", None) != expected:
        raise ValueError(f"{name} must have the shape of the layer's output {expected}; "
                         f"got {getattr(d, 'shape', None)}")
