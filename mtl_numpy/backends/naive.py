r"""Loop-by-loop convolution and pooling: the teaching versions and the test oracle.

Every function here is written the way deeplearning.ai's "Convolution model - Step by Step"
assignment writes it -- one example, one output position, one channel at a time -- so that a
learner can hold the notebook next to this file and see the same symbols and the same loops.
They are slow on purpose. :mod:`mtl_numpy.conv` holds the vectorised versions with exactly
the same signatures and caches, and ``tests/test_conv_layers.py`` holds the two equal.

Layout is channels last, as in the course::

    A_prev  (m, n_H_prev, n_W_prev, n_C_prev)
    W       (f, f, n_C_prev, n_C)
    b       (1, 1, 1, n_C)
    Z, A    (m, n_H, n_W, n_C)

Differences from the assignment, each one deliberate:

* The functions keep the dtype of their inputs (the course allocates with ``np.zeros(shape)``,
  which is float64): float32 in gives float32 out.
* ``conv_backward`` crops the padding with ``pad:pad + n_H_prev`` rather than ``pad:-pad``, which
  returns an empty array when ``pad == 0``.
* ``create_mask_from_window`` marks only the *first* maximum of the window (row-major order, as
  ``np.argmax`` picks it) instead of every position equal to the maximum. With ties -- common
  after a ReLU, where whole windows are 0 -- the course's mask sends the gradient to every tied
  position, which is not the derivative of any function the forward pass computes; the
  first-maximum rule is the one PyTorch uses and the one the fast version implements.
* The ``1/m`` of the cost lives in the loss: the upstream ``dZ`` / ``dA`` already carries it,
  so nothing here divides by ``m`` (the course puts ``1/m`` inside ``linear_backward``).
"""

import numpy as np

__all__ = [
    "zero_pad",
    "conv_single_step",
    "conv_forward",
    "conv_backward",
    "pool_forward",
    "create_mask_from_window",
    "distribute_value",
    "pool_backward",
]


def zero_pad(X, pad):
    r"""Pad every image of a batch with zeros around its height and width.

    Parameters
    ----------
    X : ndarray of shape (m, n_H, n_W, n_C)
        A batch of ``m`` images.
    pad : int
        Number of zero rows/columns added on each side of the vertical and horizontal
        dimensions.

    Returns
    -------
    X_pad : ndarray of shape (m, n_H + 2*pad, n_W + 2*pad, n_C)
        The padded images, same dtype as ``X``.

    Notes
    -----
    .. math::

        X_{pad}[i, h + p, w + p, c] = X[i, h, w, c], \qquad 0 \text{ elsewhere.}
    """
    X_pad = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant",
                   constant_values=(0, 0))
    return X_pad


def conv_single_step(a_slice_prev, W, b):
    r"""Apply one filter to one slice of the input: the heart of the convolution.

    Parameters
    ----------
    a_slice_prev : ndarray of shape (f, f, n_C_prev)
        The window of the (padded) input under the filter.
    W : ndarray of shape (f, f, n_C_prev)
        The weights of one filter.
    b : ndarray of shape (1, 1, 1)
        The bias of that filter.

    Returns
    -------
    Z : scalar (NumPy scalar of the inputs' dtype)
        The value of one output position.

    Notes
    -----
    Cross-correlation, as every deep-learning library computes it (no kernel flip):

    .. math::

        Z = \sum_{u=0}^{f-1} \sum_{v=0}^{f-1} \sum_{k=0}^{n_{C,prev}-1}
            a_{slice}[u, v, k] \, W[u, v, k] + b
    """
    # Element-wise product between a_slice_prev and W, then sum over all entries.
    s = a_slice_prev * W
    Z = np.sum(s)
    # b[0, 0, 0] is a NumPy scalar of b's dtype (the course's float(b) would turn it into a
    # Python float, and float() of a 3-d array is deprecated).
    Z = Z + b[0, 0, 0]
    return Z


