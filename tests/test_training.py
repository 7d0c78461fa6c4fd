"""Optimizers follow the course's update rules; fit is seeded, learns, and records history."""
import numpy as np
import pytest

import mtl_numpy as mtl
from conftest import random_labels


def toy_problem(rng, m=200, n_x=5, missing=0.3):
    """Four linearly separable tasks on the same inputs."""
    X = rng.normal(size=(n_x, m))
    W_true = rng.normal(size=(4, n_x))
    Y_true = (W_true @ X > 0).astype(float)
    Y = Y_true.copy()
    Y[rng.random(Y.shape) < missing] = np.nan
    return X, Y, Y_true


def test_gradient_descent_rule(rng):
    params = {"W1": rng.normal(size=(3, 2))}
    grads = {"dW1": rng.normal(size=(3, 2))}
    expected = params["W1"] - 0.1 * grads["dW1"]
    mtl.GradientDescent(learning_rate=0.1).update(params, grads)
    np.testing.assert_allclose(params["W1"], expected)


def test_momentum_rule(rng):
    W = rng.normal(size=(2, 2))
    g1, g2 = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    params = {"W1": W.copy()}
    opt = mtl.Momentum(learning_rate=0.05, beta=0.9)
    opt.update(params, {"dW1": g1})
    opt.update(params, {"dW1": g2})
    v = 0.1 * g1
    W1 = W - 0.05 * v
    v = 0.9 * v + 0.1 * g2
    np.testing.assert_allclose(params["W1"], W1 - 0.05 * v, rtol=1e-12)


def test_adam_rule_with_bias_correction(rng):
    W = rng.normal(size=(3,))
    params = {"W1": W.copy()}
    opt = mtl.Adam(learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8)
    v = s = np.zeros(3)
    for t in range(1, 4):
        g = rng.normal(size=3)
        opt.update(params, {"dW1": g})
        v = 0.9 * v + 0.1 * g
        s = 0.999 * s + 0.001 * g ** 2
        v_hat, s_hat = v / (1 - 0.9 ** t), s / (1 - 0.999 ** t)
        W = W - 0.01 * v_hat / (np.sqrt(s_hat) + 1e-8)
        np.testing.assert_allclose(params["W1"], W, rtol=1e-12)


def test_first_adam_step_has_size_learning_rate():
    params = {"W1": np.zeros(2)}
    mtl.Adam(learning_rate=0.01).update(params, {"dW1": np.array([3.0, -0.001])})
    np.testing.assert_allclose(params["W1"], [-0.01, 0.01], rtol=1e-4)


def test_mini_batches_cover_every_example_once():
    batches = mtl.training.random_mini_batches(10, 4, np.random.default_rng(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))


def test_same_seed_gives_bitwise_identical_parameters(rng):
    X, Y, _ = toy_problem(rng)
    runs = []
    for _ in range(2):
        model = mtl.SharedMLP([5, 8, 4], seed=3)
        mtl.fit(model, X, Y, optimizer=mtl.Adam(1e-2), epochs=3, batch_size=16, seed=11, progress=False)
        runs.append(model.params)
    for k in runs[0]:
        assert runs[0][k].tobytes() == runs[1][k].tobytes()
    other = mtl.SharedMLP([5, 8, 4], seed=3)
    mtl.fit(other, X, Y, optimizer=mtl.Adam(1e-2), epochs=3, batch_size=16, seed=12, progress=False)
    assert other.params["W1"].tobytes() != runs[0]["W1"].tobytes()


@pytest.mark.parametrize("optimizer", [mtl.GradientDescent(0.5), mtl.Momentum(0.5), mtl.Adam(0.02)],
                         ids=["gd", "momentum", "adam"])
def test_fit_learns_and_records_history(optimizer, rng):
    X, Y, Y_true = toy_problem(rng, m=400)
    X_val, Y_val, Yv_true = toy_problem(np.random.default_rng(99), m=100)
    # same W_true is not shared between the two draws, so validate on a split instead
    X_val, Y_val, Yv_true = X[:, 300:], Y[:, 300:], Y_true[:, 300:]
    X, Y = X[:, :300], Y[:, :300]
    model = mtl.SharedMLP([5, 16, 4], seed=0, dtype="float64")
    history = mtl.fit(model, X, Y, optimizer=optimizer, epochs=30, batch_size=32,
                      validation=(X_val, Y_val), progress=False)
    assert history.epochs == 30 and len(history.val_cost) == 30 and len(history.seconds) == 30
    assert history.train_cost[-1] < 0.5 * history.train_cost[0]
    assert history.val_cost[-1] < history.val_cost[0]
    assert set(history.val_metrics[-1]) == set(mtl.TASKS)
    assert history.metric_curve("car")[-1] == history.val_metrics[-1]["car"]["accuracy"]
    metrics = mtl.task_metrics(Yv_true, model.predict_proba(X_val))
    assert mtl.mean_metric(metrics) > 0.85


