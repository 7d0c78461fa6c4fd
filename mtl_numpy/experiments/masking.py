r"""Experiment 4 — the masked cost vs filling '?' with 0 vs dropping incomplete examples.

At several missing rates (the same rate for every task) we train the four-output
CNN (:func:`~.common.scene_cnn`, width ``w``) three ways:

* ``masked``: the lecture's cost, '?' enters neither cost nor gradient;
* ``zero_filled``: '?' replaced by 0 ("not present") — a biased label;
* ``dropped``: only the examples labelled for every task are kept. At high missing rates few or
  no examples survive (``0.9`` missing leaves ``0.1**4`` of them); a run with no
  training example records ``nan``.

On held-out scenes we record accuracy, average precision and the calibration
``bias`` = mean predicted probability − true base rate, per task. Every run keeps its
best checkpoint on ``m_val`` validation scenes, scored against the full truth (early
stopping, the same for the three conditions; it cannot undo a biased label, only
pick the least bad epoch). Every run: Adam, ``epochs`` epochs over its training
examples and at least ``min_steps`` mini-batch steps (the dropped run, on few
examples, gets more epochs).
"""
from __future__ import annotations

import numpy as np

from ..labels import known_labels
from ..plotting import finish_figure, require_matplotlib
from .common import ExperimentResult, Recorder, Timer, blas_threads, evaluate_truth, \
    resolve_backend, run_progress, scene_cnn, scenes, train

__all__ = ["run", "plot", "CONDITIONS", "DEFAULT_RATES"]

CONDITIONS = ("masked", "zero_filled", "dropped")
DEFAULT_RATES = (0.0, 0.3, 0.6, 0.9)
NAMES = ("accuracy", "average_precision", "bias")


def run(seeds=(0, 1, 2), rates=DEFAULT_RATES, m_train=10000, m_val=1000, m_test=2000,
        image_size=16, width=16, epochs=10, min_steps=500, batch_size=64, learning_rate=3e-3,
        backend="auto", fast=False, progress=True):
    """Vary the missing rate; returns an :class:`ExperimentResult` (param = missing rate)."""
    if fast:
        seeds, rates, m_train, m_val, m_test = tuple(seeds)[:2], (0.0, 0.5), 800, 200, 400
        width, epochs, min_steps = 4, 2, 20
    backend = resolve_backend(backend)
    settings = dict(seeds=list(seeds), rates=list(rates), m_train=m_train, m_val=m_val, m_test=m_test,
                    image_size=image_size, width=width, epochs=epochs, min_steps=min_steps,
                    batch_size=batch_size,
                    learning_rate=learning_rate, backend=backend, fast=fast)
    rec = Recorder()
    n_kept = {}
    bar = run_progress(len(seeds) * len(rates) * len(CONDITIONS), "masking", progress)
    with Timer() as timer, blas_threads(1):
        for seed in seeds:
            tr, va, te = scenes(m_train, m_test, image_size, seed, m_val=m_val)
            X, X_te, tasks = tr.X, te.X, tr.tasks
            for rate in rates:
                Y = tr.hide_labels(float(rate), seed=seed + 7).Y
                known = known_labels(Y)
                full = np.flatnonzero(known.all(axis=0))
                n_kept.setdefault(rate, []).append(int(full.size))
                runs = {
                    "masked": (X, Y),
                    "zero_filled": (X, np.where(known, Y, 0.0)),
                    "dropped": (X[full], Y[:, full]),
                }
                same = bool(known.all())   # nothing hidden: the three runs are one
                for cond in CONDITIONS:
                    Xc, Yc = runs[cond]
                    if same and cond != CONDITIONS[0]:
                        pass   # ``met`` of the masked run, recorded again
                    elif Xc.shape[0] == 0:
                        met = {t: {name: float("nan") for name in NAMES} for t in tasks}
                    else:
                        model = scene_cnn(image_size, width, len(tasks), seed, backend)
                        train(model, Xc, Yc, epochs=epochs, batch_size=batch_size,
                              learning_rate=learning_rate, seed=seed, min_steps=min_steps, max_epochs=2000,
                              validation=(va.X, va.Y_true))
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
