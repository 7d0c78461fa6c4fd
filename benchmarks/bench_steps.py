"""Full training steps of the reference MLP and CNN on every backend, and PyTorch beside them.

Run ``python -m benchmarks steps`` (or ``python benchmarks/bench_steps.py``); ``--quick`` for a
run under a minute, ``--sizes``/``--gpu-sizes`` for the batch sizes, ``--plot PATH`` for the
log-log figure, ``--backends`` to choose contenders.

One step is what :func:`mtl_numpy.fit` does per mini-batch: forward, the fused masked cost (a
Python float, so one device-to-host copy per step on a GPU), backward, and an Adam update
(``mtl.Adam``), on a batch already in the model's layout and dtype (float32). The models::

    MLP  3072 -> 256 -> 128 -> 4 sigmoids                      (SharedMLP([3072, 256, 128, 4]))
    CNN  32x32x3 -> conv 3x3x16 'same' -> ReLU -> maxpool 2 -> conv 3x3x32 'same' -> ReLU
         -> maxpool 2 -> flatten -> dense 64 -> ReLU -> dense 4 sigmoids   (SharedCNN defaults)

PyTorch twins (when ``torch`` imports) get *our* initial weights: conv ``W (f, f, C_in, C_out)``
becomes ``(C_out, C_in, f, f)``; the CNN runs channels-last and flattens each example in our
``(H, W, C)`` order (``x.permute(0, 2, 3, 1).reshape(m, -1)``, a free view in channels-last
memory), so the dense weights copy over as they are. Its loss is the same masked logistic cost
(``binary_cross_entropy_with_logits`` with the '?' entries selected away, divided by m), its
optimizer ``torch.optim.Adam``, and each step also reads the loss back (``loss.item()``), as ours
returns a Python float. CPU: ``torch.set_num_threads(2)`` (``--cpu-threads``; NumPy's BLAS and
Numba get the same number of threads); CUDA: eager float32 with TF32 off
(CuPy does not use TF32 either).

Before any timing, every contender's cost and ``dW1`` at the same initial parameters are checked
against the NumPy backend (float32: relative error below 1e-4).

Timing: each contender runs in its own worker process (Numba's and PyTorch's thread pools never
run at once; only one contender works at a time). Warm-up first, then blocks of steps long
enough to time reliably; the repeats are interleaved (every contender once per repeat, in
rotation), and the table shows the median. CPU blocks are timed with ``time.perf_counter``; GPU
blocks with CUDA events (``cupyx.profiler.benchmark`` for CuPy, ``torch.cuda.Event`` for
PyTorch). The first step of each model (Numba's JIT compile or cache load, CuPy's kernel
compile or cache load) is reported separately.

This is a benchmark, not a test: tests never time things.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make "benchmarks" importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.harness import (  # noqa: E402
    Worker, WorkerError, format_table, gpu_available, machine_summary, median, parse_sizes,
    plot_per_example, rotation, scaled_error, thread_env,
)

MODELS = ("mlp", "cnn")
MODEL_TITLES = {"mlp": "MLP 3072-256-128-4", "cnn": "CNN 32x32x3 c16-p2-c32-p2-d64-4"}
CPU_CONTENDERS = ("numpy", "numba", "torch-cpu")
GPU_CONTENDERS = ("cupy", "torch-cuda")
REFERENCE = {"cpu": "torch-cpu", "gpu": "torch-cuda"}
DTYPE = "float32"
CHECK_TOL = 1e-4


# ----------------------------------------------------------------------------------------------
# Models and data (shared by every contender: same seed, same numbers)
# ----------------------------------------------------------------------------------------------

def reference_model(kind, backend="numpy", seed=0):
    """The reference MLP or CNN, float32, seeded (the same initial parameters on every backend)."""
    import mtl_numpy as mtl

    if kind == "mlp":
        return mtl.SharedMLP([3072, 256, 128, 4], seed=seed, dtype=DTYPE, backend=backend)
    return mtl.SharedCNN(input_shape=(32, 32, 3), conv_channels=(16, 32), kernel_size=3,
                         pool_size=2, hidden=(64,), n_tasks=4, seed=seed, dtype=DTYPE,
                         backend=backend)


def make_data(kind, m, seed=0):
    """Random float32 inputs in the model's layout and (4, m) labels with 30% '?' (never zeros)."""
    rng = np.random.default_rng(1000 + seed + m)
    if kind == "mlp":
        X = rng.standard_normal((3072, m), dtype=np.float32)
    else:
        X = rng.random((m, 32, 32, 3), dtype=np.float32)
    Y = (rng.random((4, m)) < 0.5).astype(np.float32)
    Y[rng.random((4, m)) < 0.3] = np.nan
    from mtl_numpy.labels import known_labels

    if not known_labels(Y).any():
        Y[0, 0] = 1.0
    return X, Y


