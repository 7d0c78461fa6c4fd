r"""Experiment 2 — network size (Caruana): multi-task minus single-task against hidden width.

For each shared hidden width ``h`` we train one ``SharedMLP([n_x, h, 4])`` and four
``SharedMLP([n_x, h, 1])`` on the same scenes, and record, per task, the
held-out accuracy / AP of both and their difference ``multi - single`` (computed
per seed, so its std is the spread of the paired difference). The lecture: the
only case where multi-task learning hurts is a network too small for all tasks.
"""
from __future__ import annotations

import numpy as np

from ..models import SharedMLP
from .common import METRICS, ExperimentResult, Recorder, Timer, evaluate_truth, finish_figure, \
    require_matplotlib, run_progress, scenes, train

__all__ = ["run", "plot", "DEFAULT_WIDTHS"]

DEFAULT_WIDTHS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def run(seeds=(0, 1, 2), widths=DEFAULT_WIDTHS, m_train=4000, m_test=1000, image_size=16,
        epochs=10, batch_size=64, learning_rate=1e-3, backend="numpy", fast=False, progress=True):
    """Sweep the hidden width; returns an :class:`ExperimentResult` (param = width)."""
    if fast:
        seeds, widths, m_train, m_test, epochs = tuple(seeds)[:2], (1, 4, 16, 64), 800, 400, 4
    widths = tuple(int(w) for w in widths)
    settings = dict(seeds=list(seeds), widths=list(widths), m_train=m_train, m_test=m_test,
                    image_size=image_size, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, backend=backend, fast=fast)
    rec = Recorder()
    bar = run_progress(len(seeds) * len(widths) * 5, "network_size", progress)
    with Timer() as timer:
        for seed in seeds:
            tr, te = scenes(m_train, m_test, image_size, seed)
            X, X_te = tr.flat(), te.flat()
            n_x, tasks = X.shape[0], tr.tasks
            kw = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed)
            for h in widths:
                model = SharedMLP([n_x, h, len(tasks)], seed=seed, backend=backend)
                train(model, X, tr.Y, **kw)
                multi = evaluate_truth(model, X_te, te.Y_true, tasks)
                rec.add_metrics("multi_task", h, multi)
                bar.update()
                single = {}
                for j, task in enumerate(tasks):
                    s = SharedMLP([n_x, h, 1], seed=seed + 1000 * (j + 1), backend=backend)
                    train(s, X, tr.Y[j:j + 1], **kw)
                    single.update(evaluate_truth(s, X_te, te.Y_true[j:j + 1], (task,)))
                    bar.update()
                rec.add_metrics("single_task", h, single)
                for task in tasks:
                    for name in METRICS:
                        rec.add("multi_minus_single", h, task, name, multi[task][name] - single[task][name])
    bar.close()
    return ExperimentResult("network_size", "width", rec.rows(), settings, timer.seconds)


def plot(result, path=None, metric="accuracy"):
    """Left: multi-task minus single-task per task against width; right: the raw curves (task mean)."""
    plt = require_matplotlib()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for task in result.tasks:
        w, mean, std = result.curve("multi_minus_single", task, metric)
        ax.errorbar(w, mean, yerr=std, marker="o", capsize=3, label=task)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("hidden width h (shared layer)")
    ax.set_ylabel(f"multi-task − single-task {metric}")
    ax.set_title("Gain from sharing vs network size")
    ax.legend(fontsize=8)
    for cond in ("multi_task", "single_task"):
        curves = [result.curve(cond, t, metric)[1] for t in result.tasks]
        w = result.curve(cond, result.tasks[0], metric)[0]
        ax2.plot(w, np.mean(curves, axis=0), marker="o", label=cond)
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("hidden width h")
    ax2.set_ylabel(f"{metric}, mean over tasks")
    ax2.set_title("Absolute held-out performance")
    ax2.legend(fontsize=8)
    return finish_figure(fig, path)
