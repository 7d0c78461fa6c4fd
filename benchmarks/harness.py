"""Shared helpers for the benchmarks: timing, worker processes, tables, plots, GPU references.

Timing rules (the project's METHOD notes, in code):

* correctness first: every benchmark checks its numbers against the NumPy backend before timing;
* CPU: ``time.perf_counter`` around a block of calls, warm-up first, **interleaved** runs (each
  repeat runs every contender once, in rotation, so a noisy neighbour on a shared 2-core host
  hits everyone alike), median of the repeats;
* GPU: ``cupyx.profiler.benchmark`` (CUDA events) or ``torch.cuda.Event`` after a warm-up, never a
  host clock without a synchronize;
* contenders with their own thread pools (Numba, PyTorch) run in separate worker processes, so the
  pools never compete (see :class:`Worker`).

This is benchmark code, not test code: tests never time things.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import platform
import statistics
import time
import traceback

import numpy as np

__all__ = [
    "thread_env", "median", "parse_sizes", "format_table", "interleaved", "rotation", "Worker",
    "machine_summary", "gpu_available", "bench_gpu_cost", "copy_bandwidth", "plot_per_example",
    "scaled_error",
]


def thread_env(n_threads):
    """Environment that limits every CPU thread pool (BLAS, OpenMP, Numba) to ``n_threads``.

    Also ``OMP_WAIT_POLICY=PASSIVE`` (unless already set): idle OpenMP threads sleep instead of
    spinning, so a pool that finished its region does not steal the cores on a busy host (as
    ``benchmarks/bench_cost.py`` does too).
    """
    n = str(int(n_threads))
    return {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "NUMBA_NUM_THREADS": n, "VECLIB_MAXIMUM_THREADS": n,
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}


def median(values):
    """Median of a non-empty sequence of numbers."""
    return float(statistics.median(values))


def scaled_error(ours, theirs):
    """``max |ours - theirs| / (max |ours| + max |theirs|)``, a rounding-safe relative error."""
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        return math.inf
    if not np.isfinite(ours).all():
        return math.inf
    scale = np.max(np.abs(ours)) + np.max(np.abs(theirs)) if ours.size else 0.0
    return float(np.max(np.abs(ours - theirs)) / scale) if scale > 0 else 0.0


def parse_sizes(text):
    """``"64,256,1024"`` -> ``[64, 256, 1024]``; ``"16,32,...,4096"`` continues the ratio of the
    first two terms up to the last (here: powers of two from 16 to 4096)."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if "..." not in parts:
        sizes = [int(float(p)) for p in parts]
    else:
        k = parts.index("...")
        head, tail = [int(float(p)) for p in parts[:k]], [int(float(p)) for p in parts[k + 1:]]
        if len(head) < 2 or len(tail) != 1:
            raise ValueError(f"sizes: write '...' as 'a,b,...,z'; got {text!r}")
        ratio = head[1] / head[0]
        if ratio <= 1:
            raise ValueError(f"sizes: 'a,b,...,z' needs b > a; got {text!r}")
        sizes = list(head)
        while sizes[-1] * ratio <= tail[0] * (1 + 1e-9):
            sizes.append(int(round(sizes[-1] * ratio)))
        if sizes[-1] != tail[0]:
            sizes.append(tail[0])
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(f"sizes must be positive integers; got {text!r}")
    return sizes


def format_table(headers, rows, align=None):
    """A Markdown pipe table (readable as plain text too). ``align``: one of 'l'/'r' per column."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or ["l"] + ["r"] * (len(headers) - 1)

    def line(row):
        out = []
        for text, width, a in zip(row, widths, align):
            out.append(text.ljust(width) if a == "l" else text.rjust(width))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2))
                         for w, a in zip(widths, align)) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def rotation(names, r):
    """The order of repeat ``r``: ``names`` rotated by ``r`` (A B C, B C A, C A B, ...)."""
    names = list(names)
    if not names:
        return names
    k = r % len(names)
    return names[k:] + names[:k]


def interleaved(fns, repeat, warmup=1):
    """Time in-process callables, A/B interleaved: ``{name: [seconds per call]}``.

    Each callable runs ``warmup`` times first; then, for each repeat, every callable runs once,
    in a rotated order.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for r in range(repeat):
        for name in rotation(fns, r):
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


