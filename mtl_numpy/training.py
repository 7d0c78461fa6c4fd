r"""Mini-batch training: ``fit`` and its ``History``.

The loop is the course's: every epoch, shuffle the examples with a seeded
generator, cut them into mini-batches of ``batch_size`` (the last one may be
smaller), and for each batch run forward, the masked cost, backward and one
optimizer step. The same seed gives bitwise-identical parameters.

The batches are validated once (``model.prepare``) and every step then runs on
the prepared arrays (``model.prepared_cost_and_grads``). With ``weighting=`` other
than ``"equal"`` a step combines the tasks' own costs and gradients by a method of
:mod:`mtl_numpy.weighting` (:class:`_WeightedStep`), and ``track_conflict=k`` records
:func:`gradient_conflict` every ``k`` steps. Optionally ``fit``
watches a validation score and gives the model back the parameters of its best
epoch (``restore_best``), stopping once the score stops improving
(``early_stopping``).
"""
from __future__ import annotations

import math
import numbers
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .backends import get_array_module, to_numpy
from .diagnostics import conflict_from_task_grads
from .guards import ParameterSnapshot, TrainingDiverged, all_finite, deferred_interrupt
from .labels import TASKS, known_labels
from .metrics import task_metrics
from .optim import Adam, Optimizer
from .weighting import (DynamicWeightAverage, EqualWeighting, PerTaskWeighting,
                        UncertaintyWeighting, Weighting, batch_counts, get_weighting)

__all__ = ["fit", "History", "random_mini_batches", "predict_proba_batched", "evaluate",
           "gradient_conflict"]


@dataclass
class History:
    r"""What :func:`fit` recorded, one entry per epoch.

    Attributes
    ----------
    train_cost : list of float
        Mean mini-batch cost over the epoch (weighted by batch size).
    val_cost : list of float
        Cost on the validation set after the epoch (empty without validation).
    val_metrics : list of dict
        :func:`mtl_numpy.task_metrics` on the validation set after each epoch.
    seconds : list of float
        Wall time of each epoch, validation included.
    tasks : tuple of str
    scores : dict of int to float
        The monitored score after each monitored epoch (1-based), when :func:`fit`
        monitored one (``restore_best``, ``early_stopping``); else empty.
    best_epoch : int or None
        The monitored epoch with the lowest score (1-based; 0 if no score was finite),
        whose parameters the model was given back; None when nothing was monitored.
    stopped_early : bool
        True when ``early_stopping`` ended training before ``epochs``.
    steps : int
        Optimizer steps completed (mini-batches).
    interrupted : dict or None
        ``{"epoch": e, "step": s}`` when ``Ctrl-C`` stopped :func:`fit` (the model then
        holds the parameters after step ``s``, the last one completed; the lists above
        cover the completed epochs); None when the run finished.
    weighting : str
        The weighting method's name (``"equal"``: the lecture's summed cost).
    train_task_cost : list of list of float
        Each task's mean mini-batch cost over the epoch (``J_t``, as
        ``model.task_costs_and_grads`` normalises it); empty for ``"equal"``, whose step
        never splits the cost by task.
    task_weights : list of list of float
        The task weights :math:`\lambda_t` the method applied at each step (on the shared
        parameters; 0 for a task with no label in the batch); empty for ``"equal"``.
    conflict : list of dict
        With ``track_conflict=k``: every ``k`` steps (from step 1), ``{"epoch", "step",
        "weights"}`` plus :meth:`mtl_numpy.diagnostics.GradientConflict.to_dict` of that
        step's mini-batch, taken before the update (``"weights"``: the task weights of the
        step, None for ``"equal"``).
    """

    train_cost: list = field(default_factory=list)
    val_cost: list = field(default_factory=list)
    val_metrics: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    tasks: tuple = ()
    scores: dict = field(default_factory=dict)
    best_epoch: object = None
    stopped_early: bool = False
    steps: int = 0
    interrupted: object = None
    weighting: str = "equal"
    train_task_cost: list = field(default_factory=list)
    task_weights: list = field(default_factory=list)
    conflict: list = field(default_factory=list)

    @property
    def epochs(self):
        """Number of epochs recorded."""
        return len(self.train_cost)

    def metric_curve(self, task, metric="accuracy"):
        """The validation ``metric`` of ``task`` after each epoch."""
        return [row[task][metric] for row in self.val_metrics]

    def conflict_curve(self, task_i, task_j, layer=None):
        """``(steps, cosines)``: the tracked cosine between two tasks' gradients (names or
        indices) over training, on all the shared parameters or on one ``layer`` key."""
        if not self.conflict:
            return [], []
        names = self.conflict[0]["tasks"]
        i = names.index(task_i) if isinstance(task_i, str) else int(task_i)
        j = names.index(task_j) if isinstance(task_j, str) else int(task_j)
        steps, values = [], []
        for row in self.conflict:
            matrix = row["cosine"] if layer is None else row["layer_cosine"][layer]
            steps.append(row["step"])
            values.append(matrix[i][j])
        return steps, values

    def to_dict(self):
        return {"train_cost": list(self.train_cost), "val_cost": list(self.val_cost),
                "val_metrics": list(self.val_metrics), "seconds": list(self.seconds),
                "tasks": list(self.tasks), "scores": {str(k): v for k, v in self.scores.items()},
                "best_epoch": self.best_epoch, "stopped_early": self.stopped_early,
                "steps": self.steps, "interrupted": self.interrupted, "weighting": self.weighting,
                "train_task_cost": list(self.train_task_cost), "task_weights": list(self.task_weights),
                "conflict": list(self.conflict)}


