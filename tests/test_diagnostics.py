"""Gradient-conflict diagnostics: cosines and norm ratios with known geometric answers."""
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mtl_numpy.diagnostics import (
    GradientConflict, conflict_from_task_grads, cosine_from_gram, gram_matrices, layer_of, present_tasks,
)


def stack(*rows):
    return np.array(rows, dtype=np.float64)


@pytest.mark.parametrize("g2, expected", [
    ([0.0, 5.0], 0.0),          # orthogonal
    ([-2.0, 0.0], -1.0),        # opposite
    ([3.0, 0.0], 1.0),          # same direction, other length
    ([1.0, 1.0], 1 / np.sqrt(2)),
])
def test_cosine_of_two_known_vectors(g2, expected):
    G = {"W1": stack([1.0, 0.0], g2)}
    result = conflict_from_task_grads(G)
    np.testing.assert_allclose(result.cosine, [[1.0, expected], [expected, 1.0]], atol=1e-15)


def test_norms_and_ratios():
    G = {"W1": stack([3.0, 0.0], [0.0, 4.0])}
    result = conflict_from_task_grads(G)
    np.testing.assert_allclose(result.norms, [3.0, 4.0])
    np.testing.assert_allclose(result.norm_ratio, [3 / 3.5, 4 / 3.5])


def test_per_layer_split_and_overall():
    # W1: identical directions; W2: opposite; b1 joins layer "1" with W1.
    G = {
        "W1": np.array([[[1.0, 2.0]], [[2.0, 4.0]]]),      # (2, 1, 2)
        "b1": np.array([[[0.0]], [[0.0]]]),                # (2, 1, 1), zero: changes nothing
        "W2": np.array([[[3.0]], [[-1.0]]]),               # (2, 1, 1)
    }
    result = conflict_from_task_grads(G)
    assert result.layers == ("1", "2")
    assert result.layer_params == {"1": ("W1", "b1"), "2": ("W2",)}
    np.testing.assert_allclose(result.layer_cosine["1"][0, 1], 1.0)
    np.testing.assert_allclose(result.layer_cosine["2"][0, 1], -1.0)
    # overall: <g1, g2> = 1*2 + 2*4 + 3*(-1) = 7; ||g1||² = 1 + 4 + 9 = 14, ||g2||² = 4 + 16 + 1 = 21
    np.testing.assert_allclose(result.cosine[0, 1], 7 / np.sqrt(14 * 21))
    np.testing.assert_allclose(result.norms, [np.sqrt(14), np.sqrt(21)])
    np.testing.assert_allclose(result.layer_norms["2"], [3.0, 1.0])
    by_param = conflict_from_task_grads(G, by="parameter")
    assert by_param.layers == ("W1", "b1", "W2")
    # b1 is all zero for both tasks: cosine 0, never nan, and diagonal 0 there
    np.testing.assert_array_equal(by_param.layer_cosine["b1"], np.zeros((2, 2)))


def test_only_shared_parameters_count():
    # Output-layer rows belong to one task each: they must not enter the shared cosine.
    G = {"W1": stack([1.0, 0.0], [1.0, 0.0]), "W2": stack([5.0, 0.0], [0.0, 5.0])}
    assert conflict_from_task_grads(G, shared=["W1"]).cosine[0, 1] == pytest.approx(1.0)
    assert conflict_from_task_grads(G).cosine[0, 1] < 0.1


def test_absent_task_is_zero_flagged_and_excluded(rng):
    g = rng.normal(size=(3, 5))
    g_absent = np.vstack([g[0], np.zeros(5), g[1], g[2]])
    full = conflict_from_task_grads({"W1": g_absent}, tasks=["a", "absent", "b", "c"])
    dropped = conflict_from_task_grads({"W1": g}, tasks=["a", "b", "c"])
    assert full.present.tolist() == [True, False, True, True]
    keep = [0, 2, 3]
    np.testing.assert_allclose(full.cosine[np.ix_(keep, keep)], dropped.cosine, rtol=1e-14)
    np.testing.assert_array_equal(full.cosine[1], 0.0)
    np.testing.assert_array_equal(full.cosine[:, 1], 0.0)
    assert full.norms[1] == 0.0 and full.norm_ratio[1] == 0.0
    np.testing.assert_allclose(full.norm_ratio[keep], dropped.norm_ratio, rtol=1e-14)
    assert full.mean_cosine == pytest.approx(dropped.mean_cosine, rel=1e-14)
    assert all(np.isfinite(v).all() for v in (full.cosine, full.norms, full.norm_ratio))
    assert "(no label in batch)" in str(full)


