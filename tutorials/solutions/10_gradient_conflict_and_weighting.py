# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10. Gradient conflict and loss weighting
#
# **What we are about to do, and why.** The lecture trains one network on the plain sum of the
# tasks' costs, $J = \sum_t J_t$, so every shared weight moves along $\sum_t g_t$, the sum of the
# tasks' gradients $g_t = \partial J_t / \partial \theta_{\text{shared}}$. When two tasks' gradients
# point in opposite directions (a negative cosine), a step that helps one undoes part of what the
# other wanted: one candidate explanation of why sharing sometimes hurts (notebook 6's negative
# transfer). Since the lecture, many methods have been proposed to change that sum: **weight the
# costs** ($\sum_t w_t J_t$, with fixed, learned or adaptive $w_t$) or **combine the gradients**
# differently (PCGrad, MGDA, CAGrad).
#
# First we *see* the conflict: every task's gradient on driving scenes with 30 % '?'
# (`model.task_costs_and_grads`), their cosine matrix (`mtl.gradient_conflict`), and how it evolves
# over training (`fit(..., track_conflict=k)`). Then you write four pieces by hand, in graded
# exercises: the cosine itself, PCGrad's projection, MGDA's two-task weight, and the
# uncertainty-weighted cost with its gradient. Last, we train a small CNN with several methods
# and look at what each one did: to the per-task held-out accuracy and to the weights it gave
# the tasks.
#
# Previous: [notebook 9](09_making_it_fast.ipynb). The [README](../README.md) lists every tutorial;
# the stored benchmark of every method is in [benchmarks/RESULTS.md](../benchmarks/RESULTS.md), the
# experiments in [docs/experiments.md](../docs/experiments.md).

# %%
import os
import re
from pathlib import Path

import numpy as np
import matplotlib.pyplot as plt
from tqdm.auto import tqdm

import mtl_numpy as mtl
from mtl_numpy import exercises  # the checks of this notebook's exercises
from mtl_numpy.plotting import plot_gradient_conflict

# The test suite sets MTL_FAST=1: small data, one seed, two epochs, so that the notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")

# %% [markdown]
# ## The data and a model with per-task heads
#
# 16×16 driving scenes, 30 % of the labels '?'. The held-out scenes are scored against their full
# truth `Y_true`. The model is a small `SharedCNN` whose trunk (two conv layers and one dense
# layer) is shared and whose tasks each have their own dense ReLU layer of 16 units and output unit
# (`head_dims=(16,)`): `model.shared` names the shared parameters, the others belong to one task.

# %%
m_train, m_test = (600, 400) if FAST else (4000, 2000)
data = mtl.datasets.driving_scenes(m_train + m_test, image_size=16, missing=0.3, seed=0)
train, test = data.split(m_test)
tasks = train.tasks
print(train, test, sep="\n")


def make_model(seed=0):
    return mtl.SharedCNN((16, 16, 3), conv_channels=(8, 16), hidden=(32,), head_dims=(16,), seed=seed)


model = make_model()
print("shared parameters:", model.shared)
print("task-specific parameters:", sorted(set(model.params) - set(model.shared)))

# %% [markdown]
# ## Every task's gradient, in one call
#
# `J_t, G = model.task_costs_and_grads(X, Y)` returns each task's masked cost `J_t` (shape
# `(n_tasks,)`) and, for every parameter, each task's gradient: `G[name]` has shape
# `(n_tasks, *param.shape)`, row `t` being $\partial J_t / \partial$ `name`. One forward pass; the
# backward through the shared trunk is linear in `dZL`, so it runs once for the four stacked
# upstream gradients. A '?' contributes nothing to any of them. With the model's default
# `normalize="examples"` the rows add up to the ordinary gradient of the summed cost, which we
# check (to float32 rounding: the model computes in float32). A head's gradient is non-zero only in its own task's row.

# %%
X, Y = train.X[:256], train.Y[:, :256]
J_t, G = model.task_costs_and_grads(X, Y)
J, grads = model.cost_and_grads(X, Y)
print("J_t:", np.round(J_t, 4), "  sum:", round(float(J_t.sum()), 6), "  cost_and_grads' J:", round(float(J), 6))
print("G['W1'].shape:", G["W1"].shape, "  G['W4_t0'].shape:", G["W4_t0"].shape)
# The model computes in float32 (its default dtype): compare to float32 rounding, not to 1e-12.
worst = max(float(np.abs(G[k].sum(axis=0) - grads["d" + k]).max() / np.abs(grads["d" + k]).max()) for k in G)
print(f"rows of G add up to cost_and_grads' gradient: largest difference {worst:.1e} of the largest entry "
      f"({model.params['W1'].dtype}; {'equal to rounding' if worst < 1e-5 else 'NOT equal'})")
