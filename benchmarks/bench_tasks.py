"""Per-task gradients and weighting methods: what they cost next to the lecture's training step.

Run ``python benchmarks/bench_tasks.py`` (``--quick`` for a short run, ``--backends numpy``,
``--part grads`` or ``--part weighting``). Two tables:

1. **Per-task gradients** (``--part grads``): ``model.prepared_task_costs_and_grads`` (one
   forward, ONE backward over the stacked per-task upstream gradients, the CPU engine's
   ``conv_relu_pool_backward_tasks``) against the loop it replaces (the same forward, then
   ``n_tasks`` ordinary backward passes, each of ``dZL`` masked to one task's row), on the
   reference CNN (``SharedCNN`` defaults: 32x32x3, conv 16 and 32, dense 64, 4 tasks) and the
   same CNN with ``head_dims=(32,)``, float32, m = 256. Both give the same ``G`` (checked before
   timing). Columns: whole call (forward included) and backward only (the forward's caches
   made once).
2. **Weighting methods** (``--part weighting``): the time of one :func:`mtl_numpy.fit` step
   (mini-batch of 256, Adam) for every method of :mod:`mtl_numpy.weighting`, relative to
   ``"equal"`` (today's step), for the reference MLP (3072 -> 256 -> 128 -> 4) and CNN.

Timing: ``time.perf_counter`` around each call, warm-up first, contenders interleaved in
rotation (:func:`benchmarks.harness.interleaved`), the median of the repeats. Every backend
runs in this process, one after the other. A benchmark, not a test: tests never time things.
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
from benchmarks.harness import format_table, interleaved, machine_summary, median  # noqa: E402
from mtl_numpy.weighting import WEIGHTINGS  # noqa: E402


def cnn(backend, head_dims=None):
    return mtl.SharedCNN(seed=0, dtype="float32", backend=backend, head_dims=head_dims)


def mlp(backend):
    return mtl.SharedMLP([3072, 256, 128, 4], seed=0, dtype="float32", backend=backend)


def scenes(m, seed=0):
    data = mtl.datasets.driving_scenes(m, image_size=32, missing=0.3, seed=seed)
    return data


def loop_task_grads(model, Xp, Yp):
    """The per-task gradients the long way: one forward, then a backward per task."""
    J_t, dZL, caches = model.prepared_task_logits(Xp, Yp)
    return J_t, loop_backward(model, dZL, caches)


def loop_backward(model, dZL, caches):
    xp = model.backend.xp
    per_task = []
    for t in range(dZL.shape[0]):
        dZ = xp.zeros_like(dZL)
        dZ[t] = dZL[t]
        per_task.append(model.backward(dZ, caches))
    return {k: xp.stack([g["d" + k] for g in per_task]) for k in model.params}


def check_same(G, G_loop):
    for key in G:
        a, b = np.asarray(mtl.to_numpy(G[key]), float), np.asarray(mtl.to_numpy(G_loop[key]), float)
        scale = np.abs(b).max() + 1e-30
        if np.abs(a - b).max() / scale > 1e-4:
            raise AssertionError(f"{key}: stacked and loop per-task gradients differ "
                                 f"(max rel {np.abs(a - b).max() / scale:.2e})")


def cpu_interleaved(fns, repeat, warmup=1):
    """:func:`benchmarks.harness.interleaved` on the process's CPU clock (``time.process_time``):
    with every pool at one thread this counts the work done, whatever a neighbour's load."""
    from benchmarks.harness import rotation

    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for r in range(repeat):
        for name in rotation(fns, r):
            start = time.process_time()
            fns[name]()
            times[name].append(time.process_time() - start)
    return times


