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
# **What we are about to do, and why.** The experiments of notebooks 6-8 train hundreds of small
# networks. docs/experiments.md ("Runtime of the full setting") ran the full setting of all six with
# `python -m mtl_numpy.experiments all --out docs/figures` in "640.9 (10.7 min)" on a two-core
# machine, two experiments at a time, each single-threaded, on the Numba backend: for the
# experiments' CNN of notebook 6, docs/experiments.md ("Common choices") finds Numba "1.4× faster
# than NumPy here". The same model can run three ways, and which is fastest depends on how much
# work each call gets. This notebook times, on every backend this machine can run:
#
# * one kernel, the fused masked cost and gradient of notebook 2,
#   `mtl.masked_logistic_cost_and_grad(ZL, Y, backend=b)`, from a thousand examples up;
# * a whole training step (forward, masked cost, backward, Adam update) of the MLP and the CNN of
#   notebooks 4 and 5, at several batch sizes;
#
# and explains the shape of the curves: fixed per-call overhead, memory-bound against compute-bound
# work, and where a GPU starts to win. On the way: what Numba's first call costs (a compile), and the
# one compiler flag that silently breaks the '?' labels.
#
# The backends (README.md, "Backends"): `numpy` is the reference, vectorised NumPy with BLAS matrix
# products and im2col convolutions; `numba` compiles the same kernel set to machine code with
# `@njit` (a one-pass masked cost, convolution and pooling loops, fused bias + ReLU) and keeps the
# matrix products on BLAS; `cupy` keeps parameters and activations on the GPU, with cuBLAS products
# and hand-written CUDA kernels. Results agree to rounding (checked below before anything is
# timed).

# %%
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import matplotlib.pyplot as plt

import mtl_numpy as mtl
from tutorial_utils import repeat_times

# The test suite sets MTL_FAST=1: small data and few epochs, so that every notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting the text describes.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")

# %% [markdown]
# Numba writes the machine code it compiles to disk (`cache=True`) and later processes load it
# from there. So that the compile time measured below is a real compile, this notebook gives Numba
# an empty cache folder of its own (removed again at the end of the notebook). It must be set before Numba is
# imported, which `mtl.available_backends()` does.

# %%
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="mtl_numba_cache_")
backends = mtl.available_backends()
print("backends that run here:", backends)
for name in backends:
    print(f"  {name:<6} {mtl.get_backend(name).__name__}")

# %% [markdown]
# ## The kernel, and what it costs per example
#
# For each entry $(j, i)$ of the $4 \times m$ logits, with $N = m$:
#
# $$J \mathrel{+}= \tfrac{1}{N}\big[\max(z,0) - z y + \log(1 + e^{-|z|})\big], \qquad
# dZ_{ji} = \tfrac{1}{N}\,(\sigma(z) - y), \qquad \text{only where } y \text{ is not } \texttt{nan}.$$
#
# In float32 each entry reads $z$ (4 bytes) and $y$ (4 bytes) and writes $dZ$ (4 bytes): 12 bytes
# of memory traffic for a few tens of arithmetic operations (one exponential, one logarithm, a
# handful of multiplications and additions). That ratio, operations per byte, is the kernel's
# **arithmetic intensity**, and it is low: a processor can do far more arithmetic per second than
# its memory can deliver bytes for this kernel, so once the input is large, the time is set by
# memory bandwidth (*memory-bound*), not by arithmetic. Below that, the time is set by what every
# call pays whatever its size: Python, checking the inputs, starting a kernel (*overhead-bound*).
#
# The NumPy backend needs several passes over memory (one per NumPy operation, each writing a
# temporary array); the Numba kernel makes one pass. Logits with a realistic spread, 30% '?' labels:

