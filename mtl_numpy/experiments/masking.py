r"""Experiment 4 — the masked cost vs '?' filled with 0 vs incomplete scenes dropped, on a fair footing.

The lecture's cost leaves a '?' out of both the cost and the gradient. Two
alternatives come to mind first: read '?' as "absent" (``zero_filled``) or keep
only the scenes labelled for every task (``dropped``). Which is best depends on
*why* a label is missing, so the experiment crosses two mechanisms
(``driving_scenes(..., missing=q, missing_mechanism=...)``):

* ``"random"``: every label is hidden with probability ``q``, whatever its value
  (missing completely at random);
* ``"absent_skipped"``: labellers skip images where the object is absent, so the
  '?' fall on 0 labels first — up to ``q = 0.5`` every '?' is an absent object (a
  known label is then more often 1 than 0); above it, every absent object and a
  fraction ``(q - 0.5) / 0.5`` of the present ones are '?'.

Conditions (named as such in the results), all the all-shared four-output CNN of
width ``w`` (:func:`~.common.scene_cnn`, conv ``(w, 2w)`` -> dense ``4w``):

* ``masked``: the lecture's cost, '?' in neither cost nor gradient (trained on the
  scenes with at least one known label);
* ``zero_filled``: every '?' replaced by 0 (every scene, every label "known");
* ``dropped``: only the scenes labelled for all four tasks. At a high missing rate
  few survive (a fraction ``(1 - q)^4`` under ``"random"``); a run with no such
  scene records ``nan``, and the pairing leaves that seed out.

Every network is trained with the fair protocol (:func:`~.common.train_fair`:
patience stop, extension of runs still improving, per-task checkpoints chosen on
validation scenes scored against the full truth ``Y_true``), and evaluated per task
at its own checkpoint against ``Y_true`` on test scenes: accuracy, average precision
and the calibration ``bias`` = mean predicted probability - true base rate
(``abs_bias`` = its absolute value; the ``mean`` pseudo-task averages each over the
four tasks). The learning rate of each condition is chosen per cell
``(rho, mechanism, q)`` from ``rates`` on ``tuning_seeds`` by the lowest mean over
tasks of the best validation cost.

The claims are paired differences (:mod:`.stats`): for each evaluation seed the
three conditions see the same scenes and the same '?' (the dataset's own
mechanism, so a seed gives the same images at every ``q`` and mechanism), and
``masked - zero_filled`` and ``masked - dropped`` of the mean accuracy and mean
average precision, and the calibration gain ``|bias| of the other - |bias| of
masked`` (positive: masking is better calibrated) get a 95 % t interval and a
verdict, stored in ``result.paired``.
"""
from __future__ import annotations

import math

import numpy as np

from ..backends import to_numpy
from ..labels import known_labels
from ..metrics import task_metrics
from ..plotting import finish_figure, require_matplotlib
from ..training import predict_proba_batched
from . import stats
from .common import DEFAULT_RATES, ExperimentResult, Recorder, Timer, blas_threads, \
    labelled_columns, n_units, resolve_backend, run_progress, scene_cnn, train_fair, \
    tune_and_evaluate

__all__ = ["run", "plot", "CONDITIONS", "MASKED", "ZERO_FILLED", "DROPPED", "MECHANISMS", "OTHERS",
           "METRICS", "CLAIM_METRICS", "setting_key", "paired_table", "gain_markdown", "claims_markdown",
           "condition_markdown", "full_markdown", "markdown"]

MASKED, ZERO_FILLED, DROPPED = "masked", "zero_filled", "dropped"
CONDITIONS = (MASKED, ZERO_FILLED, DROPPED)
#: The conditions masking is compared with.
OTHERS = (ZERO_FILLED, DROPPED)
MECHANISMS = ("random", "absent_skipped")
#: Recorded per task (and as the mean over tasks).
METRICS = ("accuracy", "average_precision", "bias", "abs_bias")
#: The paired claims: (metric of the claim, how it is computed).
#: ``calibration`` = |bias| of the other condition - |bias| of masked (mean over tasks).
CLAIM_METRICS = ("accuracy", "average_precision", "calibration")