# ----------------------------------------------------------------------------------------------
# Runners: live in worker processes
# ----------------------------------------------------------------------------------------------

class OurRunner:
    """mtl_numpy on one backend ("numpy", "numba" or "cupy")."""

    def __init__(self, backend):
        import mtl_numpy as mtl

        self.mtl = mtl
        self.backend = backend
        self.bk = mtl.get_backend(backend)     # ImportError if unusable here
        self.gpu = backend == "cupy"
        self.first_use = set()

    def info(self):
        return {"backend": self.backend}

    def _sync(self):
        if self.gpu:
            import cupy
            cupy.cuda.get_current_stream().synchronize()

    def setup(self, kind, m, seed=0):
        """Build model, data and optimizer; return the check values and the first step's time."""
        self.model = reference_model(kind, self.backend, seed)
        X, Y = make_data(kind, m, seed)
        self.X, self.Y = self.model.prepare(X, Y)    # once, as fit() does; steps skip validation
        J0, grads = self.model.prepared_cost_and_grads(self.X, self.Y)
        dW1 = self.bk.to_numpy(grads["dW1"])
        self.optimizer = self.mtl.Adam(learning_rate=1e-3)
        start = time.perf_counter()
        self.step()
        self._sync()
        first = time.perf_counter() - start
        first_use = kind not in self.first_use
        self.first_use.add(kind)
        return {"cost": J0, "dW1": dW1, "first_step_s": first, "first_use": first_use}

    def step(self):
        J, grads = self.model.prepared_cost_and_grads(self.X, self.Y)
        self.optimizer.update(self.model.params, grads)
        return J

    def time_block(self, n_steps):
        """Seconds per step over a block of ``n_steps``.

        CPU: wall time of the block (the setup's step was the warm-up). GPU: median CUDA-event
        time per step after one warm-up step (``cupyx.profiler.benchmark``)."""
        if self.gpu:
            from cupyx.profiler import benchmark

            result = benchmark(self.step, n_repeat=n_steps, n_warmup=1)
            return float(np.median(result.gpu_times))
        start = time.perf_counter()
        for _ in range(n_steps):
            self.step()
        return (time.perf_counter() - start) / n_steps


def _torch_twin(kind, ours, torch):
    """A PyTorch copy of our model ``ours`` (NumPy backend), weights copied, in float32."""
    nn, F = torch.nn, torch.nn.functional
    P = {k: np.asarray(v) for k, v in ours.params.items()}

    def dense(l):
        W = P[f"W{l}"]
        layer = nn.Linear(W.shape[1], W.shape[0])
        layer.weight.data.copy_(torch.from_numpy(W))
        layer.bias.data.copy_(torch.from_numpy(P[f"b{l}"].reshape(-1)))
        return layer

    def conv(l):
        W = P[f"W{l}"]                                   # (f, f, C_in, C_out)
        f, _, c_in, c_out = W.shape
        layer = nn.Conv2d(c_in, c_out, f, padding=(f - 1) // 2)
        layer.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(W.transpose(3, 2, 0, 1))))
        layer.bias.data.copy_(torch.from_numpy(P[f"b{l}"].reshape(-1)))
        return layer

    if kind == "mlp":
        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2, self.fc3 = dense(1), dense(2), dense(3)

            def forward(self, x):                          # x: (m, 3072)
                return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

        return MLP()

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = conv(1), conv(2)
            self.fc1, self.fc2 = dense(3), dense(4)

        def forward(self, x):                              # x: (m, 3, 32, 32), channels-last
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)   # our (H, W, C) flatten order
            return self.fc2(F.relu(self.fc1(x)))

    return CNN()


