"""Loss weighting and gradient combination: each paper's formula on a worked case, invariances,
'?' (a task with no label in the batch) handled as if the task were dropped, property tests, and
short training runs through today's model."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mtl_numpy as mtl
from conftest import random_labels
from mtl_numpy import weighting as wt


def combine(method, rows, J=None, **kwargs):
    """Run ``method`` on task gradients given as rows of one shared parameter ``W1``."""
    g = np.asarray(rows, dtype=np.float64)
    J = np.ones(len(g)) if J is None else np.asarray(J, dtype=np.float64)
    w = wt.get_weighting(method) if isinstance(method, str) else method
    cost, grads = w.combine(J, {"W1": g}, **kwargs)
    return cost, grads["dW1"], w


def difference(a, b):
    """The course's gradient-check difference ||a - b|| / (||a|| + ||b||)."""
    a, b = np.ravel(a), np.ravel(b)
    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))


# ---------------------------------------------------------------------------------------------
# equal and per_task
# ---------------------------------------------------------------------------------------------

def test_equal_is_the_sum():
    cost, d, w = combine("equal", [[1.0, 2.0], [3.0, -1.0]], J=[0.25, 0.5])
    assert cost == 0.75
    np.testing.assert_array_equal(d, [4.0, 1.0])
    np.testing.assert_array_equal(w.last_weights, [1.0, 1.0])


def test_per_task_divides_by_each_task_labels():
    # m = 4; task 0 has 2 known labels, task 1 has 4: weights m / n_t = (2, 1).
    cost, d, _ = combine("per_task", [[1.0, 0.0], [0.0, 1.0]], J=[0.5, 1.0], n_labelled=[2, 4], m=4)
    assert cost == pytest.approx(0.5 * 2 + 1.0 * 1)
    np.testing.assert_allclose(d, [2.0, 1.0])
    # normalize="labels": J_t already is a per-label mean, weights 1
    cost, d, _ = combine("per_task", [[1.0, 0.0], [0.0, 1.0]], J=[0.5, 1.0], normalize="labels")
    assert cost == 1.5
    np.testing.assert_allclose(d, [1.0, 1.0])


def test_per_task_needs_counts_under_examples():
    with pytest.raises(ValueError, match="per_task needs n_labelled and m"):
        combine("per_task", [[1.0], [2.0]])


# ---------------------------------------------------------------------------------------------
# uncertainty (Kendall et al. 2018)
# ---------------------------------------------------------------------------------------------

def test_uncertainty_optimum_is_sigma2_equal_cost():
    J = np.array([0.3, 1.7, 0.05])
    uw = wt.UncertaintyWeighting(n_tasks=3)
    uw.params["log_var"][:] = np.log(J)
    cost, _, _ = combine(uw, np.eye(3), J=J)
    np.testing.assert_allclose(uw.grads["dlog_var"], 0.0, atol=1e-15)
    # and it is a minimum: any perturbation raises the cost
    for delta in (-0.1, 0.1):
        other = wt.UncertaintyWeighting(n_tasks=3)
        other.params["log_var"][:] = np.log(J) + delta
        assert combine(other, np.eye(3), J=J)[0] > cost


def test_uncertainty_cost_and_model_gradient():
    s = np.array([0.5, -1.0])
    J = np.array([2.0, 0.25])
    rows = np.array([[1.0, 2.0], [-3.0, 0.5]])
    uw = wt.UncertaintyWeighting(n_tasks=2)
    uw.params["log_var"][:] = s
    cost, d, _ = combine(uw, rows, J=J)
    assert cost == pytest.approx(np.sum(np.exp(-s) * J + s), rel=1e-15)
    np.testing.assert_allclose(d, np.exp(-s) @ rows, rtol=1e-15)


def test_uncertainty_log_var_gradient_check_float64(rng):
    J = rng.uniform(0.1, 2.0, size=4)
    s0 = rng.normal(size=4)
    present = np.array([True, True, False, True])
    J[~present] = 0.0

    def cost_at(s):
        uw = wt.UncertaintyWeighting(n_tasks=4)
        uw.params["log_var"][:] = s
        return combine(uw, rng.normal(size=(4, 3)) * present[:, None], J=J, present=present)[0], uw.grads

    _, grads = cost_at(s0)
    eps = 1e-6
    approx = np.array([(cost_at(s0 + eps * e)[0] - cost_at(s0 - eps * e)[0]) / (2 * eps) for e in np.eye(4)])
    assert difference(grads["dlog_var"], approx) < 1e-7
    assert grads["dlog_var"][2] == 0.0        # absent task: no term, no push on its s_t


