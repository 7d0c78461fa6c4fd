r"""What the experiments share: the results table, their training recipe, data and model set-ups.

Every experiment returns an :class:`ExperimentResult`: a list of rows
``(condition, param, task, metric, mean, std, n)`` where ``mean`` and ``std``
are over seeds (``std`` is the sample standard deviation, ``ddof=1``; 0 for one
seed) and ``n`` is the number of seeds whose value was finite.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..backends import to_numpy
from ..guards import TrainingDiverged
from ..labels import known_labels
from ..losses import masked_logistic_cost
from ..metrics import task_metrics
from ..optim import Adam, TrainableSubset
from ..training import fit, predict_proba_batched

__all__ = [
    "ExperimentResult", "Row", "Recorder", "train", "evaluate_truth",
    "run_progress", "epochs_for", "scenes", "METRICS", "resolve_backend",
    "blas_threads", "scene_cnn", "labelled_columns", "add_task_mean", "n_batches", "checkpoint_epochs",
    "PerTaskCheckpoints", "FairRun", "train_fair", "evaluate_per_task", "map_units",
    "tune_and_evaluate", "pick_rate", "n_units", "DEFAULT_RATES",
]

#: The learning rates every fair-protocol experiment sweeps by default (sharing and
#: network_size were stored with ``(1e-3, 3e-3, 1e-2)``; 1e-2, the top one, was picked
#: in 25 of their 36 choices, so the newer experiments sweep one step further up).
DEFAULT_RATES = (3e-3, 1e-2, 3e-2)

#: The metrics recorded per task by default.
METRICS = ("accuracy", "average_precision")


@dataclass(frozen=True)
class Row:
    condition: str
    param: object
    task: str
    metric: str
    mean: float
    std: float
    n: int


@dataclass
class ExperimentResult:
    """A results table: one row per (condition, param, task, metric), mean ± std over seeds.

    Attributes
    ----------
    name : str
        The experiment (``"sharing"``, ``"network_size"``, ...).
    param_name : str or None
        What the ``param`` column means (``"width"``, ``"n_B"``, ...); None if unused.
    rows : list of Row
    settings : dict
        The arguments the experiment ran with (seeds, sizes, epochs, backend, ...).
    seconds : float
        Wall time of the whole experiment.
    notes : dict
        Extra numbers an experiment wants to keep (e.g. training-set sizes).
    paired : list of stats.PairedDifference
        Paired comparisons (same seeds, same data) with their intervals and verdicts
        (:mod:`.stats`); empty for experiments that make none.
    """

    name: str
    param_name: object
    rows: list
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0
    notes: dict = field(default_factory=dict)
    paired: list = field(default_factory=list)

    # ------------------------------------------------------------------ access
    @property
    def conditions(self):
        return list(dict.fromkeys(r.condition for r in self.rows))

    @property
    def tasks(self):
        return list(dict.fromkeys(r.task for r in self.rows))

    @property
    def metrics(self):
        return list(dict.fromkeys(r.metric for r in self.rows))

    @property
    def params(self):
        return list(dict.fromkeys(r.param for r in self.rows))

    def select(self, condition=None, task=None, metric=None, param=None):
        """Rows matching every argument that is not None."""
        return [r for r in self.rows
                if (condition is None or r.condition == condition)
                and (task is None or r.task == task)
                and (metric is None or r.metric == metric)
                and (param is None or r.param == param)]

    def get(self, condition, task, metric, param=None):
        """The single matching row (``KeyError`` if none)."""
        rows = self.select(condition, task, metric, param)
        if not rows:
            raise KeyError((condition, task, metric, param))
        return rows[0]

    def curve(self, condition, task, metric):
        """``(params, means, stds)`` of one condition/task/metric, in param order."""
        rows = self.select(condition, task, metric)
        return ([r.param for r in rows], np.array([r.mean for r in rows]),
                np.array([r.std for r in rows]))

    # ----------------------------------------------------------------- output
    def to_dict(self):
        return {"name": self.name, "param_name": self.param_name, "settings": self.settings,
                "seconds": self.seconds, "notes": self.notes,
                "rows": [r.__dict__ for r in self.rows],
                "paired": [d.to_dict() for d in self.paired]}

    def to_json(self, path=None):
        text = json.dumps(self.to_dict(), indent=1, default=_json_default)
        if path is not None:
            with open(path, "w") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_json(cls, path_or_text):
        """Rebuild a result written by :meth:`to_json` (a path or the JSON text itself)."""
        text = path_or_text
        if not str(path_or_text).lstrip().startswith("{"):
            with open(path_or_text) as fh:
                text = fh.read()
        d = json.loads(text)
        from .stats import PairedDifference

        rows = [Row(**r) for r in d["rows"]]
        paired = [PairedDifference.from_dict(p) for p in d.get("paired", [])]
        return cls(d["name"], d["param_name"], rows, d.get("settings", {}), d.get("seconds", 0.0),
                   d.get("notes", {}), paired)

    def to_markdown(self, metric=None, digits=3):
        """A Markdown table: one line per (condition, param), one column per task.

        Each cell is ``mean ± std``; ``metric`` picks one metric (default: every
        metric gets its own table, one after the other).
        """
        metrics = [metric] if metric is not None else self.metrics
        out = []
        for met in metrics:
            tasks = self.tasks
            head = ["condition"] + ([self.param_name] if self.param_name else []) + tasks + ["n seeds"]
            lines = [f"**{met}**", "", "| " + " | ".join(head) + " |",
                     "|" + "|".join(["---"] * len(head)) + "|"]
            keys = list(dict.fromkeys((r.condition, r.param) for r in self.rows if r.metric == met))
            for cond, param in keys:
                cells = [cond] + ([_fmt_param(param)] if self.param_name else [])
                ns = set()
                for task in tasks:
                    rows = self.select(cond, task, met, param)
                    if rows and (self.param_name or rows[0].param == param):
                        r = rows[0]
                        cells.append(_fmt(r.mean, r.std, digits))
                        ns.add(r.n)
                    else:
                        cells.append("")
                cells.append("/".join(str(n) for n in sorted(ns)))
                lines.append("| " + " | ".join(cells) + " |")
            out.append("\n".join(lines))
        return "\n\n".join(out)

    def format(self, digits=3):
        """Plain-text table, one line per row."""
        pw = max([len(self.param_name or "")] + [len(_fmt_param(r.param)) for r in self.rows] + [1])
        cw = max([9] + [len(r.condition) for r in self.rows])
        tw = max([4] + [len(r.task) for r in self.rows])
        mw = max([6] + [len(r.metric) for r in self.rows])
        head = f"{'condition':<{cw}}  " + (f"{self.param_name:>{pw}}  " if self.param_name else "") + \
            f"{'task':<{tw}}  {'metric':<{mw}}  {'mean':>8}  {'std':>7}  n"
        lines = [f"{self.name} ({self.seconds:.0f} s)", head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r.condition:<{cw}}  " + (f"{_fmt_param(r.param):>{pw}}  " if self.param_name else "")
                         + f"{r.task:<{tw}}  {r.metric:<{mw}}  {r.mean:>8.{digits}f}  {r.std:>7.{digits}f}  {r.n}")
        return "\n".join(lines)

    __str__ = format


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _fmt(mean, std, digits):
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _fmt_param(param):
    if param is None:
        return "-"
    if isinstance(param, float):
        return f"{param:g}"
    return str(param)


class Recorder:
    """Collects per-seed values and turns them into :class:`Row`\\ s (mean ± std over seeds)."""

    def __init__(self):
        self._values = {}

    def add(self, condition, param, task, metric, value):
        self._values.setdefault((condition, param, task, metric), []).append(float(value))

    def add_metrics(self, condition, param, metrics, names=METRICS, extra=None):
        """Record ``names`` from a :func:`task_metrics` dict (plus ``extra`` {task: {metric: v}})."""
        for task, row in metrics.items():
            for name in names:
                self.add(condition, param, task, name, row[name])
            for name, value in (extra or {}).get(task, {}).items():
                self.add(condition, param, task, name, value)

    def rows(self):
        out = []
        for (cond, param, task, metric), values in self._values.items():
            v = np.array(values, dtype=np.float64)
            v = v[np.isfinite(v)]
            n = int(v.size)
            mean = float(v.mean()) if n else float("nan")
            std = float(v.std(ddof=1)) if n > 1 else (0.0 if n == 1 else float("nan"))
            out.append(Row(cond, param, task, metric, mean, std, n))
        return out


# ---------------------------------------------------------------------- set-up
def resolve_backend(backend="auto"):
    """``"auto"`` (or None): ``"numba"`` when Numba is installed, else ``"numpy"``; other names as given.

    The Numba backend trains the experiments' CNN about 1.4x (16x16 scenes) and 1.3x
    (32x32) faster than the NumPy one on this project's 2-core machine
    (docs/experiments.md, "Common choices").
    """
    if backend is None or backend == "auto":
        from ..backends import get_backend

        try:
            get_backend("numba")
            return "numba"
        except ImportError:
            return "numpy"
    return backend


@contextlib.contextmanager
def blas_threads(n=1):
    """Limit the BLAS library to ``n`` threads inside the block (needs threadpoolctl; else a no-op).

    The experiments train small networks with mini-batches of 64, whose BLAS products
    are small: a second BLAS thread does not speed them up (docs/experiments.md), and
    with two experiments running side by side on two cores (the command line's
    ``--jobs``) extra BLAS threads would only oversubscribe the cores. On a loaded
    2-core machine OpenBLAS's threads, spinning while they wait for a descheduled
    partner, made training several times slower in one of our measurements.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def scene_cnn(image_size, width, n_tasks, seed, backend, head_dims=None):
    """The experiments' CNN for driving scenes: conv ``(w, 2w)`` -> dense ``4w`` -> ``n_tasks``.

    ``width`` ``w`` scales every shared layer: ``w = 8`` is the workhorse of the fair-protocol
    runs (9,748 parameters at 16x16 with four tasks), ``w = 16`` has about four times as many.
    ``head_dims`` adds a dense ReLU head of those sizes per task after the shared layers.
    """
    from ..models import SharedCNN

    w = int(width)
    return SharedCNN((image_size, image_size, 3), conv_channels=(w, 2 * w), hidden=(4 * w,),
                     n_tasks=n_tasks, seed=seed, backend=backend, head_dims=head_dims)


