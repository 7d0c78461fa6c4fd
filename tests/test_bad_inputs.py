"""Bad input fails early with a ValueError a learner can act on (argument, got, expected)."""
import numpy as np
import pytest

import mtl_numpy as mtl

rng = np.random.default_rng(0)
MLP = mtl.SharedMLP([6, 4, 3], seed=0)
CNN = mtl.SharedCNN(input_shape=(8, 8, 3), conv_channels=(2,), hidden=(4,), n_tasks=3, seed=0)
X = rng.normal(size=(6, 5))
Y = np.array([[1, 0, np.nan, 1, 0], [0, 0, 1, np.nan, 1], [1, 1, 0, 0, np.nan]])
X_img = rng.random((5, 8, 8, 3))


def with_value(arr, index, value):
    out = np.array(arr, dtype=np.float64, copy=True)
    out[index] = value
    return out


CASES = {
    "Y transposed": (lambda: MLP.cost(X, Y.T), r"Y must have shape \(n_tasks, m\) = \(3, 5\); got \(5, 3\).*transposed"),
    "Y 1-D": (lambda: MLP.cost(X, Y[0]), r"Y must be 2-D"),
    "label 2": (lambda: MLP.cost(X, with_value(Y, (1, 2), 2)), r"Y\[1, 2\] = 2.0; labels must be 0, 1 or nan"),
    "label -1": (lambda: MLP.cost(X, with_value(Y, (0, 0), -1)), r"Y\[0, 0\] = -1.0"),
    "label inf": (lambda: MLP.cost(X, with_value(Y, (2, 1), np.inf)), r"Y\[2, 1\] = inf"),
    "nan in X": (lambda: MLP.cost(with_value(X, (0, 0), np.nan), Y), r"X contains nan or inf"),
    "inf in X": (lambda: MLP.forward(with_value(X, (3, 1), np.inf)), r"X contains nan or inf"),
    "m mismatch": (lambda: MLP.cost(X[:, :4], Y), r"Y must have shape \(n_tasks, m\) = \(3, 4\); got \(3, 5\)"),
    "X transposed": (lambda: MLP.forward(X.T), r"X must have shape \(n_x, m\) = \(6, m\); got \(5, 6\).*transposed"),
    "images into the MLP": (lambda: MLP.forward(X_img), r"images\? flatten them"),
    "wrong image size": (lambda: CNN.forward(X_img[:, :7]), r"X must have shape \(m, n_H, n_W, n_C\) = \(m, 8, 8, 3\); got \(5, 7, 8, 3\)"),
    "empty batch": (lambda: MLP.forward(np.zeros((6, 0))), r"no examples \(m = 0\)"),
    "empty labels": (lambda: mtl.masked_logistic_cost_and_grad(np.zeros((3, 0)), np.zeros((3, 0))), r"no columns \(m = 0\)"),
    "unknown backend": (lambda: mtl.SharedMLP([2, 1], backend="jax"), r"backend must be one of \['numpy', 'numba', 'cupy'\]; got 'jax'"),
    "unknown normalize": (lambda: mtl.SharedMLP([2, 1], normalize="mean"), r"normalize must be one of \['examples', 'labels'\]; got 'mean'"),
    "bad dtype": (lambda: mtl.SharedMLP([2, 1], dtype="float16"), r"dtype must be one of \['float32', 'float64'\]; got 'float16'"),
    "bad layer_dims": (lambda: mtl.SharedMLP([4]), r"layer_dims must be a list \[n_x, \.\.\., n_tasks\]"),
    "zero width": (lambda: mtl.SharedMLP([4, 0, 2]), r"layer_dims\[1\] must be an int >= 1; got 0"),
    "even kernel": (lambda: mtl.SharedCNN(kernel_size=4), r"kernel_size must be odd"),
    "too many pools": (lambda: mtl.SharedCNN(input_shape=(4, 4, 1), conv_channels=(2, 2, 2)), r"too small"),
    "batch size 0": (lambda: mtl.fit(MLP.copy(), X, Y, batch_size=0, progress=False), r"batch_size must be an int >= 1; got 0"),
    "batch size negative": (lambda: mtl.fit(MLP.copy(), X, Y, batch_size=-4, progress=False), r"batch_size must be an int >= 1; got -4"),
    "epochs 0": (lambda: mtl.fit(MLP.copy(), X, Y, epochs=0, progress=False), r"epochs must be an int >= 1; got 0"),
    "learning rate 0": (lambda: mtl.Adam(learning_rate=0), r"learning_rate must be a number in \(0.0, inf\); got 0"),
    "learning rate negative": (lambda: mtl.GradientDescent(learning_rate=-0.1), r"learning_rate must be a number"),
    "beta 1": (lambda: mtl.Momentum(beta=1.0), r"beta must be a number in \[0.0, 1.0\); got 1.0"),
    "not an optimizer": (lambda: mtl.fit(MLP.copy(), X, Y, optimizer="adam", progress=False), r"optimizer must be an mtl_numpy Optimizer"),
    "bad validation": (lambda: mtl.fit(MLP.copy(), X, Y, validation=(X,), progress=False), r"validation must be a tuple \(X_val, Y_val\)"),
    "validation shape": (lambda: mtl.fit(MLP.copy(), X, Y, validation=(X, Y[:2]), progress=False), r"validation: Y must have shape"),
    "threshold": (lambda: MLP.predict(X, threshold=1.5), r"threshold must be a number in \[0, 1\]; got 1.5"),
    "encode a 2": (lambda: mtl.encode_labels([[0, 1, 2]]), r"labels\[0\]\[2\] is 2; expected 0, 1, '\?', None or nan"),
    "gradcheck epsilon": (lambda: mtl.gradient_check(MLP, X, Y, epsilon=0), r"epsilon must be a positive number"),
    "metrics shape": (lambda: mtl.task_metrics(Y, np.zeros((3, 4))), r"Y must have shape \(n_tasks, m\) = \(3, 4\)"),
    "X of strings": (lambda: MLP.forward(np.array([["a"] * 5] * 6)), r"X must hold real numbers"),
    "prepare labels": (lambda: MLP.prepare(X, with_value(Y, (0, 1), 0.5)), r"Y\[0, 1\] = 0.5"),
    "prepare images into the MLP": (lambda: MLP.prepare(X_img), r"images\? flatten them"),
    "restore_best without a score": (lambda: mtl.fit(MLP.copy(), X, Y, restore_best=True, progress=False),
                                     r"restore_best and early_stopping need a score: pass validation="),
    "patience 0": (lambda: mtl.fit(MLP.copy(), X, Y, early_stopping=0, validation=(X, Y), progress=False),
                   r"early_stopping must be an int >= 1; got 0"),
    "set_params shape": (lambda: MLP.copy().set_params({**MLP.get_params(), "W1": np.zeros((4, 5))}),
                         r"params: W1 has shape \(4, 5\); the architecture expects \(4, 6\)"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_raises_clear_value_error(name):
    call, message = CASES[name]
    with pytest.raises(ValueError, match=message):
        call()


def test_there_are_at_least_fifteen_distinct_bad_inputs():
    assert len(CASES) >= 15


def test_missing_optional_backend_names_the_extra(monkeypatch):
    import builtins

    from mtl_numpy import backends

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    monkeypatch.delitem(backends._cache, "cupy", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'mtl-numpy\[cuda\]'"):
        backends.get_backend("cupy")
    assert "cupy" not in backends.available_backends()
