r"""Loss weighting and gradient combination for multi-task training, every method by hand.

The lecture trains on the plain sum of the tasks' costs, :math:`J = \sum_t J_t`, so every
parameter moves along :math:`\sum_t g_t`. The methods here change that sum, in one of two ways:

- **loss weighting** — train on :math:`\sum_t w_t J_t` with weights that are fixed
  (``"equal"``, ``"per_task"``), learned (``"uncertainty"``, ``"gradnorm"``) or set from the
  costs' history (``"dwa"``); every parameter gets :math:`\sum_t w_t g_t`;
- **gradient combination** — replace :math:`\sum_t g_t` on the *shared* parameters by another
  combination of the task gradients (``"pcgrad"``, ``"mgda"``, ``"cagrad"``); the task-specific
  parameters (a task's head, or its row of the output layer) keep their own task's gradient,
  as in the papers.

Every method works from the per-task costs and gradients the models return in one call::

    J_t, G = model.task_costs_and_grads(X, Y)   # J_t (n_tasks,); G[name] (n_tasks, *param.shape)

and every method reduces, on the shared parameters, to task weights :math:`\lambda_t` with
:math:`d = \sum_t \lambda_t g_t`: PCGrad's projections, MGDA's min-norm point and CAGrad's
direction are all combinations of the task gradients, found from the ``n_tasks × n_tasks``
Gram matrix :math:`K_{ij} = \langle g_i, g_j \rangle` (:func:`mtl_numpy.diagnostics.gram_matrices`).
So the big arrays are read twice (Gram, weighted sum), on their own device — NumPy or CuPy —
and the small solves run on the host in float64.

Tasks with no label in the batch ('?')
--------------------------------------
A task with no known label in the batch has ``J_t = 0`` and an all-zero gradient row. It is
*absent*: every method gives it weight 0 and leaves it out of every mean, norm, softmax,
projection and convex hull — the result is exactly the result of dropping that task from the
batch (tested for every method). Which tasks are present comes from ``present``, else from
``n_labelled > 0``, else from "some gradient entry is non-zero". Nothing divides by an absent
task's count or norm, so no NaN can appear. (Without this rule MGDA would return 0: the zero
gradient of an absent task is the min-norm point of any hull that contains it.)

What the trainer passes, and gets back
--------------------------------------
::

    weighting = get_weighting("pcgrad")            # a name, or a Weighting object (returned as is)
    for X_batch, Y_batch in batches:
        J_t, G = model.task_costs_and_grads(X_batch, Y_batch)
        n_labelled, m = batch_counts(Y_batch)      # known labels per task (host ints), batch size
        J, grads = weighting.combine(J_t, G, shared=model.shared, n_labelled=n_labelled,
                                     m=m, normalize=model.normalize)
        # J: Python float, the training cost of the method (check it is finite, as fit does).
        # grads: {"d" + name: array} for every name in G, each of the parameter's shape, dtype
        #        and array module: a drop-in replacement for cost_and_grads' gradients.
        optimizer.update({**model.params, **weighting.params}, {**grads, **weighting.grads})
        # one update call per step (Adam's step counter advances once); weighting.params is
        # empty for methods with nothing to learn, and holds host float64 arrays otherwise
        # ("log_var" for uncertainty, "loss_weights" for gradnorm): no name clashes with "W1".
    weighting.epoch_end()                          # after every epoch (DWA's per-epoch costs)

``shared`` names the parameters every task uses (the model's list of shared parameter names);
the others are task-specific (default: all of ``G`` is shared — pass the model's list, since in today's model the output layer ``W[L]``, ``b[L]``
is task-specific: row ``t`` belongs to task ``t``). After ``combine``, ``weighting.last_weights``
holds the task weights :math:`\lambda_t` applied on the shared parameters (``(n_tasks,)``, 0 for
absent tasks), for a ``History`` to record.

Scale: ``"equal"`` gives the lecture's cost and gradient (with ``normalize="examples"``,
``J = J_t.sum()`` and ``grads == model.cost_and_grads``; with ``normalize="labels"`` each
``J_t`` is a mean over its own task's labels, so ``"equal"`` then sums per-task means, which is
``"per_task"``). PCGrad, like the paper, sums the
projected gradients (the scale of ``"equal"``); MGDA's convex combination and CAGrad's
:math:`g_0 + \dots` are at the scale of the *mean* task gradient, as in their papers. With Adam
the scale hardly matters; with plain gradient descent compare at ``learning_rate × n_tasks``.
The cost the gradient-combination methods report is the plain sum :math:`\sum_t J_t` (no scalar
cost has their direction as its gradient).

Not done here: MGDA-UB (the upper bound of Sener & Koltun, which needs the gradient with respect
to the shared representation, a model-side quantity).
"""
from __future__ import annotations

import numbers
import re
from dataclasses import dataclass, field

import numpy as np

from .arrays import get_array_module, to_numpy
from .diagnostics import check_param_names, check_task_counts, check_task_grads, gram_matrices, present_tasks
from .labels import known_labels
from .losses import check_normalize

__all__ = [
    "Weighting", "TaskBatch", "get_weighting", "batch_counts", "WEIGHTINGS",
    "EqualWeighting", "PerTaskWeighting", "UncertaintyWeighting", "DynamicWeightAverage",
    "GradNorm", "PCGrad", "MGDA", "CAGrad",
    "two_task_min_norm", "min_norm_weights", "pcgrad_weights", "cagrad_weights", "dwa_weights",
]


# ---------------------------------------------------------------------------------------------
# The batch: per-task costs, gradients, and which tasks had labels
# ---------------------------------------------------------------------------------------------

def batch_counts(Y):
    """Known labels per task and the batch size: ``(n_labelled, m)``.

    Parameters
    ----------
    Y : array of shape (n_tasks, m)
        Labels with ``nan`` for '?' (NumPy or CuPy).

    Returns
    -------
    n_labelled : ndarray of int64, shape (n_tasks,)
        On the host.
    m : int
    """
    shape = getattr(Y, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"Y must be an array of shape (n_tasks, m); got {shape if shape is not None else Y!r}")
    n_labelled = np.asarray(to_numpy(known_labels(Y).sum(axis=1)), dtype=np.int64)
    return n_labelled, int(shape[1])


