"""Per-task heads and per-task costs and gradients: ``head_dims=``, ``model.shared``,
``model.task_costs_and_grads`` and the per-task backward kernels."""
import json

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy.backends import get_backend, task_kernel
from mtl_numpy.backends._interface import (conv_relu_pool_backward_tasks_loop,
                                           linear_relu_backward_tasks, missing_kernels)
from conftest import (BACKENDS, LABEL_PATTERNS, MODEL_CASES, host, jitter_biases, labels_with_pattern,
                      model_inputs)

#: Small models with heads (float64 gradient checks stay cheap).
HEAD_CASES = {
    "mlp-heads": (mtl.SharedMLP, dict(layer_dims=[5, 4, 3, 3], head_dims=(2,))),
    "mlp-heads-deep": (mtl.SharedMLP, dict(layer_dims=[4, 3, 2], head_dims=(3, 2))),
    "cnn-heads": (mtl.SharedCNN, dict(input_shape=(6, 5, 2), conv_channels=(3, 2), kernel_size=3,
                                      pool_size=2, hidden=(5,), n_tasks=3, head_dims=(2,))),
    "cnn-heads-no-hidden": (mtl.SharedCNN, dict(input_shape=(7, 8, 1), conv_channels=(2,), kernel_size=5,
                                                pool_size=3, hidden=(), n_tasks=2, head_dims=(3,))),
}
ALL_CASES = {**MODEL_CASES, **HEAD_CASES}


def build(case, backend="numpy", dtype="float64", seed=3, normalize="examples"):
    cls, kwargs = ALL_CASES[case]
    return cls(**kwargs, seed=seed, dtype=dtype, backend=backend, normalize=normalize)


def only_task(Y, t):
    """``Y`` with every row but ``t`` set to '?': its cost is task ``t``'s own cost."""
    Y_t = np.full_like(Y, np.nan)
    Y_t[t] = Y[t]
    return Y_t


# ----------------------------------------------------------------------------------------------
# head_dims=None is today's model; the naming scheme with heads
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_no_heads_is_todays_model_bit_for_bit(case):
    cls, kwargs = MODEL_CASES[case]
    plain = cls(**kwargs, seed=7)
    explicit = cls(**kwargs, seed=7, head_dims=None)
    assert list(explicit.params) == list(plain.params)
    for key in plain.params:
        assert np.array_equal(host(explicit.params[key]), host(plain.params[key])), key
    assert "head_dims" not in explicit.config()          # checkpoints exactly as before
    L = explicit.n_layers
    assert explicit.shared == [k for k in explicit.params if k not in (f"W{L}", f"b{L}")]


def test_mlp_head_names_shapes_and_shared():
    model = mtl.SharedMLP([6, 5, 4, 3], head_dims=(2,), seed=0)
    assert list(model.params) == ["W1", "b1", "W2", "b2",
                                  "W3_t0", "b3_t0", "W3_t1", "b3_t1", "W3_t2", "b3_t2",
                                  "W4_t0", "b4_t0", "W4_t1", "b4_t1", "W4_t2", "b4_t2"]
    shapes = {k: tuple(v.shape) for k, v in model.params.items()}
    assert shapes == model.param_shapes()
    assert shapes["W3_t1"] == (2, 4) and shapes["b3_t1"] == (2, 1)
    assert shapes["W4_t2"] == (1, 2) and shapes["b4_t2"] == (1, 1)
    assert model.shared == ["W1", "b1", "W2", "b2"]
    assert model.n_layers == 4 and model.n_tasks == 3
    # the trunk is drawn first, from the same generator: the same numbers as without heads
    plain = mtl.SharedMLP([6, 5, 4, 3], seed=0)
    for key in ("W1", "W2"):
        assert np.array_equal(host(model.params[key]), host(plain.params[key]))


