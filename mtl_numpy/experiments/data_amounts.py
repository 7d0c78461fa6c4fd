r"""Experiment 3 — a label-poor focus task next to label-rich ones, on a fair footing.

The lecture: multi-task learning helps a task when "the other tasks together have
far more data than the one you care about". Here each of the four tasks in turn is
the *focus* task: it keeps only a fraction ``focus_labelled`` of its labels
(``hide_labels`` with a per-task tuple), the other three keep all of theirs. The
scenes' relatedness dial ``rho`` (0: objects share no parts, 1: built from shared
parts) is set low and high. Conditions, all width-``w`` CNNs from
:func:`~.common.scene_cnn` (conv ``(w, 2w)`` -> dense ``4w``), judged on the focus task only,
against ``Y_true`` on held-out scenes:

* ``single-task``: a one-output network trained on the focus task's labelled scenes alone;
* ``multi-task (equal)``, ``multi-task (per_task)``, ``multi-task (uncertainty)``: the
  all-shared four-output network on every scene with a label, trained on the
  lecture's summed cost, on each task's cost averaged over its own labels, or with
  learned homoscedastic-uncertainty weights (:mod:`mtl_numpy.weighting`);
* ``multi-task shuffled`` (Caruana's control): ``multi-task (equal)`` with the other
  tasks' labels permuted across scenes, as many labels that say nothing about the image.

The protocol (:func:`~.common.train_fair`) is the same for every network: epochs are
passes over its own labels (for the focus task's labels the same in every condition:
each epoch shows each of them once), a patience rule stops each run once no task it
learns improves on the validation scenes, a run still improving at its last epoch is
extended, and the focus task is judged at its own best validation epoch (per-task
checkpoints). The learning rate of each
condition is picked per (rho, focus) cell from ``rates`` on ``tuning_seeds`` by the
focus task's best validation cost.

Claims (:mod:`.stats`), paired by seed (same scenes, same kept labels): each
multi-task condition minus ``single-task`` and ``multi-task (equal)`` minus
``multi-task shuffled``, per cell and pooled over the four focus tasks (per seed, the
mean over focus tasks of the difference). The gradient conflict of the equal-weighted
network (:func:`mtl_numpy.gradient_conflict` on the validation scenes with every
label) is recorded at initialisation and at the focus task's checkpoint: the cosine
between the focus task's gradient on the shared parameters and each other task's,
their mean, and the focus task's gradient-norm ratio.
"""
from __future__ import annotations

import numpy as np

from ..backends import to_numpy
from ..labels import known_labels
from ..metrics import task_metrics
from ..plotting import finish_figure, require_matplotlib
from ..training import predict_proba_batched
from . import stats
from .common import ExperimentResult, Recorder, Timer, blas_threads, labelled_columns, n_units, \
    resolve_backend, run_progress, scene_cnn, train_fair, tune_and_evaluate

__all__ = ["run", "plot", "markdown", "full_markdown", "claims_markdown", "gain_markdown",
           "conflict_markdown", "paired_table", "conflict_table", "CONDITIONS", "MULTI_TASK",
           "SINGLE", "EQUAL", "SHUFFLED", "WEIGHTINGS", "COMPARISONS", "POOLED", "TASKS"]

TASKS = ("pedestrian", "car", "stop_sign", "traffic_light")
SINGLE = "single-task"
EQUAL = "multi-task (equal)"
PER_TASK = "multi-task (per_task)"
UNCERTAINTY = "multi-task (uncertainty)"
SHUFFLED = "multi-task shuffled"
#: condition -> the weighting it trains with (:func:`mtl_numpy.weighting.get_weighting`)
WEIGHTINGS = {EQUAL: "equal", PER_TASK: "per_task", UNCERTAINTY: "uncertainty", SHUFFLED: "equal"}
MULTI_TASK = (EQUAL, PER_TASK, UNCERTAINTY, SHUFFLED)
CONDITIONS = (SINGLE,) + MULTI_TASK
#: The paired comparisons ``(a, b)``: the claim is about ``a - b``.
COMPARISONS = ((EQUAL, SINGLE), (PER_TASK, SINGLE), (UNCERTAINTY, SINGLE), (SHUFFLED, SINGLE),
               (EQUAL, SHUFFLED))
