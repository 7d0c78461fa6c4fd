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
# # 3. A shared network by hand
#
# **What we are about to do, and why.** The lecture's multi-task network is an ordinary deep
# network whose last layer has four sigmoid units instead of one: everything below the last layer
# is *shared* by the four tasks, and that sharing is why one network can beat four. Here we take
# `mtl.SharedMLP` apart: you write the dense layer's forward and backward and ReLU's backward
# (graded exercises, with the package's own code shown next to yours), run the model's passes layer
# by layer, check each layer's backward against numerical derivatives, write a two-task network
# whose shared trunk adds up both tasks' gradients, run the course's
# whole-model gradient check and learn to read its number, and finally plant a bug in a backward
# pass and watch the check find the layer.

# %%
import os
import types

import numpy as np
import matplotlib.pyplot as plt

import mtl_numpy as mtl
import mtl_numpy.layers  # the layer functions, used below as mtl.layers.*
from mtl_numpy import exercises  # the checks of this notebook's exercises
from mtl_numpy.backends import numpy_backend

# The test suite sets MTL_FAST=1: small data and few epochs, so that every notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting the text describes.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")

# %% [markdown]
# ## The math
#
# For layers $l = 1, \dots, L-1$ (the shared trunk) and the output layer $L$ (one row per task),
# with one example per column:
#
# $$Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}, \qquad A^{[l]} = \max(Z^{[l]}, 0), \qquad A^{[0]} = X,$$
# $$Z^{[L]} = W^{[L]} A^{[L-1]} + b^{[L]}, \qquad A^{[L]} = \sigma(Z^{[L]}) \quad (4 \times m).$$
#
# Backward, starting from notebook 2's $dZ^{[L]} = \frac{1}{m} M \odot (A^{[L]} - Y)$:
#
# $$dW^{[l]} = dZ^{[l]} A^{[l-1]T}, \qquad db^{[l]} = \sum_{i=1}^{m} dZ^{[l](i)}, \qquad
# dA^{[l-1]} = W^{[l]T} dZ^{[l]}, \qquad dZ^{[l-1]} = dA^{[l-1]} \odot \mathbb{1}[Z^{[l-1]} > 0].$$
#
# One difference from the course's code, on purpose: the course divides by $m$ inside
# `linear_backward`; here the $1/m$ lives in the loss, once, so `linear_backward` computes
# $dW = dZ\,A^{T}$ with no extra factor. And the sigmoid's own backward,
# $dZ = dA \odot \sigma(Z)(1-\sigma(Z))$, is never used on the output layer (notebook 2 showed why).
#
# Every row of $W^{[L]}$ belongs to one task; every other parameter receives gradient from all four
# tasks at once, through $dA^{[L-1]} = W^{[L]T} dZ^{[L]}$, a sum over the task rows.

# %% [markdown]
# ## The layers, by you
#
# Complete each function between `### START CODE HERE ###` and `### END CODE HERE ###`, run its
# cell, then the check under it: it prints ✓, or what is wrong and the expected output ("not done
# yet" before you start). Hints are folded under each exercise; the answers are in
# [solutions/03_shared_network_by_hand.py](solutions/03_shared_network_by_hand.py).
#
# ### Exercise 1: `linear_forward`
#
# $Z = W A_{prev} + b$, with the cache the backward pass needs.
#
# <details><summary>Hint</summary>
#
# `Z = W @ A_prev + b` (`b` of shape $(n^{[l]}, 1)$ broadcasts over the $m$ columns);
# `cache = (A_prev, W, b)`.
# </details>

# %%
def linear_forward(A_prev, W, b):
    """Z = W A_prev + b. A_prev (n[l-1], m), W (n[l], n[l-1]), b (n[l], 1) -> Z (n[l], m), cache."""
    ### START CODE HERE ### (≈ 2 lines)
    # YOUR CODE HERE
    raise NotImplementedError()
    ### END CODE HERE ###
    return Z, cache


