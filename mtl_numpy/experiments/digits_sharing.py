r"""Experiment 1b — sharing on real data: one MLP for the four digit tasks vs four single MLPs.

The real-data row beside :mod:`.sharing`. scikit-learn's 1,797 handwritten 8x8 digits
(:func:`mtl_numpy.datasets.digits_tasks`) carry four yes/no tasks that all derive from
the digit's identity (``even``, ``greater_equal_5``, ``prime``, ``closed_loop``): the
tasks are related by construction, and each is easy to learn from its own labels
once there are enough of them. Each label is kept with probability ``labelled``.

Conditions (the names of :mod:`.sharing`), all MLPs on the 64 pixels:

* ``all-shared``: ``SharedMLP([64, *hidden, 4])``, everything shared up to the outputs;
* ``shared trunk + per-task heads``: the same trunk, then a dense ReLU head of
  ``head_dims`` per task;
* ``separate networks (equal width)``: four ``SharedMLP([64, *hidden, 1])``;
* ``separate networks (equal parameter count)``: four ``SharedMLP([64, *param_hidden, 1])``,
  together about the all-shared network's size.

Per seed: a new split of the images (``m_test`` test, ``m_val`` validation, the rest
train), new hidden labels, new initialisations; every condition of a seed sees the
same split and the same kept labels. The protocol is :func:`~.common.train_fair` for
every network (patience, extension of runs still improving, per-task checkpoints),
the learning rate of each condition picked per labelled fraction from ``rates`` on
``tuning_seeds`` (another split of the same images). The gain ``multi-task -
separate`` of the held-out accuracy (mean over the four tasks) is paired by seed and
gets a 95 % t interval and a verdict (:mod:`.stats`) in ``result.paired``.
"""
from __future__ import annotations

import numpy as np

from ..labels import known_labels
from ..models import SharedMLP
from ..plotting import finish_figure, log_axis, require_matplotlib
from . import stats
from .common import DEFAULT_RATES, ExperimentResult, Recorder, Timer, add_task_mean, blas_threads, \
    evaluate_per_task, labelled_columns, n_units, resolve_backend, run_progress, train_fair, \
    tune_and_evaluate
from .sharing import ALL_SHARED, CONDITIONS, HEADS, METRICS, MULTI_TASK, SEPARATE, SEPARATE_PARAMS, \
    SEPARATE_WIDTH

__all__ = ["run", "plot", "markdown", "claims_markdown", "gain_markdown", "paired_table",
           "DEFAULT_LABELLED"]

DEFAULT_LABELLED = (0.05, 0.2, 1.0)


def _split(seed, labelled, m_val, m_test):
    from ..datasets import digits_tasks

    data = digits_tasks(seed=0)
    order = np.random.default_rng(seed).permutation(data.m)
    te, va, tr = order[:m_test], order[m_test:m_test + m_val], order[m_test + m_val:]
    X = data.flat()
    Y_true = data.Y_true
    Y = Y_true[:, tr].copy()
    if labelled < 1.0:
        hidden = np.random.default_rng(seed + 7).random(Y.shape) >= labelled
        Y[hidden] = np.nan
    return data.tasks, (X[:, tr], Y), (X[:, va], Y_true[:, va]), (X[:, te], Y_true[:, te])


def _mlp(n_x, hidden, n_out, seed, backend, head_dims=None):
    return SharedMLP([n_x, *hidden, n_out], seed=seed, backend=backend, head_dims=head_dims)


def _unit(cell, seed, rates, cfg):
    """Every condition of :data:`~.sharing.CONDITIONS` in ``rates`` on one seed's split."""
    (labelled,) = cell
    tasks, (X, Y), val, (X_te, Y_te) = _split(seed, labelled, cfg["m_val"], cfg["m_test"])
    kw = dict(max_epochs=cfg["max_epochs"], patience=cfg["patience"],
              max_extensions=cfg["max_extensions"], batch_size=cfg["batch_size"], seed=seed)
    n_x = X.shape[0]
    out = {"labels_per_task": [int(n) for n in known_labels(Y).sum(axis=1)]}
    for cond in CONDITIONS:
        if cond not in rates:
            continue
        lr = rates[cond]
        if cond in MULTI_TASK:
            cols = labelled_columns(Y)
            head = tuple(cfg["head_dims"]) if cond == HEADS else None
            model = _mlp(n_x, cfg["hidden"], len(tasks), seed, cfg["backend"], head)
            run_ = train_fair(model, X[:, cols], Y[:, cols], val, learning_rate=lr, **kw)
            met = evaluate_per_task(model, run_, X_te, Y_te, tasks)
            parameters, runs = model.n_parameters, [run_]
        else:
            hidden = cfg["hidden"] if cond == SEPARATE_WIDTH else cfg["param_hidden"]
            met, parameters, runs = {}, 0, []
            for j, task in enumerate(tasks):
                cols = np.flatnonzero(known_labels(Y[j]))
                single = _mlp(n_x, hidden, 1, seed + 1000 * (j + 1), cfg["backend"])
                run_ = train_fair(single, X[:, cols], Y[j:j + 1, cols], (val[0], val[1][j:j + 1]),
                                  learning_rate=lr, **kw)
                met.update(evaluate_per_task(single, run_, X_te, Y_te[j:j + 1], (task,)))
                parameters += single.n_parameters
                runs.append(run_)
        val_cost = [c for r in runs for c in r.best_cost]
        out[cond] = {"metrics": add_task_mean(met, tasks), "parameters": parameters,
                     "val_score": float(np.mean(val_cost)),
                     "epochs": [r.epochs for r in runs], "extensions": [r.extensions for r in runs],
                     "still_improving": [r.still_improving for r in runs],
                     "diverged": [r.diverged for r in runs]}
    return out


