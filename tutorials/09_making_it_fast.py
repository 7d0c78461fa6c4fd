# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9. Making it fast: NumPy, Numba and CuPy
#
# **What we are about to do, and why.** Notebooks 6-8 train hundreds of small networks: the stored
# full run of all six experiments took "640.9 (10.7 min)" on two cores with the Numba backend,
# which [docs/experiments.md](../docs/experiments.md) ("Common choices") finds "1.4× faster than
# NumPy here" on the experiments' CNN. Which backend is fastest depends on how much work each call
# gets. We time, on every backend this machine runs, the fused masked cost of notebook 2
# (`mtl.masked_logistic_cost_and_grad(ZL, Y, backend=b)`) and a whole training step of the MLP and
# CNN of notebooks 4 and 5, and explain the curves: per-call overhead, memory-bound against
# compute-bound work, where a GPU wins; plus what Numba's first call costs and the compiler flag that
# silently breaks the '?' labels.
#
# The backends (README, "Backends"): `numpy`, the reference (BLAS products, im2col convolutions);
# `numba`, the same kernels compiled with `@njit` (one-pass masked cost, conv and pool loops, fused
# bias + ReLU; products still on BLAS); `cupy`, everything on the GPU.

# %%
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import matplotlib.pyplot as plt

from tqdm.auto import tqdm

import mtl_numpy as mtl
from tutorial_utils import repeat_times

# The test suite sets MTL_FAST=1: small data and few epochs, so that every notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting the text describes.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")

# %% [markdown]
# Numba caches compiled code on disk (`cache=True`). So that the compile timed below is a real one,
# the notebook gives Numba an empty cache folder (removed at the end), before Numba is imported:

# %%
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="mtl_numba_cache_")
backends = mtl.available_backends()
print("backends that run here:", backends)
for name in backends:
    print(f"  {name:<6} {mtl.get_backend(name).__name__}")

# %% [markdown]
# ## The kernel, and what it costs per example
#
# For each entry of the $4 \times m$ logits, with $N = m$, only where $y$ is not `nan`:
#
# $$J \mathrel{+}= \tfrac{1}{N}\big[\max(z,0) - z y + \log(1 + e^{-|z|})\big], \qquad
# dZ_{ji} = \tfrac{1}{N}\,(\sigma(z) - y).$$
#
# In float32 each entry moves 12 bytes (read $z$ and $y$, write $dZ$) for a few tens of operations:
# a low **arithmetic intensity** (operations per byte). For large inputs the time is set by memory
# bandwidth (*memory-bound*); for small ones by what every call pays whatever its size: Python,
# input checks, a kernel launch (*overhead-bound*). NumPy makes several passes over memory (one
# temporary array per operation), the Numba kernel one. Inputs with 30% '?':