# %%
exercises.check_linear_forward(linear_forward)

# %% [markdown]
# ### Exercise 2: `linear_backward`
#
# From the upstream $dZ$ (which already carries the cost's $1/m$): $dW = dZ\,A_{prev}^T$,
# $db = \sum_i dZ^{(i)}$ (a column), $dA_{prev} = W^T dZ$.
#
# <details><summary>Hint</summary>
#
# `A_prev, W, b = cache`; `dW = dZ @ A_prev.T`; `db = dZ.sum(axis=1, keepdims=True)`;
# `dA_prev = W.T @ dZ`. No `/ m`: the course's version divides here, this package's loss already
# did.
# </details>

# %%
def linear_backward(dZ, cache):
    """dZ (n[l], m), cache (A_prev, W, b) -> dA_prev (n[l-1], m), dW (n[l], n[l-1]), db (n[l], 1)."""
    ### START CODE HERE ### (≈ 4 lines)
    # YOUR CODE HERE
    raise NotImplementedError()
    ### END CODE HERE ###
    return dA_prev, dW, db


# %%
exercises.check_linear_backward(linear_backward)

# %% [markdown]
# ### Exercise 3: ReLU's backward
#
# $dZ = dA \odot \mathbb{1}[Z > 0]$, where the cache is $Z$; the derivative at exactly 0 is taken
# as 0 (as the course and PyTorch do).
#
# <details><summary>Hint</summary>
#
# `np.where(Z > 0, dA, 0.0)`, or `dA * (Z > 0)`.
# </details>

# %%
def relu_backward(dA, cache):
    """dA and cache Z of the same shape -> dZ = dA where Z > 0, else 0."""
    Z = cache
    ### START CODE HERE ### (≈ 1 line)
    # YOUR CODE HERE
    raise NotImplementedError()
    ### END CODE HERE ###
    return dZ


# %%
exercises.check_relu_backward(relu_backward)

# %% [markdown]
# ### The package's own layers
#
# Here is the code the package runs for the same three functions (from `mtl_numpy/layers.py`).
# Where it differs from yours: `linear_backward` takes `need_dA_prev`, so that the first layer can
# skip $dA^{[0]}$ (nobody needs the gradient with respect to the input $X$, and that product costs
# as much as the forward one); `linear_forward` adds $b$ in place into the fresh product instead of
# allocating a second array; and `relu_backward` asks `get_array_module` which array library it
# has been given, so that the same code runs on NumPy and on CuPy arrays.

# %%
exercises.show_source(mtl.layers.linear_forward)
exercises.show_source(mtl.layers.linear_backward)
exercises.show_source(mtl.layers.relu_backward)

# %% [markdown]
# ## Each layer against numerical derivatives
#
# CS231n's recipe checks one layer at a time: feed random inputs forward, pick a random upstream
# gradient `dout`, and compare the layer's backward with the numerical gradient of
# $\sum \text{out} \odot \text{dout}$ (`mtl.eval_numerical_gradient_array`). The number printed is
# the largest elementwise relative error, `mtl.relative_error`; in float64 a correct backward gives
# a small number (read the printed ones), a wrong one something near 1.

# %%
rng = np.random.default_rng(0)
A_prev = rng.standard_normal((6, 4))           # (n[l-1], m)
W = rng.standard_normal((5, 6))                # (n[l], n[l-1])
b = rng.standard_normal((5, 1))                # (n[l], 1)
Z, linear_cache = mtl.layers.linear_forward(A_prev, W, b)
dZ = rng.standard_normal(Z.shape)              # an upstream gradient
dA_prev, dW, db = mtl.layers.linear_backward(dZ, linear_cache)

