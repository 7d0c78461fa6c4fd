"""What ``fit``'s per-step guards cost, next to the training step they guard.

Run ``python benchmarks/bench_guards.py`` (or ``python -m benchmarks guards``). For the SharedCNN
(32x32x3 scenes, conv 16, 32, dense 64) and the SharedMLP ([768, 512, 256, 4]) at m = 256, on
each CPU backend, one process times, interleaved over ``--repeat`` rounds (median of each):

* ``step``   -- one training step as ``fit`` runs it: ``prepared_cost_and_grads`` and an Adam update;
* ``guards`` -- what ``fit`` adds to every step: the cost's finiteness (a float comparison), the
  finiteness of every updated parameter (:func:`mtl_numpy.guards.all_finite`, one float64 sum per
  array), the copy of the parameters that a diverged step is rolled back to
  (:class:`mtl_numpy.guards.ParameterSnapshot`), and holding back ``Ctrl-C`` around the update
  (:func:`mtl_numpy.guards.deferred_interrupt`, two ``signal.signal`` calls).

The last column is guards / step: the fraction of a step the checks add.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))


def _cases(backends, m):
    import numpy as np

    import mtl_numpy as mtl

    rng = np.random.default_rng(0)
    for backend in backends:
        for kind in ("cnn", "mlp"):
            if kind == "cnn":
                model = mtl.SharedCNN(input_shape=(32, 32, 3), conv_channels=(16, 32), hidden=(64,),
                                      n_tasks=4, seed=0, backend=backend)
                X = rng.random((m, 32, 32, 3)).astype(np.float32)
            else:
                model = mtl.SharedMLP([768, 512, 256, 4], seed=0, backend=backend)
                X = rng.random((768, m)).astype(np.float32)
            Y = (rng.random((4, m)) < 0.5).astype(np.float32)
            Y[rng.random(Y.shape) < 0.3] = np.nan
            yield backend, kind, model, model.prepare(X, Y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--backends", nargs="+", default=None)
    args = parser.parse_args(argv)

    import mtl_numpy as mtl
    from mtl_numpy.guards import ParameterSnapshot, all_finite, deferred_interrupt

    backends = args.backends or [b for b in mtl.available_backends() if b != "cupy"]
    print(f"# fit's per-step guards vs the training step, m = {args.m}, {args.repeat} interleaved "
          f"rounds (median); load average {os.getloadavg()[0]:.2f}")
    print("| backend | model | step ms | guards ms | guards / step |")
    print("|---|---|---|---|---|")
    for backend, kind, model, (Xp, Yp) in _cases(backends, args.m):
        opt = mtl.Adam(learning_rate=1e-4)
        snapshot = ParameterSnapshot(model.params)

        def step():
            J, grads = model.prepared_cost_and_grads(Xp, Yp)
            opt.update(model.params, grads)
            return J

        def guards(J):
            ok = math.isfinite(J)
            with deferred_interrupt():
                ok = ok and all_finite(model.params)
                if ok:
                    snapshot.take(model.params)
            return ok

        J = step()
        guards(J)
        steps, checks = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            J = step()
            t1 = time.perf_counter()
            assert guards(J)
            t2 = time.perf_counter()
            steps.append(t1 - t0)
            checks.append(t2 - t1)
        s, g = statistics.median(steps), statistics.median(checks)
        print(f"| {backend} | {kind} (m={args.m}) | {1e3 * s:.2f} | {1e3 * g:.3f} | "
              f"{100 * g / s:.2f} % |", flush=True)


if __name__ == "__main__":
    main()
