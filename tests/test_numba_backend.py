"""The Numba backend: every kernel equals its NumPy twin, whole models agree, gradients check.

Tolerances: float64 to 1e-10, float32 to 1e-4, both relative to the size of the reference
(``scaled_error``: an entry that happens to be near 0 does not blow the error up). The same
file passes with ``NUMBA_DISABLE_JIT=1``, where the kernels run as plain Python: the shapes are
kept small for that.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

numba = pytest.importorskip("numba")

import mtl_numpy as mtl  # noqa: E402
from mtl_numpy.backends import _numba_config as config  # noqa: E402
from mtl_numpy.backends import numba_backend as nbb  # noqa: E402
from mtl_numpy.backends import numpy_backend as npb  # noqa: E402
from mtl_numpy.backends import get_backend, missing_kernels  # noqa: E402

from conftest import random_labels  # noqa: E402

TOL = {np.float64: 1e-10, np.float32: 1e-4}
DTYPES = [np.float64, np.float32]
PARITY = settings(max_examples=40, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])

def scaled_error(ours, theirs):
    """max |ours - theirs| / max(|theirs|), in float64 (0 for two empty or all-zero arrays)."""
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"shape: ours {ours.shape}, theirs {theirs.shape}"
    if ours.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(theirs))), float(np.max(np.abs(ours))), 1e-300)
    return float(np.max(np.abs(ours - theirs))) / scale


def assert_same(name, ours, theirs, dtype):
    """Numba result ``ours`` equals NumPy's ``theirs``: dtype kept, values within TOL[dtype]."""
    if theirs is None:
        assert ours is None, f"{name}: ours is not None"
        return
    assert ours.dtype == theirs.dtype, f"{name}: dtype ours {ours.dtype}, theirs {theirs.dtype}"
    err = scaled_error(ours, theirs)
    assert err <= TOL[dtype], f"{name}: error {err:.3e} > {TOL[dtype]:.0e}\nours:\n{ours}\ntheirs:\n{theirs}"


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


# ----------------------------------------------------------------------------------------------
# The backend as a whole
# ----------------------------------------------------------------------------------------------

def test_numba_is_available_and_complete():
    assert "numba" in mtl.available_backends()
    bk = get_backend("numba")
    assert bk is nbb and bk.name == "numba" and bk.xp is np
    bk.check_available()
    assert missing_kernels(bk) == []        # the declared interface (backends/_interface.py)
    x = np.arange(6.0).reshape(2, 3)
    assert bk.asarray(x, dtype="float32").dtype == np.float32
    assert bk.to_numpy(x) is x


def test_fastmath_flags_come_from_one_place_and_exclude_nnan():
    assert not {"nnan", "ninf", "fast"} & set(config.FASTMATH)
    assert config.SERIAL["fastmath"] == set(config.FASTMATH)
    assert config.PARALLEL["parallel"] is True
    kernels = [nbb._cost_grad_serial_f32, nbb._cost_grad_parallel_f32, nbb._cost_grad_serial_f64,
               nbb._im2col_kernel, nbb._max_pool_backward_kernel, nbb._bias_relu]
    for kernel in kernels:
        options = getattr(kernel, "targetoptions", None)
        if options is None:        # NUMBA_DISABLE_JIT=1: plain functions, nothing to inspect
            continue
        assert options["fastmath"] == set(config.FASTMATH), kernel
        assert type(kernel._cache).__name__ == "FunctionCache", kernel   # cache=True


# ----------------------------------------------------------------------------------------------
# Masked logistic cost and gradient
# ----------------------------------------------------------------------------------------------

@given(n_tasks=st.integers(1, 5), m=st.integers(1, 40), missing=st.sampled_from([0.0, 0.3, 0.9]),
       scale=st.sampled_from([0.1, 3.0, 30.0]), seed=st.integers(0, 10_000))
