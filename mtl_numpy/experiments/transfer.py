r"""Experiment 5 — transfer learning: pretrain on tasks A with lots of data, fine-tune on B.

The lecture: transfer A -> B makes sense when A and B have the same input, A has
much more data than B, and A's low-level features could help B. Two settings:

* **scenes**, at relatedness ``rho`` in ``rhos`` (default 0 and 1): A = pedestrian +
  car + stop_sign on ``m_A`` scenes; B = traffic_light with ``n_B`` labelled scenes,
  drawn apart from A's (another seed), with validation and test scenes from the same
  draw as B's. The scenes' relatedness dial sets how much the four objects share
  low-level parts (section 7 of docs/experiments.md), so transfer *should* follow it.
  Traffic-light presence is independent of the other objects' (``label_correlation=0``),
  so B is not a function of A's labels. Networks: :func:`~.common.scene_cnn` of width
  ``width`` (conv ``(w, 2w)`` -> dense ``4w``).
* **digits** (real data, :func:`mtl_numpy.datasets.digits_tasks`): A = even +
  greater_equal_5, B = prime, an MLP ``SharedMLP([64, *digits_hidden, n])``. Prime is
  *not* a function of (even, >= 5): (even = 0, >= 5 = 0) holds 1 (not prime) and 3
  (prime), and so on. The best any rule that sees only A's two labels can do on prime is
  about 0.7 accuracy (the majority class alone: about 0.6); :func:`label_bound` computes
  it on each test set (``notes["digits_label_bound"]``), so the reader sees how much of a
  transfer gain could still be carried by A's labels rather than by shared features.

Conditions for B, all with one sigmoid output and the same initial parameters (seed):

* ``scratch``: trained on B alone;
* ``finetune_all``: every layer but the last copied from the network pretrained on A,
  then every layer trained on B;
* ``finetune_head``: trunk copied and frozen (``train_fair(..., trainable=head)``:
  :class:`mtl_numpy.optim.TrainableSubset`) — logistic regression on A's features;
* ``finetune_lower``: only the lower layers copied (every layer but the last two: the
  CNN's conv layers, the MLP's first layer), the rest fresh, every layer trained.

The protocol is the fair one (:func:`~.common.train_fair`) for every network, the
pretrained one included: patience stop, extension of runs still improving at their last
epoch, the checkpoint of the best validation epoch. The learning rate is chosen like
every other condition's, in two stages on ``tuning_seeds`` (data apart from the
evaluation seeds): first the pretraining rate per (dataset, rho) by A's mean best
validation cost, then, from a network pretrained at that rate, each B condition's rate
per (dataset, rho, n_B) cell by B's best validation cost
(:func:`~.common.tune_and_evaluate`).

Claims are paired differences (same seed, same data, same initial head for every
condition): each fine-tuning condition minus ``scratch``, per cell, on B's held-out
accuracy and average precision; and, on the scenes, the per-seed gain at the highest rho
minus at the lowest (a seed draws the same geometry and presence at every rho, only the
materials change), i.e. does transfer follow relatedness. All in ``result.paired`` with
95 % t intervals and verdicts (:mod:`.stats`).
"""
from __future__ import annotations

import numpy as np

from ..models import SharedMLP
from ..plotting import finish_figure, require_matplotlib
from . import stats
from .common import DEFAULT_RATES, ExperimentResult, Recorder, Timer, blas_threads, \
    evaluate_per_task, n_units, resolve_backend, run_progress, scene_cnn, train_fair, \
    tune_and_evaluate

__all__ = ["run", "plot", "markdown", "transfer_trunk", "label_bound", "setting_key", "paired_table",
           "rho_changes", "claims_markdown", "gain_markdown", "rho_markdown", "bound_markdown", "CONDITIONS",
           "FINETUNE", "DATASETS"]

CONDITIONS = ("scratch", "finetune_all", "finetune_head", "finetune_lower")
FINETUNE = CONDITIONS[1:]
DATASETS = ("scenes", "digits")
METRICS = ("accuracy", "average_precision")
#: tasks A and task B, as rows of the datasets' label matrices
SCENE_A, SCENE_B = (0, 1, 2), 3          # pedestrian, car, stop_sign -> traffic_light
DIGIT_A, DIGIT_B = (0, 1), 2             # even, greater_equal_5 -> prime
#: how the claims name each condition
WORDS = {"finetune_all": "fine-tuning every layer",
         "finetune_head": "fine-tuning the head only (trunk frozen)",
         "finetune_lower": "copying only the lower layers, then training every layer"}


