r"""Experiment 1 — one multi-task network vs separate single-task networks, on a fair footing.

The lecture's claim: when the tasks share low-level features, training one
network on all of them beats training one network per task — above all when
each task has little data of its own. The scenes' relatedness dial
(``driving_scenes(..., relatedness=rho)``, checked by the relatedness probe)
sets how much the four objects share; each label is kept with probability
``labelled`` (independently), so at 0.1 a single-task network sees only its own
~10 % while the multi-task network learns from every scene with any label.

Conditions (named as such in the results), all CNNs from :func:`~.common.scene_cnn`
(conv ``(w, 2w)`` -> dense ``4w``):

* ``all-shared``: one network of width ``w``, everything shared up to the four
  sigmoid outputs (the lecture's network);
* ``shared trunk + per-task heads``: one network of width ``w`` whose conv layers and
  dense ``4w`` layer are shared, then a dense ReLU head of ``head_dims`` per task;
* ``separate networks (equal width)``: four width-``w`` networks, one output each;
* ``separate networks (equal parameter count)``: four width-``param_width`` networks,
  together about the size of the all-shared one.

The protocol (:func:`~.common.train_fair`) is the same for every network: epochs
are passes over its own labels, a patience rule stops each run, a run still
improving at its last epoch is extended, and each task is evaluated at its own
best validation epoch (per-task checkpoints for the multi-task networks, as each
separate network has its own). The learning rate of each condition is picked
per (rho, labelled) cell from ``rates`` on ``tuning_seeds`` (data drawn apart from
the evaluation seeds), by the lowest mean over tasks of the best validation cost.

The claim is decided by paired differences: for each evaluation seed every
condition sees the same scenes and the same kept labels, and the gain
``multi-task - separate`` of the held-out accuracy (mean over the four tasks, and
per task) gets a 95 % t interval and a verdict (:mod:`.stats`), stored in
``result.paired``.
"""
from __future__ import annotations

import math

import numpy as np

from ..labels import known_labels
from ..plotting import finish_figure, require_matplotlib
from . import stats
from .common import ExperimentResult, Recorder, Timer, add_task_mean, blas_threads, \
    evaluate_per_task, labelled_columns, n_units, resolve_backend, run_progress, scene_cnn, \
    train_fair, tune_and_evaluate

__all__ = ["run", "plot", "CONDITIONS", "MULTI_TASK", "SEPARATE", "paired_table", "gain_markdown",
           "setting_key", "merge", "full_markdown", "claims_markdown", "rho_changes", "rho_markdown"]

ALL_SHARED = "all-shared"
HEADS = "shared trunk + per-task heads"
SEPARATE_WIDTH = "separate networks (equal width)"
SEPARATE_PARAMS = "separate networks (equal parameter count)"
MULTI_TASK = (ALL_SHARED, HEADS)
SEPARATE = (SEPARATE_WIDTH, SEPARATE_PARAMS)
CONDITIONS = MULTI_TASK + SEPARATE
METRICS = ("accuracy", "average_precision")


def setting_key(rho, labelled):
    """The ``param`` of a results row: ``"rho=1 labelled=0.1"``."""
    return f"rho={float(rho):g} labelled={float(labelled):g}"


def _data(rho, labelled, seed, sizes):
    from ..datasets import driving_scenes

    m_train, m_val, m_test, image_size = sizes
    data = driving_scenes(m_train + m_val + m_test, image_size=image_size, missing=0.0, seed=seed,
                          relatedness=float(rho))
    rest, test = data.split(m_test)
    train_set, val = rest.split(m_val)
    # the same seed hides the same labels at every rho (the scenes differ only in materials)
    Y = train_set.hide_labels(1.0 - labelled, seed=seed + 7).Y if labelled < 1.0 else train_set.Y_true
    return train_set, Y, val, test


