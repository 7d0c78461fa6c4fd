"""Checks of tutorial 03's exercises: the dense layer's forward and backward, ReLU's backward, and a
two-task network whose shared trunk receives the sum of both heads' gradients."""
from __future__ import annotations

import numpy as np

from .. import layers
from ..gradcheck import eval_numerical_gradient_array, gradient_difference
from ..losses import masked_logistic_cost_and_grad
from ._check import Mismatch, NotDone, exercise, expect_array, fmt, returned, run, unchanged

__all__ = ["check_linear_forward", "check_linear_backward", "check_relu_backward",
           "check_two_task_forward", "check_two_task_backward", "two_task_inputs",
           "GRADIENT_THRESHOLD"]

NOTEBOOK = "03_shared_network_by_hand"

#: A float64 backward is right when every parameter's difference is below this (the course's 1e-7).
GRADIENT_THRESHOLD = 1e-7


def _linear_inputs(seed=4, n=5, n_prev=6, m=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_prev, m)), rng.standard_normal((n, n_prev)), rng.standard_normal((n, 1))


@exercise(NOTEBOOK, "Z against mtl.layers.linear_forward (shape (n[l], m), then every entry) and "
                    "the cache (A_prev, W, b)")
def check_linear_forward(linear_forward):
    """Check ``linear_forward(A_prev, W, b) -> (Z, cache)``."""
    A_prev, W, b = _linear_inputs()
    expected, _ = layers.linear_forward(A_prev, W, b)

    def trial():
        A_in, W_in, b_in = A_prev.copy(), W.copy(), b.copy()
        Z, cache = returned(linear_forward(A_in, W_in, b_in), "linear_forward")
        for what, before, after in (("A_prev", A_prev, A_in), ("W", W, W_in), ("b", b, b_in)):
            unchanged(what, before, after)
        expect_array("Z", Z, expected, case="A_prev (6, 4), W (5, 6), b (5, 1)",
                     mistakes={"W A_prev without + b": expected - b})
        if not (isinstance(cache, tuple) and len(cache) == 3
                and all(np.shape(c) == np.shape(x) for c, x in zip(cache, (A_prev, W, b)))):
            raise Mismatch("Z is right, but cache should be the tuple (A_prev, W, b), which "
                           "linear_backward needs")
        return "Z and the cache (A_prev, W, b) are right"

    return run("linear_forward", trial, f"Z[:, 0] = {fmt(expected[:, 0])}")


@exercise(NOTEBOOK, "dA_prev, dW, db against mtl.layers.linear_backward (shapes, then entries); "
                    "names an extra 1/m and a db without keepdims")
def check_linear_backward(linear_backward):
    """Check ``linear_backward(dZ, cache) -> (dA_prev, dW, db)``; the ``1/m`` is already in dZ."""
    A_prev, W, b = _linear_inputs()
    dZ = np.random.default_rng(5).standard_normal((W.shape[0], A_prev.shape[1]))
    expected = layers.linear_backward(dZ, (A_prev, W, b))
    m = A_prev.shape[1]

    def trial():
        dZ_in = dZ.copy()
        grads = returned(linear_backward(dZ_in, (A_prev.copy(), W.copy(), b.copy())), "linear_backward")
        unchanged("dZ", dZ, dZ_in)
        if not (isinstance(grads, tuple) and len(grads) == 3):
            raise Mismatch("linear_backward should return the tuple (dA_prev, dW, db)")
        for what, got, exp in zip(("dA_prev", "dW", "db"), grads, expected):
            mistakes = {f"the right {what} divided by m: here the 1/m is in dZ already (the loss put it "
                        "there); the course's linear_backward divides, this package's does not": exp / m}
            if what == "db" and np.shape(got) == (exp.shape[0],):
                raise Mismatch("db has shape (n[l],); expected (n[l], 1): sum with keepdims=True")
            expect_array(what, got, exp, case="dZ (5, 4)", mistakes=mistakes)
        return "dA_prev, dW and db are right"

    return run("linear_backward", trial, f"db[:, 0] = {fmt(expected[2][:, 0])}, dW[0] = {fmt(expected[1][0])}")