def setting_key(rho, mechanism, missing):
    """The ``param`` of a results row: ``"rho=1 random missing=0.3"``."""
    return f"rho={float(rho):g} {mechanism} missing={float(missing):g}"


def _data(rho, mechanism, missing, seed, sizes):
    from ..datasets import driving_scenes

    m_train, m_val, m_test, image_size = sizes
    # the dataset's own mechanism: the images and Y_true do not depend on missing or mechanism
    data = driving_scenes(m_train + m_val + m_test, image_size=image_size, missing=float(missing),
                          seed=seed, relatedness=float(rho), missing_mechanism=mechanism)
    rest, test = data.split(m_test)
    train_set, val = rest.split(m_val)
    return train_set, val, test


def _evaluate(model, run, X, Y_true, tasks):
    """Per-task metrics against the truth, each task at its own checkpoint, with the bias."""
    rows = []
    for t in range(len(tasks)):
        run.checkpoints.load(model, t)
        AL = np.asarray(to_numpy(predict_proba_batched(model, X)), dtype=np.float64)
        rows.append(AL[t])
    AL = np.stack(rows)
    met = task_metrics(Y_true, AL, tasks=tasks)
    for j, task in enumerate(tasks):
        bias = float(AL[j].mean() - Y_true[j].mean())
        met[task]["bias"], met[task]["abs_bias"] = bias, abs(bias)
    met["mean"] = {k: float(np.mean([met[t][k] for t in tasks])) for k in METRICS}
    return met


def _nan_metrics(tasks):
    return {t: {k: math.nan for k in METRICS} for t in list(tasks) + ["mean"]}


def _unit(rho, mechanism, missing, seed, rates, cfg):
    """Train every condition on one seed's data; ``rates`` {condition: learning rate}.

    Returns {condition: {"metrics": {task: {metric: value}} with "mean", "val_score"
    (mean best validation cost over tasks; inf for a run with no training scene),
    "epochs", "extensions", "still_improving", "diverged", "n_train"}} plus
    ``"labels_per_task"`` and ``"fully_labelled"`` (scenes kept by ``dropped``).
    """
    sizes = (cfg["m_train"], cfg["m_val"], cfg["m_test"], cfg["image_size"])
    tr, va, te = _data(rho, mechanism, missing, seed, sizes)
    tasks, Y = tr.tasks, tr.Y
    known = known_labels(Y)
    full = np.flatnonzero(known.all(axis=0))
    # the known labels' share of 1s (under absent_skipped they over-represent presence)
    pos = [float(np.nanmean(Y[j])) if known[j].any() else math.nan for j in range(len(tasks))]
    out = {"labels_per_task": [int(n) for n in known.sum(axis=1)], "fully_labelled": int(full.size),
           "known_positive_rate": pos}
    data = {
        MASKED: (labelled_columns(Y), Y),
        ZERO_FILLED: (np.arange(Y.shape[1]), np.where(known, Y, 0.0)),
        DROPPED: (full, Y),
    }
    kw = dict(max_epochs=cfg["max_epochs"], patience=cfg["patience"],
              max_extensions=cfg["max_extensions"], batch_size=cfg["batch_size"], seed=seed)
    with blas_threads(1):
        for cond in CONDITIONS:
            if cond not in rates:
                continue
            rows, Yc = data[cond]
            info = {"n_train": int(rows.size)}
            if rows.size == 0:
                info.update(metrics=_nan_metrics(tasks), val_score=math.inf, epochs=0, extensions=0,
                            still_improving=False, diverged=False, val_cost=[math.nan] * len(tasks))
                out[cond] = info
                continue
            model = scene_cnn(cfg["image_size"], cfg["width"], len(tasks), seed, cfg["backend"])
            run = train_fair(model, tr.X[rows], Yc[:, rows], (va.X, va.Y_true), learning_rate=rates[cond],
                             **kw)
            info.update(metrics=_evaluate(model, run, te.X, te.Y_true, tasks), epochs=run.epochs,
                        extensions=run.extensions, still_improving=run.still_improving,
                        diverged=run.diverged, val_cost=run.best_cost,
                        val_score=float(np.mean(run.best_cost)))
            out[cond] = info
    return out


