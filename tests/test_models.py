"""Whole-model behaviour: the contract's shapes, gradient checks with '?' patterns, conversions."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mtl_numpy as mtl
from conftest import random_labels


def jitter_biases(model, rng):
    """Give every b a small random value (in place: params are live).

    With b = 0, a ReLU unit that is dead on every example feeds exact zeros to
    the next layer, whose Z is then exactly 0: on ReLU's kink, where no
    finite-difference check can agree with a one-sided derivative.
    """
    for key, value in model.params.items():
        if key.startswith("b"):
            value += rng.normal(scale=0.1, size=value.shape)
    return model


def labels_with_pattern(rng, n_tasks, m, pattern):
    Y = random_labels(rng, n_tasks, m, 0.3)
    if pattern == "example" and m > 1:
        Y[:, 0] = np.nan          # an all-'?' example
    elif pattern == "task":
        Y[0, :] = np.nan          # an all-'?' task
    elif pattern == "batch":
        Y[:] = np.nan             # nothing known at all
    return Y


@given(
    dims=st.lists(st.integers(1, 6), min_size=0, max_size=2),
    n_x=st.integers(1, 6), n_tasks=st.integers(1, 4), m=st.integers(1, 9),
    pattern=st.sampled_from(["none", "example", "task", "batch"]),
    normalize=st.sampled_from(["examples", "labels"]), seed=st.integers(0, 1000),
)
def test_mlp_gradient_check_property(dims, n_x, n_tasks, m, pattern, normalize, seed):
    rng = np.random.default_rng(seed)
    model = jitter_biases(mtl.SharedMLP([n_x, *dims, n_tasks], seed=seed, dtype="float64", normalize=normalize), rng)
    X = rng.normal(size=(n_x, m))
    Y = labels_with_pattern(rng, n_tasks, m, pattern)
    if np.isnan(Y).all():
        # nothing known: zero cost, zero gradient -- and a check would pass vacuously, so it refuses
        _, grads = model.cost_and_grads(X, Y)
        assert all(np.all(g == 0) for g in grads.values())
        with pytest.raises(ValueError, match="no known label"):
            mtl.gradient_check(model, X, Y)
        return
    result = mtl.gradient_check(model, X, Y)
    assert result.difference < 1e-7, str(result)
    assert result.passed
    assert set(result.per_parameter) == set(model.params)


@pytest.mark.parametrize("pattern", ["none", "example", "task"])
@pytest.mark.parametrize("normalize", ["examples", "labels"])
def test_cnn_gradient_check(pattern, normalize, rng):
    model = mtl.SharedCNN(input_shape=(6, 5, 2), conv_channels=(3, 2), kernel_size=3, pool_size=2,
                          hidden=(5,), n_tasks=3, seed=3, dtype="float64", normalize=normalize)
    jitter_biases(model, rng)
    X = rng.random((4, 6, 5, 2))
    Y = labels_with_pattern(rng, 3, 4, pattern)
    result = mtl.gradient_check(model, X, Y)
    assert result.difference < 1e-7, str(result)
    assert all(v < 1e-6 for v in result.per_parameter.values()), str(result)


def test_gradient_check_catches_a_broken_backward(rng):
    import types

    from mtl_numpy.backends import numpy_backend

    def broken_linear_relu_backward(dA, cache, need_dA_prev=True):
        dA_prev, dW, db = numpy_backend.linear_relu_backward(dA, cache, need_dA_prev)
        return dA_prev, dW * 1.01, db   # a 1% mistake in every hidden dW

    broken = types.SimpleNamespace(**vars(numpy_backend))
    broken.linear_relu_backward = broken_linear_relu_backward
    model = mtl.SharedMLP([4, 5, 3], seed=0, dtype="float64", backend=broken)
    X, Y = rng.normal(size=(4, 6)), random_labels(rng, 3, 6)
    result = mtl.gradient_check(model, X, Y)
    assert not result.passed
    assert result.per_parameter["W1"] > 1e-3
    assert result.per_parameter["W2"] < 1e-7


def test_gradient_check_leaves_model_and_data_untouched(rng):
    model = mtl.SharedMLP([3, 4, 2], seed=0)
    before = {k: v.copy() for k, v in model.params.items()}
    X, Y = rng.normal(size=(3, 5)), random_labels(rng, 2, 5)
    X0, Y0 = X.copy(), Y.copy()
    result = mtl.gradient_check(model, X, Y)
    assert result.passed, str(result)   # float32 model, checked on a float64 copy
    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k])
        assert model.params[k].dtype == np.float32
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


def test_sparse_gradient_check(rng):
    model = mtl.SharedMLP([30, 20, 4], seed=0, dtype="float64")
    X, Y = rng.normal(size=(30, 3)), random_labels(rng, 4, 3)
    result = mtl.gradient_check(model, X, Y, max_per_parameter=10)
    assert result.n_checked == 10 + 10 + 10 + 4  # W1, b1 (20 entries), W2 (80), b2 (all 4)
    assert result.passed, str(result)


def test_mlp_contract_shapes_and_caches(rng):
    model = mtl.SharedMLP([12, 8, 6, 4], seed=0)
    assert list(model.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert model.params["W1"].shape == (8, 12) and model.params["b2"].shape == (6, 1)
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert np.all(model.params["b1"] == 0)
    # He initialisation: Var(W1) = 2 / n_x
    big = mtl.SharedMLP([400, 300, 1], seed=0, dtype="float64")
    assert np.var(big.params["W1"]) == pytest.approx(2 / 400, rel=0.05)
    X = rng.normal(size=(12, 5))
    AL, caches = model.forward(X)
    assert AL.shape == (4, 5) and AL.dtype == np.float32
    assert len(caches) == 3
    (A_prev, W, b), Z = caches[0]
    assert A_prev.shape == (12, 5) and W is model.params["W1"] and Z.shape == (8, 5)
    (_, W3, _), ZL = caches[2]
    np.testing.assert_allclose(AL, 1 / (1 + np.exp(-ZL)), rtol=1e-6)
    J, grads = model.cost_and_grads(X, random_labels(rng, 4, 5))
    assert isinstance(J, float)
    assert list(grads) == ["dW1", "db1", "dW2", "db2", "dW3", "db3"]
    for k, v in model.params.items():
        assert grads["d" + k].shape == v.shape and grads["d" + k].dtype == v.dtype
    P = model.predict(X)
    assert P.shape == (4, 5) and set(np.unique(P)) <= {0, 1}
    np.testing.assert_array_equal(P, (model.predict_proba(X) > 0.5).astype(np.int8))


def test_cnn_contract_shapes(rng):
    model = mtl.SharedCNN(input_shape=(32, 32, 3), conv_channels=(16, 32), kernel_size=3, pool_size=2,
                          hidden=(64,), n_tasks=4, seed=0)
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes == {"W1": (3, 3, 3, 16), "b1": (1, 1, 1, 16), "W2": (3, 3, 16, 32), "b2": (1, 1, 1, 32),
                      "W3": (64, 8 * 8 * 32), "b3": (64, 1), "W4": (4, 64), "b4": (4, 1)}
    X = rng.random((2, 32, 32, 3), dtype=np.float32)
    AL, caches = model.forward(X)
    assert AL.shape == (4, 2) and AL.dtype == np.float32
    odd = mtl.SharedCNN(input_shape=(7, 9, 1), conv_channels=(2,), pool_size=2, hidden=(), n_tasks=2)
    assert odd.params["W2"].shape == (2, 3 * 4 * 2)  # floor(7/2) x floor(9/2) x 2
    assert odd.predict_proba(rng.random((3, 7, 9, 1))).shape == (2, 3)


def test_same_seed_same_parameters_and_dtypes_agree():
    a = mtl.SharedMLP([5, 4, 2], seed=7, dtype="float64")
    b = mtl.SharedMLP([5, 4, 2], seed=7, dtype="float32")
    c = mtl.SharedMLP([5, 4, 2], seed=8, dtype="float64")
    for k in a.params:
        np.testing.assert_array_equal(a.params[k].astype(np.float32), b.params[k])
    assert not np.array_equal(a.params["W1"], c.params["W1"])


def test_astype_and_to_backend_return_new_models(rng):
    model = mtl.SharedMLP([5, 4, 2], seed=0)
    m64 = model.astype("float64")
    assert m64 is not model and m64.dtype == "float64" and model.dtype == "float32"
    assert m64.params["W1"].dtype == np.float64
    m64.params["W1"][0, 0] += 1.0
    assert model.params["W1"][0, 0] != m64.params["W1"][0, 0]
    same = model.to_backend("numpy")
    assert same is not model and same.backend.name == "numpy"
    X = rng.normal(size=(5, 3))
    np.testing.assert_array_equal(same.predict_proba(X), model.predict_proba(X))


def test_params_are_live(rng):
    model = mtl.SharedMLP([3, 2], seed=0, dtype="float64")
    X = rng.normal(size=(3, 4))
    before = model.predict_proba(X)
    model.params["b1"] += 10.0  # a user edit in place reaches the next forward
    after = model.predict_proba(X)
    assert np.all(after > before)


def test_models_do_not_modify_inputs(rng):
    model = mtl.SharedCNN(input_shape=(4, 4, 1), conv_channels=(2,), hidden=(3,), n_tasks=2, dtype="float64")
    X = rng.random((3, 4, 4, 1))
    Y = random_labels(rng, 2, 3)
    X0, Y0 = X.copy(), Y.copy()
    model.cost_and_grads(X, Y)
    mtl.fit(model, X, Y, epochs=2, batch_size=2, progress=False)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


def test_normalize_changes_scale_not_direction(rng):
    X = rng.normal(size=(4, 6))
    Y = random_labels(rng, 3, 6, 0.5)
    a = mtl.SharedMLP([4, 3], seed=0, dtype="float64", normalize="examples")
    b = mtl.SharedMLP([4, 3], seed=0, dtype="float64", normalize="labels")
    Ja, ga = a.cost_and_grads(X, Y)
    Jb, gb = b.cost_and_grads(X, Y)
    ratio = np.sum(~np.isnan(Y)) / 6
    assert Ja == pytest.approx(Jb * ratio)
    np.testing.assert_allclose(ga["dW1"], gb["dW1"] * ratio)