@pytest.mark.parametrize("optimizer", [mtl.GradientDescent(0.1), mtl.Momentum(0.1), mtl.Adam(0.01)],
                         ids=["gd", "momentum", "adam"])
def test_an_all_question_mark_task_gets_no_update(optimizer, rng):
    """A '?' enters no gradient: the output row of a task nobody labelled never moves."""
    X, Y, _ = toy_problem(rng, m=60)
    Y[2, :] = np.nan
    model = mtl.SharedMLP([5, 6, 4], seed=0, dtype="float64")
    W2, b2 = model.params["W2"].copy(), model.params["b2"].copy()
    mtl.fit(model, X, Y, optimizer=optimizer, epochs=3, batch_size=8, progress=False)
    np.testing.assert_array_equal(model.params["W2"][2], W2[2])
    np.testing.assert_array_equal(model.params["b2"][2], b2[2])
    assert not np.array_equal(model.params["W2"][1], W2[1])


def test_filling_question_marks_with_zero_is_different(rng):
    X, Y, _ = toy_problem(rng, m=60, missing=0.5)
    a = mtl.SharedMLP([5, 6, 4], seed=0, dtype="float64")
    b = mtl.SharedMLP([5, 6, 4], seed=0, dtype="float64")
    mtl.fit(a, X, Y, epochs=2, batch_size=8, progress=False)
    mtl.fit(b, X, np.nan_to_num(Y, nan=0.0), epochs=2, batch_size=8, progress=False)
    assert not np.allclose(a.params["W1"], b.params["W1"])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fit_stops_on_divergence(rng):
    X = rng.normal(size=(5, 20)) * 1e3
    Y = random_labels(rng, 4, 20, 0.0)
    model = mtl.SharedMLP([5, 50, 4], seed=0)
    with pytest.raises(FloatingPointError, match="learning rate"):
        mtl.fit(model, X, Y, optimizer=mtl.GradientDescent(1e6), epochs=20, batch_size=20, progress=False)
    assert all(np.isfinite(v).all() for v in model.params.values())


@pytest.mark.parametrize("optimizer", [mtl.GradientDescent(1e30), mtl.Momentum(learning_rate=1e32)])
def test_divergence_on_the_last_update_is_caught_and_undone(rng, optimizer):
    """One batch, one epoch: the only update is the last one; it used to return nan weights."""
    X, Y, _ = toy_problem(rng, m=16)
    model = mtl.SharedMLP([5, 8, 4], seed=0)
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(mtl.TrainingDiverged, match=r"epoch 1, step 1") as info:
        mtl.fit(model, X, Y, optimizer=optimizer, epochs=1, batch_size=16, progress=False,
                validation=(X, Y))
    assert "before training" in str(info.value)
    for k, v in model.params.items():       # restored, bit for bit
        np.testing.assert_array_equal(v, before[k])


def test_divergence_restores_last_good_step(rng):
    X, Y, _ = toy_problem(rng, m=40)
    model = mtl.SharedMLP([5, 8, 4], seed=0)

    class BlowsUpAtStep3(mtl.GradientDescent):
        def update(self, params, grads):
            super().update(params, grads)
            if self.t == 3:
                params["W1"][0, 0] = np.inf

    ref = mtl.SharedMLP([5, 8, 4], seed=0)
    mtl.fit(ref, X, Y, optimizer=mtl.GradientDescent(0.1), epochs=1, batch_size=20, progress=False)
    with pytest.raises(mtl.TrainingDiverged, match=r"epoch 2, step 3") as info:
        mtl.fit(model, X, Y, optimizer=BlowsUpAtStep3(0.1), epochs=3, batch_size=20, progress=False)
    assert "after step 2" in str(info.value)
    for k in model.params:                    # = the model after 2 good steps (one epoch)
        np.testing.assert_array_equal(model.params[k], ref.params[k])


