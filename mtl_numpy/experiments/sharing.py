r"""Experiment 1 — one multi-task network vs separate single-task networks.

The lecture's claim: when the tasks share low-level features,
training one network on all four beats training four — above all when each
task on its own has little data. On the same driving scenes we train

* ``multi_task``: one CNN of width ``w`` (:func:`~.common.scene_cnn`: conv ``(w, 2w)``,
  dense ``4w``) with four outputs;
* ``single_task``: four CNNs of the same width, one output each (4x the parameters);
* ``single_task_quarter``: four CNNs of width ``w / 2``, one output each — about a
  quarter of the parameters each, so the four together are the size of the one
  multi-task network;

at each *labelled fraction* in ``labelled``: every label is kept with that
probability, independently (the dataset's ``missing`` dial, ``1 - labelled``). At
1.0 every scene is labelled for every task; at 0.1 each task has about 10% of the
scenes labelled, mostly different scenes for different tasks, so a single-task
network sees only its own ~10% while the multi-task network learns from every
scene with any label.

Training (every network, every condition): Adam, ``epochs`` epochs over its own
training examples (the multi-task network: the scenes with at least one label; a
scene with four '?' adds nothing to the cost) and at least ``min_steps`` mini-batch
steps (a network with few examples gets more epochs), keeping the checkpoint with the
lowest cost on ``m_val`` separate validation scenes (early stopping,
:func:`~.common.train`), so that no condition is judged under- or over-trained. Evaluation: each task's accuracy and
average precision against ``Y_true`` on held-out scenes, and their ``mean`` over the
four tasks. Several seeds (new scenes, new labels hidden, new initialisation), mean ± std.
"""
from __future__ import annotations

import numpy as np

from ..labels import known_labels
from ..plotting import finish_figure, require_matplotlib
from .common import ExperimentResult, Recorder, Timer, add_task_mean, blas_threads, evaluate_truth, \
    labelled_columns, resolve_backend, run_progress, scene_cnn, scenes, train

__all__ = ["run", "plot", "CONDITIONS"]

CONDITIONS = ("multi_task", "single_task", "single_task_quarter")


def run(seeds=(0, 1, 2), labelled=(1.0, 0.3, 0.1, 0.03), m_train=10000, m_val=1000, m_test=2000,
        image_size=16, width=16, quarter_width=8, epochs=10, min_steps=500, batch_size=64,
        learning_rate=3e-3, backend="auto", fast=False, progress=True):
    """Run the sharing experiment; returns an :class:`ExperimentResult` (param = labelled fraction).

    ``fast=True`` overrides the sizes with a setting that runs in seconds.
    """
    if fast:
        seeds, m_train, m_val, m_test, width, quarter_width = tuple(seeds)[:2], 800, 200, 400, 4, 2
        epochs, min_steps = 2, 20
        labelled = (1.0, 0.3)
    backend = resolve_backend(backend)
    labelled = tuple(float(f) for f in labelled)
    settings = dict(seeds=list(seeds), labelled=list(labelled), m_train=m_train, m_val=m_val,
                    m_test=m_test, image_size=image_size, width=width, quarter_width=quarter_width,
                    epochs=epochs, min_steps=min_steps, batch_size=batch_size,
                    learning_rate=learning_rate, backend=backend, fast=fast)
    rec = Recorder()
    params, n_labels, stopped = {}, {}, {}
    bar = run_progress(len(seeds) * len(labelled) * 9, "sharing", progress)
    with Timer() as timer, blas_threads(1):
        for seed in seeds:
            tr, va, te = scenes(m_train, m_test, image_size, seed, m_val=m_val)
            tasks = tr.tasks
            kw = dict(epochs=epochs, min_steps=min_steps, max_epochs=1000, batch_size=batch_size,
                      learning_rate=learning_rate, seed=seed)
            for frac in labelled:
                Y = tr.hide_labels(1.0 - frac, seed=seed + 7).Y if frac < 1.0 else tr.Y_true
                rows = labelled_columns(Y)
                n_labels.setdefault(frac, []).append([int(n) for n in known_labels(Y).sum(axis=1)])

                model = scene_cnn(image_size, width, len(tasks), seed, backend)
                h = train(model, tr.X[rows], Y[:, rows], validation=(va.X, va.Y_true), **kw)
                stopped.setdefault(f"multi_task@{frac:g}", []).append(getattr(h, "best_epoch", None))
                met = evaluate_truth(model, te.X, te.Y_true, tasks)
                rec.add_metrics("multi_task", frac, add_task_mean(met, tasks))
                params["multi_task"] = model.n_parameters
                bar.update()

                for cond, w in (("single_task", width), ("single_task_quarter", quarter_width)):
                    met, total = {}, 0
                    for j, task in enumerate(tasks):
                        idx = np.flatnonzero(known_labels(Y[j]))
                        single = scene_cnn(image_size, w, 1, seed + 1000 * (j + 1), backend)
                        h = train(single, tr.X[idx], Y[j:j + 1, idx],
                                  validation=(va.X, va.Y_true[j:j + 1]), **kw)
                        stopped.setdefault(f"{cond}@{frac:g}", []).append(getattr(h, "best_epoch", None))
                        met.update(evaluate_truth(single, te.X, te.Y_true[j:j + 1], (task,)))
                        total += single.n_parameters
                        bar.update()
                    rec.add_metrics(cond, frac, add_task_mean(met, tasks))
                    params[cond] = total
    bar.close()
    return ExperimentResult("sharing", "labelled", rec.rows(), settings, timer.seconds,
                            notes={"parameters": params,
                                   "labels_per_task": {str(f): v for f, v in n_labels.items()},
                                   "best_epoch": stopped})


def _fraction_label(frac):
    return "every label kept" if frac >= 1 else f"{100 * frac:g}% of each task's labels kept"


def plot(result, path=None, metric="accuracy"):
    """One panel per labelled fraction: per task (and mean), each condition's held-out ``metric``."""
    plt = require_matplotlib()
    fracs = result.params
    ncols = min(2, len(fracs))
    nrows = -(-len(fracs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 3.5 * nrows), squeeze=False,
                             sharey=True)
    tasks, conds = result.tasks, result.conditions
    width = 0.8 / max(1, len(conds))
    lo = min(r.mean - r.std for r in result.select(metric=metric))
    for ax, frac in zip(axes.flat, fracs):
        for i, cond in enumerate(conds):
            rows = [result.get(cond, t, metric, frac) for t in tasks]
            xs = np.arange(len(tasks)) + (i - (len(conds) - 1) / 2) * width
            n = result.notes.get("parameters", {}).get(cond)
            label = f"{cond} ({n:,} params)" if n else cond
            ax.bar(xs, [r.mean for r in rows], width, yerr=[r.std for r in rows], capsize=3, label=label)
        ax.set_xticks(np.arange(len(tasks)))
        ax.set_xticklabels(tasks, fontsize=8)
        ax.set_ylim(max(0.0, lo - 0.05), 1.08)
        ax.axhline(0.5, color="k", lw=0.6, ls=":")
        ax.set_title(_fraction_label(frac), fontsize=10)
    for ax in axes.flat[len(fracs):]:
        ax.axis("off")
    for row in axes:
        row[0].set_ylabel(f"held-out {metric}")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle("One multi-task CNN vs four single-task CNNs (mean ± std over seeds)")
    fig.tight_layout()
    return finish_figure(fig, path)
