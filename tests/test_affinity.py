"""The task-affinity experiment: the lookahead by hand, exact restoring, groupings, the fast run."""
import itertools
import json
import math

import numpy as np
import pytest

from mtl_numpy import experiments
from mtl_numpy.experiments import affinity
from mtl_numpy.models import SharedCNN, SharedMLP

TASKS = ("pedestrian", "car", "stop_sign", "traffic_light")


# --------------------------------------------------------------------------- #
# The lookahead on a network small enough to write out by hand
# --------------------------------------------------------------------------- #
def _hand_task_costs(W1, b1, W2, b2, X, Y):
    """Each task's masked cost of the MLP 2 -> 3 ReLU -> 2 sigmoids, normalised by m."""
    A1 = np.maximum(W1 @ X + b1, 0.0)
    Z2 = W2 @ A1 + b2
    A2 = 1.0 / (1.0 + np.exp(-Z2))
    known = ~np.isnan(Y)
    Yk = np.where(known, Y, 0.0)
    loss = -(Yk * np.log(A2) + (1 - Yk) * np.log(1 - A2))
    return np.where(known, loss, 0.0).sum(axis=1) / X.shape[1]


def _hand_shared_grad(W1, b1, W2, b2, X, Y, i):
    """Task i's gradient on the shared layer (W1, b1), backpropagated by hand."""
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = np.maximum(Z1, 0.0)
    A2 = 1.0 / (1.0 + np.exp(-(W2 @ A1 + b2)))
    known = ~np.isnan(Y[i])
    dZ2 = np.where(known, A2[i] - np.nan_to_num(Y[i]), 0.0)[None, :] / m   # (1, m)
    dA1 = W2[i:i + 1].T @ dZ2                                             # (3, m)
    dZ1 = dA1 * (Z1 > 0)
    return dZ1 @ X.T, dZ1.sum(axis=1, keepdims=True)


def test_lookahead_matches_a_hand_computed_step():
    model = SharedMLP((2, 3, 2), seed=3, dtype="float64")
    assert model.shared == ["W1", "b1"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 7))
    Y = np.array([[1, 0, 1, np.nan, 0, 1, 0], [0, np.nan, 1, 1, 0, np.nan, 1]], dtype=float)
    p = {k: np.array(v, dtype=np.float64) for k, v in model.params.items()}
    eta = 0.05
    before = _hand_task_costs(p["W1"], p["b1"], p["W2"], p["b2"], X, Y)
    expected = np.empty((2, 2))
    for i in range(2):
        dW1, db1 = _hand_shared_grad(p["W1"], p["b1"], p["W2"], p["b2"], X, Y, i)
        after = _hand_task_costs(p["W1"] - eta * dW1, p["b1"] - eta * db1, p["W2"], p["b2"], X, Y)
        expected[i] = 1.0 - after / before
    Z = affinity.lookahead_affinity(model, X, Y, learning_rate=eta)
    np.testing.assert_allclose(Z, expected, rtol=1e-10, atol=1e-14)
    # a step on a task's own gradient lowers its loss (a small step, so first order rules)
    assert Z[0, 0] > 0 and Z[1, 1] > 0