@dataclass
class TaskBatch:
    r"""One mini-batch's per-task costs and gradients, validated, with the quantities methods share.

    Built by :meth:`Weighting.combine`; a custom method receives it in :meth:`Weighting.task_weights`.

    Attributes
    ----------
    J : ndarray of float64, shape (n_tasks,)
        Task costs on the host; 0 for absent tasks whatever was passed.
    G : dict of str to array of shape (n_tasks, \*param.shape)
        The per-task gradients, untouched (NumPy or CuPy).
    shared, specific : tuple of str
        Shared and task-specific parameter names (together: every key of ``G``).
    present : ndarray of bool, shape (n_tasks,)
    n_labelled : ndarray of int64, shape (n_tasks,), or None
    m : int or None
    normalize : {"examples", "labels"}
    """

    J: np.ndarray
    G: dict
    shared: tuple
    specific: tuple
    present: np.ndarray
    n_labelled: np.ndarray = None
    m: int = None
    normalize: str = "examples"
    _gram: dict = field(default=None, repr=False)

    @classmethod
    def build(cls, J_t, G, *, shared=None, present=None, n_labelled=None, m=None, normalize="examples"):
        """Validate the arguments of :meth:`Weighting.combine` (``ValueError`` naming the argument)."""
        n_tasks = check_task_grads(G)
        J = np.asarray(to_numpy(J_t), dtype=np.float64)
        if J.shape != (n_tasks,):
            raise ValueError(f"J_t must have shape (n_tasks,) = ({n_tasks},) like G's leading axis; got {J.shape}")
        shared = check_param_names(shared, G, "shared")
        specific = tuple(k for k in G if k not in shared)
        normalize = check_normalize(normalize)
        counts = None if n_labelled is None else check_task_counts(n_labelled, n_tasks)
        if m is not None:
            if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
                raise ValueError(f"m (the batch size) must be an int >= 1; got {m!r}")
            m = int(m)
            if counts is not None and np.any(counts > m):
                raise ValueError(f"n_labelled cannot exceed m = {m}; got {counts.tolist()}")
        present = present_tasks(G, present=present, n_labelled=counts)
        # An absent task's cost is 0 by contract; where() also keeps a stray nan out.
        J = np.where(present, J, 0.0)
        return cls(J=J, G=G, shared=shared, specific=specific, present=present,
                   n_labelled=counts, m=m, normalize=normalize)

    @property
    def n_tasks(self):
        return self.J.shape[0]

    @property
    def index(self):
        """Indices of the present tasks, ``(n_present,)``."""
        return np.flatnonzero(self.present)

    def gram(self, names=None):
        r"""Gram matrix :math:`K_{ij} = \langle g_i, g_j \rangle` over ``names`` (default: shared), host float64."""
        names = self.shared if names is None else tuple(names)
        if self._gram is None:
            self._gram = {}
        missing = [k for k in names if k not in self._gram]
        if missing:
            self._gram.update(gram_matrices(self.G, missing))
        K = np.zeros((self.n_tasks, self.n_tasks))
        for key in names:
            K += self._gram[key]
        return K

    def present_gram(self):
        """The shared Gram matrix restricted to the present tasks, ``(n_present, n_present)``."""
        idx = self.index
        return self.gram()[np.ix_(idx, idx)]

    def expand(self, values):
        """Put ``(n_present,)`` values back at the present tasks' places, 0 elsewhere: ``(n_tasks,)``."""
        out = np.zeros(self.n_tasks)
        out[self.index] = values
        return out

    def label_scale(self, method):
        r"""Per-task factor :math:`s_t` that turns :math:`J_t` into a mean over task ``t``'s labels.

        ``normalize="examples"``: :math:`s_t = m / n_t`; ``"labels"``: :math:`s_t = 1` (already a
        per-task mean); 0 for absent tasks.
        """
        if self.normalize == "labels":
            return self.present.astype(np.float64)
        if self.n_labelled is None or self.m is None:
            raise ValueError(f"{method} needs n_labelled and m (known labels per task and the batch size, "
                             f"see batch_counts) when normalize='examples'")
        return np.divide(float(self.m), self.n_labelled, out=np.zeros(self.n_tasks),
                         where=self.n_labelled > 0)

    def per_label_costs(self, method):
        """Each task's mean cost over its own known labels, ``(n_tasks,)`` (0 when absent)."""
        return self.J * self.label_scale(method)

    def weighted_grads(self, w_shared, w_specific):
        r"""``{"d" + name: Σ_t w_t G[name][t]}``, shared names with ``w_shared``, the others with ``w_specific``."""
        out = {}
        for key, g in self.G.items():
            w = w_shared if key in self.shared else w_specific
            xp = get_array_module(g)
            if np.all(w == 1.0):
                out["d" + key] = g.sum(axis=0)      # the lecture's sum, without a product
            else:
                out["d" + key] = xp.tensordot(xp.asarray(w, dtype=g.dtype), g, axes=1)
        return out


# ---------------------------------------------------------------------------------------------
# The base class
# ---------------------------------------------------------------------------------------------

