r"""Numerical gradient checking, the course's way and CS231n's way.

The whole-model check (:func:`gradient_check`) follows the deeplearning.ai
``gc_utils`` recipe: flatten all parameters into one vector ``theta``, nudge
each entry by :math:`\pm\varepsilon`, and compare the two-sided difference
quotient ``gradapprox`` with the backprop gradient ``grad`` by

.. math::
    \text{difference} = \frac{\lVert grad - gradapprox \rVert_2}
                             {\lVert grad \rVert_2 + \lVert gradapprox \rVert_2}

The vector is built from the parameter *names* (never hard-coded slices). The
layer-level helper :func:`eval_numerical_gradient_array` is CS231n's: the
gradient of ``sum(f(x) * df)`` with respect to ``x``, for checking one layer's
backward against an upstream gradient ``df``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from .backends import to_numpy
from .labels import known_labels, validate_labels

__all__ = [
    "GradientCheckResult",
    "gradient_check",
    "gradient_difference",
    "dictionary_to_vector",
    "vector_to_dictionary",
    "eval_numerical_gradient_array",
    "relative_error",
    "PASS_THRESHOLD",
]

#: ``result.passed`` means ``difference < PASS_THRESHOLD`` (the course's 2e-7).
PASS_THRESHOLD = 2e-7


def _check_positive_finite(name, value):
    """``value`` as a float if it is a real, finite, positive number (NumPy scalars too)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)) \
            or not math.isfinite(float(value)) or float(value) <= 0:
        raise ValueError(f"{name} must be a positive number, finite; got {value!r}")
    return float(value)


def gradient_difference(grad, gradapprox):
    r"""The course's relative difference :math:`\lVert g - \tilde g\rVert / (\lVert g\rVert + \lVert\tilde g\rVert)`.

    Returns 0.0 when both vectors are exactly zero (nothing to disagree on).
    """
    grad = np.asarray(grad, dtype=np.float64).ravel()
    gradapprox = np.asarray(gradapprox, dtype=np.float64).ravel()
    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    if denominator == 0.0:
        return 0.0
    return float(numerator / denominator)


def dictionary_to_vector(params, keys):
    """Concatenate ``params[k].ravel()`` for ``k`` in ``keys`` into one float64 host vector.

    Returns
    -------
    theta : ndarray of shape (n_parameters,)
    layout : list of ``(key, shape, start, stop)``, for :func:`vector_to_dictionary`
    """
    pieces, layout, start = [], [], 0
    for key in keys:
        value = to_numpy(params[key]).astype(np.float64)
        pieces.append(value.ravel())
        layout.append((key, value.shape, start, start + value.size))
        start += value.size
    theta = np.concatenate(pieces) if pieces else np.zeros(0)
    return theta, layout


def vector_to_dictionary(theta, layout):
    """Inverse of :func:`dictionary_to_vector`: ``{key: theta[start:stop].reshape(shape)}``."""
    return {key: theta[start:stop].reshape(shape) for key, shape, start, stop in layout}


@dataclass
class GradientCheckResult:
    """What :func:`gradient_check` measured.

    Attributes
    ----------
    difference : float
        The course's relative difference over all checked parameter entries.
    per_parameter : dict of str to float
        The same formula per parameter array (``{"W1": ..., "b1": ...}``).
    passed : bool
        ``difference < threshold``.
    threshold : float
    n_checked : int
        How many parameter entries were perturbed.
    epsilon : float
    """

    difference: float
    per_parameter: dict = field(default_factory=dict)
    passed: bool = False
    threshold: float = PASS_THRESHOLD
    n_checked: int = 0
    epsilon: float = 1e-7

    def __str__(self):
        status = "passed" if self.passed else "FAILED"
        lines = [
            f"gradient check {status}: difference = {self.difference:.3e} "
            f"(threshold {self.threshold:.0e}, {self.n_checked} entries, epsilon = {self.epsilon:g})"
        ]
        for key, value in self.per_parameter.items():
            lines.append(f"  {key:>4}: {value:.3e}")
        return "\n".join(lines)


