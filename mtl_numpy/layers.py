r"""Dense layers, activations and flatten, each forward with its backward beside it.

The function contract is CS231n's: ``*_forward(...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients``; the notation is the deeplearning.ai
course's: ``X`` and every ``A[l]`` hold one example per **column**,
``W[l]`` has shape ``(n[l], n[l-1])`` and ``b[l]`` shape ``(n[l], 1)``.

One difference from the course, on purpose: the course's ``linear_backward``
divides by ``m``. Here the ``1/m`` (or ``1/#labels``) lives in the loss, once:
the upstream ``dZ`` handed to :func:`linear_backward` already carries it, so
``dW = dZ A_prev^T`` with no extra factor.

These functions are written with array methods and operators only, so they run
unchanged on NumPy and CuPy arrays; backends re-export or replace them.
"""
from __future__ import annotations

from .arrays import get_array_module

__all__ = [
    "linear_forward", "linear_backward",
    "relu_forward", "relu_backward",
    "sigmoid", "sigmoid_forward", "sigmoid_backward",
    "linear_activation_forward", "linear_activation_backward",
    "linear_relu_forward", "linear_relu_backward",
    "flatten_forward", "flatten_backward",
]


def linear_forward(A_prev, W, b):
    r"""Linear part of a dense layer.

    Parameters
    ----------
    A_prev : ndarray of shape (n[l-1], m)
        Activations of the previous layer (or the input ``X``), one column per example.
    W : ndarray of shape (n[l], n[l-1])
    b : ndarray of shape (n[l], 1)

    Returns
    -------
    Z : ndarray of shape (n[l], m)
    cache : tuple ``(A_prev, W, b)``, the course's ``linear_cache``

    Notes
    -----
    .. math:: Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}
    """
    Z = W @ A_prev
    Z += b  # broadcast over the m columns
    return Z, (A_prev, W, b)


def linear_backward(dZ, cache, need_dA_prev=True):
    r"""Backward pass of :func:`linear_forward`.

    Parameters
    ----------
    dZ : ndarray of shape (n[l], m)
        Gradient of the cost with respect to ``Z[l]``; it already includes the
        cost's ``1/m``.
    cache : tuple ``(A_prev, W, b)`` from :func:`linear_forward`
    need_dA_prev : bool, default True
        ``False`` skips ``dA_prev`` (returned as ``None``): the first layer's
        input ``X`` needs no gradient, and that product costs as much as the
        forward one.

    Returns
    -------
    dA_prev : ndarray of shape (n[l-1], m), or None
    dW : ndarray of shape (n[l], n[l-1])
    db : ndarray of shape (n[l], 1)

    Notes
    -----
    .. math::
        dW^{[l]} = dZ^{[l]} A^{[l-1]T}, \quad
        db^{[l]} = \sum_{i=1}^{m} dZ^{[l](i)}, \quad
        dA^{[l-1]} = W^{[l]T} dZ^{[l]}

    (no ``1/m`` here: it is in ``dZ`` already, put there by the loss.)
    """
    A_prev, W, b = cache
    dW = dZ @ A_prev.T
    db = dZ.sum(axis=1, keepdims=True)
    dA_prev = W.T @ dZ if need_dA_prev else None
    return dA_prev, dW, db


def relu_forward(Z):
    r"""ReLU, :math:`A = \max(Z, 0)`.

    Parameters
    ----------
    Z : ndarray of any shape

    Returns
    -------
    A : ndarray, same shape as ``Z``
    cache : ``Z`` (the course's ``activation_cache``)
    """
    xp = get_array_module(Z)
    return xp.maximum(Z, 0), Z


def relu_backward(dA, cache):
    r"""Backward pass of :func:`relu_forward`.

    Parameters
    ----------
    dA : ndarray, same shape as ``Z``
    cache : ``Z`` from :func:`relu_forward`

    Returns
    -------
    dZ : ndarray, same shape as ``Z``

    Notes
    -----
    .. math:: dZ = dA \odot \mathbb{1}[Z > 0]

    The derivative at ``Z = 0`` is taken as 0, as the course and PyTorch do.
    """
    xp = get_array_module(dA)
    Z = cache
    return xp.where(Z > 0, dA, xp.zeros((), dtype=dA.dtype))


