r"""The relatedness probe: does the scenes' ``relatedness`` dial make the tasks share features?

The lecture's claim about multi-task learning (and transfer learning) rests on tasks that
*share low-level features*. :func:`~mtl_numpy.datasets.driving_scenes` has a dial for it,
``relatedness=rho`` (0: every object made of its own materials; 1: all four made of one
shared vocabulary of materials). This probe measures what the dial does, with the
cross-task **frozen-trunk transfer matrix**:

* for each source task ``i``, a CNN (:func:`~.common.scene_cnn`, width ``w``, one output) is
  trained on task ``i`` alone, on ``m_trunk`` scenes (its checkpoint chosen on validation
  scenes, :func:`~.common.train`);
* its conv trunk (``W1, b1, W2, b2``: every conv layer) is copied into a fresh network of the
  same architecture and **frozen** (:class:`~.common.TrainableSubset` updates only the dense
  head ``W3, b3, W4, b4``), and the head is trained on ``n_head`` labelled scenes of task
  ``j``, apart from the trunk's;
* the baseline is the same network with its conv trunk left at its random initialisation and
  frozen, the head trained the same way (``random_trunk``): what a head can make of features
  nobody learnt.

Every head for target ``j`` starts from the same initial parameters and sees the same
mini-batches (same seeds), whatever the trunk, so the differences are paired. We record the
held-out accuracy and average precision on task ``j``, against the truth, for ``trunk_<i>``
(16 entries: the diagonal ``i = j`` is ordinary training of a head on its own trunk) and
``random_trunk``, and the per-seed differences:

* ``gain_<i>``: ``trunk_<i>`` minus ``random_trunk`` on target ``j``;
* ``gain_off_diagonal``: for each target ``j`` the mean of ``gain_<i>`` over the three
  sources ``i != j``; its task ``"mean"`` is the mean over the 12 off-diagonal entries — the
  probe's headline number, one per seed, reported as mean ± std over seeds at each ``rho``
  (``notes["off_diagonal_gain"]`` also holds the per-seed values and a 95 % t interval).

If the dial works, the off-diagonal gain grows with ``rho``: at ``rho = 0`` a trunk trained
on another task's materials helps no more than random filters (or less), at ``rho = 1`` it
has learnt exactly the materials the target is built from.
"""
from __future__ import annotations

import math

import numpy as np

from ..labels import TASKS
from ..plotting import finish_figure, require_matplotlib
from .stats import t_quantile
from .common import ExperimentResult, Recorder, Timer, blas_threads, \
    evaluate_truth, resolve_backend, run_progress, \
    scene_cnn, train

__all__ = ["run", "plot", "plot_scenes", "train_head", "gain_matrix", "summary_markdown",
           "growth_markdown", "CONDITIONS", "DEFAULT_RHOS", "TRUNK", "HEAD"]

#: The relatedness values probed by default.
DEFAULT_RHOS = (0.0, 0.5, 1.0)
#: The parameters of :func:`~.common.scene_cnn` that make up the conv trunk, and its head.
TRUNK = ("W1", "b1", "W2", "b2")
HEAD = ("W3", "b3", "W4", "b4")
CONDITIONS = tuple(f"trunk_{t}" for t in TASKS) + ("random_trunk",) \
    + tuple(f"gain_{t}" for t in TASKS) + ("gain_off_diagonal",)
METRICS = ("accuracy", "average_precision")