class Weighting:
    """Base class: turn per-task costs and gradients into one cost and one gradient.

    Subclasses implement :meth:`task_weights`; :meth:`combine` validates the batch, calls it,
    zeroes absent tasks' weights and forms the gradients.

    Attributes
    ----------
    params : dict of str to ndarray
        Learnable weights (host float64), updated by the trainer's optimizer together with the
        model's parameters; empty for methods with nothing to learn.
    grads : dict of str to ndarray
        ``"d" + name`` for each entry of ``params``, set by every :meth:`combine`.
    last_weights : ndarray of shape (n_tasks,) or None
        The task weights applied to the shared parameters' gradients in the last ``combine``.
    """

    name = "weighting"

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.last_weights = None
        self.n_tasks = None

    def _set_n_tasks(self, n_tasks):
        if self.n_tasks is None:
            self.n_tasks = n_tasks
            self._build(n_tasks)
        elif self.n_tasks != n_tasks:
            raise ValueError(f"{type(self).__name__} was set up for n_tasks = {self.n_tasks}; "
                             f"got a batch with {n_tasks} tasks")

    def _build(self, n_tasks):
        """Create learnable parameters and state once ``n_tasks`` is known."""

    def combine(self, J_t, G, *, shared=None, present=None, n_labelled=None, m=None, normalize="examples"):
        r"""The training cost and the combined gradient of one mini-batch.

        Parameters
        ----------
        J_t : array of shape (n_tasks,)
            Each task's masked cost (``model.task_costs_and_grads``).
        G : dict of str to array of shape (n_tasks, \*param.shape)
            Task ``t``'s gradient of ``J_t[t]`` for every parameter (NumPy or CuPy).
        shared : sequence of str, optional
            Names of the shared parameters (default: every key of ``G``).
        present : array-like of bool, shape (n_tasks,), optional
            Tasks with at least one known label in the batch.
        n_labelled : array-like of int, shape (n_tasks,), optional
            Known labels per task (``present = n_labelled > 0`` when ``present`` is not given);
            needed with ``m`` by the methods that use per-label costs under ``normalize="examples"``.
        m : int, optional
            The batch size.
        normalize : {"examples", "labels"}, default "examples"
            How the model normalised ``J_t``: by ``m``, or by each task's labelled count.

        Returns
        -------
        cost : float
        grads : dict of str to array
            ``"d" + name`` for every name in ``G``, the parameter's shape, dtype and array module.
        """
        batch = TaskBatch.build(J_t, G, shared=shared, present=present, n_labelled=n_labelled, m=m,
                                normalize=normalize)
        self._set_n_tasks(batch.n_tasks)
        cost, w_shared, w_specific = self.task_weights(batch)
        w_shared = np.where(batch.present, np.asarray(w_shared, dtype=np.float64), 0.0)
        w_specific = np.where(batch.present, np.asarray(w_specific, dtype=np.float64), 0.0)
        self.last_weights = w_shared
        return float(cost), batch.weighted_grads(w_shared, w_specific)

    def task_weights(self, batch):
        """Return ``(cost, w_shared, w_specific)``: the cost and two ``(n_tasks,)`` weight vectors.

        Subclasses implement this (and set ``self.grads`` for learnable ``params``).
        """
        raise NotImplementedError

    def epoch_end(self, task_costs=None):
        """Hook called by the trainer after every epoch (no-op unless the method is epoch-level)."""

    _repr_fields = ()

    def __repr__(self):
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._repr_fields)
        return f"{type(self).__name__}({fields})"


