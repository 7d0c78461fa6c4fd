r"""Experiment 6 — end-to-end learning against two hand-designed pipelines, across data sizes.

The lecture's claim: end-to-end learning needs a lot of data to learn the whole
mapping x → y; with little data a pipeline with hand-designed components can win.
Its examples are pipelines with an *engineered intermediate stage* (find the face,
then identify it; find the bones, then estimate age), so besides the plain feature
pipeline there is one with such a stage here.

Conditions (named as such in the results), all trained on the same ``m`` scenes of
a seed, chosen and judged on the same validation and test scenes:

* ``features pipeline``: :func:`hand_features` (colour fractions per region — stop-sign
  red, dark grey, pole grey, white, lamp colours, skin; mean colour per region; colour
  histograms; edge counts: 211 numbers per image), standardised with the training
  set's statistics, then logistic regression ``SharedMLP([211, 4])``. The features
  were designed for the default scenes (``relatedness=None``: red octagons, dark
  housings, skin tones); the scenes with the relatedness dial set are built from
  textured materials instead, where they carry less (docs/experiments.md, section 6);
* ``segment pipeline``: two stages.

  1. *Colour segmentation* (engineered, no labels): a palette of ``n_segments``
     colours fitted by k-means on pixels of the training images
     (:func:`fit_palette`, Lloyd's algorithm written out in NumPy), then every pixel
     gets the index of its nearest palette colour (:func:`segment`):
     ``X (m, 16, 16, 3) -> S (m, 16, 16)`` with values in ``0 .. K-1``.
  2. *Classify the segments* (:func:`segment_features`): the fraction of each
     segment in the image and in each cell of a 4 × 4 grid (``K · 17`` numbers), and,
     for every unordered pair of different segments, the fraction of vertically and
     of horizontally adjacent pixel pairs that show that pair, in the image and in
     each quarter (``K(K-1)/2 · 2 · 5``) — a stripe or checker of two colours shows up
     as such pairs, in the direction of its stripes. For ``K = 10``:
     ``170 + 450 = 620`` numbers per image, ``F (620, m)``, standardised, then logistic
     regression ``SharedMLP([620, 4])`` started from ``W = 0``.
* ``end-to-end CNN``: the experiments' width-``w`` CNN (:func:`~.common.scene_cnn`:
  conv ``(w, 2w)`` -> dense ``4w`` -> 4 outputs) on the raw pixels.

Every learned part is trained with the fair protocol (:func:`~.common.train_fair`:
patience stop, extension of runs still improving at their last epoch, per-task
checkpoints), its learning rate chosen per (rho, m) cell and condition from
``rates`` on ``tuning_seeds``. The claims are paired differences ``end-to-end CNN -
pipeline`` of held-out accuracy (mean over the four tasks) and average precision,
per cell, with 95 % t intervals and verdicts (:mod:`.stats`) in ``result.paired``;
:func:`crossover` reads from those verdicts the size from which end-to-end helps.
"""
from __future__ import annotations

import math

import numpy as np

from ..plotting import finish_figure, require_matplotlib
from . import stats
from .common import DEFAULT_RATES, ExperimentResult, Recorder, Timer, add_task_mean, blas_threads, \
    evaluate_per_task, n_units, resolve_backend, run_progress, scene_cnn, train_fair, tune_and_evaluate

__all__ = ["mask_separation", "MASK_NAMES", "run", "plot", "markdown", "hand_features", "fit_palette", "segment", "segment_features",
           "crossover", "crossover_markdown", "paired_table", "claims_markdown", "gain_markdown",
           "setting_key", "CONDITIONS", "FEATURES", "SEGMENTS", "END_TO_END", "PIPELINES"]

FEATURES = "features pipeline"
SEGMENTS = "segment pipeline"
END_TO_END = "end-to-end CNN"
PIPELINES = (FEATURES, SEGMENTS)
CONDITIONS = PIPELINES + (END_TO_END,)
METRICS = ("accuracy", "average_precision")

