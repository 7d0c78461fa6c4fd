"""Every dense layer function against a numerical gradient (CS231n style), float64."""
import numpy as np
import pytest

from mtl_numpy import layers
from mtl_numpy.gradcheck import eval_numerical_gradient_array, gradient_difference, relative_error

SHAPES = [(1, 1, 1), (3, 5, 1), (4, 7, 6), (8, 2, 13)]


@pytest.mark.parametrize("n, n_prev, m", SHAPES)
def test_linear_backward(n, n_prev, m, rng):
    A = rng.normal(size=(n_prev, m))
    W = rng.normal(size=(n, n_prev))
    b = rng.normal(size=(n, 1))
    dZ = rng.normal(size=(n, m))
    _, cache = layers.linear_forward(A, W, b)
    dA, dW, db = layers.linear_backward(dZ, cache)
    assert dA.shape == A.shape and dW.shape == W.shape and db.shape == b.shape
    assert relative_error(dA, eval_numerical_gradient_array(lambda a: layers.linear_forward(a, W, b)[0], A, dZ)) < 1e-8
    assert relative_error(dW, eval_numerical_gradient_array(lambda w: layers.linear_forward(A, w, b)[0], W, dZ)) < 1e-8
    assert relative_error(db, eval_numerical_gradient_array(lambda bb: layers.linear_forward(A, W, bb)[0], b, dZ)) < 1e-8
    _, dW2, db2 = layers.linear_backward(dZ, cache, need_dA_prev=False)
    np.testing.assert_array_equal(dW, dW2)
    np.testing.assert_array_equal(db, db2)


def test_linear_forward_is_the_course_formula(rng):
    A, W, b = rng.normal(size=(3, 4)), rng.normal(size=(2, 3)), rng.normal(size=(2, 1))
    Z, cache = layers.linear_forward(A, W, b)
    np.testing.assert_allclose(Z, np.dot(W, A) + b)
    assert cache[0] is A and cache[1] is W and cache[2] is b


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_activation_backward(activation, rng):
    Z = rng.normal(size=(5, 6))
    Z[np.abs(Z) < 1e-3] = 0.5  # keep finite differences away from ReLU's kink
    dA = rng.normal(size=Z.shape)
    forward = getattr(layers, f"{activation}_forward")
    backward = getattr(layers, f"{activation}_backward")
    _, cache = forward(Z)
    num = eval_numerical_gradient_array(lambda z: forward(z)[0], Z, dA)
    assert relative_error(backward(dA, cache), num) < 1e-8


def test_relu_derivative_at_zero_is_zero():
    dZ = layers.relu_backward(np.ones((1, 3)), np.array([[-1.0, 0.0, 1.0]]))
    np.testing.assert_array_equal(dZ, [[0.0, 0.0, 1.0]])


def test_sigmoid_is_stable_and_exact():
    Z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = layers.sigmoid(Z)
    np.testing.assert_allclose(s, [0.0, 1 / (1 + np.exp(30.0)), 0.5, 1 / (1 + np.exp(-30.0)), 1.0], rtol=1e-15)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_linear_activation_backward(activation, rng):
    A, W, b = rng.normal(size=(4, 5)), rng.normal(size=(3, 4)), rng.normal(size=(3, 1))
    dOut = rng.normal(size=(3, 5))
    out, cache = layers.linear_activation_forward(A, W, b, activation)
    (lin_cache, act_cache) = cache
    assert lin_cache[0] is A and act_cache.shape == (3, 5)
    dA, dW, db = layers.linear_activation_backward(dOut, cache, activation)
    f = lambda w: layers.linear_activation_forward(A, w, b, activation)[0]  # noqa: E731
    assert relative_error(dW, eval_numerical_gradient_array(f, W, dOut)) < 1e-7
    f = lambda a: layers.linear_activation_forward(a, W, b, activation)[0]  # noqa: E731
    assert relative_error(dA, eval_numerical_gradient_array(f, A, dOut)) < 1e-7
    with pytest.raises(ValueError, match="activation must be one of"):
        layers.linear_activation_forward(A, W, b, "tanh")


def test_linear_relu_matches_composition(rng):
    A, W, b = rng.normal(size=(4, 5)), rng.normal(size=(3, 4)), rng.normal(size=(3, 1))
    out, cache = layers.linear_relu_forward(A, W, b)
    ref, ref_cache = layers.linear_activation_forward(A, W, b, "relu")
    np.testing.assert_array_equal(out, ref)
    dOut = rng.normal(size=out.shape)
    for got, want in zip(layers.linear_relu_backward(dOut, cache), layers.linear_activation_backward(dOut, ref_cache, "relu")):
        np.testing.assert_array_equal(got, want)


def test_flatten_order_and_backward(rng):
    A = rng.normal(size=(3, 2, 4, 5))
    F, cache = layers.flatten_forward(A)
    assert F.shape == (2 * 4 * 5, 3)
    for i in range(3):
        np.testing.assert_array_equal(F[:, i], A[i].ravel())
    dF = rng.normal(size=F.shape)
    num = eval_numerical_gradient_array(lambda a: layers.flatten_forward(a)[0], A, dF)
    assert relative_error(layers.flatten_backward(dF, cache), num) < 1e-9


def test_gradient_difference_formula():
    assert gradient_difference([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert gradient_difference([0.0], [0.0]) == 0.0
    assert gradient_difference([1.0, 0.0], [0.0, 1.0]) == pytest.approx(np.sqrt(2) / 2)
