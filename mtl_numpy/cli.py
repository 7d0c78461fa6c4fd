r"""The ``mtl-numpy`` command line (also ``python -m mtl_numpy``).

Subcommands::

    mtl-numpy demo        train the shared network on driving scenes, print the per-task
                          table on held-out scenes, gradient-check it, plot learning curves
    mtl-numpy train       the same with every knob exposed; --save writes a checkpoint
    mtl-numpy gradcheck   gradient check of a small model; exit status 1 if it fails
    mtl-numpy evaluate    load a checkpoint and print its table on fresh scenes
    mtl-numpy info        version, backends, versions of the optional dependencies
    mtl-numpy experiment  the experiments of mtl_numpy.experiments (same options as
                          python -m mtl_numpy.experiments)

A mistake on the command line ends with argparse's usage message or one line
``error: ...`` on stderr and exit status 2, never a traceback.

Adding a subcommand (e.g. ``bench``): write ``add_<name>_parser(subparsers)``,
which builds its parser and sets ``func=`` to a ``run_<name>(args) -> int``, and list it in
:data:`SUBCOMMANDS` below.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

TASK_COUNT = 4

# Settings of `demo`, per model, chosen so that the demo meets its time budget on a 2-core
# laptop (MLP: under a minute; CNN: under five); README.md shows the figures they give.
# `quick` is the tiny setting the tests use (a few seconds).
DEMO_SETTINGS = {
    "mlp": dict(m=100000, n_test=1000, image_size=16, hidden=(512, 256), epochs=10, batch_size=128,
                learning_rate=1e-3, gradcheck_m=16, max_per_parameter=50),
    "cnn": dict(m=50000, n_test=1000, image_size=32, hidden=(64,), conv_channels=(16, 32), epochs=8,
                batch_size=64, learning_rate=1e-3, gradcheck_m=8, max_per_parameter=20),
}
QUICK_SETTINGS = {
    "mlp": dict(m=400, n_test=100, image_size=32, hidden=(16,), epochs=2, batch_size=50,
                learning_rate=1e-3, gradcheck_m=4, max_per_parameter=10),
    "cnn": dict(m=200, n_test=100, image_size=16, hidden=(16,), conv_channels=(4, 8), epochs=1,
                batch_size=50, learning_rate=2e-3, gradcheck_m=2, max_per_parameter=3),
}


# --------------------------------------------------------------------------- #
# Argument types: each raises ArgumentTypeError, which argparse turns into a
# usage message and exit status 2.
# --------------------------------------------------------------------------- #
def _checked(text, convert, ok, expected):
    """``convert(text)`` if that works and passes ``ok``, else ArgumentTypeError("expected ...")."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
    return value


def positive_int(text):
    """An int >= 1."""
    return _checked(text, int, lambda v: v >= 1, "a positive integer")


def positive_float(text):
    """A finite float > 0."""
    return _checked(text, float, lambda v: math.isfinite(v) and v > 0, "a positive number")


def _rate(text):
    """A float in [0, 1] (nan is refused: the comparison is False)."""
    return _checked(text, float, lambda v: 0.0 <= v <= 1.0, "a rate in [0, 1]")


def missing_rate(text):
    """One rate in [0, 1], or 4 comma-separated rates (one per task)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        return _rate(parts[0])
    if len(parts) != TASK_COUNT:
        raise argparse.ArgumentTypeError(
            f"expected one rate in [0, 1] or {TASK_COUNT} comma-separated rates (one per task); got {text!r}"
        )
    return tuple(_rate(p) for p in parts)


def single_rate(text):
    """One rate in [0, 1]."""
    return _rate(text.strip())


def int_list(text):
    """Comma-separated positive ints, e.g. ``256,128``."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, e.g. 256,128; got {text!r}")
    try:
        return tuple(positive_int(p) for p in parts)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, e.g. 256,128; got {text!r}"
        ) from None


def image_size(text):
    """The side of the square scenes: an int >= 16 (what driving_scenes draws)."""
    value = positive_int(text)
    if value < 16:
        raise argparse.ArgumentTypeError(f"expected an image size >= 16 pixels; got {text!r}")
    return value


