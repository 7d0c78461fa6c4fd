"""Fused masked logistic cost + gradient: NumPy backend vs Numba (serial, parallel) vs PyTorch.

Run ``python benchmarks/bench_cost.py`` (options: ``--m``, ``--repeat``, ``--threads``,
``--use-cache``).

For labels ``Y`` of shape ``(4, m)`` (30 % '?') and logits ``ZL`` of the same shape, float32, it
times one call of ``masked_logistic_cost_and_grad(ZL, Y, "examples")`` -- the cost *and* ``dZL``:

* ``numpy``       -- :mod:`mtl_numpy.backends.numpy_backend` (vectorised, several passes);
* ``numba 1T``    -- the Numba kernel, serial (one pass, SIMD polynomial exp/log1p);
* ``numba par``   -- the same kernel over ``prange`` chunks with per-chunk partial sums;
* ``torch``       -- ``binary_cross_entropy_with_logits(z, where(mask, Y, 0), weight=mask,
  reduction="sum") / m`` then ``.backward()`` on CPU, in a separate process with
  ``torch.set_num_threads(threads)`` so that its thread pool and Numba's never run at once
  (and ``OMP_WAIT_POLICY=PASSIVE`` unless set: idle pools sleep rather than spin).

Runs are interleaved (numpy, numba 1T, numba par, torch, numpy, ...) because a shared machine
is noisy; the table gives the median in ms, the effective bandwidth in GB/s counting
``ZL`` read + ``Y`` read + ``dZL`` written (12 bytes per entry in float32), and the ratios.
Every contender is checked against the NumPy backend before timing. Numba's compile time is
printed separately: by default the script compiles into a fresh temporary cache directory, so
it is the real compile time (``--use-cache`` loads the package's on-disk cache instead).

This is a script, not a test: tests never time things.
"""
import argparse
import os
import sys
import tempfile
import time

