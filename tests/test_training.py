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
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        mtl.fit(model, X, Y, optimizer=mtl.GradientDescent(1e6), epochs=20, batch_size=20, progress=False)


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