def _n_layers(model):
    return max(int(k[1:]) for k in model.params if k.startswith("W"))


def transfer_trunk(pretrained, model, keep_top=1):
    """Copy every layer but the last ``keep_top`` from ``pretrained`` into ``model`` (in place).

    Works for :class:`~mtl_numpy.SharedMLP` and :class:`~mtl_numpy.SharedCNN` alike (the
    trunk of a CNN is its conv layers and its hidden dense layers). ``keep_top=2`` copies
    only the lower layers (a CNN's conv layers). Returns the names of the copied and of
    the remaining (freshly initialised) parameters.
    """
    L = _n_layers(model)
    if not 1 <= keep_top < L:
        raise ValueError(f"keep_top must be in [1, {L - 1}] for a {L}-layer network; got {keep_top}")
    trunk = [f"{p}{l}" for l in range(1, L + 1 - keep_top) for p in ("W", "b")]
    if _n_layers(pretrained) != L or any(
            tuple(pretrained.params[k].shape) != tuple(model.params[k].shape) for k in trunk):
        raise ValueError(f"trunks differ: {_trunk_shapes(pretrained)} vs {_trunk_shapes(model)}")
    for key in trunk:
        model.params[key][...] = pretrained.params[key]
    return trunk, [f"{p}{l}" for l in range(L + 1 - keep_top, L + 1) for p in ("W", "b")]


def _trunk_shapes(model):
    L = _n_layers(model)
    return [tuple(model.params[f"W{l}"].shape) for l in range(1, L)]


def label_bound(Y_A, y_B):
    """The best accuracy on ``y_B`` of any rule that sees only A's labels ``Y_A``, and the majority's.

    For each combination of A's labels the rule answers B's majority class among the
    examples with that combination (fitted on the very examples it is scored on: an
    upper bound). Returns ``(bound, majority)``: B's accuracy of that rule, and of
    answering B's majority class everywhere. ``Y_A`` is ``(n_A_tasks, m)`` 0/1,
    ``y_B`` ``(m,)`` 0/1.
    """
    Y_A = np.asarray(Y_A)
    y_B = np.asarray(y_B).ravel()
    if Y_A.ndim != 2 or Y_A.shape[1] != y_B.size or y_B.size == 0:
        raise ValueError(f"Y_A must be (n_tasks, m) and y_B (m,) with m > 0; got {Y_A.shape} and {y_B.shape}")
    combos = {}
    for col, y in zip(map(tuple, Y_A.T.tolist()), y_B.tolist()):
        combos.setdefault(col, []).append(y)
    right = sum(max(sum(v), len(v) - sum(v)) for v in combos.values())
    ones = float(y_B.sum())
    return right / y_B.size, max(ones, y_B.size - ones) / y_B.size


def setting_key(dataset, rho, n_B):
    """The ``param`` of a results row: ``"scenes rho=1 n_B=50"``, ``"digits n_B=20"``."""
    if dataset == "digits":
        return f"digits n_B={int(n_B)}"
    return f"scenes rho={float(rho):g} n_B={int(n_B)}"


def _pre_key(dataset, rho):
    return "digits" if dataset == "digits" else f"scenes rho={float(rho):g}"


# ---------------------------------------------------------------------- data and models
def _scenes_B(rho, seed, cfg):
    """B's scenes: a training pool (the first ``n`` are B's ``n`` labelled scenes), validation, test."""
    from ..datasets import driving_scenes

    n_pool = max(cfg["n_B"])
    B = driving_scenes(n_pool + cfg["m_val"] + cfg["m_test"], image_size=cfg["image_size"], missing=0.0,
                       seed=seed + 10_000, relatedness=float(rho))
    rest, test = B.split(cfg["m_test"])
    pool, val = rest.split(cfg["m_val"])
    return pool, val, test