class TorchRunner:
    """The PyTorch twin on "cpu" (2 threads, channels-last) or "cuda" (eager float32, no TF32)."""

    def __init__(self, device):
        import torch

        self.torch = torch
        self.device = device
        if device == "cpu":
            torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
        else:
            if not torch.cuda.is_available():
                raise ImportError("torch.cuda is not available")
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = False
        self.first_use = set()

    def info(self):
        return {"torch": self.torch.__version__, "threads": self.torch.get_num_threads()}

    def _sync(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def setup(self, kind, m, seed=0):
        torch = self.torch
        ours = reference_model(kind, "numpy", seed)
        net = _torch_twin(kind, ours, torch)
        X, Y = make_data(kind, m, seed)
        if kind == "mlp":
            x = torch.from_numpy(np.ascontiguousarray(X.T))                 # (m, 3072)
        else:
            x = torch.from_numpy(X).permute(0, 3, 1, 2)                      # NCHW view, NHWC memory
            net = net.to(memory_format=torch.channels_last)
        y = torch.from_numpy(np.ascontiguousarray(Y.T))                     # (m, 4), nan for '?'
        self.net = net.to(self.device)
        self.x = x.to(self.device)
        if kind == "cnn":
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.y = y.to(self.device)
        self.m = m
        self._sync()
        # check values: cost and dW1 (in our layout) at the initial parameters
        self.net.zero_grad(set_to_none=True)
        loss = self.loss(self.net(self.x))
        loss.backward()
        first = self.net.fc1 if kind == "mlp" else self.net.conv1
        g = first.weight.grad.detach().cpu().numpy()
        dW1 = g if kind == "mlp" else g.transpose(2, 3, 1, 0)               # (C_out, C_in, f, f) -> ours
        cost = float(loss.item())
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3, eps=1e-8)
        start = time.perf_counter()
        self.step()
        self._sync()
        first_s = time.perf_counter() - start
        first_use = kind not in self.first_use
        self.first_use.add(kind)
        return {"cost": cost, "dW1": np.ascontiguousarray(dW1), "first_step_s": first_s,
                "first_use": first_use}

    def loss(self, z):
        """Masked logistic cost, divided by m: the '?' (nan) entries are selected away."""
        torch = self.torch
        known = self.y == self.y
        y0 = torch.where(known, self.y, torch.zeros((), dtype=self.y.dtype, device=self.y.device))
        per_entry = torch.nn.functional.binary_cross_entropy_with_logits(z, y0, reduction="none")
        return torch.where(known, per_entry, torch.zeros((), dtype=z.dtype, device=z.device)).sum() / self.m

    def step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.net(self.x))
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def time_block(self, n_steps):
        """Seconds per step over a block of ``n_steps`` (GPU: CUDA events, after a warm-up step)."""
        torch = self.torch
        if self.device == "cuda":
            self.step()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            for _ in range(n_steps):
                self.step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) * 1e-3 / n_steps
        start = time.perf_counter()
        for _ in range(n_steps):
            self.step()
        return (time.perf_counter() - start) / n_steps


def make_runner(label):
    """Factory run inside a worker process."""
    if label.startswith("torch-"):
        return TorchRunner(label.split("-", 1)[1])
    return OurRunner(label)


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------

def _reference_check(kind, m):
    """Cost and dW1 of the NumPy backend at the initial parameters (computed in this process)."""
    model = reference_model(kind, "numpy")
    X, Y = make_data(kind, m)
    J, grads = model.cost_and_grads(X, Y)
    return J, np.asarray(grads["dW1"])


def start_workers(labels, log, cpu_threads):
    """One worker process per contender; CPU contenders get ``cpu_threads`` threads each."""
    workers = {}
    for label in labels:
        start = time.perf_counter()
        env = None if label in GPU_CONTENDERS else thread_env(cpu_threads)
        try:
            workers[label] = Worker(label, make_runner, label, env=env)
            log(f"  {label}: worker ready in {time.perf_counter() - start:.1f} s")
        except WorkerError as exc:
            log(f"  {label}: not available ({str(exc).splitlines()[-1]})")
    return workers


