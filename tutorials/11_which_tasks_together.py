# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# # 11. Which tasks should be learned together?
#
# **What we are about to do, and why.** The lecture's first condition for multi-task learning is
# that the tasks *could benefit from shared lower-level features*. With four tasks that is a
# question about every way of splitting them into networks: all four in one, two networks of two,
# a pair and two singles, four networks... There are 15 such groupings, and the lecture leaves the
# choice to the reader. Two papers answer it:
#
# * **Exhaustively** (Standley et al. 2020, "Which Tasks Should Be Learned Together in Multi-task
#   Learning?"): train a network on every subset of the tasks (15 for four tasks), score each task
#   in each, then pick the best grouping for the number of networks you can afford. Exact, but the
#   cost grows as $2^T$.
# * **Cheaply** (Fifty et al. 2021, "Efficiently Identifying Task Groupings for Multi-Task
#   Learning"): train *one* network on all the tasks and, now and then, ask how a step taken for
#   task $i$ alone would change task $j$'s loss: the **lookahead inter-task affinity**
#   $Z_{i \to j}$. Tasks that help each other go together.
#
# Four tasks make the exhaustive answer affordable, so we can check the cheap one against it on the
# driving scenes, with '?' labels, at two settings of the scenes' relatedness dial (notebook 6 and
# docs/experiments.md, section 7: at $\rho = 0$ every object is made of its own materials, at
# $\rho = 1$ all four share one vocabulary). We compute one lookahead by hand first, then read the
# stored full run (`docs/figures/affinity.json`), then run the experiment here: with `MTL_FAST=1`
# (the test suite's setting) that run is a **smoke test**, two seeds and a few hundred scenes,
# numbers that show the code runs and nothing more.

# %%
import os

import numpy as np
import matplotlib.pyplot as plt

import mtl_numpy as mtl
from mtl_numpy import experiments
from mtl_numpy.experiments import affinity
from mtl_numpy.models import SharedCNN
from tutorial_utils import stored_run

# The test suite sets MTL_FAST=1: small data and few epochs, so that every notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting the text describes.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")

# %% [markdown]
# ## The math: one lookahead step
#
# Split the parameters of a network with per-task heads (`head_dims`, notebook 10) into the shared
# ones $\theta_{sh}$ (`model.shared`: the conv layers and the shared dense layer) and task $t$'s
# head $\theta_t$. On a mini-batch, task $t$'s masked cost is $J_t$ (only the scenes where its
# label is known count; notebook 2) and its gradient on the shared parameters is
# $g_t = \partial J_t / \partial \theta_{sh}$; `model.task_costs_and_grads(X, Y)` returns every
# $J_t$ and every $g_t$ from one forward pass. The **lookahead** moves only the shared
# parameters, by one plain gradient step for task $i$, and measures task $j$ on the *same* batch:
#
# $$Z_{i \to j} = 1 - \frac{J_j(\theta_{sh} - \eta\, g_i,\ \theta_j)}{J_j(\theta_{sh},\ \theta_j)}.$$
#
# $Z_{i \to j} > 0$: the step for $i$ lowered $j$'s loss (the tasks help each other);
# $Z_{i \to j} < 0$: it raised it. Then the parameters are put back exactly. A first-order Taylor
# expansion, $J_j(\theta_{sh} - \eta g_i) \approx J_j - \eta \langle g_i, g_j \rangle$, gives
#
# $$Z_{i \to j} \approx \frac{\eta\, \langle g_i, g_j \rangle}{J_j},$$
#
# the inner product behind notebook 10's gradient cosines, scaled by $j$'s loss: affinity is
# gradient agreement measured in the currency that matters, task $j$'s loss. It is averaged over
# the training run (every 5th step in the full setting).
#
# **From $Z$ to a grouping** (Fifty et al.): a network trained on group $S$ gives each of its tasks
# $j$ the mean affinity onto it from the others, $\frac{1}{|S|-1} \sum_{i \in S,\, i \ne j}
# Z_{i \to j}$ (0 for a task alone); a grouping's score is the sum over the four tasks, and the
# cheap choice is the highest-scoring grouping with at most $b$ networks.
#
# **The exhaustive choice** (Standley et al., in its simplest form): a grouping is a *partition* of
# the tasks (each task served by the network of its group); its score is the sum of the tasks'
# losses on validation scenes, each read from its group's network; the choice is the lowest with
# at most $b$ networks. Both are then scored on held-out test scenes.
#
# ## One lookahead, by hand
#
# A small CNN with per-task heads, trained for a few steps on scenes with 30 % '?', then one
# lookahead for task $i = 0$ (pedestrian) with nothing but the public API: `task_costs_and_grads`
# for $J_t$ and $g_t$, a step on `model.shared`, the costs again, the parameters copied back.