#: The ``focus`` of a claim pooled over the focus tasks (per seed, the mean over them).
POOLED = "pooled"
METRICS = ("accuracy", "average_precision")
#: The fast setting (seconds): tiny scenes and networks, short patience, one rate, two focus tasks.
FAST = dict(m_train=160, m_val=80, m_test=100, width=2, max_epochs=3, patience=2, max_extensions=1,
            rates=(3e-3,), focus_labelled=0.3)


def _data(rho, focus_index, labelled, seed, sizes):
    """(train set, its kept labels Y, validation set, test set) of one seed and cell."""
    from ..datasets import driving_scenes

    m_train, m_val, m_test, image_size = sizes
    data = driving_scenes(m_train + m_val + m_test, image_size=image_size, missing=0.0, seed=seed,
                          relatedness=float(rho))
    rest, test = data.split(m_test)
    train_set, val = rest.split(m_val)
    missing = tuple(1.0 - labelled if j == focus_index else 0.0 for j in range(train_set.n_tasks))
    # the same seed hides the same draws at every rho (the scenes differ only in materials)
    Y = train_set.hide_labels(missing, seed=seed + 7).Y
    return train_set, Y, val, test


def _focus_metrics(model, run, t, X, Y_true, focus):
    """Task ``t`` of ``model`` at its own checkpoint, scored against ``Y_true[t]``."""
    run.checkpoints.load(model, t)
    AL = np.asarray(to_numpy(predict_proba_batched(model, X)), dtype=np.float64)
    return task_metrics(Y_true[t:t + 1], AL[t:t + 1], tasks=(focus,))[focus]


def _conflict(model, X, Y, k):
    """The focus task ``k``'s gradient against the others' (:func:`mtl_numpy.gradient_conflict`)."""
    from ..training import gradient_conflict

    gc = gradient_conflict(model, X, Y, by="layer")
    others = [j for j in range(gc.n_tasks) if j != k]
    out = {"cosine": {gc.tasks[j]: float(gc.cosine[k, j]) for j in others},
           "norm_ratio": float(gc.norm_ratio[k]),
           "layer_mean_cosine": {layer: float(np.mean([c[k, j] for j in others]))
                                 for layer, c in gc.layer_cosine.items()}}
    out["mean_cosine"] = float(np.mean(list(out["cosine"].values())))
    return out


def _unit(rho, focus, seed, rates, cfg):
    """Train every condition of ``rates`` ({condition: learning rate}) on one seed's data.

    Returns {"focus_labels": int, condition: {"metrics": {metric: value} of the focus
    task, "val_score": its best validation cost, "epochs", "extensions",
    "still_improving", "diverged", "best_epoch"}}; ``multi-task (equal)`` also holds
    ``"conflict"`` {"init": ..., "checkpoint": ...} (:func:`_conflict`).
    """
    from ..weighting import get_weighting

    sizes = (cfg["m_train"], cfg["m_val"], cfg["m_test"], cfg["image_size"])
    k = TASKS.index(focus)
    tr, Y, va, te = _data(rho, k, cfg["focus_labelled"], seed, sizes)
    kw = dict(max_epochs=cfg["max_epochs"], patience=cfg["patience"],
              max_extensions=cfg["max_extensions"], batch_size=cfg["batch_size"], seed=seed)
    # validation against the truth: the single-task network watches its (focus) task, a
    # multi-task network every task (train_fair's patience: stop once none improves); each is
    # judged at the focus task's own best epoch, and its rate chosen by that epoch's cost
    idx = np.flatnonzero(known_labels(Y[k]))
    out = {"focus_labels": int(idx.size)}
    with blas_threads(1):
        for cond in CONDITIONS:
            if cond not in rates:
                continue
            lr = rates[cond]
            info = {}
            if cond == SINGLE:
                model = scene_cnn(cfg["image_size"], cfg["width"], 1, seed + 1000 * (k + 1), cfg["backend"])
                run = train_fair(model, tr.X[idx], Y[k:k + 1, idx], (va.X, va.Y_true[k:k + 1]),
                                 learning_rate=lr, **kw)
                t = 0
                metrics = _focus_metrics(model, run, 0, te.X, te.Y_true[k:k + 1], focus)
            else:
                labels = Y
                if cond == SHUFFLED:
                    rng = np.random.default_rng(seed + 99)
                    labels = Y.copy()
                    for j in range(len(TASKS)):
                        if j != k:
                            labels[j] = Y[j, rng.permutation(Y.shape[1])]
                rows = labelled_columns(labels)
                model = scene_cnn(cfg["image_size"], cfg["width"], len(TASKS), seed, cfg["backend"])
                if cond == EQUAL:
                    info["conflict"] = {"init": _conflict(model, va.X, va.Y_true, k)}
                run = train_fair(model, tr.X[rows], labels[:, rows], (va.X, va.Y_true), learning_rate=lr,
                                 weighting=get_weighting(WEIGHTINGS[cond]), **kw)
                t = k
                metrics = _focus_metrics(model, run, k, te.X, te.Y_true, focus)
                if cond == EQUAL:
                    # the checkpoint the focus task is judged at (loaded by _focus_metrics)
                    info["conflict"]["checkpoint"] = _conflict(model, va.X, va.Y_true, k)
            info.update(metrics={m: float(metrics[m]) for m in METRICS},
                        val_score=float(run.best_cost[t]), epochs=run.epochs,
                        extensions=run.extensions, still_improving=run.still_improving,
                        diverged=run.diverged, best_epoch=int(run.best_epoch[t]))
            out[cond] = info
    return out


