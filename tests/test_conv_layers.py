"""Convolution and pooling layers: fast == naive, numerical gradients, dtypes, shapes, errors.

The naive module (:mod:`mtl_numpy.backends.naive`) is the course's loop-by-loop code and the
oracle; the fast twins, with the same signatures and caches, are :mod:`mtl_numpy.conv` (the
vectorised math) and the NumPy backend's kernels (which run NumPy floats on the CPU engine,
:mod:`mtl_numpy.backends._cpu`). Shapes are kept small: the naive loops are slow.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mtl_numpy import conv
from mtl_numpy.backends import naive
from mtl_numpy.backends import numpy_backend as npb
from mtl_numpy.gradcheck import eval_numerical_gradient_array, relative_error

IMPLEMENTATIONS = {"naive": naive, "conv": conv, "numpy": npb}
#: The fast twins held to the naive loops.
FAST = {"conv": conv, "numpy": npb}
PARITY_TOL = 1e-10      # fast vs naive, float64
GRAD_TOL = 1e-7         # analytic vs numerical gradient, float64

HYPOTHESIS = settings(max_examples=150, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow])


def scaled_error(ours, theirs):
    """max |ours - theirs| / (max |ours| + max |theirs|): a rounding-level difference between two
    summation orders stays ~1e-16 even where an entry happens to be close to 0 (where an
    element-wise relative error would blow up)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"shape: ours {ours.shape}, theirs {theirs.shape}"
    if ours.size == 0:
        return 0.0
    scale = np.max(np.abs(ours)) + np.max(np.abs(theirs))
    return float(np.max(np.abs(ours - theirs)) / max(scale, 1e-30))


def assert_close(name, ours, theirs, tol=PARITY_TOL):
    err = scaled_error(ours, theirs)
    assert err <= tol, f"{name}: error {err:.3e} > {tol:.0e}\nours:\n{ours}\ntheirs:\n{theirs}"


def conv_out(n_prev, f, pad, stride):
    return (n_prev - f + 2 * pad) // stride + 1


# ----------------------------------------------------------------------------------------------
# fast == naive
# ----------------------------------------------------------------------------------------------

@st.composite
def conv_cases(draw):
    m = draw(st.integers(1, 3))
    n_H_prev, n_W_prev = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    f, stride, pad = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    n_C_prev, n_C = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    return m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad, seed


@st.composite
def pool_cases(draw):
    m = draw(st.integers(1, 3))
    n_H_prev, n_W_prev = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    f, stride = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    n_C = draw(st.integers(1, 4))
    ties = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return m, n_H_prev, n_W_prev, n_C, f, stride, ties, seed


def check_conv_parity(m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad, seed):
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C_prev))
    W = rng.standard_normal((f, f, n_C_prev, n_C))
    b = rng.standard_normal((1, 1, 1, n_C))
    hparameters = {"stride": stride, "pad": pad}

    Z_naive, cache_naive = naive.conv_forward(A_prev, W, b, hparameters)
    dZ = rng.standard_normal(Z_naive.shape)
    grads_naive = naive.conv_backward(dZ, cache_naive)
    for label, fast in FAST.items():
        Z_fast, cache_fast = fast.conv_forward(A_prev, W, b, hparameters)
        assert Z_fast.shape == (m, conv_out(n_H_prev, f, pad, stride),
                                conv_out(n_W_prev, f, pad, stride), n_C)
        assert_close(f"{label} Z", Z_fast, Z_naive)
        assert len(cache_fast) == len(cache_naive) == 4
        for ours, theirs in zip(cache_fast, cache_naive):
            assert ours is theirs, "the caches must be the same (A_prev, W, b, hparameters)"
        for name, ours, theirs in zip(("dA_prev", "dW", "db"), fast.conv_backward(dZ, cache_fast),
                                      grads_naive):
            assert_close(f"{label} {name}", ours, theirs)