def labelled_columns(Y):
    """Indices of the examples with at least one known label (the others add nothing to the cost)."""
    return np.flatnonzero(known_labels(Y).any(axis=0))


def add_task_mean(metrics, tasks, names=METRICS):
    """Add a ``"mean"`` pseudo-task (the mean over ``tasks``) to a :func:`task_metrics` dict."""
    metrics["mean"] = {k: float(np.mean([metrics[t][k] for t in tasks])) for k in names}
    return metrics


# ---------------------------------------------------------------------- training
def n_batches(m, batch_size):
    """Mini-batch steps in one epoch over ``m`` examples."""
    return max(1, math.ceil(m / batch_size))


def epochs_for(m, batch_size, epochs, min_steps=0, max_epochs=None):
    """``epochs``, raised so that training takes at least ``min_steps`` mini-batch steps.

    Small training sets get more passes, so that a model trained on 50 examples
    is not compared, after a handful of steps, with one trained on 5,000.
    """
    n_batches = max(1, math.ceil(m / batch_size))
    e = max(int(epochs), math.ceil(min_steps / n_batches))
    if max_epochs is not None:
        e = min(e, int(max_epochs))
    return max(1, e)


def checkpoint_epochs(epochs, n=12):
    """The epochs (1-based) after which :func:`train` scores the model on its validation set.

    Every epoch when there are at most ``n``; otherwise about ``n`` epochs spaced
    geometrically (a run of 600 epochs on 90 examples may be at its best after 20),
    always including the last.
    """
    epochs = int(epochs)
    if epochs <= n:
        return set(range(1, epochs + 1))
    return set(int(round(e)) for e in np.geomspace(1, epochs, n)) | {epochs}


