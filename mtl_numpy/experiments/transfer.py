r"""Experiment 5 — transfer learning: pretrain on tasks A with lots of data, fine-tune on B.

The lecture's recipe (1,000,000 examples for A, 1,000 for B), scaled down:

* **scenes**: A = pedestrian + car + stop_sign on ``m_A`` scenes (default 20,000); B =
  traffic_light with ``n_B`` labelled scenes (default 30 .. 3,000), drawn apart from
  A's. The network is the experiments' CNN (:func:`~.common.scene_cnn`, width ``w``);
* **digits** (real data): A = even + greater_equal_5 + prime; B = closed_loop; an MLP
  ``SharedMLP([64, *digits_hidden, ...])``.

Conditions for B, evaluated on held-out examples against the truth:

* ``scratch``: the network with one output, trained on B alone;
* ``finetune_all``: the same architecture, trunk (every layer but the last)
  copied from the network pretrained on A, then every layer trained on B;
* ``finetune_head``: trunk copied and frozen (a :class:`mtl_numpy.optim.TrainableSubset` optimizer
  updates only the head ``W[L]``, ``b[L]``) — logistic regression on A's features;
* ``finetune_lower``: only the *lower* layers copied (every layer but the last two:
  the CNN's conv layers, the MLP's first layer), the rest freshly initialised, then
  every layer trained on B — the lecture's "low-level features from A could be
  helpful for learning B", without A's task-specific upper layer.

Every run (Adam, ``epochs`` epochs and at least ``min_steps`` mini-batch steps; the
scene network pretrained on A for ``pretrain_epochs`` epochs) keeps its best checkpoint
on validation examples apart from A, B and the test set (``m_val`` scenes; 200 digits),
scored on the run's own tasks — early stopping, the same for every condition.

Fine-tuning is built from the package's pieces: a new single-task model whose
trunk parameters are copied in place through ``model.params``.
"""
from __future__ import annotations

import numpy as np

from ..models import SharedMLP
from ..plotting import finish_figure, log_axis, require_matplotlib
from .common import ExperimentResult, Recorder, Timer, blas_threads, evaluate_truth, \
    resolve_backend, run_progress, scene_cnn, train

__all__ = ["run", "plot", "transfer_trunk", "CONDITIONS"]

CONDITIONS = ("scratch", "finetune_all", "finetune_head", "finetune_lower")


def _n_layers(model):
    return max(int(k[1:]) for k in model.params if k.startswith("W"))


def transfer_trunk(pretrained, model, keep_top=1):
    """Copy every layer but the last ``keep_top`` from ``pretrained`` into ``model`` (in place).

    Works for :class:`~mtl_numpy.SharedMLP` and :class:`~mtl_numpy.SharedCNN` alike (the
    trunk of a CNN is its conv layers and its hidden dense layers). ``keep_top=2`` copies
    only the lower layers (a CNN's conv layers). Returns the names of the copied and of
    the remaining (freshly initialised) parameters.
    """
    L = _n_layers(model)
    if not 1 <= keep_top < L:
        raise ValueError(f"keep_top must be in [1, {L - 1}] for a {L}-layer network; got {keep_top}")
    trunk = [f"{p}{l}" for l in range(1, L + 1 - keep_top) for p in ("W", "b")]
    if _n_layers(pretrained) != L or any(
            tuple(pretrained.params[k].shape) != tuple(model.params[k].shape) for k in trunk):
        raise ValueError(f"trunks differ: {_trunk_shapes(pretrained)} vs {_trunk_shapes(model)}")
    for key in trunk:
        model.params[key][...] = pretrained.params[key]
    return trunk, [f"{p}{l}" for l in range(L + 1 - keep_top, L + 1) for p in ("W", "b")]


def _trunk_shapes(model):
    L = _n_layers(model)
    return [tuple(model.params[f"W{l}"].shape) for l in range(1, L)]


def _finetune_runs(rec, bar, pre, make, X_B, Y_B, X_te, Y_te, task, n_B, kw):
    """Train B's conditions; ``make()`` builds a fresh one-output network.

    ``kw`` holds :func:`~.common.train`'s arguments, ``validation`` included.
    """
    for cond in CONDITIONS:
        model = make()
        trainable = None
        if cond == "finetune_lower":
            transfer_trunk(pre, model, keep_top=2)
        elif cond != "scratch":
            _, head = transfer_trunk(pre, model)
            trainable = head if cond == "finetune_head" else None
        train(model, X_B, Y_B, trainable=trainable, **kw)
        rec.add_metrics(cond, n_B, evaluate_truth(model, X_te, Y_te, (task,)))
        bar.update()