def random_mini_batches(m, batch_size, rng):
    """Shuffle ``range(m)`` with ``rng`` and cut it into index arrays of ``batch_size``.

    The last batch holds the ``m % batch_size`` leftovers, as in the course.
    """
    permutation = rng.permutation(m)
    return [permutation[k:k + batch_size] for k in range(0, m, batch_size)]


def predict_proba_batched(model, X, batch_size=1024):
    """``model.predict_proba(X)`` computed ``batch_size`` examples at a time (bounded memory)."""
    return _proba_prepared(model, model.prepare(X), batch_size)


def _proba_prepared(model, Xp, batch_size):
    m = model.n_examples(Xp)
    parts = [model.prepared_proba(model.take_examples(Xp, slice(k, k + batch_size)))
             for k in range(0, m, batch_size)]
    return get_array_module(parts[0]).concatenate(parts, axis=1)


def _cost_prepared(model, Xp, Yp, batch_size):
    """Cost of a prepared set, in chunks, combined exactly for either normalization."""
    m = model.n_examples(Xp)
    total, weight = 0.0, 0
    for k in range(0, m, batch_size):
        sl = slice(k, k + batch_size)
        Yk = Yp[:, sl]
        J = model.prepared_cost(model.take_examples(Xp, sl), Yk)
        w = Yk.shape[1] if model.normalize == "examples" else int(known_labels(Yk).sum())
        total += J * w
        weight += w
    return total / weight if weight else 0.0


def evaluate(model, X, Y, tasks=None, batch_size=1024, threshold=0.5):
    """Cost and :func:`task_metrics` of ``model`` on ``(X, Y)``: ``(J, metrics)``."""
    Xp, Yp = model.prepare(X, Y)
    J = _cost_prepared(model, Xp, Yp, batch_size)
    AL = _proba_prepared(model, Xp, batch_size)
    return J, task_metrics(to_numpy(Yp), to_numpy(AL), threshold=threshold, tasks=tasks)


def gradient_conflict(model, X, Y, tasks=None, by="layer"):
    r"""How the tasks' gradients on the shared parameters line up on one batch.

    Parameters
    ----------
    model : SharedMLP or SharedCNN
        With or without heads; the cosines are taken on ``model.shared``.
    X : ndarray
        The model's input layout.
    Y : ndarray of shape (n_tasks, m)
        Labels with ``nan`` for '?'; a task with no known label in the batch gets 0 in every
        entry (never NaN) and is left out of the summaries.
    tasks : sequence of str, optional
        Task names (default :data:`mtl_numpy.TASKS` for four tasks, else ``"task0"``, ...).
    by : {"layer", "parameter"} or callable, default "layer"
        Grouping of the per-layer matrices (``W1`` and ``b1`` form layer ``"1"``).

    Returns
    -------
    mtl_numpy.diagnostics.GradientConflict
        ``cosine`` (n_tasks, n_tasks) over all the shared parameters, ``layer_cosine`` per
        layer, ``norms`` and ``norm_ratio`` (each task's gradient norm over the mean);
        ``print()`` it for a table.

    Notes
    -----
    With :math:`g_t = \partial J_t / \partial \theta_{shared}` from
    ``model.task_costs_and_grads`` (one forward, one backward):

    .. math:: \cos_{ij} = \frac{\langle g_i, g_j \rangle}{\lVert g_i \rVert \lVert g_j \rVert}
    """
    Xp, Yp = model.prepare(X, Y)
    return _conflict_prepared(model, Xp, Yp, tasks=tasks, by=by)


