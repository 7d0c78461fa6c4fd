"""Whole-model behaviour: the contract's shapes, gradient checks with '?' patterns, conversions.

The tests that take the ``backend`` fixture run on every backend available here (conftest.py),
over the shared model cases (``MODEL_CASES``) and '?' patterns (``LABEL_PATTERNS``).
"""
import types
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mtl_numpy as mtl
from conftest import (LABEL_PATTERNS, MODEL_CASES, host, jitter_biases, labels_with_pattern, make_model,
                      model_inputs, random_labels)
from mtl_numpy import blocks as mtl_blocks

#: Relative agreement expected between two float64 computations of the same numbers in a
#: different order (another backend, a fused kernel against a plain one).
FLOAT64_RTOL = 1e-11


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


@pytest.mark.parametrize("normalize", ["examples", "labels"])
@pytest.mark.parametrize("pattern", LABEL_PATTERNS)
@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_gradient_check_every_case_on_every_backend(backend, case, pattern, normalize, rng):
    model = jitter_biases(make_model(case, backend, normalize=normalize), rng)
    m = 4
    X = model_inputs(model, rng, m)
    Y = labels_with_pattern(rng, model.n_tasks, m, pattern)
    if np.isnan(Y).all():
        # nothing known: cost 0, every gradient exactly 0 -- and a gradient check would compare
        # zeros with zeros and pass vacuously, so it refuses
        J, grads = model.cost_and_grads(X, Y)
        assert J == 0.0 and all(np.all(host(g) == 0) for g in grads.values())
        with pytest.raises(ValueError, match="no known label"):
            mtl.gradient_check(model, X, Y)
        return
    result = mtl.gradient_check(model, X, Y)
    assert result.difference < 1e-7, str(result)
    assert all(v < 1e-6 for v in result.per_parameter.values()), str(result)


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_backends_agree_with_numpy(backend, case, rng):
    ref = jitter_biases(make_model(case, "numpy"), rng)
    model = ref.to_backend(backend)
    X = model_inputs(ref, rng, 5)
    Y = labels_with_pattern(rng, ref.n_tasks, 5, "example")
    J_ref, g_ref = ref.cost_and_grads(X, Y)
    J, g = model.cost_and_grads(X, Y)
    assert J == pytest.approx(J_ref, rel=FLOAT64_RTOL), f"{backend} cost {J!r}, numpy {J_ref!r}"
    assert list(g) == list(g_ref)
    for key in g_ref:
        np.testing.assert_allclose(host(g[key]), g_ref[key], rtol=FLOAT64_RTOL, atol=1e-14,
                                   err_msg=f"{key} on {backend}")
    np.testing.assert_allclose(host(model.predict_proba(X)), ref.predict_proba(X), rtol=FLOAT64_RTOL)


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


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_same_seed_same_parameters_on_every_backend_and_dtype(backend, case):
    a = make_model(case, "numpy", "float64", seed=7)
    b = make_model(case, backend, "float32", seed=7)
    c = make_model(case, "numpy", "float64", seed=8)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k].astype(np.float32), host(b.params[k]))
    assert not np.array_equal(a.params["W1"], c.params["W1"])


@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_astype_and_to_backend_return_new_models(backend, case, rng):
    model = make_model(case, backend, "float32")
    m64 = model.astype("float64")
    assert m64 is not model and m64.dtype == "float64" and model.dtype == "float32"
    assert m64.params["W1"].dtype == np.float64 and m64.backend is model.backend
    m64.params["W1"].reshape(-1)[0] += 1.0
    assert host(model.params["W1"]).ravel()[0] != host(m64.params["W1"]).ravel()[0]
    same = model.to_backend(backend)
    assert same is not model and same.backend.name == backend
    on_numpy = model.to_backend("numpy")
    assert on_numpy.backend.name == "numpy"
    X = model_inputs(model, rng, 3).astype(np.float32)
    np.testing.assert_array_equal(host(same.predict_proba(X)), host(model.predict_proba(X)))
    np.testing.assert_allclose(on_numpy.predict_proba(X), host(model.predict_proba(X)), rtol=1e-5)


