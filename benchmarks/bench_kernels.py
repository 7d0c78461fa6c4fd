"""Conv and max-pool kernels, forward and backward: naive loops vs NumPy vs Numba.

Run ``python benchmarks/bench_kernels.py`` (options: ``--m``, ``--naive-m``, ``--repeat``,
``--use-cache``).

The shapes are the reference CNN's (``SharedCNN`` defaults), float32, channels last::

    X (m, 32, 32, 3) -> conv 3x3x16 'same' -> ReLU -> maxpool 2 -> conv 3x3x32 'same'
    -> ReLU -> maxpool 2

For each layer it prints the median time in ms of the NumPy backend (``mtl_numpy.conv``'s math
on the CPU engine: im2col + BLAS, strided-slice pooling) and the Numba backend (compiled direct
loops), runs interleaved NumPy/Numba/NumPy/Numba because a shared machine is noisy, and the
ratio. The course's loop-by-loop versions (``mtl_numpy.backends.naive``) run at ``--naive-m``
examples only and are scaled per example to ``m`` (marked ``~``). Outputs are checked against
NumPy before any timing. Numba's first-call compile time is printed separately (by default the
script compiles into a fresh temporary cache directory; ``--use-cache`` loads the package's
on-disk cache).

Both backends do their matrix products on BLAS (OpenBLAS's thread count applies to both; set
``OPENBLAS_NUM_THREADS=1`` for single-core figures); the Numba backend's compiled conv/pool
loops are serial.

This is a script, not a test: tests never time things.
"""
import argparse
import os
import tempfile
import time

_PARSER = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
_PARSER.add_argument("--m", type=int, default=256, help="batch size (default 256)")
_PARSER.add_argument("--naive-m", type=int, default=4,
                     help="batch size for the naive loops, scaled to m (default 4; 0 skips)")
_PARSER.add_argument("--repeat", type=int, default=9, help="timed runs per kernel (median)")
_PARSER.add_argument("--use-cache", action="store_true",
                     help="load Numba's on-disk cache instead of compiling afresh")

if __name__ == "__main__":
    _ARGS = _PARSER.parse_args()
    if not _ARGS.use_cache:   # before Numba is imported: a fresh cache, so the first call compiles
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="mtl_numba_cache_")

import numpy as np  # noqa: E402

from mtl_numpy.backends import naive  # noqa: E402
from mtl_numpy.backends import numpy_backend as npb  # noqa: E402


def _median_ms(samples):
    return 1e3 * float(np.median(samples))


def _interleaved(fns, repeat):
    """Time each callable ``repeat`` times, round-robin (A, B, A, B, ...): {name: [seconds]}."""
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def _check(name, ours, ref, dtype):
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(ours, ref):
        if a is None:
            continue
        scale = max(float(np.max(np.abs(b))), 1e-30)
        err = float(np.max(np.abs(np.asarray(a, np.float64) - b))) / scale
        if err > tol:
            raise SystemExit(f"{name}: Numba differs from NumPy by {err:.2e} (relative to max)")


