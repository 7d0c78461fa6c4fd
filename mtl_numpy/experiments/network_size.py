r"""Experiment 2 — network size (Caruana): the gain from sharing against network width, on a fair footing.

The lecture, after Caruana: multi-task learning hurts only when the network is too
small for all the tasks. For each width ``w`` this runs the sharing experiment's two
equal-width conditions (:func:`.sharing.run` with ``width=w``): the all-shared CNN
(conv ``(w, 2w)`` -> dense ``4w`` -> four sigmoid outputs, every layer shared) and
four separate CNNs of the same width, at each relatedness ``rho`` of the scenes and
each labelled fraction, with the same protocol (:func:`~.common.train_fair`: patience,
extension of runs still improving, per-task checkpoints, the learning rate of each
condition picked per cell from a small sweep on tuning seeds).

The gain ``all-shared - separate`` of the held-out accuracy (mean over the four tasks)
is paired by seed (same scenes, same kept labels) and gets a 95 % t interval and a
verdict (:mod:`.stats`), one per (width, rho, labelled), in ``result.paired`` (its key
holds ``width``). The data of a seed do not depend on the width, so the gains at two
widths are paired too: :func:`width_changes` asks whether the gain changes between the
narrowest and the widest network.

The table's rows (``param`` = width) are named by :func:`condition`:
``multi_task``, ``single_task`` (the four separate networks) and
``multi_minus_single`` (their per-seed difference), suffixed ``@F`` at a labelled
fraction ``F < 1`` and `` (rho=R)`` at a relatedness other than 1.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..plotting import finish_figure, log_axis, require_matplotlib
from . import sharing, stats
from .common import METRICS, ExperimentResult, Recorder
from .sharing import ALL_SHARED, SEPARATE_WIDTH, setting_key

__all__ = ["run", "plot", "condition", "combine", "width_changes", "gain_markdown", "claims_markdown",
           "full_markdown", "markdown", "DEFAULT_WIDTHS", "CONDITIONS"]

DEFAULT_WIDTHS = (1, 2, 4, 8, 16)
#: The two :mod:`.sharing` conditions compared at each width (equal width).
CONDITIONS = (ALL_SHARED, SEPARATE_WIDTH)
_BASES = {"multi_task": ALL_SHARED, "single_task": SEPARATE_WIDTH}
#: The fast setting (seconds): small scenes, short patience, one learning rate.
FAST = dict(m_train=160, m_val=80, m_test=100, max_epochs=3, patience=2, max_extensions=1,
            rates=(3e-3,))


def condition(base, labelled=1.0, rho=1.0):
    """The table's condition name: ``base``, ``@F`` at a labelled fraction ``F < 1``,
    `` (rho=R)`` at a relatedness other than 1.

    ``condition("multi_minus_single", 1.0) == "multi_minus_single"``,
    ``condition("multi_minus_single", 0.1) == "multi_minus_single@0.1"``,
    ``condition("multi_minus_single", 1.0, rho=0) == "multi_minus_single (rho=0)"``.
    """
    name = base if float(labelled) >= 1.0 else f"{base}@{float(labelled):g}"
    return name if float(rho) == 1.0 else f"{name} (rho={float(rho):g})"


def run(seeds=tuple(range(10)), widths=DEFAULT_WIDTHS, rhos=(0.0, 1.0), labelled=(1.0,), jobs=1,
        backend="auto", fast=False, progress=True, **fair):
    """Sweep the width; returns an :class:`ExperimentResult` (param = width ``w``).

    Each width is one :func:`.sharing.run` with ``conditions=CONDITIONS``; ``fair``
    passes its other arguments (``m_train``, ``max_epochs``, ``patience``, ``rates``,
    ``tuning_seeds``, ...). ``jobs`` worker processes share each width's runs.
    ``fast=True`` uses :data:`FAST`, two seeds and widths ``(1, 2)`` (seconds).
    """
    widths = tuple(int(w) for w in widths)
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be positive integers; got {widths!r}")
    if fast:
        seeds, widths, labelled = tuple(seeds)[:2], (1, 2), (1.0,)
        fair = dict(FAST, **fair)
    parts = [sharing.run(seeds=seeds, rhos=rhos, labelled=labelled, width=w, conditions=CONDITIONS,
                         jobs=jobs, backend=backend, progress=progress, **fair) for w in widths]
    return combine(parts, fast=fast)


def combine(parts, fast=False):
    """One network-size result from :func:`.sharing.run` results that differ only in ``width``."""
    parts = sorted(parts, key=lambda p: p.settings["width"])
    skip = ("width", "param_width", "fast", "cells")
    same = {k: v for k, v in parts[0].settings.items() if k not in skip}
    for p in parts[1:]:
        other = {k: v for k, v in p.settings.items() if k not in skip}
        if other != same:
            raise ValueError(f"parts must differ only in width; got {same} and {other}")
    widths = [int(p.settings["width"]) for p in parts]
    if len(set(widths)) != len(widths):
        raise ValueError(f"parts must have distinct widths; got {widths}")
    settings = dict(same, widths=widths, fast=bool(fast))
    rec = Recorder()
    paired = []
    notes = {"parameters": {}, "learning_rate": {}, "epochs": {}, "extended_runs": {},
             "still_improving_runs": {}, "runs": {}, "diverged_runs": {}, "seconds_per_width": {}}
    for p, w in zip(parts, widths):
        per_seed = p.notes["per_seed"]
        notes["parameters"][str(w)] = {base: p.notes["parameters"][c] for base, c in _BASES.items()}
        notes["seconds_per_width"][str(w)] = round(p.seconds, 1)
        for name in ("learning_rate", "epochs", "extended_runs", "still_improving_runs", "runs",
                     "diverged_runs"):
            notes[name][str(w)] = p.notes[name]
        for rho in p.settings["rhos"]:
            for frac in p.settings["labelled"]:
                cell = per_seed[setting_key(rho, frac)]
                for metric in METRICS:
                    for task in cell[ALL_SHARED][metric]:
                        a = cell[ALL_SHARED][metric][task]
                        b = cell[SEPARATE_WIDTH][metric][task]
                        for x, y in zip(a, b):
                            rec.add(condition("multi_task", frac, rho), w, task, metric, x)
                            rec.add(condition("single_task", frac, rho), w, task, metric, y)
                            rec.add(condition("multi_minus_single", frac, rho), w, task, metric, x - y)
        for d in sharing.paired_table(p, tasks=("mean",)):
            paired.append(dataclasses.replace(d, key={"width": w, **d.key}))
    result = ExperimentResult("network_size", "width", rec.rows(), settings,
                              sum(p.seconds for p in parts), notes)
    result.paired = paired
    return result


def _gains(result, metric="accuracy"):
    return [d for d in result.paired if d.key["metric"] == metric and d.key["task"] == "mean"]


def width_changes(result, metric="accuracy"):
    """Does the gain change with width? Per-seed gains at the widest minus at the narrowest width.

    A seed draws the same scenes and labels at every width, so the two gains pair by
    seed. One :class:`~.stats.PairedDifference` per (rho, labelled); key ``from_width``,
    ``to_width``, ``rho``, ``labelled``.
    """
    widths = sorted(result.settings["widths"])
    gains = {(d.key["width"], d.key["rho"], d.key["labelled"]): d.differences for d in _gains(result, metric)}
    out = []
    if len(widths) < 2:
        return out
    lo, hi = widths[0], widths[-1]
    for rho in result.settings["rhos"]:
        for frac in result.settings["labelled"]:
            out.append(stats.paired_difference(
                gains[(hi, rho, frac)], gains[(lo, rho, frac)],
                label=f"gain at width {hi} - gain at width {lo}",
                key={"rho": float(rho), "labelled": float(frac), "from_width": lo, "to_width": hi}))
    return out


def gain_markdown(result, metric="accuracy", digits=3):
    """Markdown: width × rho × labelled, the gain of all-shared over separate, its interval, verdict."""
    head = ["width", "rho", "labelled", f"gain ({metric}, mean over tasks)", "95 % interval", "seeds",
            "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    rows = sorted(_gains(result, metric), key=lambda d: (d.key["rho"], d.key["labelled"], d.key["width"]))
    for d in rows:
        lines.append(f"| {d.key['width']} | {d.key['rho']:g} | {d.key['labelled']:g} | "
                     f"{d.mean:+.{digits}f} ± {d.std:.{digits}f} | "
                     f"[{d.low:+.{digits}f}, {d.high:+.{digits}f}] | {d.n} | {d.verdict} |")
    return "\n".join(lines)


_WORDS = stats.CLAIM_WORDS


def claims_markdown(result, metric="accuracy", digits=3):
    """One sentence per (rho, labelled, width), in its verdict's words (a Markdown list)."""
    lines = []
    rows = sorted(_gains(result, metric), key=lambda d: (d.key["rho"], d.key["labelled"], d.key["width"]))
    for d in rows:
        frac = d.key["labelled"]
        labels = "every label" if frac >= 1 else f"{100 * frac:g} % of the labels"
        lines.append(f"- rho = {d.key['rho']:g}, {labels}, width {d.key['width']}: sharing everything "
                     f"{_WORDS[d.verdict]} (gain {d.mean:+.{digits}f}, 95 % interval "
                     f"[{d.low:+.{digits}f}, {d.high:+.{digits}f}], {d.n} seeds).")
    for d in width_changes(result, metric):
        frac = d.key["labelled"]
        labels = "every label" if frac >= 1 else f"{100 * frac:g} % of the labels"
        change = {stats.HELPS: "grows", stats.HURTS: "shrinks",
                  stats.UNRESOLVED: "shows no change resolved at this size"}[d.verdict]
        lines.append(f"- rho = {d.key['rho']:g}, {labels}: from width {d.key['from_width']} to width "
                     f"{d.key['to_width']} the gain {change} (change {d.mean:+.{digits}f}, 95 % interval "
                     f"[{d.low:+.{digits}f}, {d.high:+.{digits}f}], {d.n} seeds).")
    return "\n".join(lines)