def test_divergence_with_restore_best_goes_back_to_best_epoch(rng):
    X, Y, _ = toy_problem(rng, m=40)
    model = mtl.SharedMLP([5, 8, 4], seed=0)

    class BlowsUpInEpoch3(mtl.GradientDescent):
        def update(self, params, grads):
            super().update(params, grads)
            if self.t == 5:
                params["b1"][:] = np.nan

    with pytest.raises(mtl.TrainingDiverged, match="best epoch so far"):
        mtl.fit(model, X, Y, optimizer=BlowsUpInEpoch3(0.1), epochs=4, batch_size=20, progress=False,
                validation=(X, Y), restore_best=True)
    assert all(np.isfinite(v).all() for v in model.params.values())


def test_interrupt_leaves_model_at_last_completed_step(rng, monkeypatch):
    """Ctrl-C in the middle of an update: every parameter is at the same step."""
    X, Y, _ = toy_problem(rng, m=40)
    model = mtl.SharedMLP([5, 8, 6, 4], seed=0)
    opt = mtl.Adam(learning_rate=0.01)
    real_update_one = mtl.Adam._update_one
    calls = []

    def interrupted_mid_step(self, key, param, grad):
        real_update_one(self, key, param, grad)
        calls.append(key)
        if len(calls) == 3 * 6 + 2:            # step 4, after W1 and b1 only
            raise KeyboardInterrupt

    monkeypatch.setattr(mtl.Adam, "_update_one", interrupted_mid_step)
    history = mtl.fit(model, X, Y, optimizer=opt, epochs=3, batch_size=10, progress=False)
    monkeypatch.undo()
    assert history.interrupted == {"epoch": 1, "step": 3}
    assert history.steps == 3 and history.epochs == 0
    ref = mtl.SharedMLP([5, 8, 6, 4], seed=0)
    ref_opt = mtl.Adam(learning_rate=0.01)
    for idx in list(mtl.training.random_mini_batches(40, 10, np.random.default_rng(0)))[:3]:
        _, grads = ref.cost_and_grads(X[:, idx], Y[:, idx])
        ref_opt.update(ref.params, grads)
    for k in model.params:
        np.testing.assert_array_equal(model.params[k], ref.params[k], err_msg=k)


def test_sigint_during_update_is_delivered_after_it(rng, monkeypatch):
    import os
    import signal

    X, Y, _ = toy_problem(rng, m=40)
    model = mtl.SharedMLP([5, 8, 4], seed=0)
    real_update = mtl.GradientDescent.update

    def update_then_sigint(self, params, grads):
        if self.t == 1:                        # during the second update
            os.kill(os.getpid(), signal.SIGINT)
        real_update(self, params, grads)

    monkeypatch.setattr(mtl.GradientDescent, "update", update_then_sigint)
    history = mtl.fit(model, X, Y, optimizer=mtl.GradientDescent(0.1), epochs=2, batch_size=10,
                      progress=False)
    assert history.interrupted == {"epoch": 1, "step": 2}   # the second step completed


def test_validation_cost_non_finite_is_an_error(rng):
    X, Y, _ = toy_problem(rng, m=20)
    model = mtl.SharedMLP([5, 4], seed=0, dtype="float32")
    X_val = np.full((5, 4), 3e38)
    with pytest.raises(ValueError):            # refused up front: overflows float32 in the model
        mtl.fit(model, X, Y, epochs=1, progress=False, validation=(X_val * 10, Y[:, :4]))


def test_fit_with_progress_bar_and_callback(rng, capsys):
    X, Y, _ = toy_problem(rng, m=40)
    seen = []
    mtl.fit(mtl.SharedMLP([5, 4]), X, Y, epochs=2, batch_size=10, progress=True,
            callback=lambda epoch, h: seen.append((epoch, h.epochs)))
    assert seen == [(0, 1), (1, 2)]
    assert "epoch 2/2" in capsys.readouterr().err