def run_table(workers, kind, sizes, repeat, block_s, log):
    """Setup + check + interleaved timing for one model over ``sizes``.

    Returns ``rows``: a dict per (m, label) with the median seconds per step and check errors.
    """
    results = []
    for m in sizes:
        J_ref, dW1_ref = _reference_check(kind, m)
        active, n_steps = {}, {}
        for label, worker in workers.items():
            try:
                info = worker.call("setup", kind, m)
            except WorkerError as exc:
                log(f"  {kind} m={m} {label}: setup failed: {str(exc).splitlines()[-1]}")
                continue
            err_J = abs(info["cost"] - J_ref) / max(abs(J_ref), 1e-30)
            err_dW = scaled_error(info["dW1"], dW1_ref)
            ok = err_J < CHECK_TOL and err_dW < CHECK_TOL
            if not ok:
                log(f"  CHECK FAILED {kind} m={m} {label}: cost rel. error {err_J:.2e}, "
                    f"dW1 error {err_dW:.2e} (tolerance {CHECK_TOL:g}); not timed")
                continue
            # calibrate a block long enough to time: one timed step after the warm-up (the
            # median of three when steps are short, so one noisy step does not set the block)
            t1 = worker.call("time_block", 1)
            if t1 < block_s / 2:
                t1 = median([t1, worker.call("time_block", 1), worker.call("time_block", 1)])
            n_steps[label] = max(1, min(1000, int(round(block_s / max(t1, 1e-6)))))
            active[label] = {"m": m, "label": label, "err_J": err_J, "err_dW": err_dW,
                             "first_step_s": info["first_step_s"], "first_use": info["first_use"],
                             "times": []}
        for r in range(repeat):
            for label in rotation(active, r):
                active[label]["times"].append(workers[label].call("time_block", n_steps[label]))
        for label, row in active.items():
            row["median_s"] = median(row["times"])
            row["spread"] = (max(row["times"]) - min(row["times"])) / row["median_s"]
            row["n_steps"] = n_steps[label]
            results.append(row)
        if active:
            log(f"  {kind} m={m}: " + ", ".join(f"{l} {1e3 * active[l]['median_s']:.2f} ms"
                                                  for l in active))
    return results


def format_results(kind, results, reference):
    rows = []
    by_m = {}
    for r in results:
        by_m.setdefault(r["m"], {})[r["label"]] = r
    for m in sorted(by_m):
        ref = by_m[m].get(reference)
        for label, r in by_m[m].items():
            t = r["median_s"]
            ratio = f"{t / ref['median_s']:.2f}" if ref else "n/a"
            rows.append([label, m, f"{1e3 * t:.3f}", f"{m / t:,.0f}", ratio,
                         f"{r['spread'] * 100:.0f}%", r["n_steps"],
                         f"{r['err_J']:.0e} / {r['err_dW']:.0e}"])
    return format_table(
        ["backend", "m", "ms/step", "examples/s", f"time / {reference}", "spread", "steps/block",
         "check: cost / dW1"], rows, align=["l", "r", "r", "r", "r", "r", "r", "r"])


def format_first_steps(results):
    rows = []
    for r in results:
        if r["first_use"]:
            rows.append([r["label"], MODEL_TITLES[r["kind"]], r["m"], f"{r['first_step_s']:.2f}",
                         f"{1e3 * r['median_s']:.2f}",
                         f"{max(r['first_step_s'] - r['median_s'], 0.0):.2f}"])
    if not rows:
        return ""
    return format_table(["backend", "model", "m", "first step s", "steady ms/step",
                         "first-use overhead s (JIT compile / cache load)"], rows,
                        align=["l", "l", "r", "r", "r", "r"])


# ----------------------------------------------------------------------------------------------
# The course's loops (mtl_numpy.backends.naive) inside a whole CNN step, small m only
# ----------------------------------------------------------------------------------------------