def train(model, X, Y, *, epochs, batch_size=64, learning_rate=1e-3, seed=0, min_steps=0,
          max_epochs=None, trainable=None, validation=None):
    """Fit ``model`` quietly with Adam; returns the :class:`History` (None if nothing to train on).

    A training set with no example is skipped (the model keeps its initial
    parameters); callers should record ``nan`` for such a run.

    ``validation=(X_val, Y_val)`` turns on early stopping: after the epochs of
    :func:`checkpoint_epochs` the model's masked cost on ``(X_val, Y_val)`` (one row
    per output; ``nan`` rows or entries are left out) is computed, and at the end the
    model is given back the parameters of the checkpoint with the lowest cost. Every
    condition of an experiment is trained this way, so that none is judged after too
    few or too many passes over its data (a single-task network on 90 labels, given
    as many steps as a multi-task network on 10,000 scenes, overfits long before the
    end). This is :func:`mtl_numpy.fit`'s ``restore_best``, monitoring the course's cost
    from probabilities; ``History.best_epoch`` then holds the epoch kept.
    """
    m = model.n_examples(X) if hasattr(X, "shape") else 0
    if m == 0:
        return None
    opt = Adam(learning_rate=learning_rate)
    if trainable is not None:
        opt = TrainableSubset(opt, trainable)
    e = epochs_for(m, batch_size, epochs, min_steps, max_epochs)
    if validation is None:
        return fit(model, X, Y, optimizer=opt, epochs=e, batch_size=batch_size, seed=seed,
                   progress=False)
    X_val, Y_val = validation
    Y_val = np.asarray(Y_val, dtype=np.float64)

    def validation_cost(model):
        # the course's cost from probabilities (host float64), as the experiments' tables use it
        AL = np.asarray(to_numpy(predict_proba_batched(model, X_val)), dtype=np.float64)
        return masked_logistic_cost(AL, Y_val)

    return fit(model, X, Y, optimizer=opt, epochs=e, batch_size=batch_size, seed=seed,
               progress=False, restore_best=True, monitor=validation_cost,
               monitor_epochs=checkpoint_epochs(e))