def test_lookahead_is_first_order_inner_product_for_small_steps():
    # Z[i, j] ~ eta <g_i, g_j> / J_j on the shared parameters, with per-task heads
    model = SharedCNN((8, 8, 3), conv_channels=(2, 3), hidden=(5,), n_tasks=3, seed=1,
                      dtype="float64", head_dims=(4,))
    rng = np.random.default_rng(1)
    X = rng.random((12, 8, 8, 3))
    Y = (rng.random((3, 12)) < 0.5).astype(float)
    Y[rng.random((3, 12)) < 0.3] = np.nan
    J, G = model.task_costs_and_grads(X, Y)
    g = np.stack([np.concatenate([G[k][t].ravel() for k in model.shared]) for t in range(3)])
    eta = 1e-6
    first_order = eta * (g @ g.T) / J[None, :]
    Z = affinity.lookahead_affinity(model, X, Y, learning_rate=eta)
    np.testing.assert_allclose(Z, first_order, rtol=1e-4, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parameters_restored_bit_for_bit(dtype):
    model = SharedCNN((8, 8, 3), conv_channels=(2, 3), hidden=(5,), n_tasks=4, seed=2,
                      dtype=dtype, head_dims=(3,))
    rng = np.random.default_rng(2)
    X = rng.random((10, 8, 8, 3))
    Y = (rng.random((4, 10)) < 0.5).astype(float)
    arrays = dict(model.params)
    before = {k: v.copy() for k, v in model.params.items()}
    affinity.lookahead_affinity(model, X, Y, learning_rate=0.5)   # a big step: rounding would show
    for k, v in model.params.items():
        assert v is arrays[k], k            # the same live arrays (an optimizer's state stays valid)
        assert v.dtype == before[k].dtype
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_task_without_labels_gives_nan_not_a_number():
    model = SharedMLP((2, 3, 3), seed=0, dtype="float64")
    X = np.random.default_rng(0).normal(size=(2, 5))
    Y = np.array([[1, 0, 1, 0, 1], [np.nan] * 5, [0, 1, 1, 0, 0]], dtype=float)
    Z = affinity.lookahead_affinity(model, X, Y, learning_rate=0.01)
    assert np.isnan(Z[1]).all() and np.isnan(Z[:, 1]).all()
    assert np.isfinite(np.delete(np.delete(Z, 1, 0), 1, 1)).all()


@pytest.mark.parametrize("bad", [0, -1e-3, float("nan"), "0.1", None])
def test_bad_learning_rate(bad):
    model = SharedMLP((2, 3, 2), seed=0)
    with pytest.raises(ValueError, match="learning_rate"):
        affinity.lookahead_affinity(model, np.zeros((2, 3)), np.zeros((2, 3)), learning_rate=bad)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_every(bad):
    model = SharedMLP((2, 3, 2), seed=0)
    with pytest.raises(ValueError, match="every"):
        affinity.train_with_affinity(model, np.zeros((2, 3)), np.zeros((2, 3)), epochs=1, every=bad)


def test_train_with_affinity_averages_and_leaves_training_unchanged():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3, 40))
    Y = (rng.random((2, 40)) < 0.5).astype(float)
    a = SharedMLP((3, 4, 2), seed=5, dtype="float64")
    b = SharedMLP((3, 4, 2), seed=5, dtype="float64")
    assert affinity.train_with_affinity(a, X, Y, epochs=2, batch_size=8) is None
    Z = affinity.train_with_affinity(b, X, Y, epochs=2, batch_size=8, every=3)
    assert Z.shape == (2, 2) and np.isfinite(Z).all()
    # the lookaheads are undone exactly: the same parameters as training without them
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)


# --------------------------------------------------------------------------- #
# Groupings
# --------------------------------------------------------------------------- #
def test_partitions_of_four_tasks():
    parts = affinity.partitions(range(4))
    assert len(parts) == 15
    assert [sum(len(p) == k for p in parts) for k in (1, 2, 3, 4)] == [1, 7, 6, 1]
    for p in parts:
        assert sorted(itertools.chain(*p)) == [0, 1, 2, 3]
    assert len({affinity.grouping_label(p) for p in parts}) == 15
    assert affinity.grouping_label(((2, 3), (1, 0))) == "PC/SL"


def test_affinity_score_and_choice():
    Z = np.array([[0.0, 0.4, -0.1, -0.1],
                  [0.2, 0.0, -0.1, -0.2],
                  [-0.1, -0.1, 0.0, 0.3],
                  [-0.3, -0.1, 0.1, 0.0]])
    # {0,1}: onto 1 from 0 = 0.4, onto 0 from 1 = 0.2; {2,3}: 0.3 + 0.1
    assert affinity.affinity_score(Z, ((0, 1), (2, 3))) == pytest.approx(1.0)
    assert affinity.affinity_score(Z, ((0,), (1,), (2,), (3,))) == 0.0
    # onto 0: mean(0.2, -0.1, -0.3) ...
    full = sum(np.mean([Z[i, j] for i in range(4) if i != j]) for j in range(4))
    assert affinity.affinity_score(Z, ((0, 1, 2, 3),)) == pytest.approx(full)
    assert affinity.grouping_label(affinity.choose_by_affinity(Z, 1)) == "PCSL"
    assert affinity.grouping_label(affinity.choose_by_affinity(Z, 2)) == "PC/SL"
    assert affinity.grouping_label(affinity.choose_by_affinity(Z, 4)) == "PC/SL"


def test_exhaustive_choice_minimises_the_summed_validation_loss():
    rng = np.random.default_rng(0)
    subsets = [s for r in range(1, 5) for s in itertools.combinations(range(4), r)]
    val = {(s, t): float(rng.random()) for s in subsets for t in s}
    for b in range(1, 5):
        best = affinity.choose_exhaustive(val, 4, b)
        assert len(best) <= b
        values = [affinity.grouping_value(val, p) for p in affinity.partitions(range(4)) if len(p) <= b]
        assert affinity.grouping_value(val, best) == min(values)