def _check_real(name, value, low=None, low_open=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if not ok:
        bound = "" if low is None else (f" > {low}" if low_open else f" >= {low}")
        raise ValueError(f"{name} must be a finite number{bound}; got {value!r}")
    return float(value)


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# Fixed loss weights
# ---------------------------------------------------------------------------------------------

class EqualWeighting(Weighting):
    r"""The lecture's cost: the plain sum of the task costs.

    Notes
    -----
    .. math:: J = \sum_{t \in P} J_t, \qquad dW = \sum_{t \in P} dW_t

    :math:`P` is the set of tasks present in the batch. With ``normalize="examples"`` this is
    exactly ``model.cost_and_grads``.
    """

    name = "equal"

    def task_weights(self, batch):
        ones = batch.present.astype(np.float64)
        return batch.J.sum(), ones, ones


class PerTaskWeighting(Weighting):
    r"""Each task's cost averaged over its own known labels, then summed.

    Notes
    -----
    With :math:`n_t` task :math:`t`'s known labels in the batch,

    .. math:: J = \sum_{t \in P} \frac{1}{n_t} \sum_{i:\, y^{(i)}_t \ne ?} L(\hat y^{(i)}_t, y^{(i)}_t)
              = \sum_{t \in P} \frac{m}{n_t} J_t \quad (\texttt{normalize="examples"})

    so a task with many '?' is not down-weighted by them. Under ``normalize="labels"`` the
    model's :math:`J_t` already is that mean and the weights are 1.
    """

    name = "per_task"

    def task_weights(self, batch):
        scale = batch.label_scale("per_task")
        return (batch.J * scale).sum(), scale, scale


# ---------------------------------------------------------------------------------------------
# Uncertainty weighting (Kendall, Gal & Cipolla 2018)
# ---------------------------------------------------------------------------------------------

class UncertaintyWeighting(Weighting):
    r"""Homoscedastic-uncertainty weighting with a learnable :math:`s_t = \log \sigma_t^2` per task.

    Parameters
    ----------
    n_tasks : int, optional
        Creates ``params`` now (else at the first ``combine``).
    init_log_var : float, default 0.0
        Initial :math:`s_t` (0: every weight starts at 1, the lecture's sum).

    Notes
    -----
    Kendall, Gal & Cipolla, "Multi-task learning using uncertainty to weigh losses for scene
    geometry and semantics", CVPR 2018. The cost and its gradients:

    .. math::
        J = \sum_{t \in P} e^{-s_t} J_t + s_t, \qquad
        dW = \sum_{t \in P} e^{-s_t}\, dW_t, \qquad
        \frac{\partial J}{\partial s_t} = 1 - e^{-s_t} J_t \;(t \in P), \; 0 \;(t \notin P)

    so for fixed costs the optimum is :math:`e^{s_t} = \sigma_t^2 = J_t`. Constant convention:
    the paper's classification form (its eq. 10) is :math:`\frac{1}{\sigma^2} L + \log \sigma
    = e^{-s} L + s/2`, whose optimum is :math:`\sigma^2 = 2L`; the form here doubles the
    regulariser (equivalently, twice the paper's regression form
    :math:`\frac{1}{2\sigma^2} L + \log\sigma`), as the widely used implementations do, so that
    :math:`\sigma_t^2` estimates the task's cost itself. An absent task has no term at all: with
    :math:`+s_t` alone its :math:`s_t` would be pushed down for nothing.

    :math:`s_t` is learned by the trainer's optimizer (``params["log_var"]``, gradient
    ``grads["dlog_var"]``), in float64 on the host.
    """

    name = "uncertainty"
    _repr_fields = ("init_log_var",)

    def __init__(self, n_tasks=None, init_log_var=0.0):
        super().__init__()
        self.init_log_var = _check_real("init_log_var", init_log_var)
        if n_tasks is not None:
            self._set_n_tasks(_check_int("n_tasks", n_tasks))

    def _build(self, n_tasks):
        self.params = {"log_var": np.full(n_tasks, self.init_log_var)}
        self.grads = {"dlog_var": np.zeros(n_tasks)}

    @property
    def log_var(self):
        """:math:`s_t = \\log \\sigma_t^2`, ``(n_tasks,)``."""
        return self.params["log_var"]

    def task_weights(self, batch):
        s = self.params["log_var"]
        present = batch.present
        weight = np.where(present, np.exp(-s), 0.0)
        cost = float(np.sum(np.where(present, weight * batch.J + s, 0.0)))
        self.grads = {"dlog_var": np.where(present, 1.0 - weight * batch.J, 0.0)}
        return cost, weight, weight


# ---------------------------------------------------------------------------------------------
# Dynamic weight average (Liu, Johns & Davison 2019)
# ---------------------------------------------------------------------------------------------

def dwa_weights(costs_previous, costs_before, temperature=2.0, known=None):
    r"""DWA's task weights from two epochs' per-task costs.

    Parameters
    ----------
    costs_previous, costs_before : array-like of shape (n,)
        :math:`L_t(e-1)` and :math:`L_t(e-2)`.
    temperature : float, default 2.0
        :math:`\tau`.
    known : array-like of bool, shape (n,), optional
        Tasks whose ratio is known; the others get :math:`r_t = 1`.

    Returns
    -------
    ndarray of shape (n,)
        :math:`w_t = n \exp(r_t/\tau) / \sum_k \exp(r_k/\tau)`, summing to ``n``.

    Notes
    -----
    .. math:: r_t(e-1) = \frac{L_t(e-1)}{L_t(e-2)}, \qquad
              w_t(e) = \frac{n\, \exp(r_t(e-1)/\tau)}{\sum_k \exp(r_k(e-1)/\tau)}
    """
    prev = np.asarray(costs_previous, dtype=np.float64)
    before = np.asarray(costs_before, dtype=np.float64)
    ok = before > 0
    if known is not None:
        ok &= np.asarray(known, dtype=bool)
    r = np.divide(prev, before, out=np.ones_like(prev), where=ok)
    z = r / temperature
    z = z - z.max() if z.size else z          # softmax is shift-invariant; avoids overflow
    e = np.exp(z)
    return prev.size * e / e.sum() if prev.size else e


class DynamicWeightAverage(Weighting):
    r"""Dynamic weight average: weight each task by how slowly its cost fell over the last epochs.

    Parameters
    ----------
    temperature : float, default 2.0
        :math:`\tau` (the paper's value); larger is closer to equal weights.

    Notes
    -----
    Liu, Johns & Davison, "End-to-end multi-task learning with attention", CVPR 2019:

    .. math:: w_t(e) = \frac{T \exp(r_t(e-1)/\tau)}{\sum_k \exp(r_k(e-1)/\tau)}, \qquad
              r_t(e-1) = \frac{L_t(e-1)}{L_t(e-2)}, \qquad J = \sum_{t \in P} w_t J_t

    with :math:`w_t = 1` in the first two epochs. :math:`L_t(e)` is task :math:`t`'s mean
    cost over its own known labels in epoch :math:`e`, accumulated by :meth:`combine` (so '?'
    rates do not enter the ratios) and closed by :meth:`epoch_end`; or pass the epoch's
    per-task costs to :meth:`epoch_end` yourself.

    With '?': the softmax runs over the tasks present in the batch and is scaled to their
    number :math:`|P|` (for a full batch this is the paper's formula); a task whose cost is
    unknown in either of the two epochs gets :math:`r_t = 1`.
    """

    name = "dwa"
    _repr_fields = ("temperature",)

    def __init__(self, temperature=2.0):
        super().__init__()
        self.temperature = _check_real("temperature", temperature, 0.0, low_open=True)
        self.epoch_costs = []         # list of (costs (n_tasks,), known (n_tasks,) bool)

    def _build(self, n_tasks):
        self._sum = np.zeros(n_tasks)
        self._count = np.zeros(n_tasks)

    def current_weights(self):
        """Weights of the present epoch, ``(n_tasks,)`` (all 1 before two epochs are closed)."""
        if len(self.epoch_costs) < 2:
            return np.ones(self.n_tasks)
        (prev, known_prev), (before, known_before) = self.epoch_costs[-1], self.epoch_costs[-2]
        return dwa_weights(prev, before, self.temperature, known_prev & known_before)

    def task_weights(self, batch):
        idx = batch.index
        w = np.zeros(batch.n_tasks)
        if len(self.epoch_costs) >= 2 and idx.size:
            (prev, kp), (before, kb) = self.epoch_costs[-1], self.epoch_costs[-2]
            w[idx] = dwa_weights(prev[idx], before[idx], self.temperature, (kp & kb)[idx])
        else:
            w[idx] = 1.0
        # Accumulate this epoch's per-label cost, each batch weighted by its labels.
        try:
            per_label = batch.per_label_costs("dwa")
            counts = batch.n_labelled if batch.n_labelled is not None else batch.present.astype(float)
        except ValueError:                    # no counts given: a plain mean over batches
            per_label, counts = batch.J, batch.present.astype(float)
        self._sum += per_label * counts
        self._count += counts
        return float(np.sum(w * batch.J)), w, w

    def epoch_end(self, task_costs=None):
        """Close the epoch: store its per-task costs (given, or accumulated by ``combine``)."""
        if task_costs is not None:
            costs = np.asarray(to_numpy(task_costs), dtype=np.float64)
            if self.n_tasks is None and costs.ndim == 1 and costs.size:
                self._set_n_tasks(costs.shape[0])
            if costs.shape != (self.n_tasks,):
                raise ValueError(f"task_costs must have shape (n_tasks,) = ({self.n_tasks},); got {costs.shape}")
            known = np.isfinite(costs) & (costs > 0)
            self.epoch_costs.append((np.where(known, costs, 0.0), known))
        elif self.n_tasks is not None:
            known = self._count > 0
            costs = np.divide(self._sum, self._count, out=np.zeros_like(self._sum), where=known)
            self.epoch_costs.append((costs, known))
        else:
            return
        self._sum[:] = 0.0
        self._count[:] = 0.0


# ---------------------------------------------------------------------------------------------
# GradNorm (Chen, Badrinarayanan, Lee & Rabinovich 2018)
# ---------------------------------------------------------------------------------------------

_DENSE_W = re.compile(r"^W(\d+)$")


def _last_shared_weight(shared):
    numbered = [(int(m.group(1)), k) for k in shared for m in [_DENSE_W.match(k)] if m]
    if numbered:
        return max(numbered)[1]
    weights = [k for k in shared if k.startswith("W")]
    if weights:
        return weights[-1]
    if shared:
        return shared[-1]
    raise ValueError("gradnorm needs at least one shared parameter (shared is empty)")


class GradNorm(Weighting):
    r"""GradNorm: learn loss weights that equalise the tasks' gradient norms on the last shared layer.

    Parameters
    ----------
    alpha : float, default 1.5
        :math:`\alpha`, the strength of the pull towards the tasks' relative training rates.
    layer : str, optional
        The parameter :math:`W` whose gradient norms are balanced (default: the last shared
        weight, e.g. ``"W2"`` of ``[n_x, 256, 128, 4]``'s shared ``W1, b1, W2, b2``).
    n_tasks : int, optional
        Creates ``params`` now (else at the first ``combine``).
    min_weight : float, default 1e-3
        Weights are clipped at this before the renormalisation, so none turns negative.

    Notes
    -----
    Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: gradient normalization for adaptive loss
    balancing in deep multitask networks", ICML 2018. The model trains on
    :math:`J = \sum_{t \in P} w_t J_t`. With :math:`L_t` the task's mean cost over its known
    labels and :math:`L_t(0)` its first recorded value,

    .. math::
        G_W^{(t)} = \lVert \nabla_W\, w_t L_t \rVert_2 = w_t \lVert dW_t \rVert_2, \qquad
        \bar G_W = \frac{1}{|P|}\sum_{t\in P} G_W^{(t)}, \qquad
        \tilde L_t = \frac{L_t}{L_t(0)}, \qquad r_t = \frac{\tilde L_t}{\frac{1}{|P|}\sum_{k\in P}\tilde L_k}

    .. math::
        L_{\text{grad}} = \sum_{t \in P} \left| G_W^{(t)} - \bar G_W\, r_t^{\alpha} \right|_1, \qquad
        \frac{\partial L_{\text{grad}}}{\partial w_t} = \operatorname{sign}\!\left(G_W^{(t)} -
        \bar G_W r_t^{\alpha}\right) \lVert dW_t \rVert_2

    the targets :math:`\bar G_W r_t^\alpha` held constant, as in the paper. The weights
    (``params["loss_weights"]``) are updated by the trainer's optimizer with
    ``grads["dloss_weights"]``, and renormalised to :math:`\sum_t w_t = T` — done here at the
    start of each ``combine``, so the trainer needs no extra call.

    '?': :math:`L_t` is a per-label mean so a batch's '?' rate does not move :math:`r_t`; the
    means run over present tasks; an absent task's weight gets gradient 0; :math:`L_t(0)` is
    recorded the first time task :math:`t` is present. ``last_targets``, ``last_norms`` and
    ``last_gradnorm_loss`` keep the latest values for inspection.
    """

    name = "gradnorm"
    _repr_fields = ("alpha", "layer", "min_weight")

    def __init__(self, alpha=1.5, layer=None, n_tasks=None, min_weight=1e-3):
        super().__init__()
        self.alpha = _check_real("alpha", alpha, 0.0)
        if layer is not None and not isinstance(layer, str):
            raise ValueError(f"layer must be a parameter name (str) or None; got {layer!r}")
        self.layer = layer
        self.min_weight = _check_real("min_weight", min_weight, 0.0, low_open=True)
        self.last_targets = self.last_norms = None
        self.last_gradnorm_loss = None
        if n_tasks is not None:
            self._set_n_tasks(_check_int("n_tasks", n_tasks))

    def _build(self, n_tasks):
        self.params = {"loss_weights": np.ones(n_tasks)}
        self.grads = {"dloss_weights": np.zeros(n_tasks)}
        self.initial_costs = np.zeros(n_tasks)
        self._has_initial = np.zeros(n_tasks, dtype=bool)

    @property
    def loss_weights(self):
        """The (renormalised) task weights :math:`w_t`, ``(n_tasks,)``."""
        w = self.params["loss_weights"]
        return np.maximum(w, self.min_weight) * (w.size / np.maximum(w, self.min_weight).sum())

    def task_weights(self, batch):
        w = self.params["loss_weights"]
        # Renormalise in place (the optimizer holds this very array): sum_t w_t = T.
        np.maximum(w, self.min_weight, out=w)
        w *= w.size / w.sum()
        present = batch.present
        layer = self.layer if self.layer is not None else _last_shared_weight(batch.shared)
        if layer not in batch.G:
            raise ValueError(f"gradnorm's layer {layer!r} is not a parameter in G; G has {list(batch.G)}")
        L = batch.per_label_costs("gradnorm")
        new = present & ~self._has_initial
        self.initial_costs[new] = L[new]
        self._has_initial |= new

        norms = np.where(present, np.sqrt(np.clip(np.diag(batch.gram([layer])), 0.0, None)), 0.0)
        G_W = w * norms
        n_present = int(present.sum())
        targets = np.zeros(batch.n_tasks)
        dw = np.zeros(batch.n_tasks)
        if n_present:
            G_bar = G_W[present].sum() / n_present
            ok = present & (self.initial_costs > 0)
            L_tilde = np.divide(L, self.initial_costs, out=np.ones_like(L), where=ok)
            mean_tilde = L_tilde[present].mean()
            r = L_tilde / mean_tilde if mean_tilde > 0 else np.ones_like(L_tilde)
            targets = np.where(present, G_bar * np.power(np.maximum(r, 0.0), self.alpha), 0.0)
            dw = np.where(present, np.sign(G_W - targets) * norms, 0.0)
        self.last_norms = norms
        self.last_targets = targets
        self.last_gradnorm_loss = float(np.sum(np.abs(np.where(present, G_W - targets, 0.0))))
        self.grads = {"dloss_weights": dw}
        weights = np.where(present, w, 0.0)
        return float(np.sum(weights * batch.J)), weights, weights


# ---------------------------------------------------------------------------------------------
# Gradient combination: PCGrad, MGDA, CAGrad — all on the Gram matrix of the present tasks
# ---------------------------------------------------------------------------------------------

def pcgrad_weights(K, rng):
    r"""PCGrad's projected-and-summed gradient as task weights: :math:`\sum_i g_i^{PC} = \sum_j \lambda_j g_j`.

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Gram matrix :math:`K_{ij} = \langle g_i, g_j \rangle` of the task gradients.
    rng : numpy.random.Generator
        Draws each task's order over the others (``n`` permutations per call).

    Returns
    -------
    ndarray of shape (n,)

    Notes
    -----
    Yu, Kumar, Gupta, Levine, Hausman & Finn, "Gradient surgery for multi-task learning",
    NeurIPS 2020, Algorithm 1: for every task :math:`i`, start from :math:`g_i^{PC} = g_i` and,
    for the other tasks :math:`j` in random order,

    .. math:: \text{if } g_i^{PC} \cdot g_j < 0: \quad
              g_i^{PC} \leftarrow g_i^{PC} - \frac{g_i^{PC} \cdot g_j}{\lVert g_j \rVert^2}\, g_j

    then :math:`d = \sum_i g_i^{PC}`. Each projection subtracts a multiple of some :math:`g_j`,
    so :math:`g_i^{PC} = \sum_j c_{ij} g_j` and :math:`g_i^{PC} \cdot g_j = (c_i^T K)_j`: the
    whole algorithm runs on the coefficients :math:`c_{ij}`, and :math:`\lambda_j = \sum_i c_{ij}`.
    """
    K = np.asarray(K, dtype=np.float64)
    n = K.shape[0]
    C = np.eye(n)
    for i in range(n):
        c = C[i]
        for j in rng.permutation(n):
            if j == i:
                continue
            dot = c @ K[:, j]
            if dot < 0 and K[j, j] > 0:
                c[j] -= dot / K[j, j]
    return C.sum(axis=0)


class PCGrad(Weighting):
    r"""PCGrad (projecting conflicting gradients) on the shared parameters.

    Parameters
    ----------
    seed : int or None, default 0
        Seeds the generator of the random task orders.

    Notes
    -----
    See :func:`pcgrad_weights` for the algorithm (Yu et al. 2020). On the shared parameters
    :math:`dW = \sum_i g_i^{PC}` (the projected gradients summed, the scale of ``"equal"``);
    each task-specific parameter keeps its own task's gradient. Only present tasks take part,
    and the orders are drawn over them. The reported cost is :math:`\sum_t J_t`.
    """

    name = "pcgrad"
    _repr_fields = ("seed",)

    def __init__(self, seed=0):
        super().__init__()
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"seed must be an int or None; got {seed!r}")
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def task_weights(self, batch):
        weights = batch.expand(pcgrad_weights(batch.present_gram(), self._rng))
        return batch.J.sum(), weights, batch.present.astype(np.float64)