# ----------------------------------------------------------------------------------------------
# Worker processes: one contender per process, driven over a pipe
# ----------------------------------------------------------------------------------------------

def _worker_main(conn, factory, args):
    """Child process: build ``factory(*args)``, then run ``(method, args)`` requests on it."""
    try:
        runner = factory(*args)
        conn.send(("ok", getattr(runner, "info", lambda: {})()))
    except BaseException as exc:  # noqa: BLE001 - report any failure to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        conn.close()
        return
    while True:
        try:
            method, call_args = conn.recv()
        except EOFError:
            break
        if method == "stop":
            break
        try:
            conn.send(("ok", getattr(runner, method)(*call_args)))
        except BaseException:  # noqa: BLE001
            conn.send(("error", traceback.format_exc()))
    conn.close()


class WorkerError(RuntimeError):
    """A worker process failed to start or to run a request."""


class Worker:
    """A contender in its own process (``spawn``: a fresh interpreter, its own thread pools).

    ``factory`` must be an importable top-level callable; ``factory(*args)`` builds the runner
    object in the child, and ``worker.call("method", ...)`` runs ``runner.method(...)`` there and
    returns the result (pickled). While one worker runs, the parent and every other worker wait
    on their pipes: only one contender uses the CPU at a time.
    """

    def __init__(self, label, factory, *args, env=None, timeout=1800):
        self.label = label
        self.timeout = timeout
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_worker_main, args=(child, factory, args), daemon=True,
                                    name=f"bench-{label}")
        # The child inherits the environment at start: thread-count variables must be set
        # before it imports NumPy (OpenBLAS), Numba or torch, so they go in here.
        saved = {k: os.environ.get(k) for k in (env or {})}
        os.environ.update({k: str(v) for k, v in (env or {}).items()})
        try:
            self._process.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        self.info = self._receive("start")

    def _receive(self, what):
        if not self._conn.poll(self.timeout):
            self.close()
            raise WorkerError(f"{self.label}: no answer to {what} within {self.timeout} s")
        try:
            status, value = self._conn.recv()
        except EOFError:
            raise WorkerError(f"{self.label}: the worker process died during {what} "
                              f"(exit code {self._process.exitcode})") from None
        if status != "ok":
            raise WorkerError(f"{self.label}: {what} failed:\n{value}")
        return value

    def call(self, method, *args):
        self._conn.send((method, args))
        return self._receive(method)

    def close(self):
        if self._process.is_alive():
            try:
                self._conn.send(("stop", ()))
            except (BrokenPipeError, OSError):
                pass
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------------------------------------
# Machine description
# ----------------------------------------------------------------------------------------------

def gpu_available():
    """True when CuPy is importable and sees a CUDA GPU (without importing it needlessly twice)."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001
        return False


def _openblas_summary():
    """NumPy's OpenBLAS: the kernel set it runs (``OPENBLAS_CORETYPE`` can force an older one,
    e.g. AVX2 "Haswell" kernels on an AVX-512 CPU, about half the float32 GEMM speed) and the
    thread count mtl_numpy's CPU pool uses."""
    try:
        import ctypes

        from mtl_numpy.backends._cpu import cpu_pool

        pool = cpu_pool()
        lib = getattr(pool, "lib", None)
        if lib is None:
            return ""
        core = "?"
        for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                       "openblas_get_corename64_", "openblas_get_corename"):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                core = fn().decode()
                break
        forced = os.environ.get("OPENBLAS_CORETYPE")
        return (f"OpenBLAS kernels: {core}" + (f" (OPENBLAS_CORETYPE={forced})" if forced else "")
                + f"; mtl_numpy CPU pool: {pool.threads} threads"
                + ("" if pool.set_local else " (no openblas_set_num_threads_local: serial)"))
    except Exception:  # noqa: BLE001 - a description, never a failure
        return ""