def _unit(rho, labelled, seed, rates, cfg):
    """Train every condition on one seed's data; ``rates`` {condition: learning rate}.

    Returns {condition: {"metrics": task_metrics with "mean", "val_cost": mean best
    validation cost over tasks, "epochs": [...], "extensions": [...],
    "still_improving": [...], "parameters": int}}.
    """
    from .common import blas_threads as _bt

    sizes = (cfg["m_train"], cfg["m_val"], cfg["m_test"], cfg["image_size"])
    tr, Y, va, te = _data(rho, labelled, seed, sizes)
    tasks = tr.tasks
    kw = dict(max_epochs=cfg["max_epochs"], patience=cfg["patience"],
              max_extensions=cfg["max_extensions"], batch_size=cfg["batch_size"], seed=seed)
    out = {"labels_per_task": [int(n) for n in known_labels(Y).sum(axis=1)]}
    with _bt(1):
        for cond in CONDITIONS:
            if cond not in rates:
                continue
            lr = rates[cond]
            info = {"epochs": [], "extensions": [], "still_improving": [], "val_cost": [],
                    "diverged": []}
            if cond in MULTI_TASK:
                rows = labelled_columns(Y)
                head = tuple(cfg["head_dims"]) if cond == HEADS else None
                model = scene_cnn(cfg["image_size"], cfg["width"], len(tasks), seed, cfg["backend"], head)
                run = train_fair(model, tr.X[rows], Y[:, rows], (va.X, va.Y_true), learning_rate=lr, **kw)
                met = evaluate_per_task(model, run, te.X, te.Y_true, tasks)
                parameters = model.n_parameters
                runs = [run]
            else:
                width = cfg["width"] if cond == SEPARATE_WIDTH else cfg["param_width"]
                met, parameters, runs = {}, 0, []
                for j, task in enumerate(tasks):
                    idx = np.flatnonzero(known_labels(Y[j]))
                    single = scene_cnn(cfg["image_size"], width, 1, seed + 1000 * (j + 1), cfg["backend"])
                    run = train_fair(single, tr.X[idx], Y[j:j + 1, idx], (va.X, va.Y_true[j:j + 1]),
                                     learning_rate=lr, **kw)
                    met.update(evaluate_per_task(single, run, te.X, te.Y_true[j:j + 1], (task,)))
                    parameters += single.n_parameters
                    runs.append(run)
            for r in runs:
                info["epochs"].append(r.epochs)
                info["extensions"].append(r.extensions)
                info["still_improving"].append(r.still_improving)
                info["diverged"].append(r.diverged)
                info["val_cost"].extend(r.best_cost)
            info["metrics"] = add_task_mean(met, tasks)
            info["parameters"] = parameters
            info["mean_val_cost"] = info["val_score"] = float(np.mean(info["val_cost"]))
            out[cond] = info
    return out


def _cell_unit(cell, seed, rates, cfg):
    rho, labelled = cell
    return _unit(rho, labelled, seed, rates, cfg)


