r"""The lecture's masked multi-task logistic cost.

.. math::
    J = \frac{1}{m} \sum_{i=1}^{m} \sum_{j:\, y_j^{(i)} \neq ?}
        \mathcal{L}(\hat y_j^{(i)}, y_j^{(i)}), \qquad
    \mathcal{L}(\hat y, y) = -y \log \hat y - (1 - y) \log(1 - \hat y)

Three functions compute it. :func:`masked_logistic_cost` is the formula as the
lecture writes it, from probabilities ``AL``: easy to read, but it must clip
``AL`` away from 0 and 1. :func:`masked_logistic_cost_and_grad` is what a
training step uses: from logits ``ZL``, numerically stable, and it returns
``dZ[L]`` in the same pass, computed by the chosen backend's kernel.
:func:`masked_logistic_cost_from_logits` is the same stable cost without the
gradient, for when only the value is wanted (evaluation, gradient checking).
"""
from __future__ import annotations

import numpy as np

from .backends import get_array_module, get_backend
from .labels import known_labels, label_mask, validate_labels

__all__ = ["NORMALIZATIONS", "masked_logistic_cost", "masked_logistic_cost_and_grad",
           "masked_logistic_cost_from_logits", "check_normalize"]

#: "examples": divide by m (every column, the lecture's 1/m);
#: "labels": divide by the number of known labels.
NORMALIZATIONS = ("examples", "labels")