def test_cnn_trains_with_fit(rng):
    X = rng.random((40, 6, 6, 1))
    Y = np.vstack([(X[:, :3].mean(axis=(1, 2, 3)) > X[:, 3:].mean(axis=(1, 2, 3))),
                   (X.mean(axis=(1, 2, 3)) > 0.5)]).astype(float)
    model = mtl.SharedCNN(input_shape=(6, 6, 1), conv_channels=(4,), hidden=(8,), n_tasks=2, seed=0)
    h = mtl.fit(model, X, Y, optimizer=mtl.Adam(1e-2), epochs=15, batch_size=8, progress=False)
    assert h.train_cost[-1] < h.train_cost[0]


def test_evaluate_and_batched_predictions_agree(rng):
    X, Y, _ = toy_problem(rng, m=50)
    model = mtl.SharedMLP([5, 6, 4], seed=0, dtype="float64")
    np.testing.assert_allclose(mtl.predict_proba_batched(model, X, batch_size=7), model.predict_proba(X), rtol=1e-12)
    J, metrics = mtl.evaluate(model, X, Y, batch_size=7)
    assert J == pytest.approx(model.cost(X, Y), rel=1e-12)
    labels_model = mtl.SharedMLP([5, 6, 4], seed=0, dtype="float64", normalize="labels")
    J2, _ = mtl.evaluate(labels_model, X, Y, batch_size=7)
    assert J2 == pytest.approx(labels_model.cost(X, Y), rel=1e-12)


# ----------------------------------------------------------------------------------------------
# Best-checkpoint restore and early stopping (fit's options)
# ----------------------------------------------------------------------------------------------

def overfitting_problem(rng):
    """30 examples with 30% of their labels flipped: the validation cost falls, then rises."""
    X = rng.random((5, 30))
    Y = np.vstack([X[0] > 0.5, X[1] > 0.5]).astype(float)
    flipped = rng.random(Y.shape) < 0.3
    Y[flipped] = 1 - Y[flipped]
    Y[rng.random(Y.shape) < 0.2] = np.nan
    X_val = rng.random((5, 200))
    Y_val = np.vstack([X_val[0] > 0.5, X_val[1] > 0.5]).astype(float)
    return X, Y, X_val, Y_val


def snapshots(model, store):
    """A callback that keeps a copy of the parameters after every epoch (1-based keys)."""
    def callback(epoch, history):
        store[epoch + 1] = {k: v.copy() for k, v in model.params.items()}
    return callback


def test_restore_best_gives_back_the_best_epochs_parameters(backend, rng):
    X, Y, X_val, Y_val = overfitting_problem(rng)
    model = mtl.SharedMLP([5, 32, 2], seed=0, dtype="float64", backend=backend)
    after = {}
    h = mtl.fit(model, X, Y, optimizer=mtl.Adam(1e-2), epochs=40, batch_size=8, seed=1, progress=False,
                validation=(X_val, Y_val), restore_best=True, callback=snapshots(model, after))
    best = int(np.argmin(h.val_cost)) + 1
    assert 1 < best < 40, "the problem must overfit for this test to mean anything"
    assert h.best_epoch == best and h.epochs == 40 and not h.stopped_early
    assert h.scores == {e: c for e, c in enumerate(h.val_cost, start=1)}
    for key, value in after[best].items():
        np.testing.assert_array_equal(mtl.to_numpy(model.params[key]), mtl.to_numpy(value), err_msg=key)
    assert not np.array_equal(mtl.to_numpy(model.params["W1"]), mtl.to_numpy(after[40]["W1"]))
    # and it is the model a run of exactly best_epoch epochs gives (same seed, same batches)
    again = mtl.SharedMLP([5, 32, 2], seed=0, dtype="float64", backend=backend)
    mtl.fit(again, X, Y, optimizer=mtl.Adam(1e-2), epochs=best, batch_size=8, seed=1, progress=False)
    for key in model.params:
        np.testing.assert_array_equal(mtl.to_numpy(model.params[key]), mtl.to_numpy(again.params[key]))
    assert model.cost(X_val, Y_val) == pytest.approx(min(h.val_cost), rel=1e-12)