# the training scenes of a seed are drawn apart from its validation and test scenes
_TRAIN_SEED_OFFSET = 1_000_003


# ---------------------------------------------------------------------- the features pipeline
def _colour_masks(X):
    r, g, b = X[..., 0], X[..., 1], X[..., 2]
    mx, mn = X.max(axis=-1), X.min(axis=-1)
    grey = (mx - mn) < 0.08
    return [
        (r > 0.5) & (g < 0.25) & (b < 0.25),                 # stop-sign red
        mx < 0.2,                                            # dark: housing, wheels, tyres
        grey & (mx > 0.35) & (mx < 0.65),                    # pole grey
        mn > 0.8,                                            # white rim / band
        (g > 0.55) & (r < 0.45) & (b < 0.6),                 # green lamp
        (r > 0.7) & (g > 0.45) & (b < 0.3),                  # amber lamp
        (r > g) & (g > b) & (r - b > 0.15) & (r - b < 0.45) & (r > 0.45),  # skin-ish
    ]


MASK_NAMES = ("stop-sign red", "dark", "pole grey", "white", "green lamp", "amber lamp", "skin")


def mask_separation(data):
    r"""How far each colour mask of :func:`hand_features` tells an object's presence, per task.

    For task ``t`` and mask ``k``, the whole-image fraction :math:`f_k` of the mask's pixels
    gives :math:`z_{tk} = (\bar f_k[\text{present}] - \bar f_k[\text{absent}]) / \sigma(f_k)`
    (``σ`` over all scenes): the shift, in standard deviations, between scenes with and without
    the object. Returns ``{task: (mask name, z)}`` for the mask of largest ``|z|``. ``data`` is a
    :class:`~mtl_numpy.datasets.DrivingScenes` (its ``Y_true``).
    """
    X = np.asarray(data.X, dtype=np.float32)
    F = np.stack([mask.mean(axis=(1, 2)) for mask in _colour_masks(X)])        # (7, m)
    sd = np.maximum(F.std(axis=1), 1e-12)
    out = {}
    for t, task in enumerate(data.tasks):
        present = np.asarray(data.Y_true[t]) == 1
        z = (F[:, present].mean(axis=1) - F[:, ~present].mean(axis=1)) / sd
        k = int(np.argmax(np.abs(z)))
        out[task] = (MASK_NAMES[k], float(z[k]))
    return out


def hand_features(X, grid=4):
    """Hand-designed features of images ``X`` (m, H, W, 3) in [0, 1]: returns (n_features, m).

    Per colour mask (7 masks): the fraction of pixels in the whole image and in
    each of ``grid × grid`` regions; the mean RGB of each region; a 4-bin histogram
    per channel; the fraction of strong horizontal and vertical edges per region.
    Designed for the default scenes (``relatedness=None``).
    """
    X = np.asarray(X, dtype=np.float32)
    m, H, W, _ = X.shape
    gh, gw = H // grid, W // grid
    Xc = X[:, :gh * grid, :gw * grid]

    def regions(a):  # (m, H, W[, C]) -> (m, grid*grid[, C]) means over each region
        shape = (m, grid, gh, grid, gw) + a.shape[3:]
        return a.reshape(shape).mean(axis=(2, 4)).reshape((m, grid * grid) + a.shape[3:])

    feats = []
    for mask in _colour_masks(Xc):
        mask = mask.astype(np.float32)
        feats.append(mask.mean(axis=(1, 2))[:, None])
        feats.append(regions(mask))
    feats.append(regions(Xc).reshape(m, -1))
    for c in range(3):
        hist = np.stack([((Xc[..., c] >= lo) & (Xc[..., c] < lo + 0.25 + (lo == 0.75))).mean(axis=(1, 2))
                         for lo in (0.0, 0.25, 0.5, 0.75)], axis=1)
        feats.append(hist)
    lum = Xc.mean(axis=-1)
    dx = np.zeros_like(lum)
    dy = np.zeros_like(lum)
    dx[:, :, 1:] = np.abs(np.diff(lum, axis=2)) > 0.15
    dy[:, 1:, :] = np.abs(np.diff(lum, axis=1)) > 0.15
    feats.append(regions(dx))
    feats.append(regions(dy))
    return np.ascontiguousarray(np.concatenate(feats, axis=1).T, dtype=np.float32)