def _cell_unit(cell, seed, rates, cfg):
    rho, focus = cell
    return _unit(rho, focus, seed, rates, cfg)


def _check(name, ok, got, expects):
    if not ok:
        raise ValueError(f"{name} must be {expects}; got {got!r}")


def run(seeds=tuple(range(10)), rhos=(0.0, 1.0), focus_tasks=TASKS, focus_labelled=0.15, m_train=1000,
        m_val=300, m_test=1000, image_size=16, width=8, max_epochs=30, patience=5, max_extensions=2,
        rates=None, tuning_seeds=(100,), batch_size=64, conditions=CONDITIONS, jobs=1,
        backend="auto", fast=False, progress=True):
    """Run the data-amounts experiment; returns an :class:`ExperimentResult`.

    Rows: ``param`` = ``"rho=R"``, ``task`` = the focus task (its own held-out
    metrics when it is the label-poor one) or ``"mean"`` (the mean over the focus
    tasks, per seed). ``result.paired`` holds the claims (:func:`paired_table`),
    ``result.notes["conflict"]`` the gradient conflict (:func:`conflict_table`).
    ``rates`` defaults to :data:`~.common.DEFAULT_RATES`. ``conditions`` must hold
    ``single-task`` and at least one multi-task condition. ``fast=True`` runs in
    seconds (two seeds, two focus tasks, tiny sizes, one rate).
    """
    from .common import DEFAULT_RATES

    rates = DEFAULT_RATES if rates is None else rates
    conditions = tuple(conditions)
    _check("conditions", set(conditions) <= set(CONDITIONS) and SINGLE in conditions
           and len(conditions) > 1, conditions,
           f"a subset of {CONDITIONS} holding {SINGLE!r} and at least one multi-task condition")
    conditions = tuple(c for c in CONDITIONS if c in conditions)
    focus_tasks = (focus_tasks,) if isinstance(focus_tasks, str) else tuple(focus_tasks)
    _check("focus_tasks", focus_tasks and set(focus_tasks) <= set(TASKS)
           and len(set(focus_tasks)) == len(focus_tasks), focus_tasks,
           f"distinct task names from {TASKS}")
    if fast:
        seeds, focus_tasks = tuple(seeds)[:2], focus_tasks[-2:] if len(focus_tasks) > 1 else focus_tasks
        m_train, m_val, m_test, width = FAST["m_train"], FAST["m_val"], FAST["m_test"], FAST["width"]
        max_epochs, patience, max_extensions = FAST["max_epochs"], FAST["patience"], FAST["max_extensions"]
        rates, focus_labelled = FAST["rates"], FAST["focus_labelled"]
    _check("focus_labelled", isinstance(focus_labelled, (int, float)) and 0.0 < float(focus_labelled) < 1.0,
           focus_labelled, "a fraction strictly between 0 and 1 (the focus task's labels kept)")
    for name, value, low in (("m_train", m_train, 2), ("m_val", m_val, 2), ("m_test", m_test, 2),
                             ("width", width, 1)):
        _check(name, isinstance(value, (int, np.integer)) and value >= low, value, f"an int >= {low}")
    rhos = tuple(float(r) for r in rhos)
    _check("rhos", rhos and all(0.0 <= r <= 1.0 for r in rhos), rhos, "relatedness values in [0, 1]")
    backend = resolve_backend(backend)
    seeds, tuning_seeds = [int(s) for s in seeds], [int(s) for s in tuning_seeds]
    _check("seeds", len(seeds) >= 2, seeds, "at least two seeds (the intervals need them)")
    rates = tuple(float(r) for r in rates)
    cfg = dict(m_train=int(m_train), m_val=int(m_val), m_test=int(m_test), image_size=image_size,
               width=int(width), focus_labelled=float(focus_labelled), max_epochs=max_epochs,
               patience=patience, max_extensions=max_extensions, batch_size=batch_size, backend=backend)
    settings = dict(cfg, seeds=seeds, rhos=list(rhos), focus_tasks=list(focus_tasks), rates=list(rates),
                    tuning_seeds=tuning_seeds, conditions=list(conditions), fast=fast)
    cells = [(rho, f) for rho in rhos for f in focus_tasks]
    bar = run_progress(n_units(cells, seeds, rates, tuning_seeds), "data_amounts", progress)
    with Timer() as timer, blas_threads(1):
        chosen, scores, per_seed, cpu = tune_and_evaluate(
            _cell_unit, cells, conditions, seeds, rates=rates, tuning_seeds=tuning_seeds, cfg=cfg,
            jobs=jobs, bar=bar)
    bar.close()
    return _collect(settings, cells, conditions, seeds, chosen, scores, per_seed, cpu, timer.seconds)


