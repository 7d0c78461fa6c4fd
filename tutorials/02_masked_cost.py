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
# # 2. The masked cost
#
# **What we are about to do, and why.** The lecture trains one network on all four tasks by adding
# up the logistic losses of the four outputs, and it says what to do with a '?': leave that term
# out of the sum. This notebook writes that cost as the lecture's double loop, then as the
# vectorised functions the package uses; derives its gradient $dZ^{[L]}$ by hand and checks it
# numerically (you write all three, in graded exercises); shows why the textbook $dA^{[L]}$ formula breaks on saturated outputs and why a
# `nan` times 0 is still `nan`; and measures what goes wrong if a '?' is simply read as a 0.

# %%
import os
import time

import numpy as np
import matplotlib.pyplot as plt

import mtl_numpy as mtl
import mtl_numpy.layers  # the layer functions, used below as mtl.layers.*
from mtl_numpy import exercises  # the checks of this notebook's exercises

# The test suite sets MTL_FAST=1: small data and few epochs, so that every notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting the text describes.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")


# %% [markdown]
# ## The math
#
# With $\hat y^{(i)}_j = \sigma(z^{[L](i)}_j)$ the network's probability for task $j$ on image $i$,
# the lecture's cost is
#
# $$J = \frac{1}{m} \sum_{i=1}^{m} \ \sum_{j:\ y^{(i)}_j \neq\, ?} \mathcal{L}\big(\hat y^{(i)}_j, y^{(i)}_j\big),
# \qquad \mathcal{L}(\hat y, y) = -y \log \hat y - (1 - y) \log(1 - \hat y).$$
#
# The inner sum runs only over the tasks whose label is 0 or 1. With the mask $M$ of notebook 1 the
# same thing reads $J = \frac{1}{m} \sum_i \sum_j M_{ji}\, \mathcal{L}_{ji}$, where "$M_{ji} = 0$"
# means *the term is not there*, not "multiply a `nan` by zero" (we will see the difference).
#
# ## The double sum, as loops
#
# **How the exercises work.** You complete a function between `### START CODE HERE ###` and
# `### END CODE HERE ###` (the comment says about how many lines it takes), run its cell, then run
# the check cell under it. The check (from `mtl_numpy.exercises`, the package's own code as the
# reference answer) prints ✓, or what is wrong (a shape, the first wrong entry, a likely mistake by
# name) and the expected output; before you start it says "not done yet". A hint is folded under
# each exercise; the answers are in [solutions/02_masked_cost.py](solutions/02_masked_cost.py).
#
# ### Exercise 1: the masked cost as the lecture's double loop
#
# Transcribe the formula literally: one loop over the examples, one over the tasks, and a
# `continue` for every '?'. Add up the logistic losses of the known labels, then divide by $m$,
# the number of columns (an all-'?' column still counts).
#
# <details><summary>Hint</summary>
#
# `if np.isnan(Y[j, i]): continue` skips a '?'. The loss of one known label is
# `-y * np.log(a) - (1 - y) * np.log(1 - a)` with `y, a = Y[j, i], AL[j, i]`; add it to `J`.
# </details>

# %%
def masked_cost_loops(AL, Y):
    """J = (1/m) * sum over i, sum over the j with a known label, of L(AL[j, i], Y[j, i]).

    AL : (n_tasks, m) probabilities; Y : (n_tasks, m) labels 0/1, nan for '?'. Returns a float.
    """
    n_tasks, m = Y.shape
    J = 0.0
    ### START CODE HERE ### (≈ 6 lines)
    # YOUR CODE HERE
    raise NotImplementedError()
    ### END CODE HERE ###
    return J / m


# %%
exercises.check_masked_cost_loops(masked_cost_loops)

# %% [markdown]
# The package's vectorised cost, `mtl.masked_logistic_cost`, against your loops on a batch of
# driving scenes' labels, each timed once (an order of magnitude, not a benchmark):

# %%
m = 1000 if FAST else 20000
data = mtl.datasets.driving_scenes(m, image_size=16, missing=0.3, seed=0)
Y = data.Y                                               # (4, m) with nan for '?'
rng = np.random.default_rng(0)
AL = rng.uniform(0.05, 0.95, size=Y.shape)               # some predicted probabilities