def check_normalize(normalize):
    """Raise a ValueError unless ``normalize`` is one of :data:`NORMALIZATIONS`."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(
            f"normalize must be one of {list(NORMALIZATIONS)}; got {normalize!r}"
        )
    return normalize


def _check_pair(name_a, A, Y):
    xp = get_array_module(A)
    if not hasattr(A, "shape"):
        A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(
            f"{name_a} must be 2-D with shape (n_tasks, m); got shape {tuple(A.shape)}"
        )
    if A.dtype.kind != "f":
        A = A.astype(np.float64)
    Y = validate_labels(Y, n_tasks=A.shape[0], m=A.shape[1])
    if not bool(xp.isfinite(A).all()):
        raise ValueError(f"{name_a} contains nan or inf; expected finite values")
    return A, Y


def masked_logistic_cost(AL, Y, normalize="examples"):
    r"""The lecture's cost from probabilities, skipping '?' labels.

    Parameters
    ----------
    AL : ndarray of shape (n_tasks, m)
        Predicted probabilities :math:`\hat y = \sigma(Z^{[L]})`, one sigmoid per task.
    Y : ndarray of shape (n_tasks, m)
        Labels 0.0 / 1.0, ``nan`` for '?'.
    normalize : {"examples", "labels"}, default "examples"
        ``"examples"`` divides by ``m``, the number of columns (all-'?' columns
        included), as the lecture does; ``"labels"`` divides by the number of
        known labels.

    Returns
    -------
    J : float
        0.0 when no label is known.

    Notes
    -----
    .. math::
        J = \frac{1}{N} \sum_{i=1}^{m} \sum_{j=1}^{n_{tasks}} M_{ji}
            \left[-y_{ji} \log \hat y_{ji} - (1 - y_{ji}) \log(1 - \hat y_{ji})\right]

    where :math:`M` is :func:`mtl_numpy.label_mask` and the sum over masked
    entries is taken with ``where`` (a '?' never touches arithmetic).
    ``AL`` is clipped into :math:`[\epsilon, 1 - \epsilon]` with
    :math:`\epsilon` the machine epsilon of its dtype, so a saturated
    probability gives a large finite cost, never ``inf``.
    """
    check_normalize(normalize)
    AL, Y = _check_pair("AL", AL, Y)
    xp = get_array_module(AL)
    if bool(((AL < 0) | (AL > 1)).any()):
        raise ValueError("AL must hold probabilities in [0, 1]; got values outside that range")
    M = label_mask(Y) > 0
    n_known = int(M.sum())
    if n_known == 0:
        return 0.0
    eps = float(np.finfo(AL.dtype).eps)
    AL = xp.clip(AL, eps, 1 - eps)
    Y0 = xp.where(M, Y, 0)
    loss = -Y0 * xp.log(AL) - (1 - Y0) * xp.log(1 - AL)
    N = AL.shape[1] if normalize == "examples" else n_known
    return float(xp.sum(xp.where(M, loss, 0))) / N


def masked_logistic_cost_and_grad(ZL, Y, normalize="examples", backend="numpy"):
    r"""Stable masked logistic cost and its gradient ``dZ[L]``, from logits.

    Parameters
    ----------
    ZL : ndarray of shape (n_tasks, m)
        Output-layer logits, :math:`\hat y = \sigma(Z^{[L]})`.
    Y : ndarray of shape (n_tasks, m)
        Labels 0.0 / 1.0, ``nan`` for '?'.
    normalize : {"examples", "labels"}, default "examples"
    backend : {"numpy", "numba", "cupy"} or a backend module, default "numpy"
        Whose fused kernel computes it.

    Returns
    -------
    J : float
    dZL : ndarray of shape (n_tasks, m), dtype of ``ZL``
        Exactly 0 at '?' entries; all zeros when no label is known.

    Notes
    -----
    .. math::
        J = \frac{1}{N} \sum_{i} \sum_{j: M_{ji}=1}
            \left[\max(z_{ji}, 0) - z_{ji} y_{ji} + \log(1 + e^{-|z_{ji}|})\right],
        \qquad dZ^{[L]} = \frac{1}{N} M \odot (\sigma(Z^{[L]}) - Y)

    with :math:`N = m` for ``"examples"`` and :math:`N = \sum M` for
    ``"labels"``. The bracket equals :math:`\mathcal{L}(\sigma(z), y)` exactly
    and stays finite for any finite :math:`z` (tested up to :math:`|z| = 10^4`).
    """
    check_normalize(normalize)
    bk = get_backend(backend)
    ZL, Y = _check_pair("ZL", ZL, Y)
    ZL = bk.asarray(ZL)
    Y = bk.asarray(Y, dtype=ZL.dtype)
    return bk.masked_logistic_cost_and_grad(ZL, Y, normalize)


def masked_logistic_cost_from_logits(ZL, Y, normalize="examples", check=True):
    r"""The stable masked logistic cost from logits, without its gradient.

    The cost of :func:`masked_logistic_cost_and_grad`, for when no ``dZ[L]`` is
    wanted (a model's cost, a gradient check's perturbed costs, a validation
    cost): one pass over ``ZL``, no gradient array. Generic over NumPy and CuPy.

    Parameters
    ----------
    ZL : ndarray of shape (n_tasks, m)
        Output-layer logits.
    Y : ndarray of shape (n_tasks, m)
        Labels 0.0 / 1.0, ``nan`` for '?'.
    normalize : {"examples", "labels"}, default "examples"
    check : bool, default True
        Validate ``ZL`` and ``Y``. A model passes ``False`` for arrays it has
        already validated (:meth:`mtl_numpy.SharedMLP.prepare`).

    Returns
    -------
    J : float
        Summed in float64; 0.0 when no label is known.

    Notes
    -----
    .. math::
        J = \frac{1}{N} \sum_{i} \sum_{j: M_{ji}=1}
            \left[\max(z_{ji}, 0) - z_{ji} y_{ji} + \log(1 + e^{-|z_{ji}|})\right]

    with :math:`M` from :func:`mtl_numpy.known_labels` and :math:`N = m` or
    :math:`\sum M`, exactly as the NumPy backend's fused kernel computes it
    (so on NumPy arrays the two costs are the same number, bit for bit).
    """
    check_normalize(normalize)
    if check:
        ZL, Y = _check_pair("ZL", ZL, Y)
    xp = get_array_module(ZL)
    known = known_labels(Y)
    n_known = int(xp.count_nonzero(known))
    if n_known == 0:
        return 0.0
    N = ZL.shape[1] if normalize == "examples" else n_known
    # '?' becomes 0 with where before any arithmetic: 0 * nan would be nan
    Y0 = xp.where(known, Y, 0).astype(ZL.dtype, copy=False)
    loss = xp.maximum(ZL, 0) - ZL * Y0 + xp.log1p(xp.exp(-xp.abs(ZL)))
    if xp is np:  # NumPy's masked sum, as the NumPy kernel takes it (the same bits)
        total = np.sum(loss, where=known, dtype=np.float64)
    else:  # CuPy's sum has no where=
        total = xp.where(known, loss, 0).sum(dtype=xp.float64)
    return float(total) / N