print("rows of G['W4_t0'] with a non-zero entry (task pedestrian's head):",
      [t for t in range(4) if np.any(G["W4_t0"][t] != 0)])

# %% [markdown]
# ## Exercise 1: the cosine between two tasks' gradients
#
# Two tasks *conflict* on the shared weights when their gradients point in opposite directions.
# The cosine measures it, over all the shared parameters at once (flattened and concatenated into
# one vector $g_t$ per task):
#
# $$\cos(g_i, g_j) = \frac{g_i \cdot g_j}{\lVert g_i \rVert\, \lVert g_j \rVert}.$$
#
# Complete `gradient_cosine(G, shared, i, j)`: take only the names in `shared` (a head's gradient
# is zero for every other task and would only pull the cosine towards 0), flatten task `i`'s and
# task `j`'s rows and concatenate them, then the formula. Complete the function between
# `### START CODE HERE ###` and `### END CODE HERE ###`, run it, then the check under it (✓, or
# what is wrong and the expected output; "not done yet" before you start). Answers:
# [solutions/10_gradient_conflict_and_weighting.py](solutions/10_gradient_conflict_and_weighting.py).
#
# <details><summary>Hint</summary>
#
# `g_i = np.concatenate([G[name][i].ravel() for name in shared])`, the same for `g_j`; then
# `g_i @ g_j / (np.linalg.norm(g_i) * np.linalg.norm(g_j))`.
# </details>

# %%
def gradient_cosine(G, shared, i, j):
    """cos(g_i, g_j) of tasks i and j's gradients over the shared parameters (a float)."""
    ### START CODE HERE ### (≈ 3 lines)
    ### BEGIN SOLUTION
    g_i = np.concatenate([G[name][i].ravel() for name in shared])
    g_j = np.concatenate([G[name][j].ravel() for name in shared])
    cosine = g_i @ g_j / (np.linalg.norm(g_i) * np.linalg.norm(g_j))
    ### END SOLUTION
    ### END CODE HERE ###
    return cosine


# %%
exercises.check_gradient_cosine(gradient_cosine)

# %% [markdown]
# ## The conflict on one batch: `gradient_conflict`
#
# `mtl.gradient_conflict(model, X, Y)` computes the cosine of every pair of tasks from the Gram
# matrix $K_{ij} = g_i \cdot g_j$ (so the large gradient arrays are read once), over all the
# shared parameters and layer by layer (`W1` and `b1` form layer 1), and each task's gradient norm
# over the mean norm. A negative entry is a pair of tasks pulling the shared weights apart on this
# batch; a norm ratio far from 1 is a task whose gradient dominates the sum (or is drowned in it).
# Here is our untrained model on the 256 scenes above:

# %%
conflict = mtl.gradient_conflict(model, X, Y)
print(conflict)
print("\nconflicting pairs (cosine < 0):", [(a, b, round(c, 3)) for a, b, c in conflict.conflicting_pairs()])

# %% [markdown]
# One batch is one sample: the cosines move from batch to batch and as the weights change. And a
# batch can miss a task's labels entirely (with 30 % '?' and small batches it happens): that task
# is then *absent*, its gradient is zero, and it is left out of every cosine and mean instead of
# producing a NaN. Here is a batch of 8 scenes in which we hide every stop-sign label:

# %%
Y_small = Y[:, :8].copy()
Y_small[tasks.index("stop_sign")] = np.nan
small = mtl.gradient_conflict(model, X[:8], Y_small)
print("present:", dict(zip(tasks, small.present.tolist())))
print("stop_sign's row of the cosine matrix:", small.cosine[tasks.index("stop_sign")])
print("mean pairwise cosine over the 3 present tasks:", round(small.mean_cosine, 3))

# %% [markdown]
# ## The conflict over training
#
# `mtl.fit(..., track_conflict=k)` records `gradient_conflict` on the step's mini-batch every `k`
# steps (in `history.conflict`), and `plot_gradient_conflict` draws the cosine of every pair of
# tasks against the step, over all the shared parameters and per layer. We train the lecture's
# `"equal"` weighting (the plain sum) for a few epochs. Each tracked point is one mini-batch of 64
# scenes, so expect noise; read the plot for its level and its trend, not for single points.