t0 = time.perf_counter(); J_vec = mtl.masked_logistic_cost(AL, Y); t_vec = time.perf_counter() - t0
print(f"vectorised: J = {J_vec:.12f}   ({t_vec * 1e3:.2f} ms)")
if exercises.check_masked_cost_loops(masked_cost_loops):
    t0 = time.perf_counter(); J_loops = masked_cost_loops(AL, Y); t_loops = time.perf_counter() - t0
    print(f"loops:      J = {J_loops:.12f}   ({t_loops * 1e3:.1f} ms)")
    print(f"|difference| = {abs(J_loops - J_vec):.1e}")
else:
    print("loops:      (exercise 1 is not done yet)")

# %% [markdown]
# With exercise 1 done, the two agree to rounding (the printed difference) and the two times show
# how much faster the vectorised version is on this machine.
#
# ## Two normalizations
#
# The lecture divides by $m$, the number of **examples** (columns), all-'?' columns included. The
# other natural choice divides by the number of **known labels** $N = \sum_{j,i} M_{ji}$:
#
# $$J_{\text{examples}} = \frac{1}{m}\sum_{j,i} M_{ji}\mathcal{L}_{ji}, \qquad
# J_{\text{labels}} = \frac{1}{\sum_{j,i} M_{ji}}\sum_{j,i} M_{ji}\mathcal{L}_{ji}, \qquad
# \frac{J_{\text{examples}}}{J_{\text{labels}}} = \frac{\sum_{j,i} M_{ji}}{m}.$$
#
# * `normalize="examples"` (the lecture's, the default): $J$ is a *per-image* cost, the sum of the
#   image's known task losses averaged over images. Every known label gets the gradient weight $1/m$,
#   so the more '?' there are, the smaller the total gradient: a higher missing rate acts like a
#   smaller learning rate.
# * `normalize="labels"`: $J$ is the mean loss *per known label*. Its scale does not depend on how
#   many labels are missing, so costs of data sets with different missing rates can be compared;
#   in mini-batches the divisor changes from batch to batch.
#
# Both have the same minimiser on a fixed data set (one is a constant multiple of the other).
#
# ### Exercise 2: the masked cost, vectorised
#
# Now without a Python loop, for both normalizations. Compute every entry's loss, keep the known
# ones with `np.where(M > 0, ..., 0.0)` (never by multiplying with `M`: the next sections show
# why), sum, and divide by $N$: $m$ for `"examples"`, $\sum M$ for `"labels"`.
#
# <details><summary>Hint</summary>
#
# Compute every entry's loss, `-Y * np.log(AL) - (1 - Y) * np.log(1 - AL)` (it is `nan` at a
# '?'), then `np.where(M > 0, losses, 0.0)` selects those entries away before the sum.
# `N = Y.shape[1] if normalize == "examples" else M.sum()`.
# </details>

# %%
def masked_cost_vectorized(AL, Y, normalize="examples"):
    """The masked cost without loops; normalize is "examples" (divide by m) or "labels" (by sum M)."""
    M = mtl.label_mask(Y)
    ### START CODE HERE ### (≈ 4 lines)
    # YOUR CODE HERE
    raise NotImplementedError()
    ### END CODE HERE ###
    return J


# %%
exercises.check_masked_cost_vectorized(masked_cost_vectorized)

# %% [markdown]
# The package's version, for comparison: the same selection with `where=`, plus what a library
# function needs and an exercise does not (checked arguments, probabilities clipped into
# $[\epsilon, 1-\epsilon]$ so that a saturated output gives a large finite cost, never `inf`).

# %%
exercises.show_source(mtl.losses.masked_logistic_cost)

# %% [markdown]
# The package's two normalizations on the scenes' labels, and their ratio:

# %%
J_ex = mtl.masked_logistic_cost(AL, Y, normalize="examples")
J_lab = mtl.masked_logistic_cost(AL, Y, normalize="labels")
M = mtl.label_mask(Y)
print(f"J examples = {J_ex:.6f}   J labels = {J_lab:.6f}")
print(f"ratio J_examples / J_labels = {J_ex / J_lab:.6f}   known labels per example = {M.sum() / m:.6f}")