# ---------------------------------------------------------------------- the segment pipeline
def _sq_distances(P, C):
    """Squared distances (n, K) between colours ``P`` (n, 3) and palette ``C`` (K, 3)."""
    return np.maximum((P * P).sum(1)[:, None] - 2.0 * P @ C.T + (C * C).sum(1)[None, :], 0.0)


def fit_palette(X, n_segments=10, seed=0, n_pixels=20000, iterations=25):
    """Stage 1's palette: ``n_segments`` colours (K, 3) fitted by k-means on pixels of ``X``.

    ``X`` (m, H, W, 3) are training images (no labels used). Up to ``n_pixels``
    pixels are drawn at random; centres start by k-means++ (each next centre drawn
    with probability proportional to its squared distance from the nearest chosen
    one), then ``iterations`` Lloyd steps (assign every pixel to its nearest centre,
    move each centre to the mean of its pixels; an empty centre stays where it is).
    """
    n_segments = int(n_segments)
    if n_segments < 2:
        raise ValueError(f"n_segments must be an integer >= 2; got {n_segments!r}")
    P = np.asarray(X, dtype=np.float64).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    if P.shape[0] > n_pixels:
        P = P[rng.choice(P.shape[0], n_pixels, replace=False)]
    if P.shape[0] < n_segments:
        raise ValueError(f"X must hold at least n_segments = {n_segments} pixels; got {P.shape[0]}")
    C = [P[rng.integers(P.shape[0])]]
    d = _sq_distances(P, np.array(C))[:, 0]
    for _ in range(n_segments - 1):
        total = d.sum()
        i = rng.choice(P.shape[0], p=d / total) if total > 0 else rng.integers(P.shape[0])
        C.append(P[i])
        d = np.minimum(d, _sq_distances(P, P[i:i + 1])[:, 0])
    C = np.array(C)
    for _ in range(int(iterations)):
        lab = np.argmin(_sq_distances(P, C), axis=1)
        sums = np.zeros_like(C)
        np.add.at(sums, lab, P)
        counts = np.bincount(lab, minlength=n_segments)
        moved = counts > 0
        new = C.copy()
        new[moved] = sums[moved] / counts[moved, None]
        if np.allclose(new, C):
            break
        C = new
    return C.astype(np.float32)


def segment(X, palette):
    """Stage 1: the index of the nearest palette colour of every pixel, ``(m, H, W)`` int."""
    X = np.asarray(X, dtype=np.float32)
    C = np.asarray(palette, dtype=np.float32)
    m, H, W, _ = X.shape
    return np.argmin(_sq_distances(X.reshape(-1, 3), C), axis=1).reshape(m, H, W)