def naive_backend():
    """The NumPy backend with its conv and pool kernels swapped for the course's loops.

    A backend is a module-like object with the declared kernel set (``mtl_numpy.backends``);
    its conv block here runs the naive conv, ReLU and the naive pool one after the other, so
    every convolution and pooling of the step goes through ``naive.py``'s loops."""
    import types

    from mtl_numpy.backends import naive, numpy_backend

    def conv_relu_pool_forward(A_prev, W, b, conv_hparameters, pool_hparameters):
        Z, conv_cache = naive.conv_forward(A_prev, W, b, conv_hparameters)
        A, relu_cache = numpy_backend.relu_forward(Z)
        P, pool_cache = naive.pool_forward(A, pool_hparameters, mode="max")
        return P, (conv_cache, relu_cache, pool_cache)

    def conv_relu_pool_backward(dA, cache, need_dA_prev=True):
        conv_cache, relu_cache, pool_cache = cache
        dA_pool = naive.pool_backward(dA, pool_cache, mode="max")
        dZ = numpy_backend.relu_backward(dA_pool, relu_cache)
        return naive.conv_backward(dZ, conv_cache, need_dA_prev)

    names = {k: getattr(numpy_backend, k) for k in dir(numpy_backend) if not k.startswith("__")}
    names.update(name="naive-loops", conv_forward=naive.conv_forward,
                 conv_backward=naive.conv_backward, pool_forward=naive.pool_forward,
                 pool_backward=naive.pool_backward, conv_relu_pool_forward=conv_relu_pool_forward,
                 conv_relu_pool_backward=conv_relu_pool_backward)
    return types.SimpleNamespace(**names)