def _default_tasks(model, tasks):
    if tasks is None:
        n = model.n_tasks
        return TASKS if n == len(TASKS) else tuple(f"task{t}" for t in range(n))
    tasks = tuple(str(t) for t in tasks)
    if len(tasks) != model.n_tasks:
        raise ValueError(f"tasks must name the model's {model.n_tasks} tasks; got {len(tasks)} names")
    return tasks


def _conflict_prepared(model, Xp, Yp, tasks=None, by="layer", G=None, n_labelled=None):
    if not model.shared:
        raise ValueError(f"{model!r} has no shared parameters: there is no gradient conflict to measure")
    if G is None:
        _, G = model.prepared_task_costs_and_grads(Xp, Yp)
    if n_labelled is None:
        n_labelled, _ = batch_counts(Yp)
    return conflict_from_task_grads(G, shared=model.shared, n_labelled=n_labelled,
                                    tasks=_default_tasks(model, tasks), by=by)


#: Loss-weighting methods whose combined gradient is the model's backward of ``dZL`` with row
#: ``t`` scaled by ``w_t`` (linearity): they never need the per-task gradients G.
_LOSS_WEIGHTINGS = (PerTaskWeighting, UncertaintyWeighting, DynamicWeightAverage)


class _WeightedStep:
    r"""One mini-batch's cost and gradients under a weighting method (``fit``'s step).

    * ``"equal"`` (the name, or exactly an :class:`~mtl_numpy.weighting.EqualWeighting`):
      ``model.prepared_cost_and_grads``, the lecture's step, untouched;
    * the loss-weighting methods of :data:`_LOSS_WEIGHTINGS` (exactly those classes): one
      forward, each task's cost, then ``weighting.combine`` on the gradients with respect to
      the logits (``G["ZL"][t]`` is ``dZL`` masked to row ``t``) and ONE ordinary backward of
      the combined ``dZL``: :math:`\sum_t w_t\, \partial J_t/\partial\theta` is the backward of
      :math:`\sum_t w_t\, dZ^{[L]}_t` because backward is linear;
    * every other method (gradnorm, pcgrad, mgda, cagrad, custom objects):
      ``model.prepared_task_costs_and_grads`` then ``weighting.combine``.
    """

    def __init__(self, model, weighting):
        if isinstance(weighting, str) and weighting == "equal":
            weighting = None
        elif weighting is not None:
            weighting = get_weighting(weighting)
            if type(weighting) is EqualWeighting:
                weighting = None
        self.model = model
        self.weighting = weighting
        if weighting is None:
            self.mode, self.name = "equal", "equal"
        else:
            self.name = getattr(weighting, "name", type(weighting).__name__)
            self.mode = "logits" if type(weighting) in _LOSS_WEIGHTINGS else "tasks"
        self.G = self.n_labelled = None     # the last step's, for the conflict tracker

    @property
    def params(self):
        """The learnable weights (``weighting.params``; empty for most methods)."""
        return {} if self.weighting is None else self.weighting.params

    def __call__(self, Xb, Yb):
        """``(J, grads, J_t, weights)`` of a prepared batch (``J_t``, ``weights`` None for equal)."""
        model, w = self.model, self.weighting
        self.G = None
        if w is None:
            J, grads = model.prepared_cost_and_grads(Xb, Yb)
            return J, grads, None, None
        self.n_labelled, m = batch_counts(Yb)
        if self.mode == "logits":
            J_t, dZL, caches = model.prepared_task_logits(Xb, Yb)
            xp = get_array_module(dZL)
            T = dZL.shape[0]
            G_ZL = xp.zeros((T,) + tuple(dZL.shape), dtype=dZL.dtype)
            rows = xp.arange(T)
            G_ZL[rows, rows] = dZL
            J, g = w.combine(J_t, {"ZL": G_ZL}, shared=(), n_labelled=self.n_labelled, m=m,
                             normalize=model.normalize)
            grads = model.backward(g["dZL"], caches)
        else:
            J_t, G = model.prepared_task_costs_and_grads(Xb, Yb)
            J, grads = w.combine(J_t, G, shared=model.shared, n_labelled=self.n_labelled, m=m,
                                 normalize=model.normalize)
            self.G = G
        clash = set(w.grads) & set(grads)
        if clash:
            raise ValueError(f"weighting's learnable parameters {sorted(clash)} clash with the "
                             f"model's parameter names")
        grads.update(w.grads)
        return J, grads, J_t, np.array(w.last_weights, dtype=np.float64)

    def epoch_end(self):
        if self.weighting is not None:
            self.weighting.epoch_end()


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