def _key(rho):
    return f"rho={float(rho):g}"


def _collect(settings, cells, conditions, seeds, chosen, scores, per_seed, cpu, seconds):
    rec = Recorder()
    notes = {"cpu_seconds": round(cpu, 1), "learning_rate": {}, "tuning_val_cost": {}, "epochs": {},
             "best_epoch": {}, "extended_runs": {}, "still_improving_runs": {}, "diverged_runs": {},
             "runs": {}, "focus_labels": {}, "per_seed": {}, "conflict": {}}
    for rho, focus in cells:
        key, cell = _key(rho), f"rho={rho:g} focus={focus}"
        notes["focus_labels"][cell] = [per_seed[((rho, focus), s)]["focus_labels"] for s in seeds]
        for cond in conditions:
            infos = [per_seed[((rho, focus), s)][cond] for s in seeds]
            for info in infos:
                for metric in METRICS:
                    rec.add(cond, key, focus, metric, info["metrics"][metric])
            ps = notes["per_seed"].setdefault(key, {}).setdefault(cond, {})
            for metric in METRICS:
                ps.setdefault(metric, {})[focus] = [i["metrics"][metric] for i in infos]
            eps = [i["epochs"] for i in infos]
            notes["learning_rate"].setdefault(cell, {})[cond] = chosen[((rho, focus), cond)]
            notes["tuning_val_cost"].setdefault(cell, {})[cond] = {
                f"{lr:g}": float(np.mean(v)) for lr, v in scores.get(((rho, focus), cond), {}).items()}
            notes["epochs"].setdefault(cell, {})[cond] = [int(min(eps)), float(np.mean(eps)), int(max(eps))]
            notes["best_epoch"].setdefault(cell, {})[cond] = [i["best_epoch"] for i in infos]
            notes["extended_runs"].setdefault(cell, {})[cond] = int(sum(i["extensions"] > 0 for i in infos))
            notes["still_improving_runs"].setdefault(cell, {})[cond] = int(sum(i["still_improving"] for i in infos))
            notes["diverged_runs"].setdefault(cell, {})[cond] = int(sum(i["diverged"] for i in infos))
            notes["runs"].setdefault(cell, {})[cond] = len(infos)
            if cond == EQUAL:
                notes["conflict"].setdefault(key, {})[focus] = {
                    when: [i["conflict"][when] for i in infos] for when in ("init", "checkpoint")}
    # the mean over the focus tasks, per seed (the pooled rows)
    focus_tasks = settings["focus_tasks"]
    for rho in settings["rhos"]:
        key = _key(rho)
        for cond in conditions:
            for metric in METRICS:
                per_task = notes["per_seed"][key][cond][metric]
                for v in np.mean([per_task[f] for f in focus_tasks], axis=0):
                    rec.add(cond, key, "mean", metric, v)
    result = ExperimentResult("data_amounts", "rho", rec.rows(), settings, seconds, notes=notes)
    result.paired = paired_table(result)
    return result