@PARITY
def test_masked_cost_matches_numpy(n_tasks, m, missing, scale, seed):
    rng = np.random.default_rng(seed)
    for dtype in DTYPES:
        ZL = (scale * rng.standard_normal((n_tasks, m))).astype(dtype)
        Y = random_labels(rng, n_tasks, m, missing, dtype=dtype)
        for normalize in ("examples", "labels"):
            # the serial kernel here; the prange one is held equal to it below (waking a thread
            # pool for each of these tiny inputs costs more than the test)
            J0, dZ0 = npb.masked_logistic_cost_and_grad(ZL, Y, normalize)
            J1, dZ1 = nbb.masked_logistic_cost_and_grad(ZL, Y, normalize, parallel=False)
            assert isinstance(J1, float)
            assert rel(J1, J0) <= TOL[dtype] or abs(J1 - J0) < 1e-300, (J1, J0)
            assert_same(f"dZL {normalize}", dZ1, dZ0, dtype)
            assert np.all(dZ1[np.isnan(Y)] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalize", ["examples", "labels"])
def test_masked_cost_parallel_chunks_equal_serial_and_numpy(dtype, normalize, monkeypatch):
    # Small chunks so that a small input spans many prange chunks (and a ragged last one).
    rng = np.random.default_rng(5)
    ZL = (4 * rng.standard_normal((3, 1001))).astype(dtype)
    Y = random_labels(rng, 3, 1001, 0.4, dtype=dtype)
    monkeypatch.setattr(config, "COST_CHUNK", 64)
    J_serial, dZ_serial = nbb.masked_logistic_cost_and_grad(ZL, Y, normalize, parallel=False)
    J_par, dZ_par = nbb.masked_logistic_cost_and_grad(ZL, Y, normalize, parallel=True)
    np.testing.assert_array_equal(dZ_par, dZ_serial)
    assert rel(J_par, J_serial) < 1e-12
    J0, dZ0 = npb.masked_logistic_cost_and_grad(ZL, Y, normalize)
    assert rel(J_par, J0) < TOL[dtype]
    assert_same("parallel dZL", dZ_par, dZ0, dtype)
    # above COST_PARALLEL_MIN, the default (parallel=None) picks the prange kernel
    monkeypatch.setattr(config, "COST_PARALLEL_MIN", 1)
    J_auto, dZ_auto = nbb.masked_logistic_cost_and_grad(ZL, Y, normalize)
    np.testing.assert_array_equal(dZ_auto, dZ_par)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("parallel", [False, True])
def test_nan_labels_never_reach_the_arithmetic(dtype, parallel):
    """Under the configured fast-math flags a '?' (nan) still gives a finite cost, a zero
    gradient entry, and exactly the cost of the known entries alone."""
    rng = np.random.default_rng(0)
    ZL = (5 * rng.standard_normal((4, 257))).astype(dtype)
    Y = random_labels(rng, 4, 257, 0.5, dtype=dtype)
    J, dZ = nbb.masked_logistic_cost_and_grad(ZL, Y, "examples", parallel=parallel)
    assert np.isfinite(J)
    assert np.all(np.isfinite(dZ))
    assert np.all(dZ[np.isnan(Y)] == 0)
    known = ~np.isnan(Y)
    z, y = ZL[known].astype(np.float64), Y[known].astype(np.float64)
    expected = float(np.sum(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))) / 257
    assert rel(J, expected) < TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalize", ["examples", "labels"])
