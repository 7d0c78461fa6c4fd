"""The CuPy backend on a GPU: every kernel and whole models agree with the NumPy backend.

Parity is float64 to 1e-9 and float32 to 1e-4 (max |ours - theirs| over max |ours| + max |theirs|,
so rounding in a different summation order stays tiny even where an entry is near 0); gradient
checks run on the GPU; fit, metrics and checkpoints work with a CuPy model.

The whole module is skipped where CuPy or a CUDA GPU is missing (CI, laptops); on a GPU machine
``bash benchmarks/gpu_check.sh`` runs it together with the GPU benchmarks.
"""
import numpy as np
import pytest

cupy = pytest.importorskip(
    "cupy",
    reason="CuPy is not installed: the CuPy backend's tests run on a GPU machine via "
           "benchmarks/gpu_check.sh",
)


def _gpu_available():
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no driver, insufficient driver, no device
        return False


gpu_available = _gpu_available()

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not gpu_available,
        reason="no CUDA GPU: the CuPy backend's tests run on a GPU machine via "
               "benchmarks/gpu_check.sh",
    ),
]
if not gpu_available:  # skip the module as a whole (one line in the report, not one per test)
    pytest.skip("no CUDA GPU: the CuPy backend's tests run on a GPU machine via "
                "benchmarks/gpu_check.sh", allow_module_level=True)

import mtl_numpy as mtl  # noqa: E402
from mtl_numpy.backends import get_backend, missing_kernels  # noqa: E402

TOL = {"float64": 1e-9, "float32": 1e-4}
DTYPES = ("float64", "float32")


@pytest.fixture
def rng():
    """Seeded generator (defined here too, so the module runs with ``--noconftest``)."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def cb():
    return get_backend("cupy")


@pytest.fixture(scope="module")
def nb():
    return get_backend("numpy")


def host(x):
    return cupy.asnumpy(x) if isinstance(x, cupy.ndarray) else np.asarray(x)


def scaled_error(ours, theirs):
    ours, theirs = host(ours).astype(np.float64), host(theirs).astype(np.float64)
    assert ours.shape == theirs.shape, f"shape: ours {ours.shape}, theirs {theirs.shape}"
    assert np.isfinite(ours).all(), "ours has nan/inf (an unwritten or poisoned entry?)"
    if ours.size == 0:
        return 0.0
    scale = np.max(np.abs(ours)) + np.max(np.abs(theirs))
    return float(np.max(np.abs(ours - theirs)) / max(scale, 1e-300))


def assert_close(name, ours, theirs, dtype):
    """ours on the GPU (CuPy, right dtype) vs theirs from the NumPy backend."""
    assert isinstance(ours, cupy.ndarray), f"{name}: ours is {type(ours).__name__}, not a CuPy array"
    assert ours.dtype == np.dtype(dtype), f"{name}: dtype {ours.dtype}, expected {dtype}"
    err = scaled_error(ours, theirs)
    assert err <= TOL[dtype], (f"{name} ({dtype}): error {err:.3e} > {TOL[dtype]:.0e}\n"
                               f"ours:\n{host(ours)}\ntheirs:\n{host(theirs)}")


def random_labels(rng, n_tasks, m, missing=0.3, dtype=np.float64):
    Y = (rng.random((n_tasks, m)) < 0.5).astype(dtype)
    Y[rng.random((n_tasks, m)) < missing] = np.nan
    return Y


def jitter_biases(model, rng):
    """Small random biases (in place): keeps whole-model gradient checks off ReLU's kink."""
    for key, value in model.params.items():
        if key.startswith("b"):
            noise = rng.normal(scale=0.1, size=value.shape)
            value += model.backend.asarray(noise, dtype=value.dtype)
    return model


def poisoned(shape, dtype):
    return cupy.full(shape, np.nan, dtype=dtype)


# ----------------------------------------------------------------------------------------------
# The backend as a module
# ----------------------------------------------------------------------------------------------

