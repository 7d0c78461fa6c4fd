"""``fit(weighting=..., track_conflict=...)`` and ``mtl.gradient_conflict``."""
import warnings

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy.training import random_mini_batches
from mtl_numpy.weighting import WEIGHTINGS

METHODS = sorted(WEIGHTINGS)


def small_data(rng, m=40, n_x=6, n_tasks=3, missing=0.3):
    X = rng.normal(size=(n_x, m))
    Y = (rng.random((n_tasks, m)) < 0.5).astype(float)
    Y[rng.random((n_tasks, m)) < missing] = np.nan
    return X, Y


def mlp(head_dims=(3,), dtype="float64", backend="numpy"):
    return mtl.SharedMLP([6, 5, 4, 3], seed=1, dtype=dtype, backend=backend, head_dims=head_dims)


def run(model, X, Y, **kwargs):
    kwargs.setdefault("epochs", 2)
    kwargs.setdefault("batch_size", 8)
    return mtl.fit(model, X, Y, progress=False, optimizer=mtl.Adam(1e-2), **kwargs)


def test_equal_is_todays_step_bit_for_bit(rng):
    X, Y = small_data(rng)
    reference, by_name, by_object = mlp(None), mlp(None), mlp(None)
    h0 = run(reference, X, Y)
    h1 = run(by_name, X, Y, weighting="equal")
    h2 = run(by_object, X, Y, weighting=mtl.weighting.EqualWeighting())
    for key in reference.params:
        assert np.array_equal(by_name.params[key], reference.params[key])
        assert np.array_equal(by_object.params[key], reference.params[key])
    assert h1.train_cost == h0.train_cost == h2.train_cost
    assert h1.weighting == "equal" and h1.task_weights == [] and h1.train_task_cost == []


class _ThroughTaskGradients:
    """Subclasses are not the exact loss-weighting classes, so fit runs them on the full G."""


@pytest.mark.parametrize("name", ["per_task", "uncertainty", "dwa"])
@pytest.mark.parametrize("normalize", ["examples", "labels"])
def test_loss_weighting_by_scaled_logits_equals_the_per_task_gradients(name, normalize, rng):
    """fit's shortcut for loss weighting (one backward of the weighted dZL) gives what combining
    the per-task gradients G gives."""
    cls = WEIGHTINGS[name]
    slow_cls = type(f"Slow{cls.__name__}", (cls, _ThroughTaskGradients), {})
    X, Y = small_data(rng)
    fast, slow = mlp(), mlp()
    fast.normalize = slow.normalize = normalize
    w_fast, w_slow = cls(), slow_cls()
    h_fast = run(fast, X, Y, weighting=w_fast, epochs=4)
    h_slow = run(slow, X, Y, weighting=w_slow, epochs=4)
    for key in fast.params:
        np.testing.assert_allclose(fast.params[key], slow.params[key], rtol=1e-10, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(h_fast.task_weights, h_slow.task_weights, rtol=1e-10)
    np.testing.assert_allclose(h_fast.train_cost, h_slow.train_cost, rtol=1e-10)
    for key in w_fast.params:
        np.testing.assert_allclose(w_fast.params[key], w_slow.params[key], rtol=1e-10)


@pytest.mark.parametrize("name", METHODS)
def test_every_method_trains_on_scenes_with_missing_labels(name, backend):
    data = mtl.datasets.driving_scenes(48, image_size=16, missing=0.3, seed=0)
    Y = data.Y.copy()
    Y[3] = np.nan                                   # a task with no label anywhere
    model = mtl.SharedCNN((16, 16, 3), conv_channels=(4,), hidden=(8,), head_dims=(4,), seed=0,
                          backend=backend)
    before = model.get_params()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)       # no 0/0, no overflow
        history = mtl.fit(model, data.X, Y, epochs=3, batch_size=16, progress=False, weighting=name,
                          optimizer=mtl.Adam(1e-2), track_conflict=2)
    assert history.weighting == name and history.steps == 9
    assert all(np.isfinite(history.train_cost))
    if name == "equal":                             # today's step: the cost is never split
        assert history.train_task_cost == [] and history.task_weights == []
    else:
        assert np.isfinite(history.train_task_cost).all() and len(history.train_task_cost) == 3
        weights = np.array(history.task_weights)
        assert weights.shape == (9, 4) and np.isfinite(weights).all()
        assert np.all(weights[:, 3] == 0.0), "a task with no label must get weight 0"
        assert np.array(history.train_task_cost)[:, 3].tolist() == [0.0] * 3
    after = model.get_params()
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    for key in ("W3_t3", "b3_t3", "W4_t3", "b4_t3"):   # the unlabelled task's head never moves
        assert np.array_equal(before[key], after[key]), key
    assert [row["step"] for row in history.conflict] == [1, 3, 5, 7, 9]