# %%
epochs = 2 if FAST else 8
track_every = 5 if FAST else 10
model = make_model()
history = mtl.fit(model, train.X, train.Y, optimizer=mtl.Adam(2e-3), epochs=epochs, batch_size=64,
                  progress=not FAST, tasks=tasks, track_conflict=track_every)
fig = plot_gradient_conflict(history)
records = history.conflict
mean_cos = np.array([r["mean_cosine"] for r in records])
n_pairs_negative = [sum(1 for i in range(4) for j in range(i + 1, 4) if np.array(r["cosine"])[i, j] < 0)
                    for r in records]
print(f"{len(records)} tracked steps; mean pairwise cosine: first {mean_cos[0]:+.3f}, last {mean_cos[-1]:+.3f}, "
      f"range [{mean_cos.min():+.3f}, {mean_cos.max():+.3f}]")
print("pairs of tasks (of 6) with a negative cosine at each tracked step:", n_pairs_negative)
print("tracked steps with a negative cosine, per pair (of the steps where both tasks had labels):")
for i in range(4):
    for j in range(i + 1, 4):
        both = [r for r in records if r["present"][i] and r["present"][j]]
        negative = sum(1 for r in both if r["cosine"][i][j] < 0)
        print(f"  {tasks[i]:>13} / {tasks[j]:<13} {negative:>3} of {len(both)}")

# %% [markdown]
# Read the printout and the figure above together. A mean cosine near zero with some negative
# pairs means gradients close to orthogonal, with some pairs of tasks conflicting on some
# batches; a pair negative at nearly every tracked step would be a persistent conflict (the
# printed counts per pair say which come closest). One run on one seed shows this only as far
# as the noise between tracked batches allows. The per-layer panels show where in the trunk the
# tasks disagree. What a method should do about it is the question of the rest of the notebook.
#
# ## What the methods do: loss weighting and gradient combination
#
# Every method in `mtl.weighting` reduces, on the shared parameters, to a weight $\lambda_t$ per
# task and the step direction $d = \sum_t \lambda_t g_t$ (`history.task_weights` records the
# $\lambda_t$ of every step; 0 for a task with no label in the batch):
#
# * **loss weighting** trains on $\sum_t w_t J_t$: `"equal"` ($w_t = 1$, the lecture),
#   `"per_task"` (each task's cost over its own labelled count), `"uncertainty"` (learned
#   $w_t = e^{-s_t}$, Kendall et al. 2018, exercise 4), `"dwa"` (weights from how fast each cost
#   fell over the last epochs, Liu et al. 2019), `"gradnorm"` (learned weights that equalise the
#   tasks' gradient norms at a layer, Chen et al. 2018);
# * **gradient combination** replaces $\sum_t g_t$ on the shared parameters: `"pcgrad"` removes
#   from each $g_i$ its component against any $g_j$ it conflicts with (Yu et al. 2020, exercise
#   2), `"mgda"` takes the point of smallest norm in the convex hull of the $g_t$ (Sener &
#   Koltun 2018, exercise 3), `"cagrad"` the direction that best improves the worst task near the
#   average gradient (Liu et al. 2021). The heads keep their own task's gradient.
#
# ### Exercise 2: PCGrad's projection
#
# If $g_i \cdot g_j < 0$, PCGrad replaces $g_i$ by its projection onto the normal plane of $g_j$:
#
# $$g_i^{PC} = g_i - \frac{g_i \cdot g_j}{\lVert g_j \rVert^2}\, g_j \qquad\text{(then } g_i^{PC}
# \cdot g_j = 0\text{)},$$
#
# and leaves $g_i$ alone otherwise. Complete `pcgrad_project(g_i, g_j)` for 1-D gradients (the
# shared parameters flattened). The check also adds `pcgrad_project(g1, g2)` and
# `pcgrad_project(g2, g1)`, which for two tasks is PCGrad's whole step direction, and compares it
# with the package's.
#
# <details><summary>Hint</summary>
#
# `dot = g_i @ g_j`; if `dot < 0`: `g_i_pc = g_i - dot / (g_j @ g_j) * g_j`, else `g_i_pc = g_i.copy()`.
# </details>

# %%
def pcgrad_project(g_i, g_j):
    """g_i with its component along g_j removed when the two conflict (g_i . g_j < 0), else g_i."""
    ### START CODE HERE ### (≈ 4 lines)
    ### BEGIN SOLUTION
    dot = g_i @ g_j
    if dot < 0:
        g_i_pc = g_i - dot / (g_j @ g_j) * g_j
    else:
        g_i_pc = g_i.copy()
    ### END SOLUTION
    ### END CODE HERE ###
    return g_i_pc