def check_pool_parity(m, n_H_prev, n_W_prev, n_C, f, stride, ties, seed, mode):
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C))
    if ties:
        # Like a ReLU output: many exact zeros and repeated values, so windows tie for the max.
        A_prev = np.maximum(np.round(2 * A_prev), 0.0)
    hparameters = {"f": f, "stride": stride}

    A_naive, cache_naive = naive.pool_forward(A_prev, hparameters, mode=mode)
    dA = rng.standard_normal(A_naive.shape)
    dA_prev_naive = naive.pool_backward(dA, cache_naive, mode=mode)
    for label, fast in FAST.items():
        A_fast, cache_fast = fast.pool_forward(A_prev, hparameters, mode=mode)
        assert A_fast.shape == (m, conv_out(n_H_prev, f, 0, stride),
                                conv_out(n_W_prev, f, 0, stride), n_C)
        assert_close(f"{label} A", A_fast, A_naive)
        assert cache_fast[0] is cache_naive[0] and cache_fast[1] is cache_naive[1]
        dA_prev_fast = fast.pool_backward(dA, cache_fast, mode=mode)
        assert_close(f"{label} dA_prev", dA_prev_fast, dA_prev_naive)
        if mode == "max":
            # One position per window, so nothing is created or lost: the totals agree exactly
            # (up to summation order), ties or not.
            np.testing.assert_allclose(dA_prev_fast.sum(), dA.sum(), rtol=1e-12, atol=1e-12)


@HYPOTHESIS
@given(conv_cases())
def test_conv_fast_equals_naive(case):
    m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad, seed = case
    assume(conv_out(n_H_prev, f, pad, stride) >= 1 and conv_out(n_W_prev, f, pad, stride) >= 1)
    check_conv_parity(*case)


@HYPOTHESIS
@given(pool_cases(), st.sampled_from(["max", "average"]))
def test_pool_fast_equals_naive(case, mode):
    m, n_H_prev, n_W_prev, n_C, f, stride, ties, seed = case
    assume(n_H_prev >= f and n_W_prev >= f)
    check_pool_parity(*case, mode=mode)


@pytest.mark.parametrize("case", [
    # m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad
    (2, 8, 8, 3, 4, 3, 1, 1),       # the reference CNN's 'same' 3x3 conv, scaled down
    (1, 5, 7, 2, 3, 3, 2, 2),       # stride 2, pad larger than needed
    (3, 1, 1, 1, 1, 1, 1, 0),       # 1x1 everything
    (1, 4, 4, 2, 2, 4, 1, 0),       # kernel as large as the image: one output position
    (2, 9, 6, 1, 2, 2, 3, 1),       # stride > kernel: inputs that no window reads
    (1, 2, 3, 2, 1, 4, 3, 2),       # kernel larger than the image, padding makes it fit
])
def test_conv_fast_equals_naive_cases(case):
    check_conv_parity(*case, seed=sum(case))


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("case", [
    # m, n_H_prev, n_W_prev, n_C, f, stride
    (2, 8, 8, 4, 2, 2),             # the reference CNN's pool, exact tiling
    (2, 5, 7, 3, 2, 2),             # odd sizes: last row / column not pooled
    (1, 7, 7, 2, 3, 2),             # overlapping windows
    (1, 6, 5, 2, 2, 3),             # gaps between windows
    (1, 4, 4, 1, 4, 1),             # one window covering everything
])
@pytest.mark.parametrize("ties", [False, True])
def test_pool_fast_equals_naive_cases(case, mode, ties):
    check_pool_parity(*case, ties=ties, seed=sum(case), mode=mode)


@pytest.mark.parametrize("fast", list(FAST.values()), ids=list(FAST))
def test_conv_fast_accepts_non_contiguous_input(fast):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2, 3, 7, 6))                   # (m, C, H, W)
    A_prev = base.transpose(0, 2, 3, 1)[:, ::1, 1:, :]         # a strided channels-last view
    assert not A_prev.flags.c_contiguous
    W = rng.standard_normal((3, 3, 3, 2))
    b = rng.standard_normal((1, 1, 1, 2))
    for pad in (0, 1):
        hp = {"stride": 1, "pad": pad}
        Z_fast, cache_fast = fast.conv_forward(A_prev, W, b, hp)
        Z_naive, cache_naive = naive.conv_forward(A_prev, W, b, hp)
        assert_close("Z", Z_fast, Z_naive)
        dZ = rng.standard_normal(Z_fast.shape)
        for name, ours, theirs in zip(("dA_prev", "dW", "db"), fast.conv_backward(dZ, cache_fast),
                                      naive.conv_backward(dZ, cache_naive)):
            assert_close(name, ours, theirs)


