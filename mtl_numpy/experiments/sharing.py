r"""Experiment 1 — one multi-task network vs separate single-task networks.

The lecture (point 4 of DESIGN.md): when the tasks share low-level features,
training one network on all four beats training four. We train, on the same
driving scenes,

* ``multi_task``: one ``SharedMLP([n_x, h, 4])``;
* ``single_task``: four ``SharedMLP([n_x, h, 1])``, one per task (4x the parameters);
* ``single_task_quarter``: four ``SharedMLP([n_x, h // 4, 1])`` — about the same
  total number of parameters as the one multi-task network;

and evaluate each task's accuracy and average precision against ``Y_true`` on
held-out scenes. Several seeds (new scenes and new initialisation each), mean ± std.
"""
from __future__ import annotations

import numpy as np

from ..models import SharedMLP
from .common import ExperimentResult, Recorder, Timer, evaluate_truth, finish_figure, \
    require_matplotlib, run_progress, scenes, train

__all__ = ["run", "plot", "CONDITIONS"]

CONDITIONS = ("multi_task", "single_task", "single_task_quarter")


def run(seeds=(0, 1, 2), m_train=4000, m_test=1000, image_size=16, hidden=128, epochs=15,
        batch_size=64, learning_rate=1e-3, missing=0.0, backend="numpy", fast=False,
        progress=True):
    """Run the sharing experiment; returns an :class:`ExperimentResult`.

    ``fast=True`` overrides the sizes with a setting that runs in seconds.
    """
    if fast:
        seeds, m_train, m_test, hidden, epochs = tuple(seeds)[:2], 800, 400, 32, 5
    settings = dict(seeds=list(seeds), m_train=m_train, m_test=m_test, image_size=image_size,
                    hidden=hidden, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, missing=missing, backend=backend, fast=fast)
    rec = Recorder()
    params = {}
    bar = run_progress(len(seeds) * 9, "sharing", progress)
    with Timer() as timer:
        for seed in seeds:
            tr, te = scenes(m_train, m_test, image_size, seed, missing=missing)
            X, X_te = tr.flat(), te.flat()
            n_x, tasks = X.shape[0], tr.tasks
            kw = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed)

            model = SharedMLP([n_x, hidden, len(tasks)], seed=seed, backend=backend)
            train(model, X, tr.Y, **kw)
            rec.add_metrics("multi_task", None, evaluate_truth(model, X_te, te.Y_true, tasks))
            params["multi_task"] = model.n_parameters
            bar.update()

            for cond, width in (("single_task", hidden), ("single_task_quarter", max(1, hidden // 4))):
                total = 0
                for j, task in enumerate(tasks):
                    single = SharedMLP([n_x, width, 1], seed=seed + 1000 * (j + 1), backend=backend)
                    train(single, X, tr.Y[j:j + 1], **kw)
                    met = evaluate_truth(single, X_te, te.Y_true[j:j + 1], (task,))
                    rec.add_metrics(cond, None, met)
                    total += single.n_parameters
                    bar.update()
                params[cond] = total
    bar.close()
    return ExperimentResult("sharing", None, rec.rows(), settings, timer.seconds,
                            notes={"parameters": params})


def plot(result, path=None, metric="accuracy"):
    """Grouped bars: per task, each condition's held-out ``metric`` (mean ± std)."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    tasks, conds = result.tasks, result.conditions
    width = 0.8 / max(1, len(conds))
    for i, cond in enumerate(conds):
        rows = [result.get(cond, t, metric) for t in tasks]
        xs = np.arange(len(tasks)) + (i - (len(conds) - 1) / 2) * width
        label = f"{cond} ({result.notes.get('parameters', {}).get(cond, '?'):,} params)" \
            if result.notes.get("parameters") else cond
        ax.bar(xs, [r.mean for r in rows], width, yerr=[r.std for r in rows], capsize=3, label=label)
    ax.set_xticks(np.arange(len(tasks)))
    ax.set_xticklabels(tasks)
    lo = min(r.mean - r.std for r in result.select(metric=metric))
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.set_ylabel(f"held-out {metric}")
    ax.set_title("One multi-task network vs four single-task networks")
    ax.set_ylim(ax.get_ylim()[0], 1.08)
    ax.legend(fontsize=8, loc="upper left", ncol=1)
    return finish_figure(fig, path)