Zr = rng.standard_normal((5, 4))
dA = rng.standard_normal(Zr.shape)
num = mtl.eval_numerical_gradient_array
checks = {
    "linear  dA_prev": (dA_prev, num(lambda a: mtl.layers.linear_forward(a, W, b)[0], A_prev, dZ)),
    "linear  dW":      (dW, num(lambda w: mtl.layers.linear_forward(A_prev, w, b)[0], W, dZ)),
    "linear  db":      (db, num(lambda c: mtl.layers.linear_forward(A_prev, W, c)[0], b, dZ)),
    "relu    dZ":      (mtl.layers.relu_backward(dA, Zr), num(lambda z: mtl.layers.relu_forward(z)[0], Zr, dA)),
    "sigmoid dZ":      (mtl.layers.sigmoid_backward(dA, Zr), num(lambda z: mtl.layers.sigmoid_forward(z)[0], Zr, dA)),
}
for name, (analytic, numeric) in checks.items():
    print(f"{name:<17} relative error {mtl.relative_error(analytic, numeric):.1e}")

# %% [markdown]
# (ReLU has a kink at 0, where no derivative exists; random normal inputs are never within the
# step $h = 10^{-5}$ of it, which is why its check is clean. The package takes the derivative at 0
# to be 0, as the course and PyTorch do.)
#
# ## The whole forward and backward pass, layer by layer
#
# Now a real `SharedMLP` on a few real scenes. We run its forward pass ourselves with the layer
# functions and its parameters `model.params`, then the backward pass from
# `mtl.masked_logistic_cost_and_grad`, and compare with what the model computes (`model.forward`,
# `model.cost_and_grads`). Small images and a narrow network keep the gradient check below cheap.

# %%
data = mtl.datasets.driving_scenes(m=8, image_size=16, missing=0.3, seed=0)
X, Y = data.flat().astype(np.float64), data.Y          # X: (768, 8), Y: (4, 8) with '?'
model = mtl.SharedMLP([X.shape[0], 6, 5, 4], seed=0, dtype="float64")
P, L = model.params, model.n_layers
print(model, "|", model.n_parameters, "parameters")
print({k: v.shape for k, v in P.items()})

# forward: [LINEAR -> RELU] x (L-1) -> LINEAR -> SIGMOID
A, caches = X, []
for l in range(1, L):
    A, cache = mtl.layers.linear_activation_forward(A, P[f"W{l}"], P[f"b{l}"], "relu")
    caches.append(cache)
ZL, output_cache = mtl.layers.linear_forward(A, P[f"W{L}"], P[f"b{L}"])
AL = mtl.layers.sigmoid(ZL)

# backward: dZ[L] from the masked cost, then back through every layer
J, dZL = mtl.masked_logistic_cost_and_grad(ZL, Y)
grads = {}
dA, grads[f"dW{L}"], grads[f"db{L}"] = mtl.layers.linear_backward(dZL, output_cache)
for l in range(L - 1, 0, -1):
    dA, grads[f"dW{l}"], grads[f"db{l}"] = mtl.layers.linear_activation_backward(dA, caches[l - 1], "relu")

AL_model, _ = model.forward(X)
J_model, grads_model = model.cost_and_grads(X, Y)
print(f"max |AL - model's AL| = {np.max(np.abs(AL - AL_model)):.1e}    |J - model's J| = {abs(J - J_model):.1e}")
for key in grads_model:
    print(f"  {key:>4}: max |ours - model's| = {np.max(np.abs(grads[key] - grads_model[key])):.1e}")