# %% [markdown]
# ## The gradient $dZ^{[L]}$, step by step
#
# Take one term, $\mathcal{L}(a, y) = -y \log a - (1-y)\log(1-a)$ with $a = \sigma(z)$.
#
# 1. Derivative with respect to the probability:
#    $\displaystyle \frac{\partial \mathcal{L}}{\partial a} = -\frac{y}{a} + \frac{1-y}{1-a}.$
# 2. Derivative of the sigmoid:
#    $\displaystyle \frac{d a}{d z} = \sigma(z)\big(1-\sigma(z)\big) = a(1-a).$
# 3. Chain rule:
#    $\displaystyle \frac{\partial \mathcal{L}}{\partial z} = \Big(-\frac{y}{a} + \frac{1-y}{1-a}\Big) a(1-a)
#    = -y(1-a) + (1-y)a = a - y.$
# 4. The logit $z^{[L](i)}_j$ appears in exactly one term of $J$, the $(j, i)$ one, and only if that
#    label is known. So
#    $\displaystyle \frac{\partial J}{\partial z^{[L](i)}_j} = \frac{1}{m} M_{ji}\,\big(a^{[L](i)}_j - y^{(i)}_j\big)$,
#    and for a '?' the derivative is exactly 0 (the term does not exist; nothing is multiplied).
#
# In matrix form, with $N = m$ for `"examples"` or $N = \sum M$ for `"labels"`:
#
# $$dZ^{[L]} = \frac{1}{N}\, M \odot (A^{[L]} - Y).$$
#
# `mtl.masked_logistic_cost_and_grad(ZL, Y)` returns $J$ and this $dZ^{[L]}$ from the logits in one
# pass.
#
# ### Exercise 3: $dZ^{[L]}$ with `where`
#
# Write the formula for `normalize="examples"`: from the logits `ZL`, $A = \sigma(Z)$
# (`mtl.layers.sigmoid`), then $\frac{1}{m} M \odot (A - Y)$ with the '?' entries *selected* to
# exactly 0.
#
# <details><summary>Hint</summary>
#
# `np.where(M > 0, A - Y, 0.0) / m`. `M * (A - Y)` would leave a `nan` at every '?'.
# </details>

# %%
def masked_cost_grad(ZL, Y):
    """dZL = (1/m) M * (A - Y), A = sigmoid(ZL), exactly 0 where Y is '?'. ZL, Y: (n_tasks, m)."""
    ### START CODE HERE ### (≈ 3 lines)
    # YOUR CODE HERE
    raise NotImplementedError()
    ### END CODE HERE ###
    return dZL


# %%
exercises.check_masked_cost_grad(masked_cost_grad)

# %% [markdown]
# The package's fused `dZL` checked two more ways: against central finite differences
# (`mtl.eval_numerical_gradient_array`), and on the '?' entries, where it must be exactly 0.

# %%
k = 60                                              # a small slice: finite differences cost 2 calls per entry
Yk = Y[:, :k]
ZL = rng.standard_normal(Yk.shape) * 3              # logits, float64
J, dZL = mtl.masked_logistic_cost_and_grad(ZL, Yk)
Mk = mtl.label_mask(Yk)
dZ_numeric = mtl.eval_numerical_gradient_array(
    lambda Z: mtl.masked_logistic_cost_and_grad(Z, Yk)[0], ZL.copy(), 1.0)

print(f"J = {J:.6f}")
print(f"vs finite differences: course's difference {mtl.gradcheck.gradient_difference(dZL, dZ_numeric):.1e},"
      f" largest elementwise relative error {mtl.relative_error(dZL, dZ_numeric):.1e}")
print(f"dZL at the {int((Mk == 0).sum())} '?' entries: all exactly 0 -> {bool(np.all(dZL[Mk == 0] == 0))}")