def test_uncertainty_learns_log_var_with_the_same_optimizer():
    # The trainer's contract: one update over model params and weighting params together.
    J = np.array([0.4, 2.5])
    uw = wt.UncertaintyWeighting()
    params = {"W1": np.zeros(2)}
    opt = mtl.GradientDescent(learning_rate=0.5)
    for _ in range(300):
        _, grads = uw.combine(J, {"W1": np.eye(2)})
        opt.update({**params, **uw.params}, {**grads, **uw.grads})
    np.testing.assert_allclose(np.exp(uw.log_var), J, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# DWA (Liu, Johns & Davison 2019)
# ---------------------------------------------------------------------------------------------

def test_dwa_equal_for_two_epochs_then_paper_formula():
    dwa = wt.DynamicWeightAverage(temperature=2.0)
    rows = np.eye(3)
    for epoch_costs in ([1.0, 1.0, 1.0], [0.5, 1.0, 2.0]):
        combine(dwa, rows)
        np.testing.assert_array_equal(dwa.last_weights, 1.0)
        dwa.epoch_end(epoch_costs)
    cost, d, _ = combine(dwa, rows, J=[1.0, 1.0, 1.0])
    # r = (0.5, 1, 2); w = 3 exp(r/2) / sum exp(r/2) = 3 (1.2840254, 1.6487213, 2.7182818) / 5.6510285
    expected = np.array([0.6816593, 0.8752679, 1.4430728])
    np.testing.assert_allclose(dwa.last_weights, expected, atol=2e-6)
    np.testing.assert_allclose(d, expected, atol=2e-6)
    assert dwa.last_weights.sum() == pytest.approx(3.0)
    assert cost == pytest.approx(3.0)


def test_dwa_accumulates_per_label_epoch_costs():
    dwa = wt.DynamicWeightAverage()
    rows = np.eye(2)
    # examples normalisation, m = 4: per-label costs J * 4 / n
    combine(dwa, rows, J=[0.5, 0.2], n_labelled=[2, 4], m=4)      # per-label (1.0, 0.2)
    combine(dwa, rows, J=[0.75, 0.0], n_labelled=[1, 0], m=4)     # per-label (3.0, absent)
    dwa.epoch_end()
    costs, known = dwa.epoch_costs[-1]
    np.testing.assert_allclose(costs, [(1.0 * 2 + 3.0 * 1) / 3, 0.2])
    assert known.all()


def test_dwa_weights_function_is_a_softmax_times_n():
    w = wt.dwa_weights([1.0, 1.0], [2.0, 0.5], temperature=1.0)
    e = np.exp([0.5, 2.0])
    np.testing.assert_allclose(w, 2 * e / e.sum())


# ---------------------------------------------------------------------------------------------
# GradNorm (Chen et al. 2018)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5])
def test_gradnorm_targets_on_a_worked_case(alpha):
    # ||dW_t|| on the balanced layer: (3, 1). First batch: L(0) = (1, 1). Second: L = (0.5, 1).
    rows = np.array([[3.0, 0.0], [0.0, 1.0]])
    gn = wt.GradNorm(alpha=alpha)
    combine(gn, rows, J=[1.0, 1.0], n_labelled=[4, 4], m=4)
    np.testing.assert_allclose(gn.last_targets, [2.0, 2.0])             # r = 1: targets = mean norm
    np.testing.assert_array_equal(gn.grads["dloss_weights"], [3.0, -1.0])
    combine(gn, rows, J=[0.5, 1.0], n_labelled=[4, 4], m=4)
    # L~ = (0.5, 1), mean 0.75: r = (2/3, 4/3); G_W = (3, 1), G_bar = 2; targets = 2 r^alpha
    r = np.array([2 / 3, 4 / 3])
    targets = 2.0 * r ** alpha
    np.testing.assert_allclose(gn.last_targets, targets, rtol=1e-14)
    np.testing.assert_array_equal(gn.grads["dloss_weights"], np.sign([3.0, 1.0] - targets) * [3.0, 1.0])
    assert gn.last_gradnorm_loss == pytest.approx(np.abs(np.array([3.0, 1.0]) - targets).sum())


def test_gradnorm_renormalises_weights_and_weights_the_cost():
    gn = wt.GradNorm(n_tasks=2)
    gn.params["loss_weights"][:] = [3.0, 1.0]
    cost, d, _ = combine(gn, [[1.0, 0.0], [0.0, 1.0]], J=[1.0, 2.0], n_labelled=[2, 2], m=2)
    np.testing.assert_allclose(gn.params["loss_weights"], [1.5, 0.5])    # sums to T = 2
    assert cost == pytest.approx(1.5 * 1.0 + 0.5 * 2.0)
    np.testing.assert_allclose(d, [1.5, 0.5])


def test_gradnorm_uses_the_last_shared_weight_by_default():
    G = {"W1": np.ones((2, 3, 2)), "b1": np.ones((2, 3, 1)),
         "W2": np.array([[[3.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]]), "b2": np.ones((2, 1, 1)),
         "W3": np.ones((2, 2, 1))}
    gn = wt.GradNorm()
    gn.combine(np.ones(2), G, shared=["W1", "b1", "W2", "b2"], n_labelled=[1, 1], m=1)
    np.testing.assert_allclose(gn.last_norms, [3.0, 1.0])
    with pytest.raises(ValueError, match="layer 'W9' is not a parameter"):
        wt.GradNorm(layer="W9").combine(np.ones(2), G, n_labelled=[1, 1], m=1)


# ---------------------------------------------------------------------------------------------
# PCGrad (Yu et al. 2020)
# ---------------------------------------------------------------------------------------------

def test_pcgrad_projects_two_conflicting_vectors():
    g1, g2 = np.array([1.0, 0.0]), np.array([-1.0, 1.0])
    # g1 . g2 = -1 < 0: g1' = g1 - (-1/2) g2 = (0.5, 0.5); g2' = g2 - (-1/1) g1 = (0, 1)
    cost, d, w = combine("pcgrad", [g1, g2], J=[0.5, 0.25])
    np.testing.assert_allclose(d, [0.5, 1.5], rtol=1e-15)
    assert cost == 0.75
    np.testing.assert_allclose(w.last_weights, [2.0, 1.5])


def test_pcgrad_leaves_non_conflicting_vectors_alone():
    rows = [[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]
    _, d, _ = combine("pcgrad", rows)
    np.testing.assert_array_equal(d, [2.0, 3.0])


def test_pcgrad_touches_only_shared_parameters():
    G = {"W1": np.array([[1.0, 0.0], [-1.0, 1.0]]), "Wh": np.array([[-1.0, 0.0], [1.0, 0.0]])}
    _, grads = wt.PCGrad().combine(np.ones(2), G, shared=["W1"])
    np.testing.assert_allclose(grads["dW1"], [0.5, 1.5])
    np.testing.assert_array_equal(grads["dWh"], [0.0, 0.0])    # the heads' own gradients, summed


def pcgrad_oracle(g, seed):
    """Algorithm 1 on explicit vectors, drawing the orders exactly as the package does."""
    rng = np.random.default_rng(seed)
    n = len(g)
    out = []
    for i in range(n):
        gi = g[i].copy()
        for j in rng.permutation(n):
            if j != i and gi @ g[j] < 0:
                gi = gi - (gi @ g[j]) / (g[j] @ g[j]) * g[j]
        out.append(gi)
    return np.array(out)


@given(arrays(np.float64, st.tuples(st.integers(2, 5), st.integers(1, 6)),
              elements=st.floats(-10, 10, allow_nan=False).filter(lambda x: x == 0 or abs(x) > 1e-3)),
       st.integers(0, 2**16))
def test_pcgrad_matches_explicit_vectors_and_never_lengthens(g, seed):
    g = g[np.linalg.norm(g, axis=1) > 0]
    if len(g) < 2:
        return
    projected = pcgrad_oracle(g, seed)
    _, d, _ = combine(wt.PCGrad(seed=seed), g)
    np.testing.assert_allclose(d, projected.sum(axis=0), atol=1e-9 * (1 + np.abs(g).max()))
    # each projection removes a component: no projected gradient is longer than its original
    assert np.all(np.linalg.norm(projected, axis=1) <= np.linalg.norm(g, axis=1) * (1 + 1e-12))


@given(arrays(np.float64, st.tuples(st.just(2), st.integers(1, 6)), elements=st.floats(-10, 10, allow_nan=False)))
def test_pcgrad_two_tasks_never_conflicts_with_either(g):
    _, d, _ = combine("pcgrad", g)
    scale = 1 + np.sum(g * g)
    assert np.all(g @ d >= -1e-12 * scale)
    # task order cannot matter for two tasks
    _, d_swapped, _ = combine("pcgrad", g[::-1])
    np.testing.assert_allclose(d_swapped, d, atol=1e-12 * scale)


# ---------------------------------------------------------------------------------------------
# MGDA (Sener & Koltun 2018)
# ---------------------------------------------------------------------------------------------

@given(arrays(np.float64, (2, 3), elements=st.floats(-10, 10, allow_nan=False)))
def test_mgda_two_tasks_closed_form(g):
    g1, g2 = g
    denom = np.sum((g1 - g2) ** 2)
    gamma = 0.0 if denom == 0 else np.clip((g2 - g1) @ g2 / denom, 0.0, 1.0)
    _, d, w = combine("mgda", g, present=np.ones(2, bool))     # a zero gradient is a task too here
    scale = 1 + np.sum(g * g)
    well_posed = denom > 1e-8 * (g1 @ g1 + g2 @ g2)
    # When g1 ~ g2, gamma is lost in rounding of the inner products (any gamma is as good), and
    # d = g2 + gamma (g1 - g2) is then known only to within ||g1 - g2||.
    slack = 0.0 if well_posed else np.sqrt(denom)
    np.testing.assert_allclose(d, gamma * g1 + (1 - gamma) * g2, atol=1e-10 * scale + slack)
    if well_posed:
        # gamma itself is ill-posed when g1 ~ g2 (from inner products, ||g1 - g2||^2 is lost
        # in rounding); d is not, as checked above
        assert wt.two_task_min_norm(g1 @ g1, g1 @ g2, g2 @ g2) == pytest.approx(gamma, abs=1e-6)


def test_mgda_worked_case():
    # g1 = (1, 0), g2 = (-1, 1): gamma* = ((g2 - g1) . g2) / ||g1 - g2||^2 = 3 / 5
    _, d, w = combine("mgda", [[1.0, 0.0], [-1.0, 1.0]])
    np.testing.assert_allclose(w.last_weights, [0.6, 0.4], rtol=1e-14)
    np.testing.assert_allclose(d, [0.2, 0.4], rtol=1e-14)


def simplex_grid(n_steps):
    a = np.arange(n_steps + 1) / n_steps
    A, B = np.meshgrid(a, a, indexing="ij")
    keep = A + B <= 1 + 1e-12
    return np.stack([A[keep], B[keep], 1 - A[keep] - B[keep]], axis=1)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("away_steps", [True, False])
def test_mgda_three_tasks_against_brute_force_over_the_simplex(seed, away_steps):
    g = np.random.default_rng(seed).normal(size=(3, 4))
    _, d, w = combine(wt.MGDA(away_steps=away_steps), g)
    alphas = simplex_grid(400)
    brute = np.min(np.sum((alphas @ g) ** 2, axis=1))
    ours = d @ d
    # the paper's plain Frank-Wolfe converges like 1/k when the optimum is on a face
    assert ours <= brute + (1e-12 if away_steps else 1e-3 * (g * g).sum())
    # exact reference: the grid's minimiser refined is within the grid's resolution
    assert ours >= brute - 1e-3 * (g * g).sum()
    np.testing.assert_allclose(w.last_weights.sum(), 1.0)
    # optimality (KKT): every task gradient has g_t . d >= ||d||^2
    tol = 1e-9 if away_steps else 1e-3
    assert np.all(g @ d >= ours - tol * (g * g).sum())


def test_mgda_exact_on_a_face():
    # Three gradients whose min-norm point is on the edge between tasks 0 and 1 (task 2 far away).
    g = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]])
    _, d, w = combine("mgda", g)
    np.testing.assert_allclose(w.last_weights, [0.5, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(d, [0.5, 0.5], atol=1e-12)


@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=st.floats(-10, 10, allow_nan=False)),
       st.floats(0.01, 100))