def conv_forward(A_prev, W, b, hparameters):
    r"""Forward pass of a convolution layer, loop by loop.

    Parameters
    ----------
    A_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev)
        Activations of the previous layer.
    W : ndarray of shape (f, f, n_C_prev, n_C)
        Filters.
    b : ndarray of shape (1, 1, 1, n_C)
        Biases, one per filter.
    hparameters : dict
        ``{"stride": s, "pad": p}``.

    Returns
    -------
    Z : ndarray of shape (m, n_H, n_W, n_C)
        Convolution output (before the activation), dtype of ``A_prev``.
    cache : tuple
        ``(A_prev, W, b, hparameters)``, for :func:`conv_backward`.

    Notes
    -----
    With stride :math:`s` and padding :math:`p` (rounding down):

    .. math::

        n_H = \left\lfloor \frac{n_{H,prev} - f + 2p}{s} \right\rfloor + 1, \qquad
        n_W = \left\lfloor \frac{n_{W,prev} - f + 2p}{s} \right\rfloor + 1

    .. math::

        Z[i, h, w, c] = \sum_{u, v, k} A_{pad}[i, s h + u, s w + v, k] \, W[u, v, k, c]
                        + b[0, 0, 0, c]

    A 'same' convolution (``n_H = n_H_prev``) with stride 1 and odd ``f`` needs
    ``p = (f - 1) // 2``.
    """
    # Retrieve dimensions from A_prev's shape and W's shape
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape

    # Retrieve information from "hparameters"
    stride = hparameters["stride"]
    pad = hparameters["pad"]

    # Compute the dimensions of the CONV output volume (floor division: the course's
    # int(x / stride) truncates toward zero, which differs for a negative x)
    n_H = (n_H_prev - f + 2 * pad) // stride + 1
    n_W = (n_W_prev - f + 2 * pad) // stride + 1

    # Initialize the output volume Z with zeros, in the inputs' dtype
    Z = np.zeros((m, n_H, n_W, n_C), dtype=np.result_type(A_prev, W, b))

    # Create A_prev_pad by padding A_prev
    A_prev_pad = zero_pad(A_prev, pad)

    for i in range(m):                      # loop over the batch of training examples
        a_prev_pad = A_prev_pad[i]          # select ith training example's padded activation
        for h in range(n_H):                # loop over vertical axis of the output volume
            vert_start = stride * h
            vert_end = vert_start + f
            for w in range(n_W):            # loop over horizontal axis of the output volume
                horiz_start = stride * w
                horiz_end = horiz_start + f
                for c in range(n_C):        # loop over channels (= #filters) of the output volume
                    # Use the corners to define the (3D) slice of a_prev_pad
                    a_slice_prev = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]
                    # Convolve the (3D) slice with the correct filter W and bias b
                    weights = W[:, :, :, c]
                    biases = b[:, :, :, c]
                    Z[i, h, w, c] = conv_single_step(a_slice_prev, weights, biases)

    # Save information in "cache" for the backprop
    cache = (A_prev, W, b, hparameters)
    return Z, cache


def conv_backward(dZ, cache, need_dA_prev=True):
    r"""Backward pass of a convolution layer, loop by loop.

    Parameters
    ----------
    dZ : ndarray of shape (m, n_H, n_W, n_C)
        Gradient of the cost with respect to the output ``Z`` of the conv layer. It already
        carries the ``1/m`` of the cost (the loss puts it there), so nothing is divided by ``m``.
    cache : tuple
        ``(A_prev, W, b, hparameters)`` from :func:`conv_forward`.

    need_dA_prev : bool, default True
        ``False`` returns ``None`` for ``dA_prev`` (a first layer's input needs no gradient).

    Returns
    -------
    dA_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev)
        Gradient of the cost with respect to ``A_prev``.
    dW : ndarray of shape (f, f, n_C_prev, n_C)
        Gradient with respect to the filters ``W``.
    db : ndarray of shape (1, 1, 1, n_C)
        Gradient with respect to the biases ``b``.

    Notes
    -----
    Each output position adds its filter, scaled by its gradient, back onto the window it read,
    and its window, scaled the same way, onto the filter's gradient:

    .. math::

        dA_{pad}[i, s h + u, s w + v, k] \mathrel{+}= W[u, v, k, c] \, dZ[i, h, w, c]

    .. math::

        dW[u, v, k, c] = \sum_{i, h, w} A_{pad}[i, s h + u, s w + v, k] \, dZ[i, h, w, c],
        \qquad db[0, 0, 0, c] = \sum_{i, h, w} dZ[i, h, w, c]

    and ``dA_prev`` is ``dA_pad`` with the padding cropped off.
    """
    # Retrieve information from "cache"
    (A_prev, W, b, hparameters) = cache

    # Retrieve dimensions from A_prev's shape and W's shape
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape

    # Retrieve information from "hparameters"
    stride = hparameters["stride"]
    pad = hparameters["pad"]

    # Retrieve dimensions from dZ's shape
    (m, n_H, n_W, n_C) = dZ.shape

    # Initialize dA_prev, dW, db with the correct shapes (and the inputs' dtypes)
    dA_prev = np.zeros((m, n_H_prev, n_W_prev, n_C_prev), dtype=np.result_type(dZ, W))
    dW = np.zeros((f, f, n_C_prev, n_C), dtype=np.result_type(dZ, A_prev))
    db = np.zeros((1, 1, 1, n_C), dtype=dZ.dtype)

    # Pad A_prev and dA_prev
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = zero_pad(dA_prev, pad)

    for i in range(m):                      # loop over the training examples
        # select ith training example from A_prev_pad and dA_prev_pad
        a_prev_pad = A_prev_pad[i]
        da_prev_pad = dA_prev_pad[i]

        for h in range(n_H):                # loop over vertical axis of the output volume
            for w in range(n_W):            # loop over horizontal axis of the output volume
                for c in range(n_C):        # loop over the channels of the output volume
                    # Find the corners of the current "slice"
                    vert_start = stride * h
                    vert_end = vert_start + f
                    horiz_start = stride * w
                    horiz_end = horiz_start + f

                    # Use the corners to define the slice from a_prev_pad
                    a_slice = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]

                    # Update gradients for the window and the filter's parameters
                    da_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :] += (
                        W[:, :, :, c] * dZ[i, h, w, c])
                    dW[:, :, :, c] += a_slice * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]

        # Set the ith training example's dA_prev to the unpadded da_prev_pad
        # (pad:pad + n_H_prev rather than the course's pad:-pad, which is empty when pad == 0)
        dA_prev[i, :, :, :] = da_prev_pad[pad:pad + n_H_prev, pad:pad + n_W_prev, :]

    if not need_dA_prev:  # same signature as the fast version; the loops above are the lesson
        return None, dW, db
    return dA_prev, dW, db


