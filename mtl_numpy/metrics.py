r"""Per-task evaluation with '?' labels excluded.

For each task ``j`` only the examples whose label is known (0 or 1) count;
``n_labelled`` says how many that was.
"""
from __future__ import annotations

import numbers

import numpy as np

from .backends import to_numpy
from .labels import TASKS, known_labels, unmask_labels, validate_labels

__all__ = ["task_metrics", "average_precision", "format_metrics_table", "mean_metric", "METRIC_NAMES"]

METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "average_precision", "n_labelled")


def average_precision(y, scores):
    r"""Average precision (area under the precision-recall steps), as scikit-learn defines it.

    Parameters
    ----------
    y : ndarray of shape (m,)
        0/1 labels (no '?').
    scores : ndarray of shape (m,)
        Higher means more likely positive.

    Returns
    -------
    float
        ``nan`` when there is no positive example.

    Notes
    -----
    .. math:: AP = \sum_n (R_n - R_{n-1}) P_n

    over the distinct score thresholds, highest first.
    """
    y = np.asarray(y, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    y, scores = y[order], scores[order]
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    # keep the last position of each run of equal scores (one threshold each)
    last = np.r_[np.flatnonzero(np.diff(scores) != 0), y.size - 1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def task_metrics(Y, AL, threshold=0.5, tasks=None):
    r"""Accuracy, precision, recall, F1, average precision and ``n_labelled`` per task.

    Parameters
    ----------
    Y : ndarray of shape (n_tasks, m)
        True labels, ``nan`` for '?' (those entries are left out).
    AL : ndarray of shape (n_tasks, m)
        Predicted probabilities (``model.predict_proba(X)``). NumPy or CuPy.
    threshold : float, default 0.5
        A prediction is 1 where ``AL > threshold``.
    tasks : sequence of str, optional
        Row names; defaults to :data:`mtl_numpy.TASKS` for 4 rows, else
        ``"task0"``, ``"task1"``, ...

    Returns
    -------
    dict of str to dict
        ``{task: {"accuracy", "precision", "recall", "f1", "average_precision",
        "n_labelled"}}``. Precision, recall and F1 are 0.0 when undefined
        (no predicted or no true positives, as scikit-learn's
        ``zero_division=0``); every metric is ``nan`` for a task with no label.
    """
    Y = to_numpy(unmask_labels(Y))
    AL = np.asarray(to_numpy(AL), dtype=np.float64)
    if AL.ndim != 2:
        raise ValueError(f"AL must be 2-D with shape (n_tasks, m); got shape {AL.shape}")
    finite = np.isfinite(AL)
    if not finite.all():
        j, i = (int(v) for v in np.argwhere(~finite)[0])
        raise ValueError(
            f"AL[{j}, {i}] = {float(AL[j, i])!r}: AL must hold finite probabilities; "
            f"{int(AL.size - finite.sum())} of {AL.size} entries are nan or inf "
            "(did training diverge? a model with non-finite weights predicts nan)"
        )
    Y = validate_labels(Y, n_tasks=AL.shape[0], m=AL.shape[1])
    if not isinstance(threshold, numbers.Real) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1]; got {threshold!r}")
    n_tasks = Y.shape[0]
    if tasks is None:
        tasks = TASKS if n_tasks == len(TASKS) else tuple(f"task{j}" for j in range(n_tasks))
    tasks = tuple(tasks)
    if len(tasks) != n_tasks:
        raise ValueError(f"tasks must name the {n_tasks} rows of Y; got {len(tasks)} names")
    out = {}
    for j, task in enumerate(tasks):
        known = known_labels(Y[j])
        y = Y[j, known]
        p = AL[j, known]
        n = int(known.sum())
        if n == 0:
            out[task] = {k: float("nan") for k in METRIC_NAMES[:-1]}
            out[task]["n_labelled"] = 0
            continue
        pred = p > threshold
        truth = y == 1
        tp = float(np.sum(pred & truth))
        fp = float(np.sum(pred & ~truth))
        fn = float(np.sum(~pred & truth))
        precision = tp / (tp + fp) if tp + fp > 0 else 0.0
        recall = tp / (tp + fn) if tp + fn > 0 else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        out[task] = {
            "accuracy": float(np.mean(pred == truth)),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "average_precision": average_precision(y, p),
            "n_labelled": n,
        }
    return out


def mean_metric(metrics, name="accuracy"):
    """Mean of one metric over the tasks of a :func:`task_metrics` result (nan-aware)."""
    values = [row[name] for row in metrics.values()]
    return float(np.nanmean(values)) if values else float("nan")


def format_metrics_table(metrics, title=None):
    """The per-task table as text, one row per task plus the mean."""
    header = f"{'task':<15}{'accuracy':>9}{'precision':>10}{'recall':>8}{'f1':>7}{'AP':>7}{'labelled':>10}"
    lines = [title] if title else []
    lines += [header, "-" * len(header)]
    for task, row in metrics.items():
        lines.append(
            f"{task:<15}{row['accuracy']:>9.3f}{row['precision']:>10.3f}{row['recall']:>8.3f}"
            f"{row['f1']:>7.3f}{row['average_precision']:>7.3f}{row['n_labelled']:>10d}"
        )
    lines.append("-" * len(header))
    lines.append(
        f"{'mean':<15}{mean_metric(metrics, 'accuracy'):>9.3f}{mean_metric(metrics, 'precision'):>10.3f}"
        f"{mean_metric(metrics, 'recall'):>8.3f}{mean_metric(metrics, 'f1'):>7.3f}"
        f"{mean_metric(metrics, 'average_precision'):>7.3f}"
    )
    return "\n".join(lines)