_ARGS = None
if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _parser.add_argument("--m", type=float, nargs="+", default=[1e5, 1e6, 1e7],
                         help="numbers of examples (columns of Y), default 1e5 1e6 1e7")
    _parser.add_argument("--repeat", type=int, default=11, help="timed runs per contender")
    _parser.add_argument("--threads", type=int, default=2,
                         help="threads for numba's parallel kernel and for torch (default 2)")
    _parser.add_argument("--use-cache", action="store_true",
                         help="load Numba's on-disk cache instead of compiling afresh")
    _parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    _ARGS = _parser.parse_args()
    # Before NumPy / Numba are imported: Numba's pool size, no BLAS threads (none are used here),
    # and a fresh cache directory so that the first call really compiles.
    os.environ.setdefault("NUMBA_NUM_THREADS", str(_ARGS.threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine a pool spinning
    # after its region steals the cores from whoever runs next (measured: torch with 2 threads
    # at m = 1e5 takes ~240 ms with spinning threads, ~4 ms without). Torch's process inherits it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if not _ARGS.use_cache:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="mtl_numba_cache_")

import multiprocessing as mp  # noqa: E402

import numpy as np  # noqa: E402

N_TASKS = 4
MISSING = 0.3


def make_data(m, seed=0):
    """Logits ~ 3 N(0, 1) and labels 0/1 with 30 % nan, float32, shape (4, m)."""
    rng = np.random.default_rng(seed)
    ZL = (3.0 * rng.standard_normal((N_TASKS, m))).astype(np.float32)
    Y = (rng.random((N_TASKS, m)) < 0.5).astype(np.float32)
    Y[rng.random((N_TASKS, m)) < MISSING] = np.nan
    return ZL, Y


# ----------------------------------------------------------------------------- torch worker
def _torch_worker(conn, threads):
    """Separate process: owns torch's thread pool; times one call per request."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as exc:
        conn.send(("missing", str(exc)))
        return
    torch.set_num_threads(threads)
    conn.send(("ok", torch.__version__))
    state = {}

    def step():
        ZL_t, Y_t, m = state["ZL"], state["Y"], state["m"]
        z = ZL_t.detach().requires_grad_(True)
        mask = ~torch.isnan(Y_t)
        y0 = torch.where(mask, Y_t, torch.zeros((), dtype=Y_t.dtype))
        cost = F.binary_cross_entropy_with_logits(z, y0, weight=mask.to(z.dtype),
                                                  reduction="sum") / m
        cost.backward()
        return cost.item(), z.grad

    while True:
        msg = conn.recv()
        if msg[0] == "data":
            m = msg[1]
            ZL, Y = make_data(m)
            state.update(ZL=torch.from_numpy(ZL), Y=torch.from_numpy(Y), m=m)
            cost, grad = step()                                   # warm-up
            conn.send((cost, grad.numpy()))
        elif msg[0] == "time":
            start = time.perf_counter()
            step()
            conn.send(time.perf_counter() - start)
        else:
            return


def main(args):
    import numba

    from mtl_numpy.backends import numba_backend as nbb
    from mtl_numpy.backends import numpy_backend as npb

    # Compile (or load from cache) both versions on a tiny input and time it.
    ZL, Y = make_data(64)
    start = time.perf_counter()
    nbb.masked_logistic_cost_and_grad(ZL, Y, "examples", parallel=False)
    serial_s = time.perf_counter() - start
    start = time.perf_counter()
    nbb.masked_logistic_cost_and_grad(ZL, Y, "examples", parallel=True)
    parallel_s = time.perf_counter() - start

    torch_conn, torch_proc, torch_version = None, None, None
    if not args.no_torch:
        ctx = mp.get_context("spawn")
        torch_conn, child = ctx.Pipe()
        torch_proc = ctx.Process(target=_torch_worker, args=(child, args.threads), daemon=True)
        torch_proc.start()
        status, info = torch_conn.recv()
        if status == "ok":
            torch_version = info
        else:
            torch_proc.join()
            torch_conn = None

    import llvmlite
    print(f"masked logistic cost + gradient, Y (4, m) float32, {MISSING:.0%} '?'; "
          f"numpy {np.__version__}, numba {numba.__version__}, llvmlite {llvmlite.__version__}, "
          f"torch {torch_version or 'not installed (PyTorch not installed)'}")
    print(f"numba: {numba.get_num_threads()} threads ({numba.threading_layer()}) for 'par'; "
          f"torch: {args.threads} threads in its own process; {os.cpu_count()} CPUs; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"numba first call ({'cache load' if args.use_cache else 'compile'}): "
          f"serial {serial_s:.2f} s, parallel {parallel_s:.2f} s")
    print(f"median of {args.repeat} interleaved runs; GB/s = (ZL read + Y read + dZL written) / time")
    header = (f"| {'m':>10} | {'NumPy ms':>9} | {'Numba 1T ms':>11} | {'Numba par ms':>12} | "
              f"{'PyTorch ms':>10} | {'NumPy GB/s':>10} | {'Numba GB/s':>10} | "
              f"{'PyTorch GB/s':>12} | {'numba/numpy':>11} | {'numba/torch':>11} |")
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")

    for m_float in args.m:
        m = int(m_float)
        ZL, Y = make_data(m)
        ref_cost, ref_grad = npb.masked_logistic_cost_and_grad(ZL, Y, "examples")
        contenders = {
            "numpy": lambda: npb.masked_logistic_cost_and_grad(ZL, Y, "examples"),
            "serial": lambda: nbb.masked_logistic_cost_and_grad(ZL, Y, "examples", parallel=False),
            "parallel": lambda: nbb.masked_logistic_cost_and_grad(ZL, Y, "examples", parallel=True),
        }
        scale = float(np.max(np.abs(ref_grad)))
        for name in ("serial", "parallel"):
            cost, grad = contenders[name]()
            _check(name, cost, grad, ref_cost, ref_grad, scale)
        if torch_conn is not None:
            torch_conn.send(("data", m))
            cost, grad = torch_conn.recv()
            _check("torch", cost, grad, ref_cost, ref_grad, scale)
        times = {name: [] for name in (*contenders, "torch")}
        for _ in range(args.repeat):
            for name, fn in contenders.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
            if torch_conn is not None:
                torch_conn.send(("time",))
                times["torch"].append(torch_conn.recv())
        ms = {name: 1e3 * float(np.median(t)) if t else float("nan") for name, t in times.items()}
        nbytes = 3 * ZL.nbytes
        best = min(ms["serial"], ms["parallel"])
        gbs = {name: nbytes / (ms[name] * 1e-3) / 1e9 for name in ms}
        torch_ms = f"{ms['torch']:>10.2f}" if torch_conn is not None else f"{'n/a':>10}"
        torch_gbs = f"{gbs['torch']:>12.1f}" if torch_conn is not None else f"{'n/a':>12}"
        vs_torch = f"{ms['torch'] / best:>10.1f}x" if torch_conn is not None else f"{'n/a':>11}"
        print(f"| {m:>10.0e} | {ms['numpy']:>9.2f} | {ms['serial']:>11.2f} | "
              f"{ms['parallel']:>12.2f} | {torch_ms} | {gbs['numpy']:>10.1f} | "
              f"{nbytes / (best * 1e-3) / 1e9:>10.1f} | {torch_gbs} | "
              f"{ms['numpy'] / best:>10.1f}x | {vs_torch} |")
        sys.stdout.flush()
    print("Numba GB/s and both ratios use the faster of 'Numba 1T' and 'Numba par'.")
    if torch_conn is not None:
        torch_conn.send(("stop",))
        torch_proc.join(timeout=10)


def _check(name, cost, grad, ref_cost, ref_grad, scale):
    cost_err = abs(cost - ref_cost) / abs(ref_cost)
    grad_err = float(np.max(np.abs(np.asarray(grad, np.float64) - ref_grad))) / scale
    if cost_err > 1e-4 or grad_err > 1e-4:
        raise SystemExit(f"{name} disagrees with the NumPy backend: cost {cost_err:.1e}, "
                         f"dZL {grad_err:.1e} (relative)")


if __name__ == "__main__":
    main(_ARGS)