def pool_forward(A_prev, hparameters, mode="max"):
    r"""Forward pass of a pooling layer, loop by loop.

    Parameters
    ----------
    A_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev)
        Input activations.
    hparameters : dict
        ``{"f": f, "stride": s}``.
    mode : {"max", "average"}
        Which pooling to apply.

    Returns
    -------
    A : ndarray of shape (m, n_H, n_W, n_C_prev)
        Pooled output, dtype of ``A_prev``.
    cache : tuple
        ``(A_prev, hparameters)``, for :func:`pool_backward`.

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
    """
    # Retrieve dimensions from the input shape
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape

    # Retrieve hyperparameters from "hparameters"
    f = hparameters["f"]
    stride = hparameters["stride"]

    if mode not in ("max", "average"):
        raise ValueError(f"mode must be 'max' or 'average'; got {mode!r}")

    # Define the dimensions of the output
    n_H = (n_H_prev - f) // stride + 1
    n_W = (n_W_prev - f) // stride + 1
    n_C = n_C_prev

    # Initialize output matrix A, in the input's dtype
    A = np.zeros((m, n_H, n_W, n_C), dtype=A_prev.dtype)

    for i in range(m):                      # loop over the training examples
        for h in range(n_H):                # loop on the vertical axis of the output volume
            vert_start = stride * h
            vert_end = vert_start + f
            for w in range(n_W):            # loop on the horizontal axis of the output volume
                horiz_start = stride * w
                horiz_end = horiz_start + f
                for c in range(n_C):        # loop over the channels of the output volume
                    # Use the corners to define the current slice on the ith training example
                    # of A_prev, channel c.
                    a_prev_slice = A_prev[i, vert_start:vert_end, horiz_start:horiz_end, c]

                    # Compute the pooling operation on the slice.
                    if mode == "max":
                        A[i, h, w, c] = np.max(a_prev_slice)
                    elif mode == "average":
                        A[i, h, w, c] = np.mean(a_prev_slice)

    # Store the input and hparameters in "cache" for pool_backward()
    cache = (A_prev, hparameters)
    return A, cache


def create_mask_from_window(x):
    r"""Mark the position of the maximum of a pooling window.

    Parameters
    ----------
    x : ndarray of shape (f, f)
        One window of one channel of one example.

    Returns
    -------
    mask : ndarray of bool, shape (f, f)
        ``True`` at exactly one position: the *first* maximum of ``x`` in row-major order (the
        position ``np.argmax`` picks), ``False`` elsewhere.

    Notes
    -----
    .. math::

        \text{mask}[u, v] = \begin{cases} 1 & (u, v) = \operatorname{argmax}_{(u', v')} x[u', v']
        \text{ (first in row-major order)} \\ 0 & \text{otherwise} \end{cases}

    The course writes ``mask = (x == np.max(x))``, which, when several positions tie for the
    maximum, sends the full gradient to *every* tied position -- a gradient ``k`` times too
    large for a window with ``k`` tied maxima, as happens all the time after a ReLU (windows of
    zeros). Routing the gradient to a single position is the derivative of "max, picking the
    first maximum", which is what PyTorch implements and what the fast version in
    :mod:`mtl_numpy.conv` does; with this rule the naive and the fast pooling agree
    exactly, ties included.
    """
    mask = np.zeros(x.shape, dtype=bool)
    # np.argmax returns the index of the first maximum in the flattened (row-major) window.
    mask.flat[np.argmax(x)] = True
    return mask