def _backend_names():
    from .backends import BACKENDS

    return list(BACKENDS)


# --------------------------------------------------------------------------- #
# Shared helpers
# --------------------------------------------------------------------------- #
def _say(*args, **kwargs):
    print(*args, **kwargs, flush=True)


def _model_inputs(model, data):
    """The input layout the model wants: ``(n_x, m)`` for the MLP, images for the CNN."""
    from .models import SharedCNN

    return data.X if isinstance(model, SharedCNN) else data.flat()


def _build_model(kind, image_size, hidden, seed, dtype="float32", backend="numpy",
                 normalize="examples", conv_channels=(16, 32), head_dims=None):
    import mtl_numpy as mtl

    if kind == "cnn":
        return mtl.SharedCNN(input_shape=(image_size, image_size, 3), conv_channels=conv_channels,
                             kernel_size=3, pool_size=2, hidden=hidden, n_tasks=TASK_COUNT, seed=seed,
                             dtype=dtype, backend=backend, normalize=normalize, head_dims=head_dims)
    return mtl.SharedMLP([image_size * image_size * 3, *hidden, TASK_COUNT], seed=seed, dtype=dtype,
                         backend=backend, normalize=normalize, head_dims=head_dims)


def _architecture(model):
    from .models import SharedCNN

    heads = "" if model.head_dims is None else f", a head {list(model.head_dims)} per task"
    if isinstance(model, SharedCNN):
        return (f"SharedCNN(input {model.input_shape}, conv {list(model.conv_channels)}, "
                f"hidden {list(model.hidden)}, {model.n_tasks} tasks{heads})")
    return f"SharedMLP({model.layer_dims}{heads})"


def _weighting_names():
    from .weighting import WEIGHTINGS

    return list(WEIGHTINGS)


def _conflict_summary(history, tasks):
    """Lines that summarise ``history.conflict``: the mean cosine between each pair of tasks'
    gradients on the shared parameters over the tracked steps, how often it was negative, and
    the mean pairwise cosine at the first and the last tracked step."""
    import numpy as np

    rows = history.conflict
    if not rows:
        return ["gradient conflict: no step was tracked"]
    cos = np.array([row["cosine"] for row in rows])             # (records, T, T)
    present = np.array([row["present"] for row in rows])        # (records, T)
    lines = [f"gradient conflict on the shared parameters, {len(rows)} tracked steps "
             f"(every {rows[1]['step'] - rows[0]['step'] if len(rows) > 1 else '-'} steps): "
             f"mean pairwise cosine {rows[0]['mean_cosine']:+.3f} at step {rows[0]['step']} -> "
             f"{rows[-1]['mean_cosine']:+.3f} at step {rows[-1]['step']}",
             f"  {'pair':<28}{'mean cos':>9}{'< 0':>7}"]
    T = cos.shape[1]
    for i in range(T):
        for j in range(i + 1, T):
            both = present[:, i] & present[:, j]
            if not both.any():
                continue
            c = cos[both, i, j]
            lines.append(f"  {tasks[i] + ' / ' + tasks[j]:<28}{c.mean():>+9.3f}{np.mean(c < 0):>7.0%}")
    return lines


def _scenes(m, n_test, image_size, missing, seed):
    """``m + n_test`` driving scenes, split into (train, test)."""
    import mtl_numpy as mtl

    data = mtl.datasets.driving_scenes(m + n_test, image_size=image_size, missing=missing, seed=seed)
    return data.split(n_test)


def _labelled(data):
    import numpy as np

    import mtl_numpy as mtl

    known = np.mean(mtl.known_labels(data.Y), axis=1)
    return ", ".join(f"{task} {k:.0%}" for task, k in zip(data.tasks, known))


def _missing_text(missing):
    if isinstance(missing, tuple):
        return "'?' rates " + "/".join(f"{r:.0%}" for r in missing)
    return f"{missing:.0%} '?'"