def run(seeds=tuple(range(10)), rhos=(0.0, 1.0), labelled=(0.1, 1.0), m_train=1500, m_val=500,
        m_test=1000, image_size=16, width=8, param_width=4, head_dims=(16,), max_epochs=60,
        patience=8, max_extensions=2, rates=(1e-3, 3e-3, 1e-2), tuning_seeds=(100,),
        batch_size=64, conditions=CONDITIONS, jobs=1, backend="auto", fast=False, progress=True):
    """Run the sharing experiment; returns an :class:`ExperimentResult`.

    ``param`` of each row is :func:`setting_key` ``(rho, labelled)``;
    ``result.paired`` holds the paired gains (:func:`paired_table`). ``jobs`` worker
    processes share the runs (each single-threaded; results do not depend on it).
    ``conditions`` picks a subset of :data:`CONDITIONS` (at least one multi-task and
    one separate). ``fast=True`` overrides the sizes with a setting that runs in seconds.
    """
    conditions = tuple(conditions)
    if not (set(conditions) <= set(CONDITIONS) and set(conditions) & set(MULTI_TASK)
            and set(conditions) & set(SEPARATE)):
        raise ValueError(f"conditions must be a subset of {CONDITIONS} with at least one multi-task and "
                         f"one separate condition; got {conditions!r}")
    conditions = tuple(c for c in CONDITIONS if c in conditions)
    if fast:
        seeds, m_train, m_val, m_test, width, param_width = tuple(seeds)[:2], 160, 80, 100, 2, 1
        head_dims, max_epochs, patience, max_extensions = (4,), 3, 2, 1
        rates, labelled = (3e-3,), (0.5, 1.0)
    backend = resolve_backend(backend)
    seeds, tuning_seeds = [int(s) for s in seeds], [int(s) for s in tuning_seeds]
    if set(seeds) & set(tuning_seeds):
        raise ValueError(f"tuning_seeds must differ from seeds (the rate is picked on other data); "
                         f"both hold {sorted(set(seeds) & set(tuning_seeds))}")
    rhos = tuple(float(r) for r in rhos)
    labelled = tuple(float(f) for f in labelled)
    rates = tuple(float(r) for r in rates)
    cfg = dict(m_train=m_train, m_val=m_val, m_test=m_test, image_size=image_size, width=width,
               param_width=param_width, head_dims=list(head_dims), max_epochs=max_epochs,
               patience=patience, max_extensions=max_extensions, batch_size=batch_size,
               backend=backend)
    settings = dict(cfg, seeds=seeds, rhos=list(rhos), labelled=list(labelled), rates=list(rates),
                    tuning_seeds=tuning_seeds, conditions=list(conditions), fast=fast)
    cells = [(rho, frac) for rho in rhos for frac in labelled]
    bar = run_progress(n_units(cells, seeds, rates, tuning_seeds), "sharing", progress)
    with Timer() as timer, blas_threads(1):
        # the learning rate of each condition in each cell on the tuning seeds, then every seed
        by_cell = tune_and_evaluate(_cell_unit, cells, conditions, seeds, rates=rates,
                                    tuning_seeds=tuning_seeds, cfg=cfg, jobs=jobs, bar=bar)
    # keyed (rho, labelled, condition) and (rho, labelled, seed) below
    chosen = {(*cell, c): lr for (cell, c), lr in by_cell[0].items()}
    scores = {(*cell, c): v for (cell, c), v in by_cell[1].items()}
    per_seed = {(*cell, s): out for (cell, s), out in by_cell[2].items()}
    cpu = by_cell[3]
    bar.close()

    rec = Recorder()
    notes = {"parameters": {}, "learning_rate": {}, "tuning_val_cost": {}, "epochs": {},
             "cpu_seconds": round(cpu, 1),
             "extended_runs": {}, "still_improving_runs": {}, "runs": {}, "diverged_runs": {},
             "labels_per_task": {}, "per_seed": {}}
    tasks = None
    for rho, frac in cells:
        key = setting_key(rho, frac)
        notes["labels_per_task"][key] = [per_seed[(rho, frac, s)]["labels_per_task"] for s in seeds]
        for cond in conditions:
            eps, ext, still, div = [], [], [], []
            for s in seeds:
                info = per_seed[(rho, frac, s)][cond]
                tasks = tasks or [t for t in info["metrics"] if t != "mean"]
                rec.add_metrics(cond, key, info["metrics"])
                eps += info["epochs"]
                ext += info["extensions"]
                still += info["still_improving"]
                div += info["diverged"]
                notes["parameters"][cond] = info["parameters"]
                for metric in METRICS:
                    notes["per_seed"].setdefault(key, {}).setdefault(cond, {}).setdefault(metric, {})
                    for t, row in info["metrics"].items():
                        notes["per_seed"][key][cond][metric].setdefault(t, []).append(row[metric])
            notes["learning_rate"].setdefault(key, {})[cond] = chosen[(rho, frac, cond)]
            by_rate = scores.get((rho, frac, cond), {})
            notes["tuning_val_cost"].setdefault(key, {})[cond] = {f"{lr:g}": float(np.mean(v))
                                                                   for lr, v in by_rate.items()}
            notes["epochs"].setdefault(key, {})[cond] = [int(min(eps)), float(np.mean(eps)), int(max(eps))]
            notes["extended_runs"].setdefault(key, {})[cond] = int(sum(e > 0 for e in ext))
            notes["still_improving_runs"].setdefault(key, {})[cond] = int(sum(still))
            notes["runs"].setdefault(key, {})[cond] = len(ext)
            notes["diverged_runs"].setdefault(key, {})[cond] = int(sum(div))
    result = ExperimentResult("sharing", "setting", rec.rows(), settings, timer.seconds, notes=notes)
    result.paired = paired_table(result)
    return result