def test_all_unknown_gives_zero_cost_and_zero_gradient(dtype, normalize):
    ZL = np.linspace(-5, 5, 12, dtype=dtype).reshape(3, 4)
    Y = np.full((3, 4), np.nan, dtype=dtype)
    for parallel in (False, True):
        J, dZ = nbb.masked_logistic_cost_and_grad(ZL, Y, normalize, parallel=parallel)
        assert J == 0.0
        assert dZ.dtype == dtype and dZ.shape == ZL.shape
        assert np.all(dZ == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_stay_finite(dtype):
    ZL = np.array([[1e4, -1e4, 1e4, -1e4, 0.0], [-1e4, 1e4, 88.0, -88.0, -104.0]], dtype=dtype)
    Y = np.array([[1, 0, 0, 1, np.nan], [1, 0, np.nan, 0, 1]], dtype=dtype)
    J0, dZ0 = npb.masked_logistic_cost_and_grad(ZL, Y, "examples")
    for parallel in (False, True):
        J, dZ = nbb.masked_logistic_cost_and_grad(ZL, Y, "examples", parallel=parallel)
        assert np.isfinite(J) and np.all(np.isfinite(dZ))
        assert rel(J, J0) < TOL[dtype]
        assert_same("dZL", dZ, dZ0, dtype)
    # the public function on the numba backend, too
    J, dZ = mtl.masked_logistic_cost_and_grad(ZL, Y, backend="numba")
    assert np.isfinite(J) and dZ.dtype == dtype


def test_float32_exp_and_log1p_are_accurate():
    """The vectorisable float32 polynomials: per-element loss and sigmoid within 2e-6 relative of
    the float64 formula (the float32 inputs taken as exact), over |z| up to 100; below float32's
    smallest normal number (e^-87.3 = 1.2e-38) the kernel gives 0 where NumPy gives a subnormal."""
    z = np.concatenate([np.linspace(-100, 100, 1601), np.geomspace(1e-8, 100, 200),
                        -np.geomspace(1e-8, 100, 200)]).astype(np.float32)
    z64 = z.astype(np.float64)
    for label in (0.0, 1.0):
        y = np.full(1, label, dtype=np.float32)
        loss = np.empty(z.size)
        dz = np.empty(1, dtype=np.float32)
        sig = np.empty(z.size)
        for i in range(z.size):
            loss[i] = nbb._cost_grad_serial_f32(z[i:i + 1], y, dz, np.float32(1.0))
            sig[i] = dz[0] + label
        ref_loss = np.maximum(z64, 0) - z64 * label + np.log1p(np.exp(-np.abs(z64)))
        ref_sig = 1 / (1 + np.exp(-z64))
        tiny = np.finfo(np.float32).tiny
        assert np.all(np.abs(loss - ref_loss) <= 2e-6 * ref_loss + tiny)
        # sigma(z) - 1 loses its digits near 1 in float32 (as in NumPy): absolute 1e-7 there.
        assert np.all(np.abs(sig - ref_sig) <= 2e-6 * ref_sig + (1e-7 if label else tiny))


def test_float64_cost_is_accurate_to_1e_10():
    rng = np.random.default_rng(3)
    ZL = 20 * rng.standard_normal((4, 300))
    Y = random_labels(rng, 4, 300, 0.2)
    J0, dZ0 = npb.masked_logistic_cost_and_grad(ZL, Y, "labels")
    J1, dZ1 = nbb.masked_logistic_cost_and_grad(ZL, Y, "labels")
    assert rel(J1, J0) < 1e-12
    assert scaled_error(dZ1, dZ0) < 1e-12


def test_cost_accepts_non_contiguous_and_other_dtypes():
    rng = np.random.default_rng(4)
    ZL = rng.standard_normal((8, 6))[::2]               # a strided view
    Y = random_labels(rng, 4, 12, 0.3)[:, ::2]
    J0, dZ0 = npb.masked_logistic_cost_and_grad(ZL, Y, "examples")
    J1, dZ1 = nbb.masked_logistic_cost_and_grad(ZL, Y, "examples")
    assert rel(J1, J0) < 1e-12 and scaled_error(dZ1, dZ0) < 1e-12
    # float64 labels with float32 logits: labels follow ZL's dtype, as in NumPy's kernel
    J2, dZ2 = nbb.masked_logistic_cost_and_grad(ZL.astype(np.float32), Y, "examples")
    assert dZ2.dtype == np.float32 and rel(J2, J0) < 1e-5


# ----------------------------------------------------------------------------------------------
# Dense layers and activations
# ----------------------------------------------------------------------------------------------

@given(n=st.integers(1, 7), n_prev=st.integers(1, 7), m=st.integers(1, 9),
       seed=st.integers(0, 10_000))
@PARITY
def test_dense_kernels_match_numpy(n, n_prev, m, seed):
    rng = np.random.default_rng(seed)
    for dtype in DTYPES:
        A_prev = rng.standard_normal((n_prev, m)).astype(dtype)
        W = rng.standard_normal((n, n_prev)).astype(dtype)
        b = rng.standard_normal((n, 1)).astype(dtype)
        dA = rng.standard_normal((n, m)).astype(dtype)

        A0, cache0 = npb.linear_relu_forward(A_prev, W, b)
        A1, cache1 = nbb.linear_relu_forward(A_prev, W, b)
        assert_same("A", A1, A0, dtype)
        (c_A, c_W, c_b), c_Z = cache1
        assert c_A is A_prev and c_W is W and c_b is b     # the cache layout ((A_prev, W, b), Z)
        assert_same("cache Z", c_Z, cache0[1], dtype)
        for need in (True, False):
            for name, ours, theirs in zip(("dA_prev", "dW", "db"),
                                          nbb.linear_relu_backward(dA, cache1, need_dA_prev=need),
                                          npb.linear_relu_backward(dA, cache0, need_dA_prev=need)):
                assert_same(name, ours, theirs, dtype)
            # caches are interchangeable between the backends
            for ours, theirs in zip(npb.linear_relu_backward(dA, cache1, need),
                                    nbb.linear_relu_backward(dA, cache0, need)):
                assert_same("swapped caches", ours, theirs, dtype)

        Z = rng.standard_normal((n, m)).astype(dtype)
        Z[0, 0] = 0                                         # derivative at 0 is 0
        assert_same("relu_backward", nbb.relu_backward(dA, Z), npb.relu_backward(dA, Z), dtype)
        assert nbb.relu_backward(dA, Z)[0, 0] == 0
        for name in ("relu_forward", "sigmoid_forward"):
            assert_same(name, getattr(nbb, name)(Z)[0], getattr(npb, name)(Z)[0], dtype)
        assert_same("sigmoid_backward", nbb.sigmoid_backward(dA, Z), npb.sigmoid_backward(dA, Z),
                    dtype)
        Zl, lc = nbb.linear_forward(A_prev, W, b)
        assert_same("linear_forward", Zl, npb.linear_forward(A_prev, W, b)[0], dtype)
        for ours, theirs in zip(nbb.linear_backward(dA, lc), npb.linear_backward(dA, lc)):
            assert_same("linear_backward", ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_backward_on_conv_shapes_and_flatten(dtype):
    rng = np.random.default_rng(7)
    Z = np.maximum(rng.standard_normal((3, 4, 5, 2)), 0).astype(dtype)   # many exact zeros
    dA = rng.standard_normal(Z.shape).astype(dtype)
    dZ = nbb.relu_backward(dA, Z)
    assert_same("relu_backward 4-d", dZ, npb.relu_backward(dA, Z), dtype)
    assert np.all(dZ[Z == 0] == 0)
    flat, cache = nbb.flatten_forward(Z)
    assert_same("flatten", flat, npb.flatten_forward(Z)[0], dtype)
    assert_same("unflatten", nbb.flatten_backward(flat, cache), Z, dtype)


def test_dense_kernels_fall_back_on_mixed_dtypes():
    rng = np.random.default_rng(8)
    A_prev = rng.standard_normal((3, 4)).astype(np.float32)
    W, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 1))      # float64
    A0, c0 = npb.linear_relu_forward(A_prev, W, b)
    A1, c1 = nbb.linear_relu_forward(A_prev, W, b)
    assert_same("A mixed", A1, A0, np.float64)
    dA = rng.standard_normal(A0.shape)
    for ours, theirs in zip(nbb.linear_relu_backward(dA, c1), npb.linear_relu_backward(dA, c0)):
        assert_same("mixed backward", ours, theirs, np.float64)


