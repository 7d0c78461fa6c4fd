r"""Experiment 6 — a hand-designed pipeline vs end-to-end learning, across data sizes.

The lecture: end-to-end learning needs enough data to learn the whole mapping
x → y; with little data a pipeline with hand-designed components can win.

* ``pipeline``: :func:`hand_features` (colour fractions per region — stop-sign red,
  dark grey, pole grey, white, lamp colours, skin; mean colour per region; colour
  histograms; edge counts — all NumPy), standardised with the training set's
  statistics, fed to logistic regression = ``SharedMLP([n_features, 4])`` (no hidden
  layer) trained with the package's ``fit``;
* ``end_to_end``: ``SharedCNN`` on the raw pixels (conv 16, 32; dense 64 — the
  experiments' width-16 CNN).

Both are trained on ``m`` scenes for each ``m`` in ``sizes`` (small sets get more
epochs, at least ``min_steps`` mini-batch steps), keep their best checkpoint on
``m_val`` validation scenes (early stopping), and are evaluated on the same held-out
scenes. The table's ``mean`` task is the mean over the four tasks.
"""
from __future__ import annotations

import numpy as np

from ..models import SharedCNN, SharedMLP
from ..plotting import finish_figure, require_matplotlib
from .common import ExperimentResult, Recorder, Timer, add_task_mean, blas_threads, evaluate_truth, \
    resolve_backend, run_progress, train

__all__ = ["run", "plot", "hand_features", "crossover"]

CONDITIONS = ("pipeline", "end_to_end")


def _colour_masks(X):
    r, g, b = X[..., 0], X[..., 1], X[..., 2]
    mx, mn = X.max(axis=-1), X.min(axis=-1)
    grey = (mx - mn) < 0.08
    return [
        (r > 0.5) & (g < 0.25) & (b < 0.25),                 # stop-sign red
        mx < 0.2,                                            # dark: housing, wheels, tyres
        grey & (mx > 0.35) & (mx < 0.65),                    # pole grey
        mn > 0.8,                                            # white rim / band
        (g > 0.55) & (r < 0.45) & (b < 0.6),                 # green lamp
        (r > 0.7) & (g > 0.45) & (b < 0.3),                  # amber lamp
        (r > g) & (g > b) & (r - b > 0.15) & (r - b < 0.45) & (r > 0.45),  # skin-ish
    ]


def hand_features(X, grid=4):
    """Hand-designed features of images ``X`` (m, H, W, 3) in [0, 1]: returns (n_features, m).

    Per colour mask (7 masks): the fraction of pixels in the whole image and in
    each of ``grid × grid`` regions; the mean RGB of each region; a 4-bin histogram
    per channel; the fraction of strong horizontal and vertical edges per region.
    """
    X = np.asarray(X, dtype=np.float32)
    m, H, W, _ = X.shape
    gh, gw = H // grid, W // grid
    Xc = X[:, :gh * grid, :gw * grid]

    def regions(a):  # (m, H, W[, C]) -> (m, grid*grid[, C]) means over each region
        shape = (m, grid, gh, grid, gw) + a.shape[3:]
        return a.reshape(shape).mean(axis=(2, 4)).reshape((m, grid * grid) + a.shape[3:])

    feats = []
    for mask in _colour_masks(Xc):
        mask = mask.astype(np.float32)
        feats.append(mask.mean(axis=(1, 2))[:, None])
        feats.append(regions(mask))
    feats.append(regions(Xc).reshape(m, -1))
    for c in range(3):
        hist = np.stack([((Xc[..., c] >= lo) & (Xc[..., c] < lo + 0.25 + (lo == 0.75))).mean(axis=(1, 2))
                         for lo in (0.0, 0.25, 0.5, 0.75)], axis=1)
        feats.append(hist)
    lum = Xc.mean(axis=-1)
    dx = np.zeros_like(lum)
    dy = np.zeros_like(lum)
    dx[:, :, 1:] = np.abs(np.diff(lum, axis=2)) > 0.15
    dy[:, 1:, :] = np.abs(np.diff(lum, axis=1)) > 0.15
    feats.append(regions(dx))
    feats.append(regions(dy))
    return np.ascontiguousarray(np.concatenate(feats, axis=1).T, dtype=np.float32)