def test_present_from_counts_overrides_nonzero_rows():
    G = {"W1": stack([1.0, 0.0], [0.0, 1.0])}
    result = conflict_from_task_grads(G, n_labelled=np.array([4, 0]))
    assert result.present.tolist() == [True, False]
    assert result.cosine[1, 1] == 0.0


def test_all_absent_gives_zeros():
    result = conflict_from_task_grads({"W1": np.zeros((3, 4))})
    assert not result.present.any()
    assert result.mean_cosine == 0.0
    np.testing.assert_array_equal(result.cosine, 0.0)
    np.testing.assert_array_equal(result.norm_ratio, 0.0)


def test_conflicting_pairs_and_to_dict_is_json():
    G = {"W1": stack([1.0, 0.0], [-1.0, 0.1], [1.0, 1.0])}
    result = conflict_from_task_grads(G, tasks=["car", "stop", "light"])
    pairs = result.conflicting_pairs()
    assert [(a, b) for a, b, _ in pairs] == [("car", "stop"), ("stop", "light")]
    d = json.loads(json.dumps(result.to_dict()))
    assert d["tasks"] == ["car", "stop", "light"]
    np.testing.assert_allclose(d["cosine"], result.cosine)
    text = str(result)
    assert "car" in text and "mean pairwise cosine" in text


def test_gram_matrices_match_flattened_products(rng):
    G = {"W1": rng.normal(size=(3, 4, 2)), "b1": rng.normal(size=(3, 4, 1))}
    K = gram_matrices(G)
    flat = np.concatenate([G["W1"].reshape(3, -1), G["b1"].reshape(3, -1)], axis=1)
    np.testing.assert_allclose(K["W1"] + K["b1"], flat @ flat.T, rtol=1e-13)


def test_layer_of():
    assert layer_of("W1") == "1" and layer_of("b12") == "12" and layer_of("17") == "17"


@pytest.mark.parametrize("kwargs, match", [
    ({"shared": ["W9"]}, "shared names parameters that are not in G"),
    ({"present": np.array([1, 0])}, "present must be a boolean array"),
    ({"n_labelled": np.array([1, -1])}, "n_labelled must be non-negative"),
    ({"tasks": ["a"]}, "tasks must name the n_tasks = 2"),
    ({"by": "neuron"}, "by must be"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conflict_from_task_grads({"W1": np.ones((2, 3))}, **kwargs)


def test_mismatched_task_axis():
    with pytest.raises(ValueError, match=r"G\['b1'\] must have shape \(n_tasks, ...\) = \(2, ...\)"):
        conflict_from_task_grads({"W1": np.ones((2, 3)), "b1": np.ones((3, 1))})


@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)),
              elements=st.floats(-1e3, 1e3, allow_nan=False)))
def test_cosine_is_finite_symmetric_and_bounded(g):
    result = conflict_from_task_grads({"W1": g})
    cos = result.cosine
    assert np.isfinite(cos).all()
    np.testing.assert_array_equal(cos, cos.T)
    assert (np.abs(cos) <= 1.0).all()
    # The diagonal is 1 for a gradient whose squared norm is > 0 (one that underflows counts as 0).
    np.testing.assert_array_equal(np.diag(cos), (np.sum(g * g, axis=1) > 0).astype(float))
    np.testing.assert_array_equal(result.present, (g != 0).any(axis=1))


def test_cosine_from_gram_never_divides_by_zero():
    K = np.array([[0.0, 0.0], [0.0, 2.0]])
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(cosine_from_gram(K), [[0.0, 0.0], [0.0, 1.0]])


def test_present_tasks_from_rows():
    G = {"W1": np.array([[0.0, 0.0], [0.0, 1e-30]]), "b1": np.array([[0.0], [0.0]])}
    assert present_tasks(G).tolist() == [False, True]
    assert isinstance(conflict_from_task_grads(G), GradientConflict)