def _held_out_table(model, data, title):
    """Per-task table of ``model`` on ``data`` against the FULL truth ``Y_true``."""
    import mtl_numpy as mtl

    AL = mtl.predict_proba_batched(model, _model_inputs(model, data))
    metrics = mtl.task_metrics(data.Y_true, mtl.to_numpy(AL), tasks=data.tasks)
    return metrics, mtl.format_metrics_table(metrics, title=title)


def _gradient_check(model, data, m, max_per_parameter, seed):
    """Gradient check on a float64 copy of ``model`` with ``m`` scenes of ``data`` (their '?' kept)."""
    import mtl_numpy as mtl

    batch = data.subset(slice(0, min(m, data.m)))
    return mtl.gradient_check(model, _model_inputs(model, batch), batch.Y, epsilon=1e-7,
                              max_per_parameter=max_per_parameter, seed=seed)


def _save_figures(history, model, test, out, stem):
    """Save the learning curves and a few held-out scenes with their predictions.

    Returns the sentences to print: where the figures went, or why there are none.
    """
    try:
        from .plotting import plot_learning_curves, plot_scenes
    except ImportError as exc:  # pragma: no cover - plotting itself imports matplotlib lazily
        return [f"no figures: {exc}"]
    curves = os.path.join(out, f"{stem}_learning_curves.png")
    scenes = os.path.join(out, f"{stem}_scenes.png")
    try:
        figures = [plot_learning_curves(history, path=curves)]
        sample = test.subset(slice(0, 8))
        figures.append(plot_scenes(sample.X, sample.Y, model.predict_proba(_model_inputs(model, sample)),
                                   tasks=sample.tasks, n=8, path=scenes))
    except ImportError as exc:
        return [f"learning curves not plotted: {exc}"]
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)
    return [f"learning curves saved to {curves}",
            f"held-out scenes with labels / predictions saved to {scenes}"]


