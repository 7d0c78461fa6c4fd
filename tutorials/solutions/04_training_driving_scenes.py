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
# # 4. Training on driving scenes
#
# **What we are about to do, and why.** Notebooks 1-3 built every piece: the label matrix with its
# '?', the masked cost, a shared network whose gradients we trust. Now we train it the way the
# course trains networks, with mini-batches and Adam (you write both, in graded exercises), on thousands of synthetic street scenes, and
# look at the result task by task, as the lecture asks: one network, four questions, how well is
# each one answered? We watch learning curves per task, measure per-task precision and recall,
# look at scenes with their predicted and true labels, and at the scenes the model gets most
# wrong.

# %%
import os

import numpy as np
import matplotlib.pyplot as plt

import mtl_numpy as mtl
from mtl_numpy import exercises  # the checks of this notebook's exercises
from mtl_numpy.plotting import plot_learning_curves, plot_scenes

# The test suite sets MTL_FAST=1: small data and few epochs, so that every notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting the text describes.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")

# %% [markdown]
# ## The data: train, validation and test scenes
#
# 30% of the labels are '?', in every split. The test scenes also come with their full truth
# `Y_true`, which a real data set would not have; we use it only to evaluate.

# %%
m_train, m_val, m_test = (800, 200, 200) if FAST else (12000, 1000, 1000)
epochs = 2 if FAST else 20
data = mtl.datasets.driving_scenes(m_train + m_val + m_test, image_size=32, missing=0.3, seed=0)
rest, test = data.split(m_test)
train, val = rest.split(m_val)
X_train, X_val, X_test = train.flat(), val.flat(), test.flat()     # (3072, m) columns for the MLP
print(train, val, test, sep="\n")

# %% [markdown]
# ## The math: mini-batches and Adam
#
# **Mini-batches.** Each epoch shuffles the $m$ columns of $(X, Y)$ with the same permutation and
# cuts them into batches of `batch_size` columns; the last batch holds the $m \bmod$ `batch_size`
# leftovers. One gradient step per batch. A '?' travels with its column and stays masked inside
# whichever batch it lands in (with `normalize="examples"` the batch's $1/m$ is its own number of
# columns).
#
# **Adam** (the course's version, with bias correction), for every parameter $W$ at step $t$:
#
# $$v := \beta_1 v + (1-\beta_1)\,dW, \qquad s := \beta_2 s + (1-\beta_2)\,dW^2,$$
# $$\hat v = \frac{v}{1-\beta_1^t}, \qquad \hat s = \frac{s}{1-\beta_2^t}, \qquad
# W := W - \alpha\,\frac{\hat v}{\sqrt{\hat s} + \varepsilon},$$
#
# with $\beta_1 = 0.9$, $\beta_2 = 0.999$, $\varepsilon = 10^{-8}$ and a learning rate $\alpha$ of
# the order of $10^{-3}$.
#
# Both are yours to write first. Complete each function between `### START CODE HERE ###` and
# `### END CODE HERE ###`, run it, then the check under it (✓, or what is wrong and the expected
# output; "not done yet" before you start). Hints are folded under each exercise; the answers are
# in [solutions/04_training_driving_scenes.py](solutions/04_training_driving_scenes.py).
#
# ### Exercise 1: mini-batches
#
# Shuffle the columns of `X` and `Y` with **one** permutation (a '?' must stay with its example),
# then cut them into batches of `batch_size` columns, the last one holding the leftovers.
#
# <details><summary>Hint</summary>
#
# `permutation = rng.permutation(m)`; `X_shuffled, Y_shuffled = X[:, permutation], Y[:, permutation]`;
# then `[(X_shuffled[:, k:k + batch_size], Y_shuffled[:, k:k + batch_size]) for k in range(0, m, batch_size)]`.
# </details>

# %%
def random_mini_batches(X, Y, batch_size=64, seed=0):
    """X (n_x, m), Y (n_tasks, m) -> [(X_batch, Y_batch), ...], shuffled together, in batch_size columns."""
    rng = np.random.default_rng(seed)
    m = X.shape[1]
    ### START CODE HERE ### (≈ 3 lines)
    ### BEGIN SOLUTION
    permutation = rng.permutation(m)
    X_shuffled, Y_shuffled = X[:, permutation], Y[:, permutation]
    batches = [(X_shuffled[:, k:k + batch_size], Y_shuffled[:, k:k + batch_size]) for k in range(0, m, batch_size)]
    ### END SOLUTION
    ### END CODE HERE ###
    return batches


# %%
exercises.check_random_mini_batches(random_mini_batches)

# %% [markdown]
# The package's version, the shuffle-and-cut step `mtl.fit` uses, differs in one way: it returns
# the *indices* of each batch, not copies of the data, so the same code serves a column matrix
# `X (n_x, m)` and images `X (m, n_H, n_W, n_C)`, and `fit` takes each batch's examples from the
# (possibly GPU-resident) arrays only when it needs them. On 10 examples and batches of 4:

# %%
exercises.show_source(mtl.training.random_mini_batches)
batches = mtl.training.random_mini_batches(10, 4, np.random.default_rng(0))
print("batches:", [b.tolist() for b in batches])
print("every example exactly once:", np.array_equal(np.sort(np.concatenate(batches)), np.arange(10)))
print("batches per epoch on the training set:", len(mtl.training.random_mini_batches(m_train, 64, np.random.default_rng(0))))

# %% [markdown]
# ### Exercise 2: one Adam step by hand
#
# Update every parameter with the formulas above, bias correction included. `v` and `s` are dicts
# keyed like the gradients (`"dW1"`, `"db1"`), zero before the first step; `t` counts the steps
# from 1.
#
# <details><summary>Hint</summary>
#
# For each `key` (with `d = "d" + key`): `v[d] = beta1 * v[d] + (1 - beta1) * grads[d]`, the same for
# `s` with `grads[d] ** 2` and `beta2`; `v_hat = v[d] / (1 - beta1 ** t)`,
# `s_hat = s[d] / (1 - beta2 ** t)`; then
# `params[key] = params[key] - learning_rate * v_hat / (np.sqrt(s_hat) + epsilon)`.
# </details>

# %%
def adam_step(params, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """One Adam update of every parameter; returns (params, v, s)."""
    for key in params:
        d = "d" + key
        ### START CODE HERE ### (≈ 5 lines)
        ### BEGIN SOLUTION
        v[d] = beta1 * v[d] + (1 - beta1) * grads[d]
        s[d] = beta2 * s[d] + (1 - beta2) * grads[d] ** 2
        v_hat = v[d] / (1 - beta1 ** t)             # bias correction: v and s start at 0
        s_hat = s[d] / (1 - beta2 ** t)
        params[key] = params[key] - learning_rate * v_hat / (np.sqrt(s_hat) + epsilon)
        ### END SOLUTION
        ### END CODE HERE ###
    return params, v, s


# %%
exercises.check_adam_step(adam_step)

# %% [markdown]
# The check runs three steps of your function beside `mtl.Adam` on the same gradients. Here is the
# package's Adam. It computes the same update in a different order: it folds both bias corrections
# into the step size and $\varepsilon$ (algebraically equal:
# $\alpha \hat v / (\sqrt{\hat s} + \varepsilon) = \alpha_t v / (\sqrt{s} + \varepsilon_t)$ with
# $\alpha_t = \alpha \sqrt{1-\beta_2^t} / (1-\beta_1^t)$, $\varepsilon_t = \varepsilon \sqrt{1-\beta_2^t}$),
# keeps $t$, $v$ and $s$ inside the optimizer, and updates the parameters in place with reused
# scratch arrays, because a model's `params` are live and a fresh array per operation costs time.

# %%
exercises.show_source(mtl.Adam)

# ## Training
#
# The `SharedMLP` of notebook 3, wider: $3072 \to 256 \to 128 \to 4$. `mtl.fit` runs the loop above
# (forward, masked cost, backward, Adam step, per batch) and after every epoch evaluates the cost
# and the per-task metrics on the validation scenes.

# %%
model = mtl.SharedMLP([X_train.shape[0], 256, 128, 4], seed=0)
optimizer = mtl.Adam(learning_rate=1e-3)
print(model, "|", model.n_parameters, "parameters |", optimizer)
history = mtl.fit(model, X_train, train.Y, optimizer=optimizer, epochs=epochs, batch_size=64,
                  validation=(X_val, val.Y), seed=0, progress=not FAST, tasks=train.tasks)
print(f"{history.epochs} epochs in {sum(history.seconds):.1f} s")
for e in range(history.epochs):
    print(f"epoch {e + 1:>2}: train cost {history.train_cost[e]:.4f}   validation cost {history.val_cost[e]:.4f}")

# %% [markdown]
# ## Learning curves, per task
#
# Left: the masked cost on the training batches and on the validation scenes. Right: the
# validation accuracy of each task after every epoch.

# %%
fig = plot_learning_curves(history)

# %% [markdown]
# How to read them: a training cost that keeps falling while the validation cost stops falling (or
# rises) is the course's *high variance*: the network is fitting the training scenes rather than
# learning what a pedestrian looks like. A validation cost still falling at the last epoch says
# instead that training stopped early. Which of the two this run shows is printed below (the epoch
# with the lowest validation cost); the right panel shows that the tasks do not learn at the same
# speed.

# %%
best = int(np.argmin(history.val_cost))
print(f"lowest validation cost {history.val_cost[best]:.4f} after epoch {best + 1} of {history.epochs}")
for task in history.tasks:
    curve = history.metric_curve(task, "average_precision")
    print(f"  {task:<14} validation average precision: first epoch {curve[0]:.3f}, last {curve[-1]:.3f}")

# %% [markdown]
# ## Per-task precision and recall
#
# For each task, on the test scenes, counting only the examples whose label is known:
#
# $$\text{precision}_j = \frac{TP_j}{TP_j + FP_j}, \qquad \text{recall}_j = \frac{TP_j}{TP_j + FN_j},
# \qquad F_1 = \frac{2PR}{P+R},$$
#
# with a prediction of "yes" where $\hat y_j > 0.5$. Average precision (AP) summarises the
# precision-recall curve over all thresholds (0.5 for a random guess on these balanced tasks).
# `mtl.task_metrics` computes them against the labels we have (with '?') and, since this data is
# synthetic, against the full truth as well.

# %%
AL_test = model.predict_proba(X_test)
metrics_known = mtl.task_metrics(test.Y, AL_test, tasks=test.tasks)
metrics_truth = mtl.task_metrics(test.Y_true, AL_test, tasks=test.tasks)
print(mtl.format_metrics_table(metrics_known, title="test scenes, labels with '?' (what you could measure)"))
print()
print(mtl.format_metrics_table(metrics_truth, title="test scenes, full truth Y_true"))

# %%
names = ("precision", "recall", "average_precision")
x = np.arange(len(test.tasks))
fig, ax = plt.subplots(figsize=(7.5, 3.5))
for k, name in enumerate(names):
    bars = ax.bar(x + 0.27 * (k - 1), [metrics_truth[t][name] for t in test.tasks], 0.27, label=name)
    ax.bar_label(bars, fmt="%.2f", fontsize=7)
ax.axhline(0.5, color="0.5", ls=":", lw=1)
ax.set_xticks(x); ax.set_xticklabels(test.tasks); ax.set_ylim(0, 1.1)
ax.set_title("SharedMLP, test scenes (full truth)"); ax.legend(fontsize="small", ncol=3, loc="upper left")
fig.tight_layout()

# %% [markdown]
# The two tables should agree up to sampling noise: with labels hidden at random, the known
# labels are a fair sample, and the '?' only make each estimate a little noisier (`labelled` shows
# how many labels each number rests on).
#
# ## Scenes with predicted and true labels
#
# The first test scenes, each caption showing the true label / the prediction (red where they
# disagree).

# %%
fig = plot_scenes(test.X, test.Y_true, Y_pred=AL_test, tasks=test.tasks, n=8)

# %% [markdown]
# ## Failure cases: the scenes the model gets most wrong
#
# Rank the test scenes by their summed logistic loss against the full truth (all four tasks): the
# top of the list are confident mistakes. Looking at them is the course's *error analysis*: which
# task fails, and on what kind of picture?

# %%
# the masked cost of a one-column "batch" is that scene's summed loss over its four tasks
loss_per_scene = np.array([mtl.masked_logistic_cost(AL_test[:, [i]], test.Y_true[:, [i]]) for i in range(test.m)])
worst = np.argsort(-loss_per_scene)[:8]
print("worst scenes:", worst.tolist())
print("their summed losses:", np.round(loss_per_scene[worst], 2).tolist())
wrong = (AL_test[:, worst] > 0.5) != (test.Y_true[:, worst] == 1)
print("wrong answers among them, per task:", dict(zip(test.tasks, wrong.sum(axis=1).tolist())))
fig = plot_scenes(test.X[worst], test.Y_true[:, worst], Y_pred=AL_test[:, worst], tasks=test.tasks, n=8)

# %% [markdown]
# Which tasks are red in these captions, and what do the pictures have in common: a small object,
# one hidden behind another, a red billboard or a red car where there is no stop sign, a dark
# night scene? The per-task counts printed above say which questions dominate the failures.
#
# A fully-connected network sees the image as 3072 unrelated numbers: a pedestrian on the left and
# the same pedestrian on the right light up different weights, and every position has to be
# learned separately from the examples that happen to put an object there. A convolution shares
# its weights across positions; notebook 5 builds one and compares it with this MLP on the same
# scenes.
#
# ## Summary
#
# * `mtl.fit` is the course's mini-batch loop: shuffle, cut into batches, forward, masked cost,
#   backward, optimizer step; `mtl.Adam` is the course's Adam with bias correction.
# * Learning curves per task show which questions the shared network learns and when it starts to
#   overfit; per-task precision and recall (`mtl.task_metrics`, '?' excluded) show how well each
#   is answered.
# * With labels hidden at random, metrics computed on the known labels estimate the full-truth
#   metrics without bias.
# * Error analysis on the worst scenes tells you which task and which kind of picture to work on
#   next.
#
# ## More exercises (not graded)
#
# 1. Train with `mtl.GradientDescent(learning_rate=0.1)` and with `mtl.Momentum(0.01)` instead of
#    Adam for the same number of epochs, and plot the three training-cost curves on one axis.
# 2. Change `batch_size` to 16 and to 512. What happens to the time per epoch
#    (`history.seconds`) and to the validation cost after a fixed number of epochs?
# 3. If the lowest validation cost came before the last epoch (printed above), retrain for exactly
#    that many epochs (early stopping) and compare the test metrics with the ones above; if it came
#    at the last epoch, train for more epochs until it stops falling, then do the same.
#
# Next: [notebook 5](05_convolutions_by_hand.ipynb), convolutions by hand. The project's
# [README](../README.md) lists every tutorial.