# %% [markdown]
# ## Two tasks, one trunk
#
# Now the heart of the lecture, small enough to write yourself: a shared trunk
# $A^{[1]} = \text{ReLU}(W^{[1]} X + b^{[1]})$ and one logistic head per task, pedestrian and car,
# $Z_p = W_p A^{[1]} + b_p$ and $Z_c = W_c A^{[1]} + b_c$, stacked into $Z^{[L]}$ of shape
# $(2, m)$ for the masked cost. Backward, each head gets its own row of $dZ^{[L]}$, and the trunk
# gets **both** heads' contributions:
#
# $$dA^{[1]} = W_p^T\, dZ_p + W_c^T\, dZ_c .$$
#
# That sum is multi-task learning's whole mechanism: the shared layer is trained by every task at
# once. (The `SharedMLP` above does the same with one $4 \times n$ matrix $W^{[L]}$, whose product
# $W^{[L]T} dZ^{[L]}$ is this sum over its rows.) `exercises.two_task_inputs()` gives a batch and
# parameters with the keys used below; use the package's layers (`mtl.layers.*`) or your own.
#
# ### Exercise 4: the two-task forward pass
#
# <details><summary>Hint</summary>
#
# `A1, trunk_cache = mtl.layers.linear_relu_forward(X, params["W1"], params["b1"])`, then
# `mtl.layers.linear_forward(A1, params["Wp"], params["bp"])` and the same with `Wc, bc`;
# `ZL = np.vstack([Z_p, Z_c])`; keep the three caches for the backward pass.
# </details>

# %%
X2, Y2, params2 = exercises.two_task_inputs()
print("X:", X2.shape, " Y:", Y2.shape, " params:", {k: v.shape for k, v in params2.items()})


def two_task_forward(X, params):
    """X (n_x, m) -> ZL (2, m): row 0 the pedestrian head's logits, row 1 the car head's; and caches."""
    ### START CODE HERE ### (≈ 5 lines)
    # YOUR CODE HERE
    raise NotImplementedError()
    ### END CODE HERE ###
    return ZL, caches


# %%
exercises.check_two_task_forward(two_task_forward)

# %% [markdown]
# ### Exercise 5: the two-task backward pass
#
# From $dZ^{[L]}$ (the masked cost's gradient, `mtl.masked_logistic_cost_and_grad(ZL, Y)[1]`),
# return every gradient in a dict, `{"dW1", "db1", "dWp", "dbp", "dWc", "dbc"}`. The check compares
# each one with a central-difference gradient (`mtl.eval_numerical_gradient_array` on the masked
# cost) and prints the course's difference per parameter, the number `gradient_check`'s
# `per_parameter` reports for a model. Try it once with only the pedestrian head's $dA^{[1]}$ to see
# which parameters the check flags.
#
# <details><summary>Hint</summary>
#
# `trunk_cache, ped_cache, car_cache = caches`; `mtl.layers.linear_backward(dZL[0:1], ped_cache)`
# gives `dA1_p, dWp, dbp` (slice with `0:1` to keep the row 2-d), the same with `dZL[1:2]` for the
# car; `dA1 = dA1_p + dA1_c`; then `mtl.layers.linear_relu_backward(dA1, trunk_cache)` gives
# `_, dW1, db1`.
# </details>

# %%
def two_task_backward(dZL, caches):
    """dZL (2, m) -> {"dW1", "db1", "dWp", "dbp", "dWc", "dbc"}, the trunk getting both heads' dA1."""
    ### START CODE HERE ### (≈ 6 lines)
    # YOUR CODE HERE
    raise NotImplementedError()
    ### END CODE HERE ###
    return grads


# %%
exercises.check_two_task_backward(two_task_backward, two_task_forward)

# %% [markdown]
# The package's fused LINEAR -> RELU backward, the function your trunk's last step calls (the
# models call the same thing, through their backend):

# %%
exercises.show_source(mtl.layers.linear_relu_backward)