def _cell_unit(cell, seed, rates, cfg):
    rho, mechanism, missing = cell
    return _unit(rho, mechanism, missing, seed, rates, cfg)


def _finite_or_none(x):
    return float(x) if math.isfinite(x) else None


def run(seeds=tuple(range(10)), rhos=(0.0, 1.0), mechanisms=MECHANISMS, missing=(0.3, 0.7),
        m_train=800, m_val=300, m_test=1000, image_size=16, width=8, max_epochs=60, patience=8,
        max_extensions=2, rates=DEFAULT_RATES, tuning_seeds=(100,), batch_size=64, jobs=1,
        backend="auto", fast=False, progress=True):
    """Run the masking experiment; returns an :class:`ExperimentResult`.

    ``param`` of each row is :func:`setting_key` ``(rho, mechanism, missing)``;
    ``result.paired`` holds the paired comparisons (:func:`paired_table`). ``missing``
    are the missing rates (the same for every task), ``rates`` the learning rates swept
    on ``tuning_seeds``. ``jobs`` worker processes share the runs (each
    single-threaded; results do not depend on it). ``fast=True`` overrides the sizes
    with a setting that runs in seconds.
    """
    mechanisms = tuple(mechanisms)
    if not mechanisms or any(m not in MECHANISMS for m in mechanisms):
        raise ValueError(f"mechanisms must be a non-empty subset of {MECHANISMS}; got {mechanisms!r}")
    try:
        missing = tuple(float(q) for q in missing)
    except (TypeError, ValueError):
        raise ValueError(f"missing must be a sequence of rates in [0, 1); got {missing!r}") from None
    if not missing or any(not 0.0 <= q < 1.0 for q in missing):
        raise ValueError(f"missing must be a non-empty sequence of rates in [0, 1); got {missing!r}")
    rhos = tuple(float(r) for r in rhos)
    if not rhos or any(not 0.0 <= r <= 1.0 for r in rhos):
        raise ValueError(f"rhos must be a non-empty sequence of relatedness values in [0, 1]; got {rhos!r}")
    if fast:
        seeds, m_train, m_val, m_test, width = tuple(seeds)[:2], 160, 80, 100, 2
        max_epochs, patience, max_extensions = 3, 2, 1
        rates, missing = (3e-3,), (0.3,)
    backend = resolve_backend(backend)
    seeds, tuning_seeds = [int(s) for s in seeds], [int(s) for s in tuning_seeds]
    if len(seeds) < 1:
        raise ValueError(f"seeds must hold at least one seed; got {seeds!r}")
    if set(seeds) & set(tuning_seeds):
        raise ValueError(f"tuning_seeds must differ from seeds (the rate is picked on other data); "
                         f"both hold {sorted(set(seeds) & set(tuning_seeds))}")
    rates = tuple(float(r) for r in rates)
    cfg = dict(m_train=m_train, m_val=m_val, m_test=m_test, image_size=image_size, width=width,
               max_epochs=max_epochs, patience=patience, max_extensions=max_extensions,
               batch_size=batch_size, backend=backend)
    settings = dict(cfg, seeds=seeds, rhos=list(rhos), mechanisms=list(mechanisms),
                    missing=list(missing), rates=list(rates), tuning_seeds=tuning_seeds,
                    conditions=list(CONDITIONS), fast=fast)
    cells = [(rho, mech, q) for rho in rhos for mech in mechanisms for q in missing]
    bar = run_progress(n_units(cells, seeds, rates, tuning_seeds), "masking", progress)
    with Timer() as timer, blas_threads(1):
        chosen, scores, per_seed, cpu = tune_and_evaluate(
            _cell_unit, cells, CONDITIONS, seeds, rates=rates, tuning_seeds=tuning_seeds, cfg=cfg,
            jobs=jobs, bar=bar)
    bar.close()

    rec = Recorder()
    notes = {"learning_rate": {}, "tuning_val_cost": {}, "epochs": {}, "cpu_seconds": round(cpu, 1),
             "extended_runs": {}, "still_improving_runs": {}, "runs": {}, "diverged_runs": {},
             "empty_runs": {}, "labels_per_task": {}, "fully_labelled_examples": {},
             "known_positive_rate": {}, "per_seed": {}}
    for cell in cells:
        key = setting_key(*cell)
        outs = [per_seed[(cell, s)] for s in seeds]
        notes["labels_per_task"][key] = [o["labels_per_task"] for o in outs]
        notes["fully_labelled_examples"][key] = [o["fully_labelled"] for o in outs]
        notes["known_positive_rate"][key] = [float(np.nanmean(o["known_positive_rate"]))
                                             if np.isfinite(o["known_positive_rate"]).any() else None
                                             for o in outs]
        for cond in CONDITIONS:
            infos = [o[cond] for o in outs]
            for info in infos:
                rec.add_metrics(cond, key, info["metrics"], names=METRICS)
                for metric in METRICS:
                    for t, row in info["metrics"].items():
                        notes["per_seed"].setdefault(key, {}).setdefault(cond, {}).setdefault(
                            metric, {}).setdefault(t, []).append(_finite_or_none(row[metric]))
            trained = [i for i in infos if i["n_train"] > 0]
            eps = [i["epochs"] for i in trained] or [0]
            notes["learning_rate"].setdefault(key, {})[cond] = chosen[(cell, cond)]
            by_rate = scores.get((cell, cond), {})
            notes["tuning_val_cost"].setdefault(key, {})[cond] = {
                f"{lr:g}": _finite_or_none(float(np.mean(v))) for lr, v in by_rate.items()}
            notes["epochs"].setdefault(key, {})[cond] = [int(min(eps)), float(np.mean(eps)), int(max(eps))]
            notes["extended_runs"].setdefault(key, {})[cond] = int(sum(i["extensions"] > 0 for i in trained))
            notes["still_improving_runs"].setdefault(key, {})[cond] = int(sum(i["still_improving"]
                                                                              for i in trained))
            notes["diverged_runs"].setdefault(key, {})[cond] = int(sum(i["diverged"] for i in trained))
            notes["runs"].setdefault(key, {})[cond] = len(trained)
            notes["empty_runs"].setdefault(key, {})[cond] = len(infos) - len(trained)
    result = ExperimentResult("masking", "setting", rec.rows(), settings, timer.seconds, notes=notes)
    result.paired = paired_table(result)
    return result