def _digits_split(seed, cfg):
    """Indices of test, validation, B's pool and A's digits (a permutation per seed)."""
    from ..datasets import digits_tasks

    D = digits_tasks(seed=0)      # the labels hide nothing (missing=0); the split is the seed's
    order = np.random.default_rng(seed).permutation(D.m)
    n_te, n_val, n_pool = cfg["digits_m_test"], cfg["digits_m_val"], max(cfg["digits_n_B"])
    te, val = order[:n_te], order[n_te:n_te + n_val]
    pool, a_idx = order[n_te + n_val:n_te + n_val + n_pool], order[n_te + n_val + n_pool:]
    return D, te, val, pool, a_idx


def _cnn(cfg, n_out, seed):
    return scene_cnn(cfg["image_size"], cfg["width"], n_out, seed, cfg["backend"])


def _mlp(cfg, n_out, seed):
    return SharedMLP([64, *cfg["digits_hidden"], n_out], seed=seed, backend=cfg["backend"])


def _fair_kw(cfg, seed, pretrain=False):
    return dict(max_epochs=cfg["pretrain_max_epochs" if pretrain else "max_epochs"],
                patience=cfg["patience"], max_extensions=cfg["max_extensions"],
                batch_size=cfg["batch_size"], seed=seed)


def _run_info(run):
    return {"epochs": int(run.epochs), "extensions": int(run.extensions),
            "still_improving": bool(run.still_improving), "diverged": bool(run.diverged),
            "val_cost": run.best_cost, "val_score": float(np.mean(run.best_cost))}


#: Networks pretrained on A, by (dataset, rho, seed, rate, sizes): every n_B cell of a
#: seed fine-tunes from the same one (deterministic, so a cache only saves time).
_PRETRAINED = {}


def _pretrained(dataset, rho, seed, lr, cfg):
    """The network pretrained on A (``train_fair`` at rate ``lr``) and its run's summary."""
    sizes = (cfg["m_A"], cfg["m_val"], cfg["image_size"], cfg["width"]) if dataset == "scenes" else \
        (tuple(cfg["digits_hidden"]), cfg["digits_m_test"], cfg["digits_m_val"], max(cfg["digits_n_B"]))
    key = (dataset, float(rho), int(seed), float(lr), sizes, cfg["pretrain_max_epochs"], cfg["patience"],
           cfg["max_extensions"], cfg["batch_size"], cfg["backend"])
    if key in _PRETRAINED:
        return _PRETRAINED[key]
    kw = _fair_kw(cfg, seed, pretrain=True)
    if dataset == "scenes":
        from ..datasets import driving_scenes

        A = driving_scenes(cfg["m_A"] + cfg["m_val"], image_size=cfg["image_size"], missing=0.0, seed=seed,
                           relatedness=float(rho))
        A_train, A_val = A.split(cfg["m_val"])
        rows = list(SCENE_A)
        model = _cnn(cfg, len(rows), seed)
        run = train_fair(model, A_train.X, A_train.Y_true[rows], (A_val.X, A_val.Y_true[rows]),
                         learning_rate=lr, **kw)
    else:
        D, _, val, _, a_idx = _digits_split(seed, cfg)
        X, rows = D.flat(), list(DIGIT_A)
        model = _mlp(cfg, len(rows), seed)
        run = train_fair(model, X[:, a_idx], D.Y_true[rows][:, a_idx], (X[:, val], D.Y_true[rows][:, val]),
                         learning_rate=lr, **kw)
    # one set of parameters to transfer: of the per-task checkpoints (each A task's best
    # epoch), the one with the lowest mean validation cost over A's tasks
    info = _run_info(run)
    info["checkpoint_val_cost"] = _load_best_mean(model, run)
    if len(_PRETRAINED) > 256:
        _PRETRAINED.clear()
    _PRETRAINED[key] = (model, info)
    return model, info


def _load_best_mean(model, run):
    """Load, of ``run``'s per-task checkpoints, the one of lowest mean validation cost; return that cost."""
    ckpt, best, best_cost = run.checkpoints, None, np.inf
    for t, params in enumerate(ckpt.params):
        if params is None:
            continue
        ckpt.load(model, t)
        cost = float(np.nanmean(ckpt.task_costs(model)))
        if cost < best_cost:
            best, best_cost = t, cost
    if best is not None:
        ckpt.load(model, best)
    return best_cost