def seed_interval(values):
    """``(mean, std, half-width of the 95 % t interval)`` of per-seed values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return float(v.mean()), 0.0, math.nan
    std = float(v.std(ddof=1))
    return float(v.mean()), std, t_quantile(0.975, v.size - 1) * std / math.sqrt(v.size)


def train_head(trunk, X, Y, validation, *, image_size, width, seed, backend, epochs, **kw):
    """A new :func:`~.common.scene_cnn` with ``trunk`` frozen in it, its head trained on ``(X, Y)``.

    Parameters
    ----------
    trunk : dict or None
        ``{"W1": ..., "b1": ..., "W2": ..., "b2": ...}`` copied into the new network; None
        keeps the network's own random conv trunk (the baseline). Either way the trunk stays
        frozen: :func:`~.common.train` wraps Adam in a :class:`~.common.TrainableSubset`
        that updates only :data:`HEAD`.
    X : ndarray of shape (m, image_size, image_size, 3)
    Y : ndarray of shape (1, m)
        The target task's labels.
    validation : tuple ``(X_val, Y_val)``
        Chooses the head's checkpoint (early stopping).
    seed : int
        The head starts from ``scene_cnn(..., seed + 1)``'s parameters and sees mini-batches
        shuffled with ``seed``, whatever the trunk: comparisons between trunks are paired.
    epochs, kw
        Passed on to :func:`~.common.train`.

    Returns
    -------
    SharedCNN
        One output; ``params[k]`` for ``k`` in :data:`TRUNK` equal ``trunk[k]``.
    """
    model = scene_cnn(image_size, width, 1, seed + 1, backend)
    if trunk is not None:
        for k in TRUNK:
            model.params[k][...] = trunk[k]
    train(model, X, Y, epochs=epochs, seed=seed, trainable=HEAD, validation=validation, **kw)
    return model


def run(seeds=(0, 1, 2, 3, 4), rhos=DEFAULT_RHOS, m_trunk=4000, n_head=200, m_val=500,
        m_test=1000, image_size=16, width=8, trunk_epochs=10, head_epochs=10, min_steps=150,
        batch_size=64, learning_rate=3e-3, backend="auto", fast=False, progress=True):
    """Run the probe; returns an :class:`ExperimentResult` (param = ``rho``).

    Parameters
    ----------
    seeds : sequence of int
        One set of scenes, trunks and heads per seed (and per ``rho``).
    rhos : sequence of float in [0, 1]
        The ``relatedness`` values of the scenes.
    m_trunk, n_head, m_val, m_test : int
        Scenes that train each trunk (all labelled for its task); labelled scenes the head
        of the target task gets; validation scenes (checkpoint choice, truth of the run's
        task); held-out test scenes.
    image_size, width : int
        16x16 scenes and :func:`~.common.scene_cnn` of width ``w`` (conv ``(w, 2w)``, dense ``4w``).
    trunk_epochs, head_epochs, min_steps, batch_size, learning_rate
        Adam's training of the trunks and of the heads (:func:`~.common.train`; the heads get
        at least ``min_steps`` mini-batch steps).
    backend : str
        ``"auto"``: Numba when installed.
    fast : bool
        A setting that runs in seconds (tests): 2 seeds, ``rho`` in (0, 1), tiny sizes.
    progress : bool
        A progress bar over the trunks and heads.
    """
    if fast:
        seeds, rhos = tuple(seeds)[:2], (0.0, 1.0)
        m_trunk, n_head, m_val, m_test, width = 200, 40, 60, 100, 2
        trunk_epochs, head_epochs, min_steps = 1, 1, 4
    from ..datasets import driving_scenes

    backend = resolve_backend(backend)
    rhos = tuple(float(r) for r in rhos)
    settings = dict(seeds=list(seeds), rhos=list(rhos), m_trunk=m_trunk, n_head=n_head, m_val=m_val,
                    m_test=m_test, image_size=image_size, width=width, trunk_epochs=trunk_epochs,
                    head_epochs=head_epochs, min_steps=min_steps, batch_size=batch_size,
                    learning_rate=learning_rate, backend=backend, fast=fast)
    n_tasks = len(TASKS)
    rec = Recorder()
    per_seed_gain = {(rho, metric): [] for rho in rhos for metric in METRICS}
    bar = run_progress(len(seeds) * len(rhos) * (n_tasks + n_tasks * (n_tasks + 1)), "relatedness",
                       progress)
    kw = dict(batch_size=batch_size, learning_rate=learning_rate, max_epochs=2000)
    with Timer() as timer, blas_threads(1):
        for seed in seeds:
            for rho in rhos:
                data = driving_scenes(m_trunk + n_head + m_val + m_test, image_size=image_size,
                                      missing=0.0, seed=seed, relatedness=rho)
                rest, test = data.split(m_test)
                rest, val = rest.split(m_val)
                pool, head_set = rest.split(n_head)
                trunks = []
                for i in range(n_tasks):
                    model = scene_cnn(image_size, width, 1, seed, backend)
                    train(model, pool.X, pool.Y_true[i:i + 1], epochs=trunk_epochs, seed=seed,
                          validation=(val.X, val.Y_true[i:i + 1]), **kw)
                    trunks.append({k: model.params[k] for k in TRUNK})
                    bar.update()
                score = {}  # (source, j) -> metrics of target j; source None = random trunk
                for j, target in enumerate(TASKS):
                    for source in list(range(n_tasks)) + [None]:
                        # Same initial head (seed + 1) and batches for every trunk: paired.
                        model = train_head(None if source is None else trunks[source],
                                           head_set.X, head_set.Y_true[j:j + 1],
                                           (val.X, val.Y_true[j:j + 1]), image_size=image_size,
                                           width=width, seed=seed, backend=backend,
                                           epochs=head_epochs, min_steps=min_steps, **kw)
                        score[source, j] = evaluate_truth(model, test.X, test.Y_true[j:j + 1],
                                                          (target,))[target]
                        cond = "random_trunk" if source is None else f"trunk_{TASKS[source]}"
                        for metric in METRICS:
                            rec.add(cond, rho, target, metric, score[source, j][metric])
                        bar.update()
                for metric in METRICS:
                    gain = np.array([[score[i, j][metric] - score[None, j][metric]
                                      for j in range(n_tasks)] for i in range(n_tasks)])
                    off = ~np.eye(n_tasks, dtype=bool)
                    for j, target in enumerate(TASKS):
                        for i in range(n_tasks):
                            rec.add(f"gain_{TASKS[i]}", rho, target, metric, gain[i, j])
                        rec.add("gain_off_diagonal", rho, target, metric, gain[off[:, j], j].mean())
                    rec.add("gain_off_diagonal", rho, "mean", metric, gain[off].mean())
                    per_seed_gain[rho, metric].append(float(gain[off].mean()))
    bar.close()
    rows = rec.rows()
    result = ExperimentResult("relatedness", "rho", rows, settings, timer.seconds)
    result.notes["off_diagonal_gain"] = {
        metric: {f"{rho:g}": dict(zip(("mean", "std", "ci95"), seed_interval(per_seed_gain[rho, metric])),
                                  per_seed=per_seed_gain[rho, metric]) for rho in rhos}
        for metric in METRICS}
    return result


def gain_matrix(result, rho, metric="accuracy"):
    """The mean gain over random, ``(n_tasks, n_tasks)``: row = source task i, column = target j."""
    return np.array([[result.get(f"gain_{source}", target, metric, rho).mean for target in TASKS]
                     for source in TASKS])


def summary_markdown(result, digits=3):
    """The probe's headline as a Markdown table, one line per ``rho``.

    Columns: the off-diagonal gain over the random trunk (mean ± std over seeds, and the 95 %
    t interval of the mean), in accuracy and in average precision; the mean accuracy of a head
    on its own task's trunk (the diagonal: how hard the tasks are at this ``rho``) and on the
    random trunk.
    """
    notes = result.notes["off_diagonal_gain"]
    head = ["rho", "off-diagonal gain, accuracy", "95 % interval", "off-diagonal gain, AP",
            "95 % interval", "own trunk (diagonal), accuracy", "random trunk, accuracy", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for rho in result.params:
        cells = [f"{rho:g}"]
        for metric in METRICS:
            e = notes[metric][f"{rho:g}"]
            cells += [f"{e['mean']:+.{digits}f} ± {e['std']:.{digits}f}",
                      f"[{e['mean'] - e['ci95']:+.{digits}f}, {e['mean'] + e['ci95']:+.{digits}f}]"]
        diagonal = np.mean([result.get(f"trunk_{t}", t, "accuracy", rho).mean for t in TASKS])
        random_trunk = np.mean([result.get("random_trunk", t, "accuracy", rho).mean for t in TASKS])
        cells += [f"{diagonal:.{digits}f}", f"{random_trunk:.{digits}f}",
                  str(len(notes["accuracy"][f"{rho:g}"]["per_seed"]))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def growth_markdown(result, metric="accuracy", digits=3):
    """Does the off-diagonal gain grow with ``rho``? Paired differences between ``rho`` values.

    One line per pair of consecutive ``rho`` values and one from the first to the last: the
    per-seed off-diagonal gains at the higher ``rho`` minus those at the lower (the same seed
    draws the same labels and geometry at every ``rho``, so the differences are paired), as
    mean ± std and the 95 % t interval of the mean.
    """
    notes = result.notes["off_diagonal_gain"][metric]
    rhos = result.params
    pairs = list(zip(rhos[:-1], rhos[1:])) + ([(rhos[0], rhos[-1])] if len(rhos) > 2 else [])
    lines = [f"| from rho | to rho | change of the off-diagonal gain ({metric}) | 95 % interval | seeds |",
             "|---|---|---|---|---|"]
    for lo, hi in pairs:
        d = np.array(notes[f"{hi:g}"]["per_seed"]) - np.array(notes[f"{lo:g}"]["per_seed"])
        mean, std, half = seed_interval(d)
        lines.append(f"| {lo:g} | {hi:g} | {mean:+.{digits}f} ± {std:.{digits}f} | "
                     f"[{mean - half:+.{digits}f}, {mean + half:+.{digits}f}] | {d.size} |")
    return "\n".join(lines)


def plot(result, path=None, metric="accuracy"):
    """Off-diagonal gain against ``rho`` (mean ± std over seeds, seeds as dots), and each
    ``rho``'s mean transfer-gain matrix (source task i in rows, target task j in columns)."""
    plt = require_matplotlib()
    rhos = result.params
    fig, axes = plt.subplots(1, 1 + len(rhos), figsize=(4.4 * (1 + len(rhos)), 4.0),
                             gridspec_kw={"width_ratios": [1.4] + [1] * len(rhos), "wspace": 0.3})
    ax = axes[0]
    rows = [result.get("gain_off_diagonal", "mean", metric, rho) for rho in rhos]
    ax.errorbar(rhos, [r.mean for r in rows], yerr=[r.std for r in rows], marker="o", capsize=4,
                color="C0", label="mean ± std over seeds; dots: seeds")
    per_seed = result.notes.get("off_diagonal_gain", {}).get(metric, {})
    for rho in rhos:
        values = per_seed.get(f"{rho:g}", {}).get("per_seed", [])
        ax.plot([rho] * len(values), values, ".", color="C0", alpha=0.4)
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("relatedness rho")
    ax.set_ylabel(f"{metric}: trained trunk minus random trunk")
    ax.set_title("Off-diagonal gain (mean over i != j)")
    ax.legend(fontsize=7)
    lim = max(0.05, max(np.abs(gain_matrix(result, rho, metric)).max() for rho in rhos))
    short = [t.replace("_", " ").replace("traffic light", "light") for t in TASKS]
    for n, (ax, rho) in enumerate(zip(axes[1:], rhos)):
        G = gain_matrix(result, rho, metric)
        im = ax.imshow(G, cmap="RdBu_r", vmin=-lim, vmax=lim)
        for i in range(len(TASKS)):
            for j in range(len(TASKS)):
                ax.text(j, i, f"{G[i, j]:+.2f}", ha="center", va="center", fontsize=8,
                        fontweight="bold" if i == j else "normal")
        ax.set_xticks(range(len(TASKS)))
        ax.set_xticklabels(short, fontsize=7, rotation=30)
        ax.set_yticks(range(len(TASKS)))
        ax.set_yticklabels(short if n == 0 else [], fontsize=7)
        ax.set_xlabel("head trained on task j")
        if n == 0:
            ax.set_ylabel("trunk trained on task i")
        ax.set_title(f"rho = {rho:g}")
    fig.colorbar(im, ax=list(axes[1:]), shrink=0.8, label="gain over random trunk")
    fig.suptitle(f"Frozen conv trunk from task i, new head on {result.settings.get('n_head')} labels "
                 f"of task j ({len(result.settings.get('seeds', []))} seeds)")
    return finish_figure(fig, path)