def two_task_min_norm(g1g1, g1g2, g2g2):
    r"""The weight :math:`\gamma^*` of the min-norm point :math:`\gamma g_1 + (1-\gamma) g_2`.

    Parameters
    ----------
    g1g1, g1g2, g2g2 : float
        :math:`g_1 \cdot g_1`, :math:`g_1 \cdot g_2`, :math:`g_2 \cdot g_2`.

    Returns
    -------
    float in [0, 1]

    Notes
    -----
    Sener & Koltun 2018, Algorithm 1:

    .. math:: \gamma^* = \operatorname{clip}\!\left(\frac{(g_2 - g_1) \cdot g_2}
              {\lVert g_1 - g_2 \rVert^2},\ 0,\ 1\right)

    (0 when :math:`g_1 = g_2`: any point is the min-norm point then).
    """
    denom = g1g1 - 2.0 * g1g2 + g2g2
    if not denom > 0:
        return 0.0
    return float(min(max((g2g2 - g1g2) / denom, 0.0), 1.0))


def min_norm_weights(K, max_iter=1000, tol=1e-12, away_steps=True):
    r"""MGDA's min-norm point of the convex hull of the task gradients, by Frank–Wolfe.

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Gram matrix of the task gradients.
    max_iter : int, default 1000
    tol : float, default 1e-12
        Stop when the Frank–Wolfe duality gap falls below ``tol × max_t K_tt``.
    away_steps : bool, default True
        Also consider an "away" step (Lacoste-Julien & Jaggi 2015: take weight off the worst
        vertex in use) and keep whichever step lowers :math:`\lVert\theta\rVert^2` more; plain
        Frank–Wolfe (False, the paper's loop) converges like :math:`1/k` when the optimum lies
        on a face of the simplex, as it does whenever a task's weight should be 0.

    Returns
    -------
    ndarray of shape (n,)
        :math:`\alpha` on the simplex.

    Notes
    -----
    Sener & Koltun, "Multi-task learning as multi-objective optimization", NeurIPS 2018,
    Algorithm 2:

    .. math:: \min_{\alpha \in \Delta} \Big\lVert \sum_t \alpha_t g_t \Big\rVert_2^2 ,
              \qquad \Delta = \{\alpha \ge 0,\ \textstyle\sum_t \alpha_t = 1\}

    From :math:`\alpha = 1/n`, with :math:`\theta = \sum_t \alpha_t g_t`: pick
    :math:`\hat t = \arg\min_r (K\alpha)_r` (the vertex the gradient points to), find the
    step :math:`\hat\gamma` between :math:`\theta` and :math:`g_{\hat t}` by the two-task closed
    form (:func:`two_task_min_norm`) and set :math:`\alpha \leftarrow (1-\hat\gamma)\alpha +
    \hat\gamma e_{\hat t}`. Every fifth step, and at the end, the exact solution on the face
    in use is tried (:func:`_polish_min_norm`) and returned once its duality gap is below
    ``tol``. The result satisfies :math:`g_t \cdot \theta \ge \lVert\theta\rVert^2` for
    every :math:`t`: :math:`-\theta` decreases every task's cost (or :math:`\theta = 0`, a
    Pareto-stationary point).
    """
    K = np.asarray(K, dtype=np.float64)
    n = K.shape[0]
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.ones(1)
    alpha = np.full(n, 1.0 / n)
    scale = max(float(np.max(np.diag(K))), 0.0)
    if scale == 0.0:
        return alpha
    for iteration in range(max_iter):
        Ka = K @ alpha
        tt = float(alpha @ Ka)                              # ||θ||²
        s = int(np.argmin(Ka))
        gap_fw = tt - Ka[s]                                 # <θ, θ - g_s>, the duality gap
        if gap_fw <= tol * scale:
            break
        if iteration % 5 == 4:
            # Once the support is right, the exact solution on it closes the gap at once.
            exact = _polish_min_norm(K, alpha)
            K_exact = K @ exact
            if exact is not alpha and exact @ K_exact - K_exact.min() <= tol * scale:
                return exact
        # Paper's step: min over γ of ||γ g_s + (1 - γ) θ||², the two-task closed form.
        gamma = two_task_min_norm(K[s, s], Ka[s], tt)
        step = (1.0 - gamma) * alpha
        step[s] += gamma
        if away_steps:
            # Away step: move weight off the support's worst vertex g_v, α + γ(α - e_v) with
            # γ ≤ α_v / (1 - α_v), exact line search; kept when it lowers ||θ||² more.
            support = np.flatnonzero(alpha > 0)
            v = int(support[np.argmax(Ka[support])])
            gap_away = Ka[v] - tt
            denom = tt - 2.0 * Ka[v] + K[v, v]              # ||θ - g_v||²
            if gap_away > 0 and alpha[v] < 1.0 and denom > 0:
                gamma_max = alpha[v] / (1.0 - alpha[v])
                gamma = min(gap_away / denom, gamma_max)
                away = (1.0 + gamma) * alpha
                away[v] -= gamma
                if gamma == gamma_max:
                    away[v] = 0.0                            # a "drop step": exactly off the face
                if away @ K @ away < step @ K @ step:
                    step = away
        alpha = step
        alpha = np.maximum(alpha, 0.0)
        alpha /= alpha.sum()
    return _polish_min_norm(K, alpha)