def run(seeds=(0, 1, 2), m_A=20000, n_B=(30, 100, 300, 1000, 3000), m_val=1000, m_test=2000,
        image_size=16, width=16, digits_n_B=(20, 50, 100, 300), digits_hidden=(64, 32), epochs=10,
        pretrain_epochs=5, min_steps=500, batch_size=64, learning_rate=3e-3, backend="auto",
        fast=False, progress=True, datasets=("scenes", "digits")):
    """Run both transfer settings; returns an :class:`ExperimentResult` (param = n_B).

    Tasks in the table: ``traffic_light`` (scenes) and ``closed_loop`` (digits).
    """
    if fast:
        seeds, m_A, n_B, m_val, m_test = tuple(seeds)[:2], 1000, (30, 300), 200, 400
        width, epochs, pretrain_epochs, min_steps = 4, 2, 2, 30
        digits_n_B, digits_hidden = (20, 200), (32, 16)
    backend = resolve_backend(backend)
    digits_hidden = tuple(digits_hidden)
    settings = dict(seeds=list(seeds), m_A=m_A, n_B=list(n_B), m_val=m_val, m_test=m_test,
                    image_size=image_size, width=width, digits_n_B=list(digits_n_B),
                    digits_hidden=list(digits_hidden), epochs=epochs, pretrain_epochs=pretrain_epochs,
                    min_steps=min_steps, batch_size=batch_size, learning_rate=learning_rate,
                    backend=backend, fast=fast, datasets=list(datasets))
    rec = Recorder()
    nc = len(CONDITIONS)
    total = len(seeds) * (("scenes" in datasets) * (1 + nc * len(n_B))
                          + ("digits" in datasets) * (1 + nc * len(digits_n_B)))
    bar = run_progress(total, "transfer", progress)
    kw = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, min_steps=min_steps,
              max_epochs=2000)
    with Timer() as timer, blas_threads(1):
        for seed in seeds:
            if "scenes" in datasets:
                from ..datasets import driving_scenes

                A = driving_scenes(m_A, image_size=image_size, missing=0.0, seed=seed)
                B = driving_scenes(max(n_B) + m_val + m_test, image_size=image_size, missing=0.0,
                                   seed=seed + 10_000)
                B_rest, B_test = B.split(m_test)
                B_pool, B_val = B_rest.split(m_val)
                a_rows, b_row = [0, 1, 2], 3
                pre = scene_cnn(image_size, width, len(a_rows), seed, backend)
                train(pre, A.X, A.Y[a_rows], seed=seed, validation=(B_val.X, B_val.Y_true[a_rows]),
                      **dict(kw, epochs=pretrain_epochs))
                bar.update()
                del A

                def make(seed=seed):
                    return scene_cnn(image_size, width, 1, seed + 1, backend)

                for n in n_B:
                    _finetune_runs(rec, bar, pre, make, B_pool.X[:n], B_pool.Y[b_row:b_row + 1, :n],
                                   B_test.X, B_test.Y_true[b_row:b_row + 1], B.tasks[b_row], n,
                                   dict(kw, seed=seed,
                                        validation=(B_val.X, B_val.Y_true[b_row:b_row + 1])))
            if "digits" in datasets:
                from ..datasets import digits_tasks

                D = digits_tasks(seed=seed)
                order = np.random.default_rng(seed).permutation(D.m)
                n_test, n_val = 400, 200
                te, val, pool = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
                n_A = len(pool) - max(digits_n_B)
                a_idx, b_idx = pool[:n_A], pool[n_A:]
                X = D.flat()
                pre = SharedMLP([X.shape[0], *digits_hidden, 3], seed=seed, backend=backend)
                train(pre, X[:, a_idx], D.Y[:3][:, a_idx], seed=seed,
                      validation=(X[:, val], D.Y_true[:3][:, val]), **kw)
                bar.update()

                def make(seed=seed, n_x=X.shape[0]):
                    return SharedMLP([n_x, *digits_hidden, 1], seed=seed + 1, backend=backend)

                for n in digits_n_B:
                    idx = b_idx[:n]
                    _finetune_runs(rec, bar, pre, make, X[:, idx], D.Y[3:4][:, idx], X[:, te],
                                   D.Y_true[3:4][:, te], D.tasks[3], n,
                                   dict(kw, seed=seed, validation=(X[:, val], D.Y_true[3:4][:, val])))
    bar.close()
    return ExperimentResult("transfer", "n_B", rec.rows(), settings, timer.seconds,
                            notes={"digits_pretrain_examples": int(n_A) if "digits" in datasets else None})


def plot(result, path=None, metric="accuracy"):
    """One panel per B task: metric against n_B for scratch / fine-tune all / head only."""
    plt = require_matplotlib()
    tasks = result.tasks
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for cond in result.conditions:
            n, mean, std = result.curve(cond, task, metric)
            ax.errorbar(n, mean, yerr=std, marker="o", capsize=3, label=cond)
        log_axis(ax, n)
        ax.set_xlabel(f"labelled examples of B ({task})")
        ax.set_ylabel(f"held-out {metric}")
        ax.set_title(f"Transfer to {task}")
        ax.legend(fontsize=8)
    return finish_figure(fig, path)