# ## Why $dA^{[L]} = -\big(\frac{Y}{A} - \frac{1-Y}{1-A}\big)$ breaks
#
# The course's first networks computed step 1 and step 2 separately: `dAL = -(Y/AL - (1-Y)/(1-AL))`,
# then `dZL = dAL * AL * (1 - AL)` in the sigmoid's backward. On paper that is the same $a - y$. In
# floating point it is not: when a sigmoid saturates, $a$ rounds to exactly 1.0 (in float64 for $z$
# above about 37, in float32 above about 17), $1 - a$ becomes 0, and the division gives `inf`;
# `inf * 0` is then `nan`. The same 0 turns the cost's $\log(1-a)$ into $-\infty$. The fused version
# works from the logits and never divides.

# %%
z = np.array([-40.0, -20.0, 0.0, 17.0, 20.0, 40.0])
print(f"{'dtype':<8}{'y':>3}{'z':>6}{'a = sigma(z)':>15}{'1 - a':>11}{'dAL':>12}{'dAL*a*(1-a)':>14}{'a - y':>11}")
for dtype in (np.float32, np.float64):
    for y_value in (0.0, 1.0):
        Zd = z.astype(dtype)[None, :]
        Yd = np.full_like(Zd, y_value)
        a = mtl.layers.sigmoid(Zd)
        with np.errstate(divide="ignore", invalid="ignore"):
            dAL = -(Yd / a - (1 - Yd) / (1 - a))        # the textbook formula
            dZ_chain = mtl.layers.sigmoid_backward(dAL, Zd)   # dAL * a * (1 - a)
        _, dZ_fused = mtl.masked_logistic_cost_and_grad(Zd, Yd)
        dZ_fused = dZ_fused * Zd.shape[1]               # undo the 1/m to compare per entry
        for c in range(z.size):
            print(f"{np.dtype(dtype).name:<8}{y_value:>3.0f}{z[c]:>6.0f}{a[0, c]:>15.7g}{1 - a[0, c]:>11.3g}"
                  f"{dAL[0, c]:>12.3g}{dZ_chain[0, c]:>14.3g}{dZ_fused[0, c]:>11.3g}")

# %% [markdown]
# Read the rows with a large positive $z$, where $1 - a$ has rounded to 0. With $y = 0$ (a
# confident, *wrong* "yes") `dAL` is `inf` and the chain-rule gradient is `nan`, exactly where the
# network most needs a gradient (the fused $a - y$ is 1 there). With $y = 1$ (a confident, *right*
# "yes", which a trained network produces all the time) $(1-y)/(1-a)$ is $0/0$ and the gradient is
# `nan` as well, where it should be 0. Compare the float32 rows with the float64 rows: float32
# saturates at much smaller $z$. The fused column $a - y$ is finite everywhere.
#
# The cost has the same problem. For $y=0$, $z=40$ the exact loss is $\log(1+e^{40}) \approx 40$.
# `mtl.masked_logistic_cost` works from probabilities, so it clips $a$ into
# $[\epsilon, 1-\epsilon]$: finite, but capped at $-\log \epsilon$. The stable version computes
# $\max(z,0) - zy + \log(1+e^{-|z|})$ from the logit and gets it right:

# %%
Z1 = np.array([[40.0]]); Y1 = np.array([[0.0]])
with np.errstate(divide="ignore"):
    print("textbook  -log(1 - a):                 ", float(-np.log(1 - mtl.layers.sigmoid(Z1))[0, 0]))
print("masked_logistic_cost (clipped a):      ", mtl.masked_logistic_cost(mtl.layers.sigmoid(Z1), Y1))
print("masked_logistic_cost_and_grad (logits):", mtl.masked_logistic_cost_and_grad(Z1, Y1)[0])

# %% [markdown]
# A picture of the same thing in float32, over a range of logits, for a label $y = 0$: the loss
# from probabilities becomes infinite and the chain-rule gradient disappears (`nan` is not drawn)
# where the stable versions carry on.

# %%
zz = np.linspace(-30, 30, 601).astype(np.float32)[None, :]
yy = np.zeros_like(zz)
aa = mtl.layers.sigmoid(zz)
with np.errstate(divide="ignore", invalid="ignore"):
    loss_textbook = -np.log(1 - aa)
    grad_textbook = mtl.layers.sigmoid_backward(-(yy / aa - (1 - yy) / (1 - aa)), zz)