# ----------------------------------------------------------------------------------------------
# Convolution and pooling
# ----------------------------------------------------------------------------------------------

@st.composite
def conv_cases(draw):
    m = draw(st.integers(1, 3))
    n_H_prev, n_W_prev = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    f, stride, pad = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    n_C_prev, n_C = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    return m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad, draw(st.integers(0, 10_000))


@given(case=conv_cases())
@PARITY
def test_conv_matches_numpy(case):
    m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad, seed = case
    if n_H_prev + 2 * pad < f or n_W_prev + 2 * pad < f:
        with pytest.raises(ValueError):
            nbb.conv_forward(np.zeros((m, n_H_prev, n_W_prev, n_C_prev)),
                             np.zeros((f, f, n_C_prev, n_C)), np.zeros((1, 1, 1, n_C)),
                             {"stride": stride, "pad": pad})
        return
    rng = np.random.default_rng(seed)
    hparameters = {"stride": stride, "pad": pad}
    for dtype in DTYPES:
        A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C_prev)).astype(dtype)
        W = rng.standard_normal((f, f, n_C_prev, n_C)).astype(dtype)
        b = rng.standard_normal((1, 1, 1, n_C)).astype(dtype)
        Z0, cache0 = npb.conv_forward(A_prev, W, b, hparameters)
        Z1, cache1 = nbb.conv_forward(A_prev, W, b, hparameters)
        assert_same("Z", Z1, Z0, dtype)
        assert len(cache1) == 4 and cache1[0] is A_prev and cache1[1] is W and cache1[2] is b
        assert cache1[3] is hparameters
        dZ = rng.standard_normal(Z0.shape).astype(dtype)
        grads0 = npb.conv_backward(dZ, cache0)
        for name, ours, theirs in zip(("dA_prev", "dW", "db"), nbb.conv_backward(dZ, cache1), grads0):
            assert_same(name, ours, theirs, dtype)
        for name, ours, theirs in zip(("dA_prev", "dW", "db"), npb.conv_backward(dZ, cache1), grads0):
            assert_same("numpy backward of a numba cache: " + name, ours, theirs, dtype)
        dA_prev, dW, db = nbb.conv_backward(dZ, cache1, need_dA_prev=False)
        assert dA_prev is None
        assert_same("dW without dA_prev", dW, grads0[1], dtype)
        assert_same("db without dA_prev", db, grads0[2], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_runs_in_several_blocks(dtype, monkeypatch):
    """A batch bigger than the scratch buffer goes through block by block (ragged last block)."""
    monkeypatch.setattr(config, "CONV_BLOCK_BYTES", 1)         # one example per block
    rng = np.random.default_rng(9)
    A_prev = rng.standard_normal((5, 6, 5, 3)).astype(dtype)
    W = rng.standard_normal((3, 3, 3, 4)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, 4)).astype(dtype)
    hparameters = {"stride": 1, "pad": 1}
    Z0, cache0 = npb.conv_forward(A_prev, W, b, hparameters)
    Z1, cache1 = nbb.conv_forward(A_prev, W, b, hparameters)
    assert_same("Z", Z1, Z0, dtype)
    dZ = rng.standard_normal(Z0.shape).astype(dtype)
    for ours, theirs in zip(nbb.conv_backward(dZ, cache1), npb.conv_backward(dZ, cache0)):
        assert_same("blocked backward", ours, theirs, dtype)