# ---------------------------------------------------------------------- claims
def paired_table(result, metrics=METRICS, confidence=0.95):
    """The claims: one :class:`~.stats.PairedDifference` per (rho, focus, comparison, metric).

    ``focus`` is a task name or :data:`POOLED` (per seed, the mean over the focus tasks
    of the difference); key ``{"rho", "focus", "condition", "baseline", "metric"}``.
    """
    out = []
    per_seed = result.notes["per_seed"]
    present = result.settings["conditions"]
    focus_tasks = result.settings["focus_tasks"]
    for rho in result.settings["rhos"]:
        cell = per_seed[_key(rho)]
        for focus in list(focus_tasks) + [POOLED]:
            for a, b in COMPARISONS:
                if a not in present or b not in present:
                    continue
                for metric in metrics:
                    if focus == POOLED:
                        va = np.mean([cell[a][metric][f] for f in focus_tasks], axis=0)
                        vb = np.mean([cell[b][metric][f] for f in focus_tasks], axis=0)
                    else:
                        va, vb = cell[a][metric][focus], cell[b][metric][focus]
                    out.append(stats.paired_difference(
                        va, vb, label=f"{a} - {b}", confidence=confidence,
                        key={"rho": float(rho), "focus": focus, "condition": a, "baseline": b,
                             "metric": metric}))
    return out


_WORDS = stats.CLAIM_WORDS


def _where(d, n_focus):
    focus = d.key["focus"]
    tasks = "focus task" if n_focus == 1 else "focus tasks"
    what = f"pooled over the {_count(n_focus)} {tasks}" if focus == POOLED else f"focus {focus}"
    return f"rho = {d.key['rho']:g}, {what}"


def _subject(d):
    if d.key["baseline"] == SINGLE:
        return f"{d.key['condition']} against single-task"
    return "the other tasks' real labels against shuffled ones (multi-task (equal) - multi-task shuffled)"


def _order(result, d):
    foci = list(result.settings["focus_tasks"]) + [POOLED]
    comps = [f"{a} - {b}" for a, b in COMPARISONS]
    return (result.settings["rhos"].index(d.key["rho"]), (foci.index(d.key["focus"]) + 1) % len(foci),
            comps.index(d.label))


def _rows(result, metric, focus=None):
    rows = [d for d in result.paired if d.key["metric"] == metric
            and (focus is None or (d.key["focus"] == POOLED) == (focus == POOLED))]
    return sorted(rows, key=lambda d: _order(result, d))


def claims_markdown(result, metric="accuracy", digits=3):
    """One sentence per claim, in its verdict's words (a Markdown list): pooled first, then each focus.

    ``"- rho = 1, pooled over the four focus tasks: multi-task (equal) against single-task
    helps (gain +0.021, 95 % interval [+0.008, +0.034], 10 seeds)."`` — the docs quote
    these lines as they are.
    """
    n = len(result.settings["focus_tasks"])
    lines = []
    for d in _rows(result, metric):
        lines.append(f"- {_where(d, n)}: {_subject(d)} {_WORDS[d.verdict]} (gain {d.mean:+.{digits}f}, "
                     f"95 % interval [{d.low:+.{digits}f}, {d.high:+.{digits}f}], {d.n} seeds).")
    return "\n".join(lines)


def _count(n):
    return {4: "four", 3: "three", 2: "two", 1: "one"}.get(n, str(n))