# %% [markdown]
# ## The whole-model gradient check
#
# The course's check nudges every parameter $\theta_k$ by $\pm\varepsilon$ and compares the
# two-sided difference quotient with backprop:
#
# $$gradapprox_k = \frac{J(\theta + \varepsilon e_k) - J(\theta - \varepsilon e_k)}{2\varepsilon}, \qquad
# \text{difference} = \frac{\lVert grad - gradapprox \rVert_2}{\lVert grad \rVert_2 + \lVert gradapprox \rVert_2}.$$
#
# `mtl.gradient_check` does this over all parameters (flattened by name, not by hard-coded
# slices), on a float64 copy of the model, and reports the difference per parameter array as well.
# How to read it:
#
# * below $2 \times 10^{-7}$ (the course's threshold, `result.passed`): the backward is right;
# * a correct float64 backward lands well below that threshold, not at 0: with
#   $\varepsilon = 10^{-7}$ what is left is the difference quotient's own error
#   ($\propto \varepsilon^2$) plus rounding error ($\propto 10^{-16}\,|J| / \varepsilon$), so the
#   exact value depends on the sizes of $J$ and of the gradients (the run below prints its own);
# * $10^{-3}$ and above: a bug. The per-parameter numbers say where.
#
# Read the number printed below against these bands.

# %%
result = mtl.gradient_check(model, X, Y, epsilon=1e-7)
print(result)

# %% [markdown]
# ### Why the check runs in float64
#
# Training uses float32 by default, but a gradient check in float32 cannot work with
# $\varepsilon = 10^{-7}$: float32 carries about 7 significant digits, so a weight of size 0.5
# cannot even be moved by $10^{-7}$ exactly, and $J(\theta+\varepsilon) - J(\theta-\varepsilon)$
# is mostly rounding noise. That is why `gradient_check` copies the model to float64 first. To see
# the float32 number anyway, we do the check's inner loop by hand on one parameter of a float32 copy
# (and compare with the package's `gradient_difference`, the same formula as above):

# %%
from mtl_numpy.gradcheck import gradient_difference

model32 = model.astype("float32")
X32 = X.astype(np.float32)
_, grads32 = model32.cost_and_grads(X32, Y)
W32 = model32.params[f"W{L}"]                       # the output layer's weights (live array)
for eps in (1e-7, 1e-3):
    approx = np.empty(W32.size)
    for k in range(W32.size):
        old = W32.flat[k]
        W32.flat[k] = old + eps; J_plus = model32.cost(X32, Y)
        W32.flat[k] = old - eps; J_minus = model32.cost(X32, Y)
        W32.flat[k] = old
        approx[k] = (J_plus - J_minus) / (2 * eps)
    print(f"float32, epsilon = {eps:g}: difference on W{L} = "
          f"{gradient_difference(grads32[f'dW{L}'], approx):.1e}")
print(f"float64, epsilon = 1e-07: difference on W{L} = {result.per_parameter[f'W{L}']:.1e}")

# %% [markdown]
# In float32 the check fails with $\varepsilon = 10^{-7}$ although the backward pass is the same
# correct code; a larger $\varepsilon$ helps, but the difference stays far above what float64
# gives. A failing check in float32 says nothing; check in float64.
#
# The choice of $\varepsilon$ matters in float64 too. Sweeping it (on a sample of entries per
# parameter, `max_per_parameter`, to keep it quick) shows the two error sources. Too large, and the
# difference quotient is a poor approximation of the derivative; with ReLUs a large step can also
# cross a kink, where the function has no derivative at all, which shows up as a sudden jump. Too
# small, and rounding takes over: the difference grows like $1/\varepsilon$.

# %%
epsilons = np.logspace(-1, -11, 11)
sweep = [mtl.gradient_check(model, X, Y, epsilon=float(e), max_per_parameter=40).difference for e in epsilons]
for e, d in zip(epsilons, sweep):
    print(f"epsilon = {e:.0e}: difference = {d:.1e}")

fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.loglog(epsilons, sweep, "o-")
ax.axhline(2e-7, color="r", ls="--", label="pass threshold 2e-7")
ax.set(xlabel="epsilon", ylabel="difference", title="gradient check vs epsilon (float64)")
ax.invert_xaxis(); ax.grid(alpha=0.3, which="both"); ax.legend()
fig.tight_layout()