def test_conv_falls_back_on_mixed_dtypes_and_validates():
    rng = np.random.default_rng(10)
    A_prev = rng.standard_normal((2, 4, 4, 2)).astype(np.float32)
    W, b = rng.standard_normal((3, 3, 2, 3)), rng.standard_normal((1, 1, 1, 3))
    hparameters = {"stride": 1, "pad": 1}
    Z0, c0 = npb.conv_forward(A_prev, W, b, hparameters)
    Z1, c1 = nbb.conv_forward(A_prev, W, b, hparameters)
    assert_same("mixed Z", Z1, Z0, np.float64)
    for ours, theirs in zip(nbb.conv_backward(Z0, c1), npb.conv_backward(Z0, c0)):
        assert_same("mixed backward", ours, theirs, np.float64)
    with pytest.raises(ValueError, match="b must have shape"):
        nbb.conv_forward(A_prev, W, b[..., :2], hparameters)
    with pytest.raises(ValueError, match="dZ"):
        nbb.conv_backward(Z0[:, :2], c1)


@st.composite
def pool_cases(draw):
    m = draw(st.integers(1, 3))
    n_H_prev, n_W_prev = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    f, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n_C = draw(st.integers(1, 5))
    ties = draw(st.booleans())
    return m, n_H_prev, n_W_prev, n_C, f, stride, ties, draw(st.integers(0, 10_000))


