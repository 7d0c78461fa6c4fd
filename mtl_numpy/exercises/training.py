"""Checks of tutorial 04's exercises: mini-batches, and one Adam step by hand."""
from __future__ import annotations

import numpy as np

from ..optim import Adam
from ._check import Mismatch, NotDone, exercise, expect_array, fmt, returned, run

__all__ = ["check_random_mini_batches", "check_adam_step"]

NOTEBOOK = "04_training_driving_scenes"


@exercise(NOTEBOOK, "the batches' number and sizes (the last one smaller), every column exactly "
                    "once and shuffled, and each Y column still beside its X column ('?' kept)")
def check_random_mini_batches(random_mini_batches):
    """Check ``random_mini_batches(X, Y, batch_size, seed) -> [(X_batch, Y_batch), ...]``."""
    m, batch_size = 10, 4
    # Column i of X is recognisable: X[0, i] == i. Y holds a '?' so that alignment covers nan too.
    X = np.vstack([np.arange(m, dtype=np.float64), np.arange(m) * 10.0 + 0.5])
    Y = np.random.default_rng(8).integers(0, 2, (2, m)).astype(np.float64)
    Y[0, 4] = np.nan
    sizes = [4, 4, 2]

    def trial():
        batches = returned(random_mini_batches(X.copy(), Y.copy(), batch_size, 0), "random_mini_batches")
        batches = list(batches)
        if [np.shape(xb)[1] if np.ndim(xb) == 2 else None for xb, _ in batches] != sizes:
            raise Mismatch(f"m = {m}, batch_size = {batch_size}: expected {len(sizes)} batches of "
                           f"{sizes} columns; got batch sizes "
                           f"{[np.shape(xb)[1:] and np.shape(xb)[1] for xb, _ in batches]}")
        order = np.concatenate([xb[0] for xb, _ in batches]).astype(int)
        if sorted(order.tolist()) != list(range(m)):
            raise Mismatch(f"the batches should hold every column exactly once; their columns are {order.tolist()}")
        if order.tolist() == list(range(m)):
            raise Mismatch("the columns are in their original order: shuffle them first (rng.permutation(m))")
        for k, (xb, yb) in enumerate(batches):
            expect_array(f"batch {k}'s X", xb, X[:, xb[0].astype(int)])
            expect_array(f"batch {k}'s Y", yb, Y[:, xb[0].astype(int)],
                         case="each Y column must stay beside its X column: shuffle both with one permutation")
        return f"{len(sizes)} batches of {sizes} columns, shuffled, X and Y columns together"

    return run("random_mini_batches", trial, f"m = {m}, batch_size = {batch_size}: batches of {sizes} columns")


def _adam_inputs():
    rng = np.random.default_rng(9)
    params = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal((3, 1))}
    steps = [{"d" + k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(3)]
    return params, steps


def _adam_by_formula(params, steps, learning_rate, beta1, beta2, epsilon, bias_correction=True):
    """Parameters after each step, by the course's formulas (for naming a missing correction)."""
    params = {k: v.copy() for k, v in params.items()}
    v = {"d" + k: np.zeros_like(p) for k, p in params.items()}
    s = {"d" + k: np.zeros_like(p) for k, p in params.items()}
    history = []
    for t, grads in enumerate(steps, start=1):
        for key in params:
            d = "d" + key
            v[d] = beta1 * v[d] + (1 - beta1) * grads[d]
            s[d] = beta2 * s[d] + (1 - beta2) * grads[d] ** 2
            c1, c2 = (1 - beta1 ** t, 1 - beta2 ** t) if bias_correction else (1.0, 1.0)
            params[key] = params[key] - learning_rate * (v[d] / c1) / (np.sqrt(s[d] / c2) + epsilon)
        history.append({k: p.copy() for k, p in params.items()})
    return history


@exercise(NOTEBOOK, "W1 and b1 after each of three steps against mtl.Adam, and v, s by the "
                    "formulas; names a missing bias correction")
def check_adam_step(adam_step):
    """Check ``adam_step(params, grads, v, s, t, learning_rate, beta1, beta2, epsilon) -> (params, v, s)``
    over three steps from ``v = s = 0``."""
    params0, steps = _adam_inputs()
    hyper = dict(learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8)
    reference, expected = Adam(**hyper), []
    ref_params = {k: v.copy() for k, v in params0.items()}
    for grads in steps:
        reference.update(ref_params, grads)
        expected.append({k: p.copy() for k, p in ref_params.items()})
    uncorrected = _adam_by_formula(params0, steps, **hyper, bias_correction=False)

    def trial():
        params = {k: p.copy() for k, p in params0.items()}
        v = {"d" + k: np.zeros_like(p) for k, p in params0.items()}
        s = {"d" + k: np.zeros_like(p) for k, p in params0.items()}
        beta1, beta2 = hyper["beta1"], hyper["beta2"]
        v_exp = {d: np.zeros_like(a) for d, a in v.items()}
        s_exp = {d: np.zeros_like(a) for d, a in s.items()}
        for t, grads in enumerate(steps, start=1):
            out = returned(adam_step(params, {k: g.copy() for k, g in grads.items()}, v, s, t, **hyper), "adam_step")
            if not (isinstance(out, tuple) and len(out) == 3):
                raise Mismatch("adam_step should return (params, v, s)")
            params, v, s = out
            for d in v_exp:
                v_exp[d] = beta1 * v_exp[d] + (1 - beta1) * grads[d]
                s_exp[d] = beta2 * s_exp[d] + (1 - beta2) * grads[d] ** 2
            for key in params0:
                expect_array(f"v['d{key}']", v["d" + key], v_exp["d" + key], rtol=1e-10, case=f"after step t = {t}")
                expect_array(f"s['d{key}']", s["d" + key], s_exp["d" + key], rtol=1e-10, case=f"after step t = {t}")
                expect_array(key, params[key], expected[t - 1][key], rtol=1e-10, case=f"after step t = {t}",
                             mistakes={"Adam without the bias correction (divide v by 1 - beta1**t and s by "
                                       "1 - beta2**t)": uncorrected[t - 1][key]})
        return "W1, b1, v and s equal mtl.Adam's after each of 3 steps"

    return run("adam_step", trial, f"after 3 steps, W1[0] = {fmt(expected[-1]['W1'][0], 6)}, "
                                   f"b1[:, 0] = {fmt(expected[-1]['b1'][:, 0], 6)}")