def run(seeds=tuple(range(10)), labelled=DEFAULT_LABELLED, m_val=200, m_test=400, hidden=(64, 32),
        param_hidden=(20, 10), head_dims=(16,), max_epochs=60, patience=8, max_extensions=2,
        rates=DEFAULT_RATES, tuning_seeds=(100,), batch_size=64, jobs=1, backend="auto", fast=False,
        progress=True):
    """Run the digits sharing experiment; returns an :class:`ExperimentResult` (param = labelled).

    Needs scikit-learn (``pip install "mtl-numpy[data]"``) for the digits. ``fast=True``:
    two seeds, fractions (0.2, 1), short training, one rate (seconds).
    """
    if fast:
        seeds, labelled, hidden, param_hidden, head_dims = tuple(seeds)[:2], (0.2, 1.0), (16,), (6,), (4,)
        max_epochs, patience, max_extensions, rates = 3, 2, 1, (1e-2,)
    labelled = tuple(float(f) for f in labelled)
    if not labelled or not all(0.0 < f <= 1.0 for f in labelled):
        raise ValueError(f"labelled must hold fractions in (0, 1]; got {labelled!r}")
    if m_val < 1 or m_test < 1 or m_val + m_test >= 1797:
        raise ValueError(f"m_val and m_test must be >= 1 and leave training images of the 1,797; "
                         f"got m_val={m_val}, m_test={m_test}")
    backend = resolve_backend(backend)
    seeds = [int(s) for s in seeds]
    rates = tuple(float(r) for r in rates)
    cfg = dict(m_val=m_val, m_test=m_test, hidden=list(hidden), param_hidden=list(param_hidden),
               head_dims=list(head_dims), max_epochs=max_epochs, patience=patience,
               max_extensions=max_extensions, batch_size=batch_size, backend=backend)
    settings = dict(cfg, seeds=seeds, labelled=list(labelled), rates=list(rates),
                    tuning_seeds=[int(s) for s in tuning_seeds], fast=fast)
    cells = [(f,) for f in labelled]
    bar = run_progress(n_units(cells, seeds, rates, tuning_seeds), "digits", progress)
    with Timer() as timer, blas_threads(1):
        chosen, scores, per_seed, cpu = tune_and_evaluate(
            _unit, cells, CONDITIONS, seeds, rates=rates, tuning_seeds=tuning_seeds, cfg=cfg,
            jobs=jobs, bar=bar)
    bar.close()
    rec = Recorder()
    notes = {"cpu_seconds": round(cpu, 1), "parameters": {}, "learning_rate": {},
             "tuning_val_cost": {}, "epochs": {}, "extended_runs": {}, "still_improving_runs": {},
             "diverged_runs": {}, "runs": {}, "labels_per_task": {}, "per_seed": {}}
    for cell in cells:
        key = f"{cell[0]:g}"
        notes["labels_per_task"][key] = [per_seed[(cell, s)]["labels_per_task"] for s in seeds]
        for cond in CONDITIONS:
            infos = [per_seed[(cell, s)][cond] for s in seeds]
            for info in infos:
                rec.add_metrics(cond, cell[0], info["metrics"])
                notes["parameters"][cond] = info["parameters"]
                for metric in METRICS:
                    for t, row in info["metrics"].items():
                        notes["per_seed"].setdefault(key, {}).setdefault(cond, {}).setdefault(
                            metric, {}).setdefault(t, []).append(row[metric])
            eps = [e for i in infos for e in i["epochs"]]
            notes["epochs"].setdefault(key, {})[cond] = [int(min(eps)), float(np.mean(eps)), int(max(eps))]
            notes["extended_runs"].setdefault(key, {})[cond] = int(sum(e > 0 for i in infos
                                                                       for e in i["extensions"]))
            notes["still_improving_runs"].setdefault(key, {})[cond] = int(sum(x for i in infos
                                                                              for x in i["still_improving"]))
            notes["diverged_runs"].setdefault(key, {})[cond] = int(sum(x for i in infos for x in i["diverged"]))
            notes["runs"].setdefault(key, {})[cond] = len(eps)
            notes["learning_rate"].setdefault(key, {})[cond] = chosen[(cell, cond)]
            notes["tuning_val_cost"].setdefault(key, {})[cond] = {
                f"{lr:g}": float(np.mean(v)) for lr, v in scores.get((cell, cond), {}).items()}
    result = ExperimentResult("digits_sharing", "labelled", rec.rows(), settings, timer.seconds, notes)
    result.paired = paired_table(result)
    return result


