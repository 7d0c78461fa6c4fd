"""How fast are the synthetic street scenes drawn, on one CPU core?

Run ``python benchmarks/bench_scenes.py`` (options: ``--m``, ``--image-size``,
``--repeat``). It prints the wall time of ``driving_scenes(m, image_size)`` and
the rate in scenes per second; the target is 20,000 scenes of 32x32 in under
10 s. This is a script, not a test: tests never time things.
"""
import os

# One core: keep any threaded BLAS / OpenMP pool to a single thread. This must
# happen before NumPy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

from mtl_numpy.datasets import driving_scenes  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=20_000, help="number of scenes (default 20000)")
    parser.add_argument("--image-size", type=int, default=32, help="pixels per side (default 32)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):  # pin to one core where the OS allows it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    driving_scenes(m=100, image_size=args.image_size, seed=0)  # warm-up (imports, caches)
    times = []
    for r in range(args.repeat):
        start = time.perf_counter()
        data = driving_scenes(m=args.m, image_size=args.image_size, missing=0.3, seed=r)
        times.append(time.perf_counter() - start)
    best = min(times)
    print(
        f"driving_scenes(m={args.m}, image_size={args.image_size}) on one core: "
        f"best of {args.repeat}: {best:.2f} s  ({args.m / best:,.0f} scenes/s); "
        f"all runs: {', '.join(f'{t:.2f}' for t in times)} s; "
        f"X {data.X.shape} {data.X.dtype}, {data.X.nbytes / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    main()