def test_learnable_weights_use_the_same_optimizer_and_are_restored_on_divergence(rng):
    X, Y = small_data(rng)

    class Exploding(mtl.weighting.UncertaintyWeighting):
        calls = 0

        def task_weights(self, batch):
            out = super().task_weights(batch)
            self.calls += 1
            if self.calls == 3:
                self.grads = {"dlog_var": np.full(batch.n_tasks, np.nan)}
            return out

    model, weighting = mlp(), Exploding()
    kept = {}

    class Spy(mtl.Adam):
        def update(self, params, grads):
            assert "log_var" in params and "dlog_var" in grads      # one update for both
            kept.setdefault(self.t, {k: np.array(v, copy=True) for k, v in params.items()})
            super().update(params, grads)

    with pytest.raises(mtl.TrainingDiverged, match="step 3"):
        mtl.fit(model, X, Y, epochs=1, batch_size=8, progress=False, weighting=weighting,
                optimizer=Spy(1e-2))
    after_step_2 = kept[2]                          # the parameters at the start of step 3
    assert np.isfinite(weighting.params["log_var"]).all()
    np.testing.assert_array_equal(weighting.params["log_var"], after_step_2["log_var"])
    np.testing.assert_array_equal(model.params["W1"], after_step_2["W1"])


def test_uncertainty_log_var_moves_towards_the_task_costs(rng):
    X, Y = small_data(rng, m=64)
    weighting = mtl.weighting.UncertaintyWeighting()
    model = mlp()
    history = mtl.fit(model, X, Y, epochs=300, batch_size=64, progress=False, weighting=weighting,
                      optimizer=mtl.Adam(0.02))
    # for fixed costs the optimum is e^{s_t} = J_t: the learnt log variances track log J_t
    log_cost = np.log(history.train_task_cost[-1])
    np.testing.assert_allclose(weighting.params["log_var"], log_cost, atol=0.1)
    assert np.ptp(log_cost) > 0.2                  # the tasks' costs (and so their s_t) differ


def test_track_conflict_records_gradient_conflict_of_the_step_batch(rng):
    X, Y = small_data(rng)
    model = mlp(None)
    start = model.copy()
    history = run(model, X, Y, epochs=1, track_conflict=3)
    assert [row["step"] for row in history.conflict] == [1, 4]
    first = random_mini_batches(X.shape[1], 8, np.random.default_rng(0))[0]
    expected = mtl.gradient_conflict(start, X[:, first], Y[:, first])
    row = history.conflict[0]
    np.testing.assert_allclose(row["cosine"], expected.cosine, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(row["norm_ratio"], expected.norm_ratio, rtol=1e-12)
    assert row["weights"] is None and row["epoch"] == 1
    steps, values = history.conflict_curve(0, 1)
    assert steps == [1, 4] and values[0] == row["cosine"][0][1]
    steps, values = history.conflict_curve("task0", "task2", layer="1")
    assert values[0] == row["layer_cosine"]["1"][0][2]


def test_gradient_conflict_public(rng):
    model = mlp((3,))
    X, Y = small_data(rng, m=10)
    Y[1] = np.nan
    conflict = mtl.gradient_conflict(model, X, Y, tasks=["a", "b", "c"])
    assert conflict.tasks == ("a", "b", "c")
    assert conflict.cosine.shape == (3, 3) and np.isfinite(conflict.cosine).all()
    assert conflict.present.tolist() == [True, False, True]
    assert conflict.cosine[1].tolist() == [0.0, 0.0, 0.0]
    assert conflict.cosine[0, 0] == pytest.approx(1.0) and conflict.cosine[0, 2] == conflict.cosine[2, 0]
    assert set(conflict.layers) == {"1", "2"}
    _, G = model.task_costs_and_grads(X, Y)
    g0 = np.concatenate([G[k][0].ravel() for k in model.shared])
    g2 = np.concatenate([G[k][2].ravel() for k in model.shared])
    assert conflict.cosine[0, 2] == pytest.approx(g0 @ g2 / np.linalg.norm(g0) / np.linalg.norm(g2))
    assert "gradient conflict" in str(conflict)
    with pytest.raises(ValueError, match="no shared parameters"):
        mtl.gradient_conflict(mtl.SharedMLP([6, 3]), X, Y)
    with pytest.raises(ValueError, match="tasks must name"):
        mtl.gradient_conflict(model, X, Y, tasks=["a"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(weighting="nope"), "weighting must be one of"),
    (dict(weighting=3), "weighting must be"),
    (dict(track_conflict=0), "track_conflict must be an int >= 1"),
    (dict(track_conflict=2.5), "track_conflict"),
])
def test_bad_arguments(kwargs, match, rng):
    X, Y = small_data(rng, m=8)
    with pytest.raises(ValueError, match=match):
        run(mlp(), X, Y, **kwargs)


def test_history_to_dict_carries_the_new_records(rng):
    import json

    X, Y = small_data(rng, m=16)
    history = run(mlp(), X, Y, weighting="pcgrad", track_conflict=2)
    record = json.loads(json.dumps(history.to_dict()))
    assert record["weighting"] == "pcgrad"
    assert len(record["task_weights"]) == history.steps and len(record["conflict"]) == 2


def test_float32_cnn_weighting_steps_on_every_backend(backend, rng):
    data = mtl.datasets.driving_scenes(16, image_size=16, missing=0.3, seed=1)
    results = {}
    for b in ("numpy", backend):
        model = mtl.SharedCNN((16, 16, 3), conv_channels=(4,), hidden=(6,), seed=0, backend=b)
        mtl.fit(model, data.X, data.Y, epochs=1, batch_size=8, progress=False, weighting="mgda")
        results[b] = model.get_params()
    for key in results["numpy"]:
        np.testing.assert_allclose(results[backend][key], results["numpy"][key], rtol=1e-4, atol=1e-5)
