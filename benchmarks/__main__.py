"""``python -m benchmarks [cost|kernels|steps|gpu-cost|guards|all] [--quick] [--plot PATH] [--backends ...]``

* ``cost``     -- the masked cost kernel on the CPU backends (``benchmarks/bench_cost.py``), then,
  on a GPU machine, the GPU cost kernel against device copy bandwidth (``gpu-cost``);
* ``kernels``  -- conv and pooling kernels (``benchmarks/bench_kernels.py``);
* ``steps``    -- full training steps of the reference MLP and CNN on every backend and PyTorch
  (``benchmarks/bench_steps.py``); ``--plot PATH`` draws time per example vs batch size;
* ``tasks``    -- per-task gradients (one stacked backward vs a backward per task) and the step
  time of every weighting method relative to "equal" (``benchmarks/bench_tasks.py``; not in
  ``all``);
* ``gpu-cost`` -- only the GPU cost kernel vs copy bandwidth (``--cost-m``, default 1e8);
* ``guards``   -- what ``fit``'s per-step divergence/interrupt guards cost next to the step they
  guard (``benchmarks/bench_guards.py``);
* ``all``      -- all of the above, in that order.

``--quick`` makes every part short (the whole ``all`` in a few minutes; ``steps --quick`` under one
minute). Options not listed here are passed on to ``steps``. Each part runs even if another one
fails; the exit status is 1 if any failed.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))

COMMANDS = ("cost", "kernels", "steps", "tasks", "gpu-cost", "guards", "all")

#: ``--quick`` arguments for the scripts that have no ``--quick`` of their own.
QUICK_ARGS = {
    "bench_cost": ["--m", "1e5", "1e6", "--repeat", "5"],
    "bench_kernels": ["--m", "64", "--repeat", "3", "--naive-m", "2"],
    "bench_guards": ["--repeat", "5"],
}


def _script_path(name):
    return os.path.join(HERE, f"{name}.py")


def _main_takes_argv(source):
    """True when the script defines ``main(argv...)``: then it can be called in this process."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            names = [a.arg for a in node.args.args]
            return bool(names) and names[0] == "argv"
    return False


def run_script(name, quick):
    """Run ``benchmarks/<name>.py``.

    A script whose ``main(argv)`` parses its own arguments is imported and called here. Any
    other script (e.g. one that sets thread or cache environment variables under
    ``if __name__ == "__main__":`` before importing NumPy or Numba) runs as
    ``python benchmarks/<name>.py`` in a fresh interpreter, exactly as from the shell.
    """
    path = _script_path(name)
    if not os.path.exists(path):
        print(f"({name}: {os.path.relpath(path)} not found; skipped)\n")
        return True
    with open(path) as f:
        source = f.read()
    argv = []
    if quick:
        argv = ["--quick"] if ('"--quick"' in source or "'--quick'" in source) else QUICK_ARGS.get(name, [])
    print(f"## {name}: python benchmarks/{name}.py {' '.join(argv)}".rstrip() + "\n")
    print("```")
    sys.stdout.flush()
    try:
        if _main_takes_argv(source):
            module = importlib.import_module(f"benchmarks.{name}")
            try:
                module.main(argv)
            except SystemExit as exc:
                return exc.code in (None, 0)
            return True
        env = dict(os.environ)
        root = os.path.dirname(HERE)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return subprocess.run([sys.executable, path, *argv], cwd=root, env=env).returncode == 0
    finally:
        sys.stdout.flush()
        print("```\n")


def run_gpu_cost(args):
    from benchmarks.harness import bench_gpu_cost, gpu_available

    print("## gpu-cost: masked cost kernel vs device copy bandwidth\n")
    if not gpu_available():
        print("(no CUDA GPU here: skipped)\n")
        return True
    m = int(float(args.cost_m)) if args.cost_m else (10_000_000 if args.quick else 100_000_000)
    print(bench_gpu_cost(m=m, n_repeat=5 if args.quick else 20))
    return True


def run_steps(args, extra):
    from benchmarks import bench_steps

    argv = list(extra)
    if args.quick:
        argv.append("--quick")
    if args.plot:
        argv += ["--plot", args.plot]
    if args.backends:
        argv += ["--backends", *args.backends]
    bench_steps.main(argv)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0],
        epilog="Other options (e.g. --sizes 64,256,1024 --gpu-sizes 16,32,...,4096 --repeat 9 "
               "--models cnn) go to the steps benchmark.")
    parser.add_argument("command", nargs="?", default="all", choices=COMMANDS)
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--plot", default=None, help="steps: write the log-log figure here")
    parser.add_argument("--backends", nargs="+", default=None,
                        help="steps: contenders (numpy numba cupy torch-cpu torch-cuda)")
    parser.add_argument("--cost-m", default=None, help="gpu-cost: m (default 1e8; --quick 1e7)")
    args, extra = parser.parse_known_args(argv)

    parts = {
        "cost": [("cost", lambda: run_script("bench_cost", args.quick)),
                 ("gpu-cost", lambda: run_gpu_cost(args))],
        "kernels": [("kernels", lambda: run_script("bench_kernels", args.quick))],
        "steps": [("steps", lambda: run_steps(args, extra))],
        "tasks": [("tasks", lambda: run_script("bench_tasks", args.quick))],
        "gpu-cost": [("gpu-cost", lambda: run_gpu_cost(args))],
        "guards": [("guards", lambda: run_script("bench_guards", args.quick))],
    }
    order = ["cost", "kernels", "steps", "guards"] if args.command == "all" else [args.command]
    failed = []
    start = time.perf_counter()
    for command in order:
        for label, part in parts[command]:
            try:
                ok = part()
            except Exception:  # noqa: BLE001 - report, and go on with the other parts
                traceback.print_exc()
                ok = False
            if not ok:
                failed.append(label)
                print(f"({label}: FAILED, see the error output)\n")
            sys.stdout.flush()
    print(f"(benchmarks {' '.join(order)}: {time.perf_counter() - start:.0f} s"
          + (f"; failed: {', '.join(failed)})" if failed else ")"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