@pytest.mark.parametrize("fast", list(FAST.values()), ids=list(FAST))
def test_fast_functions_leave_inputs_untouched(fast):
    rng = np.random.default_rng(4)
    A_prev = rng.standard_normal((2, 6, 6, 3))
    W = rng.standard_normal((3, 3, 3, 2))
    b = rng.standard_normal((1, 1, 1, 2))
    copies = [x.copy() for x in (A_prev, W, b)]
    Z, cache = fast.conv_forward(A_prev, W, b, {"stride": 1, "pad": 1})
    dZ = rng.standard_normal(Z.shape)
    dZ_copy = dZ.copy()
    fast.conv_backward(dZ, cache)
    P, pcache = fast.pool_forward(A_prev, {"f": 2, "stride": 2})
    dP = rng.standard_normal(P.shape)
    dP_copy = dP.copy()
    fast.pool_backward(dP, pcache)
    for x, c in zip((A_prev, W, b, dZ, dP), copies + [dZ_copy, dP_copy]):
        np.testing.assert_array_equal(x, c)


def test_im2col_col2im_are_adjoint():
    # <im2col(A), D> == <A, col2im(D)> for every A, D: col2im is exactly im2col's transpose.
    rng = np.random.default_rng(5)
    for f, stride, pad in [(3, 1, 1), (2, 2, 0), (3, 2, 2), (4, 3, 1)]:
        A = rng.standard_normal((2, 7, 6, 3))
        cols = conv.im2col(A, f, stride, pad)
        n_H, n_W = conv_out(7, f, pad, stride), conv_out(6, f, pad, stride)
        assert cols.shape == (2, n_H, n_W, f, f, 3) and cols.flags.c_contiguous
        D = rng.standard_normal(cols.shape)
        lhs = np.sum(cols * D)
        rhs = np.sum(A * conv.col2im(D, A.shape, f, stride, pad))
        assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + abs(rhs)), (f, stride, pad, lhs, rhs)


# ----------------------------------------------------------------------------------------------
# Max-pool tie rule
# ----------------------------------------------------------------------------------------------