def test_mgda_descends_for_every_task_and_is_scale_invariant(g, c):
    _, d, w = combine("mgda", g, present=np.ones(len(g), bool))
    scale = 1 + np.sum(g * g)
    assert np.isfinite(d).all()
    assert np.all(g @ d >= d @ d - 1e-8 * scale)
    assert w.last_weights.sum() == pytest.approx(1.0) or not np.any(g)
    _, d_scaled, w_scaled = combine("mgda", c * g, present=np.ones(len(g), bool))
    np.testing.assert_allclose(d_scaled, c * d, atol=1e-7 * c * scale)


# ---------------------------------------------------------------------------------------------
# CAGrad (Liu et al. 2021)
# ---------------------------------------------------------------------------------------------

def test_cagrad_with_c_zero_is_the_average(rng):
    g = rng.normal(size=(4, 5))
    _, d, w = combine(wt.CAGrad(c=0.0), g)
    np.testing.assert_allclose(d, g.mean(axis=0), rtol=1e-14)


@pytest.mark.parametrize("c", [0.2, 0.5, 1.0])
def test_cagrad_worked_case_orthogonal_unit_vectors(c):
    # g1 = e1, g2 = e2: by symmetry w = (1/2, 1/2), g_w = g0, so d = g0 + c ||g0|| g0 / ||g0|| = (1 + c) g0
    _, d, _ = combine(wt.CAGrad(c=c), np.eye(2))
    np.testing.assert_allclose(d, (1 + c) * np.array([0.5, 0.5]), rtol=1e-8)