# %%
rng = np.random.default_rng(0)
sizes = (1_000, 10_000, 100_000) if FAST else (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
ZL_all = (3 * rng.standard_normal((4, max(sizes)))).astype(np.float32)
Y_all = np.where(rng.random((4, max(sizes))) < 0.3, np.nan, rng.random((4, max(sizes))) < 0.5).astype(np.float32)
print(f"ZL {ZL_all.shape} {ZL_all.dtype}, Y with {np.isnan(Y_all).mean():.0%} '?'; sizes m = {sizes}")

# %% [markdown]
# ## Numba's first call is a compile
#
# `@njit` compiles on the first call with new argument types, so time it apart from the steady
# state and never count it in a benchmark. With `cache=True` a *new* process loads the machine code
# instead (the last line: a fresh process using the cache the first call just wrote). Rerunning the
# cell in the same kernel no longer compiles; restart the kernel to measure again.

# %%
if "numba" in backends:
    ZL, Y = np.ascontiguousarray(ZL_all[:, :1000]), np.ascontiguousarray(Y_all[:, :1000])
    calls = []
    for _ in range(3):
        t0 = time.perf_counter()
        mtl.masked_logistic_cost_and_grad(ZL, Y, backend="numba")
        calls.append(time.perf_counter() - t0)
    print(f"numba, 1st call: {calls[0] * 1e3:8.1f} ms   (compile + run)")
    print(f"numba, 2nd call: {calls[1] * 1e3:8.3f} ms")
    print(f"numba, 3rd call: {calls[2] * 1e3:8.3f} ms   -> compile time about {(calls[0] - calls[2]) * 1e3:.0f} ms")

    new_process = (
        "import time, numpy as np, mtl_numpy as mtl; mtl.get_backend('numba'); "
        "Z = np.zeros((4, 1000), np.float32); Y = np.ones((4, 1000), np.float32); "
        "t0 = time.perf_counter(); mtl.masked_logistic_cost_and_grad(Z, Y, backend='numba'); "
        "print(time.perf_counter() - t0)")
    out = subprocess.run([sys.executable, "-c", new_process], capture_output=True, text=True, check=True)
    print(f"numba, 1st call in a new process, machine code loaded from the cache: {float(out.stdout) * 1e3:.1f} ms")
else:
    print("Numba is not installed here (pip install 'mtl-numpy[numba]'): nothing to compile")

# %% [markdown]
# ## Check before timing
#
# A fast wrong answer is worth nothing: every backend against the NumPy reference, same inputs.

# %%
ZL, Y = np.ascontiguousarray(ZL_all[:, :10_000]), np.ascontiguousarray(Y_all[:, :10_000])
J_ref, dZ_ref = mtl.masked_logistic_cost_and_grad(ZL, Y, backend="numpy")
for name in backends:
    J, dZ = mtl.masked_logistic_cost_and_grad(ZL, Y, backend=name)
    print(f"{name:<6} J = {J:.7f}   |J - J_numpy| / J_numpy = {abs(J - J_ref) / J_ref:.1e}"
          f"   max |dZL - dZL_numpy| = {np.max(np.abs(mtl.to_numpy(dZ) - dZ_ref)):.1e}")

# %% [markdown]
# ## Timing the kernel
#
# On a CPU the standard library suffices: `timeit.repeat` (through `repeat_times` in
# `tutorial_utils.py`), many calls per block for small inputs, a warm-up call first, and the
# **best** of several repeats (the others were slowed by something else). Beside it the **spread**,
# slowest repeat over fastest: a difference between backends smaller than it is not a result. On a
# GPU, CuPy calls return once the work is *queued*, so a host clock measures the queueing;
# `cupyx.profiler.benchmark` records CUDA events and synchronizes.

# %%
cpu_backends = [name for name in backends if name != "cupy"]
kernel_times = {name: {} for name in cpu_backends}
spread = {}                                   # (what, backend, m) -> slowest repeat / fastest repeat
# The full setting takes about half a minute here: a bar between timings (not inside one) shows progress.
bar = tqdm(total=len(sizes) * len(cpu_backends), desc="kernel timings", unit="timing", disable=FAST)
for m in sizes:
    ZL, Y = np.ascontiguousarray(ZL_all[:, :m]), np.ascontiguousarray(Y_all[:, :m])
    for name in cpu_backends:
        f = lambda: mtl.masked_logistic_cost_and_grad(ZL, Y, backend=name)
        f()
        times = repeat_times(f, number=max(1, 200_000 // m), repeat=5)
        kernel_times[name][m], spread["cost", name, m] = min(times), max(times) / min(times)
        bar.update(1)
    print(f"m = {m:>10,}: " + "   ".join(
        f"{name} {kernel_times[name][m] * 1e3:9.3f} ms ({kernel_times[name][m] / m * 1e9:6.1f} ns/example,"
        f" spread x{spread['cost', name, m]:.2f})" for name in cpu_backends))
bar.close()

# %%
if "cupy" in backends:
    import cupy as cp
    from cupyx.profiler import benchmark

    kernel_times["cupy"] = {}
    for m in sizes:
        ZL_gpu = cp.asarray(np.ascontiguousarray(ZL_all[:, :m]))
        Y_gpu = cp.asarray(np.ascontiguousarray(Y_all[:, :m]))
        result = benchmark(mtl.masked_logistic_cost_and_grad, (ZL_gpu, Y_gpu), {"backend": "cupy"},
                           n_repeat=20, n_warmup=3)
        kernel_times["cupy"][m] = float(result.gpu_times.min())
        print(f"m = {m:>10,}: cupy {kernel_times['cupy'][m] * 1e3:9.3f} ms ({kernel_times['cupy'][m] / m * 1e9:6.2f} ns/example)")
else:
    print("no GPU here: CuPy cannot run on this machine, so there is no cupy line in the figures below")

# %% [markdown]
# These times include the public function's input checks (exercise 1 times the kernel alone).
#
# ## Timing a whole training step
#
# One step is what `mtl.fit` does per mini-batch: `model.cost_and_grads(X, Y)` then
# `optimizer.update(model.params, grads)`, for the MLP $3072 \to 256 \to 128 \to 4$ and the default
# `SharedCNN`, float32. The same seed gives the same parameters on every backend, so the first
# step's cost and $dW^{[1]}$ are checked against NumPy (`gradient_difference`,
# $\lVert a - b\rVert / (\lVert a\rVert + \lVert b\rVert)$). The first step (where Numba compiles)
# is timed on its own.

# %%
step_sizes = {"MLP": (8, 32, 128) if FAST else (8, 32, 128, 512, 2048),
              "CNN": (8, 32) if FAST else (8, 32, 128, 512)}
repeat = 3 if FAST else 7
step_times, first_step, reference, inputs = {}, {}, {}, {}
# The full setting takes minutes: a bar between timings (not inside one) shows progress.
bar = tqdm(total=sum(map(len, step_sizes.values())) * len(cpu_backends), desc="step timings", unit="timing",
           disable=FAST)
for kind, batch_sizes in step_sizes.items():
    for m in batch_sizes:
        X = rng.random((3072, m), dtype=np.float32) if kind == "MLP" else rng.random((m, 32, 32, 3), dtype=np.float32)
        Y = np.ascontiguousarray(Y_all[:, :m])
        inputs[kind, m] = (X, Y)
        for name in cpu_backends:
            model = mtl.SharedMLP([3072, 256, 128, 4], seed=0, backend=name) if kind == "MLP" else mtl.SharedCNN(seed=0, backend=name)
            optimizer = mtl.Adam(learning_rate=1e-3)
            t0 = time.perf_counter()
            J, grads = model.cost_and_grads(X, Y)
            optimizer.update(model.params, grads)
            first = time.perf_counter() - t0
            if name == "numpy":
                reference[kind, m] = (J, grads["dW1"])
            J_ref, dW1_ref = reference[kind, m]
            step = lambda: optimizer.update(model.params, model.cost_and_grads(X, Y)[1])
            times = repeat_times(step, repeat=repeat)
            step_times.setdefault((kind, name), {})[m], spread[kind, name, m] = min(times), max(times) / min(times)
            first_step.setdefault((kind, name), first)
            bar.update(1)
            print(f"{kind} {name:<6} m = {m:>5}: first step {first * 1e3:8.1f} ms, then {step_times[kind, name][m] * 1e3:8.2f} ms/step"
                  f" (spread x{spread[kind, name, m]:.2f})"
                  f"   check: cost {abs(J - J_ref) / J_ref:.0e}, dW1 {mtl.gradcheck.gradient_difference(grads['dW1'], dW1_ref):.0e}")
bar.close()

# %%
if "cupy" in backends:
    import cupy as cp
    from cupyx.profiler import benchmark

    for kind, batch_sizes in step_sizes.items():
        for m in batch_sizes:
            X, Y = (cp.asarray(a) for a in inputs[kind, m])      # the CPU runs' inputs, copied to the GPU once
            model = mtl.SharedMLP([3072, 256, 128, 4], seed=0, backend="cupy") if kind == "MLP" else mtl.SharedCNN(seed=0, backend="cupy")
            optimizer = mtl.Adam(learning_rate=1e-3)
            t0 = time.perf_counter()
            J, grads = model.cost_and_grads(X, Y)
            optimizer.update(model.params, grads)
            cp.cuda.Device().synchronize()
            first_step.setdefault((kind, "cupy"), time.perf_counter() - t0)
            J_ref, dW1_ref = reference[kind, m]
            step = lambda: optimizer.update(model.params, model.cost_and_grads(X, Y)[1])
            result = benchmark(step, n_repeat=repeat, n_warmup=2)
            step_times.setdefault((kind, "cupy"), {})[m] = float(result.gpu_times.min())
            print(f"{kind} cupy   m = {m:>5}: {step_times[kind, 'cupy'][m] * 1e3:8.3f} ms/step   check: cost {abs(J - J_ref) / J_ref:.0e},"
                  f" dW1 {mtl.gradcheck.gradient_difference(mtl.to_numpy(grads['dW1']), dW1_ref):.0e}")
else:
    print("no GPU here: CuPy cannot run on this machine, so there is no cupy line in the figures below")

# %% [markdown]
# The same numbers as a table: time per step, examples per second, the ratio to NumPy (below 1 is
# faster), the larger spread of the two timings, and what this run resolves: a ratio further from 1
# than that spread.

# %%
def verdict(name, ratio, noise):
    """What a ratio to NumPy says, given the larger of the two timings' spreads."""
    if name == "numpy":
        return "(reference)"
    if max(ratio, 1 / ratio) <= noise:
        return "no difference resolved"
    return "faster" if ratio < 1 else "slower"


print(f"| {'model':<5} | {'backend':<7} | {'m':>5} | {'ms/step':>9} | {'examples/s':>11} | {'time / numpy':>12} | {'spread':>6} | {'this run says':<22} |")
print(f"|{'-' * 7}|{'-' * 9}|{'-' * 6}:|{'-' * 10}:|{'-' * 12}:|{'-' * 13}:|{'-' * 7}:|{'-' * 24}|")
for (kind, name), times in step_times.items():
    for m, t in times.items():
        ratio = t / step_times[kind, "numpy"][m]
        noise = max(spread.get((kind, name, m), 1.0), spread.get((kind, "numpy", m), 1.0))
        print(f"| {kind:<5} | {name:<7} | {m:>5} | {t * 1e3:>9.3f} | {m / t:>11,.0f} | {ratio:>12.2f} | x{noise:>5.2f} | {verdict(name, ratio, noise):<22} |")
print()
for (kind, name), first in first_step.items():
    print(f"first {kind} step on {name:<6}: {first:6.2f} s")

# %% [markdown]
# ## The picture: time per example against batch size
#
# A call costing a fixed $t_0$ plus $c$ per example takes $t_0/m + c$ per example: on log-log axes
# a line falling with slope $-1$ while overhead dominates, flattening to $c$ once the work does.

# %%
panels = {"masked cost + gradient": {name: times for name, times in kernel_times.items()}}
for kind in step_sizes:
    panels[f"{kind} training step"] = {name: times for (k, name), times in step_times.items() if k == kind}

fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
for ax, (title, series) in zip(axes, panels.items()):
    for name, times in series.items():
        m = np.array(list(times))
        ax.loglog(m, np.array(list(times.values())) / m, marker="o", label=name)
    ax.set(title=title, xlabel="examples per call (batch size m)", ylabel="seconds per example")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
fig.tight_layout()

# %% [markdown]
# How to read it:
#
# * **The kernel.** Falling lines are overhead being amortised; where a line flattens the kernel is
#   memory-bound and its height compares passes over memory (NumPy's several, Numba's one). A line
#   that *rises* belongs to a kernel whose temporaries have outgrown the caches. (Above $2^{20}$
#   entries Numba switches to its parallel kernel, `COST_PARALLEL_MIN` in
#   `mtl_numpy/backends/_numba_config.py`; on a busy two-core machine that can cost more than it
#   saves.)
# * **The training steps.** Most of a step is matrix products, on the same BLAS for both CPU
#   backends, so an MLP gap comes from the rest of the step or from noise; the CNN is where Numba's
#   own kernels (im2col, pooling, fused bias + ReLU) can show. The table's last column says which
#   gaps this run resolves. **On a busy or shared machine the spreads are large and most gaps are
#   not results:** rerun on a quiet machine before believing one.
#
# The full benchmark, `python -m benchmarks --help` (`cost`, `kernels`, `steps`, `gpu-cost`), takes
# more care: each contender in its own process, interleaved repeats, medians, a spread and a check
# column, first steps in their own table. Only ratios measured side by side mean anything; absolute
# times change with the machine.
#
# ## Where a GPU starts to win, and why
#
# A GPU has far more arithmetic throughput and bandwidth than a CPU core, and a larger fixed cost per
# call (each kernel launched from the host, a few µs, tens per training step; reading the cost back
# waits for the queue). Whether work is memory- or compute-bound is its arithmetic intensity against
# the machine's *ridge point*, peak operations per second over bandwidth. Rough intensities (the
# counts are estimates, stated in the code) and two ridge points from spec sheets (assumed, not
# measured here):

# %%
flops_per_entry, bytes_per_entry = 40, 12     # masked cost: rough operation count; float32 z, y read, dZ written
print(f"masked cost: about {flops_per_entry / bytes_per_entry:.1f} flop/byte at every m")

P_w = 3072 * 256 + 256 * 128 + 128 * 4        # weights of the reference MLP
units = 3072 + 256 + 128 + 4                  # activations per example
print(f"MLP step (weights {P_w:,}):")
for m in (1, 8, 64, 512, 4096):
    flops = 6 * m * P_w                        # forward 2 m P_w, backward 4 m P_w (dW and dA)
    nbytes = 4 * (10 * P_w + 4 * m * units)    # weights ~10 passes (forward, backward, dW, Adam), activations ~4
    print(f"  m = {m:>4}: about {flops / nbytes:6.1f} flop/byte")

machines = {"one CPU core (AVX-512 at ~3 GHz)": (190e9, 15e9),    # assumed: peak float32 flop/s, bytes/s
            "H100 SXM GPU (spec sheet)": (67e12, 3.35e12)}
for name, (peak, bandwidth) in machines.items():
    print(f"{name}: ridge point about {peak / bandwidth:.0f} flop/byte")

# %% [markdown]
# The masked cost is far below both ridge points: memory-bound everywhere, so a GPU wins only by
# bandwidth, once the input is large enough to hide the launch and read-back. The MLP step's
# intensity grows with the batch (weights are read once per step), so large batches become
# compute-bound, where the GPU's arithmetic pays. A rough crossover from this machine's CPU times and
# an **assumed** GPU overhead per call (on a machine with a GPU the measured cupy line replaces it):

# %%
gpu_overhead = {"masked cost + gradient": 100e-6,  # assumed: the input checks, a launch, one read-back of the cost
                "MLP training step": 500e-6}       # assumed: tens of launches (checks, forward, backward, Adam), read-backs
gpu_peak, gpu_bandwidth = machines["H100 SXM GPU (spec sheet)"]
gpu_per_example = {"masked cost + gradient": 4 * bytes_per_entry / gpu_bandwidth,
                   "MLP training step": max(6 * P_w / gpu_peak, 4 * 4 * units / gpu_bandwidth)}
m_kernel, m_step = max(sizes), max(step_sizes["MLP"])
fastest_cpu = {"masked cost + gradient": min(kernel_times[name][m_kernel] / m_kernel for name in cpu_backends),
               "MLP training step": min(step_times["MLP", name][m_step] / m_step for name in cpu_backends)}
for what in gpu_overhead:
    saved = fastest_cpu[what] - gpu_per_example[what]          # what the GPU saves per example
    m_cross = gpu_overhead[what] / saved if saved > 0 else np.inf
    if not np.isfinite(m_cross):
        order = "no batch size (it saves nothing per example)"
    elif m_cross < 10:
        order = "a few examples per call already"
    else:
        order = f"around 10^{np.log10(m_cross):.0f} examples per call"
    print(f"{what}: fastest CPU backend here {fastest_cpu[what] * 1e6:.4g} µs per example (at the largest m);"
          f" a GPU with {gpu_overhead[what] * 1e6:.0f} µs of overhead per call would start to win at {order}")
print("(an estimate: assumed GPU costs against this machine's CPU times, which move with its load;"
      " only the order of magnitude, and the gap between the two lines, mean anything)")

# %% [markdown]
# Only the orders of magnitude are the lesson: a kernel with little arithmetic per byte needs *many*
# examples per call before a GPU pays, a step made of matrix products needs few. Hence large batches
# for `mtl.fit` on a GPU, and a CuPy backend that fuses element-wise work into few launches and
# reads back only small results.
#
# ## A pitfall: `fastmath=True` and the '?' labels
#
# LLVM's fast math includes `nnan`: "no value is ever NaN". The Numba kernels detect a '?' with
# `y == y` (False only for NaN), which under `nnan` may be folded to True, so every '?' counts as a
# label and its NaN enters the cost. `mtl_numpy/backends/_numba_config.py` sets the package's flags
# in one place and leaves `nnan` and `ninf` out. The demonstration compiles a loop like the kernels'
# '?' test three ways (the one function defined in a cell: it *is* the point):

# %%
if "numba" in backends:
    import numba
    from mtl_numpy.backends import _numba_config

    def known_and_sum(z, y):              # count the known labels, and sum z * y over them
        n, total = 0, 0.0
        for i in range(z.size):
            if y[i] == y[i]:              # False only for nan: the kernels' '?' test
                n += 1
                total += z[i] * y[i]
        return n, total

    z, y = ZL_all[0, :1000], Y_all[0, :1000]
    print("the package's fast-math flags:", sorted(_numba_config.FASTMATH))
    print(f"NumPy, selecting with where:   known = {int(np.sum(~np.isnan(y)))}, sum = {float(np.sum(np.where(np.isnan(y), 0.0, z * y))):.6f}")
    for label, options in (("numba, no fast math:          ", {}),
                           ("numba, the package's flags:   ", {"fastmath": set(_numba_config.FASTMATH)}),
                           ("numba, fastmath=True:         ", {"fastmath": True})):
        n, total = numba.njit(**options)(known_and_sum)(z, y)
        print(f"{label} known = {n}, sum = {total:.6f}")
else:
    print("Numba is not installed here: nothing to demonstrate")

# %% [markdown]
# If the `fastmath=True` line counts every entry as known with a `nan` sum, the compiler folded the
# test away: no error, no warning. (Whether it does depends on the Numba and LLVM versions; code
# correct only when an optimisation does not happen is wrong.) `tests/test_numba_backend.py` checks
# that '?' entries give a finite cost and zero gradient under the package's flags. Finally, remove
# the notebook's Numba cache folder:

# %%
shutil.rmtree(os.environ.pop("NUMBA_CACHE_DIR"), ignore_errors=True)

# %% [markdown]
# ## Summary
#
# * Check results before timing; time the best of several repeats after a warm-up and print the
#   spread (a smaller difference is not a result); on a GPU use CUDA events.
# * Numba's first call compiles; `cache=True` lets later processes load the code. Keep it out of
#   every timing.
# * Log-log time per example against batch size: falling is overhead amortised, flat is the real
#   per-example cost, set for a memory-bound kernel by its passes over memory.
# * A GPU wins once a call has enough work to hide its overhead: soon for matrix-product steps, only
#   at large sizes for memory-bound kernels.
# * Never `fastmath=True` in code that relies on NaN.
#
# ## Exercises
#
# 1. Time the kernel without the input checks,
#    `mtl.get_backend("numba").masked_logistic_cost_and_grad(ZL, Y, "examples")`. How much of the
#    public function's time per example was checking, and at which sizes does it matter?
# 2. Run the Numba masked cost at `m = 1_000_000` with `numba.set_num_threads(1)` and with the
#    default threads. Which is faster here, and what does that say about `COST_PARALLEL_MIN`?
# 3. Train notebook 5's `SharedCNN` for one epoch with `backend="numpy"` and `backend="numba"` and
#    compare `history.seconds`. Is the ratio the one the CNN panel predicts for `batch_size=64`?
#
# Next: [notebook 10](10_gradient_conflict_and_weighting.ipynb), gradient conflict between the tasks
# and what loss weighting does with it. The [README](../README.md) lists every notebook with the benchmarks' results;
# `benchmarks/RESULTS.md` holds the full benchmark tables, and
# [docs/experiments.md](../docs/experiments.md) the experiments.