def gain_markdown(result, metric="accuracy", digits=3):
    """Markdown: rho × focus × comparison, the paired gain, its interval and verdict."""
    head = ["rho", "focus task", "comparison", f"gain ({metric} of the focus task)", "95 % interval",
            "seeds", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for d in _rows(result, metric):
        focus = "pooled (mean over focus tasks)" if d.key["focus"] == POOLED else d.key["focus"]
        lines.append(f"| {d.key['rho']:g} | {focus} | {d.label} | {d.mean:+.{digits}f} ± {d.std:.{digits}f} | "
                     f"[{d.low:+.{digits}f}, {d.high:+.{digits}f}] | {d.n} | {d.verdict} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- gradient conflict
def conflict_table(result, confidence=0.95):
    """The gradient conflict of ``multi-task (equal)``, mean and t interval over seeds.

    Returns a list of dicts ``{"rho", "focus", "when" ("init"/"checkpoint"), "quantity",
    "mean", "std", "low", "high", "n"}``; quantities: ``mean_cosine`` (focus task against
    the others, averaged), ``cosine <task>`` for each other task, ``norm_ratio`` (the
    focus task's gradient norm over the mean of the four).
    """
    out = []
    for rho in result.settings["rhos"]:
        by_focus = result.notes["conflict"].get(_key(rho), {})
        for focus in result.settings["focus_tasks"]:
            if focus not in by_focus:
                continue
            for when in ("init", "checkpoint"):
                recs = by_focus[focus][when]
                values = {"mean_cosine": [r["mean_cosine"] for r in recs],
                          "norm_ratio": [r["norm_ratio"] for r in recs]}
                for other in recs[0]["cosine"]:
                    values[f"cosine {other}"] = [r["cosine"][other] for r in recs]
                for quantity, v in values.items():
                    mean, std, low, high, n = stats.mean_interval(v, confidence)
                    out.append({"rho": float(rho), "focus": focus, "when": when, "quantity": quantity,
                                "mean": mean, "std": std, "low": low, "high": high, "n": n})
    return out


def _interval(row, digits):
    return (f"{row['mean']:+.{digits}f} [{row['low']:+.{digits}f}, {row['high']:+.{digits}f}]"
            if np.isfinite(row["low"]) else f"{row['mean']:+.{digits}f}")


def conflict_markdown(result, digits=3):
    """Markdown: per (rho, focus), the mean cosine and norm ratio at init and at the checkpoint
    (mean [95 % interval] over seeds), then each pair's cosine at the checkpoint."""
    table = conflict_table(result)
    get = {(r["rho"], r["focus"], r["when"], r["quantity"]): r for r in table}
    head = ["rho", "focus task", "mean cosine, init", "mean cosine, checkpoint", "norm ratio, init",
            "norm ratio, checkpoint", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    cells = list(dict.fromkeys((r["rho"], r["focus"]) for r in table))
    for rho, focus in cells:
        row = [f"{rho:g}", focus]
        for q in ("mean_cosine", "norm_ratio"):
            for when in ("init", "checkpoint"):
                row.append(_interval(get[(rho, focus, when, q)], digits))
        row.append(str(get[(rho, focus, "init", "mean_cosine")]["n"]))
        lines.append("| " + " | ".join(row) + " |")
    pair_head = ["rho", "focus task"] + [f"cosine with {t}" for t in TASKS]
    pair = ["", "Cosine between the focus task's gradient and each other task's, at the focus task's "
            "checkpoint (mean [95 % interval] over seeds):", "",
            "| " + " | ".join(pair_head) + " |", "|" + "|".join(["---"] * len(pair_head)) + "|"]
    for rho, focus in cells:
        row = [f"{rho:g}", focus]
        for t in TASKS:
            r = get.get((rho, focus, "checkpoint", f"cosine {t}"))
            row.append("—" if r is None else _interval(r, digits))
        pair.append("| " + " | ".join(row) + " |")
    return "\n".join(lines + pair)


# ---------------------------------------------------------------------- output
def full_markdown(result, digits=3):
    """Everything the docs quote: verdicts, gain tables, the gradient conflict, the accuracies."""
    s = result.settings
    parts = [f"Verdicts (held-out accuracy of the focus task, which keeps {100 * s['focus_labelled']:g} % "
             f"of its labels; paired over seeds):", "", claims_markdown(result, digits=digits), "",
             "Gains in held-out accuracy of the focus task (paired over seeds):", "",
             gain_markdown(result, digits=digits), "",
             "Average precision of the focus task:", "",
             gain_markdown(result, metric="average_precision", digits=digits), "",
             "Gradient conflict of multi-task (equal) on the validation scenes with every label "
             "(`gradient_conflict(..., by=\"layer\")`; cosine of the focus task's gradient on the shared "
             "parameters with the other tasks', mean over the three; norm ratio: the focus task's "
             "gradient norm over the mean of the four), at initialisation and at the focus task's "
             "checkpoint, mean [95 % interval] over seeds:", "",
             conflict_markdown(result, digits=digits), "",
             "Held-out accuracy of the focus task (column: which task is the focus; mean: over the "
             "focus tasks, per seed):", "",
             result.to_markdown("accuracy", digits=digits)]
    return "\n".join(parts)


def markdown(result, digits=3):
    """What the command line writes to ``data_amounts.md``: :func:`full_markdown`."""
    if not result.paired:
        return result.to_markdown(digits=digits)
    return full_markdown(result, digits)


def plot(result, path=None, metric="accuracy"):
    """Top: the gains with 95 % interval bars, one panel per rho, per focus task and pooled.
    Bottom: the mean cosine of the focus task's gradient with the others' (init, checkpoint)."""
    plt = require_matplotlib()
    rhos = result.settings["rhos"]
    foci = list(result.settings["focus_tasks"]) + [POOLED]
    comps = [(a, b) for a, b in COMPARISONS
             if a in result.settings["conditions"] and b in result.settings["conditions"]]
    fig, axes = plt.subplots(2, len(rhos), figsize=(5.2 * len(rhos), 6.6), squeeze=False,
                             sharey="row", gridspec_kw={"height_ratios": [3, 2]})
    width = 0.8 / max(1, len(comps))
    for ax, rho in zip(axes[0], rhos):
        for i, (a, b) in enumerate(comps):
            ds = {d.key["focus"]: d for d in result.paired if d.key["rho"] == rho
                  and d.key["metric"] == metric and d.label == f"{a} - {b}"}
            xs = np.arange(len(foci)) + (i - (len(comps) - 1) / 2) * width
            ds = [ds[f] for f in foci]
            means = np.array([d.mean for d in ds])
            err = np.array([[d.mean - d.low for d in ds], [d.high - d.mean for d in ds]])
            label = a.replace("multi-task ", "MT ") + (" - single" if b == SINGLE else " - MT shuffled")
            ax.errorbar(xs, means, yerr=err, fmt="o", capsize=2.5, color=f"C{i}", ms=4, label=label)
        ax.axhline(0.0, color="k", lw=0.7)
        ax.set_xticks(np.arange(len(foci)))
        ax.set_xticklabels([f.replace("_", " ") for f in foci], fontsize=8)
        ax.set_title(f"rho = {rho:g}", fontsize=10)
    axes[0][0].set_ylabel(f"gain in the focus task's\nheld-out {metric}")
    axes[0][-1].legend(fontsize=6.5, loc="best")
    table = conflict_table(result)
    for ax, rho in zip(axes[1], rhos):
        for i, when in enumerate(("init", "checkpoint")):
            rows = {r["focus"]: r for r in table if r["rho"] == rho and r["when"] == when
                    and r["quantity"] == "mean_cosine"}
            fs = [f for f in foci if f in rows]
            xs = np.array([foci.index(f) for f in fs]) + (i - 0.5) * 0.25
            means = np.array([rows[f]["mean"] for f in fs])
            err = np.array([[rows[f]["mean"] - rows[f]["low"] for f in fs],
                            [rows[f]["high"] - rows[f]["mean"] for f in fs]])
            ax.errorbar(xs, means, yerr=np.nan_to_num(err), fmt="sD"[i], capsize=2.5, color=f"C{i + 5}",
                        ms=4, label=f"at {'initialisation' if when == 'init' else 'focus checkpoint'}")
        ax.axhline(0.0, color="k", lw=0.7)
        ax.set_xticks(np.arange(len(foci)))
        ax.set_xticklabels([f.replace("_", " ") if f != POOLED else "" for f in foci], fontsize=8)
    axes[1][0].set_ylabel("cosine of the focus task's\ngradient with the others'")
    axes[1][-1].legend(fontsize=6.5, loc="best")
    n = max((d.n for d in result.paired), default=0)
    fig.suptitle(f"A label-poor focus task ({100 * result.settings['focus_labelled']:g} % of its labels): "
                 f"paired gains over {n} seeds (95 % t intervals); multi-task (equal)'s gradient conflict",
                 fontsize=9.5)
    fig.tight_layout()
    return finish_figure(fig, path)
