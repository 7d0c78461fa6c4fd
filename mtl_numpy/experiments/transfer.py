r"""Experiment 5 — transfer learning: pretrain on tasks A with lots of data, fine-tune on B.

The lecture's recipe (1,000,000 examples for A, 1,000 for B), scaled down:

* **scenes**: A = pedestrian + car + stop_sign on ``m_A`` scenes (default 8000); B =
  traffic_light with ``n_B`` labelled scenes (default 50 .. 2000), drawn apart from A's;
* **digits** (real data): A = even + greater_equal_5 + prime; B = closed_loop.

Conditions for B, evaluated on held-out examples against the truth:

* ``scratch``: ``SharedMLP([n_x, *hidden, 1])`` trained on B alone;
* ``finetune_all``: the same architecture, trunk (every layer but the last)
  copied from the network pretrained on A, then every layer trained on B;
* ``finetune_head``: trunk copied and frozen (a :class:`TrainableSubset` optimizer
  updates only the head ``W[L]``, ``b[L]``) — logistic regression on A's features.

Fine-tuning is built from the package's pieces: a new single-task model whose
trunk parameters are copied in place through ``model.params``.
"""
from __future__ import annotations

import numpy as np

from ..models import SharedMLP
from .common import ExperimentResult, Recorder, Timer, evaluate_truth, finish_figure, \
    require_matplotlib, run_progress, train

__all__ = ["run", "plot", "transfer_trunk", "CONDITIONS"]

CONDITIONS = ("scratch", "finetune_all", "finetune_head")


def transfer_trunk(pretrained, model):
    """Copy every layer but the last from ``pretrained`` into ``model`` (in place).

    Returns the names of the copied (trunk) and the remaining (head) parameters.
    """
    L = len(model.layer_dims) - 1
    if list(pretrained.layer_dims[:-1]) != list(model.layer_dims[:-1]):
        raise ValueError(f"trunks differ: {pretrained.layer_dims[:-1]} vs {model.layer_dims[:-1]}")
    trunk = [f"{p}{l}" for l in range(1, L) for p in ("W", "b")]
    for key in trunk:
        model.params[key][...] = pretrained.params[key]
    return trunk, [f"W{L}", f"b{L}"]


def _finetune_runs(rec, bar, pre, X_B, Y_B, X_te, Y_te, task, n_B, hidden, seed, backend, kw):
    n_x = X_B.shape[0]
    for cond in CONDITIONS:
        model = SharedMLP([n_x, *hidden, 1], seed=seed + 1, backend=backend)
        trainable = None
        if cond != "scratch":
            _, head = transfer_trunk(pre, model)
            trainable = head if cond == "finetune_head" else None
        train(model, X_B, Y_B, trainable=trainable, **kw)
        rec.add_metrics(cond, n_B, evaluate_truth(model, X_te, Y_te, (task,)))
        bar.update()


def run(seeds=(0, 1, 2), m_A=8000, n_B=(50, 200, 500, 2000), m_test=1000, image_size=16,
        hidden=(128, 64), digits_n_B=(20, 50, 100, 300), digits_hidden=(64, 32), epochs=15,
        min_steps=300, batch_size=64, learning_rate=1e-3, backend="numpy", fast=False,
        progress=True, datasets=("scenes", "digits")):
    """Run both transfer settings; returns an :class:`ExperimentResult` (param = n_B).

    Tasks in the table: ``traffic_light`` (scenes) and ``closed_loop`` (digits).
    """
    if fast:
        seeds, m_A, n_B, m_test, hidden, epochs, min_steps = tuple(seeds)[:2], 1500, (50, 400), 400, (32, 16), 5, 60
        digits_n_B, digits_hidden = (20, 200), (32, 16)
    hidden, digits_hidden = tuple(hidden), tuple(digits_hidden)
    settings = dict(seeds=list(seeds), m_A=m_A, n_B=list(n_B), m_test=m_test, image_size=image_size,
                    hidden=list(hidden), digits_n_B=list(digits_n_B), digits_hidden=list(digits_hidden),
                    epochs=epochs, min_steps=min_steps, batch_size=batch_size,
                    learning_rate=learning_rate, backend=backend, fast=fast, datasets=list(datasets))
    rec = Recorder()
    total = len(seeds) * (("scenes" in datasets) * (1 + 3 * len(n_B))
                          + ("digits" in datasets) * (1 + 3 * len(digits_n_B)))
    bar = run_progress(total, "transfer", progress)
    kw = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, min_steps=min_steps,
              max_epochs=2000)
    with Timer() as timer:
        for seed in seeds:
            if "scenes" in datasets:
                from ..datasets import driving_scenes

                A = driving_scenes(m_A, image_size=image_size, missing=0.0, seed=seed)
                B = driving_scenes(max(n_B) + m_test, image_size=image_size, missing=0.0,
                                   seed=seed + 10_000)
                B_pool, B_test = B.split(m_test)
                a_rows, b_row = [0, 1, 2], 3
                XA = A.flat()
                pre = SharedMLP([XA.shape[0], *hidden, len(a_rows)], seed=seed, backend=backend)
                train(pre, XA, A.Y[a_rows], seed=seed, **kw)
                bar.update()
                XB, X_te = B_pool.flat(), B_test.flat()
                for n in n_B:
                    _finetune_runs(rec, bar, pre, XB[:, :n], B_pool.Y[b_row:b_row + 1, :n], X_te,
                                   B_test.Y_true[b_row:b_row + 1], B.tasks[b_row], n, hidden, seed,
                                   backend, dict(kw, seed=seed))
            if "digits" in datasets:
                from ..datasets import digits_tasks

                D = digits_tasks(seed=seed)
                order = np.random.default_rng(seed).permutation(D.m)
                n_test = 400
                te, pool = order[:n_test], order[n_test:]
                n_A = len(pool) - max(digits_n_B)
                a_idx, b_idx = pool[:n_A], pool[n_A:]
                X = D.flat()
                pre = SharedMLP([X.shape[0], *digits_hidden, 3], seed=seed, backend=backend)
                train(pre, X[:, a_idx], D.Y[:3][:, a_idx], seed=seed, **kw)
                bar.update()
                for n in digits_n_B:
                    idx = b_idx[:n]
                    _finetune_runs(rec, bar, pre, X[:, idx], D.Y[3:4][:, idx], X[:, te],
                                   D.Y_true[3:4][:, te], D.tasks[3], n, digits_hidden, seed,
                                   backend, dict(kw, seed=seed))
    bar.close()
    return ExperimentResult("transfer", "n_B", rec.rows(), settings, timer.seconds)


def plot(result, path=None, metric="accuracy"):
    """One panel per B task: metric against n_B for scratch / fine-tune all / head only."""
    plt = require_matplotlib()
    tasks = result.tasks
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for cond in result.conditions:
            n, mean, std = result.curve(cond, task, metric)
            ax.errorbar(n, mean, yerr=std, marker="o", capsize=3, label=cond)
        ax.set_xscale("log")
        ax.set_xlabel(f"labelled examples of B ({task})")
        ax.set_ylabel(f"held-out {metric}")
        ax.set_title(f"Transfer to {task}")
        ax.legend(fontsize=8)
    return finish_figure(fig, path)