def main(args):

    start = time.perf_counter()
    from mtl_numpy.backends import numba_backend as nbb
    import numba
    import_s = time.perf_counter() - start

    rng = np.random.default_rng(0)
    dtype = np.float32
    m = args.m
    conv_hp = {"stride": 1, "pad": 1}
    pool_hp = {"f": 2, "stride": 2}
    X = rng.random((m, 32, 32, 3)).astype(dtype)
    W1 = (rng.standard_normal((3, 3, 3, 16)) * np.sqrt(2 / 27)).astype(dtype)
    b1 = (0.1 * rng.standard_normal((1, 1, 1, 16))).astype(dtype)
    W2 = (rng.standard_normal((3, 3, 16, 32)) * np.sqrt(2 / 144)).astype(dtype)
    b2 = (0.1 * rng.standard_normal((1, 1, 1, 32))).astype(dtype)

    # One forward pass to get every layer's input, and upstream gradients of the right shapes.
    Z1, _ = npb.conv_forward(X, W1, b1, conv_hp)
    A1 = np.maximum(Z1, 0)
    P1, _ = npb.pool_forward(A1, pool_hp)
    Z2, _ = npb.conv_forward(P1, W2, b2, conv_hp)
    A2 = np.maximum(Z2, 0)
    P2, _ = npb.pool_forward(A2, pool_hp)
    dZ1 = rng.standard_normal(Z1.shape).astype(dtype) / m
    dZ2 = rng.standard_normal(Z2.shape).astype(dtype) / m
    dP1 = rng.standard_normal(P1.shape).astype(dtype) / m
    dP2 = rng.standard_normal(P2.shape).astype(dtype) / m

    cases = [
        # name, shape note, {backend: callable}, naive callable on the first naive_m examples
        ("conv1 forward", "(m,32,32,3)*(3,3,3,16)",
         lambda bk: (lambda: bk.conv_forward(X, W1, b1, conv_hp)),
         lambda k: naive.conv_forward(X[:k], W1, b1, conv_hp)),
        ("conv1 backward", "dA_prev, dW, db",
         lambda bk: (lambda: bk.conv_backward(dZ1, (X, W1, b1, conv_hp))),
         lambda k: naive.conv_backward(dZ1[:k], (X[:k], W1, b1, conv_hp))),
        ("pool1 forward", "(m,32,32,16) max 2/2",
         lambda bk: (lambda: bk.pool_forward(A1, pool_hp)),
         lambda k: naive.pool_forward(A1[:k], pool_hp)),
        ("pool1 backward", "first-max routing",
         lambda bk: (lambda: bk.pool_backward(dP1, (A1, pool_hp))),
         lambda k: naive.pool_backward(dP1[:k], (A1[:k], pool_hp))),
        ("conv2 forward", "(m,16,16,16)*(3,3,16,32)",
         lambda bk: (lambda: bk.conv_forward(P1, W2, b2, conv_hp)),
         lambda k: naive.conv_forward(P1[:k], W2, b2, conv_hp)),
        ("conv2 backward", "dA_prev, dW, db",
         lambda bk: (lambda: bk.conv_backward(dZ2, (P1, W2, b2, conv_hp))),
         lambda k: naive.conv_backward(dZ2[:k], (P1[:k], W2, b2, conv_hp))),
        ("pool2 forward", "(m,16,16,32) max 2/2",
         lambda bk: (lambda: bk.pool_forward(A2, pool_hp)),
         lambda k: naive.pool_forward(A2[:k], pool_hp)),
        ("pool2 backward", "first-max routing",
         lambda bk: (lambda: bk.pool_backward(dP2, (A2, pool_hp))),
         lambda k: naive.pool_backward(dP2[:k], (A2[:k], pool_hp))),
    ]

    # Correctness first, and Numba's compile (or cache-load) time on the first calls.
    compile_s = 0.0
    for name, _, make, _ in cases:
        ref = make(npb)()
        start = time.perf_counter()
        ours = make(nbb)()
        compile_s += time.perf_counter() - start
        ref = ref if isinstance(ref, tuple) else (ref,)
        ours = ours if isinstance(ours, tuple) else (ours,)
        if name.endswith("forward"):
            ref, ours = ref[:1], ours[:1]
        _check(name, ours, ref, dtype)

    print(f"conv / max-pool kernels, float32, m = {m}, reference CNN shapes; "
          f"numpy {np.__version__}, numba {numba.__version__}; {os.cpu_count()} CPUs")
    print(f"numba backend import {import_s:.2f} s; first calls of the 8 kernels "
          f"({'cache load' if args.use_cache else 'compile'}) {compile_s:.2f} s; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"median of {args.repeat} interleaved runs, ms; naive measured at m = {args.naive_m} "
          f"and scaled to m = {m} (~)")
    header = (f"| {'kernel':<15} | {'shape':<25} | {'naive ms':>10} | {'NumPy ms':>9} | "
              f"{'Numba ms':>9} | {'NumPy/Numba':>11} | {'naive/Numba':>11} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    totals = {"numpy": 0.0, "numba": 0.0}
    for name, note, make, naive_fn in cases:
        times = _interleaved({"numpy": make(npb), "numba": make(nbb)}, args.repeat)
        t_np, t_nb = _median_ms(times["numpy"]), _median_ms(times["numba"])
        totals["numpy"] += t_np
        totals["numba"] += t_nb
        if args.naive_m > 0:
            k = min(args.naive_m, m)
            start = time.perf_counter()
            naive_fn(k)
            t_naive = 1e3 * (time.perf_counter() - start) * m / k
            naive_col, naive_ratio = f"~{t_naive:,.0f}", f"~{t_naive / t_nb:,.0f}x"
        else:
            naive_col, naive_ratio = "-", "-"
        print(f"| {name:<15} | {note:<25} | {naive_col:>10} | {t_np:>9.2f} | {t_nb:>9.2f} | "
              f"{t_np / t_nb:>10.1f}x | {naive_ratio:>11} |")
    print(f"| {'all eight':<15} | {'':<25} | {'':>10} | {totals['numpy']:>9.2f} | "
          f"{totals['numba']:>9.2f} | {totals['numpy'] / totals['numba']:>10.1f}x | {'':>11} |")


if __name__ == "__main__":
    main(_ARGS)