@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_params_are_live(backend, case, rng):
    model = make_model(case, backend)
    X = model_inputs(model, rng, 4)
    before = host(model.predict_proba(X))
    model.params[f"b{model.n_layers}"] += 10.0  # a user edit in place reaches the next forward
    after = host(model.predict_proba(X))
    assert np.all(after > before)


@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_models_do_not_modify_inputs(backend, case, rng):
    model = make_model(case, backend)
    X = model_inputs(model, rng, 3)
    Y = random_labels(rng, model.n_tasks, 3)
    X0, Y0 = X.copy(), Y.copy()
    model.cost_and_grads(X, Y)
    model.cost(X, Y)
    mtl.fit(model, X, Y, epochs=2, batch_size=2, progress=False, validation=(X, Y), restore_best=True)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_normalize_changes_scale_not_direction(backend, case, rng):
    a = make_model(case, backend, normalize="examples", seed=0)
    b = make_model(case, backend, normalize="labels", seed=0)
    X = model_inputs(a, rng, 6)
    Y = random_labels(rng, a.n_tasks, 6, 0.5)
    Ja, ga = a.cost_and_grads(X, Y)
    Jb, gb = b.cost_and_grads(X, Y)
    ratio = np.sum(~np.isnan(Y)) / 6     # the number of known labels per example, counted apart
    assert Ja == pytest.approx(Jb * ratio)
    assert a.cost(X, Y) == pytest.approx(b.cost(X, Y) * ratio)
    np.testing.assert_allclose(host(ga["dW1"]), host(gb["dW1"]) * ratio)


# ----------------------------------------------------------------------------------------------
# Blocks: the model is its list of blocks, run forward then backward
# ----------------------------------------------------------------------------------------------

def test_models_declare_their_blocks():
    mlp = make_model("mlp")
    assert [type(b).__name__ for b in mlp.blocks] == ["DenseReLU", "DenseReLU", "DenseOutput"]
    cnn = make_model("cnn")
    assert [type(b).__name__ for b in cnn.blocks] == ["ConvBlock", "ConvBlock", "Flatten", "DenseReLU",
                                                       "DenseOutput"]
    for model in (mlp, cnn):
        names = [name for block in model.blocks for name in block.param_names]
        assert names == list(model.params)   # layers numbered in forward order, W before b
        for block in model.blocks:
            for name, shape in block.param_shapes.items():
                assert model.params[name].shape == shape
    conv = cnn.blocks[0]
    assert conv.conv_hparameters == {"stride": 1, "pad": 1} and conv.pool_hparameters == {"f": 2, "stride": 2}
    assert conv.fan_in == 3 * 3 * 2 and cnn.blocks[3].fan_in == cnn.flat_dim


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_the_block_loops_are_forward_and_backward(backend, case, rng):
    """``for block in blocks: A, cache = block.forward(A)`` and back is the model's forward/backward."""
    model = jitter_biases(make_model(case, backend), rng)
    X = model_inputs(model, rng, 3)
    Y = labels_with_pattern(rng, model.n_tasks, 3, "none")
    A, caches = model.prepare(X), []
    for block in model.blocks:                                  # L_model_forward
        A, cache = block.forward(A)
        caches.append(cache)
    ZL = A
    J, dZL = model.backend.masked_logistic_cost_and_grad(ZL, model.backend.asarray(Y), model.normalize)
    grads, dA = {}, dZL
    for block, cache in reversed(list(zip(model.blocks, caches))):   # L_model_backward
        dA, block_grads = block.backward(dA, cache)
        grads.update(block_grads)
    assert host(dA).shape == X.shape                            # the first block still gave dA_prev
    J_model, g_model = model.cost_and_grads(X, Y)
    assert J == J_model
    assert set(grads) == set(g_model)
    for key in g_model:
        np.testing.assert_array_equal(host(grads[key]), host(g_model[key]), err_msg=key)
    AL, model_caches = model.forward(X)
    assert len(model_caches) == len(model.blocks)
    np.testing.assert_array_equal(host(AL), host(model.backend.sigmoid_forward(ZL)[0]))