def _values(per_seed, key, cond, metric, task):
    return np.array([math.nan if v is None else v for v in per_seed[key][cond][metric][task]],
                    dtype=np.float64)


def paired_table(result, tasks=("mean",), metrics=CLAIM_METRICS, confidence=0.95):
    """The paired comparisons of masking with each other condition (same seed, same data).

    One :class:`~.stats.PairedDifference` per (rho, mechanism, missing, other
    condition, task, metric), from ``result.notes["per_seed"]``: for ``accuracy`` and
    ``average_precision`` the difference ``masked - other``; for ``calibration``
    ``|bias| of other - |bias| of masked`` (positive: masking is better calibrated).
    A seed where either run recorded ``nan`` (``dropped`` with no fully labelled
    scene) is left out of the pair.
    """
    out = []
    per_seed = result.notes["per_seed"]
    s = result.settings
    for rho in s["rhos"]:
        for mech in s["mechanisms"]:
            for q in s["missing"]:
                key = setting_key(rho, mech, q)
                if key not in per_seed:
                    continue
                for other in OTHERS:
                    for task in tasks:
                        for metric in metrics:
                            if metric == "calibration":
                                a = _values(per_seed, key, other, "abs_bias", task)
                                b = _values(per_seed, key, MASKED, "abs_bias", task)
                                label = f"|bias| {other} - |bias| {MASKED}"
                            else:
                                a = _values(per_seed, key, MASKED, metric, task)
                                b = _values(per_seed, key, other, metric, task)
                                label = f"{MASKED} - {other}"
                            out.append(stats.paired_difference(
                                a, b, label=label, confidence=confidence,
                                key={"rho": float(rho), "mechanism": mech, "missing": float(q),
                                     "other": other, "task": task, "metric": metric}))
    return out