def merge(results):
    """One result from runs that differ only in ``rhos`` and/or ``labelled`` (e.g. run in parts).

    Every (rho, labelled) cell is independent (its own rate sweep, its own seeds), so
    the merged result is what one run over all the cells gives; ``seconds`` add up.
    """
    results = list(results)
    first = results[0]
    same = {k: v for k, v in first.settings.items() if k not in ("rhos", "labelled")}
    for r in results[1:]:
        other = {k: v for k, v in r.settings.items() if k not in ("rhos", "labelled")}
        if other != same:
            raise ValueError(f"results must differ only in rhos/labelled; got {same} and {other}")
    settings = dict(first.settings)
    settings["rhos"] = sorted({float(x) for r in results for x in r.settings["rhos"]})
    settings["labelled"] = sorted({float(x) for r in results for x in r.settings["labelled"]})
    notes = {}
    for r in results:
        for name, value in r.notes.items():
            if name == "parameters":
                notes[name] = value
            elif name == "cpu_seconds":
                notes[name] = round(notes.get(name, 0.0) + value, 1)
            else:
                notes.setdefault(name, {}).update(value)
    order = [setting_key(rho, f) for rho in settings["rhos"] for f in settings["labelled"]]
    # the cells actually run, in grid order
    settings["cells"] = [k for k in order if any(row.param == k for r in results for row in r.rows)]
    rows = sorted((row for r in results for row in r.rows), key=lambda row: order.index(row.param))
    merged = ExperimentResult(first.name, first.param_name, rows, settings,
                              sum(r.seconds for r in results), notes)
    merged.notes["seconds_of_parts"] = [round(r.seconds, 1) for r in results]
    merged.paired = paired_table(merged)
    return merged


def paired_table(result, tasks=("mean",), metrics=METRICS, confidence=0.95):
    """The paired gains ``multi-task - separate`` (same seed, same data) with verdicts.

    One :class:`~.stats.PairedDifference` per (rho, labelled, multi-task condition,
    separate condition, task, metric), from ``result.notes["per_seed"]``; ``tasks``
    may include the four task names besides ``"mean"``.
    """
    out = []
    per_seed = result.notes["per_seed"]
    present = result.settings.get("conditions", CONDITIONS)
    for rho in result.settings["rhos"]:
        for frac in result.settings["labelled"]:
            key = setting_key(rho, frac)
            if key not in per_seed:
                continue   # a merged result need not fill the whole grid
            for multi in (c for c in MULTI_TASK if c in present):
                for single in (c for c in SEPARATE if c in present):
                    for task in tasks:
                        for metric in metrics:
                            a = per_seed[key][multi][metric][task]
                            b = per_seed[key][single][metric][task]
                            out.append(stats.paired_difference(
                                a, b, label=f"{multi} - {single}", confidence=confidence,
                                key={"rho": float(rho), "labelled": float(frac), "multi_task": multi,
                                     "separate": single, "task": task, "metric": metric}))
    return out