def _old_he_init(layer_shapes, seed):
    """The initialisation as models.py wrote it before the blocks (the oracle for bitwise equality)."""
    rng = np.random.default_rng(seed)
    out = {}
    for l, (shape, fan_in) in enumerate(layer_shapes, start=1):
        out[f"W{l}"] = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    return out


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_he_initialization_is_bitwise_the_old_one(seed):
    mlp = mtl.SharedMLP([12, 9, 7, 4], seed=seed, dtype="float64")
    old = _old_he_init([((9, 12), 12), ((7, 9), 9), ((4, 7), 7)], seed)
    cnn = mtl.SharedCNN((8, 8, 3), conv_channels=(4, 5), hidden=(6,), n_tasks=3, seed=seed, dtype="float64")
    old_cnn = _old_he_init([((3, 3, 3, 4), 27), ((3, 3, 4, 5), 36), ((6, 20), 20), ((3, 6), 6)], seed)
    for model, ref in ((mlp, old), (cnn, old_cnn)):
        for key, value in ref.items():
            np.testing.assert_array_equal(model.params[key], value, err_msg=key)
            assert np.all(model.params["b" + key[1:]] == 0)
    assert mtl_blocks.he_initialization(cnn.blocks, seed).keys() == cnn.params.keys()


def test_initial_parameters_are_pinned():
    """Numbers printed by the code before the blocks (seed 0): checkpoints and results stay valid."""
    mlp = mtl.SharedMLP([12, 9, 7, 4], seed=0, dtype="float64")
    cnn = mtl.SharedCNN((8, 8, 3), conv_channels=(4, 5), hidden=(6,), n_tasks=3, seed=0, dtype="float64")
    pinned = {
        (mlp, "W1"): (0.05132914782102134, 0.2535294770552829, 3.21046608622707),
        (mlp, "W3"): (0.025482146697981375, -0.2526087388059597, -2.1286352066258765),
        (cnn, "W1"): (0.0342194318806809, 0.1690196513701886, 2.14031072415138),
        (cnn, "W2"): (-0.53036336082055, -0.2363349557451289, -3.930473334232851),
        (cnn, "W4"): (-0.2221493878398837, -0.20142334079815433, 0.4026163472939081),
    }
    for (model, key), (first, last, total) in pinned.items():
        W = model.params[key]
        assert (W.ravel()[0], W.ravel()[-1]) == (first, last), key
        assert W.sum() == pytest.approx(total, rel=1e-14), key


# ----------------------------------------------------------------------------------------------
# The prepared-batch API
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_prepared_api_equals_the_public_api(backend, case, rng):
    model = jitter_biases(make_model(case, backend), rng)
    X = model_inputs(model, rng, 6)
    Y = labels_with_pattern(rng, model.n_tasks, 6, "task")
    Xp, Yp = model.prepare(X, Y)
    assert type(Xp) is type(model.params["W1"]) and Xp.dtype == model.params["W1"].dtype
    assert model.prepare(X).shape == Xp.shape
    assert model.prepared_cost(Xp, Yp) == model.cost(X, Y)
    J, grads = model.prepared_cost_and_grads(Xp, Yp)
    J_pub, grads_pub = model.cost_and_grads(X, Y)
    assert J == J_pub and list(grads) == list(grads_pub)
    for key in grads:
        np.testing.assert_array_equal(host(grads[key]), host(grads_pub[key]))
    np.testing.assert_array_equal(host(model.prepared_proba(Xp)), host(model.predict_proba(X)))
    np.testing.assert_array_equal(host(model.prepared_proba(Xp)), host(model.forward(X)[0]))
    # the cost alone (no gradient) is the fused kernel's cost: bit for bit on NumPy
    if backend == "numpy":
        assert model.prepared_cost(Xp, Yp) == J
    else:
        assert model.prepared_cost(Xp, Yp) == pytest.approx(J, rel=FLOAT64_RTOL)
    # slices of prepared arrays are prepared arrays
    idx = model.backend.asarray(np.array([4, 1]))
    J_part = model.prepared_cost(model.take_examples(Xp, idx), Yp[:, idx])
    assert J_part == pytest.approx(model.cost(model.take_examples(X, np.array([4, 1])), Y[:, [4, 1]]),
                                   rel=FLOAT64_RTOL)


