r"""Checks of tutorial 10's exercises: gradient conflict and three weighting methods by hand.

Each check compares the learner's function with the package's own code on fixed inputs:
the cosine between two tasks' shared gradients with :func:`mtl_numpy.diagnostics.conflict_from_task_grads`,
PCGrad's projection with :func:`mtl_numpy.weighting.pcgrad_weights`, MGDA's two-task weight with
:func:`mtl_numpy.weighting.two_task_min_norm`, and the uncertainty-weighted cost and its
gradient in :math:`s_t` with :class:`mtl_numpy.weighting.UncertaintyWeighting`.
"""
from __future__ import annotations

import numpy as np

from ..diagnostics import conflict_from_task_grads
from ..weighting import UncertaintyWeighting, pcgrad_weights, two_task_min_norm
from ._check import Mismatch, exercise, expect_array, expect_scalar, fmt, returned, run, unchanged

__all__ = ["check_gradient_cosine", "check_pcgrad_project", "check_mgda_two_tasks",
           "check_uncertainty_cost", "cosine_inputs"]

NOTEBOOK = "10_gradient_conflict_and_weighting"


def _copy(G):
    return {k: v.copy() for k, v in G.items()}


def cosine_inputs(seed=10):
    """The check's per-task gradients: ``G`` for 3 tasks (two shared layers, one head per task)
    and the names of the shared parameters, as ``model.task_costs_and_grads`` and
    ``model.shared`` give them."""
    rng = np.random.default_rng(seed)
    n_tasks = 3
    G = {"W1": rng.standard_normal((n_tasks, 4, 3)), "b1": rng.standard_normal((n_tasks, 4, 1)),
         "W2": rng.standard_normal((n_tasks, 2, 4)), "b2": rng.standard_normal((n_tasks, 2, 1))}
    # Pull task 1 towards task 0 and task 2 away from it, so the cosines are far from 0.
    for k in list(G):
        G[k][1] += 0.8 * G[k][0]
        G[k][2] -= 0.8 * G[k][0]
    for t in range(n_tasks):                # each head's gradient is non-zero for its own task only
        for name, shape in (("W3_t", (1, 2)), ("b3_t", (1, 1))):
            value = np.zeros((n_tasks, *shape))
            value[t] = 5.0 * rng.standard_normal(shape)
            G[f"{name}{t}"] = value
    return G, ("W1", "b1", "W2", "b2")


def _cosine(G, names, i, j):
    gi = np.concatenate([G[k][i].ravel() for k in names])
    gj = np.concatenate([G[k][j].ravel() for k in names])
    return float(gi @ gj / (np.linalg.norm(gi) * np.linalg.norm(gj)))


@exercise(NOTEBOOK, "cos(g_i, g_j) over the shared parameters for every pair of 3 tasks against "
                    "conflict_from_task_grads; names a cosine over every parameter (heads included), "
                    "over W1 alone, or the dot product without the norms")
def check_gradient_cosine(gradient_cosine):
    """Check ``gradient_cosine(G, shared, i, j) -> float``."""
    G, shared = cosine_inputs()
    reference = conflict_from_task_grads(G, shared).cosine
    pairs = [(0, 1), (0, 2), (1, 2), (2, 0)]

    def trial():
        for i, j in pairs:
            G_in = _copy(G)
            got = returned(gradient_cosine(G_in, list(shared), i, j), "gradient_cosine")
            for k in G:
                unchanged(f"G[{k!r}]", G[k], G_in[k])
            gi = np.concatenate([G[k][i].ravel() for k in shared])
            gj = np.concatenate([G[k][j].ravel() for k in shared])
            expect_scalar(f"gradient_cosine(G, shared, {i}, {j})", got, reference[i, j], rtol=1e-9,
                          case=f"tasks {i} and {j}",
                          mistakes={"the cosine over every parameter, the heads included (take only the "
                                    "names in shared: a head's gradient is zero for the other tasks)":
                                        _cosine(G, list(G), i, j),
                                    "the cosine over W1 alone (concatenate every shared parameter)":
                                        _cosine(G, ["W1"], i, j),
                                    "the dot product g_i . g_j without dividing by the norms": float(gi @ gj)})
        return f"the cosines of {len(pairs)} task pairs equal conflict_from_task_grads(G, shared).cosine"

    return run("gradient_cosine", trial,
               f"cos(g_0, g_1) = {reference[0, 1]:.4f}, cos(g_0, g_2) = {reference[0, 2]:.4f}, "
               f"cos(g_1, g_2) = {reference[1, 2]:.4f}")