_, grad_fused = mtl.masked_logistic_cost_and_grad(zz, yy)
# the package's stable cost, one logit at a time (a 1 x 1 "batch", so J is that entry's loss)
loss_stable = np.array([[mtl.masked_logistic_cost_and_grad(zz[:, [k]], yy[:, [k]])[0] for k in range(zz.shape[1])]])

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].plot(zz[0], np.where(np.isfinite(loss_textbook), loss_textbook, np.nan)[0], lw=3, label="-log(1 - sigmoid(z))")
axes[0].plot(zz[0], loss_stable[0], "k--", label="stable, from the logit")
axes[0].set(xlabel="logit z", ylabel="loss for y = 0", title="float32 loss")
axes[1].plot(zz[0], np.where(np.isfinite(grad_textbook), grad_textbook, np.nan)[0], lw=3, label="dAL * a * (1 - a)")
axes[1].plot(zz[0], grad_fused[0] * zz.shape[1], "k--", label="fused a - y")
axes[1].set(xlabel="logit z", ylabel="dL/dz for y = 0", title="float32 gradient")
z_bad = zz[0][~np.isfinite(grad_textbook[0])].min()
for ax in axes:
    ax.axvspan(z_bad, zz.max(), color="r", alpha=0.1, label="textbook gives inf / nan")
    ax.legend(fontsize="small"); ax.grid(alpha=0.3)
fig.tight_layout()
print(f"the float32 textbook gradient is nan from z = {z_bad:.2f} on")

# %% [markdown]
# ## Why $\text{nan} \cdot 0$ is $\text{nan}$
#
# It is tempting to implement "leave the '?' out" as a multiplication by the mask. IEEE arithmetic
# says no: `nan` times anything, 0 included, is `nan`, and a single `nan` in a sum makes the whole
# sum `nan`. A '?' stored as `nan` makes its loss term `nan`, and `M * loss` keeps it. Selecting with
# `np.where` (or NumPy's `where=` argument) never touches the `nan`:

# %%
print("nan * 0 =", np.nan * 0.0)
Y3 = mtl.encode_labels([[1, "?", 0]])
A3 = np.array([[0.8, 0.3, 0.1]])
M3 = mtl.label_mask(Y3)
loss3 = -Y3 * np.log(A3) - (1 - Y3) * np.log(1 - A3)
print("loss terms:                        ", loss3)
print("sum(M * loss) / m:                 ", np.sum(M3 * loss3) / 3)
print("sum(where(M, loss, 0)) / m:        ", np.sum(np.where(M3 > 0, loss3, 0.0)) / 3)
print("mtl.masked_logistic_cost(A, Y):    ", mtl.masked_logistic_cost(A3, Y3))

# %% [markdown]
# ## What goes wrong if you fill '?' with 0
#
# A quick fix for missing labels is to replace each '?' by 0, "not present". That is a false
# label: the object may well be in the picture. With half of the labels hidden, the filled-in
# data says "present" only half as often as the truth, and a model trained on it learns exactly
# that. If a fraction $q$ of the labels is hidden at random, the filled labels have mean
# $(1-q)\,p$ where $p$ is the true base rate, so the model's probabilities drift towards
# $(1-q)\,p$ instead of $p$.
#
# We measure it: the same small `SharedMLP` trained twice on the same scenes with 50% '?' labels,
# once with the masked cost and once with the '?' filled with 0, and then evaluated against the
# *full* truth `Y_true` of held-out scenes.

# %%
m_train, m_test, epochs = (600, 300, 3) if FAST else (8000, 2000, 15)
scenes = mtl.datasets.driving_scenes(m_train + m_test, image_size=32, missing=0.5, seed=1)
train, test = scenes.split(m_test)
X_train, X_test = train.flat(), test.flat()
Y_filled = np.where(np.isnan(train.Y), 0.0, train.Y)       # the mistake: '?' read as "no"