def test_early_stopping_stops_after_patience_and_restores(rng):
    X, Y, X_val, Y_val = overfitting_problem(rng)
    full = mtl.fit(mtl.SharedMLP([5, 32, 2], seed=0, dtype="float64"), X, Y, optimizer=mtl.Adam(1e-2),
                   epochs=40, batch_size=8, seed=1, progress=False, validation=(X_val, Y_val))
    # the rule, applied by hand to the full run's validation costs
    best, lowest, stop = 0, np.inf, None
    for epoch, cost in enumerate(full.val_cost, start=1):
        if cost < lowest:
            best, lowest = epoch, cost
        elif epoch - best >= 3:
            stop = epoch
            break
    assert stop is not None and stop < 40, "the problem must overfit for this test to mean anything"
    model = mtl.SharedMLP([5, 32, 2], seed=0, dtype="float64")
    after = {}
    h = mtl.fit(model, X, Y, optimizer=mtl.Adam(1e-2), epochs=40, batch_size=8, seed=1, progress=False,
                validation=(X_val, Y_val), early_stopping=3, callback=snapshots(model, after))
    assert h.best_epoch == best and h.epochs == stop == best + 3 and h.stopped_early
    assert h.val_cost == full.val_cost[:stop]
    for key, value in after[best].items():
        np.testing.assert_array_equal(model.params[key], value, err_msg=key)


def test_monitor_and_monitor_epochs(rng):
    X, Y, X_val, Y_val = overfitting_problem(rng)
    model = mtl.SharedMLP([5, 32, 2], seed=0, dtype="float64")
    calls = []

    def monitor(m):
        calls.append(m.cost(X_val, Y_val))
        return calls[-1]

    h = mtl.fit(model, X, Y, optimizer=mtl.Adam(1e-2), epochs=12, batch_size=8, seed=1, progress=False,
                restore_best=True, monitor=monitor, monitor_epochs={1, 3, 9})
    assert sorted(h.scores) == [1, 3, 9, 12] and list(h.scores.values()) == calls   # the last epoch always
    assert h.best_epoch == min(h.scores, key=h.scores.get) and h.val_cost == []
    assert model.cost(X_val, Y_val) == pytest.approx(min(calls), rel=1e-12)
    d = h.to_dict()
    assert d["best_epoch"] == h.best_epoch and d["stopped_early"] is False


def test_without_monitoring_nothing_is_restored(rng):
    X, Y, X_val, Y_val = overfitting_problem(rng)
    h = mtl.fit(mtl.SharedMLP([5, 4, 2], seed=0), X, Y, epochs=2, progress=False, validation=(X_val, Y_val))
    assert h.best_epoch is None and h.scores == {} and not h.stopped_early


@pytest.mark.parametrize("kwargs, message", [
    (dict(restore_best=True), "restore_best and early_stopping need a score"),
    (dict(early_stopping=2), "restore_best and early_stopping need a score"),
    (dict(early_stopping=0, monitor=lambda m: 0.0), "early_stopping must be an int >= 1; got 0"),
    (dict(restore_best=True, monitor="cost"), "monitor must be a callable"),
    (dict(restore_best=True, monitor=lambda m: 0.0, monitor_epochs=[0]), "monitor_epochs entries must be"),
])
def test_early_stopping_arguments_are_checked(kwargs, message, rng):
    X, Y, _, _ = overfitting_problem(rng)
    model = mtl.SharedMLP([5, 4, 2], seed=0)
    before = model.get_params()
    with pytest.raises(ValueError, match=message):
        mtl.fit(model, X, Y, epochs=2, progress=False, **kwargs)
    for key, value in before.items():
        np.testing.assert_array_equal(model.params[key], value)   # refused before any training


def test_trainable_subset_is_an_optimizer_of_optim(rng):
    from mtl_numpy import experiments
    from mtl_numpy.optim import TrainableSubset

    assert experiments.TrainableSubset is TrainableSubset
    X, Y, _ = toy_problem(rng, m=40)
    model = mtl.SharedMLP([5, 6, 4], seed=0)
    before = model.get_params()
    mtl.fit(model, X, Y, optimizer=TrainableSubset(mtl.Adam(1e-2), ["W2", "b2"]), epochs=2, progress=False)
    np.testing.assert_array_equal(model.params["W1"], before["W1"])
    np.testing.assert_array_equal(model.params["b1"], before["b1"])
    assert not np.array_equal(model.params["W2"], before["W2"])
    with pytest.raises(ValueError, match=r"trainable names \['W9'\] are not parameters"):
        TrainableSubset(mtl.Adam(), ["W9"]).update(model.params, model.cost_and_grads(X, Y)[1])
    with pytest.raises(ValueError, match="optimizer must be an mtl_numpy Optimizer"):
        TrainableSubset("adam", ["W1"])