def test_cnn_head_names():
    model = mtl.SharedCNN((8, 8, 3), conv_channels=(4,), hidden=(6,), n_tasks=2, head_dims=(5, 3))
    assert model.shared == ["W1", "b1", "W2", "b2"]
    assert [k for k in model.params if k.startswith("W")] == [
        "W1", "W2", "W3_t0", "W3_t1", "W4_t0", "W4_t1", "W5_t0", "W5_t1"]
    assert model.params["W3_t0"].shape == (5, 6) and model.params["W5_t1"].shape == (1, 3)
    assert model.n_layers == 5


@pytest.mark.parametrize("bad, match", [
    ((), "non-empty"), ((0,), r"head_dims\[0\]"), ("32", "ordered sequence"), ((2.5,), r"head_dims\[0\]"),
])
def test_bad_head_dims(bad, match):
    with pytest.raises(ValueError, match=match):
        mtl.SharedMLP([4, 3, 2], head_dims=bad)


@pytest.mark.parametrize("case", sorted(HEAD_CASES))
def test_heads_round_trip_config_checkpoint_astype_backends(case, tmp_path, rng):
    model = jitter_biases(build(case, dtype="float32"), rng)
    config = json.loads(json.dumps(model.config()))
    assert config["head_dims"] == list(ALL_CASES[case][1]["head_dims"])
    rebuilt = type(model).from_config(config, allocate=False)
    assert rebuilt.param_shapes() == model.param_shapes() and rebuilt.params == {}
    path = model.save(tmp_path / "heads")
    loaded = mtl.load_model(path)
    assert loaded.head_dims == model.head_dims and list(loaded.params) == list(model.params)
    X = model_inputs(model, rng, 4)
    expected = host(model.predict_proba(X))
    np.testing.assert_array_equal(host(loaded.predict_proba(X)), expected)
    as64 = model.astype("float64")
    assert all(v.dtype == np.float64 for v in as64.params.values())
    np.testing.assert_allclose(host(as64.predict_proba(X)), expected, rtol=1e-5, atol=1e-6)
    for backend in BACKENDS:
        moved = model.to_backend(backend)
        np.testing.assert_allclose(host(moved.predict_proba(X)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", sorted(HEAD_CASES))
def test_heads_pass_the_gradient_check(case, backend, rng):
    model = jitter_biases(build(case, backend=backend), rng)
    X = model_inputs(model, rng, 4)
    Y = labels_with_pattern(rng, model.n_tasks, 4, "example")
    result = mtl.gradient_check(model, X, Y)
    assert result.passed, result.per_parameter
    assert set(result.per_parameter) == set(model.params)


# ----------------------------------------------------------------------------------------------
# task_costs_and_grads
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", LABEL_PATTERNS)
@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_task_costs_and_grads_sum_to_cost_and_grads(case, pattern, backend, rng):
    model = jitter_biases(build(case, backend=backend), rng)
    m = 5
    X = model_inputs(model, rng, m)
    Y = labels_with_pattern(rng, model.n_tasks, m, pattern)
    J, grads = model.cost_and_grads(X, Y)
    J_t, G = model.task_costs_and_grads(X, Y)
    assert isinstance(J_t, np.ndarray) and J_t.shape == (model.n_tasks,) and J_t.dtype == np.float64
    assert list(G) == list(model.params)
    assert J_t.sum() == pytest.approx(J, rel=1e-12, abs=1e-15)
    for key, g in G.items():
        assert g.shape == (model.n_tasks,) + tuple(model.params[key].shape), key
        assert np.isfinite(host(g)).all(), key
        np.testing.assert_allclose(host(g.sum(axis=0)), host(grads["d" + key]), rtol=1e-10, atol=1e-13,
                                   err_msg=key)
    absent = np.isnan(Y).all(axis=1)
    assert np.all(J_t[absent] == 0.0)
    for key, g in G.items():
        assert not np.any(host(g)[absent]), f"{key}: a task with no label has a non-zero gradient"


@pytest.mark.parametrize("normalize", ["examples", "labels"])
@pytest.mark.parametrize("case", ["mlp", "cnn", "mlp-heads", "cnn-heads"])
def test_each_task_is_its_own_cost_alone(case, normalize, backend, rng):
    """Task t's row is the ordinary cost and gradient of the labels of task t alone (the loop
    of n_tasks separate backward passes), under either normalisation."""
    model = jitter_biases(build(case, backend=backend, normalize=normalize), rng)
    X = model_inputs(model, rng, 6)
    Y = labels_with_pattern(rng, model.n_tasks, 6, "none")
    J_t, G = model.task_costs_and_grads(X, Y)
    for t in range(model.n_tasks):
        J, grads = model.cost_and_grads(X, only_task(Y, t))
        assert J_t[t] == pytest.approx(J, rel=1e-12)
        for key in model.params:
            np.testing.assert_allclose(host(G[key][t]), host(grads["d" + key]), rtol=1e-10, atol=1e-14,
                                       err_msg=f"task {t}, {key}")


def numerical_task_gradient(model, X, Y, t, epsilon=1e-6):
    """Central differences of J_t (task t's cost) for every parameter entry, float64."""
    Xp, Yp = model.prepare(X, only_task(Y, t))
    out = {}
    for key, value in model.params.items():
        grad = np.zeros(value.shape)
        flat = value.reshape(-1)
        for i in range(flat.size):
            old = float(flat[i])
            flat[i] = old + epsilon
            plus = model.prepared_cost(Xp, Yp)
            flat[i] = old - epsilon
            minus = model.prepared_cost(Xp, Yp)
            flat[i] = old
            grad.reshape(-1)[i] = (plus - minus) / (2 * epsilon)
        out[key] = grad
    return out


@pytest.mark.parametrize("normalize", ["examples", "labels"])
@pytest.mark.parametrize("case", ["mlp-heads-deep", "cnn-heads-no-hidden", "cnn"])
def test_per_task_gradients_match_numerical_gradients_float64(case, normalize, rng):
    model = jitter_biases(build(case, normalize=normalize), rng)
    X = model_inputs(model, rng, 4)
    Y = labels_with_pattern(rng, model.n_tasks, 4, "none")
    _, G = model.task_costs_and_grads(X, Y)
    for t in range(model.n_tasks):
        numeric = numerical_task_gradient(model, X, Y, t)
        ours = np.concatenate([host(G[k][t]).ravel() for k in model.params])
        theirs = np.concatenate([numeric[k].ravel() for k in model.params])
        difference = np.linalg.norm(ours - theirs) / (np.linalg.norm(ours) + np.linalg.norm(theirs))
        assert np.linalg.norm(ours) > 0
        assert difference < 1e-7, f"task {t}: difference {difference:.2e}"


def test_task_costs_and_grads_float32_and_bad_inputs(rng):
    model = build("cnn-heads", dtype="float32")
    X = model_inputs(model, rng, 3)
    Y = labels_with_pattern(rng, 3, 3, "none")
    J_t, G = model.task_costs_and_grads(X, Y)
    assert all(g.dtype == np.float32 for g in G.values())
    with pytest.raises(ValueError, match="Y must have shape"):
        model.task_costs_and_grads(X, Y[:2])
    with pytest.raises(ValueError, match="X must have shape"):
        model.task_costs_and_grads(X[..., :1], Y)


# ----------------------------------------------------------------------------------------------
# The per-task kernels
# ----------------------------------------------------------------------------------------------

CONV_CASES = [  # (input shape, f, n_C, pool): tiled 2 and 3 (fused), and a pooling that does not tile
    ((5, 8, 6, 3), 3, 4, 2),
    ((4, 9, 9, 2), 3, 3, 3),
    ((3, 7, 5, 2), 5, 2, 2),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("need_dA_prev", [True, False])
@pytest.mark.parametrize("shape, f, n_C, pool", CONV_CASES)
def test_conv_block_tasks_kernel_equals_the_loop(backend, shape, f, n_C, pool, need_dA_prev, dtype, rng):
    be = get_backend(backend)
    A = be.asarray(rng.standard_normal(shape), dtype=dtype)
    W = be.asarray(rng.standard_normal((f, f, shape[3], n_C)), dtype=dtype)
    b = be.asarray(rng.standard_normal((1, 1, 1, n_C)), dtype=dtype)
    P, cache = be.conv_relu_pool_forward(A, W, b, {"stride": 1, "pad": (f - 1) // 2},
                                         {"f": pool, "stride": pool})
    dA = be.asarray(rng.standard_normal((4,) + tuple(P.shape)), dtype=dtype)
    ours = task_kernel(be, "conv_relu_pool_backward_tasks")(dA, cache, need_dA_prev)
    loop = conv_relu_pool_backward_tasks_loop(be)(dA, cache, need_dA_prev)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)
    for name, x, y in zip(("dA_prev", "dW", "db"), ours, loop):
        if name == "dA_prev" and not need_dA_prev:
            assert x is None and y is None
            continue
        assert x.shape == y.shape and x.dtype == np.dtype(dtype), name
        np.testing.assert_allclose(host(x), host(y), err_msg=name, **tol)


def test_dense_tasks_fallback_equals_the_loop(backend, rng):
    be = get_backend(backend)
    A_prev = be.asarray(rng.standard_normal((4, 7)), dtype="float64")
    W = be.asarray(rng.standard_normal((3, 4)), dtype="float64")
    b = be.asarray(rng.standard_normal((3, 1)), dtype="float64")
    A, cache = be.linear_relu_forward(A_prev, W, b)
    dA = be.asarray(rng.standard_normal((5, 3, 7)), dtype="float64")
    dA_prev, dW, db = linear_relu_backward_tasks(dA, cache, True)
    for t in range(5):
        ref = be.linear_relu_backward(dA[t], cache, True)
        for name, x, y in zip(("dA_prev", "dW", "db"), (dA_prev[t], dW[t], db[t]), ref):
            np.testing.assert_allclose(host(x), host(y), rtol=1e-12, atol=1e-14, err_msg=name)
    assert linear_relu_backward_tasks(dA, cache, False)[0] is None


def test_per_task_kernels_are_optional_but_checked():
    import types

    numpy_backend = get_backend("numpy")
    bare = types.SimpleNamespace(**{k: getattr(numpy_backend, k) for k in dir(numpy_backend)
                                    if not k.startswith("_") and not k.endswith("_tasks")})
    assert missing_kernels(bare) == []
    fallback = task_kernel(bare, "conv_relu_pool_backward_tasks")
    assert fallback is not numpy_backend.conv_relu_pool_backward_tasks
    assert task_kernel(bare, "linear_relu_backward_tasks") is linear_relu_backward_tasks
    model = mtl.SharedCNN((6, 6, 1), conv_channels=(2,), hidden=(), n_tasks=2, dtype="float64",
                          backend=bare)
    rng = np.random.default_rng(0)
    X, Y = rng.random((3, 6, 6, 1)), labels_with_pattern(rng, 2, 3, "none")
    _, G = model.task_costs_and_grads(X, Y)
    _, G_ref = model.to_backend("numpy").task_costs_and_grads(X, Y)
    for key in G:
        np.testing.assert_allclose(G[key], G_ref[key], rtol=1e-12, atol=1e-15)
    bare.conv_relu_pool_backward_tasks = lambda dA_tasks: None
    assert any("conv_relu_pool_backward_tasks" in p for p in missing_kernels(bare))
    with pytest.raises(ValueError, match="no per-task kernel"):
        task_kernel(numpy_backend, "pool_backward_tasks")


@pytest.mark.parametrize("convert", ["copy", "astype", "to_backend"])
def test_clones_never_share_parameter_arrays(convert):
    model = mtl.SharedMLP([3, 4, 2], head_dims=(2,), dtype="float32")
    clone = {"copy": model.copy, "astype": lambda: model.astype("float32"),
             "to_backend": lambda: model.to_backend("numpy")}[convert]()
    before = model.get_params()
    for value in clone.params.values():
        value += 1.0                                   # params are live: training does this
    for key, value in model.params.items():
        np.testing.assert_array_equal(value, before[key], err_msg=f"{convert} shares {key}")