def segment_features(S, n_segments, grid=4):
    """Stage 2's input: numbers describing a segmentation ``S`` (m, H, W); returns (n_features, m).

    * the fraction of each segment in the whole image and in each cell of a
      ``grid × grid`` grid: ``K · (1 + grid²)`` numbers;
    * for every unordered pair ``a < b`` of segments, the fraction of vertically
      adjacent pixel pairs ``(S[y, x], S[y+1, x])`` that are ``{a, b}``, and the same for
      horizontally adjacent pairs, in the whole image and in each quarter (the quarter
      of the pair's first pixel): ``K(K-1)/2 · 2 · 5`` numbers.

    With ``K = 10`` and ``grid = 4``: 170 + 450 = 620.
    """
    S = np.asarray(S)
    K = int(n_segments)
    m, H, W = S.shape
    gh, gw = H // grid, W // grid
    onehot = np.eye(K, dtype=np.float32)[S[:, :gh * grid, :gw * grid]]        # (m, H', W', K)
    feats = [onehot.mean(axis=(1, 2)),
             onehot.reshape(m, grid, gh, grid, gw, K).mean(axis=(2, 4)).reshape(m, -1)]
    lo_idx, hi_idx = np.triu_indices(K, 1)
    keep = lo_idx * K + hi_idx                                               # (K(K-1)/2,)
    for a, b in ((S[:, :-1, :], S[:, 1:, :]), (S[:, :, :-1], S[:, :, 1:])):  # vertical, horizontal
        code = np.minimum(a, b) * K + np.maximum(a, b)                       # (m, h, w) in 0..K²-1
        h, w = code.shape[1:]
        quarter = (np.arange(h)[:, None] >= h / 2) * 2 + (np.arange(w)[None, :] >= w / 2)  # (h, w)
        index = (np.arange(m)[:, None, None] * 4 + quarter[None]) * K * K + code
        counts = np.bincount(index.ravel(), minlength=m * 4 * K * K).reshape(m, 4, K * K)
        area = np.bincount(quarter.ravel(), minlength=4).astype(np.float32)  # pairs per quarter
        pairs = counts[:, :, keep].astype(np.float32)                        # (m, 4, K(K-1)/2)
        feats.append(pairs.sum(axis=1) / float(h * w))
        feats.append((pairs / area[None, :, None]).reshape(m, -1))
    return np.ascontiguousarray(np.concatenate(feats, axis=1).T, dtype=np.float32)


# ---------------------------------------------------------------------- one unit
def setting_key(rho, m):
    """The ``param`` of a results row: ``"rho=1 m=100"``."""
    return f"rho={float(rho):g} m={int(m)}"


def _data(rho, m, seed, cfg):
    from ..datasets import driving_scenes

    # validation and test scenes depend on the seed only; the m training scenes on (seed, m)
    held = driving_scenes(cfg["m_val"] + cfg["m_test"], image_size=cfg["image_size"], missing=0.0,
                          seed=seed, relatedness=float(rho))
    val, test = held.split(cfg["m_test"])
    train_set = driving_scenes(int(m), image_size=cfg["image_size"], missing=0.0,
                               seed=_TRAIN_SEED_OFFSET + 7919 * int(m) + seed, relatedness=float(rho))
    return train_set, val, test


def _standardise(F_train, *others):
    mu = F_train.mean(axis=1, keepdims=True)
    sd = F_train.std(axis=1, keepdims=True) + 1e-3
    return [(F - mu) / sd for F in (F_train,) + others]


def _unit(rho, m, seed, rates, cfg):
    """Train every condition in ``rates`` {condition: learning rate} on one seed's data."""
    from ..models import SharedMLP

    tr, va, te = _data(rho, m, seed, cfg)
    tasks = tr.tasks
    kw = dict(max_epochs=cfg["max_epochs"], patience=cfg["patience"],
              max_extensions=cfg["max_extensions"], batch_size=cfg["batch_size"], seed=seed)
    out = {}
    with blas_threads(1):
        for cond in CONDITIONS:
            if cond not in rates:
                continue
            if cond == END_TO_END:
                model = scene_cnn(cfg["image_size"], cfg["width"], len(tasks), seed, cfg["backend"])
                X_tr, X_va, X_te = tr.X, va.X, te.X
            else:
                if cond == FEATURES:
                    F = [hand_features(d.X) for d in (tr, va, te)]
                else:
                    palette = fit_palette(tr.X, cfg["n_segments"], seed=seed)
                    F = [segment_features(segment(d.X, palette), cfg["n_segments"]) for d in (tr, va, te)]
                X_tr, X_va, X_te = _standardise(*F)
                model = SharedMLP([X_tr.shape[0], len(tasks)], seed=seed, backend=cfg["backend"])
                if cfg["zero_init"]:
                    # logistic regression starts from W = 0, b = 0, as the course's does (a convex
                    # cost: no symmetry to break); a random start gives logits of spread ~1.4 over
                    # 620 standardised inputs, far from the calibrated p = 0.5 of W = 0
                    for v in model.params.values():
                        v[...] = 0
            run = train_fair(model, X_tr, tr.Y_true, (X_va, va.Y_true), learning_rate=rates[cond], **kw)
            met = add_task_mean(evaluate_per_task(model, run, X_te, te.Y_true, tasks), tasks)
            out[cond] = {"metrics": met, "epochs": run.epochs, "extensions": run.extensions,
                         "still_improving": run.still_improving, "diverged": run.diverged,
                         "val_cost": run.best_cost, "val_score": float(np.mean(run.best_cost)),
                         "parameters": int(model.n_parameters), "n_inputs": int(np.prod(X_tr.shape[1:]))
                         if cond == END_TO_END else int(X_tr.shape[0])}
    return out