# --------------------------------------------------------------------------- #
# demo
# --------------------------------------------------------------------------- #
def add_demo_parser(subparsers):
    p = subparsers.add_parser(
        "demo", help="train the shared network on driving scenes and report on held-out scenes",
        description="Generate driving scenes with 30%% '?' labels, train one shared network on the "
                    "four tasks (Adam, validation on held-out scenes), print the per-task table "
                    "against the full truth, gradient-check the model and save learning curves.",
    )
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp", help="shared network (default: mlp)")
    mlp, cnn = DEMO_SETTINGS["mlp"], DEMO_SETTINGS["cnn"]
    p.add_argument("--m", type=positive_int, default=None,
                   help=f"training scenes (default: {mlp['m']} for mlp, {cnn['m']} for cnn)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"epochs (default: {mlp['epochs']} for mlp, {cnn['epochs']} for cnn)")
    p.add_argument("--seed", type=int, default=0, help="seed of the scenes, the weights and the shuffling")
    p.add_argument("--backend", choices=_backend_names(), default="numpy", help="numpy, numba or cupy")
    p.add_argument("--out", default="runs", help="folder for the learning-curve PNG (default: runs/)")
    p.add_argument("--quick", action="store_true", help="a tiny setting that runs in seconds (for tests)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_demo)
    return p


def run_demo(args):
    import mtl_numpy as mtl

    start = time.perf_counter()
    settings = dict((QUICK_SETTINGS if args.quick else DEMO_SETTINGS)[args.model])
    if args.m is not None:
        settings["m"] = args.m
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    s = settings
    missing = 0.3

    t = time.perf_counter()
    train, test = _scenes(s["m"], s["n_test"], s["image_size"], missing, args.seed)
    t_data = time.perf_counter() - t
    model = _build_model(args.model, s["image_size"], s["hidden"], args.seed, backend=args.backend,
                         conv_channels=s.get("conv_channels", (16, 32)))
    _say(f"mtl-numpy demo: one shared network, {len(train.tasks)} yes/no tasks per image "
         f"({', '.join(train.tasks)})")
    _say(f"model:   {_architecture(model)}, {model.n_parameters:,} parameters, "
         f"{model.dtype}, backend {model.backend.name}")
    _say(f"data:    {train.m} training scenes {s['image_size']}x{s['image_size']} with "
         f"{_missing_text(missing)} (labelled: {_labelled(train)}); {test.m} held-out scenes "
         f"[{t_data:.1f} s]")
    _say(f"training: Adam(learning_rate={s['learning_rate']:g}), {s['epochs']} epochs, "
         f"batch size {s['batch_size']}")

    X_train, X_test = _model_inputs(model, train), _model_inputs(model, test)
    t = time.perf_counter()
    history = mtl.fit(model, X_train, train.Y, optimizer=mtl.Adam(learning_rate=s["learning_rate"]),
                      epochs=s["epochs"], batch_size=s["batch_size"], validation=(X_test, test.Y),
                      seed=args.seed, progress=not args.no_progress, tasks=train.tasks)
    t_train = time.perf_counter() - t
    _say(f"trained in {t_train:.1f} s: train cost {history.train_cost[0]:.3f} -> {history.train_cost[-1]:.3f}, "
         f"held-out cost {history.val_cost[-1]:.3f}")
    _say()

    metrics, table = _held_out_table(
        model, test, title=f"held-out scenes ({test.m}), scored against the full truth (no '?'):")
    _say(table)
    _say()

    t = time.perf_counter()
    result = _gradient_check(model, test, s["gradcheck_m"], s["max_per_parameter"], args.seed)
    t_check = time.perf_counter() - t
    _say(f"gradient check on a float64 copy, {s['gradcheck_m']} held-out scenes with their '?' labels, "
         f"up to {s['max_per_parameter']} entries per parameter [{t_check:.1f} s]:")
    _say(str(result))
    _say()

    os.makedirs(args.out, exist_ok=True)
    for line in _save_figures(history, model, test, args.out, f"demo_{args.model}"):
        _say(line)
    _say(f"mean held-out accuracy {mtl.mean_metric(metrics):.3f}; total time {time.perf_counter() - start:.1f} s")
    return 0 if result.passed else 1


# --------------------------------------------------------------------------- #
# train
# --------------------------------------------------------------------------- #
def add_train_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="train a shared network on driving scenes, every setting exposed",
        description="Train a shared network on driving scenes and print its per-task table on "
                    "held-out scenes (scored against the full truth); --save writes a checkpoint.",
    )
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    p.add_argument("--m", type=positive_int, default=6000, help="training scenes (default: 6000)")
    p.add_argument("--n-test", type=positive_int, default=1000, help="held-out scenes (default: 1000)")
    p.add_argument("--image-size", type=image_size, default=32, help="pixels per side, >= 16 (default: 32)")
    p.add_argument("--missing", type=missing_rate, default=0.3, metavar="RATE[,RATE,RATE,RATE]",
                   help="probability that a label is '?': one rate, or 4 (one per task) (default: 0.3)")
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate (default: 1e-3)")
    p.add_argument("--optimizer", choices=("adam", "momentum", "gd"), default="adam")
    p.add_argument("--hidden", type=int_list, default=None,
                   help="dense hidden widths, e.g. 256,128 (default: 256,128 for mlp, 64 for cnn)")
    p.add_argument("--conv-channels", type=int_list, default=(16, 32), help="cnn filters per conv layer (default: 16,32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=_backend_names(), default="numpy")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--normalize", choices=("examples", "labels"), default="examples",
                   help="divide the cost by m (examples, the lecture's) or by the number of known labels")
    p.add_argument("--head-dims", type=int_list, default=None, metavar="N[,N...]",
                   help="per-task heads: each task gets its own dense layers of these widths after the "
                        "shared ones, e.g. 32 (default: none, one shared output layer)")
    p.add_argument("--weighting", choices=_weighting_names(), default="equal",
                   help="how the tasks' costs and gradients are combined (default: equal, the lecture's sum)")
    p.add_argument("--track-conflict", type=positive_int, default=None, metavar="K",
                   help="every K steps, record the cosines between the tasks' gradients on the shared "
                        "parameters, and print a summary after training")
    p.add_argument("--save", metavar="PATH", default=None, help="write the trained model here (.npz)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_train)
    return p


def run_train(args):
    import mtl_numpy as mtl

    if args.save is not None:
        _check_writable(args.save)   # fail before training, not after
    hidden = args.hidden if args.hidden is not None else ((64,) if args.model == "cnn" else (256, 128))
    model = _build_model(args.model, args.image_size, hidden, args.seed, dtype=args.dtype,
                         backend=args.backend, normalize=args.normalize, conv_channels=args.conv_channels,
                         head_dims=args.head_dims)
    optimizer = mtl.get_optimizer(args.optimizer, args.lr)
    train, test = _scenes(args.m, args.n_test, args.image_size, args.missing, args.seed)
    _say(f"model: {_architecture(model)}, {model.n_parameters:,} parameters, {model.dtype}, "
         f"backend {model.backend.name}, normalize={model.normalize!r}")
    _say(f"data:  {train.m} training scenes with {_missing_text(args.missing)} "
         f"(labelled: {_labelled(train)}); {test.m} held-out scenes")
    _say(f"training: {optimizer!r}, {args.epochs} epochs, batch size {args.batch_size}, "
         f"weighting {args.weighting!r}")
    t = time.perf_counter()
    history = mtl.fit(model, _model_inputs(model, train), train.Y, optimizer=optimizer, epochs=args.epochs,
                      batch_size=args.batch_size, validation=(_model_inputs(model, test), test.Y),
                      seed=args.seed, progress=not args.no_progress, tasks=train.tasks,
                      weighting=args.weighting, track_conflict=args.track_conflict)
    if history.interrupted:
        _say(f"interrupted during epoch {history.interrupted['epoch']} after {history.steps} steps: "
             "the model as it is now is evaluated" + (" and saved" if args.save else ""))
    elif history.train_cost:
        _say(f"trained in {time.perf_counter() - t:.1f} s: train cost {history.train_cost[0]:.3f} -> "
             f"{history.train_cost[-1]:.3f}, held-out cost {history.val_cost[-1]:.3f}")
    _say()
    _, table = _held_out_table(model, test, title=f"held-out scenes ({test.m}), scored against the full truth:")
    _say(table)
    if args.track_conflict is not None:
        _say()
        _say("\n".join(_conflict_summary(history, train.tasks)))
    status = 130 if history.interrupted else 0
    if args.save is not None:
        _say()
        status = _save_or_rescue(model, args.save) or status
    return status


def _check_writable(path):
    """Raise ValueError unless a checkpoint can be written at ``path`` (tried for real)."""
    path = os.fspath(path)
    target = path if path.lower().endswith(".npz") else path + ".npz"
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise ValueError(f"--save: folder {folder!r} does not exist")
    if os.path.isdir(target):
        raise ValueError(f"--save: {target!r} is a directory; expected a file name")
    try:  # permissions, read-only mounts, quotas: only a real write tells
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".mtl-numpy-write-test-"):
            pass
    except OSError as exc:
        raise ValueError(f"--save: cannot write in {folder!r} ({exc.strerror or exc}); "
                         "choose another path before training") from None


def _save_or_rescue(model, path):
    """Save to ``path``; if that fails, save to the working directory and say where.

    Returns None when ``path`` was written, 1 when the model had to go elsewhere.
    """
    try:
        _say(f"model saved to {model.save(path)}")
        return None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        rescue = os.path.join(os.getcwd(), f"mtl-numpy-rescued-{time.strftime('%Y%m%d-%H%M%S')}.npz")
        try:
            written = model.save(rescue)
        except (OSError, ValueError) as exc2:
            raise ValueError(f"could not save the model to {path!r} ({reason}), nor to {rescue!r} "
                             f"({exc2})") from None
        print(f"error: could not save the model to {path!r} ({reason}); the trained model was "
              f"saved to {written} instead", file=sys.stderr, flush=True)
        return 1


# --------------------------------------------------------------------------- #
# gradcheck
# --------------------------------------------------------------------------- #
def add_gradcheck_parser(subparsers):
    p = subparsers.add_parser(
        "gradcheck", help="gradient check of a small shared network (exit status 1 if it fails)",
        description="Compare backprop with two-sided finite differences on a small model "
                    "(float64, every parameter entry) on 16x16 driving scenes with '?' labels.",
    )
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    p.add_argument("--m", type=positive_int, default=8, help="scenes in the batch (default: 8)")
    p.add_argument("--missing", type=single_rate, default=0.3, help="'?' rate in [0, 1] (default: 0.3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=_backend_names(), default="numpy")
    p.set_defaults(func=run_gradcheck)
    return p


def run_gradcheck(args):
    import mtl_numpy as mtl

    data = mtl.datasets.driving_scenes(args.m, image_size=16, missing=args.missing, seed=args.seed)
    if args.model == "cnn":
        model = _build_model("cnn", 16, (8,), args.seed, backend=args.backend, conv_channels=(2, 3))
    else:
        model = _build_model("mlp", 16, (8,), args.seed, backend=args.backend)
    n_unknown = int(sum(1 for v in data.Y.ravel() if v != v))
    _say(f"gradient check: {_architecture(model)} ({model.n_parameters:,} parameters), backend "
         f"{model.backend.name}, {data.m} scenes 16x16, {n_unknown} of {data.Y.size} labels '?'")
    t = time.perf_counter()
    result = mtl.gradient_check(model, _model_inputs(model, data), data.Y, epsilon=1e-7)
    _say(str(result))
    _say(f"[{time.perf_counter() - t:.1f} s]")
    return 0 if result.passed else 1


# --------------------------------------------------------------------------- #
# evaluate
# --------------------------------------------------------------------------- #
def add_evaluate_parser(subparsers):
    p = subparsers.add_parser(
        "evaluate", help="load a saved model and print its per-task table on fresh scenes",
        description="Load a checkpoint written by `train --save` (or model.save) and score it "
                    "against the full truth of freshly drawn driving scenes.",
    )
    p.add_argument("--load", metavar="PATH", required=True, help="checkpoint (.npz)")
    p.add_argument("--m", type=positive_int, default=1000, help="fresh scenes (default: 1000)")
    p.add_argument("--seed", type=int, default=12345,
                   help="seed of the fresh scenes (default: 12345, unlike training's 0)")
    p.add_argument("--backend", choices=_backend_names(), default="numpy")
    p.add_argument("--max-bytes", type=positive_int, default=None,
                   help="largest checkpoint (and sum of its arrays) to read (default: 2 GiB)")
    p.set_defaults(func=run_evaluate)
    return p


def _image_size_of(model):
    from .models import SharedCNN

    if isinstance(model, SharedCNN):
        n_H, n_W, n_C = model.input_shape
        if n_H != n_W or n_C != 3:
            raise ValueError(f"the model takes {model.input_shape} inputs; driving scenes are (S, S, 3)")
        return n_H
    n_x = model.layer_dims[0]
    side = math.isqrt(n_x // 3)
    if 3 * side * side != n_x:
        raise ValueError(f"the model takes n_x = {n_x} inputs; driving scenes have n_x = 3 * S * S")
    return side


def run_evaluate(args):
    import mtl_numpy as mtl

    limit = {} if args.max_bytes is None else {"max_bytes": args.max_bytes}
    model = mtl.load_model(args.load, backend=args.backend, **limit)
    if model.n_tasks != TASK_COUNT:
        raise ValueError(f"the model has {model.n_tasks} outputs; driving scenes have {TASK_COUNT} tasks")
    size = _image_size_of(model)
    if size < 16:
        raise ValueError(f"the model takes {size}x{size} images; driving scenes are at least 16x16")
    data = mtl.datasets.driving_scenes(args.m, image_size=size, missing=0.0, seed=args.seed)
    _say(f"model: {_architecture(model)} from {args.load}, backend {model.backend.name}")
    _, table = _held_out_table(
        model, data, title=f"fresh scenes ({data.m}, {size}x{size}, seed {args.seed}), scored against the full truth:")
    _say(table)
    return 0


# --------------------------------------------------------------------------- #
# info
# --------------------------------------------------------------------------- #
def add_info_parser(subparsers):
    p = subparsers.add_parser("info", help="version, backends and dependency versions",
                              description="Print the package version, the backends that can run "
                                          "here and the versions of the (optional) dependencies.")
    p.set_defaults(func=run_info)
    return p


def _version_of(module_name):
    try:
        module = __import__(module_name)
    except Exception:  # noqa: BLE001 - not installed, or broken (e.g. CuPy without CUDA)
        return "not installed"
    return getattr(module, "__version__", "installed")


def run_info(args):
    import mtl_numpy as mtl

    _say(f"mtl-numpy {mtl.__version__}")
    _say(f"python     {platform.python_version()} ({platform.platform()}, {os.cpu_count()} CPUs)")
    available = mtl.available_backends()
    _say(f"backends   {', '.join(available)} (of {', '.join(_backend_names())})")
    for name in _backend_names():
        if name not in available:
            try:
                mtl.get_backend(name)
            except Exception as exc:  # noqa: BLE001 - report why, whatever it is
                _say(f"           {name} unavailable: {exc}")
    for name in ("numpy", "numba", "cupy", "matplotlib", "sklearn", "tqdm"):
        _say(f"{name:<10} {_version_of(name)}")
    return 0


# --------------------------------------------------------------------------- #
# experiment NAME: hands its whole command line to mtl_numpy.experiments
# --------------------------------------------------------------------------- #
def add_experiment_parser(subparsers):
    # The experiments keep their own parser (python -m mtl_numpy.experiments); this
    # subcommand passes everything after "experiment" to it unchanged (see main()).
    p = subparsers.add_parser(
        "experiment", add_help=False,
        help="run an experiment: when multi-task learning helps, transfer, end-to-end "
             "(mtl-numpy experiment --help)",
    )
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=run_experiment, passthrough=True)
    return p


def run_experiment(args):
    from .experiments import run_experiment_cli

    return run_experiment_cli(list(args.args))


# --------------------------------------------------------------------------- #
# The parser
# --------------------------------------------------------------------------- #
#: Every subcommand's parser builder, in the order ``--help`` lists them. A builder that
#: sets ``passthrough=True`` gets everything after its name verbatim in ``args.args`` (for
#: subcommands that keep their own parser, like ``experiment``).
SUBCOMMANDS = [
    add_demo_parser,
    add_train_parser,
    add_gradcheck_parser,
    add_evaluate_parser,
    add_info_parser,
    add_experiment_parser,  # mtl-numpy experiment NAME ...  (mtl_numpy/experiments/)
    # add_bench_parser,     # mtl-numpy bench ...            (benchmarks/, coming)
]


def build_parser():
    """The ``mtl-numpy`` argument parser, with one subparser per entry of :data:`SUBCOMMANDS`."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="mtl-numpy",
        description="Multi-task learning from scratch in NumPy: one shared network, four yes/no "
                    "tasks per driving scene, '?' labels masked out of cost and gradient.",
    )
    parser.add_argument("--version", action="version", version=f"mtl-numpy {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in SUBCOMMANDS:
        add_parser(subparsers)
    return parser


def _subparsers(parser):
    """{name: subparser} of ``parser``'s subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv=None):
    """Run the command line; returns the exit status.

    User mistakes that argparse cannot see (a backend that is not installed, a
    missing checkpoint, an out-of-range combination of settings) raise
    ValueError or ImportError inside the library; they are printed as one
    ``error: ...`` line on stderr with exit status 2.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    # A passthrough subcommand owns the rest of the line, options included, in order.
    passthrough = {name for name, sub in _subparsers(parser).items() if sub.get_default("passthrough")}
    if argv and argv[0] in passthrough:
        args = parser.parse_args(argv[:1])
        args.args = argv[1:]
    else:
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except FloatingPointError as exc:  # the cost diverged: a setting, not a bug
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `mtl-numpy info | head -1`: stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:  # e.g. a figure folder that cannot be written
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