def paired_table(result, tasks=("mean",), metrics=METRICS, confidence=0.95):
    """The paired gains ``multi-task - separate`` (same seed, same split and labels), with verdicts.

    One :class:`~.stats.PairedDifference` per (labelled, multi-task condition, separate
    condition, task, metric); key ``dataset="digits"``, ``labelled``, ``multi_task``,
    ``separate``, ``task``, ``metric``.
    """
    out = []
    per_seed = result.notes["per_seed"]
    for frac in result.settings["labelled"]:
        cell = per_seed[f"{float(frac):g}"]
        for multi in MULTI_TASK:
            for single in SEPARATE:
                for task in tasks:
                    for metric in metrics:
                        out.append(stats.paired_difference(
                            cell[multi][metric][task], cell[single][metric][task],
                            label=f"{multi} - {single}", confidence=confidence,
                            key={"dataset": "digits", "labelled": float(frac), "multi_task": multi,
                                 "separate": single, "task": task, "metric": metric}))
    return out


def _rows(result, metric, separate):
    return [d for d in result.paired if d.key["metric"] == metric and d.key["task"] == "mean"
            and (separate is None or d.key["separate"] == separate)]


def gain_markdown(result, metric="accuracy", separate=None, digits=3):
    """Markdown: labelled × networks, the gain, its 95 % interval and verdict."""
    head = ["labelled", "multi-task network", "separate networks", f"gain ({metric}, mean over tasks)",
            "95 % interval", "seeds", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for d in _rows(result, metric, separate):
        lines.append(f"| {d.key['labelled']:g} | {d.key['multi_task']} | {d.key['separate']} | "
                     f"{d.mean:+.{digits}f} ± {d.std:.{digits}f} | "
                     f"[{d.low:+.{digits}f}, {d.high:+.{digits}f}] | {d.n} | {d.verdict} |")
    return "\n".join(lines)


def claims_markdown(result, metric="accuracy", separate=SEPARATE_WIDTH, digits=3):
    """One sentence per (labelled, multi-task network), in its verdict's words (a Markdown list)."""
    words = stats.CLAIM_WORDS
    lines = []
    for d in _rows(result, metric, separate):
        frac = d.key["labelled"]
        labels = "every label" if frac >= 1 else f"{100 * frac:g} % of the labels"
        net = "the all-shared MLP" if d.key["multi_task"] == ALL_SHARED else "the MLP with per-task heads"
        lines.append(f"- digits, {labels}: {net} {words[d.verdict]} (gain {d.mean:+.{digits}f}, "
                     f"95 % interval [{d.low:+.{digits}f}, {d.high:+.{digits}f}], {d.n} seeds).")
    return "\n".join(lines)


def markdown(result, digits=3):
    """What the command line writes to ``digits_sharing.md``: verdicts, gain tables, accuracies."""
    return "\n".join([
        "Verdicts (mean held-out accuracy over the four digit tasks, against separate MLPs of the "
        "same width, paired over seeds):", "", claims_markdown(result, digits=digits), "",
        "Every gain (accuracy):", "", gain_markdown(result, digits=digits), "",
        "Average precision (mean over tasks), against equal width:", "",
        gain_markdown(result, metric="average_precision", separate=SEPARATE_WIDTH, digits=digits), "",
        result.to_markdown("accuracy", digits=digits)])


def plot(result, path=None, metric="accuracy"):
    """The gain (mean over tasks) against the labelled fraction, 95 % interval bars."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    fracs = sorted(result.settings["labelled"])
    for i, multi in enumerate(MULTI_TASK):
        for k, single in enumerate(SEPARATE):
            ds = sorted((d for d in _rows(result, metric, single) if d.key["multi_task"] == multi),
                        key=lambda d: d.key["labelled"])
            xs = np.array([d.key["labelled"] for d in ds]) * 2.0 ** (0.05 * (2 * i + k - 1.5))
            err = np.array([[d.mean - d.low for d in ds], [d.high - d.mean for d in ds]])
            ax.errorbar(xs, [d.mean for d in ds], yerr=err, fmt="os"[k], capsize=3, color=f"C{i}",
                        mfc="none" if k else f"C{i}",
                        label=f"{multi} vs {single.replace('separate networks ', 'separate ')}")
    ax.axhline(0.0, color="k", lw=0.7)
    log_axis(ax, fracs)
    ax.set_xlabel("fraction of labels kept")
    ax.set_ylabel(f"gain in held-out {metric}\n(multi-task - separate)")
    n = max((d.n for d in result.paired), default=0)
    ax.set_title(f"Digits: one MLP for four tasks vs four MLPs, {n} seeds (95 % t intervals)", fontsize=9)
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    return finish_figure(fig, path)