@pytest.mark.parametrize("seed", range(4))
def test_cagrad_solves_its_primal_in_2d(seed):
    c = 0.5
    g = np.random.default_rng(seed).normal(size=(3, 2))
    _, d, _ = combine(wt.CAGrad(c=c), g)
    g0 = g.mean(axis=0)
    radius = c * np.linalg.norm(g0)
    assert np.linalg.norm(d - g0) <= radius * (1 + 1e-9)
    theta = np.linspace(0, 2 * np.pi, 20001)
    rho = np.linspace(0, 1, 201)[:, None, None]
    candidates = g0 + radius * rho * np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    best = np.max(np.min(candidates @ g.T, axis=-1))
    assert np.min(g @ d) >= best - 1e-6 * np.sum(g * g)


@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=st.floats(-10, 10, allow_nan=False)),
       st.floats(0.0, 2.0), st.floats(0.01, 100))
def test_cagrad_properties(g, c, scale):
    present = np.ones(len(g), bool)                          # zero rows are tasks here too
    _, d, _ = combine(wt.CAGrad(c=c), g, present=present)
    assert np.isfinite(d).all()
    g0 = g.mean(axis=0)
    size = 1 + np.sum(g * g)
    assert np.linalg.norm(d - g0) <= c * np.linalg.norm(g0) + 1e-9 * size
    # g0 is feasible: the worst task does at least as well along d as along the average
    assert np.min(g @ d) >= np.min(g @ g0) - 1e-7 * size
    # Scale invariance where the problem is well posed: 0 clearly outside the hull of the
    # gradients (near it the direction is a large-coefficient cancellation, see cagrad_weights).
    alpha = wt.min_norm_weights(g @ g.T)
    if np.linalg.norm(alpha @ g) > 1e-2 * np.abs(g).max():
        _, d_scaled, _ = combine(wt.CAGrad(c=c), scale * g, present=present)
        np.testing.assert_allclose(d_scaled, scale * d, atol=1e-6 * scale * size)