def _pretrain_unit(cell, seed, rates, cfg):
    """Stage 1 of the rate sweep: pretrain on A at ``rates["pretrain"]``; ``cell = (dataset, rho)``."""
    dataset, rho = cell
    with blas_threads(1):
        _, info = _pretrained(dataset, rho, seed, rates["pretrain"], cfg)
    return {"pretrain": info}


def _unit(cell, seed, rates, cfg):
    """Train B's conditions of one cell ``(dataset, rho, n_B)`` on one seed's data.

    Returns {condition: {"metrics", "val_score", "epochs", ...}} plus ``"pretrain"`` (the
    pretrained run's summary) and, for the digits, ``"label_bound"``.
    """
    dataset, rho, n = cell
    lr_pre = cfg["pretrain_rate"][_pre_key(dataset, rho)]
    out = {}
    with blas_threads(1):
        pre, out["pretrain"] = _pretrained(dataset, rho, seed, lr_pre, cfg)
        if dataset == "scenes":
            pool, val, test = _scenes_B(rho, seed, cfg)
            b = SCENE_B
            task = pool.tasks[b]
            X_B, Y_B = pool.X[:n], pool.Y_true[b:b + 1, :n]
            X_val, Y_val, X_te, Y_te = val.X, val.Y_true[b:b + 1], test.X, test.Y_true[b:b + 1]

            def make():
                return _cnn(cfg, 1, seed + 1)
        else:
            D, te, va, pool_idx, _ = _digits_split(seed, cfg)
            X, b = D.flat(), DIGIT_B
            task = D.tasks[b]
            idx = pool_idx[:n]
            X_B, Y_B = X[:, idx], D.Y_true[b:b + 1, idx]
            X_val, Y_val, X_te, Y_te = X[:, va], D.Y_true[b:b + 1, va], X[:, te], D.Y_true[b:b + 1, te]
            out["label_bound"] = label_bound(D.Y_true[list(DIGIT_A)][:, te], D.Y_true[b, te])

            def make():
                return _mlp(cfg, 1, seed + 1)
        for cond in CONDITIONS:
            if cond not in rates:
                continue
            model, trainable = make(), None
            if cond == "finetune_lower":
                transfer_trunk(pre, model, keep_top=2)
            elif cond != "scratch":
                _, head = transfer_trunk(pre, model)
                trainable = head if cond == "finetune_head" else None
            run = train_fair(model, X_B, Y_B, (X_val, Y_val), learning_rate=rates[cond],
                             trainable=trainable, **_fair_kw(cfg, seed))
            info = _run_info(run)
            info["metrics"] = evaluate_per_task(model, run, X_te, Y_te, (task,))
            info["task"] = task
            out[cond] = info
    return out