def full_markdown(result, digits=3):
    """Everything the docs quote: the verdicts, the gain table, the change with width, the accuracies."""
    parts = ["Verdicts (mean held-out accuracy over the four tasks, all-shared minus separate networks "
             "of the same width, paired over seeds):", "", claims_markdown(result, digits=digits), "",
             gain_markdown(result, digits=digits), "",
             "Average precision (mean over tasks):", "",
             gain_markdown(result, metric="average_precision", digits=digits), "",
             result.to_markdown("accuracy", digits=digits)]
    return "\n".join(parts)


def markdown(result, digits=3):
    """What the command line writes to ``network_size.md``: :func:`full_markdown`."""
    if not result.paired:
        return result.to_markdown(digits=digits)
    return full_markdown(result, digits)


def plot(result, path=None, metric="accuracy"):
    """The gain (mean over tasks) against width, one line per (rho, labelled), 95 % interval bars."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    cells = [(rho, frac) for rho in result.settings["rhos"] for frac in result.settings["labelled"]]
    for i, (rho, frac) in enumerate(cells):
        ds = sorted((d for d in _gains(result, metric) if d.key["rho"] == rho and d.key["labelled"] == frac),
                    key=lambda d: d.key["width"])
        # a small horizontal offset so the bars of different lines do not hide each other
        ws = np.array([d.key["width"] for d in ds], dtype=float) * 2.0 ** (0.06 * (i - (len(cells) - 1) / 2))
        means = np.array([d.mean for d in ds])
        err = np.array([[d.mean - d.low for d in ds], [d.high - d.mean for d in ds]])
        kept = "every label" if frac >= 1 else f"{100 * frac:g} % of labels"
        ax.errorbar(ws, means, yerr=err, marker="o", capsize=3, label=f"rho = {rho:g}, {kept}")
    ax.axhline(0, color="k", lw=0.8)
    log_axis(ax, result.settings["widths"], base=2)
    ax.set_xlabel("width w (conv w, 2w; dense 4w)")
    ax.set_ylabel(f"gain in held-out {metric}\n(all-shared - separate, same width)")
    n = max((d.n for d in result.paired), default=0)
    ax.set_title(f"Sharing against width, paired over {n} seeds (95 % t intervals)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finish_figure(fig, path)