class _Spy:
    """A copy of a backend that counts kernel calls and tracks the caches its forwards return."""

    def __init__(self, backend, track=True):
        self.calls = {}
        self.live = weakref.WeakSet()
        self.live_at_call = []
        bk = mtl.get_backend(backend)
        self.backend = types.SimpleNamespace(**{k: getattr(bk, k) for k in dir(bk) if not k.startswith("__")})
        for name in ("masked_logistic_cost_and_grad", "linear_backward", "linear_relu_backward",
                     "conv_relu_pool_backward", "flatten_backward"):
            self._count(name)
        if track:   # (tracked caches are wrapped: a tracked model cannot run backward)
            for name in ("linear_forward", "linear_relu_forward", "conv_relu_pool_forward", "flatten_forward"):
                self._track(name)

    def _count(self, name):
        kernel = getattr(self.backend, name)

        def counted(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            return kernel(*args, **kwargs)

        setattr(self.backend, name, counted)

    def _track(self, name):
        kernel = getattr(self.backend, name)

        def tracked(*args, **kwargs):
            self.live_at_call.append(len(self.live))
            out, cache = kernel(*args, **kwargs)
            token = _CacheToken()
            self.live.add(token)
            return out, (cache, token)     # the token lives exactly as long as the cache

        setattr(self.backend, name, tracked)

    def n_backward_calls(self):
        return sum(v for k, v in self.calls.items() if k != "masked_logistic_cost_and_grad")


class _CacheToken:
    pass


@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_a_cost_computes_no_gradient(backend, case, rng):
    spy = _Spy(backend)
    model = make_model(case, spy.backend)
    X = model_inputs(model, rng, 4)
    Y = labels_with_pattern(rng, model.n_tasks, 4, "none")
    model.cost(X, Y)
    model.prepared_cost(*model.prepare(X, Y))
    model.predict_proba(X)
    assert spy.calls == {}, f"a cost or a prediction ran {spy.calls}"


def test_gradient_check_computes_the_gradient_once(rng):
    spy = _Spy("numpy", track=False)
    model = make_model("cnn", spy.backend)
    X = model_inputs(model, rng, 3)
    Y = labels_with_pattern(rng, model.n_tasks, 3, "none")
    # gradient_check copies the model with astype: the copy keeps the spied backend
    result = mtl.gradient_check(model, X, Y)
    assert result.passed
    assert spy.calls["masked_logistic_cost_and_grad"] == 1
    assert spy.calls["conv_relu_pool_backward"] == 2   # one backward pass, two conv blocks


@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_prediction_keeps_no_caches(backend, case, rng):
    spy = _Spy(backend)
    model = make_model(case, spy.backend)
    X = model_inputs(model, rng, 4)
    n_tracked = len(model.blocks)
    model.predict_proba(X)
    # when a block runs, at most the previous block's cache is still alive (about to be dropped)
    assert max(spy.live_at_call) <= 1, spy.live_at_call
    assert len(spy.live) == 0
    spy.live_at_call.clear()
    AL, caches = model.forward(X)            # forward() keeps every cache, for backward()
    assert spy.live_at_call == list(range(n_tracked))
    del caches
    assert len(spy.live) == 0