# ---------------------------------------------------------------------- the experiment
def run(seeds=tuple(range(10)), rhos=(0.0, 1.0), m_A=4000, n_B=(100, 500), m_val=500, m_test=1000,
        image_size=16, width=8, digits_n_B=(20, 100), digits_hidden=(64, 32), digits_m_val=200,
        digits_m_test=400, max_epochs=60, pretrain_max_epochs=30, patience=8, max_extensions=2,
        rates=DEFAULT_RATES, tuning_seeds=(100,), batch_size=64, datasets=DATASETS, jobs=1,
        backend="auto", fast=False, progress=True):
    """Run both transfer settings; returns an :class:`ExperimentResult`.

    ``param`` of each row is :func:`setting_key` ``(dataset, rho, n_B)``; the tasks are
    ``traffic_light`` (scenes) and ``prime`` (digits). ``result.paired`` holds every
    claim (:func:`paired_table`). ``fast=True`` overrides the sizes with a setting that
    runs in seconds (tests, tutorials).
    """
    datasets = tuple(datasets)
    if not datasets or not set(datasets) <= set(DATASETS):
        raise ValueError(f"datasets must be a non-empty subset of {DATASETS}; got {datasets!r}")
    if fast:
        seeds, m_A, n_B, m_val, m_test = tuple(seeds)[:2], 300, (20, 60), 100, 150
        width, max_epochs, pretrain_max_epochs, patience, max_extensions = 2, 3, 3, 2, 1
        digits_n_B, digits_hidden, rates = (20, 60), (16, 8), (1e-2,)
    n_B, digits_n_B = tuple(int(n) for n in n_B), tuple(int(n) for n in digits_n_B)
    for name, sizes in (("n_B", n_B), ("digits_n_B", digits_n_B)):
        if not sizes or min(sizes) < 1:
            raise ValueError(f"{name} must be a non-empty tuple of positive sizes; got {sizes!r}")
    if "digits" in datasets and digits_m_test + digits_m_val + max(digits_n_B) + 100 > 1797:
        raise ValueError(f"digits_m_test + digits_m_val + max(digits_n_B) must leave at least 100 of the "
                         f"1,797 digits for A; got {digits_m_test} + {digits_m_val} + {max(digits_n_B)}")
    if "scenes" in datasets and m_A < 1:
        raise ValueError(f"m_A must be a positive number of scenes; got {m_A!r}")
    backend = resolve_backend(backend)
    seeds, tuning_seeds = [int(s) for s in seeds], [int(s) for s in tuning_seeds]
    if set(seeds) & set(tuning_seeds):
        raise ValueError(f"tuning_seeds must differ from seeds (the rate is picked on other data); "
                         f"both hold {sorted(set(seeds) & set(tuning_seeds))}")
    rhos = tuple(float(r) for r in rhos)
    if "scenes" in datasets and (not rhos or any(not 0.0 <= r <= 1.0 for r in rhos)):
        raise ValueError(f"rhos must be relatedness values in [0, 1]; got {rhos!r}")
    rates = tuple(float(r) for r in rates)
    cfg = dict(m_A=m_A, n_B=list(n_B), m_val=m_val, m_test=m_test, image_size=image_size, width=width,
               digits_n_B=list(digits_n_B), digits_hidden=list(digits_hidden), digits_m_val=digits_m_val,
               digits_m_test=digits_m_test, max_epochs=max_epochs, pretrain_max_epochs=pretrain_max_epochs,
               patience=patience, max_extensions=max_extensions, batch_size=batch_size, backend=backend)
    settings = dict(cfg, seeds=seeds, rhos=list(rhos), rates=list(rates), tuning_seeds=tuning_seeds,
                    datasets=list(datasets), fast=fast)
    pre_cells = ([("scenes", r) for r in rhos] if "scenes" in datasets else []) + \
        ([("digits", 0.0)] if "digits" in datasets else [])
    cells = ([("scenes", r, n) for r in rhos for n in n_B] if "scenes" in datasets else []) + \
        ([("digits", 0.0, n) for n in digits_n_B] if "digits" in datasets else [])
    total = n_units(pre_cells, [], rates, tuning_seeds) + n_units(cells, seeds, rates, tuning_seeds)
    bar = run_progress(total, "transfer", progress)
    with Timer() as timer, blas_threads(1):
        # stage 1: the pretraining rate per (dataset, rho), by A's validation cost on the tuning seeds
        pre_chosen, pre_scores, _, cpu_pre = tune_and_evaluate(
            _pretrain_unit, pre_cells, ("pretrain",), [], rates=rates, tuning_seeds=tuning_seeds,
            cfg=cfg, jobs=jobs, bar=bar)
        cfg["pretrain_rate"] = {_pre_key(*cell): pre_chosen[(cell, "pretrain")] for cell in pre_cells}
        # stage 2: each B condition's rate per cell (from the network pretrained at its rate), then every seed
        chosen, scores, per_seed, cpu = tune_and_evaluate(
            _unit, cells, CONDITIONS, seeds, rates=rates, tuning_seeds=tuning_seeds, cfg=cfg, jobs=jobs,
            bar=bar)
    bar.close()
    _PRETRAINED.clear()

    rec = Recorder()
    notes = {"cpu_seconds": round(cpu_pre + cpu, 1), "pretrain_learning_rate": dict(cfg["pretrain_rate"]),
             "pretrain_tuning_val_cost": {}, "pretrain": {}, "learning_rate": {}, "tuning_val_cost": {},
             "epochs": {}, "extended_runs": {}, "still_improving_runs": {}, "diverged_runs": {}, "runs": {},
             "per_seed": {}, "tasks": {}}
    for cell in pre_cells:
        notes["pretrain_tuning_val_cost"][_pre_key(*cell)] = {
            f"{lr:g}": float(np.mean(v)) for lr, v in pre_scores.get((cell, "pretrain"), {}).items()}
    bounds = []
    for cell in cells:
        dataset, rho, n = cell
        key = setting_key(dataset, rho, n)
        outs = [per_seed[(cell, s)] for s in seeds]
        pk = _pre_key(dataset, rho)
        if pk not in notes["pretrain"]:
            pre = [o["pretrain"] for o in outs]
            notes["pretrain"][pk] = {"epochs": [p["epochs"] for p in pre],
                                     "extensions": [p["extensions"] for p in pre],
                                     "still_improving": sum(p["still_improving"] for p in pre),
                                     "diverged": sum(p["diverged"] for p in pre),
                                     "val_cost": [p["val_score"] for p in pre]}
        if dataset == "digits" and not bounds:
            bounds = [o["label_bound"] for o in outs]
        for cond in CONDITIONS:
            infos = [o[cond] for o in outs]
            notes["tasks"][key] = infos[0]["task"]
            for info in infos:
                rec.add_metrics(cond, key, info["metrics"])
            eps = [i["epochs"] for i in infos]
            notes["learning_rate"].setdefault(key, {})[cond] = chosen[(cell, cond)]
            notes["tuning_val_cost"].setdefault(key, {})[cond] = {
                f"{lr:g}": float(np.mean(v)) for lr, v in scores.get((cell, cond), {}).items()}
            notes["epochs"].setdefault(key, {})[cond] = [int(min(eps)), float(np.mean(eps)), int(max(eps))]
            notes["extended_runs"].setdefault(key, {})[cond] = int(sum(i["extensions"] > 0 for i in infos))
            notes["still_improving_runs"].setdefault(key, {})[cond] = int(sum(i["still_improving"] for i in infos))
            notes["diverged_runs"].setdefault(key, {})[cond] = int(sum(i["diverged"] for i in infos))
            notes["runs"].setdefault(key, {})[cond] = len(infos)
            notes["per_seed"].setdefault(key, {})[cond] = {
                m: [float(i["metrics"][i["task"]][m]) for i in infos] for m in METRICS}
    if bounds:
        notes["digits_label_bound"] = {
            "accuracy_from_A_labels": float(np.mean([b[0] for b in bounds])),
            "majority_class": float(np.mean([b[1] for b in bounds])),
            "per_seed": [[float(b[0]), float(b[1])] for b in bounds],
            "what": "on each seed's test digits: the accuracy on prime of the best rule that sees only "
                    "(even, greater_equal_5), fitted on those same digits (an upper bound), and of the "
                    "majority class"}
    result = ExperimentResult("transfer", "setting", rec.rows(), settings, timer.seconds, notes=notes)
    result.paired = paired_table(result)
    return result