@given(case=pool_cases())
@PARITY
def test_pool_matches_numpy(case):
    m, n_H_prev, n_W_prev, n_C, f, stride, ties, seed = case
    if f > n_H_prev or f > n_W_prev:
        with pytest.raises(ValueError):
            nbb.pool_forward(np.zeros((m, n_H_prev, n_W_prev, n_C)), {"f": f, "stride": stride})
        return
    rng = np.random.default_rng(seed)
    hparameters = {"f": f, "stride": stride}
    for dtype in DTYPES:
        A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C))
        if ties:   # after a ReLU whole windows are 0; small integers tie too
            A_prev = np.maximum(np.round(A_prev), 0)
        A_prev = A_prev.astype(dtype)
        for mode in ("max", "average"):
            A0, cache0 = npb.pool_forward(A_prev, hparameters, mode=mode)
            A1, cache1 = nbb.pool_forward(A_prev, hparameters, mode=mode)
            assert_same(f"{mode} A", A1, A0, dtype)
            assert cache1[0] is A_prev and cache1[1] is hparameters
            dA = rng.standard_normal(A0.shape).astype(dtype)
            dA_prev = nbb.pool_backward(dA, cache1, mode=mode)
            assert_same(f"{mode} dA_prev", dA_prev, npb.pool_backward(dA, cache0, mode=mode), dtype)
            assert_same(f"{mode} swapped caches", npb.pool_backward(dA, cache1, mode=mode),
                        nbb.pool_backward(dA, cache0, mode=mode), dtype)
            if mode == "max" and stride >= f:
                # one input per window receives its gradient: the total is kept
                assert abs(float(dA_prev.sum()) - float(dA.sum())) <= TOL[dtype] * (1 + np.abs(dA).sum())


def test_max_pool_backward_routes_to_the_first_maximum():
    all_tied = np.zeros((1, 2, 2, 1))                     # one window of zeros (after a ReLU)
    bottom_tied = np.zeros((1, 2, 2, 1))
    bottom_tied[0, 1, :, 0] = 1.0                         # two tied maxima in the bottom row
    for A_prev, first in ((all_tied, (0, 0)), (bottom_tied, (1, 0))):
        _, cache = nbb.pool_forward(A_prev, {"f": 2, "stride": 2})
        dA_prev = nbb.pool_backward(np.full((1, 1, 1, 1), 3.0), cache)
        expected = np.zeros_like(A_prev)
        expected[0, first[0], first[1], 0] = 3.0
        np.testing.assert_array_equal(dA_prev, expected)


# ----------------------------------------------------------------------------------------------
# Whole models: numba == numpy, and gradient checks on the numba backend
# ----------------------------------------------------------------------------------------------

def assert_models_agree(model_np, model_nb, X, Y, dtype):
    J0, grads0 = model_np.cost_and_grads(X, Y)
    J1, grads1 = model_nb.cost_and_grads(X, Y)
    assert rel(J1, J0) <= TOL[dtype] or abs(J1 - J0) < 1e-300, (J1, J0)
    assert list(grads1) == list(grads0)
    for key in grads0:
        assert_same(key, grads1[key], grads0[key], dtype)
    assert_same("predict_proba", model_nb.predict_proba(X), model_np.predict_proba(X), dtype)
    np.testing.assert_array_equal(model_nb.predict(X), model_np.predict(X))