# %%
exercises.check_pcgrad_project(pcgrad_project)

# %% [markdown]
# With more than two tasks PCGrad projects each $g_i$ on the normal planes of the others in
# random order. The package never builds the projected vectors: each projection subtracts a
# multiple of some $g_j$, so $g_i^{PC} = \sum_j c_{ij} g_j$, and all the dot products it needs are
# entries of the small Gram matrix $K$; the algorithm runs on the coefficients $c_{ij}$, and the
# step is one weighted sum of the task gradients. Your loop body is the `if dot < 0` line:

# %%
exercises.show_source(mtl.weighting.pcgrad_weights)

# %% [markdown]
# ### Exercise 3: MGDA's weight for two tasks
#
# MGDA looks for the point of smallest norm on the segment between two tasks' gradients,
# $\gamma g_1 + (1-\gamma) g_2$ with $\gamma \in [0, 1]$: if it is not zero, stepping against it
# lowers both costs at once (for a small enough step). Setting the derivative of
# $\lVert \gamma g_1 + (1-\gamma) g_2 \rVert^2$ in $\gamma$ to zero and staying on the segment gives
# (Sener & Koltun 2018, Algorithm 1)
#
# $$\gamma^* = \operatorname{clip}\!\left(\frac{(g_2 - g_1) \cdot g_2}{\lVert g_1 - g_2 \rVert^2},\ 0,\ 1\right).$$
#
# Complete `mgda_two_tasks(g1, g2)`. (The check's pairs never have $g_1 = g_2$, where the
# denominator is 0; the package returns 0 then.)
#
# <details><summary>Hint</summary>
#
# `diff = g1 - g2`; `gamma = (g2 - g1) @ g2 / (diff @ diff)`; `gamma = float(np.clip(gamma, 0.0, 1.0))`.
# </details>

# %%
def mgda_two_tasks(g1, g2):
    """gamma* in [0, 1] of the min-norm point gamma g1 + (1 - gamma) g2."""
    ### START CODE HERE ### (≈ 3 lines)
    ### BEGIN SOLUTION
    diff = g1 - g2
    gamma = (g2 - g1) @ g2 / (diff @ diff)
    gamma = float(np.clip(gamma, 0.0, 1.0))
    ### END SOLUTION
    ### END CODE HERE ###
    return gamma


# %%
exercises.check_mgda_two_tasks(mgda_two_tasks)

# %% [markdown]
# The package's version takes the three dot products (entries of $K$) rather than the vectors.
# For more than two tasks there is no closed form: `min_norm_weights` runs Frank–Wolfe on the
# simplex, and each of its line searches is exactly this two-point problem. On the four tasks'
# gradients from the start of the notebook (`G`, untrained model), the min-norm weights and the
# norm of the resulting direction against the norm of the plain sum:

# %%
exercises.show_source(mtl.weighting.two_task_min_norm)
K = mtl.diagnostics.gram_matrices(G, model.shared)
K = sum(K.values())
lam = mtl.weighting.min_norm_weights(K)
print("\nMGDA's weights on the untrained model's batch:", {t: round(float(w), 3) for t, w in zip(tasks, lam)})
print(f"||sum_t lambda_t g_t|| = {np.sqrt(lam @ K @ lam):.4g}   ||sum_t g_t|| = {np.sqrt(K.sum()):.4g}")

# %% [markdown]
# MGDA's direction is short when the hull of the gradients comes close to 0, and its weights go
# to the tasks whose gradients are small or at odds with the others: it protects the task that
# is losing, which can cost the others.
#
# ### Exercise 4: the uncertainty-weighted cost and its gradient
#
# Kendall et al. (2018) give each task a learned $s_t = \log \sigma_t^2$ and train on
#
# $$J = \sum_{t \in P} e^{-s_t} J_t + s_t, \qquad \frac{\partial J}{\partial s_t} = 1 - e^{-s_t} J_t
# \quad (t \in P), \qquad \frac{\partial J}{\partial s_t} = 0 \quad (t \notin P),$$
#
# where $P$ is the set of tasks with at least one label in the batch (an absent task has no term:
# with $+s_t$ alone its $s_t$ would be pushed down for nothing). A task with a large cost gets a
# large $s_t$ and a small weight $e^{-s_t}$; the $+s_t$ stops every $s_t$ from growing without
# bound. For fixed costs the optimum is $e^{s_t} = J_t$. Complete `uncertainty_cost(J_t, s, present)`,
# returning `(J, ds)` (`present` is a boolean array).
#
# <details><summary>Hint</summary>
#
# `w = np.exp(-s)`; `J = np.sum(np.where(present, w * J_t + s, 0.0))`;
# `ds = np.where(present, 1.0 - w * J_t, 0.0)`.
# </details>