def sigmoid(Z):
    r"""Numerically stable logistic function :math:`\sigma(z) = 1 / (1 + e^{-z})`.

    Computed from :math:`e^{-|z|}`, which never overflows:
    :math:`\sigma(z) = 1/(1+e^{-|z|})` for :math:`z \ge 0` and
    :math:`e^{-|z|}/(1+e^{-|z|})` for :math:`z < 0`.
    """
    xp = get_array_module(Z)
    e = xp.exp(-xp.abs(Z))
    return xp.where(Z >= 0, 1, e) / (1 + e)


def sigmoid_forward(Z):
    r"""Sigmoid activation, :math:`A = \sigma(Z)`.

    Parameters
    ----------
    Z : ndarray of any shape

    Returns
    -------
    A : ndarray, same shape as ``Z``, entries in [0, 1]
    cache : ``Z``
    """
    return sigmoid(Z), Z


def sigmoid_backward(dA, cache):
    r"""Backward pass of :func:`sigmoid_forward`.

    Notes
    -----
    .. math:: dZ = dA \odot \sigma(Z) \odot (1 - \sigma(Z))

    Models do not use this on the output layer: the fused
    :func:`mtl_numpy.masked_logistic_cost_and_grad` gives ``dZ[L]`` directly,
    which stays exact where :math:`\sigma` saturates.
    """
    s = sigmoid(cache)
    return dA * s * (1 - s)


_ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
}


def _activation(activation):
    try:
        return _ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(
            f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}"
        ) from None


def linear_activation_forward(A_prev, W, b, activation):
    r"""LINEAR -> ACTIVATION, as in the course.

    Parameters
    ----------
    A_prev : ndarray of shape (n[l-1], m)
    W : ndarray of shape (n[l], n[l-1])
    b : ndarray of shape (n[l], 1)
    activation : {"relu", "sigmoid"}

    Returns
    -------
    A : ndarray of shape (n[l], m)
    cache : tuple ``(linear_cache, activation_cache)``
    """
    forward, _ = _activation(activation)
    Z, linear_cache = linear_forward(A_prev, W, b)
    A, activation_cache = forward(Z)
    return A, (linear_cache, activation_cache)


def linear_activation_backward(dA, cache, activation):
    r"""Backward pass of :func:`linear_activation_forward`.

    Returns
    -------
    dA_prev : ndarray of shape (n[l-1], m)
    dW : ndarray of shape (n[l], n[l-1])
    db : ndarray of shape (n[l], 1)
    """
    _, backward = _activation(activation)
    linear_cache, activation_cache = cache
    dZ = backward(dA, activation_cache)
    return linear_backward(dZ, linear_cache)


def linear_relu_forward(A_prev, W, b):
    """LINEAR -> RELU; the same as ``linear_activation_forward(A_prev, W, b, "relu")``.

    A backend may replace this with a fused bias-add + ReLU kernel; the cache
    layout ``((A_prev, W, b), Z)`` stays the same.
    """
    Z, linear_cache = linear_forward(A_prev, W, b)
    A, activation_cache = relu_forward(Z)
    return A, (linear_cache, activation_cache)


def linear_relu_backward(dA, cache, need_dA_prev=True):
    """Backward pass of :func:`linear_relu_forward`: ``(dA_prev, dW, db)``."""
    linear_cache, Z = cache
    return linear_backward(relu_backward(dA, Z), linear_cache, need_dA_prev)


def flatten_forward(A):
    r"""Flatten conv activations into columns: ``(m, n_H, n_W, n_C) -> (n_H*n_W*n_C, m)``.

    This is the one place the flatten order is defined: each example is
    flattened row-major over ``(n_H, n_W, n_C)`` and becomes one column, so
    ``A_flat[:, i] == A[i].ravel()``.

    Returns
    -------
    A_flat : ndarray of shape (n_H*n_W*n_C, m)
    cache : the input shape ``(m, n_H, n_W, n_C)``
    """
    m = A.shape[0]
    return A.reshape(m, -1).T, A.shape


def flatten_backward(dA_flat, cache):
    """Backward pass of :func:`flatten_forward`: reshape the columns back to ``(m, n_H, n_W, n_C)``."""
    shape = cache
    return dA_flat.T.reshape(shape)
