"""Faults that used to finish normally with wrong numbers (issue: nothing lost, nothing silent).

Each test reproduces one reported fault and holds its fix: a clear ValueError, or the right
answer where there is one.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mtl_numpy as mtl


# -- 7. silent wrong inputs ----------------------------------------------------------------------

def test_masked_array_labels_are_question_marks():
    Y = np.ma.array([[1, 0, 1], [0, 1, 1]], mask=[[0, 1, 0], [0, 0, 1]])
    expected = np.array([[1, np.nan, 1], [0, 1, np.nan]])
    np.testing.assert_array_equal(mtl.encode_labels(Y), expected)
    np.testing.assert_array_equal(mtl.validate_labels(Y), expected)
    np.testing.assert_array_equal(mtl.label_mask(Y), [[1, 0, 1], [1, 1, 0]])
    # the masked label is not scored: a model's cost equals the cost with '?' written out
    model = mtl.SharedMLP([2, 3, 2], dtype="float64")
    X = np.random.default_rng(0).random((2, 3))
    assert model.cost(X, Y) == model.cost(X, expected)
    # metrics leave it out too
    AL = np.full((2, 3), 0.9)
    assert mtl.task_metrics(Y, AL)["task0"]["n_labelled"] == 2


@pytest.mark.parametrize("value", [2.0, -1.0, np.inf, -np.inf, 0.5])
def test_label_mask_validates_like_encode_labels(value):
    Y = np.array([[1.0, value]])
    with pytest.raises(ValueError, match=r"Y\[0, 1\]"):
        mtl.label_mask(Y)
    with pytest.raises(ValueError):
        mtl.encode_labels(Y)


def test_numerical_gradient_refuses_integer_arrays():
    with pytest.raises(ValueError, match="x must be a floating NumPy array"):
        mtl.eval_numerical_gradient_array(lambda a: a * a, np.arange(3), np.ones(3))
    grad = mtl.eval_numerical_gradient_array(lambda a: a * a, np.arange(3.0), np.ones(3))
    np.testing.assert_allclose(grad, [0.0, 2.0, 4.0], atol=1e-8)


# -- 6. checks that pass vacuously -----------------------------------------------------------

def test_gradient_check_refuses_all_question_marks():
    model = mtl.SharedMLP([3, 4, 2], dtype="float64")
    X = np.random.default_rng(0).random((3, 5))
    with pytest.raises(ValueError, match="no known label"):
        mtl.gradient_check(model, X, np.full((2, 5), np.nan))


@pytest.mark.parametrize("threshold", [-1, 0, np.nan, np.inf, "2e-7", True])
def test_gradient_check_validates_threshold(threshold):
    model = mtl.SharedMLP([3, 2], dtype="float64")
    with pytest.raises(ValueError, match="threshold must be a positive number"):
        mtl.gradient_check(model, np.ones((3, 2)), np.ones((2, 2)), threshold=threshold)


def test_gradient_check_accepts_numpy_scalars():
    model = mtl.SharedMLP([3, 4, 2], dtype="float64")
    X = np.random.default_rng(0).random((3, 5))
    Y = np.ones((2, 5))
    a = mtl.gradient_check(model, X, Y, epsilon=np.float32(1e-7), threshold=np.float64(2e-7))
    b = mtl.gradient_check(model, X, Y)
    assert a.passed and b.passed
    assert a.difference == pytest.approx(b.difference, rel=0.5, abs=1e-9)


# -- 1. optimizers and metrics ---------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: mtl.Adam(learning_rate=math.inf),
    lambda: mtl.Adam(learning_rate=math.nan),
    lambda: mtl.Adam(epsilon=math.inf),
    lambda: mtl.GradientDescent(math.inf),
    lambda: mtl.Momentum(learning_rate=math.nan),
])
def test_optimizer_hyperparameters_must_be_finite(make):
    with pytest.raises(ValueError, match="must be a number in"):
        make()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_task_metrics_refuse_non_finite_probabilities(bad):
    Y = np.array([[1.0, 0.0, 1.0]])
    AL = np.array([[0.9, bad, 0.2]])
    with pytest.raises(ValueError, match=r"AL\[0, 1\].*finite"):
        mtl.task_metrics(Y, AL)


# -- property: random inputs through the public functions --------------------------------------

_label_values = st.sampled_from([0.0, 1.0, np.nan, 2.0, -1.0, np.inf, 0.5])


@settings(max_examples=200, deadline=None)
@given(Y=hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int64, np.bool_]),
                    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
                    elements=None, fill=None),
       values=st.lists(_label_values, min_size=1, max_size=48))
def test_random_label_arrays_give_a_result_or_a_named_error(Y, values):
    if Y.dtype.kind == "f" and Y.size:
        Y = np.resize(np.asarray(values, dtype=Y.dtype), Y.shape)
    elif Y.dtype.kind == "i" and Y.size:
        Y = np.resize(np.asarray([v for v in values if np.isfinite(v)] or [0], dtype=np.float64),
                      Y.shape).astype(np.int64)
    as_float = Y.astype(np.float64)
    valid = (Y.ndim == 2 and Y.shape[1] > 0
             and bool(np.all(np.isnan(as_float) | (as_float == 0) | (as_float == 1))))
    calls = [("Y", mtl.validate_labels), ("Y", mtl.label_mask), ("labels", mtl.encode_labels)]
    for name, call in calls:
        if not valid:
            with pytest.raises((ValueError, TypeError), match=name):
                call(Y)
            continue
        out = call(Y)
        assert out.shape == Y.shape and out.dtype.kind == "f"
        if call is mtl.label_mask:
            np.testing.assert_array_equal(out, (~np.isnan(as_float)).astype(out.dtype))
        else:
            np.testing.assert_array_equal(out, as_float)   # nan where '?', the labels elsewhere


@settings(max_examples=60, deadline=None)
@given(AL=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 5)),
                     elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
       seed=st.integers(0, 100))
def test_random_probabilities_give_metrics_or_a_named_error(AL, seed):
    rng = np.random.default_rng(seed)
    Y = rng.integers(0, 2, AL.shape).astype(np.float64)
    if np.isfinite(AL).all():
        out = mtl.task_metrics(Y, AL)
        assert len(out) == AL.shape[0]
    else:
        with pytest.raises(ValueError, match="AL"):
            mtl.task_metrics(Y, AL)