class PerTaskCheckpoints:
    r"""A ``monitor`` for :func:`mtl_numpy.fit` that keeps, for each task, its best epoch's parameters.

    Called after every epoch, it computes each task's masked cost on the validation
    set (the course's cost from probabilities, one row of ``Y_val`` per output, '?'
    left out) and copies the parameters whenever a task's cost is the lowest so far
    for that task. A multi-task network is then judged, task by task, at the epoch
    that was best *for that task*, as a single-task network is judged at its own
    best epoch: neither side is stuck with a checkpoint chosen for something else.

    It returns ``-(number of improvements so far)``: the score falls whenever any task
    improves, so ``fit(..., early_stopping=patience, monitor=this)`` stops once no
    task has improved for ``patience`` epochs in a row.

    Attributes
    ----------
    best_cost : ndarray (n_tasks,)
    best_epoch : list of int
        Per task, the epoch (1-based, counted over every ``fit`` call) kept.
    epoch : int
        Epochs seen so far.
    """

    def __init__(self, X_val, Y_val):
        self.X_val = X_val
        self.Y_val = np.asarray(Y_val, dtype=np.float64)
        n = self.Y_val.shape[0]
        self.best_cost = np.full(n, np.inf)
        self.best_epoch = [0] * n
        self.params = [None] * n
        self.epoch = 0
        self.improvements = 0

    def task_costs(self, model):
        """Each task's masked validation cost, ``(n_tasks,)`` (nan for a task with no label)."""
        AL = np.asarray(to_numpy(predict_proba_batched(model, self.X_val)), dtype=np.float64)
        out = np.full(self.Y_val.shape[0], np.nan)
        for t in range(self.Y_val.shape[0]):
            if known_labels(self.Y_val[t]).any():
                out[t] = masked_logistic_cost(AL[t:t + 1], self.Y_val[t:t + 1], normalize="labels")
        return out

    def __call__(self, model):
        self.epoch += 1
        for t, J in enumerate(self.task_costs(model)):
            if math.isfinite(J) and J < self.best_cost[t]:
                self.best_cost[t], self.best_epoch[t] = J, self.epoch
                self.params[t] = {k: v.copy() for k, v in model.params.items()}
                self.improvements += 1
        return -float(self.improvements)

    def at_last_epoch(self):
        """True if some task's best epoch is the last epoch run (it may still be improving)."""
        return any(e == self.epoch for e in self.best_epoch)

    def load(self, model, t):
        """Write task ``t``'s kept parameters into ``model.params`` (in place)."""
        if self.params[t] is not None:
            for k, v in self.params[t].items():
                model.params[k][...] = v


