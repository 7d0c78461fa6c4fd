r"""Figures for multi-task learning: learning curves, scenes with their labels,
the label matrix with its '?' entries, per-task metrics side by side, and the
gradient conflict between tasks over training.

Matplotlib is an optional extra (``pip install 'mtl-numpy[plot]'``): it is
imported inside each function, so ``import mtl_numpy`` never needs it. Every
function returns the :class:`matplotlib.figure.Figure` it drew and, when
``path`` is given, also saves it there (PNG, SVG, PDF: matplotlib picks the
format from the suffix). When no display is available the non-interactive
"Agg" backend is used, so the functions work on servers and in CI.

The helpers every figure of the package shares (:func:`require_matplotlib`,
:func:`log_axis`, :func:`finish_figure`) live here too; the experiments' plots
use them.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from .backends import to_numpy
from .labels import TASKS, known_labels, validate_labels

__all__ = ["plot_learning_curves", "plot_scenes", "plot_label_matrix", "plot_task_metrics",
           "plot_gradient_conflict", "require_matplotlib", "log_axis", "finish_figure"]

_INSTALL_HINT = "plotting needs matplotlib: pip install 'mtl-numpy[plot]'"

# Colours of the label matrix: 0, 1 and '?' (a colour no probability map uses).
_LABEL_COLOURS = ("#f2f2f2", "#2b6cb0", "#f6ad55")


def require_matplotlib():
    """``matplotlib.pyplot``, imported lazily, or an ImportError naming the extra to install.

    Chooses the "Agg" backend only where pyplot is not loaded yet, ``MPLBACKEND`` is
    unset and there is no display, so figures still show inline in Jupyter.
    """
    try:
        import matplotlib
    except ImportError:
        raise ImportError(_INSTALL_HINT) from None
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        )
        if headless:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_axis(ax, values, base=10):
    """A log-scaled x axis with one tick at each of ``values``, labelled plainly (no minor ticks)."""
    ax.set_xscale("log", base=base)
    ax.set_xticks(values)
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.minorticks_off()


def finish_figure(fig, path):
    """Save ``fig`` to ``path`` and close it, returning the path as a string; or return ``fig``."""
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
        require_matplotlib().close(fig)
        return str(path)
    return fig


def _save(fig, path):
    if path is not None:
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"path must be in an existing folder; {folder!r} does not exist")
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def _label_text(value):
    """'1', '0' or '?' for one entry of ``Y``."""
    return "?" if np.isnan(value) else str(int(value))


def _task_names(tasks, n_tasks, name="tasks"):
    if tasks is None:
        tasks = TASKS if n_tasks == len(TASKS) else tuple(f"task{j}" for j in range(n_tasks))
    tasks = tuple(tasks)
    if len(tasks) != n_tasks:
        raise ValueError(f"{name} must name the {n_tasks} rows of Y; got {len(tasks)} names")
    return tasks


def plot_learning_curves(history, path=None, ax=None):
    """Training and validation cost per epoch, and each task's validation accuracy.

    Parameters
    ----------
    history : History
        From :func:`mtl_numpy.fit`: ``train_cost``, ``val_cost`` and
        ``val_metrics`` (a list, one ``{task: {metric: value}}`` per epoch).
    path : str or os.PathLike, optional
        Save the figure there.
    ax : matplotlib Axes or pair of Axes, optional
        Draw into these instead of a new figure: one Axes gets the costs only;
        a pair ``(ax_cost, ax_accuracy)`` gets both panels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = require_matplotlib()
    train_cost = list(getattr(history, "train_cost", []))
    if not train_cost:
        raise ValueError("history has no epochs (history.train_cost is empty); train with mtl.fit first")
    val_cost = list(getattr(history, "val_cost", []))
    val_metrics = list(getattr(history, "val_metrics", []))

    if ax is None:
        n_panels = 2 if val_metrics else 1
        fig, axes = plt.subplots(1, n_panels, figsize=(5.5 * n_panels, 3.8), squeeze=False)
        ax_cost = axes[0, 0]
        ax_acc = axes[0, 1] if val_metrics else None
    elif isinstance(ax, (tuple, list, np.ndarray)):
        ax_cost, ax_acc = ax[0], ax[1] if len(ax) > 1 else None
        fig = ax_cost.figure
    else:
        ax_cost, ax_acc = ax, None
        fig = ax_cost.figure

    epochs = np.arange(1, len(train_cost) + 1)
    ax_cost.plot(epochs, train_cost, "o-", label="train")
    if val_cost:
        ax_cost.plot(np.arange(1, len(val_cost) + 1), val_cost, "s--", label="validation")
    ax_cost.set_xlabel("epoch")
    ax_cost.set_ylabel("masked cost J")
    ax_cost.set_title("cost ('?' labels excluded)")
    ax_cost.legend()
    ax_cost.grid(alpha=0.3)

    if ax_acc is not None and val_metrics:
        tasks = tuple(getattr(history, "tasks", ()) or val_metrics[0].keys())
        val_epochs = np.arange(1, len(val_metrics) + 1)
        for task in tasks:
            ax_acc.plot(val_epochs, [row[task]["accuracy"] for row in val_metrics], "o-", ms=3, label=task)
        mean = [np.nanmean([row[t]["accuracy"] for t in tasks]) for row in val_metrics]
        ax_acc.plot(val_epochs, mean, "k-", lw=2, label="mean")
        ax_acc.set_xlabel("epoch")
        ax_acc.set_ylabel("accuracy")
        ax_acc.set_title("validation accuracy per task")
        ax_acc.legend(fontsize="small")
        ax_acc.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_scenes(X, Y=None, Y_pred=None, tasks=TASKS, n=8, path=None):
    """A grid of images, each captioned with its labels (and predictions).

    Parameters
    ----------
    X : ndarray of shape (m, n_H, n_W, n_C)
        Images in [0, 1] (``n_C`` is 3 or 1).
    Y : ndarray of shape (n_tasks, m), optional
        Labels, ``nan`` for '?' (shown as '?').
    Y_pred : ndarray of shape (n_tasks, m), optional
        Predictions: 0/1, or probabilities (thresholded at 0.5). A prediction
        that disagrees with a known label is shown in red.
    tasks : sequence of str
        Task names (abbreviated in the captions).
    n : int, default 8
        Show the first ``n`` images (at most ``m``).
    path : str or os.PathLike, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = require_matplotlib()
    X = to_numpy(X)
    if X.ndim != 4:
        raise ValueError(f"X must have shape (m, n_H, n_W, n_C); got {X.shape} (for the MLP's (n_x, m), pass data.X)")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    m = X.shape[0]
    n = min(int(n), m)
    n_tasks = None
    if Y is not None:
        Y = np.asarray(to_numpy(validate_labels(Y, m=m)), dtype=np.float64)
        n_tasks = Y.shape[0]
        known = known_labels(Y)
    if Y_pred is not None:
        Y_pred = np.asarray(to_numpy(Y_pred), dtype=np.float64)
        if Y_pred.ndim != 2 or Y_pred.shape[1] != m or (n_tasks is not None and Y_pred.shape[0] != n_tasks):
            raise ValueError(f"Y_pred must have shape (n_tasks, m) = ({n_tasks or 'n_tasks'}, {m}); got {Y_pred.shape}")
        n_tasks = Y_pred.shape[0]
        Y_pred = (Y_pred > 0.5).astype(int) if ((Y_pred != 0) & (Y_pred != 1)).any() else Y_pred.astype(int)
    if n_tasks is not None:
        tasks = _task_names(tasks, n_tasks)
    names = [t.replace("_", " ") for t in tasks] if n_tasks is not None else []

    cols = min(n, 8)
    rows = int(np.ceil(n / cols))
    line_pt = 8.5  # caption line height in points
    caption_in = ((n_tasks or 0) * line_pt + 6) / 72
    cell_in = 1.7
    fig, axes = plt.subplots(rows, cols, figsize=(cell_in * cols, rows * (cell_in + caption_in) + 0.5),
                             squeeze=False)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=caption_in / (rows * (cell_in + caption_in) + 0.5),
                        top=1 - 0.45 / (rows * (cell_in + caption_in) + 0.5),
                        wspace=0.08, hspace=caption_in / cell_in + 0.08)
    for k, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if k >= n:
            continue
        image = np.clip(X[k], 0.0, 1.0)
        grey = image.shape[-1] == 1
        ax.imshow(image[..., 0] if grey else image, cmap="gray" if grey else None,
                  vmin=0.0, vmax=1.0, interpolation="nearest")
        for j in range(n_tasks or 0):
            text = f"{names[j]}: "
            colour = "black"
            if Y is not None:
                text += _label_text(Y[j, k])
            if Y_pred is not None:
                text += f" / {Y_pred[j, k]}" if Y is not None else str(Y_pred[j, k])
                if Y is not None and known[j, k] and Y_pred[j, k] != Y[j, k]:
                    colour = "red"
            ax.annotate(text, xy=(0.0, 0.0), xycoords="axes fraction", xytext=(0, -3 - line_pt * j),
                        textcoords="offset points", fontsize=6.5, va="top", ha="left", color=colour,
                        family="monospace")
    if n_tasks is not None:
        if Y is not None and Y_pred is not None:
            legend = "task: label / predicted   ('?' = not labelled, red = wrong)"
        elif Y is not None:
            legend = "task: label   ('?' = not labelled)"
        else:
            legend = "task: predicted"
        fig.suptitle(legend, fontsize=9)
    return _save(fig, path)


def plot_label_matrix(Y, tasks=TASKS, path=None):
    """The label matrix ``Y`` (tasks x examples) as an image; '?' in its own colour.

    Parameters
    ----------
    Y : ndarray of shape (n_tasks, m)
        0/1 labels, ``nan`` for '?'.
    tasks : sequence of str
        Row names.
    path : str or os.PathLike, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = require_matplotlib()
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    Y = np.asarray(to_numpy(validate_labels(Y)), dtype=np.float64)
    n_tasks, m = Y.shape
    tasks = _task_names(tasks, n_tasks)
    codes = np.where(known_labels(Y), Y, 2).astype(int)  # 0, 1, 2 = '?'
    cmap = ListedColormap(_LABEL_COLOURS)
    norm = BoundaryNorm([-0.5, 0.5, 1.5, 2.5], cmap.N)
    width = min(14.0, max(4.0, 0.25 * m + 2.5))
    fig, ax = plt.subplots(figsize=(width, 0.45 * n_tasks + 1.4))
    ax.imshow(codes, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(n_tasks))
    ax.set_yticklabels(tasks)
    ax.set_xlabel(f"example i (m = {m})")
    if m <= 40:
        ax.set_xticks(range(m))
        for j in range(n_tasks):
            for i in range(m):
                ax.text(i, j, _label_text(Y[j, i]), ha="center", va="center", fontsize=8,
                        color="white" if codes[j, i] == 1 else "black")
    known = known_labels(Y).mean()
    ax.set_title(f"label matrix Y: {known:.0%} labelled, {1 - known:.0%} '?'")
    handles = [Patch(color=c, label=lab) for c, lab in zip(_LABEL_COLOURS, ("0", "1", "?"))]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def plot_task_metrics(metrics_by_model, metric="accuracy", path=None):
    """Grouped bars: one group per task, one bar per model.

    Parameters
    ----------
    metrics_by_model : dict of str to dict
        ``{model_name: mtl.task_metrics(...)}``; each value maps a task to its
        metrics.
    metric : str, default "accuracy"
        Which metric to plot (``accuracy``, ``precision``, ``recall``, ``f1``,
        ``average_precision``).
    path : str or os.PathLike, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = require_matplotlib()
    if not isinstance(metrics_by_model, dict) or not metrics_by_model:
        raise ValueError("metrics_by_model must be a non-empty dict {model_name: task_metrics(...)}")
    first = next(iter(metrics_by_model.values()))
    tasks = list(first)
    for name, metrics in metrics_by_model.items():
        missing = [t for t in tasks if t not in metrics]
        if missing:
            raise ValueError(f"metrics_by_model[{name!r}] has no row for tasks {missing}")
        for task in tasks:
            if metric not in metrics[task]:
                raise ValueError(
                    f"metric must be one of {sorted(metrics[task])}; got {metric!r}"
                )
    n_models = len(metrics_by_model)
    x = np.arange(len(tasks))
    width = 0.8 / n_models
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(tasks) * max(1, n_models / 2)), 3.8))
    for k, (name, metrics) in enumerate(metrics_by_model.items()):
        values = [metrics[t][metric] for t in tasks]
        bars = ax.bar(x - 0.4 + width * (k + 0.5), values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(x)
    ax.set_xticklabels(tasks)
    ax.set_ylabel(metric)
    if metric != "n_labelled":
        ax.set_ylim(0, 1.08)
    ax.set_title(f"{metric} per task")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_gradient_conflict(history, layers="all", path=None):
    r"""The cosine between each pair of tasks' gradients on the shared parameters over training.

    Parameters
    ----------
    history : History
        From ``mtl.fit(..., track_conflict=k)``: ``history.conflict`` holds one record every
        ``k`` steps (:meth:`mtl_numpy.diagnostics.GradientConflict.to_dict` plus ``"step"``).
    layers : "all", None or sequence of str, default "all"
        Which per-layer panels to draw beside the panel over all the shared parameters:
        ``"all"`` every layer key of the records (``"1"``, ``"2"``, ... for ``W1, b1``, ...),
        ``None`` none, or the keys to draw.
    path : str or os.PathLike, optional
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per group of parameters, one line per pair of tasks
        (:math:`\cos(g_i, g_j)` against the step; below 0 the two tasks pull the shared
        weights apart), and a last panel with the task weights the method applied at each
        step when ``history.task_weights`` holds them. A pair is drawn only at steps where
        both tasks had a label in the batch.
    """
    plt = require_matplotlib()
    rows = list(getattr(history, "conflict", []) or [])
    if not rows:
        raise ValueError("history has no gradient-conflict records: train with "
                         "mtl.fit(..., track_conflict=k) first")
    available = list(rows[0]["layers"])
    if layers == "all":
        layers = available
    elif layers is None:
        layers = []
    else:
        layers = [str(k) for k in layers]
        unknown = [k for k in layers if k not in available]
        if unknown:
            raise ValueError(f"layers {unknown} are not among the tracked layers {available}")
    tasks = list(rows[0]["tasks"])
    steps = np.array([row["step"] for row in rows])
    present = np.array([row["present"] for row in rows], dtype=bool)
    weights = np.array(getattr(history, "task_weights", []) or [])
    panels = [("all shared parameters", None)] + [(f"layer {k}", k) for k in layers]
    n_panels = len(panels) + (1 if weights.size else 0)
    fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels, 3.6), squeeze=False)
    T = len(tasks)
    for ax, (title, key) in zip(axes[0], panels):
        cos = np.array([row["cosine"] if key is None else row["layer_cosine"][key] for row in rows])
        for i in range(T):
            for j in range(i + 1, T):
                both = present[:, i] & present[:, j]
                if both.any():
                    ax.plot(steps[both], cos[both, i, j], "o-", ms=2, lw=1, label=f"{tasks[i]} / {tasks[j]}")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("step")
        ax.set_ylabel(r"$\cos(g_i, g_j)$")
        ax.set_title(f"gradient cosine, {title}")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize="x-small")
    if weights.size:
        ax = axes[0, -1]
        for t in range(weights.shape[1]):
            ax.plot(np.arange(1, len(weights) + 1), weights[:, t], lw=1, label=tasks[t])
        ax.set_xlabel("step")
        ax.set_ylabel(r"task weight $\lambda_t$")
        ax.set_title(f"weights ({getattr(history, 'weighting', '')})")
        ax.legend(fontsize="x-small")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