def _project(g_i, g_j):
    dot = g_i @ g_j
    return g_i - dot / (g_j @ g_j) * g_j if dot < 0 else g_i.copy()


def _pcgrad_cases():
    rng = np.random.default_rng(11)
    g1 = rng.standard_normal(6)
    conflicting = -0.7 * g1 + 0.5 * rng.standard_normal(6)
    agreeing = 0.5 * g1 + rng.standard_normal(6)
    if g1 @ agreeing <= 0:          # fixed seed: this never happens, but keep the case honest
        agreeing = -agreeing
    return [(g1, conflicting, "a conflicting pair (g_i . g_j < 0)"),
            (conflicting, g1, "the same pair the other way round"),
            (g1, agreeing, "an agreeing pair (g_i . g_j > 0): nothing to project")]


@exercise(NOTEBOOK, "g_i projected onto the normal plane of g_j when they conflict (and left alone "
                    "when they do not), and the two projected gradients' sum against pcgrad_weights; "
                    "names a projection of agreeing pairs, a wrong sign, a norm not squared")
def check_pcgrad_project(pcgrad_project):
    """Check ``pcgrad_project(g_i, g_j) -> g_i_pc`` on 1-D gradients."""
    cases = _pcgrad_cases()
    g1, g2 = cases[0][0], cases[0][1]
    K = np.array([[g1 @ g1, g1 @ g2], [g2 @ g1, g2 @ g2]])
    # The package: PCGrad's summed direction as weights on (g1, g2); with two tasks the random
    # order does not matter (each task has one other to be projected on).
    package_sum = pcgrad_weights(K, np.random.default_rng(0)) @ np.vstack([g1, g2])

    def trial():
        for g_i, g_j, case in cases:
            gi_in, gj_in = g_i.copy(), g_j.copy()
            got = returned(pcgrad_project(gi_in, gj_in), "pcgrad_project")
            unchanged("g_i", g_i, gi_in)
            unchanged("g_j", g_j, gj_in)
            dot = g_i @ g_j
            expect_array("g_i_pc", got, _project(g_i, g_j), rtol=1e-9, atol=1e-12, case=case, mistakes={
                "g_i projected although it agrees with g_j (project only when g_i . g_j < 0)":
                    g_i - dot / (g_j @ g_j) * g_j,
                "g_i + (g_i . g_j)/||g_j||^2 g_j: the sign is wrong (subtract the component along g_j)":
                    g_i + dot / (g_j @ g_j) * g_j,
                "a projection divided by ||g_j|| instead of ||g_j||^2": g_i - dot / np.linalg.norm(g_j) * g_j,
                "g_j projected onto g_i's normal plane (the arguments swapped)": _project(g_j, g_i),
            })
        summed = np.asarray(pcgrad_project(g1, g2)) + np.asarray(pcgrad_project(g2, g1))
        expect_array("pcgrad_project(g1, g2) + pcgrad_project(g2, g1)", summed, package_sum, rtol=1e-9,
                     case="PCGrad's direction for two tasks, from mtl.weighting.pcgrad_weights")
        return ("conflicting pairs projected (g_i_pc . g_j = 0), agreeing ones left alone; their sum "
                "is PCGrad's direction from mtl.weighting.pcgrad_weights")

    g_pc = _project(g1, g2)
    return run("pcgrad_project", trial,
               f"g1 . g2 = {g1 @ g2:.4f} < 0, so g1_pc = {fmt(g_pc, 4)}, and g1_pc . g2 = {abs(g_pc @ g2):.1f}")


def _mgda_cases():
    rng = np.random.default_rng(12)
    a = rng.standard_normal(5)
    b = -0.6 * a + 0.8 * rng.standard_normal(5)
    small = 0.2 * a + 0.05 * rng.standard_normal(5)
    return [(a, b, "a conflicting pair: gamma* inside (0, 1)"),
            (a, small, "g2 short and along g1: the min-norm point is g2 itself, gamma* = 0 (clipped)"),
            (small, a, "g1 short and along g2: the min-norm point is g1 itself, gamma* = 1 (clipped)"),
            (3.0 * b, a, "a conflicting pair of unequal norms")]


@exercise(NOTEBOOK, "gamma* of the min-norm point gamma g1 + (1 - gamma) g2 on four pairs (inside "
                    "(0, 1) and clipped at 0 and 1) against mtl.weighting.two_task_min_norm; names "
                    "a missing clip, 1 - gamma*, a norm not squared")