class _BestCheckpoint:
    """The lowest monitored score so far and a copy of the parameters that scored it."""

    def __init__(self):
        self.score, self.epoch, self.params = math.inf, 0, None

    def offer(self, epoch, score, params):
        """Keep ``params`` (copied) if ``score`` beats the best; True if it did."""
        if score < self.score:
            self.score, self.epoch = score, epoch
            self.params = {k: v.copy() for k, v in params.items()}
            return True
        return False

    def restore(self, params):
        """Write the kept parameters back into the live arrays of ``params``."""
        if self.params is not None:
            for k, v in self.params.items():
                params[k][...] = v


def fit(model, X, Y, optimizer=None, epochs=10, batch_size=64, validation=None, seed=0,
        progress=True, tasks=None, callback=None, *, restore_best=False, early_stopping=None,
        monitor=None, monitor_epochs=None, weighting="equal", track_conflict=None):
    r"""Train ``model`` on ``(X, Y)`` with seeded mini-batches; returns a :class:`History`.

    Parameters
    ----------
    model : SharedMLP or SharedCNN
        Trained in place (``model.params`` is updated).
    X : ndarray
        ``(n_x, m)`` for the MLP, ``(m, n_H, n_W, n_C)`` for the CNN.
    Y : ndarray of shape (n_tasks, m)
        Labels with ``nan`` for '?'; a '?' contributes to neither cost nor gradient.
    optimizer : Optimizer, default ``Adam(learning_rate=1e-3)``
    epochs : int, default 10
    batch_size : int, default 64
    validation : tuple ``(X_val, Y_val)``, optional
        Evaluated after every epoch (cost and per-task metrics).
    seed : int, default 0
        Seeds the shuffling.
    progress : bool, default True
        Show a tqdm progress bar.
    tasks : sequence of str, optional
        Task names for the metrics.
    callback : callable, optional
        ``callback(epoch, history)`` after every epoch.
    restore_best : bool, default False
        Watch a score after the monitored epochs (see ``monitor``) and, at the end,
        copy the parameters of the epoch with the lowest score back into
        ``model.params`` (in place: the arrays stay live). ``history.best_epoch``
        says which epoch that was.
    early_stopping : int or None, default None
        Patience: stop once that many monitored epochs in a row have not lowered the
        best score, then restore the best parameters (implies ``restore_best``).
    monitor : callable, optional
        ``monitor(model) -> float``, lower is better. Default: the validation cost
        (``history.val_cost``), which needs ``validation``.
    monitor_epochs : collection of int, optional
        The epochs (1-based) after which the score is taken; default every epoch.
        The last epoch is always among them.
    weighting : str or mtl_numpy.weighting.Weighting, default "equal"
        How the tasks' costs and gradients are combined each step: ``"equal"`` (the
        lecture's summed cost, today's step exactly), ``"per_task"``, ``"uncertainty"``,
        ``"dwa"``, ``"gradnorm"``, ``"pcgrad"``, ``"mgda"``, ``"cagrad"`` (see
        :mod:`mtl_numpy.weighting`), or an object from there (e.g.
        ``mtl.weighting.CAGrad(c=0.2)``; it keeps its state, so reuse means continue).
        Learnable weights (``"uncertainty"``'s log variances, ``"gradnorm"``'s weights) are
        updated by ``optimizer`` in the same step, checked for divergence and restored with
        the model's parameters. A task with no label in a batch contributes nothing.
        ``"equal"`` is the model's own cost, so with ``normalize="labels"`` it is normalised
        by all the batch's known labels (not a sum of per-task means).
    track_conflict : int or None, default None
        Every ``track_conflict`` steps (from step 1), record :func:`gradient_conflict` of the
        step's mini-batch in ``history.conflict`` (reusing the step's per-task gradients
        when the method computed them).

    Raises
    ------
    ValueError
        For bad arguments (before any training happens).
    mtl_numpy.guards.TrainingDiverged
        (a ``FloatingPointError``) if the training cost, the parameters after an update or
        the validation cost become nan or inf. It names the epoch and the step; the model is
        first restored to the last finite parameters (the best monitored epoch's when
        ``restore_best``/``early_stopping`` kept one), so a diverged run never leaves nan
        weights behind.

    Notes on interrupts
    -------------------
    Each step is atomic: ``Ctrl-C`` (``KeyboardInterrupt``) is held back while the optimizer
    updates the parameters and delivered right after, and any other exception raised inside
    an update puts the parameters back as they were before it. An interrupted ``fit``
    returns normally with ``history.interrupted`` set (the model at the last completed step,
    the history up to it), so a caller can still evaluate or save what was learnt.

    Notes
    -----
    With ``restore_best``, the model that comes back is the one a separate run of
    ``history.best_epoch`` epochs would have produced (same seed, same batches):
    the kept parameters are a copy taken right after that epoch.
    """
    epochs = _check_int("epochs", epochs)
    batch_size = _check_int("batch_size", batch_size)
    if optimizer is None:
        optimizer = Adam(learning_rate=1e-3)
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"optimizer must be an mtl_numpy Optimizer (e.g. mtl.Adam()); got {optimizer!r}")
    if seed is not None and not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an int or None; got {seed!r}")
    if early_stopping is not None:
        early_stopping = _check_int("early_stopping", early_stopping)
    watching = bool(restore_best) or early_stopping is not None
    if monitor is not None and not callable(monitor):
        raise ValueError(f"monitor must be a callable monitor(model) -> float; got {monitor!r}")
    if watching and monitor is None and validation is None:
        raise ValueError("restore_best and early_stopping need a score: pass validation=(X_val, Y_val) "
                         "or monitor=callable(model)")
    if monitor_epochs is not None:
        monitor_epochs = {_check_int("monitor_epochs entries", e) for e in monitor_epochs} | {epochs}
    if not (isinstance(weighting, (str, Weighting))):
        raise ValueError(f"weighting must be a name (e.g. 'pcgrad') or a mtl_numpy.weighting.Weighting; "
                         f"got {weighting!r}")
    stepper = _WeightedStep(model, weighting)
    if track_conflict is not None:
        track_conflict = _check_int("track_conflict", track_conflict)
        if not model.shared:
            raise ValueError(f"track_conflict needs shared parameters; {model!r} has none")
    Xp, Yp = model.prepare(X, Y)
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise ValueError("validation must be a tuple (X_val, Y_val)")
        try:
            X_val, Y_val = model.prepare(*validation)
        except ValueError as exc:
            raise ValueError(f"validation: {exc}") from None
    m = model.n_examples(Xp)
    rng = np.random.default_rng(seed)
    n_batches = math.ceil(m / batch_size)
    history = History(tasks=tuple(tasks) if tasks is not None else (), weighting=stepper.name)
    best = _BestCheckpoint() if watching else None
    since_best = 0

    def trainable():
        # the model's parameters and the method's learnable weights (live arrays, one dict)
        return {**model.params, **stepper.params}

    guarded = trainable()
    last_good = ParameterSnapshot(guarded)           # the parameters after the last good step
    step = 0

    epoch_start = ParameterSnapshot(guarded) if validation is not None else None

    def diverged(epoch, what, hint):
        if best is not None and best.params is not None:
            best.restore(guarded)
            restored = f"the parameters of its best epoch so far ({best.epoch})"
        elif what == "validation cost":
            # the weights are finite but already useless: back to the epoch's start
            epoch_start.restore(guarded)
            restored = (f"the parameters at the start of epoch {epoch + 1}" if epoch
                        else "its parameters before training")
        else:
            last_good.restore(guarded)
            restored = (f"the parameters after step {history.steps}" if history.steps
                        else "its parameters before training")
        return TrainingDiverged(epoch + 1, step, what, restored, hint)

    rate_hint = (f"the learning rate {optimizer.learning_rate:g} is too high for this model and "
                 "data (try a tenth of it)")

    epoch, bar = 0, None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * n_batches, desc="fit", unit="batch", leave=True)
    try:
        for epoch in range(epochs):
            start = time.perf_counter()
            total, seen = 0.0, 0
            task_total = None
            if epoch_start is not None and epoch:
                epoch_start.take(guarded)
            for idx in random_mini_batches(m, batch_size, rng):
                step += 1
                idx = model.backend.asarray(idx)
                Xb, Yb = model.take_examples(Xp, idx), Yp[:, idx]
                # overflow shows up as inf/nan, which the checks below turn into one clear error
                with np.errstate(over="ignore", invalid="ignore"):
                    J, grads, J_t, weights = stepper(Xb, Yb)
                if not math.isfinite(J):
                    raise diverged(epoch, "training cost", rate_hint)
                if track_conflict is not None and (step - 1) % track_conflict == 0:
                    with np.errstate(over="ignore", invalid="ignore"):
                        conflict = _conflict_prepared(model, Xb, Yb, tasks=tasks, G=stepper.G,
                                                      n_labelled=stepper.n_labelled if stepper.G is not None else None)
                    history.conflict.append({"epoch": epoch + 1, "step": step,
                                             "weights": None if weights is None else weights.tolist(),
                                             **conflict.to_dict()})
                if stepper.params and set(stepper.params) != set(guarded) - set(model.params):
                    # the method made its learnable weights at its first step: guard them too
                    guarded = trainable()
                    last_good = ParameterSnapshot(guarded)
                    if epoch_start is not None:
                        epoch_start = ParameterSnapshot(guarded)
                # One step, atomic: Ctrl-C waits for its end; a failure inside it undoes it.
                with deferred_interrupt():
                    try:
                        with np.errstate(over="ignore", invalid="ignore"):
                            optimizer.update(guarded, grads)
                        finite = all_finite(guarded)   # one reduction per parameter
                    except BaseException:
                        last_good.restore(guarded)
                        raise
                    if finite:
                        last_good.take(guarded)
                        history.steps += 1
                if not finite:
                    raise diverged(epoch, "parameters", rate_hint)
                total += J * len(idx)
                seen += len(idx)
                if J_t is not None:
                    task_total = J_t * len(idx) if task_total is None else task_total + J_t * len(idx)
                    history.task_weights.append(weights.tolist())
                if bar is not None:
                    bar.update(1)
            history.train_cost.append(total / seen)
            if task_total is not None:
                history.train_task_cost.append((task_total / seen).tolist())
            stepper.epoch_end()
            postfix = {"cost": f"{history.train_cost[-1]:.4f}"}
            if validation is not None:
                with np.errstate(over="ignore", invalid="ignore"):
                    J_val = _cost_prepared(model, X_val, Y_val, 1024)
                if not math.isfinite(J_val):
                    raise diverged(epoch, "validation cost",
                                   "finite weights so large that the logits overflow; " + rate_hint)
                AL_val = _proba_prepared(model, X_val, 1024)
                metrics = task_metrics(to_numpy(Y_val), to_numpy(AL_val), tasks=tasks)
                if not history.tasks:
                    history.tasks = tuple(metrics)
                history.val_cost.append(J_val)
                history.val_metrics.append(metrics)
                postfix["val_cost"] = f"{J_val:.4f}"
                postfix["val_acc"] = f"{np.nanmean([r['accuracy'] for r in metrics.values()]):.3f}"
            history.seconds.append(time.perf_counter() - start)
            if bar is not None:
                bar.set_postfix(postfix, refresh=False)
                bar.set_description(f"epoch {epoch + 1}/{epochs}")
            if watching and (monitor_epochs is None or epoch + 1 in monitor_epochs):
                score = float(monitor(model)) if monitor is not None else history.val_cost[-1]
                history.scores[epoch + 1] = score
                since_best = 0 if best.offer(epoch + 1, score, guarded) else since_best + 1
            if callback is not None:
                callback(epoch, history)
            if early_stopping is not None and since_best >= early_stopping:
                history.stopped_early = epoch + 1 < epochs
                break
    except KeyboardInterrupt:
        # the model holds the parameters after the last completed step (steps are atomic)
        history.interrupted = {"epoch": epoch + 1, "step": history.steps}
        print(f"fit: interrupted during epoch {epoch + 1}; the model holds the parameters after "
              f"step {history.steps}, the last one completed", file=sys.stderr, flush=True)
        return history
    finally:
        if bar is not None:
            bar.close()
    if watching:
        best.restore(guarded)
        history.best_epoch = best.epoch
    return history