def _polish_min_norm(K, alpha):
    r"""Solve the min-norm problem exactly on the face Frank–Wolfe found.

    On a support :math:`S` the affine problem :math:`\min \alpha_S^T K_{SS} \alpha_S` with
    :math:`\sum \alpha_S = 1` has the optimality system
    :math:`\begin{pmatrix} K_{SS} & \mathbf 1 \\ \mathbf 1^T & 0 \end{pmatrix}
    \begin{pmatrix} \alpha_S \\ \mu \end{pmatrix} = \begin{pmatrix} 0 \\ 1 \end{pmatrix}`
    (solved by least squares, so a singular :math:`K_{SS}` — a zero or repeated gradient — is
    fine). A negative entry means the face is too big: drop it and solve again, as the minor
    cycles of Wolfe's min-norm-point algorithm do. The result is kept only when it is
    non-negative and no worse than ``alpha``; it turns Frank–Wolfe's tolerance into rounding.
    """
    support = list(np.flatnonzero(alpha > 0))
    before = alpha @ K @ alpha
    while len(support) > 1:
        k = len(support)
        A = np.ones((k + 1, k + 1))
        A[:k, :k] = K[np.ix_(support, support)]
        A[k, k] = 0.0
        rhs = np.zeros(k + 1)
        rhs[k] = 1.0
        x = np.linalg.lstsq(A, rhs, rcond=None)[0][:k]
        if not np.all(np.isfinite(x)):
            return alpha
        if np.all(x >= 0):
            candidate = np.zeros_like(alpha)
            candidate[support] = x / x.sum()
            after = candidate @ K @ candidate
            return candidate if after <= before + 1e-14 * abs(before) else alpha
        del support[int(np.argmin(x))]
    return alpha