def machine_summary():
    """One line per fact: CPU, cores, library versions, GPU."""
    lines = [f"python {platform.python_version()}, {platform.machine()}, "
             f"{os.cpu_count()} logical CPUs"
             + (f" ({len(os.sched_getaffinity(0))} usable)" if hasattr(os, "sched_getaffinity") else "")]
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
        if model:
            lines.append(f"CPU: {model}")
    except OSError:
        pass
    versions = [f"numpy {np.__version__}"]
    for mod in ("numba", "cupy", "torch"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001
            pass
    lines.append(", ".join(versions))
    blas = _openblas_summary()
    if blas:
        lines.append(blas)
    if gpu_available():
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        lines.append(f"GPU: {name}, {props['totalGlobalMem'] / 2**30:.0f} GiB, "
                     f"{props['multiProcessorCount']} SMs; CUDA runtime "
                     f"{cupy.cuda.runtime.runtimeGetVersion()}, driver "
                     f"{cupy.cuda.runtime.driverGetVersion()}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# GPU references: copy bandwidth and the masked cost kernel
# ----------------------------------------------------------------------------------------------

def _gpu_median_ms(fn, n_repeat, n_warmup):
    """Median GPU time of ``fn()`` in ms (CUDA events, via ``cupyx.profiler.benchmark``)."""
    from cupyx.profiler import benchmark

    result = benchmark(fn, n_repeat=n_repeat, n_warmup=n_warmup)
    return 1e3 * float(np.median(result.gpu_times))


def copy_bandwidth(nbytes, n_repeat=20):
    """Device-to-device copy ``b[...] = a`` of ``nbytes``: ``(ms, GB/s)`` counting read + write."""
    import cupy

    n = nbytes // 4
    a = cupy.random.random(n, dtype=np.float32)
    b = cupy.empty_like(a)

    def copy():
        b[...] = a

    copy()
    if not bool(cupy.array_equal(a, b)):
        raise RuntimeError("device copy check failed")
    ms = _gpu_median_ms(copy, n_repeat, 3)
    return ms, 2 * a.nbytes / (ms * 1e-3) / 1e9


def bench_gpu_cost(m=100_000_000, n_tasks=4, dtype="float32", n_repeat=20, check_m=1_000_000):
    """The masked cost kernel at ``n_tasks x m`` against a device copy of the same size.

    The fused kernel must read ``ZL`` and ``Y`` and write ``dZ[L]``: three arrays, the fewest bytes
    it can move, so its floor is ``3 n bytes / copy bandwidth``. The two-pass reference
    (ReductionKernel + ElementwiseKernel) reads ``ZL`` and ``Y`` twice: five arrays.

    Returns the printed text (a table plus the check line).
    """
    import cupy

    from mtl_numpy.backends import get_backend
    from mtl_numpy.backends import numpy_backend as nb

    cb = get_backend("cupy")
    dt = np.dtype(dtype)
    rng = np.random.default_rng(0)

    # Correctness first, at a size NumPy can do quickly, every entry written (poisoned output).
    Z = (rng.standard_normal((n_tasks, check_m)) * 3).astype(dt)
    Y = (rng.random((n_tasks, check_m)) < 0.5).astype(dt)
    Y[rng.random(Y.shape) < 0.3] = np.nan
    J_ref, dZ_ref = nb.masked_logistic_cost_and_grad(Z, Y, "examples")
    out = cupy.full(Z.shape, np.nan, dtype=dt)
    J, dZ = cb._masked_cost_fused(cupy.asarray(Z), cupy.asarray(Y), "examples", out=out)
    err_J = abs(J - J_ref) / abs(J_ref)
    err_dZ = scaled_error(cupy.asnumpy(dZ), dZ_ref)
    tol = 1e-4 if dt == np.float32 else 1e-9
    if not (err_J < tol and err_dZ < tol):
        raise RuntimeError(f"masked cost kernel disagrees with NumPy: cost {err_J:.2e}, dZ {err_dZ:.2e}")
    del Z, Y, dZ_ref, out, dZ

    # The big arrays are made on the device (random, never zeros), not copied from the host.
    n = n_tasks * m
    gen = cupy.random.default_rng(1)
    Zg = (gen.standard_normal((n_tasks, m), dtype=np.float64 if dt == np.float64 else np.float32) * 3)
    Yg = (gen.random((n_tasks, m), dtype=np.float32) < 0.5).astype(dt)
    Yg[gen.random((n_tasks, m), dtype=np.float32) < 0.3] = np.nan
    J_fused, _ = cb._masked_cost_fused(Zg, Yg, "examples")
    J_two, _ = cb._masked_cost_two_pass(Zg, Yg, "examples")
    if abs(J_fused - J_two) > 1e-5 * abs(J_two):
        raise RuntimeError(f"fused and two-pass costs differ at full size: {J_fused} vs {J_two}")

    nbytes = n * dt.itemsize
    copy_ms, copy_gbs = copy_bandwidth(nbytes, n_repeat)
    rows = []
    for label, fn, arrays in (
        ("fused kernel (masked_logistic_cost_and_grad)", lambda: cb._masked_cost_fused(Zg, Yg, "examples"), 3),
        ("two-pass reference (reduction + elementwise)", lambda: cb._masked_cost_two_pass(Zg, Yg, "examples"), 5),
    ):
        ms = _gpu_median_ms(fn, n_repeat, 3)
        moved = arrays * nbytes
        floor_ms = 3 * nbytes / (copy_gbs * 1e9) * 1e3
        rows.append([label, f"{ms:.3f}", f"{moved / 1e9:.2f}", f"{moved / (ms * 1e-3) / 1e9:.0f}",
                     f"{floor_ms:.3f}", f"{ms / floor_ms:.2f}"])
    rows.append([f"device copy b[...] = a ({nbytes / 1e9:.2f} GB)", f"{copy_ms:.3f}",
                 f"{2 * nbytes / 1e9:.2f}", f"{copy_gbs:.0f}", "", ""])
    table = format_table(
        ["", "ms (median)", "GB moved", "GB/s", "floor ms (3 arrays at copy GB/s)", "x floor"], rows)
    return (f"Masked cost on the GPU, ZL and Y of shape ({n_tasks}, {m:,}) {dt.name}, "
            f"normalize='examples'; {n_repeat} timed runs after warm-up (CUDA events)\n"
            f"check vs NumPy at m = {check_m:,}: cost rel. error {err_J:.1e}, dZ error {err_dZ:.1e}; "
            f"fused vs two-pass at full size: {abs(J_fused - J_two) / abs(J_two):.1e}\n\n{table}\n")


# ----------------------------------------------------------------------------------------------
# Plot
# ----------------------------------------------------------------------------------------------

def plot_per_example(series, path, title="Training step time per example"):
    """Log-log plot of time per example vs batch size, one line per backend, one panel per model.

    ``series``: ``{model: {backend: [(m, seconds_per_step), ...]}}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(series)
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.5), squeeze=False)
    for ax, model in zip(axes[0], models):
        for backend, points in sorted(series[model].items()):
            points = sorted(points)
            if not points:
                continue
            ms = [m for m, _ in points]
            us = [1e6 * t / m for m, t in points]
            style = "--" if backend.startswith("torch") else "-"
            ax.plot(ms, us, style, marker="o", label=backend)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size m")
        ax.set_ylabel("µs per example (one training step / m)")
        ax.set_title(model)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