# %%
data = mtl.datasets.driving_scenes(400 if FAST else 2000, image_size=16, missing=0.3, seed=0, relatedness=1.0)
model = SharedCNN((16, 16, 3), conv_channels=(4, 8), hidden=(16,), n_tasks=4, seed=0,
                  dtype="float64", head_dims=(8,))
print("shared parameters:", model.shared)
print("one head per task: ", [k for k in model.params if k.endswith("_t0")], "...")
affinity.train_with_affinity(model, data.X, data.Y, epochs=2, learning_rate=3e-3, seed=0)

X, Y = data.X[:64], data.Y[:, :64]
eta, i = 3e-3, 0
J, G = model.task_costs_and_grads(X, Y)
saved = {k: model.params[k].copy() for k in model.shared}
for k in model.shared:
    model.params[k] -= eta * G[k][i]          # one step for task i, shared parameters only
J_after, _ = model.task_costs_and_grads(X, Y)
for k in model.shared:
    model.params[k][...] = saved[k]           # put them back exactly
Z_by_hand = 1 - J_after / J
print(f"J_t before the step: {np.round(J, 4)}")
print(f"J_t after a step for {mtl.TASKS[i]}: {np.round(J_after, 4)}")
print(f"Z[{mtl.TASKS[i]} -> j] x 1000 by hand: {np.round(1000 * Z_by_hand, 4)}")

# %% [markdown]
# The check: `affinity.lookahead_affinity` computes every row at once and must agree with the
# hand-made row; the parameters must be exactly what they were; and for a small step $Z$ must be
# the first-order formula above.

# %%
Z = affinity.lookahead_affinity(model, X, Y, learning_rate=eta)
print("Z x 1000 from lookahead_affinity (row i steps, column j measured):\n", np.round(1000 * Z, 4))
print(f"max |hand row - package row| = {np.abs(Z[i] - Z_by_hand).max():.1e}")
print("parameters unchanged after the lookaheads:",
      all(np.array_equal(model.params[k], saved[k]) for k in model.shared))
g = np.stack([np.concatenate([G[k][t].ravel() for k in model.shared]) for t in range(4)])
first_order = eta * (g @ g.T) / J[None, :]
print(f"largest relative gap to eta <g_i, g_j> / J_j: "
      f"{np.abs(Z - first_order).max() / np.abs(first_order).max():.3f}")

# %% [markdown]
# The relative gap is the second-order term: small for a step of $3 \cdot 10^{-3}$. (A step of
# 0.1 would overshoot: on the scenes' CNN even a task's own loss goes up, $Z_{i \to i} < 0$, and
# $Z$ then measures the step size more than the tasks; exercise 1.)
#
# ## The candidates
#
# A budget of $b$ networks allows every partition of the four tasks into at most $b$ groups
# (P = pedestrian, C = car, S = stop sign, L = traffic light; `/` separates networks):

# %%
for b in range(1, 5):
    exactly = [affinity.grouping_label(p) for p in affinity.partitions(range(4)) if len(p) == b]
    print(f"{b} network(s): {len(exactly):>2} partitions  {' '.join(exactly)}")

# %% [markdown]
# Budget 1 has a single candidate (both methods agree by construction); budget 4 allows all 15.
#
# ## The stored full run
#
# Five seeds, $\rho \in \{0, 1\}$, 2,000 training scenes with 30 % '?', 15 networks per seed and
# $\rho$ (conv 8, 16, shared dense 32, a head of 16 units per task, Adam for 10 epochs), the
# lookahead every 5 steps with $\eta = 3 \cdot 10^{-3}$. First the mean affinity matrix, then the
# groupings each method picked (one label per seed) and what they score on the test scenes.

# %%
full = stored_run("affinity")
if full is not None:
    print(affinity.matrix_markdown(full))
    print()
    print(affinity.summary_markdown(full))