def test_create_mask_from_window_marks_first_maximum_only():
    x = np.array([[1.0, 3.0], [3.0, -1.0]])
    np.testing.assert_array_equal(naive.create_mask_from_window(x),
                                  [[False, True], [False, False]])
    np.testing.assert_array_equal(naive.create_mask_from_window(np.zeros((2, 2))),
                                  [[True, False], [False, False]])


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
def test_max_pool_ties_route_to_first_position(impl):
    layer = IMPLEMENTATIONS[impl]
    A_prev = np.zeros((1, 4, 4, 1))       # three windows of zeros: 4-way ties
    A_prev[0, 2, 2, 0] = 5.0             # the last window ties at 5 in two places,
    A_prev[0, 3, 2, 0] = 5.0             # (2, 2) first in row-major order
    A, cache = layer.pool_forward(A_prev, {"f": 2, "stride": 2})
    dA = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1)
    dA_prev = layer.pool_backward(dA, cache)[0, :, :, 0]
    expected = np.array([[1.0, 0.0, 2.0, 0.0],
                         [0.0, 0.0, 0.0, 0.0],
                         [3.0, 0.0, 4.0, 0.0],
                         [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(dA_prev, expected)


# ----------------------------------------------------------------------------------------------
# Numerical gradients (layer level, against an upstream gradient)
# ----------------------------------------------------------------------------------------------

def assert_gradient(name, analytic, numerical):
    err = relative_error(analytic, numerical)
    assert err < GRAD_TOL, (f"{name}: relative error {err:.3e} >= {GRAD_TOL:.0e}\n"
                            f"analytic:\n{analytic}\nnumerical:\n{numerical}")


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("f, stride, pad", [(3, 1, 1), (2, 2, 1), (3, 2, 0)])
def test_conv_backward_numerical_gradient(impl, f, stride, pad):
    layer = IMPLEMENTATIONS[impl]
    rng = np.random.default_rng(10 * f + 3 * stride + pad)
    A_prev = rng.standard_normal((2, 5, 4, 3))
    W = rng.standard_normal((f, f, 3, 2))
    b = rng.standard_normal((1, 1, 1, 2))
    hp = {"stride": stride, "pad": pad}
    Z, cache = layer.conv_forward(A_prev, W, b, hp)
    dZ = rng.standard_normal(Z.shape)
    dA_prev, dW, db = layer.conv_backward(dZ, cache)

    num_dA_prev = eval_numerical_gradient_array(
        lambda x: layer.conv_forward(x, W, b, hp)[0], A_prev, dZ)
    num_dW = eval_numerical_gradient_array(lambda w: layer.conv_forward(A_prev, w, b, hp)[0], W, dZ)
    num_db = eval_numerical_gradient_array(lambda c: layer.conv_forward(A_prev, W, c, hp)[0], b, dZ)
    assert_gradient("dA_prev", dA_prev, num_dA_prev)
    assert_gradient("dW", dW, num_dW)
    assert_gradient("db", db, num_db)


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("f, stride", [(2, 2), (3, 2), (2, 3)])
def test_pool_backward_numerical_gradient(impl, mode, f, stride):
    layer = IMPLEMENTATIONS[impl]
    rng = np.random.default_rng(7 * f + stride)
    shape = (2, 7, 6, 2)
    # Distinct values 0.1 apart, shuffled: no window has a near-tie, so the +-h of the finite
    # difference never moves the argmax (it would cross a kink of max otherwise).
    A_prev = 0.1 * rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64)
    hp = {"f": f, "stride": stride}
    A, cache = layer.pool_forward(A_prev, hp, mode=mode)
    dA = rng.standard_normal(A.shape)
    dA_prev = layer.pool_backward(dA, cache, mode=mode)
    num = eval_numerical_gradient_array(lambda x: layer.pool_forward(x, hp, mode=mode)[0],
                                        A_prev, dA)
    assert_gradient("dA_prev", dA_prev, num)


# ----------------------------------------------------------------------------------------------
# dtypes and shapes
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(impl, dtype):
    layer = IMPLEMENTATIONS[impl]
    rng = np.random.default_rng(0)
    A_prev = rng.standard_normal((2, 6, 5, 3)).astype(dtype)
    W = rng.standard_normal((3, 3, 3, 4)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, 4)).astype(dtype)
    Z, cache = layer.conv_forward(A_prev, W, b, {"stride": 1, "pad": 1})
    assert Z.dtype == dtype
    dA_prev, dW, db = layer.conv_backward(np.ones_like(Z), cache)
    assert (dA_prev.dtype, dW.dtype, db.dtype) == (dtype, dtype, dtype)
    for mode in ("max", "average"):
        A, pcache = layer.pool_forward(Z, {"f": 2, "stride": 2}, mode=mode)
        assert A.dtype == dtype
        assert layer.pool_backward(np.ones_like(A), pcache, mode=mode).dtype == dtype


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("f", [1, 3, 5])
def test_same_padding_keeps_spatial_shape(impl, f):
    layer = IMPLEMENTATIONS[impl]
    rng = np.random.default_rng(f)
    A_prev = rng.standard_normal((1, 7, 6, 2))
    W = rng.standard_normal((f, f, 2, 3))
    b = np.zeros((1, 1, 1, 3))
    Z, cache = layer.conv_forward(A_prev, W, b, {"stride": 1, "pad": (f - 1) // 2})
    assert Z.shape == (1, 7, 6, 3)
    assert layer.conv_backward(Z, cache)[0].shape == A_prev.shape


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("mode", ["max", "average"])
def test_pool_non_divisible_size(impl, mode):
    layer = IMPLEMENTATIONS[impl]
    rng = np.random.default_rng(1)
    A_prev = rng.standard_normal((2, 5, 7, 3))
    A, cache = layer.pool_forward(A_prev, {"f": 2, "stride": 2}, mode=mode)
    assert A.shape == (2, 2, 3, 3)
    expected = (A_prev[:, :4, :6, :].reshape(2, 2, 2, 3, 2, 3).max(axis=(2, 4)) if mode == "max"
                else A_prev[:, :4, :6, :].reshape(2, 2, 2, 3, 2, 3).mean(axis=(2, 4)))
    np.testing.assert_allclose(A, expected, rtol=1e-12)
    dA_prev = layer.pool_backward(rng.standard_normal(A.shape), cache, mode=mode)
    assert dA_prev.shape == A_prev.shape
    # The last row and the last column are read by no window: zero gradient.
    assert np.all(dA_prev[:, 4, :, :] == 0) and np.all(dA_prev[:, :, 6, :] == 0)
    assert np.any(dA_prev[:, :4, :6, :] != 0)


# ----------------------------------------------------------------------------------------------
# Bad input (fast versions validate; the naive ones are the course's code)
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fast", list(FAST.values()), ids=list(FAST))
def test_conv_bad_input_raises_value_error_naming_the_argument(fast):
    A_prev = np.zeros((2, 5, 5, 3))
    W = np.zeros((3, 3, 3, 4))
    b = np.zeros((1, 1, 1, 4))
    hp = {"stride": 1, "pad": 1}
    with pytest.raises(ValueError, match="n_C_prev"):
        fast.conv_forward(A_prev, np.zeros((3, 3, 2, 4)), b, hp)
    with pytest.raises(ValueError, match="b must have shape"):
        fast.conv_forward(A_prev, W, np.zeros((4, 1)), hp)
    with pytest.raises(ValueError, match="A_prev must be a 4-d array"):
        fast.conv_forward(np.zeros((5, 5, 3)), W, b, hp)
    with pytest.raises(ValueError, match="stride"):
        fast.conv_forward(A_prev, W, b, {"stride": 0, "pad": 1})
    with pytest.raises(ValueError, match="hparameters"):
        fast.conv_forward(A_prev, W, b, {"stride": 1})
    with pytest.raises(ValueError, match="does not fit"):
        fast.conv_forward(np.zeros((1, 2, 2, 3)), W, b, {"stride": 1, "pad": 0})
    Z, cache = fast.conv_forward(A_prev, W, b, hp)
    with pytest.raises(ValueError, match="dZ must have the shape"):
        fast.conv_backward(Z[:, :, :, :2], cache)


@pytest.mark.parametrize("fast", list(FAST.values()), ids=list(FAST))
def test_pool_bad_input_raises_value_error_naming_the_argument(fast):
    A_prev = np.zeros((2, 5, 5, 3))
    with pytest.raises(ValueError, match="mode"):
        fast.pool_forward(A_prev, {"f": 2, "stride": 2}, mode="min")
    with pytest.raises(ValueError, match="mode"):
        naive.pool_forward(A_prev, {"f": 2, "stride": 2}, mode="min")
    with pytest.raises(ValueError, match='hparameters\\["f"\\]'):
        fast.pool_forward(A_prev, {"f": 0, "stride": 2})
    with pytest.raises(ValueError, match="does not fit"):
        fast.pool_forward(A_prev, {"f": 6, "stride": 1})
    A, cache = fast.pool_forward(A_prev, {"f": 2, "stride": 2})
    with pytest.raises(ValueError, match="dA must have the shape"):
        fast.pool_backward(A[:1], cache)


def test_conv_backward_can_skip_dA_prev():
    rng = np.random.default_rng(5)
    A = rng.normal(size=(2, 5, 5, 3))
    W = rng.normal(size=(3, 3, 3, 4))
    b = rng.normal(size=(1, 1, 1, 4))
    for module in (conv, npb, naive):
        Z, cache = module.conv_forward(A, W, b, {"stride": 1, "pad": 1})
        dZ = rng.normal(size=Z.shape)
        full = module.conv_backward(dZ, cache)
        skipped = module.conv_backward(dZ, cache, need_dA_prev=False)
        assert skipped[0] is None
        np.testing.assert_array_equal(skipped[1], full[1])
        np.testing.assert_array_equal(skipped[2], full[2])