def _cells(result):
    """``[(dataset, rho, n_B), ...]`` in the run's order."""
    s = result.settings
    out = []
    if "scenes" in s["datasets"]:
        out += [("scenes", float(r), int(n)) for r in s["rhos"] for n in s["n_B"]]
    if "digits" in s["datasets"]:
        out += [("digits", None, int(n)) for n in s["digits_n_B"]]
    return out


def paired_table(result, metrics=METRICS, confidence=0.95):
    """Every claim of the run, as :class:`~.stats.PairedDifference`\\ s (from ``notes["per_seed"]``).

    * ``key["claim"] == "gain"``: per cell and fine-tuning condition, ``condition - scratch``
      (key: dataset, rho (None for digits), n_B, condition, task, metric);
    * ``key["claim"] == "change with rho"``: on the scenes, per n_B and condition, the
      per-seed gain at ``to_rho`` minus the gain at ``from_rho`` (consecutive rho values,
      and lowest -> highest when there are more than two).
    """
    per_seed = result.notes["per_seed"]
    out, gains = [], {}
    for dataset, rho, n in _cells(result):
        key = setting_key(dataset, rho or 0.0, n)
        task = result.notes["tasks"][key]
        for cond in FINETUNE:
            for metric in metrics:
                d = stats.paired_difference(
                    per_seed[key][cond][metric], per_seed[key]["scratch"][metric],
                    label=f"{cond} - scratch", confidence=confidence,
                    key={"claim": "gain", "dataset": dataset, "rho": rho, "n_B": n, "condition": cond,
                         "task": task, "metric": metric})
                out.append(d)
                gains[(dataset, rho, n, cond, metric)] = d.differences
    if "scenes" in result.settings["datasets"]:
        rhos = sorted(float(r) for r in result.settings["rhos"])
        pairs = list(zip(rhos, rhos[1:])) + ([(rhos[0], rhos[-1])] if len(rhos) > 2 else [])
        task = result.notes["tasks"][setting_key("scenes", rhos[0], result.settings["n_B"][0])]
        for n in result.settings["n_B"]:
            for cond in FINETUNE:
                for metric in metrics:
                    for a, b in pairs:
                        out.append(stats.paired_difference(
                            gains[("scenes", b, n, cond, metric)], gains[("scenes", a, n, cond, metric)],
                            label=f"gain at rho {b:g} - gain at rho {a:g}", confidence=confidence,
                            key={"claim": "change with rho", "dataset": "scenes", "from_rho": a, "to_rho": b,
                                 "n_B": int(n), "condition": cond, "task": task, "metric": metric}))
    return out