def gradient_check(model, X, Y, epsilon=1e-7, max_per_parameter=None, seed=0,
                   threshold=PASS_THRESHOLD):
    r"""Compare a model's backprop gradients with two-sided finite differences.

    Runs on a float64 copy of ``model`` (``model.astype("float64")``): the model
    you pass is left untouched, and so are ``X`` and ``Y``.

    Parameters
    ----------
    model : SharedMLP or SharedCNN
    X : ndarray
        Input batch in the model's layout: ``(n_x, m)`` for the MLP,
        ``(m, n_H, n_W, n_C)`` for the CNN. Keep it small: every checked entry
        costs two forward passes.
    Y : ndarray of shape (n_tasks, m)
        Labels with ``nan`` for '?'.
    epsilon : float, default 1e-7
        The course's :math:`\varepsilon`.
    max_per_parameter : int or None, default None
        ``None`` checks every entry of every parameter (the course's check).
        An integer checks at most that many randomly chosen entries of each
        parameter array (CS231n's sparse check), for models too big for a
        full sweep; the difference is then over the checked entries only.
    seed : int, default 0
        Chooses the entries when ``max_per_parameter`` is set.
    threshold : float, default 2e-7

    Returns
    -------
    GradientCheckResult

    Notes
    -----
    .. math::
        gradapprox_k = \frac{J(\theta + \varepsilon e_k) - J(\theta - \varepsilon e_k)}{2 \varepsilon}
    """
    epsilon = _check_positive_finite("epsilon", epsilon)
    threshold = _check_positive_finite("threshold", threshold)
    if not bool(known_labels(validate_labels(Y)).any()):
        raise ValueError(
            "Y has no known label (every entry is '?'): the cost is 0 and its gradient is 0 for "
            "every parameter, so a gradient check would compare zeros with zeros and pass without "
            "checking anything; give it a batch with at least one 0/1 label"
        )
    if max_per_parameter is not None and (
        not isinstance(max_per_parameter, (int, np.integer)) or max_per_parameter < 1
    ):
        raise ValueError(
            f"max_per_parameter must be None or a positive int; got {max_per_parameter!r}"
        )
    check = model.astype("float64")
    Xp, Yp = check.prepare(X, Y)
    _, grads = check.prepared_cost_and_grads(Xp, Yp)

    keys = list(check.params)
    rng = np.random.default_rng(seed)
    grad_parts, approx_parts, per_parameter = [], [], {}
    for key in keys:
        param = check.params[key]  # live array on the model's backend
        flat_grad = to_numpy(grads["d" + key]).astype(np.float64).ravel()
        size = flat_grad.size
        if max_per_parameter is None or max_per_parameter >= size:
            indices = np.arange(size)
        else:
            indices = np.sort(rng.choice(size, size=max_per_parameter, replace=False))
        approx = np.empty(indices.size)
        flat_param = param.reshape(-1)  # a view: writes go to the model's parameter
        for n, k in enumerate(indices):
            k = int(k)
            original = float(flat_param[k])
            flat_param[k] = original + epsilon
            J_plus = check.prepared_cost(Xp, Yp)      # a cost alone: no gradient computed
            flat_param[k] = original - epsilon
            J_minus = check.prepared_cost(Xp, Yp)
            flat_param[k] = original
            approx[n] = (J_plus - J_minus) / (2 * epsilon)
        grad_k = flat_grad[indices]
        per_parameter[key] = gradient_difference(grad_k, approx)
        grad_parts.append(grad_k)
        approx_parts.append(approx)
    grad_all = np.concatenate(grad_parts)
    approx_all = np.concatenate(approx_parts)
    difference = gradient_difference(grad_all, approx_all)
    return GradientCheckResult(
        difference=difference,
        per_parameter=per_parameter,
        passed=bool(difference < threshold),
        threshold=threshold,
        n_checked=int(grad_all.size),
        epsilon=float(epsilon),
    )


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    r"""Numerical gradient of :math:`\sum f(x) \odot df` with respect to ``x`` (CS231n).

    Parameters
    ----------
    f : callable
        ``f(x) -> out``; called repeatedly while ``x`` is perturbed in place.
    x : ndarray (NumPy, float64 recommended)
        The input; restored entry by entry, so it is unchanged on return.
    df : ndarray, same shape as ``f(x)``
        Upstream gradient.
    h : float, default 1e-5

    Returns
    -------
    grad : ndarray, same shape as ``x``
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        # x is perturbed in place: an integer array would round x + h back to x (and the
        # quotient would be garbage), a list cannot be perturbed at all.
        raise ValueError(
            f"x must be a floating NumPy array (float64 recommended), perturbed in place; got "
            f"{type(x).__name__}{'' if not hasattr(x, 'dtype') else ' of dtype ' + str(x.dtype)}"
            " (use x.astype(np.float64))"
        )
    _check_positive_finite("h", h)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), copy=True)
        x[ix] = old - h
        neg = np.array(f(x), copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def relative_error(x, y):
    r"""CS231n's elementwise relative error, :math:`\max |x - y| / \max(10^{-8}, |x| + |y|)`."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))
