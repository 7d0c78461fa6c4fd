r"""Experiments: when multi-task learning helps, transfer learning, end-to-end learning.

Each experiment is a module with ``run(seeds=..., <sizes>, epochs=..., backend="auto",
fast=False, progress=True) -> ExperimentResult`` and ``plot(result, path=None)``:

============== ==========================================================================
name           question
============== ==========================================================================
sharing        multi-task (all-shared / per-task heads) vs separate networks, x rho x labels
digits_sharing the same on real data: one MLP for the four digit tasks vs four MLPs, x labels
network_size   multi-task minus single-task against the shared hidden width (Caruana)
data_amounts   each task in turn label-poor: three weightings, shuffle control, conflict
masking        masked cost vs '?' as 0 vs dropped; '?' at random or on absent objects
transfer       pretrain on tasks A, fine-tune on B (all / lower layers / head) vs scratch
end_to_end     end-to-end CNN vs a features pipeline and a segment pipeline, x rho x m
relatedness    the scenes' relatedness dial: cross-task frozen-trunk transfer vs random trunk
affinity       which tasks to learn together: lookahead affinity vs training all 15 subsets
============== ==========================================================================

``fast=True`` is a setting that runs in seconds (all nine in about 12 s on two cores; tests,
tutorials); the defaults are the full setting quoted in ``docs/experiments.md`` (all nine
together 35 minutes on this project's two cores, ``docs/figures/timings_all.json``). The
driving-scene experiments train a small CNN (:func:`.common.scene_cnn`); ``backend="auto"``
picks Numba when it is installed. Every run uses one BLAS thread (:func:`.common.blas_threads`), and
``all`` runs experiments side by side, one process per CPU (``--jobs``).

From the command line::

    python -m mtl_numpy.experiments sharing --fast
    python -m mtl_numpy.experiments all --out results

>>> from mtl_numpy import experiments
>>> result = experiments.run("sharing", fast=True, progress=False)   # doctest: +SKIP
>>> print(result.to_markdown("accuracy"))                           # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from . import affinity, data_amounts, digits_sharing, end_to_end, masking, network_size, relatedness, \
    sharing, transfer
from . import common
from ..optim import TrainableSubset  # its home is optim; re-exported as tutorial 7 uses it
from .common import ExperimentResult, Row

__all__ = ["EXPERIMENTS", "run", "plot", "main", "run_experiment_cli", "ExperimentResult", "Row",
           "TrainableSubset", "sharing", "network_size", "data_amounts", "masking", "transfer",
           "end_to_end", "relatedness", "affinity", "digits_sharing"]

#: Wall seconds of each full setting in one process (docs/figures/timings_all.json, 2 cores); the
#: command line starts the longest first when it runs experiments side by side.
COST = {"network_size": 1520, "sharing": 594, "data_amounts": 587, "end_to_end": 296, "masking": 293,
        "relatedness": 294, "transfer": 282, "affinity": 194, "digits_sharing": 55}

#: name -> module with ``run`` and ``plot``.
EXPERIMENTS = {
    "sharing": sharing,
    "digits_sharing": digits_sharing,
    "network_size": network_size,
    "data_amounts": data_amounts,
    "masking": masking,
    "transfer": transfer,
    "end_to_end": end_to_end,
    "relatedness": relatedness,
    "affinity": affinity,
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
    p.add_argument("--backend", default=None,
                   help="auto (default: numba if installed, else numpy), numpy, numba or cupy")
    p.add_argument("--out", default=None,
                   help="folder for NAME.png, NAME.json and NAME.md (default: print only)")
    p.add_argument("--no-plot", action="store_true", help="do not draw figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--jobs", type=int, default=None,
                   help="experiments run side by side, one process each (default: the number of "
                        "CPUs, at most the number of experiments); every run is single-threaded, "
                        "so the results do not depend on it")
    return p


def main(argv=None, prog="python -m mtl_numpy.experiments"):
    """Command-line entry point; returns an exit status."""
    args = build_parser(prog).parse_args(argv)
    names = list(EXPERIMENTS) if "all" in args.name else list(dict.fromkeys(args.name))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    jobs = max(1, min(jobs, len(names)))
    kwargs = dict(fast=args.fast, progress=not args.no_progress)
    if args.backend is not None:
        kwargs["backend"] = args.backend
    if args.seeds is not None:
        kwargs["seeds"] = tuple(args.seeds)
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
        if len(names) == 1 and "epochs" not in inspect.signature(_module(names[0]).run).parameters:
            # sharing counts its budget as max_epochs (a patience rule ends each run sooner)
            kwargs["max_epochs"] = kwargs.pop("epochs")
    if len(names) == 1 and "jobs" in inspect.signature(_module(names[0]).run).parameters:
        # one experiment that can spread its own runs over worker processes (sharing)
        kwargs["jobs"], jobs = (args.jobs if args.jobs is not None else (os.cpu_count() or 1)), 1
    timings, backends, loads = {}, {}, {}
    start, cpu_start = time.perf_counter(), time.process_time()
    load = _load_average()
    print(f"experiments {', '.join(names)}: {'fast' if args.fast else 'full'} setting, "
          f"{jobs} at a time; load average {load} on {os.cpu_count()} CPUs", flush=True)

    def report(name, result):
        timings[name] = round(result.seconds, 1)
        backends[name] = result.settings.get("backend")
        loads[name] = _load_average()
        done = len(timings)
        print(f"\n## {name}  ({result.seconds:.1f} s; {done}/{len(names)} done, "
              f"elapsed {time.perf_counter() - start:.0f} s)\n", flush=True)
        print(result.to_markdown(), flush=True)
        if result.notes:
            print("\nnotes:", json.dumps(result.notes, default=str), flush=True)
        if args.out:
            result.to_json(os.path.join(args.out, f"{name}.json"))
            # an experiment may define markdown(result): the tables its docs section quotes
            to_markdown = getattr(_module(name), "markdown", None) or type(result).to_markdown
            with open(os.path.join(args.out, f"{name}.md"), "w") as fh:
                fh.write(to_markdown(result) + "\n")
            if not args.no_plot:
                try:
                    path = plot(result, os.path.join(args.out, f"{name}.png"))
                    print(f"figure: {path}", flush=True)
                except ImportError as exc:
                    print(f"no figure: {exc}", file=sys.stderr)

    if jobs == 1:
        for i, name in enumerate(names):
            if len(names) > 1:
                print(f"\n[{i + 1}/{len(names)}] {name}  (elapsed {time.perf_counter() - start:.0f} s)",
                      flush=True)
            report(name, run(name, **kwargs))
    else:
        _run_side_by_side(names, kwargs, jobs, report)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    load_after = _load_average()
    order = [n for n in names if n in timings]
    print(f"\ntimings (s): {json.dumps({n: timings[n] for n in order})}; total {total:.1f} s "
          f"({total / 60:.1f} min, {jobs} at a time); load average before {load}, after "
          f"{load_after} on {os.cpu_count()} CPUs", flush=True)
    if args.out and len(names) > 1:
        tag = "all" if len(names) == len(EXPERIMENTS) else "+".join(names)
        with open(os.path.join(args.out, f"timings_{tag}.json"), "w") as fh:
            json.dump({"seconds": {n: timings[n] for n in order}, "total": round(total, 1),
                       "jobs": jobs, "fast": args.fast, "backends": backends,
                       "cpus": os.cpu_count(), "load_average_before": load,
                       "load_average_after_each": loads, "main_process_cpu_seconds": round(cpu, 1)},
                      fh, indent=1)
    return 0


def _worker_init(counter):
    # one screen line per worker for its progress bars
    with counter.get_lock():
        common.BAR_POSITION = counter.value
        counter.value += 1


def _run_side_by_side(names, kwargs, jobs, report):
    """Run ``names`` in ``jobs`` worker processes, longest first; ``report`` each as it ends."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")   # a fresh interpreter: no inherited BLAS / Numba threads
    counter = ctx.Value("i", 0)
    queue = sorted(names, key=lambda n: -COST.get(n, 1))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                             initargs=(counter,)) as pool:
        pending = {pool.submit(run, name, **kwargs): name for name in queue}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                name = pending.pop(fut)
                report(name, fut.result())


def _load_average():
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return None


def run_experiment_cli(argv):
    """For ``mtl-numpy experiment NAME ...``: the same options as ``python -m mtl_numpy.experiments``."""
    return main(argv, prog="mtl-numpy experiment")