def plot_scenes(path=None, rhos=DEFAULT_RHOS, n=6, sizes=(32, 16), seed=1):
    """Scenes drawn with the same seed at each ``rho`` (rows), at each image size, labels on top.

    The same seed gives the same labels, zones and shapes at every ``rho`` (the dial only
    changes the materials), so a column shows one scene as the dial turns.
    """
    from ..datasets import driving_scenes

    plt = require_matplotlib()
    rows = [(rho, size) for size in sizes for rho in rhos]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.9 * n, 2.05 * len(rows)), squeeze=False)
    for r, (rho, size) in enumerate(rows):
        data = driving_scenes(n, image_size=size, missing=0.0, seed=seed, relatedness=rho)
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(data.X[c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            names = [t.replace("_", " ").replace("traffic light", "light").replace("pedestrian", "ped")
                     for t, y in zip(data.tasks, data.Y_true[:, c]) if y == 1.0]
            ax.set_title(", ".join(names) or "(none)", fontsize=7)
        axes[r, 0].set_ylabel(f"rho = {rho:g}\n{size}x{size}", fontsize=9)
    fig.suptitle("driving_scenes(relatedness=rho): the same scenes as the dial turns "
                 "(titles: objects present; the rest are decoys)", fontsize=10)
    fig.tight_layout()
    return finish_figure(fig, path)