@dataclass
class FairRun:
    """What :func:`train_fair` did: the kept checkpoints and how training ended."""

    checkpoints: PerTaskCheckpoints
    epochs: int
    extensions: int
    still_improving: bool
    learning_rate: float
    diverged: bool = False

    @property
    def best_epoch(self):
        return list(self.checkpoints.best_epoch)

    @property
    def best_cost(self):
        return [float(c) for c in self.checkpoints.best_cost]


def train_fair(model, X, Y, validation, *, learning_rate, max_epochs=60, patience=8,
               max_extensions=2, batch_size=64, seed=0, weighting="equal", trainable=None):
    r"""Train with the experiments' fair protocol; returns a :class:`FairRun`.

    The same rule for every network, multi-task or single-task:

    * **epochs are passes over the network's own labels**: a single-task network
      trains on the examples its task labels, a multi-task network on the examples
      with at least one label, so one epoch shows every task each of its labels once,
      in both; ``max_epochs`` and ``patience`` are counted in these passes, so each
      condition is given the same number of passes over each task's labels;
    * **a patience rule stops each run**: ``fit(..., early_stopping=patience)``
      watching :class:`PerTaskCheckpoints`, i.e. training stops once no task's
      validation cost has improved for ``patience`` epochs in a row;
    * **a run whose best epoch is its last is extended**: if after ``max_epochs`` some
      task was still improving at the last epoch, training goes on (same optimizer
      state) for up to ``max_extensions`` more blocks of ``max_epochs`` epochs;
      ``FairRun.extensions`` counts them, ``still_improving`` says whether the last
      block still ended on a best epoch;
    * **checkpoints are chosen per task**: each task keeps the parameters of its own
      best validation epoch (:func:`evaluate_per_task` uses them).

    ``validation = (X_val, Y_val)``, one row of ``Y_val`` per output of ``model``.
    ``trainable`` (parameter names, optional) freezes every other parameter: the
    Adam optimizer is wrapped in :class:`mtl_numpy.optim.TrainableSubset` (transfer's
    head-only fine-tuning); None trains them all.
    """
    if max_epochs < 1 or patience < 1 or max_extensions < 0:
        raise ValueError(f"max_epochs and patience must be >= 1 and max_extensions >= 0; got "
                         f"{max_epochs}, {patience}, {max_extensions}")
    X_val, Y_val = validation
    ckpt = PerTaskCheckpoints(X_val, Y_val)
    opt = Adam(learning_rate=learning_rate)
    if trainable is not None:
        opt = TrainableSubset(opt, trainable)
    extensions, diverged = 0, False
    while True:
        # a new shuffling seed per block, so an extension does not replay the same batches
        try:
            h = fit(model, X, Y, optimizer=opt, epochs=max_epochs, batch_size=batch_size,
                    seed=seed + 7919 * extensions, progress=False, early_stopping=patience,
                    monitor=ckpt, weighting=weighting)
        except TrainingDiverged:
            # a rate too high for this run (the sweep tries such rates): keep the
            # checkpoints taken before it diverged; a task with none scores inf
            diverged = True
            break
        ran_out = not h.stopped_early
        if not (ran_out and ckpt.at_last_epoch()) or extensions >= max_extensions:
            break
        extensions += 1
    return FairRun(ckpt, ckpt.epoch, extensions,
                   bool(not diverged and ran_out and ckpt.at_last_epoch()), float(learning_rate),
                   diverged)