def gain_markdown(result, metric="accuracy", task="mean", separate=SEPARATE_WIDTH, digits=3):
    """Markdown: rho × labelled × architecture, the gain over ``separate``, its interval and verdict."""
    rows = [d for d in result.paired if d.key["metric"] == metric and d.key["task"] == task
            and d.key["separate"] == separate]
    head = ["rho", "labelled", "multi-task network", f"gain over {separate} ({metric}, {task})",
            "95 % interval", "seeds", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for d in rows:
        lines.append(f"| {d.key['rho']:g} | {d.key['labelled']:g} | {d.key['multi_task']} | "
                     f"{d.mean:+.{digits}f} ± {d.std:.{digits}f} | "
                     f"[{d.low:+.{digits}f}, {d.high:+.{digits}f}] | {d.n} | {d.verdict} |")
    return "\n".join(lines)


def claims_markdown(result, metric="accuracy", separate=SEPARATE_WIDTH, digits=3):
    """One sentence per cell and multi-task network, in its verdict's words (a Markdown list).

    ``"- rho = 1, 10 % of the labels: the all-shared network helps (gain +0.021, 95 %
    interval [+0.008, +0.034], 10 seeds)."`` — the docs quote these lines as they are.
    """
    lines = []
    for d in result.paired:
        if d.key["metric"] != metric or d.key["task"] != "mean" or d.key["separate"] != separate:
            continue
        frac = d.key["labelled"]
        labels = "every label" if frac >= 1 else f"{100 * frac:g} % of the labels"
        net = "the all-shared network" if d.key["multi_task"] == ALL_SHARED else \
            "the network with per-task heads"
        words = stats.CLAIM_WORDS[d.verdict]
        lines.append(f"- rho = {d.key['rho']:g}, {labels}: {net} {words} (gain {d.mean:+.{digits}f}, "
                     f"95 % interval [{d.low:+.{digits}f}, {d.high:+.{digits}f}], {d.n} seeds).")
    return "\n".join(lines)


def rho_changes(result, metric="accuracy", separate=SEPARATE_WIDTH, pairs=None):
    """Does the gain grow with rho? Per-seed gains paired across rho values (difference of differences).

    The same seed draws the same labels and geometry at every rho (only the materials
    change), so the gain at ``rho_b`` minus the gain at ``rho_a`` is paired by seed.
    ``pairs`` defaults to consecutive rho values and (lowest, highest).
    Returns a list of :class:`~.stats.PairedDifference` (key: ``from_rho``, ``to_rho``,
    ``labelled``, ``multi_task``).
    """
    rhos = sorted(result.settings["rhos"])
    if pairs is None:
        pairs = list(zip(rhos, rhos[1:]))
        if len(rhos) > 2:
            pairs.append((rhos[0], rhos[-1]))
    gains = {(d.key["rho"], d.key["labelled"], d.key["multi_task"]): d.differences
             for d in result.paired if d.key["metric"] == metric and d.key["task"] == "mean"
             and d.key["separate"] == separate}
    out = []
    for frac in result.settings["labelled"]:
        for multi in MULTI_TASK:
            for a, b in pairs:
                if (a, frac, multi) in gains and (b, frac, multi) in gains:
                    out.append(stats.paired_difference(
                        gains[(b, frac, multi)], gains[(a, frac, multi)],
                        label=f"gain at rho {b:g} - gain at rho {a:g}",
                        key={"labelled": float(frac), "multi_task": multi, "from_rho": float(a),
                             "to_rho": float(b)}))
    return out


def rho_markdown(result, metric="accuracy", separate=SEPARATE_WIDTH, digits=3):
    """Markdown of :func:`rho_changes`: the change of the gain between rho values, with verdicts."""
    rows = rho_changes(result, metric, separate)
    head = ["labelled", "multi-task network", "from rho", "to rho", "change of the gain", "95 % interval",
            "seeds", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for d in rows:
        lines.append(f"| {d.key['labelled']:g} | {d.key['multi_task']} | {d.key['from_rho']:g} | "
                     f"{d.key['to_rho']:g} | {d.mean:+.{digits}f} ± {d.std:.{digits}f} | "
                     f"[{d.low:+.{digits}f}, {d.high:+.{digits}f}] | {d.n} | {d.verdict} |")
    return "\n".join(lines)


def full_markdown(result, digits=3):
    """Everything the docs quote: both gain tables, the per-condition accuracies, the protocol notes."""
    parts = ["Verdicts (mean held-out accuracy over the four tasks, against separate networks of the "
             "same width):", "", claims_markdown(result, digits=digits), "",
             "Gain of the multi-task networks over separate networks of the same width (mean held-out "
             "accuracy over the four tasks; paired over seeds):", "", gain_markdown(result, digits=digits),
             "", "The same against separate networks with about the all-shared network's parameter count:",
             "", gain_markdown(result, separate=SEPARATE_PARAMS, digits=digits), "",
             "Average precision (mean over tasks), against equal width:", "",
             gain_markdown(result, metric="average_precision", digits=digits), "",
             "Does the gain (against equal width) grow with rho? Per-seed gains paired across rho:", "",
             rho_markdown(result, digits=digits), "",
             result.to_markdown("accuracy", digits=digits)]
    return "\n".join(parts)


def markdown(result, digits=3):
    """What the command line writes to ``sharing.md``: :func:`full_markdown`, or the plain table
    for a result without paired gains."""
    if not result.paired or "rhos" not in result.settings:
        return result.to_markdown(digits=digits)
    return full_markdown(result, digits)


def plot(result, path=None, metric="accuracy", separate=SEPARATE_WIDTH):
    """Gain (mean over tasks) against the labelled fraction, one panel per rho, with 95 % interval bars."""
    plt = require_matplotlib()
    rhos, fracs = result.settings["rhos"], result.settings["labelled"]
    fig, axes = plt.subplots(1, len(rhos), figsize=(4.6 * len(rhos), 3.6), squeeze=False, sharey=True)
    for ax, rho in zip(axes[0], rhos):
        for i, multi in enumerate(MULTI_TASK):
            for k, single in enumerate(SEPARATE):
                ds = [d for d in result.paired if d.key["rho"] == rho and d.key["multi_task"] == multi
                      and d.key["separate"] == single and d.key["task"] == "mean"
                      and d.key["metric"] == metric]
                ds.sort(key=lambda d: d.key["labelled"])
                xs = np.array([sorted(fracs).index(d.key["labelled"]) for d in ds]) + (2 * i + k - 1.5) * 0.12
                means = np.array([d.mean for d in ds])
                err = np.array([[d.mean - d.low for d in ds], [d.high - d.mean for d in ds]])
                ax.errorbar(xs, means, yerr=err, fmt="os"[k], capsize=3, color=f"C{i}",
                            mfc="none" if k else f"C{i}",
                            label=f"{multi} vs {single.replace('separate networks ', 'separate ')}")
        ax.axhline(0.0, color="k", lw=0.7)
        ax.set_xticks(np.arange(len(fracs)))
        ax.set_xticklabels([f"{100 * f:g} % labels" for f in sorted(fracs)])
        ax.set_title(f"rho = {rho:g}", fontsize=10)
    axes[0][0].set_ylabel(f"gain in held-out {metric}\n(multi-task - separate)")
    axes[0][-1].legend(fontsize=6.5, loc="best")
    n = max((d.n for d in result.paired), default=0)
    fig.suptitle(f"Multi-task minus single-task, paired over {n} seeds (95 % t intervals)", fontsize=10)
    fig.tight_layout()
    return finish_figure(fig, path)
