"""Two checkouts of mtl-numpy side by side: the same public calls timed in each, interleaved.

Run ``python benchmarks/bench_trees.py OLD_TREE NEW_TREE`` (each a folder holding an
``mtl_numpy`` package, e.g. a ``git worktree`` of the commit before a refactor and the working
tree). For every case -- a whole training step (``model.cost_and_grads`` plus an Adam update,
through the public API only, so that both trees run the same calls) of the SharedCNN and the
SharedMLP at m = 256 on each CPU backend, and the masked cost + gradient kernel at m = 1e6 -- each
round starts one worker process per tree, one after the other (old, new, new, old, ...), each
timing ``--repeat`` calls after a warm-up; the table gives the median over rounds and the ratio
new / old. A refactor that should not change speed should give ratios within the rounds' spread.

Options: ``--rounds`` (default 6), ``--repeat`` (default 10), ``--threads`` (default 2),
``--cases`` (comma-separated subset of the case names).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CASES = {
    "cnn_step_numpy": ("cnn", "numpy"), "cnn_step_numba": ("cnn", "numba"),
    "mlp_step_numpy": ("mlp", "numpy"), "mlp_step_numba": ("mlp", "numba"),
    "cost_numpy": ("cost", "numpy"), "cost_numba": ("cost", "numba"),
}

WORKER = r"""
import json, sys, time
import numpy as np
import mtl_numpy as mtl
kind, backend, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
if kind == "cost":
    m = 1_000_000
    ZL = rng.standard_normal((4, m // 4)).astype(np.float32)
    Y = (rng.random(ZL.shape) < 0.5).astype(np.float32)
    Y[rng.random(ZL.shape) < 0.3] = np.nan
    call = lambda: mtl.masked_logistic_cost_and_grad(ZL, Y, backend=backend)
else:
    m = 256
    if kind == "cnn":
        model = mtl.SharedCNN(input_shape=(32, 32, 3), conv_channels=(16, 32), hidden=(64,),
                              n_tasks=4, seed=0, backend=backend)
        X = rng.random((m, 32, 32, 3)).astype(np.float32)
    else:
        model = mtl.SharedMLP([768, 512, 256, 4], seed=0, backend=backend)
        X = rng.random((768, m)).astype(np.float32)
    Y = (rng.random((4, m)) < 0.5).astype(np.float32)
    Y[rng.random(Y.shape) < 0.3] = np.nan
    opt = mtl.Adam(learning_rate=1e-4)
    def call():
        J, grads = model.cost_and_grads(X, Y)
        opt.update(model.params, grads)
for _ in range(3):
    call()
times = []
for _ in range(repeat):
    t0 = time.perf_counter(); call(); times.append(time.perf_counter() - t0)
print(json.dumps({"median_ms": 1e3 * float(np.median(times)), "mtl_file": mtl.__file__}))
"""


def run_one(tree, kind, backend, repeat, threads):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads),
               MTL_NUMPY_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", WORKER, kind, backend, str(repeat)], env=env,
                         capture_output=True, text=True, cwd=os.path.abspath(tree))
    if out.returncode != 0:
        raise RuntimeError(f"{tree} {kind} {backend} failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    expected = os.path.join(os.path.abspath(tree), "mtl_numpy")
    if not result["mtl_file"].startswith(expected):
        raise RuntimeError(f"{tree}: imported {result['mtl_file']}, not the tree's own package")
    return result["median_ms"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; choose from {list(CASES)}")
    print(f"# old = {args.old}, new = {args.new}; {args.rounds} rounds x {args.repeat} calls, "
          f"{args.threads} threads; load average before: {os.getloadavg()[0]:.2f}")
    print("| case | old ms (median of rounds) | new ms | new / old | round ratios min..max |")
    print("|---|---|---|---|---|")
    for name in names:
        kind, backend = CASES[name]
        old, new = [], []
        for r in range(args.rounds):
            order = [("old", args.old), ("new", args.new)]
            if r % 2:
                order.reverse()
            for label, tree in order:
                (old if label == "old" else new).append(
                    run_one(tree, kind, backend, args.repeat, args.threads))
        ratios = [n / o for n, o in zip(new, old)]
        print(f"| {name} | {statistics.median(old):.2f} | {statistics.median(new):.2f} | "
              f"{statistics.median(new) / statistics.median(old):.3f} | "
              f"{min(ratios):.2f}..{max(ratios):.2f} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