# ---------------------------------------------------------------------------------------------
# Every method: '?', task order, finite in -> finite out, bad arguments
# ---------------------------------------------------------------------------------------------

METHODS = list(wt.WEIGHTINGS)


def batches(rng, n_tasks, n_batches=3):
    """Per-task costs, gradients (shared W1, b1 and a task-specific Wh) and label counts."""
    out = []
    for _ in range(n_batches):
        J = rng.uniform(0.2, 1.5, size=n_tasks)
        G = {"W1": rng.normal(size=(n_tasks, 3, 2)), "b1": rng.normal(size=(n_tasks, 3, 1)),
             "Wh": rng.normal(size=(n_tasks, 4))}
        out.append((J, G, rng.integers(1, 9, size=n_tasks)))
    return out


def run_method(name, data, epoch_costs=None):
    w = wt.get_weighting(name)
    if epoch_costs is not None and name == "dwa":
        for costs in epoch_costs:
            w.epoch_end(costs)
    results = []
    for J, G, n in data:
        cost, grads = w.combine(J, G, shared=["W1", "b1"], n_labelled=n, m=8)
        results.append((cost, grads, w.last_weights.copy(), {k: v.copy() for k, v in w.grads.items()}))
    return results


@pytest.mark.parametrize("name", METHODS)
def test_a_task_with_no_labels_is_the_same_as_dropping_it(name, rng):
    data = batches(rng, 3)
    with_absent = []
    for J, G, n in data:
        # insert an absent task at position 1: J = 0, all-zero gradient rows, no known label
        J4 = np.insert(J, 1, 0.0)
        G4 = {k: np.insert(v, 1, 0.0, axis=0) for k, v in G.items()}
        with_absent.append((J4, G4, np.insert(n, 1, 0)))
    epochs3 = [np.array([1.0, 0.8, 1.2]), np.array([0.7, 0.8, 0.6])]
    epochs4 = [np.insert(e, 1, 5.0) for e in epochs3]
    dropped = run_method(name, data, epochs3)
    full = run_method(name, with_absent, epochs4)
    keep = [0, 2, 3]
    for (c3, g3, w3, p3), (c4, g4, w4, p4) in zip(dropped, full):
        assert np.isfinite(c4)
        assert c4 == pytest.approx(c3, rel=1e-12)
        for k in g3:
            assert np.isfinite(g4[k]).all()
            np.testing.assert_allclose(g4[k], g3[k], rtol=1e-12, atol=1e-14, err_msg=f"{name}: d{k}")
        np.testing.assert_allclose(w4[keep], w3, rtol=1e-12, atol=1e-15)
        assert w4[1] == 0.0
        for k in p3:
            np.testing.assert_allclose(p4[k][keep], p3[k], rtol=1e-12, atol=1e-15)
            assert p4[k][1] == 0.0


