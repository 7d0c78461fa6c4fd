r"""Experiment 2 — network size (Caruana): multi-task minus single-task against network width.

For each width ``w`` we train one multi-task CNN (:func:`~.common.scene_cnn`: conv
``(w, 2w)`` -> dense ``4w`` -> 4 outputs, every layer shared) and four single-task
CNNs of the same width on the same scenes, and record, per task and for the mean over
tasks, the held-out accuracy / AP of both and their difference ``multi - single``
(computed per seed, so its std is the spread of the paired difference). The lecture:
the only case where multi-task learning hurts is a network too small for all tasks.

The sweep runs at each fraction in ``labelled`` (as in experiment 1: each label kept
with that probability): 1.0 is Caruana's setting (every scene labelled for every task,
so only capacity and the shared representation differ); 0.1 leaves each task about
1,000 labels out of 10,000 scenes, the scarce-label regime where the lecture expects sharing to help,
and the multi-task network learns from every scene with any label. Conditions are
named ``multi_task``, ``single_task`` and ``multi_minus_single`` with every label, and
``multi_task@F``, ``single_task@F``, ``multi_minus_single@F`` at a fraction ``F < 1``.

Training (every network, every condition): Adam, ``epochs`` epochs over its own
training examples (the multi-task network: the scenes with any label) and at least
``min_steps`` mini-batch steps (a network with few examples gets more epochs), keeping
the checkpoint with the lowest cost on ``m_val`` separate validation scenes (early
stopping, :func:`~.common.train`), so that no condition is judged under- or over-trained.
"""
from __future__ import annotations

import numpy as np

from ..labels import known_labels
from ..plotting import finish_figure, log_axis, require_matplotlib
from .common import METRICS, ExperimentResult, Recorder, Timer, add_task_mean, blas_threads, \
    evaluate_truth, labelled_columns, resolve_backend, run_progress, scene_cnn, scenes, train

__all__ = ["run", "plot", "condition", "DEFAULT_WIDTHS"]

DEFAULT_WIDTHS = (1, 2, 4, 8, 16, 32)


def condition(base, labelled):
    """The table's condition name: ``base`` with every label (Caruana's setting), else ``base@F``.

    ``condition("multi_minus_single", 1.0) == "multi_minus_single"``,
    ``condition("multi_minus_single", 0.1) == "multi_minus_single@0.1"``.
    """
    return base if float(labelled) >= 1.0 else f"{base}@{float(labelled):g}"


def run(seeds=(0, 1, 2), widths=DEFAULT_WIDTHS, labelled=(1.0, 0.1), m_train=10000, m_val=1000,
        m_test=2000, image_size=16, epochs=10, min_steps=500, batch_size=64, learning_rate=3e-3,
        backend="auto", fast=False, progress=True):
    """Sweep the network width at each labelled fraction; returns an :class:`ExperimentResult`
    (param = width ``w``; conditions named by :func:`condition`)."""
    if fast:
        seeds, widths, m_train, m_val, m_test = tuple(seeds)[:2], (1, 4), 800, 200, 400
        epochs, min_steps = 2, 20
    backend = resolve_backend(backend)
    widths = tuple(int(w) for w in widths)
    labelled = tuple(float(f) for f in np.atleast_1d(labelled))
    settings = dict(seeds=list(seeds), widths=list(widths), labelled=list(labelled), m_train=m_train,
                    m_val=m_val, m_test=m_test, image_size=image_size, epochs=epochs,
                    min_steps=min_steps, batch_size=batch_size, learning_rate=learning_rate,
                    backend=backend, fast=fast)
    rec = Recorder()
    params = {}
    bar = run_progress(len(seeds) * len(labelled) * len(widths) * 5, "network_size", progress)
    with Timer() as timer, blas_threads(1):
        for seed in seeds:
            tr, va, te = scenes(m_train, m_test, image_size, seed, m_val=m_val)
            tasks = tr.tasks
            kw = dict(epochs=epochs, min_steps=min_steps, max_epochs=1000, batch_size=batch_size,
                      learning_rate=learning_rate, seed=seed)
            for frac in labelled:
                Y = tr.hide_labels(1.0 - frac, seed=seed + 7).Y if frac < 1.0 else tr.Y_true
                rows = labelled_columns(Y)
                for w in widths:
                    model = scene_cnn(image_size, w, len(tasks), seed, backend)
                    train(model, tr.X[rows], Y[:, rows], validation=(va.X, va.Y_true), **kw)
                    multi = add_task_mean(evaluate_truth(model, te.X, te.Y_true, tasks), tasks)
                    rec.add_metrics(condition("multi_task", frac), w, multi)
                    params.setdefault(w, {})["multi_task"] = model.n_parameters
                    bar.update()
                    single, total = {}, 0
                    for j, task in enumerate(tasks):
                        idx = np.flatnonzero(known_labels(Y[j]))
                        s = scene_cnn(image_size, w, 1, seed + 1000 * (j + 1), backend)
                        train(s, tr.X[idx], Y[j:j + 1, idx], validation=(va.X, va.Y_true[j:j + 1]), **kw)
                        single.update(evaluate_truth(s, te.X, te.Y_true[j:j + 1], (task,)))
                        total += s.n_parameters
                        bar.update()
                    params[w]["single_task"] = total
                    add_task_mean(single, tasks)
                    rec.add_metrics(condition("single_task", frac), w, single)
                    for task in (*tasks, "mean"):
                        for name in METRICS:
                            rec.add(condition("multi_minus_single", frac), w, task, name,
                                    multi[task][name] - single[task][name])
    bar.close()
    return ExperimentResult("network_size", "width", rec.rows(), settings, timer.seconds,
                            notes={"parameters": {str(w): v for w, v in params.items()}})


def plot(result, path=None, metric="accuracy"):
    """Per labelled fraction: multi-task minus single-task per task against width; last panel:
    the mean over tasks of both, against width."""
    plt = require_matplotlib()
    fracs = result.settings.get("labelled") or [1.0]
    fig, axes = plt.subplots(1, len(fracs) + 1, figsize=(5.2 * (len(fracs) + 1), 3.8), squeeze=False)
    axes = axes[0]
    for ax, frac in zip(axes, fracs):
        for task in result.tasks:
            w, mean, std = result.curve(condition("multi_minus_single", frac), task, metric)
            style = dict(color="k", lw=2.2) if task == "mean" else dict(alpha=0.8)
            ax.errorbar(w, mean, yerr=std, marker="o", capsize=3, label=task, **style)
        ax.axhline(0, color="k", lw=0.8)
        log_axis(ax, result.params, base=2)
        ax.set_xlabel("width w (conv w, 2w; dense 4w — all shared)")
        ax.set_ylabel(f"multi-task − single-task {metric}")
        kept = "every label kept" if frac >= 1 else f"{100 * frac:g}% of labels kept"
        ax.set_title(f"Gain from sharing, {kept}")
        ax.legend(fontsize=7)
    ax2 = axes[-1]
    for frac in fracs:
        for base, ls in (("multi_task", "-"), ("single_task", "--")):
            w, mean, std = result.curve(condition(base, frac), "mean", metric)
            ax2.errorbar(w, mean, yerr=std, marker="o", capsize=3, ls=ls,
                         label=f"{base}, {100 * frac:g}% labelled")
    ax2.axhline(0.5, color="k", lw=0.6, ls=":")
    log_axis(ax2, result.params, base=2)
    ax2.set_xlabel("width w")
    ax2.set_ylabel(f"{metric}, mean over tasks")
    ax2.set_title("Absolute held-out performance")
    ax2.legend(fontsize=7)
    return finish_figure(fig, path)
