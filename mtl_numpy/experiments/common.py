r"""Shared pieces of the experiments: the results table, training helpers, plotting.

Every experiment returns an :class:`ExperimentResult`: a list of rows
``(condition, param, task, metric, mean, std, n)`` where ``mean`` and ``std``
are over seeds (``std`` is the sample standard deviation, ``ddof=1``; 0 for one
seed) and ``n`` is the number of seeds whose value was finite.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..metrics import task_metrics
from ..optim import Adam, Optimizer
from ..training import fit, predict_proba_batched

__all__ = [
    "ExperimentResult", "Row", "Recorder", "TrainableSubset", "train", "evaluate_truth",
    "require_matplotlib", "run_progress", "epochs_for", "scenes", "METRICS",
]

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
    """

    name: str
    param_name: object
    rows: list
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0
    notes: dict = field(default_factory=dict)

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
                "rows": [r.__dict__ for r in self.rows]}

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
        rows = [Row(**r) for r in d["rows"]]
        return cls(d["name"], d["param_name"], rows, d.get("settings", {}), d.get("seconds", 0.0),
                   d.get("notes", {}))

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


# ---------------------------------------------------------------------- training
class TrainableSubset(Optimizer):
    """Wrap an optimizer so that it updates only the parameters named in ``trainable``.

    The others (e.g. a pretrained trunk) stay frozen: their gradients are
    computed but never applied. ``TrainableSubset(Adam(1e-3), ["W3", "b3"])``
    trains only the head of a 3-layer network.
    """

    def __init__(self, optimizer, trainable):
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be an mtl_numpy Optimizer; got {optimizer!r}")
        self.inner = optimizer
        self.trainable = frozenset(trainable)
        self.learning_rate = optimizer.learning_rate
        self.t = 0

    def update(self, params, grads):
        self.t += 1
        live = {k: v for k, v in params.items() if k in self.trainable}
        if set(self.trainable) - set(params):
            raise ValueError(f"trainable names {sorted(set(self.trainable) - set(params))} "
                             f"are not parameters; have {sorted(params)}")
        self.inner.update(live, grads)


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


def train(model, X, Y, *, epochs, batch_size=64, learning_rate=1e-3, seed=0, min_steps=0,
          max_epochs=None, trainable=None):
    """Fit ``model`` quietly with Adam; returns the :class:`History`.

    A training set with no example is skipped (the model keeps its initial
    parameters); callers should record ``nan`` for such a run.
    """
    m = model.n_examples(X) if hasattr(X, "shape") else 0
    if m == 0:
        return None
    opt = Adam(learning_rate=learning_rate)
    if trainable is not None:
        opt = TrainableSubset(opt, trainable)
    e = epochs_for(m, batch_size, epochs, min_steps, max_epochs)
    return fit(model, X, Y, optimizer=opt, epochs=e, batch_size=batch_size, seed=seed, progress=False)


def evaluate_truth(model, X, Y_true, tasks, with_bias=False):
    """Per-task metrics of ``model`` against the full truth; optionally the calibration bias.

    ``bias`` = mean predicted probability minus the true base rate of the task.
    """
    AL = np.asarray(predict_proba_batched(model, X), dtype=np.float64)
    if hasattr(AL, "get"):  # pragma: no cover - cupy
        AL = AL.get()
    metrics = task_metrics(Y_true, AL, tasks=tasks)
    if with_bias:
        for j, task in enumerate(tasks):
            metrics[task]["bias"] = float(AL[j].mean() - Y_true[j].mean())
            metrics[task]["mean_proba"] = float(AL[j].mean())
    return metrics


def scenes(m_train, m_test, image_size, seed, missing=0.0):
    """Driving scenes split into (train, test); test labels are only ever used as truth."""
    from ..datasets import driving_scenes

    data = driving_scenes(m_train + m_test, image_size=image_size, missing=missing, seed=seed)
    return data.split(m_test)


# ---------------------------------------------------------------------- progress / plots
def run_progress(total, desc, progress):
    """A tqdm bar over the runs of an experiment (a no-op object when ``progress`` is False)."""
    if progress:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, desc=desc, unit="run")
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


def require_matplotlib():
    """Import matplotlib with the Agg backend, or fail with the install hint."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("needs matplotlib: pip install 'mtl-numpy[plot]'") from None
    return plt


def finish_figure(fig, path):
    """Save ``fig`` to ``path`` (and close it) or return it."""
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        return str(path)
    return fig


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