class MGDA(Weighting):
    r"""MGDA: step along the min-norm point of the convex hull of the shared task gradients.

    Parameters
    ----------
    max_iter, tol, away_steps
        Passed to :func:`min_norm_weights`.

    Notes
    -----
    Sener & Koltun 2018 (see :func:`min_norm_weights`). On the shared parameters
    :math:`dW = \sum_{t \in P} \alpha_t g_t` with :math:`\alpha` the min-norm weights over the
    present tasks (a convex combination: the scale of one task's gradient); each task-specific
    parameter gets its own task's gradient, as in the paper's Algorithm 2. Scaling every
    gradient by :math:`c > 0` leaves :math:`\alpha` unchanged. An absent task is left out of the
    hull (its zero gradient would be the min-norm point). The reported cost is
    :math:`\sum_t J_t`. MGDA-UB is not implemented.
    """

    name = "mgda"
    _repr_fields = ("max_iter", "tol", "away_steps")

    def __init__(self, max_iter=1000, tol=1e-12, away_steps=True):
        super().__init__()
        self.max_iter = _check_int("max_iter", max_iter)
        self.tol = _check_real("tol", tol, 0.0)
        self.away_steps = bool(away_steps)

    def task_weights(self, batch):
        alpha = min_norm_weights(batch.present_gram(), self.max_iter, self.tol, self.away_steps)
        return batch.J.sum(), batch.expand(alpha), batch.present.astype(np.float64)