@pytest.mark.parametrize("name", METHODS)
def test_all_tasks_absent_gives_zero_and_no_warning(name):
    G = {"W1": np.zeros((3, 2, 2)), "Wh": np.zeros((3, 4))}
    w = wt.get_weighting(name)
    with np.errstate(all="raise"):
        cost, grads = w.combine(np.zeros(3), G, shared=["W1"], n_labelled=[0, 0, 0], m=5)
        w.epoch_end()
    assert cost == 0.0
    assert all(np.all(v == 0) for v in grads.values())
    np.testing.assert_array_equal(w.last_weights, 0.0)


@pytest.mark.parametrize("name", METHODS)
def test_task_order_does_not_matter(name, rng):
    n_tasks = 2 if name == "pcgrad" else 4       # PCGrad's random orders are over tasks
    data = batches(rng, n_tasks)
    perm = rng.permutation(n_tasks)
    epochs = [rng.uniform(0.5, 1.5, size=n_tasks) for _ in range(2)]
    base = run_method(name, data, epochs)
    permuted = run_method(name, [(J[perm], {k: v[perm] for k, v in G.items()}, n[perm]) for J, G, n in data],
                          [e[perm] for e in epochs])
    for (c, g, w, _), (cp, gp, wp, _) in zip(base, permuted):
        assert cp == pytest.approx(c, rel=1e-12)
        for k in g:
            np.testing.assert_allclose(gp[k], g[k], rtol=1e-9, atol=1e-12, err_msg=f"{name}: d{k}")
        np.testing.assert_allclose(wp, w[perm], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", METHODS)
@given(g=arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)),
                elements=st.floats(-100, 100, allow_nan=False)),
       J=arrays(np.float64, 4, elements=st.floats(0, 10)))
def test_finite_in_finite_out(name, g, J):
    n_tasks = g.shape[0]
    J = J[:n_tasks]
    counts = np.where(np.any(g != 0, axis=1), 3, 0)
    w = wt.get_weighting(name)
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        for _ in range(3):
            cost, grads = w.combine(J, {"W1": g}, n_labelled=counts, m=4)
            w.epoch_end()
    assert np.isfinite(cost)
    assert np.isfinite(grads["dW1"]).all()
    assert np.isfinite(w.last_weights).all()
    assert all(np.isfinite(v).all() for v in w.grads.values())