def bench_grads(backends, m, repeat, clock="wall"):
    data = scenes(m)
    rows = []
    for backend in backends:
        for label, head_dims in (("CNN", None), ("CNN, head_dims=(32,)", (32,))):
            model = cnn(backend, head_dims)
            Xp, Yp = model.prepare(data.X, data.Y)
            _, G = model.prepared_task_costs_and_grads(Xp, Yp)
            _, G_loop = loop_task_grads(model, Xp, Yp)
            check_same(G, G_loop)
            _, dZL, caches = model.prepared_task_logits(Xp, Yp)
            timer = interleaved if clock == "wall" else cpu_interleaved
            times = timer({
                "stacked": lambda: model.prepared_task_costs_and_grads(Xp, Yp),
                "loop": lambda: loop_task_grads(model, Xp, Yp),
                "stacked backward": lambda: model.backward_tasks(dZL, caches),
                "loop backward": lambda: loop_backward(model, dZL, caches),
                "one backward": lambda: model.prepared_cost_and_grads(Xp, Yp),
            }, repeat=repeat, warmup=2)
            t = {k: median(v) * 1e3 for k, v in times.items()}
            best = {k: min(v) * 1e3 for k, v in times.items()}
            rows.append([backend, label, f"{t['loop']:.1f}", f"{t['stacked']:.1f}",
                         f"{t['stacked'] / t['loop']:.2f}", f"{best['stacked'] / best['loop']:.2f}",
                         f"{t['loop backward']:.1f}", f"{t['stacked backward']:.1f}",
                         f"{t['stacked backward'] / t['loop backward']:.2f}",
                         f"{best['stacked backward'] / best['loop backward']:.2f}",
                         f"{t['one backward']:.1f}"])
            print(f"  {backend} {label}: stacked / loop = {t['stacked'] / t['loop']:.2f}", flush=True)
    headers = ["backend", "model", "loop ms", "stacked ms", "ratio", "ratio of minima", "loop bwd ms",
               "stacked bwd ms", "bwd ratio", "bwd ratio of minima", "cost_and_grads ms"]
    return format_table(headers, rows)


def bench_weighting(backends, m, steps, repeat):
    data = scenes(m * steps, seed=1)
    X_flat = data.flat()
    rows = []
    for model_name in ("MLP", "CNN"):
        for backend in backends:
            def make():
                return mlp(backend) if model_name == "MLP" else cnn(backend)
            X = X_flat if model_name == "MLP" else data.X
            fns = {}
            for name in WEIGHTINGS:
                def run(name=name):
                    model = make()
                    mtl.fit(model, X, data.Y, epochs=1, batch_size=m, progress=False, weighting=name,
                            optimizer=mtl.Adam(1e-3))
                fns[name] = run
            build = interleaved({"build": lambda: make()}, repeat=repeat, warmup=0)["build"]
            times = interleaved(fns, repeat=repeat, warmup=1)
            per_step = {k: (median(v) - median(build)) / steps * 1e3 for k, v in times.items()}
            base = per_step["equal"]
            rows.append([model_name, backend, f"{base:.1f}"]
                        + [f"{per_step[k] / base:.2f}" for k in WEIGHTINGS if k != "equal"])
            print(f"  {model_name} {backend}: equal {base:.1f} ms/step", flush=True)
    headers = ["model", "backend", "equal ms/step"] + [k for k in WEIGHTINGS if k != "equal"]
    return format_table(headers, rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--part", choices=("grads", "weighting", "all"), default="all")
    parser.add_argument("--m", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--steps", type=int, default=4, help="fit steps per timed run (weighting)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="grads: wall time (perf_counter), or the process's CPU time (meaningful "
                             "with MTL_NUMPY_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    backends = args.backends or [b for b in mtl.available_backends() if b in ("numpy", "numba")]
    repeat = 3 if args.quick else args.repeat
    steps = 2 if args.quick else args.steps
    print(f"# bench_tasks, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(machine_summary())
    print(f"m = {args.m}, float32, median of {repeat} interleaved repeats\n")
    if args.part in ("grads", "all"):
        print("Per-task gradients: one stacked backward vs a backward per task (4 tasks)")
        print(f"clock: {'time.perf_counter (wall)' if args.clock == 'wall' else 'time.process_time (CPU)'}")
        print(bench_grads(backends, args.m, repeat, args.clock))
        print()
    if args.part in ("weighting", "all"):
        print("fit step time of each weighting method relative to 'equal'")
        print(bench_weighting(backends, args.m, steps, repeat))


if __name__ == "__main__":
    main()
