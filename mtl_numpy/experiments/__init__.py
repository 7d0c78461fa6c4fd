r"""Experiments: when multi-task learning helps, transfer learning, end-to-end learning.

Each experiment is a module with ``run(seeds=..., <sizes>, epochs=..., backend="numpy",
fast=False, progress=True) -> ExperimentResult`` and ``plot(result, path=None)``:

============== ==========================================================================
name           question
============== ==========================================================================
sharing        one multi-task network vs four single-task networks (same / quarter width)
network_size   multi-task minus single-task against the shared hidden width (Caruana)
data_amounts   a focus task with few labels next to tasks with many (+ shuffle control)
masking        masked cost vs '?' filled with 0 vs incomplete examples dropped
transfer       pretrain on tasks A, fine-tune (all / head only) on task B vs from scratch
end_to_end     hand-designed features + logistic regression vs an end-to-end CNN
============== ==========================================================================

``fast=True`` is a setting that runs in well under a minute on two cores (tests,
tutorials); the defaults are the full setting quoted in ``docs/experiments.md``.

From the command line::

    python -m mtl_numpy.experiments sharing --fast
    python -m mtl_numpy.experiments all --out docs/figures

>>> from mtl_numpy import experiments
>>> result = experiments.run("sharing", fast=True, progress=False)   # doctest: +SKIP
>>> print(result.to_markdown("accuracy"))                           # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import data_amounts, end_to_end, masking, network_size, sharing, transfer
from .common import ExperimentResult, Row, TrainableSubset

__all__ = ["EXPERIMENTS", "run", "plot", "main", "run_experiment_cli", "ExperimentResult", "Row",
           "TrainableSubset", "sharing", "network_size", "data_amounts", "masking", "transfer",
           "end_to_end"]

#: name -> module with ``run`` and ``plot``.
EXPERIMENTS = {
    "sharing": sharing,
    "network_size": network_size,
    "data_amounts": data_amounts,
    "masking": masking,
    "transfer": transfer,
    "end_to_end": end_to_end,
}


def _module(name):
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}; got {name!r}")
    return EXPERIMENTS[name]


def run(name, **kwargs):
    """Run experiment ``name`` (keyword arguments go to its ``run``)."""
    return _module(name).run(**kwargs)


def plot(result, path=None, **kwargs):
    """Draw ``result``'s figure (needs matplotlib); saves to ``path`` or returns the figure."""
    return _module(result.name).plot(result, path, **kwargs)


def build_parser(prog="python -m mtl_numpy.experiments"):
    p = argparse.ArgumentParser(prog=prog, description="Run the multi-task learning experiments.")
    p.add_argument("name", nargs="+", choices=sorted(EXPERIMENTS) + ["all"],
                   help="experiment(s) to run, or 'all'")
    p.add_argument("--fast", action="store_true", help="the small setting (under a minute each)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: the experiment's)")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--backend", default="numpy", help="numpy, numba or cupy")
    p.add_argument("--out", default=None,
                   help="folder for NAME.png, NAME.json and NAME.md (default: print only)")
    p.add_argument("--no-plot", action="store_true", help="do not draw figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv=None, prog="python -m mtl_numpy.experiments"):
    """Command-line entry point; returns an exit status."""
    args = build_parser(prog).parse_args(argv)
    names = list(EXPERIMENTS) if "all" in args.name else list(dict.fromkeys(args.name))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    timings = {}
    start = time.perf_counter()
    for name in names:
        kwargs = dict(fast=args.fast, backend=args.backend, progress=not args.no_progress)
        if args.seeds is not None:
            kwargs["seeds"] = tuple(args.seeds)
        if args.epochs is not None:
            kwargs["epochs"] = args.epochs
        result = run(name, **kwargs)
        timings[name] = round(result.seconds, 1)
        print(f"\n## {name}  ({result.seconds:.1f} s)\n", flush=True)
        print(result.to_markdown(), flush=True)
        if result.notes:
            print("\nnotes:", json.dumps(result.notes, default=str), flush=True)
        if args.out:
            result.to_json(os.path.join(args.out, f"{name}.json"))
            with open(os.path.join(args.out, f"{name}.md"), "w") as fh:
                fh.write(result.to_markdown() + "\n")
            if not args.no_plot:
                try:
                    path = plot(result, os.path.join(args.out, f"{name}.png"))
                    print(f"figure: {path}", flush=True)
                except ImportError as exc:
                    print(f"no figure: {exc}", file=sys.stderr)
    total = time.perf_counter() - start
    print(f"\ntimings (s): {json.dumps(timings)}; total {total:.1f} s", flush=True)
    if args.out and len(names) > 1:
        tag = "all" if len(names) == len(EXPERIMENTS) else "+".join(names)
        with open(os.path.join(args.out, f"timings_{tag}.json"), "w") as fh:
            json.dump({"seconds": timings, "total": round(total, 1), "fast": args.fast}, fh, indent=1)
    return 0


def run_experiment_cli(argv):
    """For ``mtl-numpy experiment NAME ...``: the same options as ``python -m mtl_numpy.experiments``."""
    return main(argv, prog="mtl-numpy experiment")