# %% [markdown]
# Read the matrix first. A task's step on its own loss, the diagonal, gives between +4.4 and
# +31.7 (× 10⁻³); every entry *between* tasks lies between −0.6 and +0.8, most with a spread over
# seeds as large as the entry. On these scenes a step for one task hardly moves another's loss, at
# either $\rho$.
#
# Then the groupings. Above budget 1 the cheap choice is the exhaustive one in at most 1 of 5
# seeds, and its groupings have the higher test loss at every budget: at budget 4 and $\rho = 0$ by
# 0.129 (95 % interval 0.043 to 0.215), at budgets 3 and 4 and $\rho = 1$ by 0.113 (interval 0.044
# to 0.182); at budget 2 no difference is resolved. Against a partition drawn at random within the
# budget the cheap choice is ahead on average at every budget, but each of those intervals
# includes 0: **no gain over a random pick is resolved**.
#
# What the exhaustive search sees is what the relatedness dial predicts (notebook 6,
# docs/experiments.md section 7): at $\rho = 0$, where each object has its own materials, it
# mostly splits the tasks (one network: test loss 2.447 ± 0.062; the best partition: 2.038 ±
# 0.171), while at $\rho = 1$ the all-task network and the exhaustive choice are within each
# other's spread. The lookahead looks one step ahead on the training batch, and there the tasks
# barely touch; how they compete for a small shared trunk over a whole run, and what that does on
# held-out scenes, is not in it. Five seeds, one architecture, one $\eta$: a result about these
# scenes, not about the method in general (Fifty et al. report groupings competitive with far
# costlier searches on CelebA and Taskonomy). docs/experiments.md, section 8, has the details.
#
# This run (a smoke test with `MTL_FAST=1`), the same tables and the figure: the affinity matrix
# at each $\rho$, and at each budget the test loss of the grouping each method picks beside the
# mean over the candidates (what a random pick would get), with the number of seeds where the two
# methods agree.

# %%
print("this run:", "a smoke test (MTL_FAST=1): too small for conclusions; read the stored full run above"
      if FAST else "the full setting")
result = affinity.run(fast=FAST, progress=not FAST)
print("settings:", result.settings, f"\n({result.seconds:.1f} s)\n")
print(affinity.matrix_markdown(result))
print()
print(affinity.summary_markdown(result))

# %%
fig = experiments.plot(result)

# %% [markdown]
# ## Summary
#
# * The lookahead affinity $Z_{i \to j} = 1 - J_j(\theta_{sh} - \eta g_i) / J_j(\theta_{sh})$ asks,
#   during one training run, how a step for task $i$ moves task $j$'s loss; to first order it is
#   $\eta \langle g_i, g_j \rangle / J_j$, notebook 10's gradient agreement in units of $j$'s loss.
#   It costs one per-task backward pass and $T$ extra forward passes every few steps.
# * The exhaustive search trains $2^T - 1$ networks; with four tasks that is 15, and it gives the
#   answer the cheap estimate should reproduce.
# * On the driving scenes (stored run: 5 seeds, $\rho = 0$ and 1) the cheap choice rarely matched
#   the exhaustive one and scored worse on test scenes at budgets 3 and 4; the cross-task entries
#   of $Z$ were tiny beside a task's effect on itself. Check an affinity estimate against the
#   exhaustive search where you can afford it, and read both against their spread over seeds.
#
# ## Exercises
#
# 1. Repeat the hand-made lookahead with $\eta = 10^{-3}$, $10^{-2}$, $3 \cdot 10^{-2}$ and
#    $10^{-1}$. Up to which step size is $Z$ proportional to $\eta$? Does the ranking of the
#    off-diagonal entries change?
# 2. Score groupings by the *cosines* of `mtl.gradient_conflict` instead of $Z$ (replace $Z$ by the
#    cosine matrix in `affinity.affinity_score`). Does it pick the same groups as $Z$ on the stored
#    run's seeds?
# 3. Standley et al. also let a task be served by the best of *several* chosen networks (a network
#    may be trained on a task without being the one that serves it). Write that selection from the
#    subset rows (`subset_<S>`, metric `val_loss`) and compare its picks with the partitions' at
#    budgets 2 and 3.
#
# The full runs are written up in [docs/experiments.md](../docs/experiments.md) (section 8); the
# [README](README.md) lists every tutorial.