# --------------------------------------------------------------------------- #
# The fast setting
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def fast_result():
    return experiments.run("affinity", fast=True, progress=False)


def test_fast_result_structure(fast_result):
    r = fast_result
    assert r.name == "affinity" and r.param_name == "rho" and r.params == [0.0, 1.0]
    n_seeds = len(r.settings["seeds"])
    assert n_seeds == 2 and r.settings["fast"] is True
    subsets = {"subset_" + "".join("PCSL"[t] for t in s)
               for k in range(1, 5) for s in itertools.combinations(range(4), k)}
    budgets = {f"{c}_b{b}" for c in ("exhaustive", "cheap", "candidates", "cheap_minus_exhaustive",
                                      "cheap_minus_candidates")
               for b in range(1, 5)}
    assert set(r.conditions) == {f"affinity_{t}" for t in TASKS} | subsets | budgets
    for row in r.rows:
        assert row.n == n_seeds, row
        assert math.isfinite(row.mean) and math.isfinite(row.std) and row.std >= 0, row
        if row.metric in ("accuracy", "average_precision", "agree") and \
                not row.condition.startswith("cheap_minus"):
            assert 0.0 <= row.mean <= 1.0, row
        if row.metric in ("val_loss", "test_loss") and not row.condition.startswith("cheap_minus"):
            assert row.mean > 0, row
    # every task appears in exactly the 8 subsets that contain it
    for t in TASKS:
        assert len([c for c in r.conditions if c.startswith("subset_")
                    and r.select(c, t, "val_loss")]) == 8


def test_fast_result_choices_are_consistent(fast_result):
    r = fast_result
    for rho in r.params:
        key = f"{rho:g}"
        Zs = [np.array(z) for z in r.notes["Z_per_seed"][key]]
        assert len(Zs) == 2 and all(z.shape == (4, 4) and np.isfinite(z).all() for z in Zs)
        np.testing.assert_allclose(np.mean(Zs, axis=0), affinity.affinity_matrix(r, rho), rtol=1e-12)
        for b in range(1, 5):
            picks = r.notes["groupings"][key][str(b)]
            assert picks["cheap"] == [affinity.grouping_label(affinity.choose_by_affinity(z, b))
                                      for z in Zs]
            agree = np.mean([c == e for c, e in zip(picks["cheap"], picks["exhaustive"])])
            assert r.get(f"cheap_minus_exhaustive_b{b}", "all", "agree", rho).mean == agree
            # the exhaustive choice is the best on validation, so no other choice beats it there
            best = r.get(f"exhaustive_b{b}", "all", "val_loss", rho).mean
            assert best <= r.get(f"cheap_b{b}", "all", "val_loss", rho).mean + 1e-12
            assert best <= r.get(f"candidates_b{b}", "all", "val_loss", rho).mean + 1e-12
            if b > 1:   # a bigger budget can only keep or lower the best validation loss
                assert best <= r.get(f"exhaustive_b{b - 1}", "all", "val_loss", rho).mean + 1e-12
            for cond in ("cheap_minus_exhaustive", "cheap_minus_candidates"):
                per_seed = r.notes["per_seed"][key][str(b)][cond]
                assert len(per_seed) == 2
                assert np.mean(per_seed) == pytest.approx(r.get(f"{cond}_b{b}", "all", "test_loss", rho).mean)
        # one network: a single candidate, so both methods agree
        assert r.notes["groupings"][key]["1"]["cheap"] == ["PCSL", "PCSL"]
        assert r.notes["groupings"][key]["1"]["exhaustive"] == ["PCSL", "PCSL"]


def test_fast_result_tables_json_and_plot(fast_result, tmp_path):
    md = affinity.summary_markdown(fast_result)
    assert md.count("\n") == 1 + 2 * 4 and "±" in md and "PCSL" in md
    assert "pedestrian" in affinity.matrix_markdown(fast_result)
    back = experiments.ExperimentResult.from_json(fast_result.to_json())
    assert back.rows == fast_result.rows
    assert affinity.summary_markdown(back) == md
    json.loads(fast_result.to_json())
    pytest.importorskip("matplotlib")
    path = tmp_path / "affinity.png"
    experiments.plot(fast_result, str(path))
    assert path.exists() and path.stat().st_size > 1000


def test_registered():
    assert experiments.EXPERIMENTS["affinity"] is affinity
    assert "affinity" in experiments.COST
