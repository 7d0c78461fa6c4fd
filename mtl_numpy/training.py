r"""Mini-batch training: ``fit`` and its ``History``.

The loop is the course's: every epoch, shuffle the examples with a seeded
generator, cut them into mini-batches of ``batch_size`` (the last one may be
smaller), and for each batch run forward, the masked cost, backward and one
optimizer step. The same seed gives bitwise-identical parameters.
"""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from .backends import to_numpy
from .metrics import task_metrics
from .optim import Adam, Optimizer

__all__ = ["fit", "History", "random_mini_batches", "predict_proba_batched", "evaluate"]


@dataclass
class History:
    """What :func:`fit` recorded, one entry per epoch.

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
    """

    train_cost: list = field(default_factory=list)
    val_cost: list = field(default_factory=list)
    val_metrics: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    tasks: tuple = ()

    @property
    def epochs(self):
        """Number of epochs recorded."""
        return len(self.train_cost)

    def metric_curve(self, task, metric="accuracy"):
        """The validation ``metric`` of ``task`` after each epoch."""
        return [row[task][metric] for row in self.val_metrics]

    def to_dict(self):
        return {"train_cost": list(self.train_cost), "val_cost": list(self.val_cost),
                "val_metrics": list(self.val_metrics), "seconds": list(self.seconds),
                "tasks": list(self.tasks)}


def random_mini_batches(m, batch_size, rng):
    """Shuffle ``range(m)`` with ``rng`` and cut it into index arrays of ``batch_size``.

    The last batch holds the ``m % batch_size`` leftovers, as in the course.
    """
    permutation = rng.permutation(m)
    return [permutation[k:k + batch_size] for k in range(0, m, batch_size)]


def predict_proba_batched(model, X, batch_size=1024):
    """``model.predict_proba(X)`` computed ``batch_size`` examples at a time (bounded memory)."""
    X = model._prepare(X)
    return _proba_prepared(model, X, batch_size)


def _proba_prepared(model, X, batch_size):
    m = model.n_examples(X)
    xp = model.backend.xp
    parts = []
    for k in range(0, m, batch_size):
        ZL, _ = model._forward(model.take_examples(X, slice(k, k + batch_size)))
        parts.append(model.backend.sigmoid(ZL))
    return xp.concatenate(parts, axis=1)


def _cost_prepared(model, X, Y, batch_size):
    """Cost of a prepared set, in chunks, combined exactly for either normalization."""
    m = model.n_examples(X)
    total, weight = 0.0, 0
    for k in range(0, m, batch_size):
        sl = slice(k, k + batch_size)
        Yk = Y[:, sl]
        J = model._cost(model.take_examples(X, sl), Yk)
        w = Yk.shape[1] if model.normalize == "examples" else int((~model.backend.xp.isnan(Yk)).sum())
        total += J * w
        weight += w
    return total / weight if weight else 0.0


def evaluate(model, X, Y, tasks=None, batch_size=1024, threshold=0.5):
    """Cost and :func:`task_metrics` of ``model`` on ``(X, Y)``: ``(J, metrics)``."""
    Xb, Yb = model._prepare(X, Y)
    J = _cost_prepared(model, Xb, Yb, batch_size)
    AL = _proba_prepared(model, Xb, batch_size)
    return J, task_metrics(to_numpy(Yb), to_numpy(AL), threshold=threshold, tasks=tasks)


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def fit(model, X, Y, optimizer=None, epochs=10, batch_size=64, validation=None, seed=0,
        progress=True, tasks=None, callback=None):
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

    Raises
    ------
    ValueError
        For bad arguments (before any training happens).
    FloatingPointError
        If the cost becomes nan or inf (lower the learning rate).
    """
    epochs = _check_int("epochs", epochs)
    batch_size = _check_int("batch_size", batch_size)
    if optimizer is None:
        optimizer = Adam(learning_rate=1e-3)
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"optimizer must be an mtl_numpy Optimizer (e.g. mtl.Adam()); got {optimizer!r}")
    if seed is not None and not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an int or None; got {seed!r}")
    Xb, Yb = model._prepare(X, Y)
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise ValueError("validation must be a tuple (X_val, Y_val)")
        try:
            X_val, Y_val = model._prepare(*validation)
        except ValueError as exc:
            raise ValueError(f"validation: {exc}") from None
    m = model.n_examples(Xb)
    rng = np.random.default_rng(seed)
    n_batches = math.ceil(m / batch_size)
    history = History(tasks=tuple(tasks) if tasks is not None else ())

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * n_batches, desc="fit", unit="batch", leave=True)
    try:
        for epoch in range(epochs):
            start = time.perf_counter()
            total, seen = 0.0, 0
            for idx in random_mini_batches(m, batch_size, rng):
                idx = model.backend.asarray(idx)
                X_batch = model.take_examples(Xb, idx)
                Y_batch = Yb[:, idx]
                J, grads = model._cost_and_grads(X_batch, Y_batch)
                if not math.isfinite(J):
                    raise FloatingPointError(
                        f"the cost became {J} at epoch {epoch + 1}: lower the learning rate "
                        f"(now {optimizer.learning_rate})"
                    )
                optimizer.update(model.params, grads)
                total += J * len(idx)
                seen += len(idx)
                if bar is not None:
                    bar.update(1)
            history.train_cost.append(total / seen)
            postfix = {"cost": f"{history.train_cost[-1]:.4f}"}
            if validation is not None:
                J_val = _cost_prepared(model, X_val, Y_val, 1024)
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
            if callback is not None:
                callback(epoch, history)
    finally:
        if bar is not None:
            bar.close()
    return history
