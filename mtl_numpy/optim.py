r"""Optimizers: the course's update rules, applied to ``model.params`` in place.

Each optimizer keeps its state (velocities, moments) keyed by parameter name,
created on the first :meth:`update` with the parameters' array module and dtype,
so it works unchanged on NumPy and CuPy parameters.

:class:`TrainableSubset` wraps any of them to freeze parameters (transfer
learning: train a new head on a pretrained trunk).
"""
from __future__ import annotations

import math
import numbers

from .backends import get_array_module

__all__ = ["Optimizer", "GradientDescent", "Momentum", "Adam", "TrainableSubset", "get_optimizer",
           "OPTIMIZERS"]


def _check_rate(name, value, low=0.0, high=None, low_open=True, high_open=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
    if not ok:
        lo = "(" if low_open else "["
        hi = "" if high is None else (f"{high})" if high_open else f"{high}]")
        rng = f"{lo}{low}, {hi or 'inf)'}"
        raise ValueError(f"{name} must be a number in {rng}; got {value!r}")
    return float(value)


class Optimizer:
    """Base class: ``update(params, grads)`` changes ``params`` in place."""

    def __init__(self, learning_rate):
        self.learning_rate = _check_rate("learning_rate", learning_rate)
        self.t = 0

    def update(self, params, grads):
        """Apply one step to every ``params[k]`` using ``grads["d" + k]``."""
        self.t += 1
        for key, param in params.items():
            self._update_one(key, param, grads["d" + key])

    def _update_one(self, key, param, grad):
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and k != "t")
        return f"{type(self).__name__}({fields})"


class GradientDescent(Optimizer):
    r"""Plain (mini-batch) gradient descent: :math:`W := W - \alpha\, dW`."""

    def __init__(self, learning_rate=0.1):
        super().__init__(learning_rate)

    def _update_one(self, key, param, grad):
        param -= param.dtype.type(self.learning_rate) * grad


class Momentum(Optimizer):
    r"""Gradient descent with momentum, as in the course.

    .. math::
        v_{dW} := \beta v_{dW} + (1 - \beta)\, dW, \qquad W := W - \alpha v_{dW}
    """

    def __init__(self, learning_rate=0.01, beta=0.9):
        super().__init__(learning_rate)
        self.beta = _check_rate("beta", beta, 0.0, 1.0, low_open=False, high_open=True)
        self._v = {}

    def _update_one(self, key, param, grad):
        xp = get_array_module(param)
        if key not in self._v:
            self._v[key] = xp.zeros_like(param)
        v = self._v[key]
        t = param.dtype.type
        v *= t(self.beta)
        v += t(1 - self.beta) * grad
        param -= t(self.learning_rate) * v


class Adam(Optimizer):
    r"""Adam with bias correction, as in the course.

    .. math::
        v &:= \beta_1 v + (1 - \beta_1)\, dW, &\quad
        s &:= \beta_2 s + (1 - \beta_2)\, dW^2, \\
        \hat v &= v / (1 - \beta_1^t), &\quad
        \hat s &= s / (1 - \beta_2^t), \\
        W &:= W - \alpha\, \hat v / (\sqrt{\hat s} + \varepsilon)
    """

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
        super().__init__(learning_rate)
        self.beta1 = _check_rate("beta1", beta1, 0.0, 1.0, low_open=False, high_open=True)
        self.beta2 = _check_rate("beta2", beta2, 0.0, 1.0, low_open=False, high_open=True)
        self.epsilon = _check_rate("epsilon", epsilon)
        self._v, self._s = {}, {}
        self._scratch = {}

    def _update_one(self, key, param, grad):
        xp = get_array_module(param)
        if key not in self._v:
            self._v[key] = xp.zeros_like(param)
            self._s[key] = xp.zeros_like(param)
        v, s, t = self._v[key], self._s[key], param.dtype.type
        # Two scratch arrays per parameter, reused every step: no temporaries (a fresh array
        # per operation costs an allocation and, for big layers, page faults every step).
        work = self._scratch.get(key)
        if work is None or work[0].shape != param.shape or work[0].dtype != param.dtype:
            work = self._scratch[key] = (xp.empty_like(param), xp.empty_like(param))
        tmp, denom = work
        v *= t(self.beta1)
        xp.multiply(grad, t(1 - self.beta1), out=tmp)
        v += tmp
        s *= t(self.beta2)
        xp.multiply(grad, grad, out=tmp)
        tmp *= t(1 - self.beta2)
        s += tmp
        # Fold both bias corrections into the step size (same update, fewer passes):
        # alpha * v_hat / (sqrt(s_hat) + eps) = alpha_t * v / (sqrt(s) + eps_t)
        c1 = 1 - self.beta1 ** self.t
        c2 = 1 - self.beta2 ** self.t
        alpha_t = self.learning_rate * (c2 ** 0.5) / c1
        eps_t = self.epsilon * (c2 ** 0.5)
        xp.sqrt(s, out=denom)
        denom += t(eps_t)
        xp.multiply(v, t(alpha_t), out=tmp)
        tmp /= denom
        param -= tmp


class TrainableSubset(Optimizer):
    """Wrap an optimizer so that it updates only the parameters named in ``trainable``.

    The others (e.g. a pretrained trunk) stay frozen: their gradients are
    computed but never applied. ``TrainableSubset(Adam(1e-3), ["W3", "b3"])``
    trains only the head of a 3-layer network.

    Parameters
    ----------
    optimizer : Optimizer
        Does the updates (and keeps the state) of the trainable parameters.
    trainable : iterable of str
        Parameter names (``"W3"``, ``"b3"``, ...); a name the model does not have is
        a ValueError at the first :meth:`update`.
    """

    def __init__(self, optimizer, trainable):
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be an mtl_numpy Optimizer; got {optimizer!r}")
        self.inner = optimizer
        self.trainable = frozenset(trainable)
        self.learning_rate = optimizer.learning_rate
        self.t = 0

    def update(self, params, grads):
        """One step of the wrapped optimizer on the trainable parameters only."""
        self.t += 1
        live = {k: v for k, v in params.items() if k in self.trainable}
        if set(self.trainable) - set(params):
            raise ValueError(f"trainable names {sorted(set(self.trainable) - set(params))} "
                             f"are not parameters; have {sorted(params)}")
        self.inner.update(live, grads)


OPTIMIZERS = {"gd": GradientDescent, "momentum": Momentum, "adam": Adam}


def get_optimizer(name, learning_rate):
    """Build an optimizer from its command-line name ("gd", "momentum", "adam")."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {name!r}")
    return OPTIMIZERS[name](learning_rate=learning_rate)