@exercise(NOTEBOOK, "dZ against mtl.layers.relu_backward on Z with exact zeros (the derivative at "
                    "0 is 0)")
def check_relu_backward(relu_backward):
    """Check ``relu_backward(dA, cache) -> dZ`` where ``cache`` is ``Z``."""
    rng = np.random.default_rng(6)
    Z = rng.standard_normal((3, 5))
    Z[0, 1] = Z[2, 3] = 0.0
    dA = rng.standard_normal(Z.shape)
    expected = layers.relu_backward(dA, Z)

    def trial():
        dA_in, Z_in = dA.copy(), Z.copy()
        dZ = returned(relu_backward(dA_in, Z_in), "relu_backward")
        unchanged("dA", dA, dA_in)
        unchanged("Z", Z, Z_in)
        expect_array("dZ", dZ, expected, case="Z (3, 5) with two entries exactly 0",
                     mistakes={"dA where Z >= 0: the derivative at Z = 0 is taken as 0 (Z > 0)":
                                   np.where(Z >= 0, dA, 0.0),
                               "ReLU of dA: the mask comes from Z, not from dA": np.maximum(dA, 0.0)})
        return "dZ = dA where Z > 0, else 0"

    return run("relu_backward", trial, f"dZ[0] = {fmt(expected[0])}")


# -- the two-task network --------------------------------------------------------------------
TWO_TASKS = ("pedestrian", "car")


