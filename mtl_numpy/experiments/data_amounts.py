r"""Experiment 3 — a focus task with few labels next to tasks with many.

The lecture: multi-task learning helps when "the other tasks together have far
more data than the one you care about". The focus task (``traffic_light`` by
default) keeps only a fraction of its labels (1%, 3%, ... through the
per-task ``missing`` dial, e.g. ``(0, 0, 0, 0.99)``); the other three tasks keep
all of theirs. Conditions, evaluated on the focus task only against ``Y_true`` on
held-out scenes:

* ``single_task``: a one-output CNN (:func:`~.common.scene_cnn`, width ``w``) trained
  on the focus task's labelled examples alone;
* ``multi_task``: the four-output CNN of the same width on all examples, '?' masked;
* ``multi_task_shuffled`` (Caruana's control): the same, but the other tasks'
  labels are permuted across examples, so they say nothing about the image —
  any gain that survives this is not due to shared features.

``gain`` and ``gain_shuffled`` are the per-seed paired differences from ``single_task``.
Training (every run): Adam, ``epochs`` epochs over its own training examples and at
least ``min_steps`` mini-batch steps, keeping the checkpoint with the lowest cost *of
the focus task* on ``m_val`` separate validation scenes (early stopping,
:func:`~.common.train`). Without it the comparison measures training length: a
single-task network on 100 labels given as many steps as a multi-task one on 10,000
scenes is judged after hundreds of epochs of overfitting, one given as many epochs
after a few dozen steps.
"""
from __future__ import annotations

import numpy as np

from ..labels import known_labels
from ..plotting import finish_figure, log_axis, require_matplotlib
from .common import METRICS, ExperimentResult, Recorder, Timer, blas_threads, evaluate_truth, \
    resolve_backend, run_progress, scene_cnn, scenes, train

__all__ = ["run", "plot", "DEFAULT_FRACTIONS"]

DEFAULT_FRACTIONS = (0.01, 0.03, 0.1, 0.3, 1.0)


def run(seeds=(0, 1, 2), fractions=DEFAULT_FRACTIONS, focus="traffic_light", m_train=10000,
        m_val=1000, m_test=2000, image_size=16, width=16, epochs=10, min_steps=500, batch_size=64,
        learning_rate=3e-3, backend="auto", fast=False, progress=True):
    """Vary the focus task's labelled fraction; returns an :class:`ExperimentResult`
    (param = labelled fraction of the focus task)."""
    if fast:
        seeds, fractions, m_train, m_val, m_test = tuple(seeds)[:2], (0.03, 1.0), 800, 200, 400
        width, epochs, min_steps = 4, 2, 20
    backend = resolve_backend(backend)
    settings = dict(seeds=list(seeds), fractions=list(fractions), focus=focus, m_train=m_train,
                    m_val=m_val, m_test=m_test, image_size=image_size, width=width, epochs=epochs,
                    min_steps=min_steps, batch_size=batch_size, learning_rate=learning_rate,
                    backend=backend, fast=fast)
    rec = Recorder()
    n_labels, stopped = {}, {}
    bar = run_progress(len(seeds) * len(fractions) * 3, "data_amounts", progress)
    with Timer() as timer, blas_threads(1):
        for seed in seeds:
            tr, va, te = scenes(m_train, m_test, image_size, seed, m_val=m_val)
            tasks = tr.tasks
            if focus not in tasks:
                raise ValueError(f"focus must be one of {tasks}; got {focus!r}")
            k = tasks.index(focus)
            X, X_te = tr.X, te.X
            # every run keeps its best checkpoint by the focus task's validation cost
            Y_val = np.full_like(va.Y_true, np.nan)
            Y_val[k] = va.Y_true[k]
            for frac in fractions:
                missing = tuple(1.0 - frac if j == k else 0.0 for j in range(len(tasks)))
                part = tr.hide_labels(missing, seed=seed + 7)
                Y = part.Y
                labelled = np.flatnonzero(known_labels(Y[k]))
                n_labels.setdefault(frac, []).append(int(labelled.size))
                kw = dict(epochs=epochs, min_steps=min_steps, max_epochs=2000, batch_size=batch_size,
                          learning_rate=learning_rate, seed=seed)

                single = scene_cnn(image_size, width, 1, seed, backend)
                h = train(single, X[labelled], Y[k:k + 1, labelled], validation=(va.X, Y_val[k:k + 1]),
                          **kw)
                stopped.setdefault(f"single_task@{frac:g}", []).append(getattr(h, "best_epoch", None))
                s_met = evaluate_truth(single, X_te, te.Y_true[k:k + 1], (focus,))
                rec.add_metrics("single_task", frac, s_met)
                bar.update()

                rng = np.random.default_rng(seed + 99)
                Y_shuf = Y.copy()
                for j in range(len(tasks)):
                    if j != k:
                        Y_shuf[j] = Y[j, rng.permutation(Y.shape[1])]
                for cond, labels in (("multi_task", Y), ("multi_task_shuffled", Y_shuf)):
                    model = scene_cnn(image_size, width, len(tasks), seed, backend)
                    h = train(model, X, labels, validation=(va.X, Y_val), **kw)
                    stopped.setdefault(f"{cond}@{frac:g}", []).append(getattr(h, "best_epoch", None))
                    met = evaluate_truth(model, X_te, te.Y_true, tasks)
                    rec.add_metrics(cond, frac, {focus: met[focus]})
                    for name in METRICS:
                        diff = met[focus][name] - s_met[focus][name]
                        rec.add("gain" if cond == "multi_task" else "gain_shuffled", frac, focus, name, diff)
                    bar.update()
    bar.close()
    return ExperimentResult("data_amounts", "focus_labelled", rec.rows(), settings, timer.seconds,
                            notes={"focus_labels": {str(f): v for f, v in n_labels.items()},
                                   "best_epoch": stopped})


def plot(result, path=None, metric="accuracy"):
    """Left: focus-task metric against its labelled fraction; right: the gains."""
    plt = require_matplotlib()
    focus = result.tasks[0]
    m = f"{result.settings.get('m_train', '?'):,}"
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for cond in ("single_task", "multi_task", "multi_task_shuffled"):
        f, mean, std = result.curve(cond, focus, metric)
        ax.errorbar(f, mean, yerr=std, marker="o", capsize=3, label=cond)
    log_axis(ax, result.params)
    ax.set_xlabel(f"fraction of {focus} labels kept (of {m} scenes)")
    ax.set_ylabel(f"held-out {focus} {metric}")
    ax.set_title("Focus task with few labels")
    ax.legend(fontsize=8)
    for cond, label in (("gain", "multi − single"), ("gain_shuffled", "shuffled multi − single")):
        f, mean, std = result.curve(cond, focus, metric)
        ax2.errorbar(f, mean, yerr=std, marker="o", capsize=3, label=label)
    ax2.axhline(0, color="k", lw=0.8)
    log_axis(ax2, result.params)
    ax2.set_xlabel(f"fraction of {focus} labels kept (of {m} scenes)")
    ax2.set_ylabel(f"gain in {metric}")
    ax2.set_title("Gain from the other tasks (and the shuffle control)")
    ax2.legend(fontsize=8)
    return finish_figure(fig, path)