def _fmt(x, digits):
    return "n/a" if not math.isfinite(x) else f"{x:+.{digits}f}"


def gain_markdown(result, metric="accuracy", task="mean", digits=3):
    """Markdown: rho × mechanism × missing × other condition, the paired difference and its verdict."""
    rows = [d for d in result.paired if d.key["metric"] == metric and d.key["task"] == task]
    what = {"accuracy": "masked - other (accuracy", "average_precision": "masked - other (average precision",
            "calibration": "calibration gain: abs. bias of other - abs. bias of masked ("}[metric]
    what = f"{what}{task})" if metric == "calibration" else f"{what}, {task})"
    head = ["rho", "mechanism", "missing", "other", what, "95 % interval", "seeds", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for d in rows:
        std = "n/a" if not math.isfinite(d.std) else f"{d.std:.{digits}f}"
        lines.append(f"| {d.key['rho']:g} | {d.key['mechanism']} | {d.key['missing']:g} | {d.key['other']} | "
                     f"{_fmt(d.mean, digits)} ± {std} | [{_fmt(d.low, digits)}, {_fmt(d.high, digits)}] | "
                     f"{d.n} | {d.verdict} |")
    return "\n".join(lines)


_WORDS = stats.CLAIM_WORDS
_OTHER_WORDS = {ZERO_FILLED: "filling '?' with 0", DROPPED: "dropping incomplete scenes"}


def claims_markdown(result, digits=3):
    """One sentence per cell and other condition, in the verdicts' words (a Markdown list).

    ``"- rho = 0, random, 30 % missing, masking against filling '?' with 0: accuracy —
    masking helps (gain +0.050, 95 % interval [+0.030, +0.070], 10 seeds); calibration —
    masking helps (|bias| lower by +0.100, 95 % interval [...], 10 seeds)."`` — the docs
    quote these lines as they are.
    """
    found = {(d.key["rho"], d.key["mechanism"], d.key["missing"], d.key["other"], d.key["metric"]): d
             for d in result.paired if d.key["task"] == "mean"}
    lines = []
    s = result.settings
    for rho in s["rhos"]:
        for mech in s["mechanisms"]:
            for q in s["missing"]:
                for other in OTHERS:
                    acc = found.get((float(rho), mech, float(q), other, "accuracy"))
                    cal = found.get((float(rho), mech, float(q), other, "calibration"))
                    if acc is None or cal is None:
                        continue
                    lines.append(
                        f"- rho = {rho:g}, {mech}, {100 * q:g} % missing, masking against "
                        f"{_OTHER_WORDS[other]}: accuracy — masking {_WORDS[acc.verdict]} (gain "
                        f"{_fmt(acc.mean, digits)}, 95 % interval [{_fmt(acc.low, digits)}, "
                        f"{_fmt(acc.high, digits)}], {acc.n} seeds); calibration — masking "
                        f"{_WORDS[cal.verdict]} (|bias| lower by {_fmt(cal.mean, digits)}, 95 % interval "
                        f"[{_fmt(cal.low, digits)}, {_fmt(cal.high, digits)}], {cal.n} seeds).")
    return "\n".join(lines)


def condition_markdown(result, metric="accuracy", digits=3):
    """Markdown: the mean over tasks of ``metric`` per cell and condition (mean ± std over seeds, n)."""
    head = ["rho", "mechanism", "missing"] + [f"{c} ({metric}, mean over tasks)" for c in CONDITIONS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    s = result.settings
    for rho in s["rhos"]:
        for mech in s["mechanisms"]:
            for q in s["missing"]:
                key = setting_key(rho, mech, q)
                cells = []
                for cond in CONDITIONS:
                    rows = result.select(cond, "mean", metric, key)
                    if not rows or rows[0].n == 0:
                        cells.append("n/a")
                    else:
                        r = rows[0]
                        sign = "+" if metric == "bias" else ""
                        cells.append(f"{r.mean:{sign}.{digits}f} ± {r.std:.{digits}f} ({r.n})")
                lines.append(f"| {rho:g} | {mech} | {q:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def full_markdown(result, digits=3):
    """Everything the docs quote: the verdict sentences, the gain tables, the per-condition tables."""
    parts = ["Verdicts (mean over the four tasks of the held-out accuracy, and of |bias| = |mean "
             "predicted probability - true base rate|; masking minus the other condition, paired "
             "over seeds):", "", claims_markdown(result, digits), "",
             "Accuracy, masked minus the other condition (mean over tasks; paired over seeds):", "",
             gain_markdown(result, "accuracy", digits=digits), "",
             "Average precision, masked minus the other condition (mean over tasks):", "",
             gain_markdown(result, "average_precision", digits=digits), "",
             "Calibration gain, |bias| of the other condition minus |bias| of masked (mean over tasks "
             "of |bias|; positive: masking is better calibrated):", "",
             gain_markdown(result, "calibration", digits=digits), "",
             "Held-out accuracy per condition (mean over tasks; mean ± std over seeds, seeds):", "",
             condition_markdown(result, "accuracy", digits), "",
             "Calibration bias per condition (mean over tasks of mean predicted probability - true "
             "base rate):", "", condition_markdown(result, "bias", digits), "",
             result.to_markdown("accuracy", digits=digits), "",
             result.to_markdown("bias", digits=digits)]
    return "\n".join(parts)


def markdown(result, digits=3):
    """What the command line writes to ``masking.md``: :func:`full_markdown`, or the plain table
    for a result without paired comparisons."""
    if not result.paired or "mechanisms" not in result.settings:
        return result.to_markdown(digits=digits)
    return full_markdown(result, digits)


def plot(result, path=None):
    """Masking's paired gains with 95 % interval bars: one panel per rho, accuracy and calibration.

    x: the (mechanism, missing rate) cells; filled markers against ``zero_filled``,
    open ones against ``dropped``.
    """
    plt = require_matplotlib()
    s = result.settings
    rhos = s["rhos"]
    cells = [(m, q) for m in s["mechanisms"] for q in s["missing"]]
    fig, axes = plt.subplots(2, len(rhos), figsize=(4.8 * len(rhos), 6.4), squeeze=False, sharey="row")
    for col, rho in enumerate(rhos):
        panels = (("accuracy", "accuracy gain\n(masked - other)"),
                  ("calibration", "calibration gain\n(|bias| other - |bias| masked)"))
        for row, (metric, ylabel) in enumerate(panels):
            ax = axes[row][col]
            for k, other in enumerate(OTHERS):
                ds = {(d.key["mechanism"], d.key["missing"]): d for d in result.paired
                      if d.key["rho"] == rho and d.key["other"] == other and d.key["task"] == "mean"
                      and d.key["metric"] == metric}
                xs, means, lo, hi = [], [], [], []
                for i, cell in enumerate(cells):
                    d = ds.get(cell)
                    if d is None or not math.isfinite(d.mean):
                        continue
                    xs.append(i + (k - 0.5) * 0.2)
                    means.append(d.mean)
                    low = d.low if math.isfinite(d.low) else d.mean
                    high = d.high if math.isfinite(d.high) else d.mean
                    lo.append(d.mean - low)
                    hi.append(high - d.mean)
                ax.errorbar(xs, means, yerr=[lo, hi], fmt="os"[k], capsize=3, color=f"C{k}",
                            mfc=f"C{k}" if k == 0 else "none", label=f"masked vs {other}")
            ax.axhline(0.0, color="k", lw=0.7)
            ax.set_xticks(np.arange(len(cells)))
            ax.set_xticklabels([f"{m.replace('_', ' ')}\n{100 * q:g} % '?'" for m, q in cells], fontsize=7)
            if row == 0:
                ax.set_title(f"rho = {rho:g}", fontsize=10)
            if col == 0:
                ax.set_ylabel(ylabel, fontsize=8)
    axes[0][-1].legend(fontsize=7, loc="best")
    n = max((d.n for d in result.paired), default=0)
    fig.suptitle(f"Masking minus the alternatives, paired over {n} seeds (95 % t intervals)", fontsize=10)
    fig.tight_layout()
    return finish_figure(fig, path)
