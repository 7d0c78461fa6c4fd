"""Checks of tutorial 02's exercises: the masked cost, as loops and vectorised, and its ``dZ``."""
from __future__ import annotations

import numpy as np

from .. import layers
from ..labels import known_labels
from ..losses import masked_logistic_cost, masked_logistic_cost_and_grad
from ._check import Mismatch, exercise, expect_array, expect_scalar, fmt, returned, run, unchanged

__all__ = ["check_masked_cost_loops", "check_masked_cost_vectorized", "check_masked_cost_grad"]

NOTEBOOK = "02_masked_cost"


def cost_inputs(seed=2, n_tasks=4, m=7, all_missing_column=3):
    """The checks' batch: probabilities ``AL`` away from 0 and 1, labels ``Y`` with '?' (nan),
    one column all '?' (it still counts in m)."""
    rng = np.random.default_rng(seed)
    Y = rng.integers(0, 2, (n_tasks, m)).astype(np.float64)
    Y[rng.random(Y.shape) < 0.3] = np.nan
    if all_missing_column is not None:
        Y[:, all_missing_column] = np.nan
    AL = rng.uniform(0.05, 0.95, (n_tasks, m))
    return AL, Y


def _cost_mistakes(AL, Y):
    """The values the usual mistakes give, to name them when the learner's cost equals one."""
    known = known_labels(Y)
    losses = np.where(known, -np.nan_to_num(Y) * np.log(AL) - (1 - np.nan_to_num(Y)) * np.log(1 - AL), 0.0)
    m = Y.shape[1]
    return {
        "the sum of the known losses without the 1/m": losses.sum(),
        "the sum divided by the number of known labels instead of m": losses.sum() / known.sum(),
        "the sum divided by the number of columns that have a known label (m counts every column)":
            losses.sum() / known.any(axis=0).sum(),
        "the cost with '?' read as 0 (a '?' must not be in the sum)": np.mean(
            np.sum(-np.nan_to_num(Y) * np.log(AL) - (1 - np.nan_to_num(Y)) * np.log(1 - AL), axis=0)),
        "nan: a '?' reached the arithmetic (skip it, or select with np.where)": np.nan,
        "minus the cost (the loss is -y log a - (1 - y) log(1 - a))": -losses.sum() / m,
    }


def _check_cost(name, learner, normalizations):
    AL, Y = cost_inputs()
    AL2, Y2 = cost_inputs(seed=5, n_tasks=2, m=3, all_missing_column=None)
    expected = {norm: masked_logistic_cost(AL, Y, normalize=norm) for norm in normalizations}

    def trial():
        for (A_case, Y_case, case) in ((AL, Y, "the 4 x 7 batch with '?' labels"),
                                       (AL2, Y2, "a 2 x 3 batch")):
            for norm in normalizations:
                A_in, Y_in = A_case.copy(), Y_case.copy()
                args = (A_in, Y_in) if normalizations == ("examples",) else (A_in, Y_in, norm)
                J = returned(learner(*args), name)
                unchanged("AL", A_case, A_in)
                unchanged("Y", Y_case, Y_in)
                what = "J" if normalizations == ("examples",) else f'J (normalize="{norm}")'
                expect_scalar(what, J, masked_logistic_cost(A_case, Y_case, normalize=norm), case=case,
                              mistakes=_cost_mistakes(A_case, Y_case) if norm == "examples" else None)
        return "equal to mtl.masked_logistic_cost on every test batch"

    shown = ", ".join(f'J ({norm}) = {J:.6f}' for norm, J in expected.items())
    return run(name, trial, f"on the check's 4 x 7 batch (column 3 all '?'): {shown}")


@exercise(NOTEBOOK, "J on batches with '?' labels (an all-'?' column included) against "
                    "mtl.masked_logistic_cost; names the usual mistakes (no 1/m, dividing by the "
                    "known labels, '?' read as 0, nan); inputs left unchanged")
def check_masked_cost_loops(masked_cost_loops):
    """Check ``masked_cost_loops(AL, Y) -> J``, the lecture's double loop."""
    return _check_cost("masked_cost_loops", masked_cost_loops, ("examples",))


@exercise(NOTEBOOK, "J for normalize='examples' and 'labels' against mtl.masked_logistic_cost, "
                    "on the same batches as the loops")
def check_masked_cost_vectorized(masked_cost_vectorized):
    """Check ``masked_cost_vectorized(AL, Y, normalize) -> J``, without Python loops."""
    return _check_cost("masked_cost_vectorized", masked_cost_vectorized, ("examples", "labels"))


@exercise(NOTEBOOK, "dZL entry by entry against mtl.masked_logistic_cost_and_grad (exactly 0 at "
                    "'?', no nan), naming a missing 1/m, a flipped sign or a nan from multiplying by M")
def check_masked_cost_grad(masked_cost_grad):
    """Check ``masked_cost_grad(ZL, Y) -> dZL``, the masked cost's gradient from the logits."""
    _, Y = cost_inputs()
    ZL = np.random.default_rng(3).standard_normal(Y.shape) * 3
    _, expected = masked_logistic_cost_and_grad(ZL, Y)

    def trial():
        Z_in, Y_in = ZL.copy(), Y.copy()
        dZL = returned(masked_cost_grad(Z_in, Y_in), "masked_cost_grad")
        unchanged("ZL", ZL, Z_in)
        unchanged("Y", Y, Y_in)
        A, m = layers.sigmoid(ZL), Y.shape[1]
        if hasattr(dZL, "shape") and np.shape(dZL) == Y.shape and np.isnan(dZL).any():
            idx = tuple(np.argwhere(np.isnan(dZL))[0])
            raise Mismatch(f"dZL[{idx[0]}, {idx[1]}] is nan (Y there is '?'): M * (A - Y) keeps the nan "
                           "(nan * 0 = nan); select with np.where(M > 0, A - Y, 0.0)")
        expect_array("dZL", dZL, expected, rtol=1e-9, atol=1e-12, case="the 4 x 7 batch with '?' labels",
                     mistakes={"M (A - Y) without the 1/m": expected * m,
                               "(1/m) M (Y - A): the sign is flipped": -expected,
                               "(1/m) (A - Y) with the '?' read as 0 (the '?' entries must be exactly 0)":
                                   (A - np.nan_to_num(Y)) / m})
        return "equal to mtl.masked_logistic_cost_and_grad's dZL, exactly 0 at every '?'"

    return run("masked_cost_grad", trial, f"dZL[:, 0] = {fmt(expected[:, 0])}, dZL[:, 3] = {fmt(expected[:, 3])} (column 3 is all '?')")