def naive_table(sizes=(4, 16), repeat=3):
    """ms/step of the CNN with the course's loops vs the NumPy backend, same m, same process."""
    import mtl_numpy as mtl

    rows = []
    for m in sizes:
        X, Y = make_data("cnn", m)
        times = {}
        for label, backend in (("naive loops", naive_backend()), ("numpy", "numpy")):
            model = reference_model("cnn", backend)
            Xp, Yp = model.prepare(X, Y)
            opt = mtl.Adam(learning_rate=1e-3)
            J, grads = model.prepared_cost_and_grads(Xp, Yp)   # warm-up; also the check below
            times[label + "_check"] = (J, grads["dW1"])
            best = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                J, grads = model.prepared_cost_and_grads(Xp, Yp)
                opt.update(model.params, grads)
                best = min(best, time.perf_counter() - start)
            times[label] = best
        (Ja, dWa), (Jb, dWb) = times["naive loops_check"], times["numpy_check"]
        check = max(abs(Ja - Jb) / max(abs(Jb), 1e-12), scaled_error(dWa, dWb))
        rows.append([m, f"{1e3 * times['naive loops']:.1f}", f"{m / times['naive loops']:.1f}",
                     f"{1e3 * times['numpy']:.2f}", f"{m / times['numpy']:.0f}",
                     f"{times['naive loops'] / times['numpy']:.0f}x", f"{check:.1e}"])
    header = ["m", "naive ms/step", "naive ex/s", "numpy ms/step", "numpy ex/s", "naive/numpy",
              "check"]
    return format_table(header, rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a run under a minute (fewer sizes/repeats)")
    parser.add_argument("--sizes", default=None,
                        help="batch sizes for the CPU table, e.g. 64,256,1024 (the default)")
    parser.add_argument("--gpu-sizes", default=None,
                        help="batch sizes for the GPU sweep (default 16,32,...,4096)")
    parser.add_argument("--backends", nargs="+", default=None,
                        help="contenders among numpy numba cupy torch-cpu torch-cuda (default: all "
                             "that work here); commas allowed")
    parser.add_argument("--models", default="mlp,cnn", help="mlp, cnn or both (default)")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved repeats (median)")
    parser.add_argument("--block", type=float, default=None,
                        help="seconds per timed block of steps (default 0.25; --quick 0.05)")
    parser.add_argument("--plot", default=None, help="write the log-log figure to this path")
    parser.add_argument("--naive-sizes", default="4,16",
                        help="batch sizes for the course's loops inside a CNN step (default 4,16; "
                             "'none' to skip)")
    parser.add_argument("--cpu-threads", type=int, default=2,
                        help="threads for every CPU contender: BLAS, OpenMP, Numba and "
                             "torch.set_num_threads (default 2)")
    args = parser.parse_args(argv)

    quick = args.quick
    sizes = parse_sizes(args.sizes or ("64,128" if quick else "64,256,1024"))
    gpu_sizes = parse_sizes(args.gpu_sizes or ("64,1024" if quick else "16,32,...,4096"))
    repeat = args.repeat or (3 if quick else 7)
    block_s = args.block or (0.05 if quick else 0.25)
    models = [k.strip() for k in args.models.split(",") if k.strip()]
    for k in models:
        if k not in MODELS:
            parser.error(f"--models: unknown model {k!r}; expected mlp and/or cnn")
    wanted = None
    if args.backends:
        wanted = [b.strip() for item in args.backends for b in item.split(",") if b.strip()]
        unknown = set(wanted) - set(CPU_CONTENDERS + GPU_CONTENDERS)
        if unknown:
            parser.error(f"--backends: unknown {sorted(unknown)}; expected among "
                         f"{list(CPU_CONTENDERS + GPU_CONTENDERS)}")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    print("## Training steps (forward + masked cost + backward + Adam), float32\n")
    print("```")
    print(machine_summary())
    print("```\n")

    has_gpu = gpu_available()
    cpu_labels = [b for b in CPU_CONTENDERS if wanted is None or b in wanted]
    gpu_labels = [b for b in GPU_CONTENDERS if (wanted is None or b in wanted) and has_gpu]
    if wanted and not has_gpu and set(wanted) & set(GPU_CONTENDERS):
        log("no CUDA GPU here: skipping " + ", ".join(sorted(set(wanted) & set(GPU_CONTENDERS))))

    series = {MODEL_TITLES[k]: {} for k in models}
    all_results = []
    start = time.perf_counter()

    sections = [("cpu", cpu_labels + gpu_labels, sizes)]
    if gpu_labels:
        sections.append(("gpu", gpu_labels, gpu_sizes))
    for section, labels, section_sizes in sections:
        if not labels:
            continue
        log(f"[{section}] starting workers: {', '.join(labels)}")
        # Numba first, then PyTorch, each in its own process: their pools never overlap.
        workers = start_workers(labels, log, args.cpu_threads)
        try:
            for kind in models:
                results = run_table(workers, kind, section_sizes, repeat, block_s, log)
                for r in results:
                    r["kind"] = kind
                    series[MODEL_TITLES[kind]].setdefault(r["label"], []).append((r["m"], r["median_s"]))
                all_results += results if section == "cpu" else [dict(r, first_use=False) for r in results]
                reference = REFERENCE[section]
                title = ("CPU table (every backend; GPU ones too where present)" if section == "cpu"
                         else "GPU sweep")
                print(f"### {MODEL_TITLES[kind]}: {title}\n")
                print(format_results(kind, results, reference))
                print()
        finally:
            for w in workers.values():
                w.close()

    if "cnn" in models and args.naive_sizes.strip().lower() != "none":
        naive_sizes = parse_sizes(args.naive_sizes)
        log(f"[naive] the course's loops in a CNN step at m = {naive_sizes}")
        print("### CNN step with the course's loop-by-loop conv and pool (small m only)\n")
        print("In this process, best of 3 steps each; 'check' is the relative error of the cost "
              "and dW1 between the two before timing.\n")
        print(naive_table(naive_sizes))
        print()

    first = format_first_steps(all_results)
    if first:
        print("### First step of each model in a fresh process\n")
        print(first)
        print()
    print(f"CPU contenders ran with {args.cpu_threads} threads each (BLAS, OpenMP, Numba, "
          f"torch.set_num_threads; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')}), "
          f"one at a time, each in its own process. "
          f"Medians of {repeat} interleaved repeats (each a block of steps lasting about "
          f"{block_s:g} s); 'spread' is (max - min) / median over the repeats; 'check' is the "
          f"relative error of the cost and dW1 against the NumPy backend before timing. "
          f"Total {time.perf_counter() - start:.0f} s.")
    if args.plot:
        path = plot_per_example(series, args.plot)
        print(f"\nPlot: {path}")
    return all_results


if __name__ == "__main__":
    main()
