"""Checks of tutorial 05's exercises: the course's convolution and pooling loops, then im2col."""
from __future__ import annotations

import numpy as np

from ..backends import naive
from ._check import Mismatch, exercise, expect_array, expect_scalar, fmt, returned, run

__all__ = ["check_conv_single_step", "check_conv_forward", "check_create_mask_from_window",
           "check_pool_backward", "check_im2col"]

NOTEBOOK = "05_convolutions_by_hand"


def _conv_math():
    """The package's conv/pool math module, :mod:`mtl_numpy.conv`."""
    from .. import conv
    return conv


@exercise(NOTEBOOK, "Z of one 3 x 3 x 4 window against naive.conv_single_step; names a missing bias")
def check_conv_single_step(conv_single_step):
    """Check ``conv_single_step(a_slice_prev, W, b) -> Z`` (a scalar)."""
    rng = np.random.default_rng(10)
    a_slice_prev, W, b = rng.standard_normal((3, 3, 4)), rng.standard_normal((3, 3, 4)), rng.standard_normal((1, 1, 1))
    expected = float(naive.conv_single_step(a_slice_prev, W, b))

    def trial():
        Z = returned(conv_single_step(a_slice_prev.copy(), W.copy(), b.copy()), "conv_single_step")
        if np.ndim(Z) != 0:
            raise Mismatch(f"Z should be one number; got an array of shape {np.shape(Z)} (sum every entry)")
        expect_scalar("Z", Z, expected, rtol=1e-12,
                      mistakes={"the sum without the bias b": expected - float(b[0, 0, 0])})
        return f"Z = {float(Z):.6f}"

    return run("conv_single_step", trial, f"Z = {expected:.6f}")


@exercise(NOTEBOOK, "Z's shape (the output-size formula) and every entry against naive.conv_forward, "
                    "for stride 2 with pad 1 and stride 1 with pad 0")
def check_conv_forward(conv_forward):
    """Check ``conv_forward(A_prev, W, b, hparameters) -> (Z, cache)``."""
    rng = np.random.default_rng(11)
    A_prev = rng.standard_normal((2, 5, 7, 3))
    W, b = rng.standard_normal((3, 3, 3, 4)), rng.standard_normal((1, 1, 1, 4))
    cases = [{"stride": 2, "pad": 1}, {"stride": 1, "pad": 0}]
    expected = [naive.conv_forward(A_prev, W, b, hp)[0] for hp in cases]

    def trial():
        for hp, Z_exp in zip(cases, expected):
            Z, _ = returned(conv_forward(A_prev.copy(), W.copy(), b.copy(), dict(hp)), "conv_forward")
            if np.shape(Z) != Z_exp.shape:
                raise Mismatch(f"Z has shape {np.shape(Z)}; expected {Z_exp.shape} for A_prev (2, 5, 7, 3), "
                               f"f = 3, {hp}: n_H = (n_H_prev - f + 2 pad) // stride + 1")
            expect_array("Z", Z, Z_exp, case=f"A_prev (2, 5, 7, 3), W (3, 3, 3, 4), {hp}")
        return "Z is right for both strides and paddings"

    return run("conv_forward", trial, f"Z.shape = {expected[0].shape} for stride 2, pad 1, and "
                                      f"{expected[1].shape} for stride 1, pad 0; with stride 2, pad 1: "
                                      f"Z[0, 1, 2] = {fmt(expected[0][0, 1, 2])}")


@exercise(NOTEBOOK, "the mask of windows with one maximum and with tied maxima against "
                    "naive.create_mask_from_window (True at the first maximum only)")
def check_create_mask_from_window(create_mask_from_window):
    """Check ``create_mask_from_window(x) -> mask``, one True at the first maximum."""
    windows = {"a window with one maximum": np.array([[1.0, 3.0], [-2.0, 0.5]]),
               "a window of zeros (after a ReLU)": np.zeros((2, 2)),
               "a 3 x 3 window whose maximum appears twice": np.array([[0.1, 2.0, 0.3], [2.0, -1.0, 0.0], [1.0, 1.5, 0.2]])}

    def trial():
        for case, x in windows.items():
            mask = returned(create_mask_from_window(x.copy()), "create_mask_from_window")
            expected = naive.create_mask_from_window(x).astype(np.float64)
            got = np.asarray(mask).astype(np.float64) if hasattr(mask, "shape") else mask
            expect_array("mask", got, expected, case=case,
                         mistakes={"x == max(x), True at every tied maximum: the gradient would go to "
                                   "each of them; mark only the first (np.argmax)": (x == x.max()).astype(np.float64)})
        return "True at the first maximum only, ties included"

    x = windows["a 3 x 3 window whose maximum appears twice"]
    return run("create_mask_from_window", trial,
               f"for {fmt(x, 1)}: mask = {fmt(naive.create_mask_from_window(x).astype(int))}")


