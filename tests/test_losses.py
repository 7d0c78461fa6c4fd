"""The masked cost: against the lecture's double sum, both normalizations, '?' and extremes."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mtl_numpy as mtl
from conftest import random_labels


def lecture_double_sum(AL, Y, normalize):
    """J = (1/N) sum_i sum_{j labelled} -y log a - (1-y) log(1-a), as loops."""
    n_tasks, m = Y.shape
    total, known = 0.0, 0
    for i in range(m):
        for j in range(n_tasks):
            y = Y[j, i]
            if math.isnan(y):
                continue
            a = AL[j, i]
            total += -y * math.log(a) - (1 - y) * math.log(1 - a)
            known += 1
    if known == 0:
        return 0.0
    return total / (m if normalize == "examples" else known)


def sigmoid64(Z):
    return 1 / (1 + np.exp(-Z))


@given(n_tasks=st.integers(1, 6), m=st.integers(1, 40), missing=st.sampled_from([0.0, 0.3, 0.9]),
       seed=st.integers(0, 10_000), normalize=st.sampled_from(["examples", "labels"]))
def test_both_costs_equal_the_lectures_loops(n_tasks, m, missing, seed, normalize):
    rng = np.random.default_rng(seed)
    Z = rng.normal(scale=3, size=(n_tasks, m))
    Y = random_labels(rng, n_tasks, m, missing)
    AL = sigmoid64(Z)
    expected = lecture_double_sum(AL, Y, normalize)
    assert mtl.masked_logistic_cost(AL, Y, normalize=normalize) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    J, dZ = mtl.masked_logistic_cost_and_grad(Z, Y, normalize=normalize)
    assert isinstance(J, float)
    assert J == pytest.approx(expected, rel=1e-12, abs=1e-15)
    N = m if normalize == "examples" else max(int((~np.isnan(Y)).sum()), 1)
    expected_dZ = np.where(np.isnan(Y), 0.0, (AL - np.nan_to_num(Y)) / N)
    np.testing.assert_allclose(dZ, expected_dZ, rtol=1e-12, atol=1e-15)


def test_unknown_entries_get_exactly_zero_gradient(rng):
    Z = rng.normal(size=(4, 50))
    Y = random_labels(rng, 4, 50, 0.5)
    _, dZ = mtl.masked_logistic_cost_and_grad(Z, Y)
    assert np.all(dZ[np.isnan(Y)] == 0.0)
    assert np.all(dZ[~np.isnan(Y)] != 0.0)
    assert np.isfinite(dZ).all()


def test_changing_a_masked_logit_changes_nothing(rng):
    Z = rng.normal(size=(4, 10))
    Y = random_labels(rng, 4, 10, 0.5)
    J1, _ = mtl.masked_logistic_cost_and_grad(Z, Y)
    Z2 = Z.copy()
    Z2[np.isnan(Y)] += 100.0
    J2, _ = mtl.masked_logistic_cost_and_grad(Z2, Y)
    assert J1 == J2


def test_examples_normalization_counts_all_question_mark_columns():
    Z = np.array([[0.0, 5.0]])
    Y = np.array([[1.0, np.nan]])
    J_ex, dZ_ex = mtl.masked_logistic_cost_and_grad(Z, Y, normalize="examples")
    J_lab, dZ_lab = mtl.masked_logistic_cost_and_grad(Z, Y, normalize="labels")
    assert J_ex == pytest.approx(math.log(2) / 2)
    assert J_lab == pytest.approx(math.log(2))
    np.testing.assert_allclose(dZ_ex, [[-0.25, 0.0]])
    np.testing.assert_allclose(dZ_lab, [[-0.5, 0.0]])


@pytest.mark.parametrize("normalize", ["examples", "labels"])
def test_no_known_label_means_zero_cost_and_zero_gradient(normalize):
    Z = np.array([[1.0, -2.0], [3.0, 0.5]])
    Y = np.full((2, 2), np.nan)
    J, dZ = mtl.masked_logistic_cost_and_grad(Z, Y, normalize=normalize)
    assert J == 0.0 and isinstance(J, float)
    assert np.all(dZ == 0)
    assert mtl.masked_logistic_cost(sigmoid64(Z), Y, normalize=normalize) == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_stay_finite_and_correct(dtype):
    Z = np.array([[1e4, -1e4, 1e4, -1e4, 50.0, -50.0]], dtype=dtype)
    Y = np.array([[1.0, 0.0, 0.0, 1.0, 1.0, np.nan]])
    J, dZ = mtl.masked_logistic_cost_and_grad(Z, Y)
    assert math.isfinite(J) and np.isfinite(dZ).all()
    assert dZ.dtype == dtype
    # right answers cost ~0, wrong ones cost |z|: (0 + 0 + 1e4 + 1e4 + ~0) / 6
    assert J == pytest.approx(2e4 / 6, rel=1e-6)
    np.testing.assert_allclose(dZ, [[0, 0, 1 / 6, -1 / 6, 0, 0]], atol=1e-8)


def test_probability_cost_clips_saturated_probabilities():
    AL = np.array([[1.0, 0.0]])
    Y = np.array([[0.0, 1.0]])
    J = mtl.masked_logistic_cost(AL, Y)
    assert math.isfinite(J) and J > 30
    J32 = mtl.masked_logistic_cost(AL.astype(np.float32), Y)
    assert math.isfinite(J32) and J32 > 10


def test_costs_do_not_modify_inputs(rng):
    Z = rng.normal(size=(3, 5))
    Y = random_labels(rng, 3, 5, 0.4)
    Z0, Y0 = Z.copy(), Y.copy()
    mtl.masked_logistic_cost_and_grad(Z, Y)
    mtl.masked_logistic_cost(sigmoid64(Z), Y)
    np.testing.assert_array_equal(Z, Z0)
    np.testing.assert_array_equal(Y, Y0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(normalize="mean"), "normalize must be one of"),
    (dict(backend="tensorflow"), "backend must be one of"),
])
def test_bad_keywords(kwargs, match, rng):
    with pytest.raises(ValueError, match=match):
        mtl.masked_logistic_cost_and_grad(rng.normal(size=(2, 3)), np.zeros((2, 3)), **kwargs)


def test_shape_mismatch_and_bad_values(rng):
    with pytest.raises(ValueError, match=r"shape \(n_tasks, m\) = \(2, 3\); got \(3, 2\)"):
        mtl.masked_logistic_cost_and_grad(rng.normal(size=(2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="ZL contains nan or inf"):
        mtl.masked_logistic_cost_and_grad(np.array([[np.nan]]), np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        mtl.masked_logistic_cost(np.array([[1.5]]), np.zeros((1, 1)))


# ----------------------------------------------------------------------------------------------
# The cost alone, from logits (no gradient): what model.cost and gradient_check use
# ----------------------------------------------------------------------------------------------
from mtl_numpy.losses import masked_logistic_cost_from_logits  # noqa: E402


@given(n_tasks=st.integers(1, 6), m=st.integers(1, 40), missing=st.sampled_from([0.0, 0.3, 0.9, 1.0]),
       seed=st.integers(0, 10_000), normalize=st.sampled_from(["examples", "labels"]),
       dtype=st.sampled_from(["float32", "float64"]))
def test_cost_from_logits_is_the_fused_kernels_cost(n_tasks, m, missing, seed, normalize, dtype):
    rng = np.random.default_rng(seed)
    Z = rng.normal(scale=3, size=(n_tasks, m)).astype(dtype)
    Y = random_labels(rng, n_tasks, m, missing)
    J_fused, _ = mtl.masked_logistic_cost_and_grad(Z, Y, normalize=normalize)
    J = masked_logistic_cost_from_logits(Z, Y, normalize=normalize)
    assert isinstance(J, float)
    assert J == J_fused    # the NumPy kernel's formula and summation: the same bits
    expected = lecture_double_sum(sigmoid64(Z.astype(np.float64)), Y, normalize)
    assert J == pytest.approx(expected, rel=1e-12 if dtype == "float64" else 1e-5, abs=1e-12)


def test_cost_from_logits_is_finite_for_huge_logits_and_checks_its_inputs():
    Z = np.array([[1e4, -1e4, 50.0]])
    Y = np.array([[0.0, 1.0, np.nan]])
    assert masked_logistic_cost_from_logits(Z, Y, "labels") == pytest.approx(1e4)
    with pytest.raises(ValueError, match=r"Y must have shape"):
        masked_logistic_cost_from_logits(Z, Y[:, :2])
    with pytest.raises(ValueError, match="normalize must be one of"):
        masked_logistic_cost_from_logits(Z, Y, normalize="mean")
    with pytest.raises(ValueError, match="ZL contains nan or inf"):
        masked_logistic_cost_from_logits(np.array([[np.inf, 0.0, 0.0]]), Y)