def map_units(func, units, jobs=1, bar=None):
    """Yield ``func(*unit)`` for every tuple in ``units``.

    In order, in this process, when ``jobs <= 1``; otherwise in ``jobs`` spawned
    worker processes (fresh interpreters: no inherited BLAS or Numba threads), in
    the order they finish. ``func`` must be a module-level function (picklable), and
    it should return what it needs to identify its unit. ``bar.update()`` after each.
    """
    units = list(units)
    if not units:
        return
    if jobs is None or jobs <= 1:
        for u in units:
            out = func(*u)
            if bar is not None:
                bar.update()
            yield out
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(func, *u) for u in units]
        for fut in as_completed(futures):
            if bar is not None:
                bar.update()
            yield fut.result()


def pick_rate(by_rate, default):
    """The rate with the lowest mean validation score (ties: the smaller rate); ``default`` if none.

    ``by_rate`` is ``{rate: [score per tuning seed]}``.
    """
    if not by_rate:
        return default
    return min(by_rate, key=lambda lr: (float(np.mean(by_rate[lr])), lr))


def _timed_unit(unit, cell, seed, rates, cfg):
    start = time.process_time()
    out = unit(cell, seed, rates, cfg)
    return cell, seed, rates, out, time.process_time() - start


def tune_and_evaluate(unit, cells, conditions, seeds, *, rates, tuning_seeds, cfg, jobs=1, bar=None):
    r"""The fair protocol's two stages over a grid of cells: pick each rate, then run every seed.

    ``unit(cell, seed, rates, cfg)`` trains every condition of one cell on one seed's
    data, condition ``c`` at learning rate ``rates[c]``, and returns a dict with, for each
    condition it ran, ``out[c]["val_score"]``: the score the rate is chosen by (lower
    is better; the experiments use the mean over tasks of the best validation cost).
    It must be a module-level function (``jobs > 1`` runs units in worker processes);
    ``cell`` is any hashable, picklable value (a tuple of the grid's coordinates).

    1. **Tuning**: with more than one rate, for each cell, each seed of
       ``tuning_seeds`` (data apart from the evaluation seeds) and each rate, one unit
       runs every condition at that rate; each (cell, condition) gets the rate of
       lowest mean ``val_score`` (:func:`pick_rate`).
    2. **Evaluation**: one unit per (cell, seed of ``seeds``), at the chosen rates.

    Returns ``(chosen, scores, per_seed, cpu_seconds)``: ``chosen[(cell, c)]`` the rate,
    ``scores[(cell, c)]`` ``{rate: [val_score per tuning seed]}``, ``per_seed[(cell, seed)]``
    the evaluation unit's output, ``cpu_seconds`` the CPU time of all units (summed over
    worker processes: on a shared machine a steadier measure of the work than wall time).
    """
    seeds, tuning_seeds = [int(s) for s in seeds], [int(s) for s in tuning_seeds]
    if set(seeds) & set(tuning_seeds):
        raise ValueError(f"tuning_seeds must differ from seeds (the rate is picked on other data); "
                         f"both hold {sorted(set(seeds) & set(tuning_seeds))}")
    rates = tuple(float(r) for r in rates)
    if not rates:
        raise ValueError("rates must hold at least one learning rate; got ()")
    cells, conditions = list(cells), tuple(conditions)
    cpu = 0.0
    scores = {}
    tune = [(unit, cell, s, {c: lr for c in conditions}, cfg)
            for cell in cells for s in tuning_seeds for lr in rates] if len(rates) > 1 else []
    for cell, _, used, out, sec in map_units(_timed_unit, tune, jobs, bar):
        cpu += sec
        for c in conditions:
            if c in out:
                scores.setdefault((cell, c), {}).setdefault(used[c], []).append(out[c]["val_score"])
    chosen = {(cell, c): pick_rate(scores.get((cell, c)), rates[0]) for cell in cells for c in conditions}
    evaluate = [(unit, cell, s, {c: chosen[(cell, c)] for c in conditions}, cfg)
                for cell in cells for s in seeds]
    per_seed = {}
    for cell, s, _, out, sec in map_units(_timed_unit, evaluate, jobs, bar):
        cpu += sec
        per_seed[(cell, s)] = out
    return chosen, scores, per_seed, cpu