def rho_changes(result, metric="accuracy"):
    """The ``"change with rho"`` claims of ``result.paired`` for ``metric``."""
    return [d for d in result.paired if d.key["claim"] == "change with rho" and d.key["metric"] == metric]


_VERDICT_WORDS = stats.CLAIM_WORDS


def _where(d):
    task = d.key["task"].replace("_", " ")
    if d.key["dataset"] == "digits":
        return f"digits, {d.key['n_B']} labels of {task}"
    return f"scenes, rho = {d.key['rho']:g}, {d.key['n_B']} labels of {task}"


def claims_markdown(result, metric="accuracy", digits=3):
    """One sentence per claim, in its verdict's words (a Markdown list); the docs quote these lines.

    ``"- scenes, rho = 1, 50 labels of traffic light: fine-tuning every layer helps (gain
    +0.021 over scratch, 95 % interval [+0.008, +0.034], 10 seeds)."`` and, per n_B and
    condition, whether raising rho changes the gain.
    """
    lines = []
    for d in result.paired:
        if d.key["metric"] != metric:
            continue
        words = _VERDICT_WORDS[d.verdict]
        interval = f"95 % interval [{d.low:+.{digits}f}, {d.high:+.{digits}f}], {d.n} seeds"
        if d.key["claim"] == "gain":
            lines.append(f"- {_where(d)}: {WORDS[d.key['condition']]} {words} "
                         f"(gain {d.mean:+.{digits}f} over scratch, {interval}).")
        else:
            change = {stats.HELPS: "helps the gain over scratch", stats.HURTS: "hurts the gain over scratch",
                      stats.UNRESOLVED: "shows no difference resolved at this size in the gain over scratch"}
            lines.append(f"- scenes, {d.key['n_B']} labels of {d.key['task'].replace('_', ' ')}, "
                         f"{WORDS[d.key['condition']]}: raising rho from {d.key['from_rho']:g} to "
                         f"{d.key['to_rho']:g} {change[d.verdict]} (change {d.mean:+.{digits}f}, {interval}).")
    return "\n".join(lines)


