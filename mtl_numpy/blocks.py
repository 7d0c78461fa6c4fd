r"""The blocks a shared network is built from, each with its forward and backward side by side.

A model is a list of blocks run in order, the lecture's ``L_model_forward``::

    for block in blocks:
        A, cache = block.forward(A)

and back in reverse order, its ``L_model_backward``::

    for block, cache in reversed(list(zip(blocks, caches))):
        dA, block_grads = block.backward(dA, cache)

Four kinds of block:

========================  ===========================================  =================
block                     forward                                      parameters
========================  ===========================================  =================
:class:`ConvBlock`        CONV (f×f, stride 1, 'same') -> RELU ->      ``W{l}``, ``b{l}``
                          MAX-POOL (p, stride p)
:class:`Flatten`          ``(m, n_H, n_W, n_C) -> (n_H·n_W·n_C, m)``   none
:class:`DenseReLU`        :math:`A = \max(W A_{prev} + b, 0)`          ``W{l}``, ``b{l}``
:class:`DenseOutput`      :math:`Z^{[L]} = W A_{prev} + b` (logits)    ``W{L}``, ``b{L}``
========================  ===========================================  =================

A block belongs to one network (``block.network``): it reads its parameters from
``network.params`` and runs the kernels of ``network.backend``, so a block holds no
arrays of its own. The output block returns the logits ``ZL``; the sigmoid is applied by
the loss (training) or by the model's prediction.

:func:`he_initialization` is the one place initial parameters are drawn.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ConvBlock", "Flatten", "DenseReLU", "DenseOutput", "he_initialization",
           "zero_parameters"]


class _LayerBlock:
    """A block with one weight ``W{l}`` and one bias ``b{l}``."""

    def __init__(self, network, l, W_shape, b_shape, fan_in):
        self.network = network
        self.l = int(l)
        self.W_shape = tuple(W_shape)
        self.b_shape = tuple(b_shape)
        #: inputs feeding one output unit: He initialisation's n[l-1]
        self.fan_in = int(fan_in)

    @property
    def param_names(self):
        """``("W{l}", "b{l}")``."""
        return (f"W{self.l}", f"b{self.l}")

    @property
    def param_shapes(self):
        """``{"W{l}": W_shape, "b{l}": b_shape}``."""
        W, b = self.param_names
        return {W: self.W_shape, b: self.b_shape}

    def _Wb(self):
        P = self.network.params
        W, b = self.param_names
        return P[W], P[b]

    def _grads(self, dW, db):
        W, b = self.param_names
        return {"d" + W: dW, "d" + b: db}

    def __repr__(self):
        return f"{type(self).__name__}(l={self.l}, W{self.l}: {self.W_shape})"


class ConvBlock(_LayerBlock):
    r"""CONV (f×f, stride 1, 'same' padding) -> RELU -> MAX-POOL (p×p, stride p).

    One call to the backend's block kernel ``conv_relu_pool_forward`` /
    ``conv_relu_pool_backward``; its cache belongs to the backend (the model never
    looks inside).

    Parameters
    ----------
    network : SharedNetwork
    l : int
        Layer number: the parameters are ``W{l}`` of shape ``(f, f, n_C_prev, n_C)`` and
        ``b{l}`` of shape ``(1, 1, 1, n_C)``.
    f, n_C_prev, n_C, pool_size : int
    """

    def __init__(self, network, l, f, n_C_prev, n_C, pool_size):
        super().__init__(network, l, (f, f, n_C_prev, n_C), (1, 1, 1, n_C), f * f * n_C_prev)
        # 'same' padding (f - 1) / 2 keeps n_H and n_W for an odd f at stride 1
        self.conv_hparameters = {"stride": 1, "pad": (f - 1) // 2}
        self.pool_hparameters = {"f": pool_size, "stride": pool_size}

    def forward(self, A_prev):
        """``(A, cache)``: ``A`` of shape ``(m, n_H // p, n_W // p, n_C)``."""
        W, b = self._Wb()
        return self.network.backend.conv_relu_pool_forward(
            A_prev, W, b, self.conv_hparameters, self.pool_hparameters)

    def backward(self, dA, cache, need_dA_prev=True):
        """``(dA_prev, {"dW{l}": dW, "db{l}": db})``; ``dA_prev`` is None if not needed."""
        dA_prev, dW, db = self.network.backend.conv_relu_pool_backward(dA, cache, need_dA_prev)
        return dA_prev, self._grads(dW, db)


class Flatten:
    """``(m, n_H, n_W, n_C) -> (n_H·n_W·n_C, m)``: images to columns (no parameters)."""

    param_names = ()
    param_shapes = {}

    def __init__(self, network):
        self.network = network

    def forward(self, A_prev):
        """``(A, cache)`` with ``A`` of shape ``(n_H·n_W·n_C, m)``."""
        return self.network.backend.flatten_forward(A_prev)

    def backward(self, dA, cache, need_dA_prev=True):
        """``(dA_prev, {})``: the gradient reshaped back to images."""
        return self.network.backend.flatten_backward(dA, cache), {}

    def __repr__(self):
        return "Flatten()"


class DenseReLU(_LayerBlock):
    r"""A hidden dense layer: :math:`Z = W A_{prev} + b`, :math:`A = \max(Z, 0)`.

    Parameters: ``W{l}`` of shape ``(n, n_prev)``, ``b{l}`` of shape ``(n, 1)``. The cache
    is the course's ``(linear_cache, activation_cache)``.
    """

    def __init__(self, network, l, n_prev, n):
        super().__init__(network, l, (n, n_prev), (n, 1), n_prev)

    def forward(self, A_prev):
        """``(A, cache)`` with ``A`` of shape ``(n, m)``."""
        W, b = self._Wb()
        return self.network.backend.linear_relu_forward(A_prev, W, b)

    def backward(self, dA, cache, need_dA_prev=True):
        """``(dA_prev, {"dW{l}": dW, "db{l}": db})``."""
        dA_prev, dW, db = self.network.backend.linear_relu_backward(dA, cache, need_dA_prev)
        return dA_prev, self._grads(dW, db)


class DenseOutput(_LayerBlock):
    r"""The output layer: logits :math:`Z^{[L]} = W^{[L]} A^{[L-1]} + b^{[L]}`, one row per task.

    No activation here: the sigmoid is fused into the loss (stable from logits) for
    training and applied by the model for predictions. The cache is
    ``(linear_cache, ZL)``, so ``backward`` takes ``dZ[L]`` itself.
    """

    def __init__(self, network, l, n_prev, n_tasks):
        super().__init__(network, l, (n_tasks, n_prev), (n_tasks, 1), n_prev)

    def forward(self, A_prev):
        """``(ZL, (linear_cache, ZL))`` with ``ZL`` of shape ``(n_tasks, m)``."""
        W, b = self._Wb()
        ZL, linear_cache = self.network.backend.linear_forward(A_prev, W, b)
        return ZL, (linear_cache, ZL)

    def backward(self, dZL, cache, need_dA_prev=True):
        """``(dA_prev, {"dW{L}": dW, "db{L}": db})`` from ``dZ[L]`` (which carries the cost's 1/m)."""
        linear_cache, _ = cache
        dA_prev, dW, db = self.network.backend.linear_backward(dZL, linear_cache, need_dA_prev)
        return dA_prev, self._grads(dW, db)


def he_initialization(blocks, seed):
    r"""Initial parameters of ``blocks``, drawn on the host: He for weights, zeros for biases.

    Parameters
    ----------
    blocks : list of blocks
        In forward order; their weights are drawn in that order from one generator, so
        the same ``seed`` gives the same numbers on every backend and dtype.
    seed : int or None
        Seeds ``np.random.default_rng``.

    Returns
    -------
    params : dict of str to float64 ndarray
        ``{"W1": ..., "b1": ..., ...}``.

    Notes
    -----
    .. math::
        W^{[l]} \sim \mathcal N\!\left(0, \frac{2}{n^{[l-1]}}\right), \qquad b^{[l]} = 0

    with :math:`n^{[l-1]}` the fan-in: the previous layer's width for a dense layer,
    :math:`f \cdot f \cdot n_{C,prev}` for a conv filter.
    """
    rng = np.random.default_rng(seed)
    params = {}
    for block in blocks:
        if not block.param_names:
            continue
        W, b = block.param_names
        params[W] = rng.standard_normal(block.W_shape) * np.sqrt(2.0 / block.fan_in)
        params[b] = np.zeros(block.b_shape)
    return params


def zero_parameters(blocks):
    """Zero-filled parameters of ``blocks`` (placeholders to be overwritten, e.g. by a checkpoint)."""
    return {name: np.zeros(shape) for block in blocks for name, shape in block.param_shapes.items()}
