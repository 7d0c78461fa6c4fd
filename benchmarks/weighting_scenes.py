"""Every weighting method on driving scenes with 30 % '?': held-out accuracy per task.

Run ``python benchmarks/weighting_scenes.py`` (``--quick`` for a smoke run). For each method of
:mod:`mtl_numpy.weighting` and each seed, a small CNN with per-task heads is trained from the same
initial weights on the same scenes, in the same mini-batch order, and scored on held-out scenes
against the FULL truth (``Y_true``, no '?'). The gradient conflict on the shared parameters is
tracked along the way (``track_conflict``). Printed: a table of mean held-out accuracy per task
(mean ± standard deviation over the seeds), the mean pairwise cosine at the first and last tracked
steps, the mean task weights, and the seconds per run.

This is a measurement, not a test; its numbers go in the issue's closing note with the command.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make "benchmarks" importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mtl_numpy as mtl  # noqa: E402
from benchmarks.harness import format_table, machine_summary  # noqa: E402
from mtl_numpy.weighting import WEIGHTINGS  # noqa: E402


def run_one(method, seed, args):
    data = mtl.datasets.driving_scenes(args.m + args.n_test, image_size=args.image_size, missing=0.3,
                                       seed=seed)
    train, test = data.split(args.n_test)
    model = mtl.SharedCNN((args.image_size, args.image_size, 3), conv_channels=tuple(args.conv_channels),
                          hidden=tuple(args.hidden), head_dims=tuple(args.head_dims), seed=seed,
                          backend=args.backend)
    start = time.perf_counter()
    history = mtl.fit(model, train.X, train.Y, optimizer=mtl.Adam(args.lr), epochs=args.epochs,
                      batch_size=args.batch_size, seed=seed, progress=False, tasks=train.tasks,
                      weighting=method, track_conflict=args.track_conflict)
    seconds = time.perf_counter() - start
    AL = mtl.predict_proba_batched(model, test.X)
    metrics = mtl.task_metrics(test.Y_true, mtl.to_numpy(AL), tasks=test.tasks)
    weights = np.mean(history.task_weights, axis=0) if history.task_weights else np.ones(4)
    return {"accuracy": [metrics[t]["accuracy"] for t in test.tasks],
            "cos_first": history.conflict[0]["mean_cosine"], "cos_last": history.conflict[-1]["mean_cosine"],
            "weights": weights, "seconds": seconds, "tasks": test.tasks}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--conv-channels", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--hidden", type=int, nargs="+", default=[32])
    parser.add_argument("--head-dims", type=int, nargs="+", default=[16])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--track-conflict", type=int, default=25)
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--methods", nargs="+", default=list(WEIGHTINGS))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.m, args.n_test, args.epochs, args.seeds = 400, 200, 2, [0]
    print(f"# weighting_scenes, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(machine_summary())
    print(f"driving scenes {args.image_size}x{args.image_size}, 30% '?', {args.m} training / {args.n_test} "
          f"held-out scenes (scored against the full truth); SharedCNN conv {args.conv_channels}, hidden "
          f"{args.hidden}, head_dims {args.head_dims}; Adam({args.lr}), {args.epochs} epochs, batch "
          f"{args.batch_size}; seeds {args.seeds}; backend {args.backend}\n")
    rows, tasks = [], None
    for method in args.methods:
        runs = [run_one(method, seed, args) for seed in args.seeds]
        tasks = runs[0]["tasks"]
        acc = np.array([r["accuracy"] for r in runs])                  # (seeds, tasks)
        mean_acc = acc.mean(axis=1)

        def pm(values):
            values = np.asarray(values)
            return f"{values.mean():.3f}" + (f" ± {values.std(ddof=1):.3f}" if len(values) > 1 else "")

        rows.append([method] + [pm(acc[:, t]) for t in range(acc.shape[1])] + [pm(mean_acc)]
                    + [f"{np.mean([r['cos_first'] for r in runs]):+.2f} -> {np.mean([r['cos_last'] for r in runs]):+.2f}",
                       "/".join(f"{w:.2f}" for w in np.mean([r["weights"] for r in runs], axis=0)),
                       f"{np.mean([r['seconds'] for r in runs]):.1f}"])
        print(f"  {method}: mean accuracy {pm(mean_acc)}", flush=True)
    headers = ["method"] + list(tasks) + ["mean", "mean cos first -> last", "mean weights", "s/run"]
    print()
    print(format_table(headers, rows))


if __name__ == "__main__":
    main()