def two_task_inputs(seed=7, n_x=5, n_1=4, m=6):
    """A float64 batch and parameters for the two-task network: a shared trunk
    ``A1 = relu(W1 X + b1)`` and one logistic head per task, ``Z_t = W_t A1 + b_t``.

    Returns ``X (n_x, m)``, ``Y (2, m)`` with one '?', and ``params`` with keys ``W1, b1``
    (trunk), ``Wp, bp`` (pedestrian head), ``Wc, bc`` (car head).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m))
    Y = rng.integers(0, 2, (2, m)).astype(np.float64)
    Y[1, 2] = np.nan
    params = {"W1": rng.standard_normal((n_1, n_x)), "b1": rng.standard_normal((n_1, 1)) * 0.1,
              "Wp": rng.standard_normal((1, n_1)), "bp": rng.standard_normal((1, 1)) * 0.1,
              "Wc": rng.standard_normal((1, n_1)), "bc": rng.standard_normal((1, 1)) * 0.1}
    return X, Y, params


def _reference_forward(X, params):
    A1, _ = layers.relu_forward(layers.linear_forward(X, params["W1"], params["b1"])[0])
    return np.vstack([layers.linear_forward(A1, params["Wp"], params["bp"])[0],
                      layers.linear_forward(A1, params["Wc"], params["bc"])[0]])


def _reference_grads(X, Y, params, heads=("p", "c")):
    """The gradients of the masked cost; ``heads`` picks which heads' ``dA1`` reach the trunk (both
    for the right answer; one, to recognise the mistake of forgetting the other)."""
    Z1, _ = layers.linear_forward(X, params["W1"], params["b1"])
    A1, _ = layers.relu_forward(Z1)
    _, dZL = masked_logistic_cost_and_grad(_reference_forward(X, params), Y)
    grads, dA1 = {}, np.zeros_like(A1)
    for row, head in enumerate("pc"):
        dA1_t, grads["dW" + head], grads["db" + head] = layers.linear_backward(
            dZL[row:row + 1], (A1, params["W" + head], params["b" + head]))
        if head in heads:
            dA1 += dA1_t
    _, grads["dW1"], grads["db1"] = layers.linear_backward(layers.relu_backward(dA1, Z1), (X, params["W1"], params["b1"]))
    return grads


@exercise(NOTEBOOK, "ZL (2, m), the two heads' logits stacked, against the package's layers")
def check_two_task_forward(two_task_forward):
    """Check ``two_task_forward(X, params) -> (ZL, caches)``."""
    X, _, params = two_task_inputs()
    expected = _reference_forward(X, params)

    def trial():
        ZL, _ = returned(two_task_forward(X.copy(), {k: v.copy() for k, v in params.items()}), "two_task_forward")
        expect_array("ZL", ZL, expected, case="X (5, 6), a trunk of 4 units, two heads",
                     mistakes={"the two rows swapped (row 0 is the pedestrian head, row 1 the car head)": expected[::-1]})
        return "ZL is right: row 0 the pedestrian head's logits, row 1 the car head's"

    return run("two_task_forward", trial, f"ZL[:, :3] = {fmt(expected[:, :3])}")


@exercise(NOTEBOOK, "every gradient against a central-difference gradient "
                    "(eval_numerical_gradient_array), with the course's difference per parameter "
                    "(as gradient_check's per_parameter); names a trunk that got one head's dA1")
def check_two_task_backward(two_task_backward, two_task_forward):
    """Check ``two_task_backward(dZL, caches) -> grads``, using the learner's own forward for the
    caches, against numerical gradients of the masked cost."""
    X, Y, params = two_task_inputs()
    names = list(params)

    def cost(theta, key):
        trial_params = dict(params, **{key: theta})
        return masked_logistic_cost_and_grad(_reference_forward(X, trial_params), Y)[0]

    numerical = {"d" + k: eval_numerical_gradient_array(lambda t, k=k: cost(t, k), params[k].copy(), 1.0)
                 for k in names}
    expected_diffs = {k: gradient_difference(_reference_grads(X, Y, params)["d" + k], numerical["d" + k])
                      for k in names}

    def trial():
        ZL, caches = returned(two_task_forward(X.copy(), {k: v.copy() for k, v in params.items()}), "two_task_forward")
        if not np.allclose(ZL, _reference_forward(X, params), rtol=1e-9):
            raise NotDone("two_task_forward does not pass its check yet; the backward uses its caches")
        _, dZL = masked_logistic_cost_and_grad(np.asarray(ZL), Y)
        grads = returned(two_task_backward(dZL.copy(), caches), "two_task_backward")
        if not isinstance(grads, dict):
            raise Mismatch(f"two_task_backward should return a dict of gradients; got {type(grads).__name__}")
        missing = [("d" + k) for k in names if ("d" + k) not in grads]
        if missing:
            raise NotDone(f"grads has no {', '.join(missing)}")
        diffs = {k: gradient_difference(grads["d" + k], numerical["d" + k])
                 if np.shape(grads["d" + k]) == params[k].shape else np.inf for k in names}
        table = ", ".join(f"{k} {d:.1e}" for k, d in diffs.items())
        bad = [k for k, d in diffs.items() if not d < GRADIENT_THRESHOLD]
        if bad:
            shapes = [f"d{k} has shape {np.shape(grads['d' + k])}; expected {params[k].shape}"
                      for k in bad if np.shape(grads["d" + k]) != params[k].shape]
            hint = ""
            for head, task in (("p", "pedestrian"), ("c", "car")):
                one_head = _reference_grads(X, Y, params, heads=(head,))
                if all(np.allclose(grads["d" + k], one_head["d" + k]) for k in ("W1", "b1")):
                    hint = (f" dW1 and db1 are the gradients of the {task} head alone: the trunk's "
                            "dA1 must add both heads' contributions, dA1 = Wp.T dZ_p + Wc.T dZ_c.")
            raise Mismatch(f"gradient check fails for {', '.join(bad)} (difference per parameter: "
                           f"{table}; each should be < {GRADIENT_THRESHOLD:.0e}).{hint}"
                           + (" " + "; ".join(shapes) if shapes else ""))
        return f"difference per parameter: {table} (all < {GRADIENT_THRESHOLD:.0e})"

    shown = ", ".join(f"{k} {d:.0e}" for k, d in expected_diffs.items())
    return run("two_task_backward", trial,
               f"every parameter's difference below {GRADIENT_THRESHOLD:.0e} (the package's own "
               f"backward gives {shown})")