def n_units(cells, seeds, rates, tuning_seeds):
    """How many units :func:`tune_and_evaluate` runs (for a progress bar's total)."""
    n_cells = len(list(cells))
    tune = n_cells * len(tuple(tuning_seeds)) * len(tuple(rates)) if len(tuple(rates)) > 1 else 0
    return tune + n_cells * len(tuple(seeds))


def evaluate_per_task(model, run, X, Y_true, tasks):
    """Per-task :func:`task_metrics` of ``model`` against ``Y_true``, task ``t`` at its own checkpoint.

    ``run`` is the :class:`FairRun` of ``model``; ``model.params`` is left at the
    parameters of the last task's checkpoint.
    """
    rows = []
    for t in range(len(tasks)):
        run.checkpoints.load(model, t)
        AL = np.asarray(to_numpy(predict_proba_batched(model, X)), dtype=np.float64)
        rows.append(AL[t])
    return task_metrics(Y_true, np.stack(rows), tasks=tasks)


def evaluate_truth(model, X, Y_true, tasks, with_bias=False):
    """Per-task metrics of ``model`` against the full truth; optionally the calibration bias.

    ``bias`` = mean predicted probability minus the true base rate of the task.
    """
    AL = np.asarray(to_numpy(predict_proba_batched(model, X)), dtype=np.float64)
    metrics = task_metrics(Y_true, AL, tasks=tasks)
    if with_bias:
        for j, task in enumerate(tasks):
            metrics[task]["bias"] = float(AL[j].mean() - Y_true[j].mean())
            metrics[task]["mean_proba"] = float(AL[j].mean())
    return metrics


def scenes(m_train, m_test, image_size, seed, missing=0.0, m_val=0):
    """Driving scenes split into (train, test), or (train, validation, test) when ``m_val > 0``.

    Test and validation labels are only ever used as truth (``Y_true``); the
    validation scenes choose each run's early-stopping checkpoint (:func:`train`).
    """
    from ..datasets import driving_scenes

    data = driving_scenes(m_train + m_val + m_test, image_size=image_size, missing=missing, seed=seed)
    rest, test = data.split(m_test)
    if not m_val:
        return rest, test
    train_set, val = rest.split(m_val)
    return train_set, val, test


# ---------------------------------------------------------------------- progress
#: Screen line of this process's progress bars (set per worker when the CLI runs
#: experiments side by side, so that their bars do not overwrite each other).
BAR_POSITION = None


def run_progress(total, desc, progress):
    """A tqdm bar over the runs of an experiment (a no-op object when ``progress`` is False)."""
    if progress:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, desc=f"{desc:<12}", unit="run", position=BAR_POSITION,
                        dynamic_ncols=True)
        except ImportError:  # pragma: no cover
            pass
    return _NoBar()


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