def check_mgda_two_tasks(mgda_two_tasks):
    """Check ``mgda_two_tasks(g1, g2) -> gamma`` on 1-D gradients."""
    cases = _mgda_cases()
    expected = [two_task_min_norm(g1 @ g1, g1 @ g2, g2 @ g2) for g1, g2, _ in cases]

    def trial():
        for (g1, g2, case), gamma in zip(cases, expected):
            g1_in, g2_in = g1.copy(), g2.copy()
            got = returned(mgda_two_tasks(g1_in, g2_in), "mgda_two_tasks")
            unchanged("g1", g1, g1_in)
            unchanged("g2", g2, g2_in)
            raw = (g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2))
            expect_scalar("gamma", got, gamma, rtol=1e-9, case=case, mistakes={
                "the unclipped ratio (clip gamma to [0, 1]: the point must stay on the segment)": raw,
                "1 - gamma* (gamma weighs g1: gamma g1 + (1 - gamma) g2)": 1.0 - gamma,
                "the ratio over ||g1 - g2|| instead of ||g1 - g2||^2":
                    float(np.clip((g2 - g1) @ g2 / np.linalg.norm(g1 - g2), 0.0, 1.0)),
            })
        return f"gamma* on {len(cases)} pairs equals mtl.weighting.two_task_min_norm's, clipped ones included"

    return run("mgda_two_tasks", trial, "gamma* = " + ", ".join(f"{g:.4f}" for g in expected)
               + " for the four pairs")


def _uncertainty_inputs():
    J_t = np.array([0.62, 0.35, 0.0, 0.48])          # task 2 has no label in the batch: J_2 = 0
    s = np.array([0.3, -0.5, 0.2, 0.0])
    present = np.array([True, True, False, True])
    return J_t, s, present


def _uncertainty_reference(J_t, s, present):
    """The package's cost and gradient in s, through UncertaintyWeighting.combine itself."""
    rng = np.random.default_rng(0)
    G = {"W1": rng.standard_normal((J_t.size, 2, 3))}
    G["W1"][~present] = 0.0
    method = UncertaintyWeighting(n_tasks=J_t.size)
    method.params["log_var"][:] = s
    J, _ = method.combine(J_t, G, present=present)
    return J, method.grads["dlog_var"].copy()


@exercise(NOTEBOOK, "J = sum over present tasks of exp(-s_t) J_t + s_t and dJ/ds_t = 1 - exp(-s_t) J_t "
                    "(0 for a task with no label) against UncertaintyWeighting.combine; names an "
                    "absent task's s_t in the sum, a wrong sign, exp(s_t) for exp(-s_t)")
def check_uncertainty_cost(uncertainty_cost):
    """Check ``uncertainty_cost(J_t, s, present) -> (J, ds)``."""
    J_t, s, present = _uncertainty_inputs()
    J_exp, ds_exp = _uncertainty_reference(J_t, s, present)
    w = np.exp(-s)

    def trial():
        J_in, s_in, p_in = J_t.copy(), s.copy(), present.copy()
        out = returned(uncertainty_cost(J_in, s_in, p_in), "uncertainty_cost")
        unchanged("J_t", J_t, J_in)
        unchanged("s", s, s_in)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise Mismatch("uncertainty_cost should return (J, ds): the cost and its gradient in s")
        J, ds = out
        case = "task 2 has no label in the batch: present[2] is False"
        expect_scalar("J", J, J_exp, rtol=1e-10, case=case, mistakes={
            "the sum over every task, the absent one's s_t included (a task with no label has no term)":
                float(np.sum(w * J_t + s)),
            "a sum of exp(s_t) J_t + s_t (the weight is exp(-s_t) = 1/sigma_t^2)":
                float(np.sum(np.where(present, np.exp(s) * J_t + s, 0.0))),
            "the paper's regression form exp(-s_t) J_t / 2 + s_t / 2 (the package's is twice that)":
                float(np.sum(np.where(present, w * J_t / 2 + s / 2, 0.0))),
        })
        expect_array("ds", ds, ds_exp, rtol=1e-10, atol=1e-12, case=case, mistakes={
            "exp(-s_t) J_t - 1: the sign is wrong (d/ds of exp(-s) is -exp(-s))": np.where(present, w * J_t - 1.0, 0.0),
            "1 - exp(-s_t) J_t for every task (an absent task's s_t gets gradient 0)": 1.0 - w * J_t,
            "1 - exp(s_t) J_t (the weight is exp(-s_t))": np.where(present, 1.0 - np.exp(s) * J_t, 0.0),
        })
        return "J and dJ/ds equal UncertaintyWeighting.combine's, the absent task left out"

    return run("uncertainty_cost", trial, f"J = {J_exp:.6f}, ds = {fmt(ds_exp, 6)}")