ways = {"masked": train.Y, "filled with 0": Y_filled}
probabilities = {}
for name, Y_fit in ways.items():
    model = mtl.SharedMLP([X_train.shape[0], 64, 4], seed=0)
    mtl.fit(model, X_train, Y_fit, optimizer=mtl.Adam(learning_rate=1e-3), epochs=epochs,
            batch_size=64, seed=0, progress=not FAST)
    probabilities[name] = model.predict_proba(X_test)

base_rate = test.Y_true.mean(axis=1)
recall = {name: mtl.task_metrics(test.Y_true, AL, tasks=test.tasks) for name, AL in probabilities.items()}
print(f"{'task':<15}{'true rate':>10}{'mean p, masked':>16}{'mean p, filled':>16}"
      f"{'recall, masked':>16}{'recall, filled':>16}")
for j, task in enumerate(test.tasks):
    print(f"{task:<15}{base_rate[j]:>10.3f}"
          f"{probabilities['masked'][j].mean():>16.3f}{probabilities['filled with 0'][j].mean():>16.3f}"
          f"{recall['masked'][task]['recall']:>16.3f}{recall['filled with 0'][task]['recall']:>16.3f}")
print(f"fraction of training labels that are 1 after filling: {Y_filled.mean():.3f}"
      f"   (theory (1 - q) p = 0.5 * {train.Y_true.mean():.3f} = {0.5 * train.Y_true.mean():.3f})")

# %%
x = np.arange(len(test.tasks))
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.bar(x - 0.3, base_rate, 0.3, label="true base rate (Y_true)", color="0.6")
for k, (name, AL) in enumerate(probabilities.items()):
    ax.bar(x + 0.3 * k, AL.mean(axis=1), 0.3, label=f"mean predicted p, '?' {name}")
ax.set_xticks(x); ax.set_xticklabels(test.tasks)
ax.set_ylabel("probability"); ax.set_ylim(0, 0.8); ax.legend(fontsize="small")
ax.set_title("50% '?' labels: masking vs filling with 0")
fig.tight_layout()

# %% [markdown]
# Compare the columns printed above. The masked model's mean probability stays near the true base
# rate; the zero-filled model's mean sits near $(1-q)\,p$, and because most of its probabilities
# fall below 0.5, its recall collapses: it has learned to say "no" to objects that are there. The
# bias does not go away with more data or more epochs; it is in the labels. Masking costs nothing:
# the '?' terms are simply not in the sum.
#
# ## Summary
#
# * The lecture's cost is a double sum over examples and tasks that skips '?'.
#   `mtl.masked_logistic_cost` is that formula vectorised (from probabilities, clipped);
#   `mtl.masked_logistic_cost_and_grad` is the stable version from the logits that models use.
# * `normalize="examples"` divides by $m$ (a per-image cost, the lecture's); `"labels"` divides by
#   the number of known labels (a per-label cost whose scale does not depend on the missing rate).
# * $dZ^{[L]} = \frac{1}{N} M \odot (A^{[L]} - Y)$, exactly 0 at '?'; checked against finite
#   differences above.
# * Computing $dA^{[L]}$ first divides by $1-a$, which is 0 once a sigmoid saturates: `inf`, then
#   `nan`. Work from the logits.
# * Mask with `where`, never by multiplying: $\text{nan} \cdot 0 = \text{nan}$.
# * Filling '?' with 0 biases every task towards "absent", by the factor $1-q$.
#
# ## More exercises (not graded)
#
# 1. Fill the '?' with **1** instead of 0. Before running it, predict the mean probability the
#    model will learn for each task; then run it and compare.
# 2. Train the masked model again with `mtl.SharedMLP(..., normalize="labels")`. Does the mean
#    probability change? Why would you expect it not to, on a fixed data set?
# 3. Derive $dZ^{[L]}$ for `normalize="labels"` and check your formula against
#    `mtl.masked_logistic_cost_and_grad(ZL, Y, normalize="labels")` with
#    `mtl.eval_numerical_gradient_array`.
#
# Next: [notebook 3](03_shared_network_by_hand.ipynb) builds the network this cost sits on, layer
# by layer. The project's [README](../README.md) lists every tutorial.
