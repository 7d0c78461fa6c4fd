"""The CPU fast paths: the fused conv block and the batch-chunked kernels equal the plain ones.

:mod:`mtl_numpy.backends._cpu` runs NumPy conv/pool/dense work in chunks of examples on a small
thread pool (single-threaded BLAS in each chunk), and the NumPy and Numba backends' conv block
``conv_relu_pool_forward/backward`` runs fused where the pooling tiles the conv output. These
tests hold them to the unfused kernels (which ``test_conv_layers.py`` holds to the naive loops),
with chunks forced small and uneven so every split is exercised.
"""
import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy.backends import _cpu
from mtl_numpy.backends import numpy_backend as npb

try:
    from mtl_numpy.backends import numba_backend as nbb

    nbb.check_available()
    BACKENDS = [npb, nbb]
except ImportError:  # pragma: no cover - Numba missing
    BACKENDS = [npb]

IDS = [bk.name for bk in BACKENDS]


def err(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape
    scale = np.max(np.abs(ours)) + np.max(np.abs(theirs)) if ours.size else 0.0
    return float(np.max(np.abs(ours - theirs)) / scale) if scale > 0 else 0.0


def tol(dtype):
    return 1e-12 if np.dtype(dtype) == np.float64 else 2e-6


@pytest.fixture(autouse=True)
def three_uneven_chunks(monkeypatch):
    """Three threads and one example per block: chunk and block edges everywhere."""
    pool = _cpu.cpu_pool()
    monkeypatch.setattr(pool, "threads", 3)
    monkeypatch.setattr(_cpu, "BLOCK_BYTES", 1)
    try:
        from mtl_numpy.backends import _numba_config
        monkeypatch.setattr(_numba_config, "CONV_BLOCK_BYTES", 1)
    except ImportError:  # pragma: no cover
        pass


def block_inputs(rng, m, H, W_, C_prev, C, f, dtype, ties):
    A = rng.standard_normal((m, H, W_, C_prev))
    if ties:
        A = np.round(A)            # many equal values: ties inside windows, zeros after ReLU
    Wt = rng.standard_normal((f, f, C_prev, C))
    b = rng.standard_normal((1, 1, 1, C)) * 0.1
    if ties:
        Wt = np.round(Wt)
        b = np.zeros_like(b)
    return A.astype(dtype), Wt.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("bk", BACKENDS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [
    # m, H, W, C_prev, C, f, pad, pool
    (7, 8, 8, 3, 4, 3, 1, 2),      # the reference block, scaled down (tiled: fused path)
    (5, 6, 9, 2, 3, 3, 1, 3),      # 3x3 pooling (tiled: generic fused kernels)
    (4, 7, 7, 2, 3, 3, 1, 2),      # odd size: pooling does not tile, composed fallback
    (3, 8, 8, 2, 5, 1, 0, 2),      # 1x1 conv, no padding
    (2, 6, 12, 1, 2, 3, 1, 2),     # one channel: the channel-major window gather
])
@pytest.mark.parametrize("ties", [False, True])
def test_fused_block_equals_the_three_kernels(bk, dtype, shape, ties):
    m, H, W_, C_prev, C, f, pad, pf = shape
    rng = np.random.default_rng(sum(shape))
    A, Wt, b = block_inputs(rng, m, H, W_, C_prev, C, f, dtype, ties)
    conv_hp, pool_hp = {"stride": 1, "pad": pad}, {"f": pf, "stride": pf}

    Z, conv_cache = bk.conv_forward(A, Wt, b, conv_hp)
    R, relu_cache = bk.relu_forward(Z)
    P_ref, pool_cache = bk.pool_forward(R, pool_hp, mode="max")
    P, cache = bk.conv_relu_pool_forward(A, Wt, b, conv_hp, pool_hp)
    assert P.dtype == np.dtype(dtype) and P.shape == P_ref.shape
    assert err(P, P_ref) <= tol(dtype)

    dP = rng.standard_normal(P.shape).astype(dtype)
    ref = bk.conv_backward(bk.relu_backward(bk.pool_backward(dP, pool_cache, mode="max"),
                                            relu_cache), conv_cache)
    ours = bk.conv_relu_pool_backward(dP, cache)
    for name, o, r in zip(("dA_prev", "dW", "db"), ours, ref):
        assert o.dtype == np.dtype(dtype), name
        assert err(o, r) <= tol(dtype), name
    skipped = bk.conv_relu_pool_backward(dP, cache, need_dA_prev=False)
    assert skipped[0] is None
    np.testing.assert_array_equal(skipped[1], ours[1])
    np.testing.assert_array_equal(skipped[2], ours[2])


@pytest.mark.parametrize("bk", BACKENDS, ids=IDS)
@pytest.mark.parametrize("case, fused", [
    # A dtype, W dtype, b dtype, H (= W), pool
    (("float64", "float64", "float64", 8, 2), True),     # tiled, one float dtype: fused
    (("float32", "float32", "float32", 9, 3), True),
    (("float64", "float64", "float64", 7, 2), False),    # odd size: the pooling does not tile
    (("float32", "float64", "float64", 8, 2), False),    # mixed dtypes
    (("float64", "float64", "float32", 8, 2), False),
])
def test_block_takes_the_fused_path_only_where_it_applies(bk, case, fused):
    """Fused where it applies, the three kernels otherwise: the same numbers either way, and a
    cache that only the backend's own backward reads."""
    A_type, W_type, b_type, H, pf = case
    rng = np.random.default_rng(H + pf)
    A, Wt, b = block_inputs(rng, 3, H, H, 2, 3, 3, "float64", False)
    A, Wt, b = A.astype(A_type), Wt.astype(W_type), b.astype(b_type)
    hp, php = {"stride": 1, "pad": 1}, {"f": pf, "stride": pf}
    P, cache = bk.conv_relu_pool_forward(A, Wt, b, hp, php)
    assert isinstance(cache, _cpu.FusedBlockCache) is fused
    Z, conv_cache = bk.conv_forward(A, Wt, b, hp)
    R, relu_cache = bk.relu_forward(Z)
    P_ref, pool_cache = bk.pool_forward(R, php, mode="max")
    assert P.dtype == P_ref.dtype and err(P, P_ref) <= tol(P.dtype)
    dP = rng.standard_normal(P.shape).astype(P.dtype)
    ref = bk.conv_backward(bk.relu_backward(bk.pool_backward(dP, pool_cache, mode="max"),
                                            relu_cache), conv_cache)
    for name, o, r in zip(("dA_prev", "dW", "db"), bk.conv_relu_pool_backward(dP, cache), ref):
        assert o.dtype == r.dtype and err(o, r) <= tol(r.dtype), name


@pytest.mark.parametrize("bk", BACKENDS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chunked_dense_and_relu_equal_the_layers(bk, dtype, monkeypatch):
    monkeypatch.setattr(_cpu, "DENSE_SPLIT_MIN", 1)
    monkeypatch.setattr(_cpu, "RELU_SPLIT_MIN", 4)
    from mtl_numpy import layers

    rng = np.random.default_rng(2)
    n, n_prev, m = 5, 7, 11
    A = rng.standard_normal((n_prev, m)).astype(dtype)
    Wt = rng.standard_normal((n, n_prev)).astype(dtype)
    b = rng.standard_normal((n, 1)).astype(dtype)
    out, cache = bk.linear_relu_forward(A, Wt, b)
    out_ref, cache_ref = layers.linear_relu_forward(A, Wt, b)
    assert err(out, out_ref) <= tol(dtype) and err(cache[1], cache_ref[1]) <= tol(dtype)
    dA = rng.standard_normal(out.shape).astype(dtype)
    for need in (True, False):
        ours = bk.linear_relu_backward(dA, cache, need)
        ref = layers.linear_relu_backward(dA, cache_ref, need)
        for o, r in zip(ours, ref):
            if r is None:
                assert o is None
            else:
                assert o.dtype == np.dtype(dtype) and err(o, r) <= tol(dtype)
    Z, _ = bk.linear_forward(A, Wt, b)
    assert err(Z, layers.linear_forward(A, Wt, b)[0]) <= tol(dtype)
    for o, r in zip(bk.linear_backward(dA, (A, Wt, b)), layers.linear_backward(dA, (A, Wt, b))):
        assert err(o, r) <= tol(dtype)
    big = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    big[0, 0, 0, :2] = 0.0                                    # derivative at 0 is 0
    R, _ = bk.relu_forward(big)
    np.testing.assert_array_equal(R, np.maximum(big, 0))
    g = rng.standard_normal(big.shape).astype(dtype)
    np.testing.assert_array_equal(bk.relu_backward(g, big), np.where(big > 0, g, 0))


@pytest.mark.parametrize("backend", IDS)
def test_cnn_training_step_equals_forward_then_backward(backend):
    """``cost_and_grads`` (the training step) == ``forward`` + ``backward``."""
    rng = np.random.default_rng(3)
    model = mtl.SharedCNN(input_shape=(8, 8, 3), conv_channels=(4, 5), hidden=(6,), n_tasks=3,
                          dtype="float64", backend=backend, seed=1)
    X = rng.random((9, 8, 8, 3))
    Y = (rng.random((3, 9)) < 0.5).astype(float)
    Y[rng.random(Y.shape) < 0.3] = np.nan
    J, grads = model.cost_and_grads(X, Y)
    AL, caches = model.forward(X)
    assert len(caches) == len(model.blocks)      # one cache per block (a conv block's is its backend's)
    ZL = caches[-1][1]
    J_ref, dZL = npb.masked_logistic_cost_and_grad(ZL, Y, model.normalize)
    ref = model.backward(dZL, caches)
    assert abs(J - J_ref) <= 1e-12 * abs(J_ref)
    assert list(grads) == list(ref)
    for key in grads:
        assert err(grads[key], ref[key]) <= 1e-12, key
    assert abs(model.cost(X, Y) - J) <= 1e-12 * abs(J)


def test_pool_splits_work_and_keeps_order():
    pool = _cpu.cpu_pool()
    assert pool.chunks(10) == [(0, 3), (3, 6), (6, 10)]
    assert pool.chunks(2) == [(0, 1), (1, 2)]
    assert pool.chunks(0) == []
    assert pool.chunks(10, min_chunk=6) == [(0, 10)]
    assert pool.run(lambda lo, hi: (lo, hi), 7) == [(0, 2), (2, 4), (4, 7)]
    with pytest.raises(ZeroDivisionError):
        pool.run(lambda lo, hi: 1 // (lo - lo), 7)


def test_thread_pool_sets_numpys_own_openblas_even_with_scipy_loaded():
    # scikit-learn loads SciPy's copy of OpenBLAS; it comes first in the process's memory map. The pool
    # must limit *NumPy's* copy in its worker threads, or every product there runs multi-threaded on
    # top of the pool's threads (measured: 5x the CPU time per CNN step with scikit-learn imported)
    import os
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/maps")
    pytest.importorskip("sklearn.datasets")
    from mtl_numpy.backends._cpu import CPUPool

    loaded = [line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line.lower()]
    if not any("numpy" in p for p in loaded):
        pytest.skip("this NumPy does not ship its own OpenBLAS")
    lib = CPUPool._blas_library()
    assert lib is not None
    assert any(part.startswith("numpy") for part in os.path.dirname(lib._name).split(os.sep)), lib._name