def _cell_unit(cell, seed, rates, cfg):
    rho, m = cell
    return _unit(rho, m, seed, rates, cfg)


# ---------------------------------------------------------------------- run
def _check(name, values, ok, expects):
    values = tuple(values)
    if not values or not all(ok(v) for v in values):
        raise ValueError(f"{name} must be {expects}; got {values!r}")
    return values


def run(seeds=tuple(range(10)), rhos=(0.0, 1.0), sizes=(100, 1000, 4000), m_val=500, m_test=1000,
        image_size=16, width=8, n_segments=10, max_epochs=60, patience=8, max_extensions=2,
        rates=DEFAULT_RATES, tuning_seeds=(100,), batch_size=64, conditions=CONDITIONS, zero_init=True,
        jobs=1, backend="auto", fast=False, progress=True):
    """End-to-end CNN vs the features and segment pipelines over (rho, m); an :class:`ExperimentResult`.

    ``param`` of each row is :func:`setting_key` ``(rho, m)``; ``result.paired`` holds the
    paired differences ``end-to-end CNN - pipeline`` (:func:`paired_table`). ``conditions``
    picks a subset of :data:`CONDITIONS` (the end-to-end CNN and at least one pipeline).
    ``zero_init``: both pipelines' logistic regressions start from ``W = 0, b = 0`` (as the
    course's logistic regression does); False keeps ``SharedMLP``'s random start.
    ``fast=True`` overrides the sizes with a setting that runs in seconds.
    """
    conditions = tuple(conditions)
    if not (set(conditions) <= set(CONDITIONS) and END_TO_END in conditions
            and set(conditions) & set(PIPELINES)):
        raise ValueError(f"conditions must be a subset of {CONDITIONS} holding {END_TO_END!r} and at "
                         f"least one pipeline; got {conditions!r}")
    conditions = tuple(c for c in CONDITIONS if c in conditions)
    if fast:
        seeds, sizes, m_val, m_test, width = tuple(seeds)[:2], (60, 200), 80, 120, 2
        max_epochs, patience, max_extensions, rates = 4, 2, 1, (1e-2,)
    seeds = [int(s) for s in _check("seeds", seeds, lambda s: isinstance(s, (int, np.integer))
                                    and not isinstance(s, bool), "one or more integers")]
    rhos = tuple(float(r) for r in _check("rhos", rhos, lambda r: isinstance(r, (int, float, np.number))
                                          and 0.0 <= float(r) <= 1.0, "one or more numbers in [0, 1]"))
    sizes = tuple(int(s) for s in _check("sizes", sizes, lambda s: isinstance(s, (int, np.integer))
                                         and not isinstance(s, bool) and int(s) >= 2,
                                         "one or more integers >= 2 (training scenes)"))
    for name, value, low in (("m_val", m_val, 1), ("m_test", m_test, 1), ("width", width, 1),
                             ("n_segments", n_segments, 2), ("max_epochs", max_epochs, 1),
                             ("patience", patience, 1), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    rates = tuple(float(r) for r in _check("rates", rates, lambda r: isinstance(r, (int, float))
                                           and math.isfinite(r) and r > 0, "one or more positive numbers"))
    tuning_seeds = [int(s) for s in tuning_seeds]
    if set(seeds) & set(tuning_seeds):
        raise ValueError(f"tuning_seeds must differ from seeds (the rate is picked on other data); "
                         f"both hold {sorted(set(seeds) & set(tuning_seeds))}")
    backend = resolve_backend(backend)
    cfg = dict(m_val=int(m_val), m_test=int(m_test), image_size=int(image_size), width=int(width),
               n_segments=int(n_segments), max_epochs=int(max_epochs), patience=int(patience),
               max_extensions=int(max_extensions), batch_size=int(batch_size), zero_init=bool(zero_init),
               backend=backend)
    settings = dict(cfg, seeds=seeds, rhos=list(rhos), sizes=list(sizes), rates=list(rates),
                    tuning_seeds=tuning_seeds, conditions=list(conditions), fast=fast)
    cells = [(rho, m) for rho in rhos for m in sizes]
    bar = run_progress(n_units(cells, seeds, rates, tuning_seeds), "end_to_end", progress)
    with Timer() as timer, blas_threads(1):
        chosen, scores, per_seed, cpu = tune_and_evaluate(
            _cell_unit, cells, conditions, seeds, rates=rates, tuning_seeds=tuning_seeds, cfg=cfg,
            jobs=jobs, bar=bar)
    bar.close()

    rec = Recorder()
    notes = {"parameters": {}, "n_inputs": {}, "learning_rate": {}, "tuning_val_cost": {}, "epochs": {},
             "cpu_seconds": round(cpu, 1), "extended_runs": {}, "still_improving_runs": {}, "runs": {},
             "diverged_runs": {}, "per_seed": {}}
    for rho, m in cells:
        key = setting_key(rho, m)
        for cond in conditions:
            infos = [per_seed[((rho, m), s)][cond] for s in seeds]
            for info in infos:
                rec.add_metrics(cond, key, info["metrics"])
                for metric in METRICS:
                    d = notes["per_seed"].setdefault(key, {}).setdefault(cond, {}).setdefault(metric, {})
                    for t, row in info["metrics"].items():
                        d.setdefault(t, []).append(row[metric])
            notes["parameters"][cond] = infos[-1]["parameters"]
            notes["n_inputs"][cond] = infos[-1]["n_inputs"]
            notes["learning_rate"].setdefault(key, {})[cond] = chosen[((rho, m), cond)]
            notes["tuning_val_cost"].setdefault(key, {})[cond] = {
                f"{lr:g}": float(np.mean(v)) for lr, v in scores.get(((rho, m), cond), {}).items()}
            eps = [i["epochs"] for i in infos]
            notes["epochs"].setdefault(key, {})[cond] = [int(min(eps)), float(np.mean(eps)), int(max(eps))]
            notes["extended_runs"].setdefault(key, {})[cond] = int(sum(i["extensions"] > 0 for i in infos))
            notes["still_improving_runs"].setdefault(key, {})[cond] = int(sum(i["still_improving"] for i in infos))
            notes["diverged_runs"].setdefault(key, {})[cond] = int(sum(i["diverged"] for i in infos))
            notes["runs"].setdefault(key, {})[cond] = len(infos)
    result = ExperimentResult("end_to_end", "setting", rec.rows(), settings, timer.seconds, notes=notes)
    result.paired = paired_table(result)
    result.notes["crossover"] = {f"{rho:g}": {p: crossover(result, rho, p) for p in PIPELINES if p in conditions}
                                 for rho in rhos}
    return result


# ---------------------------------------------------------------------- claims
def paired_table(result, tasks=("mean",), metrics=METRICS, confidence=0.95):
    """The paired differences ``end-to-end CNN - pipeline`` (same seed, same data) with verdicts.

    One :class:`~.stats.PairedDifference` per (rho, m, pipeline, task, metric), from
    ``result.notes["per_seed"]``.
    """
    out = []
    per_seed = result.notes["per_seed"]
    present = result.settings.get("conditions", CONDITIONS)
    for rho in result.settings["rhos"]:
        for m in result.settings["sizes"]:
            key = setting_key(rho, m)
            if key not in per_seed:
                continue
            for pipe in (p for p in PIPELINES if p in present):
                for task in tasks:
                    for metric in metrics:
                        out.append(stats.paired_difference(
                            per_seed[key][END_TO_END][metric][task], per_seed[key][pipe][metric][task],
                            label=f"{END_TO_END} - {pipe}", confidence=confidence,
                            key={"rho": float(rho), "m": int(m), "pipeline": pipe, "task": task,
                                 "metric": metric}))
    return out


def _claims(result, rho, pipeline, metric="accuracy", task="mean"):
    ds = [d for d in result.paired if d.key["rho"] == float(rho) and d.key["pipeline"] == pipeline
          and d.key["metric"] == metric and d.key["task"] == task]
    return sorted(ds, key=lambda d: d.key["m"])


def crossover(result, rho, pipeline=FEATURES, metric="accuracy", task="mean"):
    """Where the verdict on ``end-to-end CNN - pipeline`` turns from "hurts" to "helps", or None.

    Read from the computed verdicts across training-set sizes at ``rho``: the smallest
    ``m`` from which the verdict is "helps" at every larger size, provided that at
    some smaller size it is "hurts". None when it never turns so (end-to-end helps at
    every size, never helps from some size on, or never hurts below it).
    """
    ds = _claims(result, rho, pipeline, metric, task)
    for i, d in enumerate(ds):
        if all(e.verdict == stats.HELPS for e in ds[i:]):
            return d.key["m"] if any(e.verdict == stats.HURTS for e in ds[:i]) else None
    return None


def crossover_markdown(result, metric="accuracy"):
    """One sentence per (rho, pipeline): the verdicts from the smallest size to the largest and
    what they say about a crossover."""
    lines = []
    present = result.settings.get("conditions", CONDITIONS)
    for rho in result.settings["rhos"]:
        for pipe in (p for p in PIPELINES if p in present):
            ds = _claims(result, rho, pipe, metric)
            if not ds:
                continue
            seq = ", ".join(f"{d.verdict} at m = {d.key['m']}" for d in ds)
            x = crossover(result, rho, pipe, metric)
            if x is not None:
                end = f"the verdict turns from hurts to helps at m = {x}"
            elif all(d.verdict == stats.HELPS for d in ds):
                end = "end-to-end helps at every size run, so no crossover within these sizes"
            else:
                end = "no crossover from hurts to helps within these sizes"
            lines.append(f"- rho = {rho:g}, end-to-end CNN instead of the {pipe}: {seq}; {end}.")
    return "\n".join(lines)


def claims_markdown(result, metric="accuracy", digits=3):
    """One sentence per (rho, m, pipeline), in its verdict's words (a Markdown list).

    ``"- rho = 0, m = 100 training scenes, end-to-end CNN instead of the segment pipeline:
    hurts (difference -0.150, 95 % interval [-0.170, -0.130], 10 seeds)."`` — the docs
    quote these lines as they are.
    """
    lines = []
    for d in result.paired:
        if d.key["metric"] != metric or d.key["task"] != "mean":
            continue
        lines.append(f"- rho = {d.key['rho']:g}, m = {d.key['m']} training scenes, end-to-end CNN "
                     f"instead of the {d.key['pipeline']}: {d.verdict} (difference {d.mean:+.{digits}f}, "
                     f"95 % interval [{d.low:+.{digits}f}, {d.high:+.{digits}f}], {d.n} seeds).")
    return "\n".join(lines)


def gain_markdown(result, metric="accuracy", task="mean", digits=3):
    """Markdown: rho × m × pipeline, the difference end-to-end minus pipeline, its interval, verdict."""
    rows = [d for d in result.paired if d.key["metric"] == metric and d.key["task"] == task]
    head = ["rho", "m", "pipeline", f"end-to-end CNN - pipeline ({metric}, {task})", "95 % interval",
            "seeds", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for d in rows:
        lines.append(f"| {d.key['rho']:g} | {d.key['m']} | {d.key['pipeline']} | "
                     f"{d.mean:+.{digits}f} ± {d.std:.{digits}f} | "
                     f"[{d.low:+.{digits}f}, {d.high:+.{digits}f}] | {d.n} | {d.verdict} |")
    return "\n".join(lines)


def rates_markdown(result):
    """Markdown: the learning rate chosen per cell and condition, and the epochs run (min/mean/max)."""
    conds = result.settings.get("conditions", CONDITIONS)
    head = ["setting"] + [f"{c}: rate, epochs" for c in conds]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for key, by_cond in result.notes["learning_rate"].items():
        cells = [key]
        for c in conds:
            lo, mean, hi = result.notes["epochs"][key][c]
            cells.append(f"{by_cond[c]:g}, {lo}/{mean:.0f}/{hi}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(result, digits=3):
    """What the command line writes to ``end_to_end.md``: verdict sentences, crossovers, the
    difference tables (accuracy and average precision), the per-condition accuracies, rates."""
    if not result.paired or "rhos" not in result.settings:
        return result.to_markdown(digits=digits)
    parts = ["Verdicts (end-to-end CNN minus each pipeline, mean held-out accuracy over the four tasks, "
             "paired over seeds):", "", claims_markdown(result, digits=digits), "",
             "Crossover, read from the verdicts across training-set sizes:", "",
             crossover_markdown(result), "",
             "End-to-end CNN minus each pipeline, mean held-out accuracy over the four tasks:", "",
             gain_markdown(result, digits=digits), "",
             "The same for average precision (mean over tasks):", "",
             gain_markdown(result, metric="average_precision", digits=digits), "",
             result.to_markdown("accuracy", digits=digits), "",
             "Learning rate chosen on the tuning seed, and epochs run (min/mean/max over seeds):", "",
             rates_markdown(result)]
    return "\n".join(parts)


def plot(result, path=None, metric="accuracy"):
    """Per rho: held-out accuracy of each condition against m (top), and end-to-end minus each
    pipeline with 95 % interval bars (bottom)."""
    plt = require_matplotlib()
    rhos, sizes = result.settings["rhos"], sorted(result.settings["sizes"])
    conds = result.settings.get("conditions", CONDITIONS)
    fig, axes = plt.subplots(2, len(rhos), figsize=(4.8 * len(rhos), 6.6), squeeze=False, sharex=True)
    for j, rho in enumerate(rhos):
        ax = axes[0][j]
        for cond in conds:
            rows = [result.get(cond, "mean", metric, setting_key(rho, m)) for m in sizes]
            ax.errorbar(sizes, [r.mean for r in rows], yerr=[r.std for r in rows], marker="o", capsize=3,
                        color=f"C{CONDITIONS.index(cond)}", label=cond)
        ax.set_title(f"rho = {rho:g}", fontsize=10)
        ax = axes[1][j]
        for i, pipe in enumerate(p for p in PIPELINES if p in conds):
            ds = _claims(result, rho, pipe, metric)
            xs = np.array([d.key["m"] for d in ds], dtype=float) * (1.0 + (i - 0.5) * 0.08)
            err = np.array([[d.mean - d.low for d in ds], [d.high - d.mean for d in ds]])
            k = CONDITIONS.index(pipe)   # the pipeline's colour in the top row
            ax.errorbar(xs, [d.mean for d in ds], yerr=err, fmt="os"[i], capsize=3, color=f"C{k}",
                        mfc="none" if i else f"C{k}", label=f"end-to-end CNN - {pipe}")
        ax.axhline(0.0, color="k", lw=0.7)
        ax.set_xscale("log")
        ax.set_xlabel("training scenes m")
    axes[0][0].set_ylabel(f"held-out {metric}, mean over tasks\n(mean ± std over seeds)")
    axes[1][0].set_ylabel(f"end-to-end CNN - pipeline\n({metric}; 95 % interval)")
    axes[0][-1].legend(fontsize=7, loc="best")
    axes[1][-1].legend(fontsize=7, loc="best")
    n = max((d.n for d in result.paired), default=0)
    fig.suptitle(f"End-to-end CNN against two hand-designed pipelines, paired over {n} seeds", fontsize=10)
    fig.tight_layout()
    return finish_figure(fig, path)