@exercise(NOTEBOOK, "dA_prev against naive.pool_backward for max and average pooling, with "
                    "overlapping windows (contributions add) and tied maxima; names '=' for '+='")
def check_pool_backward(pool_backward):
    """Check ``pool_backward(dA, cache, mode) -> dA_prev`` with ``cache = (A_prev, hparameters)``."""
    rng = np.random.default_rng(12)
    A_prev = np.maximum(rng.standard_normal((2, 4, 5, 2)), 0.0)    # ReLU output: windows of tied zeros
    cases = [({"f": 2, "stride": 2}, "max"), ({"f": 2, "stride": 1}, "max"), ({"f": 2, "stride": 1}, "average")]

    def overwrite(dA, A_prev, hp, mode):
        """pool_backward with '=' instead of '+=' (wrong where windows overlap)."""
        out = np.zeros_like(A_prev)
        f, s = hp["f"], hp["stride"]
        for i, h, w, c in np.ndindex(*dA.shape):
            window = A_prev[i, s * h:s * h + f, s * w:s * w + f, c]
            spread = naive.create_mask_from_window(window) * dA[i, h, w, c] if mode == "max" else \
                np.full((f, f), dA[i, h, w, c] / (f * f))
            out[i, s * h:s * h + f, s * w:s * w + f, c] = spread
        return out

    def trial():
        for hp, mode in cases:
            A, cache = naive.pool_forward(A_prev, hp, mode=mode)
            dA = np.random.default_rng(13).standard_normal(A.shape)
            expected = naive.pool_backward(dA, cache, mode=mode)
            dA_prev = returned(pool_backward(dA.copy(), (A_prev.copy(), dict(hp)), mode), "pool_backward")
            expect_array("dA_prev", dA_prev, expected, case=f'mode="{mode}", {hp}',
                         mistakes={"the gradient written with '=' where windows overlap: add it (+=)":
                                       overwrite(dA, A_prev, hp, mode)})
        return "dA_prev is right for max and average pooling, overlapping windows and ties included"

    hp, mode = cases[1]
    A, cache = naive.pool_forward(A_prev, hp, mode=mode)
    first = naive.pool_backward(np.random.default_rng(13).standard_normal(A.shape), cache, mode=mode)
    return run("pool_backward", trial, f"for max pooling with f = 2, stride 1: dA_prev[0, :3, :3, 0] = "
                                       f"{fmt(first[0, :3, :3, 0])}; equal to naive.pool_backward in all three "
                                       "cases (max with stride 2 and 1, average with stride 1)")


@exercise(NOTEBOOK, "cols (m n_H n_W, f f n_C_prev) against the package's im2col for two "
                    "stride/padding settings; names a window flattened in the wrong order")
def check_im2col(im2col):
    """Check ``im2col(A_prev, f, stride, pad) -> cols`` of shape ``(m*n_H*n_W, f*f*n_C_prev)``."""
    rng = np.random.default_rng(14)
    A_prev = rng.standard_normal((2, 5, 6, 3))
    cases = [(3, 1, 1), (3, 2, 0)]
    conv = _conv_math()

    def trial():
        for f, stride, pad in cases:
            full = conv.im2col(A_prev, f, stride, pad)                 # (m, n_H, n_W, f, f, n_C_prev)
            expected = full.reshape(-1, f * f * A_prev.shape[3])
            channels_first = np.moveaxis(full, -1, 3).reshape(expected.shape)
            cols = returned(im2col(A_prev.copy(), f, stride, pad), "im2col")
            expect_array("cols", cols, expected, case=f"A_prev (2, 5, 6, 3), f = {f}, stride = {stride}, pad = {pad}",
                         mistakes={"each window flattened channel by channel, (k, u, v): flatten it as "
                                   "(u, v, k), the order of W.reshape(f * f * n_C_prev, n_C)": channels_first})
        return "cols is right: one row per output position, (u, v, k) order within the row"

    full = conv.im2col(A_prev, 3, 1, 1)
    return run("im2col", trial, f"for f = 3, stride = 1, pad = 1: cols.shape = "
                                f"{full.reshape(-1, 27).shape}, cols[7, :6] = {fmt(full.reshape(-1, 27)[7, :6])}")