@given(hidden=st.lists(st.integers(1, 8), min_size=0, max_size=2), n_x=st.integers(1, 6),
       n_tasks=st.integers(1, 4), m=st.integers(1, 12), missing=st.sampled_from([0.0, 0.3, 1.0]),
       normalize=st.sampled_from(["examples", "labels"]), seed=st.integers(0, 1000))
@PARITY
def test_mlp_numba_equals_numpy(hidden, n_x, n_tasks, m, missing, normalize, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m))
    Y = random_labels(rng, n_tasks, m, missing)
    for dtype in ("float64", "float32"):
        model_np = mtl.SharedMLP([n_x, *hidden, n_tasks], seed=seed, dtype=dtype,
                                 normalize=normalize, backend="numpy")
        model_nb = mtl.SharedMLP([n_x, *hidden, n_tasks], seed=seed, dtype=dtype,
                                 normalize=normalize, backend="numba")
        assert model_nb.backend is nbb
        assert_models_agree(model_np, model_nb, X, Y, np.dtype(dtype).type)


CNN_SHAPES = [
    # input_shape, conv_channels, kernel_size, pool_size, hidden, n_tasks, m
    ((8, 8, 3), (4, 6), 3, 2, (8,), 4, 3),
    ((7, 6, 2), (3,), 3, 2, (), 2, 2),
    ((9, 9, 1), (2, 3), 5, 3, (4, 3), 3, 2),
]


@pytest.mark.parametrize("shape", CNN_SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("normalize", ["examples", "labels"])
def test_cnn_numba_equals_numpy(shape, dtype, normalize):
    input_shape, channels, f, pool, hidden, n_tasks, m = shape
    rng = np.random.default_rng(sum(input_shape) + len(channels))
    X = rng.random((m, *input_shape))
    Y = random_labels(rng, n_tasks, m, 0.3)
    Y[:, 0] = np.nan                                      # an all-'?' example
    kwargs = dict(input_shape=input_shape, conv_channels=channels, kernel_size=f, pool_size=pool,
                  hidden=hidden, n_tasks=n_tasks, seed=11, dtype=dtype, normalize=normalize)
    model_np = mtl.SharedCNN(**kwargs, backend="numpy")
    model_nb = mtl.SharedCNN(**kwargs, backend="numba")
    assert_models_agree(model_np, model_nb, X, Y, np.dtype(dtype).type)
    assert model_np.to_backend("numba").backend is nbb


def jitter_biases(model, rng):
    """Small random biases: with b = 0 a dead ReLU feeds exact zeros onward, onto the kink."""
    for key, value in model.params.items():
        if key.startswith("b"):
            value += rng.normal(scale=0.1, size=value.shape)
    return model


@pytest.mark.parametrize("normalize", ["examples", "labels"])
def test_gradient_check_mlp_on_numba(normalize):
    rng = np.random.default_rng(21)
    model = jitter_biases(mtl.SharedMLP([5, 6, 4, 3], seed=2, dtype="float64", backend="numba",
                                        normalize=normalize), rng)
    X = rng.standard_normal((5, 7))
    Y = random_labels(rng, 3, 7, 0.3)
    result = mtl.gradient_check(model, X, Y)
    assert result.difference < 1e-7, str(result)


@pytest.mark.parametrize("normalize", ["examples", "labels"])
def test_gradient_check_cnn_on_numba(normalize):
    rng = np.random.default_rng(22)
    model = jitter_biases(mtl.SharedCNN(input_shape=(6, 5, 2), conv_channels=(3, 2), kernel_size=3,
                                        pool_size=2, hidden=(4,), n_tasks=3, seed=3,
                                        dtype="float64", backend="numba", normalize=normalize), rng)
    X = rng.random((3, 6, 5, 2))
    Y = random_labels(rng, 3, 3, 0.3)
    result = mtl.gradient_check(model, X, Y)
    assert result.difference < 1e-7, str(result)