def cagrad_weights(K, c=0.4, max_iter=200, tol=1e-13):
    r"""CAGrad's direction as task weights: :math:`d = \sum_t \lambda_t g_t`.

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Gram matrix of the task gradients.
    c : float, default 0.4
        Radius of the ball around :math:`g_0` relative to :math:`\lVert g_0 \rVert`; 0 gives
        the average gradient.
    max_iter : int, default 200
        Steps of the one-dimensional root search below.
    tol : float, default 1e-13
        Relative accuracy of :math:`\lVert d - g_0 \rVert = \sqrt\phi` at which it stops.

    Returns
    -------
    ndarray of shape (n,)

    Notes
    -----
    Liu, Liu, Jin, Stone & Liu, "Conflict-averse gradient descent for multi-task learning",
    NeurIPS 2021. The primal problem looks, within a ball around the average gradient
    :math:`g_0 = \frac1n\sum_t g_t`, for the direction that most improves the worst task:

    .. math:: \max_{d} \min_t\, g_t \cdot d \quad \text{s.t.} \quad
              \lVert d - g_0 \rVert \le c\, \lVert g_0 \rVert

    Its dual over the simplex (:math:`g_w = \sum_t w_t g_t`, :math:`\sqrt\phi = c \lVert g_0 \rVert`)

    .. math:: \min_{w \in \Delta}\ g_w \cdot g_0 + \sqrt{\phi}\, \lVert g_w \rVert, \qquad
              d = g_0 + \frac{\sqrt{\phi}}{\lVert g_w \rVert}\, g_w

    (the paper's code hands the dual to SciPy's SLSQP). Here it is solved exactly for small
    ``n`` with the min-norm solver: the dual's optimality conditions,
    :math:`g_j \cdot (g_0 + \frac{\sqrt\phi}{\lVert g_w\rVert} g_w)` equal on the support of
    :math:`w` and no smaller off it, are those of the min-norm point of
    :math:`\operatorname{conv}\{g_0 + \tau g_t\}` (:func:`min_norm_weights`) with
    :math:`\tau = \sqrt\phi / \lVert g_w \rVert`. So a root search over the scalar :math:`\tau`
    for :math:`\tau \lVert g_{w(\tau)} \rVert = \sqrt\phi` gives :math:`d = g_0 + \tau g_{w}`,
    :math:`\lambda = \frac1n + \tau w`. A root exists unless 0 is in the hull of the task
    gradients (no direction improves every task); then :math:`d(\tau)` stops moving once
    :math:`\tau` is large enough (the min-norm point of a polytope shifted by :math:`-g_0/\tau`
    is piecewise linear in :math:`1/\tau`) and lies inside the ball: that :math:`d` is the
    optimum (:math:`d = 0` when 0 is inside the hull, :math:`g_0` when a task's gradient is
    zero). Near that degenerate case (0 barely inside the hull, :math:`c \approx 1`) :math:`\tau`
    is large and :math:`d`, a combination with coefficients of order :math:`\tau`, is accurate
    only to about :math:`\tau \sqrt{\varepsilon}` relative to the gradients. No rescaling (the
    official code's optional :math:`1/(1+c^2)`) is applied.
    """
    K = np.asarray(K, dtype=np.float64)
    n = K.shape[0]
    mean = np.full(n, 1.0 / n) if n else np.zeros(0)
    scale = float(np.trace(K)) / n if n else 0.0
    if c == 0.0 or scale <= 0.0:
        return mean
    Ks = K / scale                                  # scale-free: lambda does not depend on ||g||
    b = Ks @ mean                                   # b_t = g_t . g_0
    g0_sq = float(mean @ b)
    if g0_sq <= 1e-30:
        return mean                                 # g_0 = 0: a ball of radius 0 around it
    sqrt_phi = c * np.sqrt(g0_sq)

    def shifted(tau):
        """Min-norm weights of conv{g_0 + tau g_t} and tau ||g_w||."""
        K_tau = g0_sq + tau * (b[:, None] + b[None, :]) + tau * tau * Ks
        w = min_norm_weights(K_tau)
        return w, tau * np.sqrt(max(float(w @ Ks @ w), 0.0))

    lo, f_lo = 0.0, -sqrt_phi
    hi = max(c, 1e-3)
    w_hi, r_hi = shifted(hi)
    while r_hi < sqrt_phi:
        lo, f_lo, r_lo = hi, r_hi - sqrt_phi, r_hi
        hi *= 4.0
        w_hi, r_hi = shifted(hi)
        if r_hi < sqrt_phi and (r_hi <= r_lo * (1.0 + 1e-12) + 1e-15 * sqrt_phi or hi > 1e12):
            # No root: r(tau) has stopped growing, so 0 is in the hull and d(tau) no longer
            # moves with tau (see Notes): that d is the optimum, inside the ball.
            return mean + hi * w_hi
    f_hi = r_hi - sqrt_phi
    tau, w = hi, w_hi
    side = 0
    for _ in range(max_iter):
        if abs(f_hi) <= tol * sqrt_phi or hi - lo <= 1e-15 * hi:
            break
        # Illinois regula falsi: the secant step, with the stale end's value halved.
        tau = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        if not lo < tau < hi:
            tau = 0.5 * (lo + hi)
        w, r = shifted(tau)
        f = r - sqrt_phi
        if f > 0:
            hi, f_hi, w_hi = tau, f, w
            if side == 1:
                f_lo *= 0.5
            side = 1
        else:
            lo, f_lo = tau, f
            if side == -1:
                f_hi *= 0.5
            side = -1
        if abs(f) <= tol * sqrt_phi:
            break
    return mean + tau * w


class CAGrad(Weighting):
    r"""CAGrad (conflict-averse gradient descent) on the shared parameters.

    Parameters
    ----------
    c : float, default 0.4
        The ball's radius relative to :math:`\lVert g_0 \rVert` (``c = 0``: the average gradient).
    max_iter, tol
        Passed to :func:`cagrad_weights`.

    Notes
    -----
    See :func:`cagrad_weights` (Liu et al. 2021). On the shared parameters
    :math:`dW = g_0 + \frac{\sqrt\phi}{\lVert g_w \rVert} g_w` over the present tasks (the scale
    of the mean task gradient, as in the paper); each task-specific parameter gets its own
    task's gradient. The reported cost is :math:`\sum_t J_t`.
    """

    name = "cagrad"
    _repr_fields = ("c", "max_iter", "tol")

    def __init__(self, c=0.4, max_iter=200, tol=1e-13):
        super().__init__()
        self.c = _check_real("c", c, 0.0)
        self.max_iter = _check_int("max_iter", max_iter)
        self.tol = _check_real("tol", tol, 0.0)

    def task_weights(self, batch):
        lam = cagrad_weights(batch.present_gram(), self.c, self.max_iter, self.tol)
        return batch.J.sum(), batch.expand(lam), batch.present.astype(np.float64)


# ---------------------------------------------------------------------------------------------

WEIGHTINGS = {
    "equal": EqualWeighting,
    "per_task": PerTaskWeighting,
    "uncertainty": UncertaintyWeighting,
    "dwa": DynamicWeightAverage,
    "gradnorm": GradNorm,
    "pcgrad": PCGrad,
    "mgda": MGDA,
    "cagrad": CAGrad,
}


def get_weighting(weighting="equal", **kwargs):
    """A :class:`Weighting` from its name (keyword arguments go to its class), or the object itself.

    Parameters
    ----------
    weighting : str or Weighting
        One of :data:`WEIGHTINGS` (``"equal"``, ``"per_task"``, ``"uncertainty"``, ``"dwa"``,
        ``"gradnorm"``, ``"pcgrad"``, ``"mgda"``, ``"cagrad"``), or an instance, returned as is.
    """
    if isinstance(weighting, Weighting):
        if kwargs:
            raise ValueError(f"keyword arguments {sorted(kwargs)} apply to a weighting name, not to an object")
        return weighting
    if isinstance(weighting, str) and weighting in WEIGHTINGS:
        return WEIGHTINGS[weighting](**kwargs)
    raise ValueError(f"weighting must be one of {list(WEIGHTINGS)} or a mtl_numpy.weighting.Weighting; "
                     f"got {weighting!r}")
