r"""Experiment 4 — the masked cost vs filling '?' with 0 vs dropping incomplete examples.

At several missing rates (the same rate for every task) we train one
``SharedMLP([n_x, h, 4])`` three ways:

* ``masked``: the lecture's cost, '?' enters neither cost nor gradient;
* ``zero_filled``: '?' replaced by 0 ("not present") — a biased label;
* ``dropped``: only the examples labelled for every task are kept (given at
  least as many mini-batch steps as the full runs). At high missing rates few or
  no examples survive (``0.9`` missing leaves ``0.1**4`` of them); a run with no
  training example records ``nan``.

On held-out scenes we record accuracy, average precision and the calibration
``bias`` = mean predicted probability − true base rate, per task.
"""
from __future__ import annotations

import numpy as np

from ..models import SharedMLP
from .common import ExperimentResult, Recorder, Timer, epochs_for, evaluate_truth, finish_figure, \
    require_matplotlib, run_progress, scenes, train

__all__ = ["run", "plot", "CONDITIONS", "DEFAULT_RATES"]

CONDITIONS = ("masked", "zero_filled", "dropped")
DEFAULT_RATES = (0.0, 0.3, 0.6, 0.9)
NAMES = ("accuracy", "average_precision", "bias")


def run(seeds=(0, 1, 2), rates=DEFAULT_RATES, m_train=4000, m_test=1000, image_size=16,
        hidden=128, epochs=15, batch_size=64, learning_rate=1e-3, backend="numpy", fast=False,
        progress=True):
    """Vary the missing rate; returns an :class:`ExperimentResult` (param = missing rate)."""
    if fast:
        seeds, rates, m_train, m_test, hidden, epochs = tuple(seeds)[:2], (0.0, 0.5), 800, 400, 32, 5
    settings = dict(seeds=list(seeds), rates=list(rates), m_train=m_train, m_test=m_test,
                    image_size=image_size, hidden=hidden, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, backend=backend, fast=fast)
    rec = Recorder()
    n_kept = {}
    bar = run_progress(len(seeds) * len(rates) * len(CONDITIONS), "masking", progress)
    with Timer() as timer:
        for seed in seeds:
            tr, te = scenes(m_train, m_test, image_size, seed)
            X, X_te = tr.flat(), te.flat()
            n_x, tasks = X.shape[0], tr.tasks
            steps = epochs * epochs_for(m_train, batch_size, 1)
            for rate in rates:
                Y = tr.hide_labels(float(rate), seed=seed + 7).Y
                full = np.flatnonzero(~np.isnan(Y).any(axis=0))
                n_kept.setdefault(rate, []).append(int(full.size))
                runs = {
                    "masked": (X, Y),
                    "zero_filled": (X, np.where(np.isnan(Y), 0.0, Y)),
                    "dropped": (X[:, full], Y[:, full]),
                }
                for cond in CONDITIONS:
                    Xc, Yc = runs[cond]
                    model = SharedMLP([n_x, hidden, len(tasks)], seed=seed, backend=backend)
                    if Xc.shape[1] == 0:
                        met = {t: {name: float("nan") for name in NAMES} for t in tasks}
                    else:
                        train(model, Xc, Yc, epochs=epochs, batch_size=batch_size,
                              learning_rate=learning_rate, seed=seed, min_steps=steps, max_epochs=2000)
                        met = evaluate_truth(model, X_te, te.Y_true, tasks, with_bias=True)
                    rec.add_metrics(cond, rate, met, names=NAMES)
                    bar.update()
    bar.close()
    return ExperimentResult("masking", "missing", rec.rows(), settings, timer.seconds,
                            notes={"fully_labelled_examples": {str(r): v for r, v in n_kept.items()}})


def plot(result, path=None):
    """Left: calibration bias (mean over tasks) vs missing rate; right: accuracy (mean over tasks)."""
    plt = require_matplotlib()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, metric, title in ((axes[0], "bias", "mean predicted p − true base rate"),
                              (axes[1], "accuracy", "held-out accuracy")):
        for cond in result.conditions:
            per_task = [result.curve(cond, t, metric) for t in result.tasks]
            rates = per_task[0][0]
            means = np.array([c[1] for c in per_task])
            ok = np.isfinite(means).all(axis=0)
            mean = np.where(ok, means.mean(axis=0) if means.size else np.nan, np.nan)
            lo, hi = np.nanmin(means, axis=0), np.nanmax(means, axis=0)
            xs = np.array(rates, dtype=float)
            ax.plot(xs[ok], mean[ok], marker="o", label=cond)
            ax.fill_between(xs[ok], lo[ok], hi[ok], alpha=0.15)
        if metric == "bias":
            ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel("missing rate ('?' per label)")
        ax.set_ylabel(f"{metric} (mean over tasks; band = task range)")
        ax.set_title(title)
        ax.legend(fontsize=8)
    return finish_figure(fig, path)
