r"""Which tasks to learn together: lookahead task affinity vs training every subset.

Two ways to decide how four tasks should be grouped into networks:

**The cheap estimate: lookahead inter-task affinity** (Fifty et al. 2021, "Efficiently
Identifying Task Groupings for Multi-Task Learning"). One multi-task network is trained on all
the tasks (a :class:`~mtl_numpy.models.SharedCNN` with per-task heads, on driving scenes with
'?' labels). Every ``every`` steps, on that step's mini-batch, each task ``i`` in turn takes a
*lookahead* step on its own gradient, on the shared parameters only, and we measure how each
task ``j``'s loss on the same batch changes:

.. math::
    Z_{i \to j} = 1 - \frac{J_j(\theta_{sh} - \eta\, g_i,\ \theta_j)}{J_j(\theta_{sh},\ \theta_j)},
    \qquad g_i = \frac{\partial J_i}{\partial \theta_{sh}}

(``J_t`` and ``g_i`` from ``model.task_costs_and_grads``; the parameters are put back exactly
after each lookahead). ``Z > 0``: a step for task ``i`` lowers task ``j``'s loss. To first
order :math:`Z_{i \to j} \approx \eta\, \langle g_i, g_j \rangle / J_j`, so while ``eta`` is in
that range it scales every entry alike and the ranking of groupings (a score linear in ``Z``)
does not depend on it. ``Z`` is averaged over the training run (entries of a
batch in which task ``i`` or ``j`` has no known label are left out). A grouping is scored as
in the paper: each task ``j`` gets the mean affinity onto it from the other members of its
group, :math:`\frac{1}{|S|-1} \sum_{i \in S, i \ne j} Z_{i \to j}` (0 for a task alone), summed
over the tasks; the cheap choice at each budget is the grouping with the highest total.

**The exhaustive answer** (Standley et al. 2020, "Which Tasks Should Be Learned Together in
Multi-task Learning?"): with four tasks there are only 15 non-empty subsets, so we train a
network on each (the same architecture, data and recipe, with as many heads as the subset has
tasks) and score each task in each subset by its loss on validation scenes (against the
truth). Our simplest version of the selection: **a grouping is a partition** of the four tasks
(every task is served by exactly one network, the one trained on its group), its validation
score is the sum of its tasks' validation losses, and **budget b** allows at most ``b``
networks (15 partitions in all: 1 with one network, 7 with two, 6 with three, 1 with four).
Standley et al. also let a task be served by the best of several chosen networks; we do not.

The table compares, at each budget, the cheap choice with the exhaustive one (the same
grouping or not, per seed) and the score each actually gets on held-out **test** scenes: the
summed per-task test loss and the mean test accuracy of the tasks, each task read from the
network of its group. The mean over all the budget's candidate partitions is the reference a
random choice would get.

Rows of the :class:`ExperimentResult` (param = ``rho``, the scenes' relatedness):

* ``affinity_<i>``, task ``j``, metric ``"Z"``: the mean :math:`Z_{i \to j}` over seeds;
* ``subset_<S>``, task ``j`` in ``S``: ``val_loss``, ``test_loss``, ``accuracy``,
  ``average_precision`` of task ``j`` in the network trained on ``S`` (``S`` in letters,
  :data:`LETTERS`: ``"PC"`` = pedestrian and car);
* ``exhaustive_b<b>``, ``cheap_b<b>``, ``candidates_b<b>`` (the mean over candidates), task
  ``"all"``: ``val_loss``, ``test_loss``, ``accuracy``;
* ``cheap_minus_exhaustive_b<b>``, task ``"all"``: the paired per-seed differences of those
  three, and ``agree`` (1 when the cheap choice is the exhaustive one, 0 otherwise);
  ``cheap_minus_candidates_b<b>``: the cheap choice minus the candidates' mean, per seed (does
  the affinity pick better than a partition drawn at random?).

``notes["groupings"]`` holds each seed's chosen groupings, ``notes["Z_per_seed"]`` each seed's
matrix, ``notes["per_seed"]`` each seed's test-loss differences (for the intervals of
:func:`summary_markdown`).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ..labels import TASKS
from ..optim import Adam
from ..plotting import finish_figure, require_matplotlib
from .common import ExperimentResult, Recorder, Timer, blas_threads, evaluate_truth, \
    resolve_backend, run_progress
from .relatedness import seed_interval   # mean, std and 95 % t half-width of per-seed values

__all__ = ["run", "plot", "lookahead_affinity", "train_with_affinity", "partitions",
           "grouping_label", "affinity_score", "choose_by_affinity", "choose_exhaustive",
           "affinity_matrix", "summary_markdown", "LETTERS", "DEFAULT_RHOS"]

#: The relatedness values probed by default.
DEFAULT_RHOS = (0.0, 1.0)
#: One letter per task, for subset and grouping names.
LETTERS = "PCSL"


# --------------------------------------------------------------------------- #
# The lookahead
# --------------------------------------------------------------------------- #
def _lookahead_prepared(model, Xp, Yp, learning_rate):
    """:func:`lookahead_affinity` on a batch already prepared by ``model.prepare``."""
    J, G = model.prepared_task_costs_and_grads(Xp, Yp)
    T = model.n_tasks
    shared = model.shared
    # Keep exact copies: the lookahead step is undone by copying back, not by adding
    # eta * g_i again (which would leave float rounding in the parameters).
    saved = {k: model.params[k].copy() for k in shared}
    eta = model.params[shared[0]].dtype.type(learning_rate)
    Z = np.full((T, T), np.nan)
    try:
        for i in range(T):
            for k in shared:
                model.params[k] -= eta * G[k][i]
            J_after = model.prepared_task_logits(Xp, Yp)[0]
            for k in shared:
                model.params[k][...] = saved[k]
            Z[i] = 1.0 - J_after / np.where(J > 0, J, np.nan)
    finally:
        for k in shared:
            model.params[k][...] = saved[k]
    has_label = np.asarray(J > 0)
    Z[~has_label, :] = np.nan   # no gradient from task i: no lookahead to speak of
    Z[:, ~has_label] = np.nan   # task j has no loss on this batch
    return Z, J


def lookahead_affinity(model, X, Y, learning_rate=3e-3):
    r"""The lookahead inter-task affinity of one batch (Fifty et al. 2021), ``(n_tasks, n_tasks)``.

    Parameters
    ----------
    model : SharedMLP or SharedCNN
        With or without heads; the lookahead moves only ``model.shared``.
    X : ndarray
        The model's input layout.
    Y : ndarray of shape (n_tasks, m)
        Labels with ``nan`` for '?'.
    learning_rate : float, default 3e-3
        :math:`\eta`, the lookahead step on :math:`g_i` (plain gradient descent, as in the paper,
        which takes the training rate). Keep it small: ``Z`` is meant in the first-order regime
        (on the scenes' CNN, ``Z`` grows in proportion to ``eta`` up to about ``3e-3`` and then
        bends as the step overshoots; at ``0.1`` even a task's own loss goes up).

    Returns
    -------
    Z : ndarray of float64, shape (n_tasks, n_tasks)
        ``Z[i, j]`` :math:`= 1 - J_j(\theta_{sh} - \eta g_i) / J_j(\theta_{sh})`: row = the task
        that steps, column = the task whose loss is measured. ``nan`` in row ``i`` / column ``j``
        when task ``i`` / ``j`` has no known label in the batch.

    Notes
    -----
    ``J_j`` is task ``j``'s masked cost on the same batch (``model.task_costs_and_grads``, the
    model's ``normalize``; the ratio does not depend on it). The parameters are restored bit
    for bit after each lookahead (copied back), so the call leaves ``model`` unchanged.
    """
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate)
            and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number; got {learning_rate!r}")
    Xp, Yp = model.prepare(X, Y)
    return _lookahead_prepared(model, Xp, Yp, learning_rate)[0]


def train_with_affinity(model, X, Y, *, epochs, batch_size=64, learning_rate=3e-3, seed=0,
                        every=None, lookahead_rate=3e-3):
    """Train ``model`` with Adam on mini-batches; every ``every`` steps, record the lookahead affinity.

    Parameters
    ----------
    model : SharedMLP or SharedCNN
    X, Y : the training set (``Y`` with ``nan`` for '?').
    epochs, batch_size, learning_rate, seed
        Adam (:class:`~mtl_numpy.optim.Adam`) on mini-batches shuffled by ``seed``.
    every : int or None
        Lookahead on steps ``1, 1 + every, ...`` (before that step's update); None: never.
    lookahead_rate : float
        :math:`\\eta` of :func:`lookahead_affinity`.

    Returns
    -------
    Z : ndarray of shape (n_tasks, n_tasks) or None
        The mean of the recorded matrices (each entry over the lookaheads where it is defined);
        None when ``every`` is None.
    """
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ValueError(f"every must be None or a positive int; got {every!r}")
    Xp, Yp = model.prepare(X, Y)
    m = model.n_examples(Xp)
    rng = np.random.default_rng(seed)
    opt = Adam(learning_rate=learning_rate)
    T = model.n_tasks
    Z_sum, Z_count = np.zeros((T, T)), np.zeros((T, T))
    step = 0
    for epoch in range(int(epochs)):
        order = rng.permutation(m)
        for start in range(0, m, batch_size):
            index = order[start:start + batch_size]
            Xb, Yb = model.take_examples(Xp, index), Yp[:, index]
            if every is not None and step % every == 0:
                Z, _ = _lookahead_prepared(model, Xb, Yb, lookahead_rate)
                ok = np.isfinite(Z)
                Z_sum[ok] += Z[ok]
                Z_count += ok
            J, grads = model.prepared_cost_and_grads(Xb, Yb)
            if not math.isfinite(float(J)):
                raise FloatingPointError(f"training cost became {J} at epoch {epoch + 1}, "
                                         f"step {step + 1}")
            opt.update(model.params, grads)
            step += 1
    if every is None:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        return Z_sum / Z_count


# --------------------------------------------------------------------------- #
# Groupings
# --------------------------------------------------------------------------- #
def partitions(items):
    """Every partition of ``items`` into non-empty groups (tuples of tuples, groups in order).

    Four items have 15 partitions (the Bell number B4).
    """
    items = tuple(items)
    if not items:
        return [()]
    first, rest = items[0], items[1:]
    out = []
    for p in partitions(rest):
        out.append(((first,),) + p)
        for g in range(len(p)):
            out.append(p[:g] + ((first,) + p[g],) + p[g + 1:])
    return sorted(out, key=lambda p: (len(p), [sorted(g) for g in p]))


def grouping_label(grouping, letters=LETTERS):
    """``((0, 1), (2, 3))`` -> ``"PC/SL"``: one letter per task, ``/`` between networks."""
    return "/".join("".join(letters[t] for t in sorted(g)) for g in
                    sorted(grouping, key=lambda g: (min(g))))


def affinity_score(Z, grouping):
    r"""The total affinity of a grouping: :math:`\sum_j \frac{1}{|S_j|-1}\sum_{i\in S_j, i\ne j} Z_{i\to j}`.

    ``S_j`` is the group of task ``j``; a task alone contributes 0.
    """
    total = 0.0
    for group in grouping:
        for j in group:
            others = [i for i in group if i != j]
            if others:
                total += float(np.mean([Z[i, j] for i in others]))
    return total


def _candidates(n_tasks, budget):
    return [p for p in partitions(range(n_tasks)) if len(p) <= budget]


def choose_by_affinity(Z, budget):
    """The partition with at most ``budget`` groups of highest :func:`affinity_score` (ties: fewer
    groups, then the first in :func:`partitions` order)."""
    best = None
    for p in _candidates(len(Z), budget):
        s = affinity_score(Z, p)
        if best is None or s > best[0] + 1e-15:
            best = (s, p)
    return best[1]


def grouping_value(loss, grouping):
    """Sum over tasks of ``loss[(group, task)]``, each task read from the network of its group."""
    return float(sum(loss[tuple(sorted(g)), t] for g in grouping for t in g))


def choose_exhaustive(val_loss, n_tasks, budget):
    """The partition with at most ``budget`` groups of lowest summed validation loss.

    ``val_loss[(subset, task)]``: task's validation loss in the network trained on ``subset``
    (a sorted tuple of task indices).
    """
    return min(_candidates(n_tasks, budget), key=lambda p: grouping_value(val_loss, p))


# --------------------------------------------------------------------------- #
# The experiment
# --------------------------------------------------------------------------- #
def _subset_label(subset):
    return "".join(LETTERS[t] for t in subset)


def _truth_loss(model, X, Y_true):
    """Per-task mean logistic loss of ``model`` against the full truth (float64, host)."""
    from ..backends import to_numpy
    from ..training import predict_proba_batched

    AL = np.asarray(to_numpy(predict_proba_batched(model, X)), dtype=np.float64)
    AL = np.clip(AL, 1e-12, 1 - 1e-12)
    return -(Y_true * np.log(AL) + (1 - Y_true) * np.log(1 - AL)).mean(axis=1)


def run(seeds=(0, 1, 2, 3, 4), rhos=DEFAULT_RHOS, m_train=2000, m_val=500, m_test=1000,
        missing=0.3, image_size=16, width=8, head_dim=16, epochs=10, batch_size=64,
        learning_rate=3e-3, every=5, lookahead_rate=3e-3, backend="auto", fast=False, progress=True):
    """Run the comparison; returns an :class:`ExperimentResult` (param = ``rho``).

    Parameters
    ----------
    seeds : sequence of int
        One set of scenes and 15 networks per seed (and per ``rho``).
    rhos : sequence of float in [0, 1]
        The scenes' ``relatedness``.
    m_train, m_val, m_test : int
        Training scenes (labels with a ``missing`` share of '?'), validation scenes (the
        exhaustive search's scores, truth) and test scenes (the reported scores, truth).
    image_size, width, head_dim : int
        :class:`~mtl_numpy.models.SharedCNN` with conv ``(w, 2w)``, dense ``4w`` shared, then a
        head of ``head_dim`` ReLU units and one output per task.
    epochs, batch_size, learning_rate
        Adam, the same for every network (no early stopping: all subsets get the same recipe).
    every, lookahead_rate
        The lookahead on the all-tasks network: every ``every`` steps, step size ``eta``.
    backend : str
        ``"auto"``: Numba when installed.
    fast : bool
        Seconds: 2 seeds, tiny sizes (tests and the tutorial's smoke test).
    progress : bool
        A progress bar over the networks.
    """
    if fast:
        seeds = tuple(seeds)[:2]
        m_train, m_val, m_test, width, head_dim, epochs, every = 160, 60, 80, 2, 4, 2, 2
    from ..datasets import driving_scenes
    from ..models import SharedCNN

    backend = resolve_backend(backend)
    rhos = tuple(float(r) for r in rhos)
    seeds = tuple(int(s) for s in seeds)
    settings = dict(seeds=list(seeds), rhos=list(rhos), m_train=m_train, m_val=m_val,
                    m_test=m_test, missing=missing, image_size=image_size, width=width,
                    head_dim=head_dim, epochs=epochs, batch_size=batch_size,
                    learning_rate=learning_rate, every=every, lookahead_rate=lookahead_rate,
                    backend=backend, fast=fast, selection="partition, at most b networks")
    T = len(TASKS)
    subsets = [s for r in range(1, T + 1) for s in itertools.combinations(range(T), r)]
    rec = Recorder()
    notes = {"groupings": {}, "Z_per_seed": {}, "per_seed": {}}
    bar = run_progress(len(seeds) * len(rhos) * len(subsets), "affinity", progress)
    w = int(width)
    with Timer() as timer, blas_threads(1):
        for rho in rhos:
            key = f"{rho:g}"
            notes["groupings"][key] = {str(b): {"cheap": [], "exhaustive": []} for b in range(1, T + 1)}
            notes["Z_per_seed"][key] = []
            notes["per_seed"][key] = {str(b): {"cheap_minus_exhaustive": [], "cheap_minus_candidates": []}
                                      for b in range(1, T + 1)}
            for seed in seeds:
                data = driving_scenes(m_train + m_val + m_test, image_size=image_size,
                                      missing=missing, seed=seed, relatedness=rho)
                rest, test = data.split(m_test)
                train_set, val = rest.split(m_val)
                val_loss, test_loss, test_acc = {}, {}, {}
                Z = None
                # the all-tasks network first: it is also the one the lookahead watches
                for subset in sorted(subsets, key=len, reverse=True):
                    model = SharedCNN((image_size, image_size, 3), conv_channels=(w, 2 * w),
                                      hidden=(4 * w,), n_tasks=len(subset), seed=seed,
                                      backend=backend, head_dims=(int(head_dim),))
                    watch = len(subset) == T
                    Zs = train_with_affinity(model, train_set.X, train_set.Y[list(subset)],
                                             epochs=epochs, batch_size=batch_size,
                                             learning_rate=learning_rate, seed=seed,
                                             every=every if watch else None,
                                             lookahead_rate=lookahead_rate)
                    if watch:
                        Z = Zs
                    vl = _truth_loss(model, val.X, val.Y_true[list(subset)])
                    tl = _truth_loss(model, test.X, test.Y_true[list(subset)])
                    names = tuple(TASKS[t] for t in subset)
                    metrics = evaluate_truth(model, test.X, test.Y_true[list(subset)], names)
                    for n, t in enumerate(subset):
                        val_loss[subset, t], test_loss[subset, t] = float(vl[n]), float(tl[n])
                        test_acc[subset, t] = metrics[TASKS[t]]["accuracy"]
                        cond = f"subset_{_subset_label(subset)}"
                        rec.add(cond, rho, TASKS[t], "val_loss", vl[n])
                        rec.add(cond, rho, TASKS[t], "test_loss", tl[n])
                        for metric in ("accuracy", "average_precision"):
                            rec.add(cond, rho, TASKS[t], metric, metrics[TASKS[t]][metric])
                    bar.update()
                notes["Z_per_seed"][key].append(Z.tolist())
                for i in range(T):
                    for j in range(T):
                        rec.add(f"affinity_{TASKS[i]}", rho, TASKS[j], "Z", Z[i, j])

                def scores(p):
                    return {"val_loss": grouping_value(val_loss, p),
                            "test_loss": grouping_value(test_loss, p),
                            "accuracy": grouping_value(test_acc, p) / T}

                for b in range(1, T + 1):
                    cheap, best = choose_by_affinity(Z, b), choose_exhaustive(val_loss, T, b)
                    s_cheap, s_best = scores(cheap), scores(best)
                    cands = [scores(p) for p in _candidates(T, b)]
                    for metric in ("val_loss", "test_loss", "accuracy"):
                        rec.add(f"exhaustive_b{b}", rho, "all", metric, s_best[metric])
                        rec.add(f"cheap_b{b}", rho, "all", metric, s_cheap[metric])
                        rec.add(f"candidates_b{b}", rho, "all", metric,
                                np.mean([c[metric] for c in cands]))
                        rec.add(f"cheap_minus_exhaustive_b{b}", rho, "all", metric,
                                s_cheap[metric] - s_best[metric])
                        rec.add(f"cheap_minus_candidates_b{b}", rho, "all", metric,
                                s_cheap[metric] - np.mean([c[metric] for c in cands]))
                    diffs = notes["per_seed"][key][str(b)]
                    diffs["cheap_minus_exhaustive"].append(s_cheap["test_loss"] - s_best["test_loss"])
                    diffs["cheap_minus_candidates"].append(
                        s_cheap["test_loss"] - float(np.mean([c["test_loss"] for c in cands])))
                    same = grouping_label(cheap) == grouping_label(best)
                    rec.add(f"cheap_minus_exhaustive_b{b}", rho, "all", "agree", float(same))
                    notes["groupings"][key][str(b)]["cheap"].append(grouping_label(cheap))
                    notes["groupings"][key][str(b)]["exhaustive"].append(grouping_label(best))
    bar.close()
    result = ExperimentResult("affinity", "rho", rec.rows(), settings, timer.seconds, notes)
    return result


# --------------------------------------------------------------------------- #
# Reading the result
# --------------------------------------------------------------------------- #
def affinity_matrix(result, rho):
    """The mean ``Z`` over seeds, ``(n_tasks, n_tasks)``: row = stepping task i, column = task j."""
    return np.array([[result.get(f"affinity_{i}", j, "Z", rho).mean for j in TASKS] for i in TASKS])


def summary_markdown(result, digits=3):
    """One line per (``rho``, budget): the groupings chosen (per seed), their test scores, agreement.

    Scores: the summed per-task test loss (lower is better), mean ± std over seeds; the two
    differences are paired per seed (the same scenes and networks), given as mean ± std and the
    95 % t interval of the mean; then the mean test accuracy of the tasks.
    """
    T = len(TASKS)
    head = ["rho", "budget", "exhaustive picks (per seed)", "cheap picks (per seed)", "same",
            "test loss: exhaustive", "test loss: cheap", "test loss: mean of candidates",
            "cheap - exhaustive", "95 % interval", "cheap - candidates", "95 % interval",
            "accuracy: exhaustive", "accuracy: cheap"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    f = f".{digits}f"

    def cell(cond, metric, rho):
        r = result.get(cond, "all", metric, rho)
        return f"{r.mean:{f}} ± {r.std:{f}}"

    def paired(cond, rho, b):
        per_seed = result.notes["per_seed"][f"{rho:g}"][str(b)][cond]
        mean, std, half = seed_interval(per_seed)
        return [f"{mean:+{f}} ± {std:{f}}", f"[{mean - half:+{f}}, {mean + half:+{f}}]"]

    for rho in result.params:
        g = result.notes["groupings"][f"{rho:g}"]
        for b in range(1, T + 1):
            picks = g[str(b)]
            agree = sum(c == e for c, e in zip(picks["cheap"], picks["exhaustive"]))
            lines.append("| " + " | ".join(
                [f"{rho:g}", str(b), " ".join(picks["exhaustive"]), " ".join(picks["cheap"]),
                 f"{agree}/{len(picks['cheap'])}", cell(f"exhaustive_b{b}", "test_loss", rho),
                 cell(f"cheap_b{b}", "test_loss", rho), cell(f"candidates_b{b}", "test_loss", rho)]
                + paired("cheap_minus_exhaustive", rho, b) + paired("cheap_minus_candidates", rho, b)
                + [cell(f"exhaustive_b{b}", "accuracy", rho), cell(f"cheap_b{b}", "accuracy", rho)])
                + " |")
    return "\n".join(lines)


def matrix_markdown(result, digits=3):
    """The affinity matrix at each ``rho``, mean ± std over seeds (row: stepping task i)."""
    out = []
    d = max(digits - 2, 1)   # Z x 1000: "+31.7" carries as many digits as "0.032"
    for rho in result.params:
        lines = [f"**rho = {rho:g}** (Z[i -> j] x 1000; row i steps, column j is measured)", "",
                 "| i \\ j | " + " | ".join(TASKS) + " |",
                 "|" + "|".join(["---"] * (len(TASKS) + 1)) + "|"]
        for i in TASKS:
            cells = []
            for j in TASKS:
                r = result.get(f"affinity_{i}", j, "Z", rho)
                cells.append(f"{1000 * r.mean:+.{d}f} ± {1000 * r.std:.{d}f}")
            lines.append(f"| {i} | " + " | ".join(cells) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def plot(result, path=None):
    """Left: the mean affinity matrix at each ``rho``. Right: the test loss of the grouping each
    method picks at each budget (mean ± std over seeds), the candidates' mean, and agreement."""
    plt = require_matplotlib()
    rhos = result.params
    T = len(TASKS)
    fig, axes = plt.subplots(1, len(rhos) + 1, figsize=(4.3 * (len(rhos) + 1) + 1, 4.2),
                             gridspec_kw={"width_ratios": [1] * len(rhos) + [1.5], "wspace": 0.35})
    # The colour scale is set by the off-diagonal entries (how tasks affect each other); the
    # diagonal (a task's step on its own loss) is far larger and is drawn saturated, in bold.
    off = ~np.eye(T, dtype=bool)
    lim = max(1e-9, max(np.nanmax(np.abs(1000 * affinity_matrix(result, rho)[off])) for rho in rhos))
    short = [t.replace("_", " ").replace("traffic light", "light") for t in TASKS]
    for n, (ax, rho) in enumerate(zip(axes[:-1], rhos)):
        Z = 1000 * affinity_matrix(result, rho)
        im = ax.imshow(Z, cmap="RdBu_r", vmin=-lim, vmax=lim)
        for i in range(T):
            for j in range(T):
                ax.text(j, i, f"{Z[i, j]:+.1f}", ha="center", va="center", fontsize=8,
                        fontweight="bold" if i == j else "normal",
                        color="w" if abs(Z[i, j]) > 0.6 * lim else "k")
        ax.set_xticks(range(T))
        ax.set_xticklabels(short, fontsize=7, rotation=30)
        ax.set_yticks(range(T))
        ax.set_yticklabels(short if n == 0 else [], fontsize=7)
        ax.set_xlabel("task j whose loss is measured")
        if n == 0:
            ax.set_ylabel("task i that takes the step")
        ax.set_title(f"Z[i -> j] x 1000, rho = {rho:g}")
    ax = axes[-1]
    budgets = np.arange(1, T + 1)
    width = 0.8 / len(rhos)
    for k, rho in enumerate(rhos):
        x = budgets + (k - (len(rhos) - 1) / 2) * width
        for cond, marker, label in (("exhaustive", "o", "exhaustive"), ("cheap", "s", "cheap (affinity)"),
                                    ("candidates", "x", "mean of candidates")):
            rows = [result.get(f"{cond}_b{b}", "all", "test_loss", rho) for b in budgets]
            ax.errorbar(x + {"exhaustive": -0.08, "cheap": 0.0, "candidates": 0.08}[cond],
                        [r.mean for r in rows], yerr=[r.std for r in rows], fmt=marker, capsize=3,
                        color=f"C{k}", alpha=1.0 if cond != "candidates" else 0.5,
                        label=f"{label}, rho = {rho:g}")
        g = result.notes["groupings"][f"{rho:g}"]
        for b, xb in zip(budgets, x):
            picks = g[str(b)]
            agree = sum(c == e for c, e in zip(picks["cheap"], picks["exhaustive"]))
            top = result.get(f"cheap_b{b}", "all", "test_loss", rho)
            ax.annotate(f"{agree}/{len(picks['cheap'])}", (xb, top.mean + top.std), fontsize=7,
                        ha="center", va="bottom", color=f"C{k}")
    ax.set_xticks(budgets)
    ax.set_xlabel("budget: at most b networks")
    ax.set_ylabel("summed test loss of the 4 tasks (lower is better)")
    ax.set_title("Grouping picked: score on test scenes\n(k/n: seeds where cheap = exhaustive)",
                 fontsize=9)
    ax.legend(fontsize=6)
    fig.colorbar(im, ax=list(axes[:-1]), shrink=0.8,
                 label="Z x 1000 (diagonal saturated)")
    fig.suptitle(f"Lookahead affinity vs training all 15 subsets "
                 f"({len(result.settings.get('seeds', []))} seeds)")
    return finish_figure(fig, path)