# %%
def uncertainty_cost(J_t, s, present):
    """Uncertainty-weighted cost J (a float) and dJ/ds (shape (n_tasks,)); absent tasks left out."""
    ### START CODE HERE ### (≈ 3 lines)
    ### BEGIN SOLUTION
    w = np.exp(-s)
    J = float(np.sum(np.where(present, w * J_t + s, 0.0)))
    ds = np.where(present, 1.0 - w * J_t, 0.0)
    ### END SOLUTION
    ### END CODE HERE ###
    return J, ds


# %%
exercises.check_uncertainty_cost(uncertainty_cost)

# %% [markdown]
# In the package the same three lines sit in `UncertaintyWeighting.task_weights`; `fit` then hands
# `ds` (as `grads["dlog_var"]`) to the same Adam that updates the network, and the shared
# parameters get $\sum_t e^{-s_t} g_t$:

# %%
exercises.show_source(mtl.weighting.UncertaintyWeighting.task_weights)

# %% [markdown]
# ## What each method does on driving scenes
#
# **The stored full run first.** `benchmarks/weighting_scenes.py` trained this notebook's CNN
# with every method on 4000 scenes for 8 epochs, three seeds each (same data, initial weights and
# batch order for every method), and scored 2000 held-out scenes against their full truth. Its
# table and reading, from [benchmarks/RESULTS.md](../benchmarks/RESULTS.md):

# %%
results = Path("..") / "benchmarks" / "RESULTS.md"
section = results.read_text(encoding="utf-8").split("### Every method on driving scenes with 30 % '?'")[1]
section = re.split(r"\n#{2,3} ", section)[0]
print(section.strip())

# %% [markdown]
# Read against its spread: with three seeds, the stored run resolves **no difference** in mean
# held-out accuracy between any method and `"equal"`. What differs is where each method puts its
# weight, visible in the "mean weights" column: MGDA gives most of it to pedestrian, the hardest
# task, and its pedestrian accuracy is the highest in the table while its stop-sign and
# traffic-light accuracies are the lowest; per-task, uncertainty and DWA stay close to `"equal"`
# on every task.
#
# **This run.** Now a few of the methods, trained here, from the same initial weights in the
# same batch order. In the fast setting (one seed, two epochs, 600 scenes) this is a smoke test
# that the methods run and what their weights look like: with one seed nothing can be resolved,
# and accuracies after two epochs sit near the base rates. Run the full setting (three seeds, the
# stored run's settings) to compare; it takes a few minutes.

# %%
methods = ["equal", "uncertainty", "pcgrad", "mgda"]
if not FAST:
    methods += ["dwa", "cagrad"]
seeds = [0] if FAST else [0, 1, 2]
accuracy, weights = {}, {}
bar = tqdm(total=len(methods) * len(seeds), desc="training runs", unit="run", disable=FAST)
for method in methods:
    for seed in seeds:
        net = make_model(seed)
        h = mtl.fit(net, train.X, train.Y, optimizer=mtl.Adam(2e-3), epochs=epochs, batch_size=64,
                    seed=seed, progress=False, tasks=tasks, weighting=method)
        metrics = mtl.task_metrics(test.Y_true, mtl.to_numpy(mtl.predict_proba_batched(net, test.X)), tasks=tasks)
        accuracy.setdefault(method, []).append([metrics[t]["accuracy"] for t in tasks])
        weights.setdefault(method, []).append(np.mean(h.task_weights, axis=0) if h.task_weights else np.ones(4))
        bar.update()
bar.close()

print(f"held-out accuracy against the full truth ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
      f"{', mean ± sd' if len(seeds) > 1 else ''}), and the mean task weights lambda_t on the shared parameters")