# %%
rng = np.random.default_rng(0)
sizes = (1_000, 10_000, 100_000) if FAST else (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
ZL_all = (3 * rng.standard_normal((4, max(sizes)))).astype(np.float32)
Y_all = np.where(rng.random((4, max(sizes))) < 0.3, np.nan, rng.random((4, max(sizes))) < 0.5).astype(np.float32)
print(f"ZL {ZL_all.shape} {ZL_all.dtype}, Y with {np.isnan(Y_all).mean():.0%} '?'; sizes m = {sizes}")

# %% [markdown]
# ## Numba's first call is a compile
#
# `@njit` compiles a function the first time it is called with a new combination of argument
# types (here: float32 arrays), through LLVM, to machine code; the call returns only when that is
# done. Later calls with the same types run the compiled code directly. So time the first call
# separately from the steady state, and never count it in a benchmark. With `cache=True` the
# machine code also goes to disk, and a *new* process with the same types loads it instead of
# compiling again: the last number below is the first call in a fresh Python process that uses
# the cache the first call just wrote (it still pays Numba's one-time start-up in that process,
# but no compile).

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
# The same happens for every kernel of a training step: the first step of a Numba model compiles
# the convolution, pooling and ReLU kernels it uses (the step timings below print it too). That is
# why the benchmarks warm up before timing and report the first step on its own line. (Run this
# notebook's cells a second time in the same kernel and the "1st call" is no longer a compile: the
# code is already in memory. Restart the kernel to measure it again.)
#
# ## Check before timing
#
# A fast wrong answer is worth nothing, so first: every backend against the NumPy reference, on
# the same inputs.

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
# On a CPU, the standard library is enough: `timeit.repeat` runs a function `number` times per
# repeat (`repeat_times` in `tutorial_utils.py` divides by `number`), and we keep the **best** of
# several repeats (the others were slowed by something else on the machine; the minimum is the
# closest to what the code itself costs). Small calls run many times per repeat, so that each
# timed block is long compared with the clock's resolution. Every function is called once before
# timing (a warm-up: compiled, caches filled). Beside the best time we print the **spread**, the
# slowest repeat over the fastest: when it is large, the machine was busy and a difference between
# backends smaller than it is not a result.
#
# A GPU needs more care: CuPy calls return as soon as the work is *queued*, so a host clock around
# them measures the queueing, not the work. `cupyx.profiler.benchmark` records CUDA events around
# each call and synchronizes; we keep its best GPU time. (This kernel returns the cost as a Python
# float, which waits for the GPU anyway; a training step's last Adam update does not.)

# %%
cpu_backends = [name for name in backends if name != "cupy"]
kernel_times = {name: {} for name in cpu_backends}
spread = {}                                   # (what, backend, m) -> slowest repeat / fastest repeat
for m in sizes:
    ZL, Y = np.ascontiguousarray(ZL_all[:, :m]), np.ascontiguousarray(Y_all[:, :m])
    for name in cpu_backends:
        f = lambda: mtl.masked_logistic_cost_and_grad(ZL, Y, backend=name)
        f()
        times = repeat_times(f, number=max(1, 200_000 // m), repeat=5)
        kernel_times[name][m], spread["cost", name, m] = min(times), max(times) / min(times)
    print(f"m = {m:>10,}: " + "   ".join(
        f"{name} {kernel_times[name][m] * 1e3:9.3f} ms ({kernel_times[name][m] / m * 1e9:6.1f} ns/example,"
        f" spread x{spread['cost', name, m]:.2f})" for name in cpu_backends))

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
# These are the times of the public function, which also checks its inputs (finite logits, labels
# in {0, 1, nan}) before calling the backend's kernel; models check once per batch and then call
# the kernel directly. Exercise 1 times the kernel alone.
#
# ## Timing a whole training step
#
# One step is what `mtl.fit` does per mini-batch: `model.cost_and_grads(X, Y)` (forward, masked
# cost, backward), then `optimizer.update(model.params, grads)`. The two models are the
# benchmarks' reference models: the MLP $3072 \to 256 \to 128 \to 4$ of notebook 4 and the default
# `SharedCNN` of notebook 5 (two conv blocks of 16 and 32 filters, a dense layer of 64), float32.
# The same seed gives the same initial parameters on every backend, so the first step's cost and
# $dW^{[1]}$ can be compared with NumPy's before timing (`gradient_difference` is notebook 2's
# $\lVert a - b\rVert / (\lVert a\rVert + \lVert b\rVert)$). The first step is timed on its own
# (Numba compiles there), and the steady state is the best of several steps.

# %%
step_sizes = {"MLP": (8, 32, 128) if FAST else (8, 32, 128, 512, 2048),
              "CNN": (8, 32) if FAST else (8, 32, 128, 512)}
repeat = 3 if FAST else 7
step_times, first_step, reference, inputs = {}, {}, {}, {}
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
            print(f"{kind} {name:<6} m = {m:>5}: first step {first * 1e3:8.1f} ms, then {step_times[kind, name][m] * 1e3:8.2f} ms/step"
                  f" (spread x{spread[kind, name, m]:.2f})"
                  f"   check: cost {abs(J - J_ref) / J_ref:.0e}, dW1 {mtl.gradcheck.gradient_difference(grads['dW1'], dW1_ref):.0e}")

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
# The same numbers as a table, in the form the benchmark prints (time per step, examples per
# second, the ratio to NumPy on the same model and batch size, below 1 is faster, and the spread of
# the repeats). The last column reads the ratio against the spreads of both timings: a ratio
# further from 1 than the larger spread is a difference this run resolves; one closer is not.

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
# Divide each time by the number of examples and plot both axes on a log scale. A call that costs
# a fixed overhead $t_0$ plus $c$ per example takes $t_0/m + c$ per example: a line falling with
# slope $-1$ while the overhead dominates, flattening to $c$ once the work does. Lower is faster.

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
# How to read it, left to right:
#
# * **The kernel.** At the small sizes the per-example time falls with $m$: the fixed cost of the
#   call is being spread over more examples. Where a line flattens, the kernel is memory-bound and
#   the height of the flat part compares the backends' passes over memory: NumPy's several
#   temporary arrays against Numba's single pass. A line that *rises* with $m$ belongs to a kernel
#   whose temporary arrays have outgrown the processor's caches, so that each of its passes now
#   goes to main memory. (Above $2^{20}$ entries the Numba kernel switches to
#   its parallel version, `COST_PARALLEL_MIN` in `mtl_numpy/backends/_numba_config.py`; on a busy
#   two-core machine waking the second thread can cost more than it saves.)
# * **The training steps.** Most of a step is matrix products (the MLP) or convolutions as matrix
#   products (the CNN), and both CPU backends call the same BLAS for them: any gap between the
#   MLP lines comes from the rest of the step (bias + ReLU, the cost, Adam) or from noise. The
#   table's last column says which gaps this run resolves; on a shared or busy machine the spreads
#   are large and most gaps are not results (run the cell again, on a quiet machine, before
#   believing one). The CNN
#   is where Numba's own kernels (im2col, pooling, fused bias + ReLU) replace several NumPy passes
#   each, and the gap between its lines shows what that buys.
#
# **The full benchmark.** `python -m benchmarks --help` lists it: `cost` (this kernel, Numba serial
# and parallel, PyTorch), `kernels`, `steps` (the training steps, with PyTorch on the same weights
# as a reference, and `--plot` for this figure), `gpu-cost`. Its tables are read like the one above,
# with more care taken: each contender runs in its own process, the repeats are interleaved (A, B,
# A, B, ... so that a noisy moment hits all contenders), the table shows the median, a *spread*
# column says how much the repeats disagreed (a ratio smaller than the spread is not a result), a
# *check* column holds the correctness test done before timing, and the first step (compile or
# cache load) has its own table. Ratios measured side by side in one run are the only speed claims
# worth making; absolute times change with the machine and its load.
#
# ## Where a GPU starts to win, and why
#
# A GPU has hundreds of times the arithmetic throughput and memory bandwidth of one CPU core, and a
# much larger fixed cost per call: every kernel is launched from the host (a few
# microseconds each, and a training step launches tens of them), and reading the cost back to the
# host waits for all the queued work. So the GPU's line starts *high* at small batches (overhead
# divided by few examples) and falls steeply; it crosses the CPU line where the work per call is
# large enough to hide the overhead.
#
# Whether the work is memory-bound or compute-bound is set by the arithmetic intensity against the
# machine's *ridge point*, peak operations per second divided by bandwidth. Below the ridge the
# memory is the limit, above it the arithmetic. The cell below computes rough intensities (the
# operation and byte counts are estimates, stated in the code) and the ridge points of two machines
# from their specification sheets (assumed round numbers, not measurements made here):

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
# The masked cost sits far below both ridge points at every size: memory-bound everywhere, so a GPU
# can only win on it by its bandwidth, and only once the input is large enough that moving it takes
# longer than the launch and the read-back. The MLP step's intensity grows with the batch (the
# weights are read once per step however many examples share them): at small batches it is
# memory-bound on the weights, at large batches compute-bound, which is where the GPU's arithmetic
# pays.
#
# A rough crossover, from this machine's measured CPU times and an **assumed** fixed GPU cost per
# call (the GPU's per-example cost from the bandwidth and peak above; if this machine has a GPU,
# the measured cupy line in the figure replaces the estimate):

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
# The orders of magnitude are the lesson, not the digits: a kernel that does little arithmetic per
# byte needs *many* examples per call before a GPU pays (the launch and the read-back dwarf
# microseconds of work), while a training step that is mostly matrix products does so much work
# per example that even small batches give the GPU enough to do. That is why `mtl.fit` on a GPU
# wants large batches, and why the CuPy backend fuses element-wise work into few kernels (fewer
# launches) and keeps every array on the GPU, reading back only small results such as the cost.
#
# ## A pitfall: `fastmath=True` and the '?' labels
#
# LLVM's "fast math" lets the compiler reorder and simplify floating-point code. One of the flags it
# turns on, `nnan`, tells it that **no value is ever NaN**. The Numba cost kernel detects a '?' label
# with `y == y`, which is False only for NaN; under `nnan` the compiler may fold that test to True, and
# every '?' then counts as a label and brings its NaN into the cost. `mtl_numpy/backends/_numba_config.py`
# is the one place where the package's flags are set; it lists the fast-math flags it wants
# (reassociation, so that sums vectorise, fused multiply-add, approximate functions, ...) and leaves
# `nnan` and `ninf` out. The demonstration, a loop written like the kernels' '?' test, compiled
# three ways (this is the one function defined in a cell: it *is* the teaching point):

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
# Compare the lines. If the `fastmath=True` line reports every entry as known and a `nan` sum, the
# compiler on this machine did fold the test away: no error, no warning, a wrong count and a NaN
# cost. (Whether it folds depends on the Numba and LLVM versions; code that is only correct when an
# optimisation does not happen is wrong.) `tests/test_numba_backend.py` checks that '?' entries
# still give a finite cost and a zero gradient under the package's flags.
#
# ## Cleaning up
#
# The Numba cache folder this notebook made at the start is no longer needed.

# %%
shutil.rmtree(os.environ.pop("NUMBA_CACHE_DIR"), ignore_errors=True)

# %% [markdown]
# ## Summary
#
# * Time with the best of several repeats after a warm-up, and print their spread: a difference
#   smaller than the spread is not a result; check results before timing; on a GPU,
#   time with CUDA events (`cupyx.profiler.benchmark`), never a host clock without a synchronize.
# * Numba's first call compiles (the printed compile time); `cache=True` lets later processes load
#   the machine code instead. Keep the first call out of every timing.
# * Time per example against batch size, log-log: a falling line is overhead being amortised, a flat
#   line is the real per-example cost. A memory-bound kernel's flat part is set by how many passes
#   over memory it makes: one fused pass (Numba) against several (NumPy).
# * A GPU wins once there is enough work per call to hide its launch and read-back overhead: soon for
#   compute-heavy steps, only at large sizes for memory-bound kernels.
# * Never `fastmath=True` in code that relies on NaN: its `nnan` flag can delete the '?' test.
#
# ## Exercises
#
# 1. Time the kernel without the input checks, `mtl.get_backend("numba").masked_logistic_cost_and_grad(ZL, Y, "examples")`,
#    at the same sizes. How much of the public function's time per example was checking, and at
#    which sizes does it matter?
# 2. Run the Numba masked cost at `m = 1_000_000` with `numba.set_num_threads(1)` and with the
#    default number of threads. Which is faster on this machine, and what does that say about the
#    threshold `COST_PARALLEL_MIN`?
# 3. Train the `SharedCNN` of notebook 5 for one epoch with `backend="numpy"` and with
#    `backend="numba"` (`mtl.fit(..., progress=False)`) and compare `history.seconds`. Is the ratio
#    the one the CNN panel above predicts for `batch_size=64`?
#
# This is the last notebook. The project's [README](../README.md) lists them all, with the
# benchmarks' results; `benchmarks/RESULTS.md` holds the full benchmark tables.