def test_available_backends_lists_cupy(cb):
    assert "cupy" in mtl.available_backends()
    assert cb.name == "cupy" and cb.xp is cupy
    cb.check_available()  # does not raise here


def test_same_kernel_set_as_numpy(cb, nb):
    # the declared interface (backends/_interface.py); tests/test_backend_interface.py holds
    # every kernel to the reference math on this backend too
    assert missing_kernels(cb) == [] and missing_kernels(nb) == []


@pytest.mark.parametrize("dtype", [None, "float32", "float64"])
def test_asarray_and_to_numpy(cb, dtype, rng):
    x = rng.normal(size=(3, 5))
    g = cb.asarray(x, dtype=dtype)
    assert isinstance(g, cupy.ndarray)
    assert g.dtype == np.dtype(dtype or np.float64)
    back = cb.to_numpy(g)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, x.astype(g.dtype))
    assert cb.asarray(g) is g                             # already on the device: no copy
    assert cb.asarray(g, dtype=g.dtype) is g
    assert cb.asarray(g, dtype="float32").dtype == np.float32
    assert cb.asarray([[1, 2]], dtype="float32").shape == (1, 2)
    assert cb.to_numpy(x) is x


# ----------------------------------------------------------------------------------------------
# Kernel parity with the NumPy backend
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_and_activation_kernels(cb, nb, dtype, rng):
    n_prev, n, m = 7, 5, 11
    A_prev = rng.normal(size=(n_prev, m)).astype(dtype)
    W = rng.normal(size=(n, n_prev)).astype(dtype)
    b = rng.normal(size=(n, 1)).astype(dtype)
    dOut = rng.normal(size=(n, m)).astype(dtype)
    gA, gW, gb, gd = (cupy.asarray(a) for a in (A_prev, W, b, dOut))

    Z_ref, cache_ref = nb.linear_forward(A_prev, W, b)
    Z, cache = cb.linear_forward(gA, gW, gb)
    assert_close("linear_forward", Z, Z_ref, dtype)
    for need in (True, False):
        ours, theirs = cb.linear_backward(gd, cache, need), nb.linear_backward(dOut, cache_ref, need)
        for name, o, t in zip(("dA_prev", "dW", "db"), ours, theirs):
            if t is None:
                assert o is None
            else:
                assert_close(f"linear_backward {name}", o, t, dtype)

    Zs = rng.normal(size=(n, m)).astype(dtype) * 4
    Zs[0, :3] = [0.0, 60.0, -60.0]                    # ReLU's kink and saturated sigmoids
    gZ = cupy.asarray(Zs)
    for fwd in ("relu_forward", "sigmoid_forward"):
        A_ref, c_ref = getattr(nb, fwd)(Zs)
        A, c = getattr(cb, fwd)(gZ)
        assert_close(fwd, A, A_ref, dtype)
        assert c is gZ                                 # cache is Z itself, as in layers.py
        bwd = fwd.replace("forward", "backward")
        assert_close(bwd, getattr(cb, bwd)(gd, c), getattr(nb, bwd)(dOut, c_ref), dtype)
    assert_close("sigmoid", cb.sigmoid(gZ), nb.sigmoid(Zs), dtype)
    assert float(cb.relu_backward(gd, gZ)[0, 0]) == 0.0  # derivative 0 at Z = 0

    A_ref, cache_ref = nb.linear_relu_forward(A_prev, W, b)
    A, cache = cb.linear_relu_forward(gA, gW, gb)
    assert_close("linear_relu_forward A", A, A_ref, dtype)
    assert_close("linear_relu_forward Z (cache)", cache[1], cache_ref[1], dtype)
    assert cache[0][0] is gA and cache[0][1] is gW and cache[0][2] is gb
    for need in (True, False):
        ours = cb.linear_relu_backward(gd, cache, need_dA_prev=need)
        theirs = nb.linear_relu_backward(dOut, cache_ref, need_dA_prev=need)
        for name, o, t in zip(("dA_prev", "dW", "db"), ours, theirs):
            if t is None:
                assert o is None
            else:
                assert_close(f"linear_relu_backward {name}", o, t, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten(cb, nb, dtype, rng):
    A = rng.normal(size=(3, 4, 5, 2)).astype(dtype)
    flat_ref, shape_ref = nb.flatten_forward(A)
    flat, shape = cb.flatten_forward(cupy.asarray(A))
    assert_close("flatten_forward", flat, flat_ref, dtype)
    assert shape == shape_ref
    d = rng.normal(size=flat_ref.shape).astype(dtype)
    assert_close("flatten_backward", cb.flatten_backward(cupy.asarray(d), shape),
                 nb.flatten_backward(d, shape_ref), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalize", ["examples", "labels"])
@pytest.mark.parametrize("n_tasks,m,missing", [(4, 1, 0.0), (4, 7, 0.3), (4, 64, 0.0), (3, 5000, 0.5),
                                               (4, 300_000, 0.3), (4, 9, 1.0)])
def test_masked_cost_and_grad(cb, nb, dtype, normalize, n_tasks, m, missing, rng):
    ZL = (rng.normal(size=(n_tasks, m)) * 5).astype(dtype)
    ZL.flat[0] = 800.0                                 # saturated: finite cost, exact gradient
    if ZL.size > 1:
        ZL.flat[1] = -800.0
    Y = random_labels(rng, n_tasks, m, missing, dtype)
    J_ref, dZ_ref = nb.masked_logistic_cost_and_grad(ZL, Y, normalize)
    gZ, gY = cupy.asarray(ZL), cupy.asarray(Y)
    J, dZ = cb.masked_logistic_cost_and_grad(gZ, gY, normalize)
    assert type(J) is float and np.isfinite(J)
    assert J == pytest.approx(J_ref, rel=TOL[dtype], abs=1e-300)
    assert_close("dZL", dZ, dZ_ref, dtype)
    assert np.all(host(dZ)[np.isnan(Y)] == 0.0), "a '?' must get exactly zero gradient"
    np.testing.assert_array_equal(host(gZ), ZL)        # inputs untouched
    # the fused kernel writes every entry (poisoned output), and agrees with the two-pass reference
    out = poisoned(ZL.shape, dtype)
    J_fused, dZ_fused = cb._masked_cost_fused(gZ, gY, normalize, out=out)
    assert dZ_fused is out and J_fused == J
    J_two, dZ_two = cb._masked_cost_two_pass(gZ, gY, normalize)
    assert J_two == pytest.approx(J, rel=1e-12 if dtype == "float64" else 1e-6, abs=1e-300)
    assert_close("dZL two-pass", dZ_two, host(dZ), dtype)
    # deterministic: the block sums are added in a fixed order
    assert cb.masked_logistic_cost_and_grad(gZ, gY, normalize)[0] == J


def test_masked_cost_through_public_function(rng):
    ZL = rng.normal(size=(4, 20))
    Y = random_labels(rng, 4, 20)
    J_ref, dZ_ref = mtl.masked_logistic_cost_and_grad(ZL, Y, backend="numpy")
    J, dZ = mtl.masked_logistic_cost_and_grad(ZL, Y, backend="cupy")     # NumPy inputs accepted
    assert J == pytest.approx(J_ref, rel=1e-12)
    assert_close("dZL", dZ, dZ_ref, "float64")


CONV_CASES = [  # m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad
    (2, 5, 7, 3, 4, 3, 1, 1), (1, 6, 6, 2, 3, 3, 2, 0), (2, 4, 5, 1, 2, 1, 1, 0),
    (3, 7, 4, 2, 2, 2, 2, 2), (1, 3, 3, 2, 5, 4, 1, 2), (2, 9, 8, 3, 2, 3, 3, 1),
    (8, 32, 32, 3, 16, 3, 1, 1), (8, 16, 16, 16, 32, 3, 1, 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_forward_backward(cb, nb, dtype, case, rng):
    m, H, W_, C, n_C, f, s, p = case
    A = rng.normal(size=(m, H, W_, C)).astype(dtype)
    W = rng.normal(size=(f, f, C, n_C)).astype(dtype)
    b = rng.normal(size=(1, 1, 1, n_C)).astype(dtype)
    hp = {"stride": s, "pad": p}
    Z_ref, cache_ref = nb.conv_forward(A, W, b, hp)
    gA, gW, gb = cupy.asarray(A), cupy.asarray(W), cupy.asarray(b)
    Z, cache = cb.conv_forward(gA, gW, gb, hp)
    assert_close("conv_forward", Z, Z_ref, dtype)
    assert cache[0] is gA and cache[1] is gW and cache[2] is gb and cache[3] is hp
    dZ = rng.normal(size=Z_ref.shape).astype(dtype)
    ours = cb.conv_backward(cupy.asarray(dZ), cache)
    theirs = nb.conv_backward(dZ, cache_ref)
    for name, o, t in zip(("dA_prev", "dW", "db"), ours, theirs):
        assert o.shape == t.shape, name
        assert_close(f"conv_backward {name}", o, t, dtype)
    dA_none, dW_only, db_only = cb.conv_backward(cupy.asarray(dZ), cache, need_dA_prev=False)
    assert dA_none is None
    assert_close("conv_backward dW (need_dA_prev=False)", dW_only, theirs[1], dtype)
    assert_close("conv_backward db (need_dA_prev=False)", db_only, theirs[2], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES[:6])
def test_im2col_col2im_write_every_entry(cb, dtype, case, rng):
    from mtl_numpy import conv

    m, H, W_, C, _, f, s, p = case
    n_H, n_W = (H - f + 2 * p) // s + 1, (W_ - f + 2 * p) // s + 1
    A = rng.normal(size=(m, H, W_, C)).astype(dtype)
    out = poisoned((m * n_H * n_W, f * f * C), dtype)
    cols = cb._im2col(cupy.asarray(A), f, s, p, n_H, n_W, out=out)
    ref = conv.im2col(A, f, s, p).reshape(out.shape)
    assert_close("im2col", cols, ref, dtype)
    dcols = rng.normal(size=ref.shape).astype(dtype)
    out = poisoned(A.shape, dtype)
    dA = cb._col2im(cupy.asarray(dcols), A.shape, f, s, p, n_H, n_W, out=out)
    assert_close("col2im", dA, conv.col2im(dcols.reshape(m, n_H, n_W, f, f, C), A.shape, f, s, p),
                 dtype)


POOL_CASES = [  # m, n_H_prev, n_W_prev, n_C, f, stride
    (2, 4, 4, 3, 2, 2), (2, 5, 7, 2, 2, 2), (1, 6, 6, 2, 3, 1), (2, 7, 5, 3, 3, 2),
    (1, 4, 4, 1, 1, 1), (3, 9, 9, 2, 2, 3), (8, 32, 32, 16, 2, 2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_forward_backward(cb, nb, dtype, mode, ties, case, rng):
    m, H, W_, C, f, s = case
    A = rng.normal(size=(m, H, W_, C)).astype(dtype)
    if ties:  # windows full of equal values, as after a ReLU: the FIRST maximum takes the gradient
        A = np.maximum(np.round(A), 0).astype(dtype)
    hp = {"f": f, "stride": s}
    A_ref, cache_ref = nb.pool_forward(A, hp, mode=mode)
    gA = cupy.asarray(A)
    out, cache = cb.pool_forward(gA, hp, mode=mode)
    assert_close(f"pool_forward {mode}", out, A_ref, dtype)
    assert cache[0] is gA and cache[1] is hp
    dA = rng.normal(size=A_ref.shape).astype(dtype)
    assert_close(f"pool_backward {mode}", cb.pool_backward(cupy.asarray(dA), cache, mode=mode),
                 nb.pool_backward(dA, cache_ref, mode=mode), dtype)


def test_kernels_reject_bad_shapes_like_numpy(cb):
    A = cupy.zeros((2, 5, 5, 3))
    with pytest.raises(ValueError, match="W must have shape"):
        cb.conv_forward(A, cupy.zeros((3, 3, 2, 4)), cupy.zeros((1, 1, 1, 4)), {"stride": 1, "pad": 1})
    with pytest.raises(ValueError, match="mode must be"):
        cb.pool_forward(A, {"f": 2, "stride": 2}, mode="min")
    _, cache = cb.pool_forward(A, {"f": 2, "stride": 2})
    with pytest.raises(ValueError, match="dA must have the shape"):
        cb.pool_backward(cupy.zeros((2, 3, 3, 3)), cache)


# ----------------------------------------------------------------------------------------------
# Whole models: CuPy vs NumPy, same seed
# ----------------------------------------------------------------------------------------------

def small_mlp(backend, dtype, normalize="examples"):
    return mtl.SharedMLP([12, 9, 7, 4], seed=5, dtype=dtype, backend=backend, normalize=normalize)


def small_cnn(backend, dtype, normalize="examples"):
    return mtl.SharedCNN(input_shape=(12, 10, 3), conv_channels=(4, 6), kernel_size=3, pool_size=2,
                         hidden=(8,), n_tasks=4, seed=5, dtype=dtype, backend=backend,
                         normalize=normalize)


def model_data(kind, m, rng):
    X = rng.normal(size=(12, m)) if kind == "mlp" else rng.random((m, 12, 10, 3))
    return X, random_labels(rng, 4, m)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("normalize", ["examples", "labels"])
def test_model_parity(kind, dtype, normalize, rng):
    build = small_mlp if kind == "mlp" else small_cnn
    ref, gpu = build("numpy", dtype, normalize), build("cupy", dtype, normalize)
    for key in ref.params:                              # same seed, same initial parameters
        assert isinstance(gpu.params[key], cupy.ndarray)
        np.testing.assert_array_equal(host(gpu.params[key]), ref.params[key])
    X, Y = model_data(kind, 16, rng)
    J_ref, g_ref = ref.cost_and_grads(X, Y)
    J, g = gpu.cost_and_grads(X, Y)                     # NumPy inputs into a CuPy model
    assert type(J) is float
    assert J == pytest.approx(J_ref, rel=TOL[dtype])
    assert list(g) == list(g_ref)
    for key in g_ref:
        assert_close(key, g[key], g_ref[key], dtype)
    assert J == pytest.approx(gpu.cost(X, Y), rel=1e-12)
    AL = gpu.predict_proba(X)
    assert_close("predict_proba", AL, ref.predict_proba(X), dtype)
    # predictions: equal except where a probability sits within rounding of the threshold
    P, P_ref = host(gpu.predict(X)), ref.predict(X)
    near = np.abs(ref.predict_proba(X) - 0.5) < 10 * TOL[dtype]
    np.testing.assert_array_equal(P[~near], P_ref[~near])
    # CuPy inputs work too, and give the same numbers
    J_dev, _ = gpu.cost_and_grads(cupy.asarray(X), cupy.asarray(Y))
    assert J_dev == pytest.approx(J, rel=1e-12)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("normalize", ["examples", "labels"])
def test_gradient_check_on_gpu(kind, normalize, rng):
    build = small_mlp if kind == "mlp" else small_cnn
    model = jitter_biases(build("numpy", "float64", normalize), rng).to_backend("cupy")
    before = {k: host(v).copy() for k, v in model.params.items()}
    X, Y = model_data(kind, 5, rng)
    result = mtl.gradient_check(model, X, Y, max_per_parameter=None if kind == "mlp" else 40)
    assert result.difference < 1e-7, str(result)
    for key, value in model.params.items():            # the model handed in is untouched
        np.testing.assert_array_equal(host(value), before[key])


def test_to_backend_round_trip_and_astype(rng):
    model = small_cnn("numpy", "float32")
    gpu = model.to_backend("cupy")
    assert gpu.backend.name == "cupy" and gpu.dtype == "float32"
    back = gpu.astype("float64").to_backend("numpy")
    for key, value in model.params.items():
        np.testing.assert_array_equal(back.params[key], value.astype(np.float64))
    params = gpu.get_params()
    assert all(isinstance(v, np.ndarray) for v in params.values())


def test_fit_metrics_and_checkpoint(tmp_path, rng):
    X, Y = model_data("mlp", 100, rng)
    X_val, Y_val = model_data("mlp", 40, rng)
    ref, gpu = small_mlp("numpy", "float64"), small_mlp("cupy", "float64")
    kwargs = dict(optimizer=None, epochs=3, batch_size=16, validation=(X_val, Y_val), seed=1,
                  progress=False)
    h_ref = mtl.fit(ref, X, Y, **kwargs)
    h = mtl.fit(gpu, X, Y, **kwargs)
    np.testing.assert_allclose(h.train_cost, h_ref.train_cost, rtol=1e-7)
    np.testing.assert_allclose(h.val_cost, h_ref.val_cost, rtol=1e-7)
    for key in ref.params:
        assert isinstance(gpu.params[key], cupy.ndarray)
        np.testing.assert_allclose(host(gpu.params[key]), ref.params[key], rtol=1e-6, atol=1e-9)
    metrics = mtl.task_metrics(Y_val, gpu.predict_proba(X_val))      # CuPy AL accepted
    metrics_ref = mtl.task_metrics(Y_val, ref.predict_proba(X_val))
    for task in metrics_ref:
        assert metrics[task]["n_labelled"] == metrics_ref[task]["n_labelled"]
        assert metrics[task]["average_precision"] == pytest.approx(
            metrics_ref[task]["average_precision"], nan_ok=True)
    J, _ = mtl.evaluate(gpu, X_val, Y_val)
    assert J == pytest.approx(h.val_cost[-1], rel=1e-12)

    path = gpu.save(tmp_path / "gpu_model")
    loaded = mtl.load_model(path, backend="cupy")
    assert loaded.backend.name == "cupy"
    for key, value in gpu.params.items():
        assert isinstance(loaded.params[key], cupy.ndarray)
        np.testing.assert_array_equal(host(loaded.params[key]), host(value))
    on_cpu = mtl.load_model(path)                                      # and back on the CPU
    np.testing.assert_allclose(on_cpu.predict_proba(X_val), host(gpu.predict_proba(X_val)), rtol=1e-9)


def test_fit_cnn_float32_runs_and_learns(rng):
    X, _ = model_data("cnn", 64, rng)
    # learnable labels: is channel c (c = 0, 1, 2, 0) brighter than the batch's median?
    brightness = X.mean(axis=(1, 2))[:, [0, 1, 2, 0]].T
    Y = (brightness > np.median(brightness, axis=1, keepdims=True)).astype(float)
    Y[rng.random(Y.shape) < 0.2] = np.nan
    model = small_cnn("cupy", "float32")
    history = mtl.fit(model, X, Y, optimizer=mtl.Adam(learning_rate=1e-2), epochs=5, batch_size=16,
                      seed=0, progress=False)
    assert all(np.isfinite(history.train_cost))
    assert history.train_cost[-1] < history.train_cost[0]
    assert all(v.dtype == np.float32 for v in model.params.values())


def test_bad_inputs_still_raise_value_errors():
    model = small_mlp("cupy", "float32")
    with pytest.raises(ValueError, match="X must have shape"):
        model.forward(cupy.zeros((11, 3)))
    bad = np.ones((12, 3))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="nan or inf"):
        model.forward(cupy.asarray(bad))
    with pytest.raises(ValueError, match="labels must be 0, 1 or nan"):
        model.cost(np.ones((12, 3)), np.full((4, 3), 2.0))