print(f"{'method':<12}" + "".join(f"{t:>16}" for t in tasks) + f"{'mean':>16}   weights")
for method in methods:
    acc = np.array(accuracy[method])
    acc = np.column_stack([acc, acc.mean(axis=1)])
    cells = "".join(f"{a:>8.3f} ± {s:.3f}" if len(seeds) > 1 else f"{a:>16.3f}"
                    for a, s in zip(acc.mean(axis=0), acc.std(axis=0, ddof=1) if len(seeds) > 1 else acc[0]))
    print(f"{method:<12}{cells}   {'/'.join(f'{w:.2f}' for w in np.mean(weights[method], axis=0))}")

# %% [markdown]
# And the comparison with `"equal"`, task by task, paired by seed (same data, same initial
# weights): a difference counts as resolved only when the 95 % confidence interval of the mean
# paired difference (Student's $t$ with $n - 1$ degrees of freedom) leaves out 0. That needs at
# least three seeds, and with three a difference more than 4.3 times its standard error. Among
# the full setting's 4 tasks × 5 methods = 20 such comparisons, about one "resolved" is expected
# by chance alone: read a single one with care.

# %%
# Two-sided 95 % quantiles of Student's t by degrees of freedom (n_seeds - 1); beyond 9, df = 10's
# (a little larger than the true quantile: errs towards "not resolved").
T_95 = {2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
base = np.array(accuracy["equal"])
if len(seeds) >= 3:
    print(f"held-out accuracy minus equal's, per task: the mean paired difference ± its standard error "
          f"over {len(seeds)} seeds, and the verdict at 95 %")
for method in methods[1:]:
    diff = np.array(accuracy[method]) - base                 # (seeds, tasks), paired by seed
    if len(seeds) < 3:
        print(f"{method:<12} minus equal: " + ", ".join(f"{t} {d:+.3f}" for t, d in zip(tasks, diff.mean(axis=0)))
              + f"; no difference resolved ({len(seeds)} seed(s): too few to read a spread)")
        continue
    se = diff.std(axis=0, ddof=1) / np.sqrt(len(seeds))
    t_95 = T_95.get(len(seeds) - 1, 2.228)                      # two-sided 95 % Student's t quantile
    words = [("helps" if d > 0 else "hurts") if abs(d) > t_95 * e else "no difference resolved"
             for d, e in zip(diff.mean(axis=0), se)]
    print(f"{method:<12} minus equal: " + ", ".join(f"{t} {d:+.3f} ± {e:.3f} ({w})"
                                                    for t, d, e, w in zip(tasks, diff.mean(axis=0), se, words)))

# %% [markdown]
# The weights are where the methods differ most plainly: `"equal"` is 1 for every task by
# definition; uncertainty weighting's $e^{-s_t}$ grows for the tasks whose cost falls; PCGrad's
# $\lambda_t$ exceed 1 where projections added a share of a task's gradient back; MGDA's sum to 1
# (a convex combination) and lean towards the task whose gradient is smallest or most at odds with
# the rest. Whether that shift buys accuracy on one task at the price of another is what the
# stored run's three seeds can, and mostly cannot, tell.
#
# ## Summary
#
# * `model.task_costs_and_grads` gives every task's gradient in one forward and one backward;
#   their cosines over the shared parameters (`gradient_conflict`, and your `gradient_cosine`)
#   show which tasks pull the trunk apart, on one batch or over training (`track_conflict`).
# * Every method in `mtl.weighting` ends as task weights $\lambda_t$ on the shared parameters:
#   fixed, learned (uncertainty: $e^{-s_t}$ with $\partial J/\partial s_t = 1 - e^{-s_t} J_t$),
#   adaptive, or computed from the Gram matrix of the gradients (PCGrad's projections, MGDA's
#   min-norm point). A task with no label in the batch gets weight 0, never a NaN.
# * On these scenes, the stored run over three seeds resolves no difference in mean accuracy
#   between the methods; they differ in how they share the weight among the tasks.
#
# ## More exercises (not graded)
#
# 1. Train with `weighting=mtl.weighting.CAGrad(c=0.0)` and with `c=0.8`, `track_conflict=10`.
#    What do the weights do as `c` grows, and what is CAGrad with `c = 0`?
# 2. Use `gradient_conflict(..., by="parameter")` on a trained model: do the weights `W` and the
#    biases `b` of a layer conflict alike?
# 3. Hide 90 % of the pedestrian labels (`mtl.datasets.driving_scenes(..., missing=...)` then set
#    more of `Y[0]` to nan) and train `"equal"` and `"per_task"`: which weights change, and why does
#    `"per_task"` care about the labelled count?
#
# Next: [notebook 11](11_which_tasks_together.ipynb) asks which tasks to learn together. The
# project's [README](../README.md) lists every tutorial.