def crossover(result, metric="accuracy", task="mean"):
    """The smallest training-set size from which end-to-end beats the pipeline (None if never)."""
    sizes, p, _ = result.curve("pipeline", task, metric)
    _, e, _ = result.curve("end_to_end", task, metric)
    for i, m in enumerate(sizes):
        if np.all(e[i:] > p[i:]):
            return m
    return None


def run(seeds=(0, 1, 2), sizes=(100, 300, 1000, 3000, 10000, 30000), m_val=1000, m_test=2000,
        image_size=16, conv_channels=(16, 32), cnn_hidden=(64,), epochs=10, min_steps=500,
        batch_size=64, cnn_learning_rate=3e-3, lr_learning_rate=3e-3, backend="auto", fast=False,
        progress=True):
    """Pipeline vs end-to-end CNN over training-set sizes; returns an :class:`ExperimentResult`
    (param = number of training scenes m)."""
    if fast:
        seeds, sizes, m_val, m_test, epochs, min_steps = tuple(seeds)[:2], (100, 600), 200, 400, 3, 40
        conv_channels, cnn_hidden = (4, 8), (16,)
    backend = resolve_backend(backend)
    sizes = tuple(int(s) for s in sizes)
    settings = dict(seeds=list(seeds), sizes=list(sizes), m_val=m_val, m_test=m_test,
                    image_size=image_size, conv_channels=list(conv_channels),
                    cnn_hidden=list(cnn_hidden), epochs=epochs, min_steps=min_steps,
                    batch_size=batch_size, cnn_learning_rate=cnn_learning_rate,
                    lr_learning_rate=lr_learning_rate, backend=backend, fast=fast)
    rec = Recorder()
    bar = run_progress(len(seeds) * len(sizes) * 2, "end_to_end", progress)
    from ..datasets import driving_scenes

    with Timer() as timer, blas_threads(1):
        for seed in seeds:
            data = driving_scenes(max(sizes) + m_val + m_test, image_size=image_size, missing=0.0,
                                  seed=seed)
            rest, te = data.split(m_test)
            pool, va = rest.split(m_val)
            tasks = data.tasks
            F_pool, F_va, F_te = hand_features(pool.X), hand_features(va.X), hand_features(te.X)
            for m in sizes:
                F = F_pool[:, :m]
                mu, sd = F.mean(axis=1, keepdims=True), F.std(axis=1, keepdims=True) + 1e-3
                lr_model = SharedMLP([F.shape[0], len(tasks)], seed=seed, backend=backend)
                train(lr_model, (F - mu) / sd, pool.Y[:, :m], epochs=epochs, batch_size=batch_size,
                      learning_rate=lr_learning_rate, seed=seed, min_steps=min_steps, max_epochs=2000,
                      validation=((F_va - mu) / sd, va.Y_true))
                met = add_task_mean(evaluate_truth(lr_model, (F_te - mu) / sd, te.Y_true, tasks), tasks)
                rec.add_metrics("pipeline", m, met)
                bar.update()

                cnn = SharedCNN((image_size, image_size, 3), conv_channels=conv_channels,
                                hidden=cnn_hidden, n_tasks=len(tasks), seed=seed, backend=backend)
                train(cnn, pool.X[:m], pool.Y[:, :m], epochs=epochs, batch_size=batch_size,
                      learning_rate=cnn_learning_rate, seed=seed, min_steps=min_steps, max_epochs=2000,
                      validation=(va.X, va.Y_true))
                met = add_task_mean(evaluate_truth(cnn, te.X, te.Y_true, tasks), tasks)
                rec.add_metrics("end_to_end", m, met)
                bar.update()
    bar.close()
    res = ExperimentResult("end_to_end", "m_train", rec.rows(), settings, timer.seconds)
    res.notes["n_features"] = int(F_pool.shape[0])
    res.notes["crossover_accuracy"] = crossover(res)
    return res


def plot(result, path=None, metric="accuracy"):
    """Per task (and their mean): the metric against training-set size for both systems."""
    plt = require_matplotlib()
    tasks = result.tasks
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.3 * len(tasks), 3.4), sharey=True, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for cond in CONDITIONS:
            m, mean, std = result.curve(cond, task, metric)
            ax.errorbar(m, mean, yerr=std, marker="o", capsize=3, label=cond)
        ax.set_xscale("log")
        ax.set_xlabel("training scenes m")
        ax.set_title(task)
    axes[0][0].set_ylabel(f"held-out {metric}")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Hand-designed pipeline vs end-to-end CNN (mean ± std over seeds)", y=1.03)
    return finish_figure(fig, path)
