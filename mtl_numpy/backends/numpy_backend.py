"""The reference backend: vectorised NumPy.

Matrix products go to BLAS through ``@``; convolution is im2col plus one
matrix product (:mod:`mtl_numpy.convolution`); the masked logistic cost and its
gradient are computed in one fused, numerically stable function.
"""
from __future__ import annotations

import numpy as np

from ..layers import (  # noqa: F401 - re-exported as this backend's kernels
    flatten_backward,
    flatten_forward,
    linear_backward,
    linear_forward,
    linear_relu_backward,
    linear_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
)
from ..convolution import (  # noqa: F401
    conv_backward,
    conv_forward,
    pool_backward,
    pool_forward,
)

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
    known = ~np.isnan(Y)
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