def gain_markdown(result, metric="accuracy", digits=3):
    """Markdown: per cell and fine-tuning condition, the gain over scratch, its interval and verdict."""
    head = ["dataset", "rho", "n_B", "condition", f"gain over scratch ({metric})", "95 % interval", "seeds",
            "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for d in result.paired:
        if d.key["claim"] != "gain" or d.key["metric"] != metric:
            continue
        rho = "-" if d.key["rho"] is None else f"{d.key['rho']:g}"
        lines.append(f"| {d.key['dataset']} | {rho} | {d.key['n_B']} | {d.key['condition']} | "
                     f"{d.mean:+.{digits}f} ± {d.std:.{digits}f} | [{d.low:+.{digits}f}, {d.high:+.{digits}f}] | "
                     f"{d.n} | {d.verdict} |")
    return "\n".join(lines)


def rho_markdown(result, metric="accuracy", digits=3):
    """Markdown of :func:`rho_changes`: the change of the gain between rho values, with verdicts."""
    head = ["n_B", "condition", "from rho", "to rho", f"change of the gain ({metric})", "95 % interval",
            "seeds", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for d in rho_changes(result, metric):
        lines.append(f"| {d.key['n_B']} | {d.key['condition']} | {d.key['from_rho']:g} | {d.key['to_rho']:g} | "
                     f"{d.mean:+.{digits}f} ± {d.std:.{digits}f} | [{d.low:+.{digits}f}, {d.high:+.{digits}f}] | "
                     f"{d.n} | {d.verdict} |")
    return "\n".join(lines)


def bound_markdown(result, digits=3):
    """One sentence: how well A's labels alone predict the digits' B (``notes["digits_label_bound"]``)."""
    b = result.notes.get("digits_label_bound")
    if not b:
        return ""
    return (f"Digits, what A's labels alone can give: the best rule from (even, greater_equal_5) to prime "
            f"reaches {b['accuracy_from_A_labels']:.{digits}f} accuracy on the test digits (fitted on them: "
            f"an upper bound), the majority class {b['majority_class']:.{digits}f} (mean over "
            f"{len(b['per_seed'])} seeds).")


def markdown(result, digits=3):
    """What the command line writes to ``transfer.md``: verdicts, gain tables, accuracies."""
    if not result.paired:
        return result.to_markdown(digits=digits)
    parts = ["Verdicts (held-out accuracy of task B, each fine-tuning condition minus scratch, paired over "
             "seeds; on the scenes, whether raising rho changes that gain):", "",
             claims_markdown(result, digits=digits), ""]
    bound = bound_markdown(result, digits)
    if bound:
        parts += [bound, ""]
    parts += ["Gain over scratch, held-out accuracy of B:", "", gain_markdown(result, digits=digits), "",
              "Gain over scratch, average precision of B:", "",
              gain_markdown(result, "average_precision", digits), ""]
    if "scenes" in result.settings["datasets"]:
        parts += ["Does the gain change with rho? Per-seed gains paired across rho (accuracy):", "",
                  rho_markdown(result, digits=digits), "",
                  "The same for average precision:", "", rho_markdown(result, "average_precision", digits), ""]
    parts += [result.to_markdown("accuracy", digits=digits), "",
              result.to_markdown("average_precision", digits=digits)]
    return "\n".join(parts)


def plot(result, path=None, metric="accuracy"):
    """Gain over scratch with 95 % interval bars: one panel per rho (scenes), one for the digits."""
    plt = require_matplotlib()
    panels = [("scenes", r) for r in result.settings["rhos"]] if "scenes" in result.settings["datasets"] else []
    if "digits" in result.settings["datasets"]:
        panels.append(("digits", None))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, sharey=True)
    for ax, (dataset, rho) in zip(axes[0], panels):
        sizes = result.settings["n_B"] if dataset == "scenes" else result.settings["digits_n_B"]
        for i, cond in enumerate(FINETUNE):
            ds = [d for d in result.paired if d.key["claim"] == "gain" and d.key["dataset"] == dataset
                  and d.key["rho"] == rho and d.key["condition"] == cond and d.key["metric"] == metric]
            ds.sort(key=lambda d: d.key["n_B"])
            xs = np.array([list(sizes).index(d.key["n_B"]) for d in ds]) + (i - 1) * 0.15
            means = np.array([d.mean for d in ds])
            err = np.array([[d.mean - d.low for d in ds], [d.high - d.mean for d in ds]])
            ax.errorbar(xs, means, yerr=err, fmt="o", capsize=3, color=f"C{i}", label=cond)
        ax.axhline(0.0, color="k", lw=0.7)
        ax.set_xticks(np.arange(len(sizes)))
        task = "traffic light" if dataset == "scenes" else "prime"
        ax.set_xticklabels([f"{n} labels" for n in sizes])
        ax.set_title(f"scenes, rho = {rho:g} (B: {task})" if dataset == "scenes" else f"digits (B: {task})",
                     fontsize=10)
    axes[0][0].set_ylabel(f"gain in held-out {metric} of B\n(fine-tuned - scratch)")
    axes[0][-1].legend(fontsize=7, loc="best")
    n = max((d.n for d in result.paired), default=0)
    fig.suptitle(f"Transfer A -> B minus training B from scratch, paired over {n} seeds (95 % t intervals)",
                 fontsize=10)
    fig.tight_layout()
    return finish_figure(fig, path)