def test_float32_gradients_stay_float32(rng):
    G = {"W1": rng.normal(size=(3, 4)).astype(np.float32)}
    for name in METHODS:
        _, grads = wt.get_weighting(name).combine(np.ones(3, np.float32), G, n_labelled=[1, 2, 3], m=3)
        assert grads["dW1"].dtype == np.float32, name


def test_get_weighting():
    assert isinstance(wt.get_weighting("mgda"), wt.MGDA)
    assert wt.get_weighting("cagrad", c=0.1).c == 0.1
    obj = wt.PCGrad(seed=3)
    assert wt.get_weighting(obj) is obj
    with pytest.raises(ValueError, match="weighting must be one of"):
        wt.get_weighting("nash")
    with pytest.raises(ValueError, match="keyword arguments"):
        wt.get_weighting(obj, seed=1)


@pytest.mark.parametrize("kwargs, match", [
    ({"J_t": np.ones(3)}, r"J_t must have shape \(n_tasks,\) = \(2,\)"),
    ({"n_labelled": [1, 9], "m": 4}, "n_labelled cannot exceed m = 4"),
    ({"n_labelled": [1.5, 2]}, "n_labelled must be non-negative integer counts"),
    ({"m": 0}, r"m \(the batch size\) must be an int >= 1"),
    ({"shared": ["W7"]}, "shared names parameters that are not in G"),
    ({"normalize": "tasks"}, "normalize must be one of"),
])
def test_bad_arguments(kwargs, match):
    args = {"J_t": np.ones(2)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        wt.EqualWeighting().combine(args.pop("J_t"), {"W1": np.ones((2, 3))}, **args)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        wt.DynamicWeightAverage(temperature=0)
    with pytest.raises(ValueError, match="c must be a finite number >= 0"):
        wt.CAGrad(c=-1)
    with pytest.raises(ValueError, match="seed must be an int or None"):
        wt.PCGrad(seed=1.5)
    uw = wt.UncertaintyWeighting(n_tasks=3)
    with pytest.raises(ValueError, match="set up for n_tasks = 3"):
        uw.combine(np.ones(2), {"W1": np.ones((2, 1))})


# ---------------------------------------------------------------------------------------------
# Through today's model: per-task gradients by masking the other tasks' labels
# ---------------------------------------------------------------------------------------------

def task_costs_and_grads(model, X, Y):
    """J_t and G from today's API: task t alone is the model's cost on Y with only row t known."""
    J_t, G = [], {k: [] for k in model.params}
    for t in range(Y.shape[0]):
        Y_t = np.full_like(Y, np.nan)
        Y_t[t] = Y[t]
        J, grads = model.cost_and_grads(X, Y_t)
        J_t.append(J)
        for k in G:
            G[k].append(grads["d" + k])
    return np.array(J_t), {k: np.stack(v) for k, v in G.items()}


def toy(rng, m=40, n_x=5, missing=0.4):
    X = rng.normal(size=(n_x, m))
    Y = random_labels(rng, 4, m, missing=missing)
    return X, Y


def test_equal_reproduces_the_model_cost_and_gradients(rng):
    model = mtl.SharedMLP([5, 6, 4], seed=0, dtype="float64")
    X, Y = toy(rng)
    J_t, G = task_costs_and_grads(model, X, Y)
    n_labelled, m = wt.batch_counts(Y)
    cost, grads = wt.EqualWeighting().combine(J_t, G, shared=["W1", "b1"], n_labelled=n_labelled, m=m)
    J, ref = model.cost_and_grads(X, Y)
    assert cost == pytest.approx(J, rel=1e-12)
    for k in ref:
        np.testing.assert_allclose(grads[k], ref[k], rtol=1e-10, atol=1e-15)


def test_per_task_matches_each_task_alone_under_labels_normalisation(rng):
    X, Y = toy(rng)
    model = mtl.SharedMLP([5, 6, 4], seed=0, dtype="float64")
    by_labels = mtl.SharedMLP([5, 6, 4], seed=0, dtype="float64", normalize="labels")
    J_t, G = task_costs_and_grads(model, X, Y)
    n_labelled, m = wt.batch_counts(Y)
    cost, grads = wt.PerTaskWeighting().combine(J_t, G, n_labelled=n_labelled, m=m)
    J_ref, G_ref = task_costs_and_grads(by_labels, X, Y)
    assert cost == pytest.approx(J_ref.sum(), rel=1e-12)
    for k in G_ref:
        np.testing.assert_allclose(grads["d" + k], G_ref[k].sum(axis=0), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name", METHODS)
def test_short_training_run_with_missing_labels_stays_finite(name, rng):
    X, Y = toy(rng, m=48, missing=0.6)
    model = mtl.SharedMLP([5, 8, 4], seed=0, dtype="float64")
    shared = ["W1", "b1"]
    weighting = wt.get_weighting(name)
    optimizer = mtl.Adam(learning_rate=1e-2)
    cost_first = None
    saw_absent = False
    for epoch in range(4):
        for start in range(0, 48, 4):        # tiny batches: some tasks have no label in some
            Xb, Yb = X[:, start:start + 4], Y[:, start:start + 4]
            J_t, G = task_costs_and_grads(model, Xb, Yb)
            n_labelled, m = wt.batch_counts(Yb)
            saw_absent |= bool(np.any(n_labelled == 0))
            cost, grads = weighting.combine(J_t, G, shared=shared, n_labelled=n_labelled, m=m)
            assert np.isfinite(cost)
            optimizer.update({**model.params, **weighting.params}, {**grads, **weighting.grads})
        weighting.epoch_end()
        if cost_first is None:
            cost_first = model.cost(X, Y)
    assert saw_absent
    assert all(np.isfinite(v).all() for v in model.params.values())
    assert all(np.isfinite(v).all() for v in weighting.params.values())
    assert model.cost(X, Y) < cost_first       # it learns something


cupy = None
try:  # pragma: no cover - only on a GPU machine
    import cupy  # noqa: F811

    _gpu = cupy.cuda.runtime.getDeviceCount() > 0
except Exception:  # noqa: BLE001 - not installed, no driver, no device
    _gpu = False


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu, reason="CuPy or a CUDA GPU is missing")
@pytest.mark.parametrize("name", METHODS)
def test_cupy_arrays_give_the_numpy_result(name, rng):  # pragma: no cover - GPU only
    data = batches(rng, 3)
    host = run_method(name, data)
    device = run_method(name, [(J, {k: cupy.asarray(v) for k, v in G.items()}, n) for J, G, n in data])
    for (c, g, _, _), (cd, gd, _, _) in zip(host, device):
        assert cd == pytest.approx(c, rel=1e-9)
        for k in g:
            assert isinstance(gd[k], cupy.ndarray)
            np.testing.assert_allclose(cupy.asnumpy(gd[k]), g[k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["equal", "per_task", "uncertainty", "dwa", "gradnorm"])
def test_loss_weighting_gradient_is_the_gradient_of_its_cost_float64(name, rng):
    """Gradient check through today's model: d(cost)/d(W1, b1, ...) numerically, in float64."""
    X, Y = toy(rng, m=6, n_x=3, missing=0.4)
    Y[2] = np.nan                                       # one task with no label at all
    model = mtl.SharedMLP([3, 4, 4], seed=1, dtype="float64")
    weighting = wt.get_weighting(name)
    if name == "dwa":
        weighting.epoch_end([1.0, 0.9, 1.1, 0.8])
        weighting.epoch_end([0.5, 0.8, 1.0, 0.9])
    n_labelled, m = wt.batch_counts(Y)

    def cost_and_grads():
        J_t, G = task_costs_and_grads(model, X, Y)
        return weighting.combine(J_t, G, shared=["W1", "b1"], n_labelled=n_labelled, m=m)

    cost_and_grads()                                    # builds state (GradNorm's L(0), UW's s)
    if name == "uncertainty":
        weighting.params["log_var"][:] = [0.3, -0.5, 0.1, 1.2]
    if name == "gradnorm":
        weighting.params["loss_weights"][:] = [1.5, 0.5, 1.0, 1.0]
    _, grads = cost_and_grads()
    ours, approx = [], []
    eps = 1e-6
    for key, param in model.params.items():
        for i in np.ndindex(param.shape):
            old = param[i]
            param[i] = old + eps
            plus = cost_and_grads()[0]
            param[i] = old - eps
            minus = cost_and_grads()[0]
            param[i] = old
            ours.append(grads["d" + key][i])
            approx.append((plus - minus) / (2 * eps))
    assert difference(ours, approx) < 1e-7, name