def distribute_value(dz, shape):
    r"""Spread one gradient value evenly over a pooling window (average pooling's backward).

    Parameters
    ----------
    dz : scalar
        Gradient of the cost with respect to one output of an average pool.
    shape : tuple of int
        ``(n_H, n_W)``, the shape of the window, i.e. ``(f, f)``.

    Returns
    -------
    a : ndarray of shape (n_H, n_W)
        Every entry equals ``dz / (n_H * n_W)``; dtype of ``dz``.

    Notes
    -----
    Each of the :math:`n_H n_W` inputs of the window contributed :math:`1/(n_H n_W)` of the
    average, so

    .. math::

        a[u, v] = \frac{dz}{n_H \, n_W}
    """
    # Retrieve dimensions from shape
    (n_H, n_W) = shape

    # Compute the value to distribute on the matrix
    average = dz / (n_H * n_W)

    # Create a matrix where every entry is the "average" value (in dz's dtype)
    a = np.full(shape, average, dtype=np.result_type(dz))
    return a


def pool_backward(dA, cache, mode="max"):
    r"""Backward pass of a pooling layer, loop by loop.

    Parameters
    ----------
    dA : ndarray of shape (m, n_H, n_W, n_C)
        Gradient of the cost with respect to the pooling layer's output. It already carries the
        ``1/m`` of the cost (the loss puts it there).
    cache : tuple
        ``(A_prev, hparameters)`` from :func:`pool_forward`.
    mode : {"max", "average"}
        The pooling the forward pass applied.

    Returns
    -------
    dA_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C)
        Gradient with respect to the pooling layer's input. Rows and columns that no window
        covers (when ``(n_H_prev - f)`` is not a multiple of the stride) get zero gradient.

    Notes
    -----
    Max pooling routes each gradient to the first maximum of its window (see
    :func:`create_mask_from_window`); average pooling spreads it evenly
    (see :func:`distribute_value`). With overlapping windows (stride < f) the contributions add:

    .. math::

        dA_{prev}[i, s h + u, s w + v, c] \mathrel{+}= \text{mask}_{ihwc}[u, v] \, dA[i, h, w, c]
        \quad\text{or}\quad \frac{dA[i, h, w, c]}{f^2}
    """
    # Retrieve information from cache
    (A_prev, hparameters) = cache

    # Retrieve hyperparameters from "hparameters"
    stride = hparameters["stride"]
    f = hparameters["f"]

    # Retrieve dimensions from A_prev's shape and dA's shape
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    m, n_H, n_W, n_C = dA.shape

    if mode not in ("max", "average"):
        raise ValueError(f"mode must be 'max' or 'average'; got {mode!r}")

    # Initialize dA_prev with zeros, in dA's dtype
    dA_prev = np.zeros(A_prev.shape, dtype=dA.dtype)

    for i in range(m):                      # loop over the training examples
        # select training example from A_prev
        a_prev = A_prev[i]
        for h in range(n_H):                # loop on the vertical axis
            for w in range(n_W):            # loop on the horizontal axis
                for c in range(n_C):        # loop over the channels (depth)
                    # Find the corners of the current "slice"
                    vert_start = stride * h
                    vert_end = vert_start + f
                    horiz_start = stride * w
                    horiz_end = horiz_start + f

                    # Compute the backward propagation in both modes.
                    if mode == "max":
                        # Use the corners and "c" to define the current slice from a_prev
                        a_prev_slice = a_prev[vert_start:vert_end, horiz_start:horiz_end, c]
                        # Create the mask from a_prev_slice
                        mask = create_mask_from_window(a_prev_slice)
                        # Set dA_prev to be dA_prev + (the mask multiplied by the correct entry
                        # of dA)
                        dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] += (
                            mask * dA[i, h, w, c])
                    elif mode == "average":
                        # Get the value da from dA
                        da = dA[i, h, w, c]
                        # Define the shape of the filter as fxf
                        shape = (f, f)
                        # Distribute it to get the correct slice of dA_prev, i.e. add the
                        # distributed value of da.
                        dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] += (
                            distribute_value(da, shape))

    return dA_prev