# %% [markdown]
# ## A bug the check catches
#
# Models call every kernel through a *backend* object (`model.backend`), so we can hand a model a
# backend with one broken function. This one returns $1.01\,dW$ from the fused LINEAR -> RELU
# backward: a 1% error in the weights of the hidden layers, the kind of slip (a wrong scale, a
# missing $1/m$) that training alone would never reveal; the model would just learn a little
# differently.

# %%
def broken_linear_relu_backward(dA, cache, need_dA_prev=True):
    dA_prev, dW, db = numpy_backend.linear_relu_backward(dA, cache, need_dA_prev)
    return dA_prev, dW * 1.01, db                    # the bug: dW is 1% too large

broken_backend = types.SimpleNamespace(**vars(numpy_backend))
broken_backend.linear_relu_backward = broken_linear_relu_backward
broken_backend.name = "numpy, with a broken linear_relu_backward"

broken_model = mtl.SharedMLP([X.shape[0], 6, 5, 4], seed=0, dtype="float64", backend=broken_backend)
broken = mtl.gradient_check(broken_model, X, Y, epsilon=1e-7)
print(broken)
flagged = [key for key, d in broken.per_parameter.items() if d > broken.threshold]
print("parameters over the threshold:", flagged)
print(f"what a 1% scale error alone gives: ||0.01 g|| / ||2.01 g|| = {0.01 / 2.01:.3f}")

# %%
keys = list(result.per_parameter)
x = np.arange(len(keys))
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.bar(x - 0.2, [result.per_parameter[k] for k in keys], 0.4, label="correct backward")
ax.bar(x + 0.2, [broken.per_parameter[k] for k in keys], 0.4, label="dW * 1.01 in linear_relu_backward")
ax.axhline(2e-7, color="r", ls="--", label="threshold 2e-7")
ax.set_yscale("log"); ax.set_xticks(x); ax.set_xticklabels(keys)
ax.set_ylabel("difference"); ax.set_title("gradient check, per parameter")
ax.legend(fontsize="small")
fig.tight_layout()

# %% [markdown]
# The overall difference fails, and the per-parameter differences point at the hidden layers'
# weights, the only arrays the broken function touches; the biases and the output layer (whose
# backward is `linear_backward`, not the broken one) still pass. Compare the flagged differences
# with what a 1% scale error gives on its own, $\lVert 0.01\,g \rVert / \lVert 2.01\,g \rVert$,
# printed last.
#
# ## Summary
#
# * `SharedMLP` is $[\text{LINEAR} \to \text{RELU}] \times (L-1) \to \text{LINEAR} \to 4$ sigmoids;
#   every layer below the last is shared, and its gradient sums the four tasks' contributions.
# * Each layer's backward sits next to its forward in `mtl.layers` and is checked on its own with
#   `eval_numerical_gradient_array`; the model's passes are those layers in a loop, nothing more.
# * `mtl.gradient_check` runs the course's check in float64: below $2\times10^{-7}$ passes (a
#   correct backward lands well below, not at 0); in float32 the same check is meaningless.
# * A 1% error in one layer's backward gives a difference near $0.01 / 2.01$, and
#   `per_parameter` names the layer.
#
# ## More exercises (not graded)
#
# 1. Break the ReLU backward differently: use $\mathbb{1}[Z \ge 0]$ instead of $\mathbb{1}[Z > 0]$.
#    Does the gradient check notice? When could it?
# 2. Write a broken backend whose `linear_backward` forgets to sum `db` over the examples (returns
#    `dZ[:, :1]`). Which parameters does the check flag, and why those?
# 3. Run `mtl.gradient_check` on a tiny `mtl.SharedCNN(input_shape=(16, 16, 3), conv_channels=(2,),
#    hidden=(4,), dtype="float64")` with the images `data.X`. How long does it take, and what does
#    `max_per_parameter` trade away?
#
# Next: [notebook 4](04_training_driving_scenes.ipynb) trains this network on street scenes. The
# project's [README](../README.md) lists every tutorial.
