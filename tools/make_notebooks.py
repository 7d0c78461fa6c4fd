"""Build the tutorial notebooks in ``tutorials/`` from the Python source in this file.

The notebooks are generated, not edited by hand: each one is written below as a string in the
"percent" format (a line ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell) and
turned into an ``.ipynb`` with nbformat, stored *without outputs* and with fixed cell ids, so that
regenerating gives byte-identical files and ``git diff`` shows only real changes.

Usage::

    python tools/make_notebooks.py            # (re)write tutorials/*.ipynb
    python tools/make_notebooks.py --check    # exit 1 if a notebook differs from its source here

``tests/test_notebooks.py`` runs the ``--check`` comparison, checks that no notebook carries
outputs, and executes every notebook top to bottom with ``MTL_FAST=1``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
_STDLIB = getattr(sys, "stdlib_module_names", frozenset({"os", "sys", "time", "types", "math", "json"}))
TUTORIALS = ROOT / "tutorials"

# The first code cell of every notebook: imports, and the fast/full switch.
SETUP = '''
import os{STDLIB}

import numpy as np
import matplotlib.pyplot as plt

import mtl_numpy as mtl{EXTRA}

# The test suite sets MTL_FAST=1: small data and few epochs, so that every notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting the text describes.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")
'''.strip()


# --------------------------------------------------------------------------------------------
# 01 The label matrix
# --------------------------------------------------------------------------------------------
NB01 = r'''
# %% [markdown]
# # 1. The label matrix
#
# **What we are about to do, and why.** The lecture's self-driving car looks at *one* picture and
# answers *four* questions at once: is there a pedestrian, a car, a stop sign, a traffic light?
# Before any network, we need the object that holds the answers: the label matrix $Y$, one row per
# question, one column per picture, where some answers were never given ('?'). This notebook builds
# $Y$ with `mtl.encode_labels`, marks its known entries with `mtl.label_mask`, shows why the network
# ends in four sigmoids and not in a softmax, and draws a few synthetic street scenes with their
# label columns.

# %%
{SETUP}
import mtl_numpy.layers  # the layer functions, used below as mtl.layers.*

# %% [markdown]
# ## The math
#
# For one image $x^{(i)}$ the lecture writes the labels as a $4 \times 1$ vector, one entry per task
# $j$ (pedestrian, car, stop sign, traffic light):
#
# $$y^{(i)} = \begin{bmatrix} y^{(i)}_1 \\ y^{(i)}_2 \\ y^{(i)}_3 \\ y^{(i)}_4 \end{bmatrix},
# \qquad y^{(i)}_j \in \{0,\ 1,\ ?\}.$$
#
# Stacking the $m$ columns side by side gives the label matrix
#
# $$Y = \begin{bmatrix} | & | & & | \\ y^{(1)} & y^{(2)} & \cdots & y^{(m)} \\ | & | & & | \end{bmatrix}
# \in \{0, 1, ?\}^{4 \times m},$$
#
# the same "one example per column" layout as the course's $X$ of shape $(n_x, m)$. We store a '?'
# as `nan`, so that $Y$ is an ordinary float array, and we describe which entries are known with the
# mask
#
# $$M_{ji} = \begin{cases} 1 & y^{(i)}_j \in \{0, 1\} \\ 0 & y^{(i)}_j = \,? \end{cases}$$
#
# A `nan` must never reach arithmetic (notebook 2 shows what happens when it does); every function
# of the package selects the known entries with $M$.

# %% [markdown]
# ## The code: `encode_labels` and `label_mask`
#
# Rows are tasks, columns are examples. Labels may be given as ints, bools or floats; '?', `None`
# and `nan` all mean "not labelled". The lecture's example image holds a car and a stop sign, so its
# column is $(0, 1, 1, 0)$; the other two columns have answers missing.

# %%
Y = mtl.encode_labels([
    # image 1  image 2  image 3
    [0,        1,       "?"],    # pedestrian
    [1,        "?",     0],      # car
    [1,        0,       None],   # stop_sign
    [0,        "?",     1],      # traffic_light
])
M = mtl.label_mask(Y)
print("tasks:", mtl.TASKS)
print("Y =\n", Y)
print("M =\n", M)
print("known labels per task:", M.sum(axis=1), "  per image:", M.sum(axis=0))

# %% [markdown]
# Anything else is refused early, with a message that names the entry (this is how every public
# function of the package treats bad input):

# %%
for bad in ([[1, "yes", 0]], [[1, 2, 0]]):
    try:
        mtl.encode_labels(bad)
    except ValueError as err:
        print("ValueError:", err)

# %% [markdown]
# ## Why four sigmoids and not a softmax
#
# A softmax turns the four output scores into a probability distribution: the four numbers are
# positive and **sum to 1**. That is the right output for "which *one* of these four is in the
# picture?". Here the question is different: a picture can hold a car *and* a stop sign (both
# answers 1) or nothing at all (all answers 0). The network therefore ends in four independent
# sigmoid units,
#
# $$\hat y^{(i)}_j = \sigma\big(z^{[L](i)}_j\big) = \frac{1}{1 + e^{-z^{[L](i)}_j}}, \qquad j = 1, \dots, 4,$$
#
# one yes/no classifier per task on top of a shared network. Take scores that say "car and stop
# sign, nothing else" and compare the two output layers (`mtl.layers.sigmoid` is the package's
# stable sigmoid; the softmax is one line of NumPy):

# %%
z = np.array([-4.0, 3.5, 3.0, -3.5])          # scores for (pedestrian, car, stop_sign, traffic_light)
y = np.array([0.0, 1.0, 1.0, 0.0])            # the lecture's example: a car and a stop sign
sig = mtl.layers.sigmoid(z)
soft = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
print("four sigmoids:", np.round(sig, 3), " sum =", round(float(sig.sum()), 3))
print("softmax:      ", np.round(soft, 3), " sum =", round(float(soft.sum()), 3))
# Logistic loss of each output against its 0/1 label: the softmax cannot make both 'yes' small.
print("logistic loss per task, sigmoids:", np.round(-y * np.log(sig) - (1 - y) * np.log(1 - sig), 3))
print("logistic loss per task, softmax: ", np.round(-y * np.log(soft) - (1 - y) * np.log(1 - soft), 3))

# %% [markdown]
# With a softmax, the two objects that are present have to share one unit of probability: at best
# each gets $1/2$, a loss of $\log 2 \approx 0.69$ each however good the features are. The sigmoids
# can say "yes" to both.
#
# How often does an image hold more than one object? In the synthetic scenes of
# `mtl.datasets.driving_scenes`, each of the four objects is present with probability $1/2$,
# independently, so the number of objects in a scene is Binomial$(4, 1/2)$: $P(0) = 1/16$,
# $P(1) = 4/16$ and $P(\ge 2) = 11/16$. The check below counts it in the data, using the full truth
# `Y_true` (which a real data set would not have; the learner only ever sees `Y`).

# %%
m = 400 if FAST else 5000
data = mtl.datasets.driving_scenes(m, image_size=32, missing=0.3, seed=0)
print(data)
print("X:", data.X.shape, data.X.dtype, " Y:", data.Y.shape, " flat():", data.flat().shape)

objects_per_scene = data.Y_true.sum(axis=0)
print(f"scenes with no object:         {np.mean(objects_per_scene == 0):.3f}   (theory 1/16  = {1/16:.3f})")
print(f"scenes with exactly one:       {np.mean(objects_per_scene == 1):.3f}   (theory 4/16  = {4/16:.3f})")
print(f"scenes with two or more:       {np.mean(objects_per_scene >= 2):.3f}   (theory 11/16 = {11/16:.3f})")

# %% [markdown]
# So a softmax would be wrong for most scenes, and would have nothing sensible to say for the empty
# ones.
#
# ## The '?' entries of a real label matrix
#
# `driving_scenes(..., missing=0.3)` hides each label independently with probability 0.3, as if
# whoever labelled the pictures had skipped some questions. The mask tells us how many answers each
# task really has, and how many columns carry no answer at all (those still count as examples: the
# lecture's $1/m$ counts every column; notebook 2 comes back to this).

# %%
M = mtl.label_mask(data.Y)
print("fraction labelled per task:", ", ".join(f"{t} {f:.3f}" for t, f in zip(data.tasks, M.mean(axis=1))),
      "(expected 0.7)")
n_empty = int(np.sum(M.sum(axis=0) == 0))
print(f"columns with no label at all: {n_empty} of {data.m}  (expected m * 0.3**4 = {data.m * 0.3**4:.1f})")
print("first 8 columns of Y:\n", data.Y[:, :8])

# %% [markdown]
# ## A picture: scenes and their label columns
#
# The first eight scenes, each captioned with its column of $Y$ (a '?' is an answer we do not
# have, even though the object may well be in the picture), and then the first columns of the label
# matrix itself, with the '?' entries in their own colour.

# %%
from mtl_numpy.plotting import plot_label_matrix, plot_scenes

fig = plot_scenes(data.X, data.Y, tasks=data.tasks, n=8)

# %%
fig = plot_label_matrix(data.Y[:, :32], tasks=data.tasks)

# %% [markdown]
# Compare the captions with the first eight columns of the matrix: they are the same numbers. Look
# for a '?' on an object you can plainly see: the image is still useful for the *other* tasks, and
# the masked cost of notebook 2 uses exactly those.
#
# ## Summary
#
# * The labels of $m$ images for 4 tasks form a $4 \times m$ matrix $Y$ with one column per image,
#   like the course's $X$. A '?' is stored as `nan`; `label_mask(Y)` is 1 where a label is known.
# * One image can contain several objects (most of these scenes do), so the network ends in four
#   independent sigmoids, not a softmax whose outputs must sum to 1.
# * Missing answers are normal: with 30% '?' per task about 70% of each row is known, and a few
#   columns are entirely '?'.
#
# ## Exercises
#
# 1. Write, with `mtl.encode_labels`, the label matrix of three scenes of your own: "a car waiting
#    at a stop sign", "an empty road", and "a pedestrian; nobody checked for a traffic light". What
#    does `label_mask` return, and what does `mtl.encode_labels([[1, 0], [0.5, 1]])` say?
# 2. Make the traffic-light task scarce: `mtl.datasets.driving_scenes(2000, missing=(0, 0, 0, 0.99))`.
#    How many traffic-light labels are left, and how many for the other tasks? Which situation of the
#    lecture is this (when does multi-task learning help)?
# 3. Four yes/no tasks could also be written as *one* softmax over the $2^4 = 16$ combinations.
#    Why is that a bad idea when there are 20 tasks, and what would an image with one '?' label
#    become in that encoding?
'''


# --------------------------------------------------------------------------------------------
# 02 The masked cost
# --------------------------------------------------------------------------------------------
NB02 = r'''
# %% [markdown]
# # 2. The masked cost
#
# **What we are about to do, and why.** The lecture trains one network on all four tasks by adding
# up the logistic losses of the four outputs, and it says what to do with a '?': leave that term
# out of the sum. This notebook writes that cost as the lecture's double loop, then as the
# vectorised functions the package uses; derives its gradient $dZ^{[L]}$ by hand and checks it
# numerically; shows why the textbook $dA^{[L]}$ formula breaks on saturated outputs and why a
# `nan` times 0 is still `nan`; and measures what goes wrong if a '?' is simply read as a 0.

# %%
{SETUP}
import time
import mtl_numpy.layers  # the layer functions, used below as mtl.layers.*

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
# Here is the formula transcribed literally: one loop over the examples, one over the tasks, and a
# `continue` for every '?'. (This is the one place where we write the math out in a cell: it *is*
# the teaching point. Everywhere else the package's functions are used.)

# %%
def lecture_cost(AL, Y):
    """J = (1/m) * sum over i, sum over the j with a known label, of L(AL[j, i], Y[j, i])."""
    n_tasks, m = Y.shape
    J = 0.0
    for i in range(m):                  # every example (column) ...
        for j in range(n_tasks):        # ... every task (row) ...
            if np.isnan(Y[j, i]):       # ... except the '?' labels: not in the sum
                continue
            y, a = Y[j, i], AL[j, i]
            J += -y * np.log(a) - (1 - y) * np.log(1 - a)
    return J / m


m = 1000 if FAST else 20000
data = mtl.datasets.driving_scenes(m, image_size=16, missing=0.3, seed=0)
Y = data.Y                                               # (4, m) with nan for '?'
rng = np.random.default_rng(0)
AL = rng.uniform(0.05, 0.95, size=Y.shape)               # some predicted probabilities

t0 = time.perf_counter(); J_loops = lecture_cost(AL, Y); t_loops = time.perf_counter() - t0
t0 = time.perf_counter(); J_vec = mtl.masked_logistic_cost(AL, Y); t_vec = time.perf_counter() - t0
print(f"loops:      J = {J_loops:.12f}   ({t_loops * 1e3:.1f} ms)")
print(f"vectorised: J = {J_vec:.12f}   ({t_vec * 1e3:.2f} ms)")
print(f"|difference| = {abs(J_loops - J_vec):.1e}")

# %% [markdown]
# The two agree to rounding (the printed difference), and the vectorised version is much faster
# (the two times above, measured once on this machine: an honest order of magnitude, not a
# benchmark).
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
# pass. Check it three ways: against the formula written with `np.where` (select, never multiply a
# `nan`), against central finite differences (`mtl.eval_numerical_gradient_array`), and on the '?'
# entries, where it must be exactly 0.

# %%
k = 60                                              # a small slice: finite differences cost 2 calls per entry
Yk = Y[:, :k]
ZL = rng.standard_normal(Yk.shape) * 3              # logits, float64
J, dZL = mtl.masked_logistic_cost_and_grad(ZL, Yk)

A = mtl.layers.sigmoid(ZL)
Mk = mtl.label_mask(Yk)
dZ_formula = np.where(Mk > 0, A - Yk, 0.0) / k      # (1/m) M * (A - Y), with the '?' entries selected away
dZ_numeric = mtl.eval_numerical_gradient_array(
    lambda Z: mtl.masked_logistic_cost_and_grad(Z, Yk)[0], ZL.copy(), 1.0)

print(f"J = {J:.6f}")
print(f"max |dZL - formula|        = {np.max(np.abs(dZL - dZ_formula)):.1e}")
print(f"vs finite differences: course's difference {mtl.gradcheck.gradient_difference(dZL, dZ_numeric):.1e},"
      f" largest elementwise relative error {mtl.relative_error(dZL, dZ_numeric):.1e}")
print(f"dZL at the {int((Mk == 0).sum())} '?' entries: all exactly 0 -> {bool(np.all(dZL[Mk == 0] == 0))}")

# %% [markdown]
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
            batch_size=64, seed=0, progress=False)
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
# ## Exercises
#
# 1. Fill the '?' with **1** instead of 0. Before running it, predict the mean probability the
#    model will learn for each task; then run it and compare.
# 2. Train the masked model again with `mtl.SharedMLP(..., normalize="labels")`. Does the mean
#    probability change? Why would you expect it not to, on a fixed data set?
# 3. Derive $dZ^{[L]}$ for `normalize="labels"` and check your formula against
#    `mtl.masked_logistic_cost_and_grad(ZL, Y, normalize="labels")` with
#    `mtl.eval_numerical_gradient_array`.
'''


# --------------------------------------------------------------------------------------------
# 03 A shared network by hand
# --------------------------------------------------------------------------------------------
NB03 = r'''
# %% [markdown]
# # 3. A shared network by hand
#
# **What we are about to do, and why.** The lecture's multi-task network is an ordinary deep
# network whose last layer has four sigmoid units instead of one: everything below the last layer
# is *shared* by the four tasks, and that sharing is why one network can beat four. Here we take
# `mtl.SharedMLP` apart: run its forward and backward passes layer by layer with the functions of
# `mtl.layers`, check each layer's backward against numerical derivatives, run the course's
# whole-model gradient check and learn to read its number, and finally plant a bug in a backward
# pass and watch the check find the layer.

# %%
{SETUP}
import types
import mtl_numpy.layers  # the layer functions, used below as mtl.layers.*
from mtl_numpy.backends import numpy_backend

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
# ## Each layer against numerical derivatives
#
# CS231n's recipe checks one layer at a time: feed random inputs forward, pick a random upstream
# gradient `dout`, and compare the layer's backward with the numerical gradient of
# $\sum \text{out} \odot \text{dout}$ (`mtl.eval_numerical_gradient_array`). The number printed is
# the largest elementwise relative error, `mtl.relative_error`; in float64 a correct backward gives
# something around $10^{-8}$ or smaller.

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
# * a correct float64 backward typically lands around $10^{-9}$, give or take a factor of ten,
#   with $\varepsilon = 10^{-7}$: what is left is the difference quotient's own error
#   ($\propto \varepsilon^2$) plus rounding error ($\propto 10^{-16}\,|J| / \varepsilon$), so the
#   exact value depends on the sizes of $J$ and of the gradients;
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
# backward is `linear_backward`, not the broken one) still pass. A difference of about $0.005$ is
# what a 1% scale error gives: $\lVert 0.01\,g \rVert / \lVert 2.01\,g \rVert \approx 0.005$.
#
# ## Summary
#
# * `SharedMLP` is $[\text{LINEAR} \to \text{RELU}] \times (L-1) \to \text{LINEAR} \to 4$ sigmoids;
#   every layer below the last is shared, and its gradient sums the four tasks' contributions.
# * Each layer's backward sits next to its forward in `mtl.layers` and is checked on its own with
#   `eval_numerical_gradient_array`; the model's passes are those layers in a loop, nothing more.
# * `mtl.gradient_check` runs the course's check in float64: below $2\times10^{-7}$ passes, around
#   $10^{-9}$ is typical; in float32 the same check is meaningless.
# * A 1% error in one layer's backward gives a difference near $5\times10^{-3}$, and
#   `per_parameter` names the layer.
#
# ## Exercises
#
# 1. Break the ReLU backward differently: use $\mathbb{1}[Z \ge 0]$ instead of $\mathbb{1}[Z > 0]$.
#    Does the gradient check notice? When could it?
# 2. Write a broken backend whose `linear_backward` forgets to sum `db` over the examples (returns
#    `dZ[:, :1]`). Which parameters does the check flag, and why those?
# 3. Run `mtl.gradient_check` on a tiny `mtl.SharedCNN(input_shape=(16, 16, 3), conv_channels=(2,),
#    hidden=(4,), dtype="float64")` with the images `data.X`. How long does it take, and what does
#    `max_per_parameter` trade away?
'''


# --------------------------------------------------------------------------------------------
# 04 Training on driving scenes
# --------------------------------------------------------------------------------------------
NB04 = r'''
# %% [markdown]
# # 4. Training on driving scenes
#
# **What we are about to do, and why.** Notebooks 1-3 built every piece: the label matrix with its
# '?', the masked cost, a shared network whose gradients we trust. Now we train it the way the
# course trains networks, with mini-batches and Adam, on thousands of synthetic street scenes, and
# look at the result task by task, as the lecture asks: one network, four questions, how well is
# each one answered? We watch learning curves per task, measure per-task precision and recall,
# look at scenes with their predicted and true labels, and at the scenes the model gets most
# wrong.

# %%
{SETUP}
from mtl_numpy.plotting import plot_learning_curves, plot_scenes

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
# `mtl.training.random_mini_batches` is the shuffle-and-cut step `mtl.fit` uses. Check it on 10
# examples and batches of 4: every example exactly once, last batch smaller.

# %%
batches = mtl.training.random_mini_batches(10, 4, np.random.default_rng(0))
print("batches:", [b.tolist() for b in batches])
print("every example exactly once:", np.array_equal(np.sort(np.concatenate(batches)), np.arange(10)))
print("batches per epoch on the training set:", len(mtl.training.random_mini_batches(m_train, 64, np.random.default_rng(0))))

# %% [markdown]
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
                  validation=(X_val, val.Y), seed=0, progress=False, tasks=train.tasks)
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
# learning what a pedestrian looks like. The right panel shows that the tasks do not learn at the
# same speed; the epoch with the lowest validation cost is printed below.

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
# learned separately from the examples that happen to put an object there. That is what the
# learning curves show as high variance, and it is what the convolutions of notebook 5 fix.
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
# ## Exercises
#
# 1. Train with `mtl.GradientDescent(learning_rate=0.1)` and with `mtl.Momentum(0.01)` instead of
#    Adam for the same number of epochs, and plot the three training-cost curves on one axis.
# 2. Change `batch_size` to 16 and to 512. What happens to the time per epoch
#    (`history.seconds`) and to the validation cost after a fixed number of epochs?
# 3. Use the epoch with the lowest validation cost: retrain for exactly that many epochs (early
#    stopping) and compare the test metrics with the ones above.
'''


# --------------------------------------------------------------------------------------------
# 05 Convolutions by hand
# --------------------------------------------------------------------------------------------
NB05 = r'''
# %% [markdown]
# # 5. Convolutions by hand
#
# **What we are about to do, and why.** The lecture's argument for multi-task learning is that the
# four tasks share *low-level features*: edges, colours, blobs, that a pedestrian detector and a
# car detector both need. In images, the layer that learns such features is the convolution: one
# small filter, slid over every position, so that a feature learned in one corner works everywhere.
# This notebook writes convolution and pooling the course's way, with loops (the teaching
# versions in `mtl_numpy.backends.naive`), then as one matrix product (im2col, in
# `mtl_numpy.convolution`), checks that they agree and times them, checks the gradients, looks at
# what the filters of a trained `SharedCNN` see in a street scene, and compares that CNN with the
# MLP of notebook 4 on the same scenes.

# %%
{SETUP}
import time
from mtl_numpy import convolution
from mtl_numpy.backends import naive
from mtl_numpy.plotting import plot_learning_curves, plot_task_metrics

# %% [markdown]
# ## The math
#
# Channels last, as in the course: a batch of images $A_{prev}$ has shape
# $(m, n_{H,prev}, n_{W,prev}, n_{C,prev})$, the filters $W$ have shape $(f, f, n_{C,prev}, n_C)$
# and the biases $b$ shape $(1, 1, 1, n_C)$. With padding $p$ and stride $s$,
#
# $$n_H = \Big\lfloor \frac{n_{H,prev} - f + 2p}{s} \Big\rfloor + 1, \qquad
# Z[i, h, w, c] = \sum_{u=0}^{f-1}\sum_{v=0}^{f-1}\sum_{k=0}^{n_{C,prev}-1}
# A_{pad}[i,\ s h + u,\ s w + v,\ k]\; W[u, v, k, c] + b[c].$$
#
# (Cross-correlation, as every deep-learning library computes it: no kernel flip.) Max pooling
# with window $f$ and stride $s$ keeps the largest value of each window, channel by channel:
#
# $$A[i, h, w, c] = \max_{0 \le u, v < f} A_{prev}[i,\ s h + u,\ s w + v,\ c].$$
#
# The `SharedCNN` uses $f = 3$, $s = 1$ and $p = 1$ ("same": output as large as the input), a ReLU,
# then a $2 \times 2$ max pool with stride 2, per conv layer.

# %% [markdown]
# ## The course's loops
#
# `naive.zero_pad` adds the border, `naive.conv_single_step` is one filter on one window (an
# elementwise product and a sum), and `naive.conv_forward` loops over examples, output rows, output
# columns and filters, calling it once per output number.

# %%
rng = np.random.default_rng(1)
A_prev = rng.standard_normal((2, 7, 7, 3))             # (m, n_H_prev, n_W_prev, n_C_prev)
W = rng.standard_normal((3, 3, 3, 4)) * 0.3            # (f, f, n_C_prev, n_C)
b = rng.standard_normal((1, 1, 1, 4)) * 0.1            # (1, 1, 1, n_C)
hparameters = {"stride": 1, "pad": 1}

A_pad = naive.zero_pad(A_prev, 1)
print("A_prev", A_prev.shape, "-> zero_pad ->", A_pad.shape)
print("one step, window (0, 0), filter 0:", naive.conv_single_step(A_pad[0, 0:3, 0:3, :], W[..., 0], b[..., 0]))

Z_naive, cache_naive = naive.conv_forward(A_prev, W, b, hparameters)
print("conv_forward:", Z_naive.shape, " Z[0, 0, 0, 0] =", Z_naive[0, 0, 0, 0])

P_naive, pool_cache_naive = naive.pool_forward(Z_naive, {"f": 2, "stride": 2}, mode="max")
print("pool_forward (f=2, stride=2):", P_naive.shape, "(7 // 2 = 3: the last row and column are dropped)")

window = np.array([[1.0, 3.0], [3.0, 2.0]])
print("create_mask_from_window: \n", naive.create_mask_from_window(window).astype(int),
      "\n(the gradient of a max goes to one position: the first maximum, as PyTorch does)")

# %% [markdown]
# ## im2col: the convolution as one matrix product
#
# The loops compute $m\, n_H\, n_W\, n_C$ small dot products one at a time. im2col gathers every
# $f \times f \times n_{C,prev}$ window into one row of a matrix, once; then all the dot products
# are a single matrix product that BLAS runs at full speed:
#
# $$\underbrace{Z}_{(m n_H n_W) \times n_C} = \underbrace{\text{cols}}_{(m n_H n_W) \times (f f n_{C,prev})}
# \; \underbrace{W}_{(f f n_{C,prev}) \times n_C} + b.$$
#
# The backward pass reuses it: $dW = \text{cols}^T dZ$ and $d\,\text{cols} = dZ\, W^T$, added back
# onto the input (col2im). The fast functions have exactly the naive ones' signatures and caches;
# check that every output agrees.

# %%
cols = convolution.im2col(A_prev, 3, 1, 1)
print("im2col:", cols.shape, "-> as a matrix", cols.reshape(-1, 3 * 3 * 3).shape)

Z_fast, cache_fast = convolution.conv_forward(A_prev, W, b, hparameters)
P_fast, pool_cache_fast = convolution.pool_forward(Z_fast, {"f": 2, "stride": 2}, mode="max")
dZ = rng.standard_normal(Z_fast.shape)
dP = rng.standard_normal(P_fast.shape)
pairs = {
    "conv_forward Z": (Z_naive, Z_fast),
    "pool_forward A": (P_naive, P_fast),
    **{f"conv_backward {n}": (g1, g2) for n, g1, g2 in zip(
        ("dA_prev", "dW", "db"), naive.conv_backward(dZ, cache_naive), convolution.conv_backward(dZ, cache_fast))},
    "pool_backward dA_prev": (naive.pool_backward(dP, pool_cache_naive, mode="max"),
                              convolution.pool_backward(dP, pool_cache_fast, mode="max")),
}
for name, (slow, fast) in pairs.items():
    print(f"{name:<22} max |naive - im2col| = {np.max(np.abs(slow - fast)):.1e}")

# %% [markdown]
# ### A small, honest timing
#
# One conv layer's forward pass on a batch of street-scene-sized inputs, best of a few runs of each,
# on whatever machine runs this cell (the numbers are printed, not quoted; they change with the
# machine and its load).

# %%
m_time = 2 if FAST else 8
A_time = rng.standard_normal((m_time, 32, 32, 3)).astype(np.float32)
W_time = (rng.standard_normal((3, 3, 3, 16)) * 0.3).astype(np.float32)
b_time = np.zeros((1, 1, 1, 16), dtype=np.float32)


def best_time(f, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter(); f(); times.append(time.perf_counter() - t0)
    return min(times)


t_naive = best_time(lambda: naive.conv_forward(A_time, W_time, b_time, hparameters), 2)
t_fast = best_time(lambda: convolution.conv_forward(A_time, W_time, b_time, hparameters), 20)
print(f"conv forward, {m_time} images of 32x32x3, 16 filters 3x3:")
print(f"  naive loops: {t_naive * 1e3:9.2f} ms")
print(f"  im2col:      {t_fast * 1e3:9.2f} ms    ({t_naive / t_fast:.0f}x faster)")

# %% [markdown]
# ## Gradient checks
#
# First each layer on its own, against `mtl.eval_numerical_gradient_array`, as in notebook 3 (in
# float64, on the naive layer's tiny inputs); then the whole-model check on a small `SharedCNN`,
# conv layers, pooling, flatten and dense layers together.

# %%
A64, W64, b64 = A_prev[:1, :5, :5, :2].copy(), W[:, :, :2, :2].copy(), b[..., :2].copy()
Zc, cc = convolution.conv_forward(A64, W64, b64, hparameters)
dZc = rng.standard_normal(Zc.shape)
dA_c, dW_c, db_c = convolution.conv_backward(dZc, cc)
num = mtl.eval_numerical_gradient_array
print("conv  dA_prev relative error:", f"{mtl.relative_error(dA_c, num(lambda a: convolution.conv_forward(a, W64, b64, hparameters)[0], A64, dZc)):.1e}")
print("conv  dW      relative error:", f"{mtl.relative_error(dW_c, num(lambda w: convolution.conv_forward(A64, w, b64, hparameters)[0], W64, dZc)):.1e}")
print("conv  db      relative error:", f"{mtl.relative_error(db_c, num(lambda c: convolution.conv_forward(A64, W64, c, hparameters)[0], b64, dZc)):.1e}")
Pp, pc = convolution.pool_forward(A64, {"f": 2, "stride": 2}, mode="max")
dPp = rng.standard_normal(Pp.shape)
print("pool  dA_prev relative error:", f"{mtl.relative_error(convolution.pool_backward(dPp, pc, mode='max'), num(lambda a: convolution.pool_forward(a, {'f': 2, 'stride': 2}, mode='max')[0], A64, dPp)):.1e}")

small = mtl.datasets.driving_scenes(m=4, image_size=16, missing=0.3, seed=0)
tiny_cnn = mtl.SharedCNN(input_shape=(16, 16, 3), conv_channels=(4, 6), hidden=(8,), seed=0, dtype="float64")
t0 = time.perf_counter()
check = mtl.gradient_check(tiny_cnn, small.X.astype(np.float64), small.Y)
print(f"\n{tiny_cnn}\n{check}\n({time.perf_counter() - t0:.1f} s)")

# %% [markdown]
# ## A SharedCNN on the driving scenes, and the same scenes for an MLP
#
# The CNN: two conv blocks (16 and 32 filters of $3\times3$, ReLU, $2\times2$ max pool), then a
# dense layer of 64 units shared by the four sigmoid outputs. The MLP: notebook 4's
# $3072 \to 256 \to 128 \to 4$. Both are trained on the same scenes with the same optimizer and
# evaluated on the same test scenes against the full truth.

# %%
m_train, m_val, m_test = (600, 200, 200) if FAST else (10000, 1000, 1000)
epochs_cnn, epochs_mlp = (1, 2) if FAST else (12, 20)
data = mtl.datasets.driving_scenes(m_train + m_val + m_test, image_size=32, missing=0.3, seed=0)
rest, test = data.split(m_test)
train, val = rest.split(m_val)

cnn = mtl.SharedCNN(input_shape=(32, 32, 3), conv_channels=(16, 32), kernel_size=3, pool_size=2,
                    hidden=(64,), seed=0)
mlp = mtl.SharedMLP([32 * 32 * 3, 256, 128, 4], seed=0)
print(cnn, "|", cnn.n_parameters, "parameters")
print(mlp, "|", mlp.n_parameters, "parameters")

history_cnn = mtl.fit(cnn, train.X, train.Y, optimizer=mtl.Adam(learning_rate=1e-3), epochs=epochs_cnn,
                      batch_size=64, validation=(val.X, val.Y), seed=0, progress=False, tasks=train.tasks)
history_mlp = mtl.fit(mlp, train.flat(), train.Y, optimizer=mtl.Adam(learning_rate=1e-3), epochs=epochs_mlp,
                      batch_size=64, validation=(val.flat(), val.Y), seed=0, progress=False, tasks=train.tasks)
print(f"CNN: {history_cnn.epochs} epochs in {sum(history_cnn.seconds):.1f} s;"
      f" MLP: {history_mlp.epochs} epochs in {sum(history_mlp.seconds):.1f} s")

# %%
fig = plot_learning_curves(history_cnn)
fig.suptitle("SharedCNN", y=1.02);

# %%
metrics = {
    "SharedMLP": mtl.task_metrics(test.Y_true, mlp.predict_proba(test.flat()), tasks=test.tasks),
    "SharedCNN": mtl.task_metrics(test.Y_true, cnn.predict_proba(test.X), tasks=test.tasks),
}
for name, table in metrics.items():
    print(mtl.format_metrics_table(table, title=f"{name}, test scenes, full truth"), "\n")
fig = plot_task_metrics(metrics, metric="average_precision")

# %% [markdown]
# Compare the two tables: the mean rows, and task by task. The CNN has far fewer parameters than
# the MLP (printed above) yet, given enough epochs, answers the four questions better, because its
# filters are shared across positions: a stop-sign detector learned at one place in the picture
# works at every place. (In the fast setting the CNN gets a single epoch, so its numbers there say
# little; run the notebook in the full setting for the comparison the text describes.)
#
# ## What a filter sees
#
# The first layer's 16 filters are $3 \times 3 \times 3$: small colour patterns. Below, the filters
# themselves (each rescaled to $[0, 1]$ to be visible as a colour patch), then one test scene and
# the 16 feature maps $\max(Z^{[1]}, 0)$ the first layer computes from it, with the package's
# `conv_forward` and the trained parameters `cnn.params["W1"]`, `cnn.params["b1"]`.

# %%
W1, b1 = cnn.params["W1"], cnn.params["b1"]
fig, axes = plt.subplots(1, W1.shape[3], figsize=(W1.shape[3] * 0.8, 1.1))
for c, ax in enumerate(axes):
    w = W1[..., c]
    ax.imshow((w - w.min()) / (w.max() - w.min() + 1e-12), interpolation="nearest")
    ax.set_title(str(c), fontsize=8); ax.set_axis_off()
fig.suptitle("first-layer filters (3x3x3, rescaled)", y=1.15, fontsize=10);

# %%
scene = test.X[:1]                                            # (1, 32, 32, 3)
same = {"stride": 1, "pad": (cnn.kernel_size - 1) // 2}
Z1, _ = convolution.conv_forward(scene, W1, b1, same)
A1 = np.maximum(Z1, 0)                                         # the ReLU
P1, _ = convolution.pool_forward(A1, {"f": 2, "stride": 2}, mode="max")
print("scene", scene.shape, "-> conv + ReLU", A1.shape, "-> max pool", P1.shape)
print("labels of this scene:", {t: v for t, v in zip(test.tasks, test.Y_true[:, 0].astype(int).tolist())})

fig, axes = plt.subplots(2, 9, figsize=(13, 3.2))
axes[0, 0].imshow(scene[0]); axes[0, 0].set_title("scene", fontsize=8)
axes[1, 0].set_axis_off()
for c in range(16):
    ax = axes[c // 8, 1 + c % 8]
    ax.imshow(A1[0, :, :, c], cmap="magma"); ax.set_title(f"map {c}", fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([]); ax.set_yticks([])
fig.tight_layout()

# %% [markdown]
# Each map is bright where its filter's pattern occurs: some respond to edges of one orientation,
# some to a colour (compare the red stop-sign face, the lit lamp of a traffic light, the dark
# wheels of a car, if this scene has them), some to the horizon. These are the shared low-level
# features of the lecture: every one of them feeds all four outputs.
#
# ## Pooling
#
# Max pooling keeps, for each $2\times2$ window, the strongest response: the map shrinks to a
# quarter, small shifts of an object barely change it, and the next layer's $3\times3$ filter
# covers twice as much of the picture. Here is the most active map (the largest sum) before and
# after.

# %%
c_best = int(np.argmax(A1[0].sum(axis=(0, 1))))
fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
axes[0].imshow(scene[0]); axes[0].set_title("scene")
axes[1].imshow(A1[0, :, :, c_best], cmap="magma"); axes[1].set_title(f"map {c_best}: {A1.shape[1]}x{A1.shape[2]}")
axes[2].imshow(P1[0, :, :, c_best], cmap="magma"); axes[2].set_title(f"max-pooled: {P1.shape[1]}x{P1.shape[2]}")
for ax in axes:
    ax.set_xticks([]); ax.set_yticks([])
fig.tight_layout()
print(f"map {c_best}: max before pooling {A1[0, :, :, c_best].max():.3f}, after {P1[0, :, :, c_best].max():.3f} (pooling keeps the peak)")

# %% [markdown]
# ## Summary
#
# * A convolution slides one small filter over every position: $Z = \text{cols}\; W + b$ once the
#   windows are gathered (im2col). The loops of `naive` and the matrix product of `convolution`
#   agree to rounding, forward and backward, and the matrix product is much faster (the timing
#   cell).
# * Max pooling keeps each window's maximum; its gradient goes to that one position.
# * The per-layer checks and the whole-model `gradient_check` pass for the CNN as they did for the
#   MLP.
# * On the same scenes a small `SharedCNN` has fewer parameters than the MLP and learns features
#   that work at every position; its first-layer feature maps are the shared low-level features
#   the lecture talks about.
#
# ## Exercises
#
# 1. Use `naive.conv_forward` with `{"stride": 2, "pad": 0}` on `A_prev`. Predict the output shape
#    from the formula first, then check it, and check that `convolution.conv_forward` agrees.
# 2. Replace max pooling by average pooling (`mode="average"`) in the naive/fast comparison and in
#    the gradient check of the pooling layer. What is `naive.distribute_value` for?
# 3. Train a `SharedCNN` with `conv_channels=(4, 8)` and another with `(32, 64)` for the same number
#    of epochs. How do the parameter counts, the time per epoch and the test average precision
#    change? Relate it to the lecture's remark that multi-task learning needs a network big enough.
'''


# --------------------------------------------------------------------------------------------
# 06 When does multi-task learning help?
# --------------------------------------------------------------------------------------------
NB06 = r'''
# %% [markdown]
# # 6. When does multi-task learning help?
#
# **What we are about to do, and why.** The lecture ends with three conditions under which
# multi-task learning makes sense:
#
# 1. the tasks could benefit from having **shared lower-level features** (a pedestrian detector and
#    a car detector both need edges, wheels, silhouettes);
# 2. usually, the **amount of data for each task is quite similar**; more precisely, if you focus on
#    one task, the *other tasks together* should have a lot more data than that one (the lecture's
#    100 tasks with 1,000 images each: the other 99 bring 99,000 images to the one you care about);
# 3. you can train a **big enough network**: Rich Caruana found that the only time multi-task
#    learning hurts, compared with separate networks, is when the network is not big enough.
#
# Each condition is an experiment in `mtl_numpy.experiments`: `sharing` (one network for four tasks
# against four networks, with every label and with few), `data_amounts` (a task with few labels
# next to tasks with many, with a shuffle control) and `network_size` (the gain from sharing
# against the width of the shared network). In between, `masking` asks how to use the examples
# that carry a '?': the lecture's masked sum is what lets every partly labelled image count for the
# tasks it does answer. We run each experiment, print its table, draw its figure, set it beside the
# stored full run, and compare with what the lecture predicts, including where the results
# disagree with it.
#
# In the fast setting (`MTL_FAST=1`) every experiment runs in seconds, on two seeds, a few hundred
# scenes and a narrow network (the settings are printed with each table): its numbers are
# illustrations, noisy by design, and say nothing either way about the lecture's claims. The
# conclusions come from the full setting, which docs/experiments.md discusses. Its results are
# stored in `docs/figures/NAME.json`, written by `python -m mtl_numpy.experiments all --out
# docs/figures`; where this checkout has them, the notebook loads each one and prints it next to
# this run's table. Running the full setting here (`MTL_FAST` unset) takes minutes per experiment:
# the wall times of the stored run are in `docs/figures/timings_all.json`, printed below.

# %%
{SETUP}
import json
from pathlib import Path
from mtl_numpy import experiments

# Tables of an earlier full run, if this checkout has them (python -m mtl_numpy.experiments NAME --out docs/figures)
FIGURES = Path("..") / "docs" / "figures"

# %%
timings = FIGURES / "timings_all.json"
if timings.exists():
    t = json.loads(timings.read_text())
    print(f"stored full run of all six: {t['jobs']} experiments at a time on {t['cpus']} CPUs,"
          f" backends {sorted(set(t['backends'].values()))}")
    for name, seconds in t["seconds"].items():
        print(f"  {name:<13} {seconds:7.1f} s")
    print(f"  all six (one command): {t['total']:.1f} s = {t['total'] / 60:.1f} min"
          " (the experiments overlap, so the times above add up to more)")
else:
    print("no stored timings here; make them with: python -m mtl_numpy.experiments all --out docs/figures")

# %% [markdown]
# ## The math: the network, and what "helps" means here
#
# The network of these experiments is a small CNN on the $16 \times 16 \times 3$ scenes
# (`experiments.common.scene_cnn`), with one knob, its width $w$: two blocks of $3 \times 3$
# 'same' convolution, ReLU and $2 \times 2$ max pool, with $w$ and $2w$ filters, then a dense ReLU
# layer of $4w$ units and one sigmoid per task:
#
# $$16{\times}16{\times}3 \;\xrightarrow{\text{conv } w,\ \text{pool}}\; 8{\times}8{\times}w
# \;\xrightarrow{\text{conv } 2w,\ \text{pool}}\; 4{\times}4{\times}2w
# \;\xrightarrow{\text{flatten}}\; 32w \;\xrightarrow{\text{dense}}\; 4w
# \;\xrightarrow{\ \sigma\ }\; T \text{ outputs}.$$
#
# Every layer but the last is shared by the $T$ tasks: the multi-task network has $T = 4$, a
# single-task network $T = 1$. Counting weights and biases layer by layer:
#
# $$\underbrace{(27w + w)}_{\text{conv 1}} + \underbrace{(18w^2 + 2w)}_{\text{conv 2}}
# + \underbrace{(128w^2 + 4w)}_{\text{dense}} + \underbrace{(4wT + T)}_{\text{output}}
# = 146\,w^2 + 34\,w + 4wT + T.$$
#
# Four single-task networks of width $w$ have about four times the parameters of one multi-task
# network of the same width: each has its own copy of every shared layer. Halving the width divides
# the $w^2$ terms by four, so four single-task networks of width $w/2$ together have about as many
# parameters as the one multi-task network. That is the `sharing` experiment's third condition,
# `single_task_quarter`.
#
# Every model is trained with Adam and the masked cost of notebook 2, and keeps the checkpoint
# with the lowest cost on separate validation scenes (early stopping; docs/experiments.md, "Common
# choices", explains why a fixed number of steps or epochs would favour one side). It is evaluated
# on held-out scenes against the full truth `Y_true`, task by task (accuracy and average precision,
# notebook 4), and every number is a **mean ± standard deviation over seeds** (each seed draws new
# scenes, hides new labels and initialises new networks). A *gain* is a paired difference,
# multi-task minus single-task, computed seed by seed.

# %%
w = 16
print(experiments.common.scene_cnn(16, w, 4, seed=0, backend="numpy"))
for label, (width, T, copies) in {"one multi-task network, width w": (w, 4, 1),
                                  "four single-task networks, width w": (w, 1, 4),
                                  "four single-task networks, width w/2": (w // 2, 1, 4)}.items():
    model = experiments.common.scene_cnn(16, width, T, seed=0, backend="numpy")
    formula = copies * (146 * width ** 2 + 34 * width + 4 * width * T + T)
    print(f"{label:<37} {copies * model.n_parameters:>8,} parameters   (formula: {formula:,})")

# %% [markdown]
# ## Condition 1: shared low-level features — one network or four?
#
# `experiments.sharing.run` trains, on the same scenes, one multi-task CNN of width $w$
# (`multi_task`), four single-task CNNs of width $w$ (`single_task`) and four of width $w/2$
# (`single_task_quarter`), and records each task's held-out accuracy and average precision, and
# their `mean` over the four tasks. It does so at several *labelled fractions*: each label is kept
# with that probability, independently. With every label kept, each single-task network sees every
# scene. With a tenth kept, each task has its own, mostly different, tenth of the scenes labelled:
# a single-task network learns from its own labels only, while the multi-task network learns from
# every scene with any label. That is the lecture's "the other tasks in aggregate have much more
# data". The lecture predicts that the shared network does at least as well as the four separate
# ones, and better the scarcer the labels, because what it learns for one task (edges, the road,
# what a red object looks like) is useful for the others.

# %%
sharing = experiments.sharing.run(fast=FAST, progress=not FAST)
print("settings:", sharing.settings, f"\n({sharing.seconds:.1f} s)\n")
print(sharing.to_markdown("accuracy"))
print("\nparameters:", sharing.notes["parameters"])
for frac in sharing.params:
    rows = {cond: sharing.get(cond, "mean", "accuracy", frac) for cond in sharing.conditions}
    print(f"labelled {frac:g}, accuracy averaged over the four tasks: "
          + ", ".join(f"{cond} {r.mean:.3f} ± {r.std:.3f}" for cond, r in rows.items()))

# %%
fig = experiments.plot(sharing)

# %% [markdown]
# One panel per labelled fraction, bars grouped by task; the error bars are the spread over seeds.
# The stored full run, if this checkout has it, with the settings it ran with and the comparisons
# that matter: the mean over the four tasks at each labelled fraction, and the hardest and easiest
# tasks on their own:

# %%
stored = FIGURES / "sharing.json"
if stored.exists():
    full = experiments.ExperimentResult.from_json(stored)
    print(f"stored full run, {full.seconds:.0f} s, settings {full.settings}")
    print("parameters:", full.notes["parameters"], "\n")
    print(full.to_markdown("accuracy"))
    print("\naccuracy averaged over the four tasks:")
    for frac in full.params:
        multi, single, quarter = (full.get(cond, "mean", "accuracy", frac)
                                  for cond in ("multi_task", "single_task", "single_task_quarter"))
        print(f"  labelled {frac:>4g}: multi_task {multi.mean:.3f} ± {multi.std:.3f}, single_task {single.mean:.3f}"
              f" ± {single.std:.3f}, single_task_quarter {quarter.mean:.3f}   (multi - single {multi.mean - single.mean:+.3f})")
    for task in ("pedestrian", "traffic_light"):
        print(f"\n{task}, multi_task vs single_task:")
        for frac in full.params:
            multi, single = (full.get(cond, task, "accuracy", frac) for cond in ("multi_task", "single_task"))
            print(f"  labelled {frac:>4g}: {multi.mean:.3f} ± {multi.std:.3f} vs {single.mean:.3f} ± {single.std:.3f}")
else:
    print("no stored full run here; make one with: python -m mtl_numpy.experiments sharing --out docs/figures")

# %% [markdown]
# How to read the tables: compare `multi_task` with `single_task` task by task, and look at the
# `±`: a difference smaller than the spread over seeds is not a difference.
#
# docs/experiments.md (section 1) reads the stored full run, printed above: **sharing buys
# parameter efficiency, not accuracy.** At every labelled fraction the one multi-task network is
# within about 0.01 of the mean accuracy of four single-task networks of its width, which have four
# times its parameters, and ties the four half-width networks that have about as many parameters
# as it.
# The deficit of the multi-task network shrinks as the labels get scarcer (the `multi - single`
# column), the direction the lecture predicts, and the task that gains most is the hardest one: at
# the smallest fraction the single-task pedestrian networks are at chance (0.519) while the
# multi-task one reaches 0.568. The easiest task pays: traffic light drops from 0.899 alone to 0.857
# shared at that fraction. **Where it disagrees with the lecture:** no labelled fraction gives the
# multi-task network a clear win on the mean. The likely reasons docs/experiments.md gives: the four
# objects are independent and look nothing alike, so what they share is generic (edges, colour
# blobs) and cheap to learn from a few hundred examples; and one width-16 trunk for four tasks is
# close to its capacity (condition 3 below).

# %% [markdown]
# ## Condition 2: the other tasks have much more data
#
# Now make one task, the *focus* task (`traffic_light`), poor in labels: it keeps only a fraction
# $f$ of them, the other three keep all of theirs. A data set's `hide_labels` hides labels per task
# (notebook 1's exercise 2); here is what a 3% focus task looks like:

# %%
scenes = mtl.datasets.driving_scenes(800, image_size=16, missing=0.0, seed=0)
part = scenes.hide_labels((0.0, 0.0, 0.0, 0.97), seed=0)
print(part)
print("labelled examples per task:", dict(zip(part.tasks, (~np.isnan(part.Y)).sum(axis=1).tolist())))

# %% [markdown]
# `experiments.data_amounts.run` compares, for each fraction $f$, on the focus task only:
#
# * `single_task`: a one-output CNN trained on the focus task's labelled examples alone;
# * `multi_task`: one four-output CNN of the same width on all examples, all four tasks, '?'
#   masked;
# * `multi_task_shuffled`, **Caruana's control**: the same, but the other three tasks' labels are
#   permuted across examples. They still have as many labels, but the labels no longer describe the
#   picture, so there are no shared features to learn from them. A gain that survives the shuffle is
#   not due to shared features (it could be, for instance, a regularising effect of the extra
#   outputs); a gain that disappears with it is.
#
# Every run keeps the checkpoint with the lowest validation cost *of the focus task*. `gain` and
# `gain_shuffled` are the paired differences from `single_task`. The lecture predicts `gain` > 0
# when the focus task is poor and the others rich, and `gain_shuffled` ≈ 0.

# %%
amounts = experiments.data_amounts.run(fast=FAST, progress=not FAST)
print("settings:", amounts.settings, f"\n({amounts.seconds:.1f} s)")
print("labelled focus examples per seed:", amounts.notes["focus_labels"], "\n")
print(amounts.to_markdown("accuracy"))
print()
focus = amounts.tasks[0]
for f in amounts.params:
    g, gs = amounts.get("gain", focus, "accuracy", f), amounts.get("gain_shuffled", focus, "accuracy", f)
    print(f"{focus} labelled fraction {f:g}: gain {g.mean:+.3f} ± {g.std:.3f}, shuffled control {gs.mean:+.3f} ± {gs.std:.3f}")

# %%
fig = experiments.plot(amounts)

# %%
stored = FIGURES / "data_amounts.json"
if stored.exists():
    full = experiments.ExperimentResult.from_json(stored)
    print(f"stored full run, {full.seconds:.0f} s, settings {full.settings}")
    print("labelled focus examples per seed:", full.notes["focus_labels"], "\n")
    print(full.to_markdown("accuracy"))
    print()
    focus = full.tasks[0]
    for f in full.params:
        g, gs = full.get("gain", focus, "accuracy", f), full.get("gain_shuffled", focus, "accuracy", f)
        multi, shuffled = full.get("multi_task", focus, "accuracy", f), full.get("multi_task_shuffled", focus, "accuracy", f)
        print(f"{focus} labelled fraction {f:>4g}: gain {g.mean:+.3f} ± {g.std:.3f}, shuffled control {gs.mean:+.3f} ± {gs.std:.3f}"
              f"   (multi_task {multi.mean:.3f}, multi_task_shuffled {shuffled.mean:.3f})")
else:
    print("no stored full run here; make one with: python -m mtl_numpy.experiments data_amounts --out docs/figures")

# %% [markdown]
# Read the printed gains line by line: is `gain` above zero by more than its spread, and does the
# shuffled control stay near zero? In the fast setting (two seeds, a few hundred scenes) the spread
# is as large as any effect; the stored full run is the one to draw conclusions from, and it shows
# **the opposite of the lecture's claim** (docs/experiments.md, section 3). The other tasks' labels
# *hurt* the focus task, and hurt it most when it has fewest labels: every `gain` printed for the
# stored run is negative, from −0.103 at 1% of the labels to −0.010 with all of them. The shuffle
# control says why: with the other tasks' labels made meaningless, the same network is as good as
# the single-task one from 10% of the labels on (`gain_shuffled` +0.006, +0.006 and −0.000), and
# better than the real multi-task network from 3% on. So the loss is *negative transfer* from the
# real tasks: the cost weights every label the same, the shared trunk is pulled towards
# pedestrians, cars and stop signs, and for those tasks a traffic light is clutter to be ignored.
# The lecture's first condition, tasks that benefit from *shared* lower-level features, is not met
# by a traffic light next to the other three objects; its second condition alone is not enough.

# %% [markdown]
# ## Using every partly labelled example: the masked cost
#
# Condition 2 is about labels per task, and the lecture's masked cost is what lets the labels of
# different tasks add up: an image with a '?' for traffic light still teaches the network about
# cars. The two obvious alternatives throw that away or corrupt it. `experiments.masking.run`
# trains the same multi-task CNN three ways at several missing rates (the same for every task):
#
# * `masked`: the lecture's cost, '?' enters neither cost nor gradient;
# * `zero_filled`: '?' replaced by 0, the biased labels of notebook 2;
# * `dropped`: only the examples labelled for *every* task are kept. With a missing rate $q$ per
#   label, independently, a fraction $(1-q)^4$ of the examples survives.
#
# Besides accuracy it records the calibration `bias`: the mean predicted probability minus the
# true base rate of the task (0 for a calibrated model; notebook 2 predicts $-q\,p$ for
# `zero_filled`, that is $-q/2$ for these scenes, where every object is present with probability
# $p = 1/2$).

# %%
masking = experiments.masking.run(fast=FAST, progress=not FAST)
print("settings:", masking.settings, f"\n({masking.seconds:.1f} s)\n")
m_train = masking.settings["m_train"]
for q, kept in masking.notes["fully_labelled_examples"].items():
    print(f"missing rate {float(q):.1f}: fully labelled examples kept by 'dropped' {kept} of {m_train}"
          f"   (expected (1 - q)^4 m = {(1 - float(q)) ** 4 * m_train:.0f})")
print()
print(masking.to_markdown("bias"))
print()
print(masking.to_markdown("accuracy"))

# %%
fig = experiments.plot(masking)

# %% [markdown]
# At missing rate 0 the three conditions are the same training run (the tables agree exactly). As
# the rate grows, compare the `bias` rows and the left panel: filling with 0 pushes every task's
# mean probability down, the systematic error of notebook 2, which no amount of data removes;
# the masked cost has no such push. `dropped` keeps only true labels, so it has no systematic bias
# either, but it trains on few examples (the counts printed above) and its numbers are
# correspondingly noisy. The stored full run, averaged over the four tasks (with the range over
# tasks in brackets):

# %%
stored = FIGURES / "masking.json"
if stored.exists():
    full = experiments.ExperimentResult.from_json(stored)
    print(f"stored full run, {full.seconds:.0f} s, settings {full.settings}")
    print("fully labelled training scenes per seed:", full.notes["fully_labelled_examples"], "\n")
    for metric in ("bias", "accuracy"):
        print(f"{metric}, mean over the four tasks [lowest task, highest task]:")
        for q in full.params:
            cells = []
            for cond in full.conditions:
                values = [full.get(cond, task, metric, q).mean for task in full.tasks]
                fmt = "+.3f" if metric == "bias" else ".3f"
                cells.append(f"{cond} {np.mean(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]")
            print(f"  missing {q:.1f}: " + "   ".join(cells))
else:
    print("no stored full run here; make one with: python -m mtl_numpy.experiments masking --out docs/figures")

# %% [markdown]
# Here the full run is the lecture, quantitatively (docs/experiments.md, section 4). Masking keeps
# working at every missing rate, and its predicted probabilities stay calibrated (mean bias near
# 0). Filling '?' with 0 biases every probability down by about half the missing rate, as predicted
# above, and at the 0.5 threshold that becomes near-chance accuracy from 60% missing on. Dropping
# incomplete scenes throws away most of the data and is at chance by 90% missing, where at most a
# handful of the training scenes survive. Masking is the only one of the three that is both
# unbiased and uses all the data.

# %% [markdown]
# ## Condition 3: a big enough network (Caruana)
#
# `experiments.network_size.run` sweeps the width $w$ of the CNN (every layer shared). For each
# width it trains one multi-task CNN and four single-task CNNs of the same width, on the same
# scenes, and records the per-seed paired difference `multi_minus_single` per task and for the
# `mean` over tasks. It does so at two labelled fractions: every label (Caruana's setting: only
# capacity and the shared representation differ), and 10% of the labels as in condition 1. The
# conditions of the second are named with a suffix, `multi_minus_single@0.1` and so on
# (`experiments.network_size.condition(name, fraction)` builds the name). Caruana's finding, as the
# lecture quotes it: with a network too small for all the tasks, the tasks compete for its few
# units and sharing hurts; with a network big enough, it does not.

# %%
size = experiments.network_size.run(fast=FAST, progress=not FAST)
print("settings:", size.settings, f"\n({size.seconds:.1f} s)\n")
print(size.to_markdown("accuracy"))

# %%
fig = experiments.plot(size)

# %% [markdown]
# One panel per labelled fraction: the gain from sharing per task against the width (log scale);
# the last panel: the absolute accuracy of both, averaged over tasks. The same average, multi-task
# minus single-task per width, for this run and for the stored full run, with the task that loses
# most and the single-task networks' own accuracy:

# %%
runs = {"this run": size}
stored = FIGURES / "network_size.json"
if stored.exists():
    runs["stored full run"] = experiments.ExperimentResult.from_json(stored)
    print(f"stored full run, {runs['stored full run'].seconds:.0f} s, settings {runs['stored full run'].settings}")
    print("parameters (multi-task, four single-task) per width:", runs["stored full run"].notes["parameters"])
else:
    print("no stored full run here; make one with: python -m mtl_numpy.experiments network_size --out docs/figures")
for label, res in runs.items():
    for frac in res.settings["labelled"]:
        diff = experiments.network_size.condition("multi_minus_single", frac)
        single = experiments.network_size.condition("single_task", frac)
        kept = "every label" if frac >= 1 else f"{frac:g} of the labels"
        print(f"\n{label}, {kept}: multi-task minus single-task accuracy ({diff})")
        for w in res.params:
            d = res.get(diff, "mean", "accuracy", w)
            worst = min((res.get(diff, task, "accuracy", w).mean, task) for task in res.tasks if task != "mean")
            print(f"  width {w:>3}: mean {d.mean:+.3f} ± {d.std:.3f}   worst task {worst[1]} {worst[0]:+.3f}"
                  f"   single-task accuracy {res.get(single, 'mean', 'accuracy', w).mean:.3f}")

# %% [markdown]
# What to look for: a clearly negative difference at the small widths (the shared network is too
# small for four tasks) that shrinks towards zero as the network grows. docs/experiments.md
# (section 2) reads the stored full run as **Caruana's effect, cleanly**: the narrower the shared
# network, the more multi-task learning costs, from −0.092 at width 1 to −0.010 at width 16 with
# every label, and from −0.108 to −0.002 with 10% of the labels. A tiny shared network gives up
# whole tasks: at width 1 the multi-task network loses 0.277 (every label) and 0.362 (10%) on stop
# sign. With 10% of the labels the penalty is within one standard deviation of zero from width 8
# on: "multi-task learning hurts only when the network is too small" holds there.
# **Where it disagrees:** with every label the curve flattens at about −0.01 (−0.010 ± 0.006 at
# width 16, −0.014 ± 0.003 at 32) instead of reaching zero or turning positive. Each task then has
# all its labels, so there is no scarcity for sharing to offset, and width 32 is still not "big
# enough" to make one network as good as four of the same width with four times its parameters.
# With 10% of the labels the single-task networks are limited by their data rather than their
# size (their accuracy barely rises from width 4 to 32: 0.823 to 0.850), and the gap closes.
#
# ## Summary
#
# * The lecture's three conditions are three experiments: `sharing` (one network or four, at
#   several labelled fractions), `data_amounts` (a label-poor task beside label-rich ones, with
#   Caruana's shuffle control) and `network_size` (the gain from sharing against the width).
# * Sharing always buys parameter efficiency: one shared network has about a quarter of the
#   parameters of four separate ones of the same width. In the stored full run it bought no
#   accuracy: a tie within about 0.01 at every labelled fraction, the hardest task gaining and the
#   easiest paying.
# * A network too small for all the tasks makes multi-task learning hurt (Caruana): the clearest
#   result of the stored run, the cost largest at the smallest widths; with scarce labels it is
#   within its spread of zero from width 8 on, with every label about −0.01 remains.
# * More labels on the other tasks do not help a task whose features they do not share: the focus
#   task lost accuracy, and the shuffle control pinned it on negative transfer. Read every gain
#   together with its spread over seeds, and check it against a control.
# * The masked cost is what lets partly labelled examples count: filling '?' with 0 biases the
#   model towards "absent", dropping incomplete examples throws most of them away.
#
# ## Exercises
#
# 1. Run `experiments.data_amounts.run(seeds=(0, 1, 2), fractions=(0.03, 0.3, 1.0), m_train=2000,
#    width=8)` and plot it. Is the gain still negative with a smaller network and fewer scenes, and
#    does the shuffled control still close it?
# 2. The sharing experiment on the *digits* tasks: train one `mtl.SharedMLP([64, 32, 4])` and four
#    `mtl.SharedMLP([64, 32, 1])` on `mtl.datasets.digits_tasks()` (first 1,400 digits for training,
#    the rest for testing). The four digit questions are all functions of the digit's class: do
#    they share more than the four scene questions?
# 3. In `network_size` the single-task networks are as wide as the shared one, so they have four
#    times its parameters. From the stored `network_size.json`, compare the multi-task network of
#    width $w$ with the single-task networks of width $w/2$ (equal total parameters, as
#    `single_task_quarter` does), for both labelled fractions. Which way does the curve move, and
#    does Caruana's shape survive?
'''


# --------------------------------------------------------------------------------------------
# 07 Transfer learning A -> B
# --------------------------------------------------------------------------------------------
NB07 = r'''
# %% [markdown]
# # 7. Transfer learning A → B
#
# **What we are about to do, and why.** Multi-task learning trains all the tasks *at the same
# time*. Transfer learning, the lecture's neighbour, trains them *one after the other*: first a
# network on a task A with lots of data, then the same network, with a new output layer, on the
# task B you care about, which has little. The lecture's example pretrains on a million everyday
# images and fine-tunes on a hundred or a thousand radiology images, and says when this makes
# sense:
#
# * A and B have the **same input** $x$ (here: the same kind of image);
# * A has **a lot more data** than B;
# * **low-level features from A** could be helpful for B.
#
# And how: with very little data for B, retrain only the new last layer (keep A's features
# frozen); with more, retrain all the layers, starting from A's values (*fine-tuning*). This
# notebook builds these by hand on real data (scikit-learn's handwritten digits, four yes/no
# questions per digit), checks that "frozen" really means frozen, and then runs the package's
# `transfer` experiment, which compares training from scratch, fine-tuning the head only,
# fine-tuning everything and reusing only A's lowest layers, on the digits and on the driving
# scenes, as the amount of B data grows. The two data sets give opposite answers, and the
# lecture's third condition says why.

# %%
{SETUP}
from pathlib import Path
from mtl_numpy import experiments

# Tables of an earlier full run, if this checkout has them (python -m mtl_numpy.experiments NAME --out docs/figures)
FIGURES = Path("..") / "docs" / "figures"

# %% [markdown]
# ## The math
#
# Write the network as a *trunk* $a = g(x;\ \theta)$ (every layer but the last, parameters
# $\theta = W^{[1]}, b^{[1]}, \dots, W^{[L-1]}, b^{[L-1]}$) and a *head*, the output layer
# $\hat y = \sigma(W^{[L]} a + b^{[L]})$.
#
# 1. **Pretraining on A**: minimise the masked cost $J_A(\theta, W^{[L]}_A, b^{[L]}_A)$ over
#    A's examples, with one output per A task.
# 2. **Transfer**: a new network for B with the same trunk shape; copy $\theta$ from step 1 and
#    initialise a new head $W^{[L]}_B, b^{[L]}_B$ at random (B has its own number of outputs).
# 3. **Fine-tune on B**, one of three ways:
#    * *head only*: update only $W^{[L]}_B, b^{[L]}_B$. The trunk is frozen, so $a = g(x;\theta)$ is a
#      fixed feature vector and this is logistic regression on A's features: few parameters, hard to
#      overfit with little data;
#    * *all layers*: update everything, starting from $\theta$ instead of a random initialisation;
#    * *lower layers only*: copy only the lowest layers of $\theta$ (the layers the lecture calls
#      "low-level features": a CNN's convolutions, an MLP's first layer), initialise the layers
#      above them at random as well, and train everything. A's task-specific upper layers are left
#      behind.
#
# Freezing is a statement about the optimizer, not the gradient: backpropagation still computes
# $dW^{[1]}, \dots$ but the update $W := W - \alpha\,(\cdot)$ is applied to the head alone.
# `experiments.TrainableSubset(optimizer, names)` wraps any optimizer of the package that way, and
# `experiments.transfer.transfer_trunk(pretrained, model)` copies every layer but the last
# (`keep_top=2`: every layer but the last two).

# %% [markdown]
# ## The data: digits, tasks A and task B
#
# `mtl.datasets.digits_tasks()` gives 1,797 real $8 \times 8$ digits with four labels each:
# *even*, *greater or equal to 5*, *prime* (tasks A) and *has a closed loop* (task B). All four are
# functions of the digit's class, so a trunk that learned to tell digits apart for A should help B.
# We hold out 400 digits for testing, give B only a handful of labelled digits, and give A all the
# rest.

# %%
digits = mtl.datasets.digits_tasks(seed=0)
X = digits.flat()                                     # (64, 1797)
order = np.random.default_rng(0).permutation(digits.m)
n_B = 20
test, B, A = order[:400], order[400:400 + n_B], order[400 + n_B:]
print(digits)
print(f"task A ({', '.join(digits.tasks[:3])}): {A.size} digits;  task B ({digits.tasks[3]}): {B.size} digits;  test: {test.size}")
print("classes among B's digits:", np.bincount(digits.digits[B], minlength=10).tolist())

# %% [markdown]
# ## Pretraining on A
#
# A `SharedMLP([64, 64, 32, 3])`: a trunk of two hidden layers and three sigmoid outputs, trained
# with `mtl.fit` on A's three tasks.

# %%
epochs_A = 30
pretrained = mtl.SharedMLP([64, 64, 32, 3], seed=0)
history = mtl.fit(pretrained, X[:, A], digits.Y[:3, A], optimizer=mtl.Adam(learning_rate=1e-3),
                  epochs=epochs_A, batch_size=64, seed=0, progress=False)
print(f"{history.epochs} epochs on {A.size} digits, final training cost {history.train_cost[-1]:.4f}")
print(mtl.format_metrics_table(
    mtl.task_metrics(digits.Y_true[:3, test], pretrained.predict_proba(X[:, test]), tasks=digits.tasks[:3]),
    title="tasks A, held-out digits"))

# %% [markdown]
# ## Transfer, then fine-tune on 20 examples of B
#
# Four networks of the same shape `[64, 64, 32, 1]` for B, each trained for the same number of
# steps on the same 20 digits:
#
# * `scratch`: random initialisation, every layer trained;
# * `finetune_head`: trunk copied from the pretrained network, only `W3`, `b3` trained;
# * `finetune_all`: trunk copied, every layer trained;
# * `finetune_lower`: only the first layer (`W1`, `b1`) copied, `W2`, `b2`, `W3`, `b3` fresh, every
#   layer trained.
#
# With 20 examples a mini-batch of 64 is the whole set, so one epoch is one step. We give each
# network 1,000 steps: a new, random head trained on its own learns slowly, since Adam moves each
# weight by at most about the learning rate ($10^{-3}$) per step. The check: how far did `W1` move
# during training? It must be exactly 0 for the frozen trunk.

# %%
steps_B = 1000
AL_B, moved = {}, {}
for cond in ("scratch", "finetune_head", "finetune_all", "finetune_lower"):
    model = mtl.SharedMLP([64, 64, 32, 1], seed=1)
    optimizer = mtl.Adam(learning_rate=1e-3)
    if cond == "finetune_lower":
        lower, _ = experiments.transfer.transfer_trunk(pretrained, model, keep_top=2)
    elif cond != "scratch":
        trunk, head = experiments.transfer.transfer_trunk(pretrained, model)
        if cond == "finetune_head":
            optimizer = experiments.TrainableSubset(optimizer, head)
    W1_before = model.params["W1"].copy()
    mtl.fit(model, X[:, B], digits.Y[3:, B], optimizer=optimizer, epochs=steps_B, batch_size=64, seed=0,
            progress=False)
    moved[cond] = float(np.max(np.abs(model.params["W1"] - W1_before)))
    AL_B[cond] = model.predict_proba(X[:, test])
print("copied (trunk):", trunk, "  trained in finetune_head:", head, "  copied in finetune_lower:", lower)
for cond in AL_B:
    print(f"{cond:<14} max |change of W1| during training = {moved[cond]:.3g}")

metrics_B = {cond: mtl.task_metrics(digits.Y_true[3:, test], AL, tasks=digits.tasks[3:]) for cond, AL in AL_B.items()}
print()
for cond, met in metrics_B.items():
    row = met[digits.tasks[3]]
    print(f"{cond:<14} {digits.tasks[3]} on held-out digits: accuracy {row['accuracy']:.3f}, average precision {row['average_precision']:.3f}")

# %%
from mtl_numpy.plotting import plot_task_metrics

fig = plot_task_metrics(metrics_B, metric="accuracy")
fig.axes[0].set_title(f"task B ({digits.tasks[3]}) after {n_B} labelled digits");

# %% [markdown]
# The printed accuracies are one seed and 20 examples: a single draw, not a conclusion. The
# `transfer` experiment below repeats it over seeds and for several sizes of B.
#
# ## The experiment: scratch vs fine-tuning, as B grows
#
# `experiments.transfer.run` does the above for each number `n_B` of labelled B examples, with
# several seeds, in two settings (the sizes are in the settings printed below):
#
# * **scenes**: A = pedestrian, car and stop sign on `m_A` driving scenes, learned by the
#   experiments' CNN (notebook 6: conv $w$, $2w$, dense $4w$); B = traffic light, with `n_B`
#   labelled scenes drawn apart from A's. `finetune_lower` copies the two conv layers;
# * **digits**: A = even, ≥ 5, prime; B = closed loop, with an MLP like the one above (its hidden
#   sizes are in the settings). `finetune_lower` copies the first layer.
#
# Every run gets at least `min_steps` mini-batch steps, so that a small B is not also a short
# training, and keeps the checkpoint with the lowest cost on validation examples kept apart from A,
# B and the test set (early stopping, the same for every condition). The lecture predicts:
# pretraining helps most when B is smallest, the advantage shrinks as B grows (with enough B data,
# scratch catches up), and head-only fine-tuning is the safe choice with the very least data,
# provided A's features suit B.

# %%
transfer = experiments.transfer.run(fast=FAST, progress=not FAST)
print("settings:", transfer.settings, f"\n({transfer.seconds:.1f} s)\n")
print(transfer.to_markdown("accuracy"))

# %%
fig = experiments.plot(transfer)

# %% [markdown]
# One panel per task B, accuracy against the number of labelled B examples (log scale), one line
# per condition. The same comparison in numbers, each condition's accuracy and its difference from
# `scratch`, for this run and for the stored full run if this checkout has it:

# %%
runs = {"this run": transfer}
stored = FIGURES / "transfer.json"
if stored.exists():
    full = experiments.ExperimentResult.from_json(stored)
    runs["stored full run"] = full
    print(f"stored full run, {full.seconds:.0f} s, settings {full.settings}\n")
    print(full.to_markdown("accuracy"))
else:
    print("no stored full run here; make one with: python -m mtl_numpy.experiments transfer --out docs/figures")
for label, res in runs.items():
    print(f"\n{label}: accuracy (minus scratch)")
    for task in res.tasks:
        for n in sorted(res.params):
            rows = {c: res.select(c, task, "accuracy", n) for c in res.conditions}
            if all(rows.values()):
                s = rows["scratch"][0].mean
                print(f"  {task:<14} n_B = {n:>4}: scratch {s:.3f}" + "".join(
                    f", {c} {r[0].mean:.3f} ({r[0].mean - s:+.3f})" for c, r in rows.items() if c != "scratch"))

# %% [markdown]
# How to read it: look at the smallest `n_B` first (where the lecture expects pretraining to
# matter), then at how the differences change as `n_B` grows. In the fast setting (two seeds, a
# small A, a narrow network) the lines are illustrations; docs/experiments.md (section 5) reads the
# stored full run, and there the two data sets disagree.
#
# **On the digits, the lecture's picture.** Transfer helps most when B has fewest labels and the
# benefit fades as B's data grow: with 20 labelled digits head-only fine-tuning reaches 0.893
# against 0.730 from scratch (full fine-tuning 0.839, lower layer only 0.803), and with 300 every
# condition is between 0.944 and 0.960. Head-only fine-tuning, logistic regression on A's
# features, is the best of the four with the least data, as the lecture advises. Closed loop is in
# fact a function of A's three labels (even, below 5 and not prime means 0 or 4, both with a loop;
# and so on), so A's features are exactly what B needs: the ideal case for transfer.
#
# **On the scenes, the opposite.** Pretraining on A never helps the traffic-light task and hurts
# with few labels (with 30: 0.522 fine-tuned against 0.592 from scratch; with 100: 0.747 against
# 0.791). Logistic regression on A's frozen features stays near chance at every size (0.504 to
# 0.593): A's network has learned nothing about traffic lights, which for pedestrian, car and
# stop-sign detection are clutter to be ignored. Even A's convolutions alone do worse than random
# ones with 30 and 100 labels (`finetune_lower`: 0.535 and 0.721). With 1,000 to 3,000 labels
# scratch, full and lower fine-tuning converge. The scenes meet the lecture's first two conditions
# (the same input, much more data for A) but not the third: A's low-level features must help B,
# and these do not. Notebook 6 found the same thing from the other side: the traffic-light task
# lost accuracy when trained together with the other three.
#
# ## Summary
#
# * Transfer learning = pretrain on A, copy the trunk, put a new head for B, fine-tune. It makes
#   sense when A and B share the input, A has much more data, and A's features are useful for B.
# * "Head only" is logistic regression on frozen features: a `TrainableSubset` optimizer updates
#   only the head (the trunk's change printed above is exactly 0). "All layers" starts from A's
#   trunk and trains everything; "lower layers" keeps only A's lowest layers.
# * Where A's features fit B (the digits), the benefit is largest with the least B data, head-only
#   is the best choice there, and the benefit fades as B grows.
# * Where they do not (traffic lights after pedestrians, cars and stop signs), pretraining is no
#   help at any size and a harm with few labels: all three of the lecture's conditions are needed.
# * Multi-task learning trains A and B together instead, which the lecture notes is used less often
#   in practice than transfer learning, except in computer vision object detection.
#
# ## Exercises
#
# 1. Turn the lecture's condition around: pretrain on only 20 digits of A and fine-tune on 300 of
#    B. Does the pretrained start still help?
# 2. Make B harder to reach from A: with `digits_tasks`, pretrain on `closed_loop` and `prime` and
#    transfer to `even`. Compare head-only and full fine-tuning for `n_B` = 20 and 200.
# 3. Repeat the hand-made run with `steps_B` = 60, 300 and 1,000 and print the four accuracies
#    each time. How does the ranking change with the number of steps? The experiment instead keeps
#    each run's best checkpoint on validation data: add a validation set of 200 held-out digits and
#    do the same by hand (score the model every 50 steps, keep the best). Does the ranking settle?
'''


# --------------------------------------------------------------------------------------------
# 08 End-to-end vs a hand-designed pipeline
# --------------------------------------------------------------------------------------------
NB08 = r'''
# %% [markdown]
# # 8. End-to-end learning vs a hand-designed pipeline
#
# **What we are about to do, and why.** The lecture's other neighbour is end-to-end deep learning:
# instead of a pipeline of stages designed by hand (for speech: audio → hand-designed features →
# phonemes → words → transcript), one network learns the whole mapping $x \to y$ (audio →
# transcript). Its verdict: end-to-end learning "lets the data speak" and needs less hand design,
# but it **needs a lot of data**, and it throws away hand-designed components that carry real
# knowledge. With little data the pipeline tends to win; with enough, end-to-end overtakes it. The
# key question is whether you have enough data to learn a function of the complexity needed to map
# $x$ to $y$.
#
# Our four questions are the "detect cars, pedestrians, signs" stage of the lecture's self-driving
# pipeline, so we can run the comparison on them. The hand-designed system: colour and edge
# statistics that a person chose because they *should* indicate a stop sign (red), a traffic light
# (lamp colours), a car (dark wheels), a pedestrian (skin), fed to logistic regression. The
# end-to-end system: a `SharedCNN` on the raw pixels. We look at what the hand-designed features
# capture, then run `experiments.end_to_end` across training-set sizes and find where the CNN
# overtakes.

# %%
{SETUP}
from pathlib import Path
from mtl_numpy import experiments

# Tables of an earlier full run, if this checkout has them (python -m mtl_numpy.experiments NAME --out docs/figures)
FIGURES = Path("..") / "docs" / "figures"

# %% [markdown]
# ## The math: two systems for the same four outputs
#
# **Pipeline.** A fixed, hand-designed feature map $f(x) \in \mathbb{R}^{211}$
# (`experiments.end_to_end.hand_features`), standardised with the training set's mean $\mu$ and
# standard deviation $s$, then one sigmoid per task:
#
# $$\hat y = \sigma\big(W\,\tfrac{f(x) - \mu}{s} + b\big), \qquad W \in \mathbb{R}^{4 \times 211},$$
#
# that is logistic regression, a `SharedMLP([211, 4])` with no hidden layer, trained with the masked
# cost and `mtl.fit`. Only $W$ and $b$ are learned; everything in $f$ was decided by a person.
#
# **End-to-end.** A `SharedCNN` (notebook 5) on the raw $16 \times 16 \times 3$ pixels, in the full
# setting the experiments' width-16 CNN of notebook 6: two conv blocks (16 and 32 filters), a dense
# layer of 64 units, four sigmoids (the fast setting uses a narrower one; its sizes are in the
# settings printed below). Every stage, including what plays the role of $f$, is learned from the
# labels.
#
# The features, per image: for each of seven colour masks (stop-sign red, dark, pole grey, white,
# green lamp, amber lamp, skin) the fraction of pixels in the whole image and in each cell of a
# $4 \times 4$ grid ($7 \times 17 = 119$); the mean colour of each cell ($16 \times 3 = 48$); a
# 4-bin histogram per channel ($3 \times 4 = 12$); the fraction of strong horizontal and vertical
# edges per cell ($2 \times 16 = 32$). In all $119 + 48 + 12 + 32 = 211$.

# %%
scenes = mtl.datasets.driving_scenes(600, image_size=16, missing=0.0, seed=0)
F = experiments.end_to_end.hand_features(scenes.X)
print("hand_features:", scenes.X.shape, "->", F.shape, f"  (7 * 17 + 48 + 12 + 32 = {7 * 17 + 48 + 12 + 32})")

pipeline = mtl.SharedMLP([F.shape[0], 4])
cnn = mtl.SharedCNN(input_shape=(16, 16, 3), conv_channels=(16, 32), hidden=(64,))
print(f"pipeline's learned part (logistic regression): {pipeline.n_parameters:,} parameters")
print(f"end-to-end CNN (full setting):                 {cnn.n_parameters:,} parameters")

# %% [markdown]
# ## What the hand-designed features know
#
# Row $17k$ of $F$ is the whole-image fraction of colour mask $k$. If a feature was well chosen, its
# mean should differ between the scenes that contain the object and those that do not. The table
# prints, for each colour fraction and each task, the mean over scenes *with* the object minus the
# mean over scenes *without* it, computed on the 600 scenes above (positive: more of that colour when
# the object is there).

# %%
masks = ("stop-sign red", "dark", "pole grey", "white", "green lamp", "amber lamp", "skin")
print(f"{'colour fraction':<16}" + "".join(f"{task:>15}" for task in scenes.tasks))
for k, name in enumerate(masks):
    f = F[17 * k]
    diffs = [f[scenes.Y_true[j] == 1].mean() - f[scenes.Y_true[j] == 0].mean() for j in range(scenes.n_tasks)]
    print(f"{name:<16}" + "".join(f"{d:>+15.4f}" for d in diffs))

# %%
red = F[0]
has_stop = scenes.Y_true[scenes.tasks.index("stop_sign")] == 1
fig, ax = plt.subplots(figsize=(6.5, 3.2))
bins = np.linspace(0, red.max(), 30)
ax.hist(red[~has_stop], bins=bins, alpha=0.6, label="no stop sign")
ax.hist(red[has_stop], bins=bins, alpha=0.6, label="stop sign")
ax.set(xlabel="fraction of 'stop-sign red' pixels in the image", ylabel="scenes",
       title="one hand-designed feature, split by the stop-sign label")
ax.legend()
fig.tight_layout()

# %% [markdown]
# Read the table by columns: which colour moves with which object. Some features do what their
# designer meant (compare the stop-sign red row under `stop_sign`), some also react to other
# objects (a red car is red too), and the histogram shows how much the two classes overlap on even
# this, the most purpose-built feature. Logistic regression can only weigh these numbers; it can never learn a
# feature nobody wrote down. That is the pipeline's strength with little data (a few weights to fit)
# and its ceiling with a lot.
#
# ## The experiment: accuracy against the number of training scenes
#
# `experiments.end_to_end.run` trains both systems on the first `m` scenes of a pool, for each `m`
# in its list of sizes and for several seeds, and evaluates both on the same held-out scenes against
# the full truth. Small training sets get more epochs (at least `min_steps` mini-batch steps), so
# that "little data" is not also "little training", and both systems keep the checkpoint with the
# lowest cost on separate validation scenes (early stopping). The task `mean` in the tables is the
# mean over the four tasks. `experiments.end_to_end.crossover(result)` returns the smallest size
# from which the end-to-end CNN's mean accuracy is above the pipeline's at that size *and every
# larger one* (None if it never is); it compares means only, so read it together with the spread.

# %%
e2e = experiments.end_to_end.run(fast=FAST, progress=not FAST)
print("settings:", e2e.settings, f"\n({e2e.seconds:.1f} s)\n")
print(e2e.to_markdown("accuracy"))
print()
for m in e2e.params:
    p, e = e2e.get("pipeline", "mean", "accuracy", m), e2e.get("end_to_end", "mean", "accuracy", m)
    print(f"m = {m:>5}: pipeline {p.mean:.3f} ± {p.std:.3f}, end-to-end {e.mean:.3f} ± {e.std:.3f}  (difference {e.mean - p.mean:+.3f})")
print("end-to-end ahead (by the mean) from m =", experiments.end_to_end.crossover(e2e))

# %%
fig = experiments.plot(e2e)

# %% [markdown]
# One panel per task (and their mean), accuracy against the number of training scenes (log
# scale). The fast setting uses only two sizes, so it cannot show a trend. The stored full run,
# whose sizes are in its settings, if this checkout has it:

# %%
stored = FIGURES / "end_to_end.json"
if stored.exists():
    full = experiments.ExperimentResult.from_json(stored)
    print(f"stored full run, {full.seconds:.0f} s, settings {full.settings}\n")
    for m in full.params:
        p, e = full.get("pipeline", "mean", "accuracy", m), full.get("end_to_end", "mean", "accuracy", m)
        print(f"m = {m:>5}: pipeline {p.mean:.3f} ± {p.std:.3f}, end-to-end {e.mean:.3f} ± {e.std:.3f}  (difference {e.mean - p.mean:+.3f})")
    print("end-to-end ahead (by the mean) from m =", experiments.end_to_end.crossover(full))
    print()
    for m in full.params:
        p, e = full.get("pipeline", "pedestrian", "accuracy", m), full.get("end_to_end", "pedestrian", "accuracy", m)
        print(f"pedestrian, m = {m:>5}: pipeline {p.mean:.3f} ± {p.std:.3f}, end-to-end {e.mean:.3f} ± {e.std:.3f}")
    print("on pedestrian, end-to-end ahead (by the mean) from m =", experiments.end_to_end.crossover(full, task="pedestrian"))
    fig = experiments.plot(full)
else:
    print("no stored full run here; make one with: python -m mtl_numpy.experiments end_to_end --out docs/figures")

# %% [markdown]
# docs/experiments.md (section 6) reads the stored full run, made with
# `python -m mtl_numpy.experiments end_to_end --out docs/figures`, as **the lecture's picture**.
# With 100 training scenes the two systems tie on mean accuracy: `crossover` says 100, but the
# CNN's lead there is 0.004 against a spread over seeds of ±0.072 (the pipeline is much steadier,
# ±0.019), so that is a tie, not a win. From 300 scenes the CNN leads by more than either spread
# (0.754 against 0.708), and the gap widens with every size, to 0.948 against 0.808 at 30,000,
# because the pipeline saturates at what its features can express (about 0.81 from 10,000 scenes
# on) while the CNN keeps learning. On the hardest task the hand-designed features hold out
# longer: the pipeline is ahead on pedestrian up to 3,000 scenes, the CNN only from 10,000 (the
# pedestrian lines above). A hand-designed component that encodes real knowledge is exactly what
# the lecture says end-to-end learning gives up. **Where it differs:** the lecture's small-data
# advantage of the pipeline shows up as a tie on the mean rather than a clear win. Our features are
# generic colour and edge statistics, not an engineered detector, and the small CNN with early
# stopping is hard to beat even on 100 scenes.
#
# ## Summary
#
# * A pipeline fits few parameters on top of features a person designed; an end-to-end network
#   learns everything, including the features, from the labels.
# * With little data the pipeline is as good (here: a tie on the mean, and steadier across seeds);
#   with enough data end-to-end overtakes, because the pipeline's features cap what it can learn.
#   `crossover` finds the size where the means cross; the spread says whether that is a real lead.
# * Hand-designed features are knowledge: where a task is hard to learn from the data available (a
#   small pedestrian in 16 × 16 pixels), a good feature keeps the pipeline ahead for longer.
# * The lecture's test: do you have enough data to learn a function of the complexity needed to map
#   $x$ to $y$? Here the answer changes with $m$, and with the task, and the experiment measures
#   where.
#
# ## Exercises
#
# 1. Add the hand-designed features to the end-to-end system's *data* instead of replacing it:
#    train `mtl.SharedMLP([211 + 768, 64, 4])` on the features stacked on the flattened pixels
#    (`np.vstack`), and compare it with both systems at 300 and 3,000 scenes.
# 2. Remove the skin-colour rows (`F[17 * 6 : 17 * 7]`) from the features and retrain the pipeline.
#    How much pedestrian accuracy does it lose, and what does that say about the value of one
#    well-chosen feature?
# 3. Run `experiments.end_to_end.run(sizes=(100, 300, 1000), seeds=(0, 1, 2))` with
#    `conv_channels=(4, 8), cnn_hidden=(16,)` and with the default `(16, 32)`, `(64,)`. Does a
#    smaller CNN overtake the pipeline earlier or later, and why?
'''


# --------------------------------------------------------------------------------------------
# 09 Making it fast
# --------------------------------------------------------------------------------------------
NB09 = r'''
# %% [markdown]
# # 9. Making it fast: NumPy, Numba and CuPy
#
# **What we are about to do, and why.** The experiments of notebooks 6-8 train hundreds of small
# networks. docs/experiments.md ("Runtime of the full setting") ran the full setting of all six with
# `python -m mtl_numpy.experiments all --out docs/figures` in "640.9 (10.7 min)" on a two-core
# machine, two experiments at a time, each single-threaded, on the Numba backend: for the
# experiments' CNN of notebook 6, docs/experiments.md ("Common choices") finds Numba "1.4× faster
# than NumPy here". The same model can run three ways, and which is fastest depends on how much
# work each call gets. This notebook times, on every backend this machine can run:
#
# * one kernel, the fused masked cost and gradient of notebook 2,
#   `mtl.masked_logistic_cost_and_grad(ZL, Y, backend=b)`, from a thousand examples up;
# * a whole training step (forward, masked cost, backward, Adam update) of the MLP and the CNN of
#   notebooks 4 and 5, at several batch sizes;
#
# and explains the shape of the curves: fixed per-call overhead, memory-bound against compute-bound
# work, and where a GPU starts to win. On the way: what Numba's first call costs (a compile), and the
# one compiler flag that silently breaks the '?' labels.
#
# The backends (README.md, "Backends"): `numpy` is the reference, vectorised NumPy with BLAS matrix
# products and im2col convolutions; `numba` compiles the same kernel set to machine code with
# `@njit` (a one-pass masked cost, convolution and pooling loops, fused bias + ReLU) and keeps the
# matrix products on BLAS; `cupy` keeps parameters and activations on the GPU, with cuBLAS products
# and hand-written CUDA kernels. Results agree to rounding (checked below before anything is
# timed).

# %%
{SETUP}
import shutil
import subprocess
import sys
import tempfile
import time
import timeit

# %% [markdown]
# Numba writes the machine code it compiles to disk (`cache=True`) and later processes load it
# from there. So that the compile time measured below is a real compile, this notebook gives Numba
# an empty cache folder of its own (removed again at the end of the notebook). It must be set before Numba is
# imported, which `mtl.available_backends()` does.

# %%
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="mtl_numba_cache_")
backends = mtl.available_backends()
print("backends that run here:", backends)
for name in backends:
    print(f"  {name:<6} {mtl.get_backend(name).__name__}")

# %% [markdown]
# ## The kernel, and what it costs per example
#
# For each entry $(j, i)$ of the $4 \times m$ logits, with $N = m$:
#
# $$J \mathrel{+}= \tfrac{1}{N}\big[\max(z,0) - z y + \log(1 + e^{-|z|})\big], \qquad
# dZ_{ji} = \tfrac{1}{N}\,(\sigma(z) - y), \qquad \text{only where } y \text{ is not } \texttt{nan}.$$
#
# In float32 each entry reads $z$ (4 bytes) and $y$ (4 bytes) and writes $dZ$ (4 bytes): 12 bytes
# of memory traffic for a few tens of arithmetic operations (one exponential, one logarithm, a
# handful of multiplications and additions). That ratio, operations per byte, is the kernel's
# **arithmetic intensity**, and it is low: a processor can do far more arithmetic per second than
# its memory can deliver bytes for this kernel, so once the input is large, the time is set by
# memory bandwidth (*memory-bound*), not by arithmetic. Below that, the time is set by what every
# call pays whatever its size: Python, checking the inputs, starting a kernel (*overhead-bound*).
#
# The NumPy backend needs several passes over memory (one per NumPy operation, each writing a
# temporary array); the Numba kernel makes one pass. Logits with a realistic spread, 30% '?' labels:

# %%
rng = np.random.default_rng(0)
sizes = (1_000, 10_000, 100_000) if FAST else (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
ZL_all = (3 * rng.standard_normal((4, max(sizes)))).astype(np.float32)
Y_all = np.where(rng.random((4, max(sizes))) < 0.3, np.nan, rng.random((4, max(sizes))) < 0.5).astype(np.float32)
print(f"ZL {ZL_all.shape} {ZL_all.dtype}, Y with {np.isnan(Y_all).mean():.0%} '?'; sizes m = {sizes}")

# %% [markdown]
# ## Numba's first call is a compile
#
# `@njit` compiles a function the first time it is called with a new combination of argument
# types (here: float32 arrays), through LLVM, to machine code; the call returns only when that is
# done. Later calls with the same types run the compiled code directly. So time the first call
# separately from the steady state, and never count it in a benchmark. With `cache=True` the
# machine code also goes to disk, and a *new* process with the same types loads it instead of
# compiling again: the last number below is the first call in a fresh Python process that uses
# the cache the first call just wrote (it still pays Numba's one-time start-up in that process,
# but no compile).

# %%
if "numba" in backends:
    ZL, Y = np.ascontiguousarray(ZL_all[:, :1000]), np.ascontiguousarray(Y_all[:, :1000])
    calls = []
    for _ in range(3):
        t0 = time.perf_counter()
        mtl.masked_logistic_cost_and_grad(ZL, Y, backend="numba")
        calls.append(time.perf_counter() - t0)
    print(f"numba, 1st call: {calls[0] * 1e3:8.1f} ms   (compile + run)")
    print(f"numba, 2nd call: {calls[1] * 1e3:8.3f} ms")
    print(f"numba, 3rd call: {calls[2] * 1e3:8.3f} ms   -> compile time about {(calls[0] - calls[2]) * 1e3:.0f} ms")

    new_process = (
        "import time, numpy as np, mtl_numpy as mtl; mtl.get_backend('numba'); "
        "Z = np.zeros((4, 1000), np.float32); Y = np.ones((4, 1000), np.float32); "
        "t0 = time.perf_counter(); mtl.masked_logistic_cost_and_grad(Z, Y, backend='numba'); "
        "print(time.perf_counter() - t0)")
    out = subprocess.run([sys.executable, "-c", new_process], capture_output=True, text=True, check=True)
    print(f"numba, 1st call in a new process, machine code loaded from the cache: {float(out.stdout) * 1e3:.1f} ms")
else:
    print("Numba is not installed here (pip install 'mtl-numpy[numba]'): nothing to compile")

# %% [markdown]
# The same happens for every kernel of a training step: the first step of a Numba model compiles
# the convolution, pooling and ReLU kernels it uses (the step timings below print it too). That is
# why the benchmarks warm up before timing and report the first step on its own line. (Run this
# notebook's cells a second time in the same kernel and the "1st call" is no longer a compile: the
# code is already in memory. Restart the kernel to measure it again.)
#
# ## Check before timing
#
# A fast wrong answer is worth nothing, so first: every backend against the NumPy reference, on
# the same inputs.

# %%
ZL, Y = np.ascontiguousarray(ZL_all[:, :10_000]), np.ascontiguousarray(Y_all[:, :10_000])
J_ref, dZ_ref = mtl.masked_logistic_cost_and_grad(ZL, Y, backend="numpy")
for name in backends:
    J, dZ = mtl.masked_logistic_cost_and_grad(ZL, Y, backend=name)
    print(f"{name:<6} J = {J:.7f}   |J - J_numpy| / J_numpy = {abs(J - J_ref) / J_ref:.1e}"
          f"   max |dZL - dZL_numpy| = {np.max(np.abs(mtl.to_numpy(dZ) - dZ_ref)):.1e}")

# %% [markdown]
# ## Timing the kernel
#
# On a CPU, the standard library is enough: `timeit.repeat` runs a function `number` times per
# repeat, and we keep the **best** of several repeats (the others were slowed by something else
# on the machine; the minimum is the closest to what the code itself costs). Small calls run many
# times per repeat, so that each timed block is long compared with the clock's resolution. Every
# function is called once before timing (a warm-up: compiled, caches filled).
#
# A GPU needs more care: CuPy calls return as soon as the work is *queued*, so a host clock around
# them measures the queueing, not the work. `cupyx.profiler.benchmark` records CUDA events around
# each call and synchronizes; we keep its best GPU time. (This kernel returns the cost as a Python
# float, which waits for the GPU anyway; a training step's last Adam update does not.)

# %%
def best_time(f, number=1, repeat=5):
    return min(timeit.repeat(f, number=number, repeat=repeat)) / number


cpu_backends = [name for name in backends if name != "cupy"]
kernel_times = {name: {} for name in cpu_backends}
for m in sizes:
    ZL, Y = np.ascontiguousarray(ZL_all[:, :m]), np.ascontiguousarray(Y_all[:, :m])
    for name in cpu_backends:
        f = lambda: mtl.masked_logistic_cost_and_grad(ZL, Y, backend=name)
        f()
        kernel_times[name][m] = best_time(f, number=max(1, 200_000 // m), repeat=5)
    print(f"m = {m:>10,}: " + "   ".join(
        f"{name} {kernel_times[name][m] * 1e3:9.3f} ms ({kernel_times[name][m] / m * 1e9:6.1f} ns/example)" for name in cpu_backends))

# %%
if "cupy" in backends:
    import cupy as cp
    from cupyx.profiler import benchmark

    kernel_times["cupy"] = {}
    for m in sizes:
        ZL_gpu = cp.asarray(np.ascontiguousarray(ZL_all[:, :m]))
        Y_gpu = cp.asarray(np.ascontiguousarray(Y_all[:, :m]))
        result = benchmark(mtl.masked_logistic_cost_and_grad, (ZL_gpu, Y_gpu), {"backend": "cupy"},
                           n_repeat=20, n_warmup=3)
        kernel_times["cupy"][m] = float(result.gpu_times.min())
        print(f"m = {m:>10,}: cupy {kernel_times['cupy'][m] * 1e3:9.3f} ms ({kernel_times['cupy'][m] / m * 1e9:6.2f} ns/example)")
else:
    print("no GPU here: CuPy cannot run on this machine, so there is no cupy line in the figures below")

# %% [markdown]
# These are the times of the public function, which also checks its inputs (finite logits, labels
# in {0, 1, nan}) before calling the backend's kernel; models check once per batch and then call
# the kernel directly. Exercise 1 times the kernel alone.
#
# ## Timing a whole training step
#
# One step is what `mtl.fit` does per mini-batch: `model.cost_and_grads(X, Y)` (forward, masked
# cost, backward), then `optimizer.update(model.params, grads)`. The two models are the
# benchmarks' reference models: the MLP $3072 \to 256 \to 128 \to 4$ of notebook 4 and the default
# `SharedCNN` of notebook 5 (two conv blocks of 16 and 32 filters, a dense layer of 64), float32.
# The same seed gives the same initial parameters on every backend, so the first step's cost and
# $dW^{[1]}$ can be compared with NumPy's before timing (`gradient_difference` is notebook 2's
# $\lVert a - b\rVert / (\lVert a\rVert + \lVert b\rVert)$). The first step is timed on its own
# (Numba compiles there), and the steady state is the best of several steps.

# %%
step_sizes = {"MLP": (8, 32, 128) if FAST else (8, 32, 128, 512, 2048),
              "CNN": (8, 32) if FAST else (8, 32, 128, 512)}
repeat = 3 if FAST else 7
step_times, first_step, reference, inputs = {}, {}, {}, {}
for kind, batch_sizes in step_sizes.items():
    for m in batch_sizes:
        X = rng.random((3072, m), dtype=np.float32) if kind == "MLP" else rng.random((m, 32, 32, 3), dtype=np.float32)
        Y = np.ascontiguousarray(Y_all[:, :m])
        inputs[kind, m] = (X, Y)
        for name in cpu_backends:
            model = mtl.SharedMLP([3072, 256, 128, 4], seed=0, backend=name) if kind == "MLP" else mtl.SharedCNN(seed=0, backend=name)
            optimizer = mtl.Adam(learning_rate=1e-3)
            t0 = time.perf_counter()
            J, grads = model.cost_and_grads(X, Y)
            optimizer.update(model.params, grads)
            first = time.perf_counter() - t0
            if name == "numpy":
                reference[kind, m] = (J, grads["dW1"])
            J_ref, dW1_ref = reference[kind, m]
            step = lambda: optimizer.update(model.params, model.cost_and_grads(X, Y)[1])
            step_times.setdefault((kind, name), {})[m] = best_time(step, repeat=repeat)
            first_step.setdefault((kind, name), first)
            print(f"{kind} {name:<6} m = {m:>5}: first step {first * 1e3:8.1f} ms, then {step_times[kind, name][m] * 1e3:8.2f} ms/step"
                  f"   check: cost {abs(J - J_ref) / J_ref:.0e}, dW1 {mtl.gradcheck.gradient_difference(grads['dW1'], dW1_ref):.0e}")

# %%
if "cupy" in backends:
    import cupy as cp
    from cupyx.profiler import benchmark

    for kind, batch_sizes in step_sizes.items():
        for m in batch_sizes:
            X, Y = (cp.asarray(a) for a in inputs[kind, m])      # the CPU runs' inputs, copied to the GPU once
            model = mtl.SharedMLP([3072, 256, 128, 4], seed=0, backend="cupy") if kind == "MLP" else mtl.SharedCNN(seed=0, backend="cupy")
            optimizer = mtl.Adam(learning_rate=1e-3)
            t0 = time.perf_counter()
            J, grads = model.cost_and_grads(X, Y)
            optimizer.update(model.params, grads)
            cp.cuda.Device().synchronize()
            first_step.setdefault((kind, "cupy"), time.perf_counter() - t0)
            J_ref, dW1_ref = reference[kind, m]
            step = lambda: optimizer.update(model.params, model.cost_and_grads(X, Y)[1])
            result = benchmark(step, n_repeat=repeat, n_warmup=2)
            step_times.setdefault((kind, "cupy"), {})[m] = float(result.gpu_times.min())
            print(f"{kind} cupy   m = {m:>5}: {step_times[kind, 'cupy'][m] * 1e3:8.3f} ms/step   check: cost {abs(J - J_ref) / J_ref:.0e},"
                  f" dW1 {mtl.gradcheck.gradient_difference(mtl.to_numpy(grads['dW1']), dW1_ref):.0e}")
else:
    print("no GPU here: CuPy cannot run on this machine, so there is no cupy line in the figures below")

# %% [markdown]
# The same numbers as a table, in the form the benchmark prints (time per step, examples per
# second, and the ratio to NumPy on the same model and batch size; below 1 is faster):

# %%
print(f"| {'model':<5} | {'backend':<7} | {'m':>5} | {'ms/step':>9} | {'examples/s':>11} | {'time / numpy':>12} |")
print(f"|{'-' * 7}|{'-' * 9}|{'-' * 6}:|{'-' * 10}:|{'-' * 12}:|{'-' * 13}:|")
for (kind, name), times in step_times.items():
    for m, t in times.items():
        print(f"| {kind:<5} | {name:<7} | {m:>5} | {t * 1e3:>9.3f} | {m / t:>11,.0f} | {t / step_times[kind, 'numpy'][m]:>12.2f} |")
print()
for (kind, name), first in first_step.items():
    print(f"first {kind} step on {name:<6}: {first:6.2f} s")

# %% [markdown]
# ## The picture: time per example against batch size
#
# Divide each time by the number of examples and plot both axes on a log scale. A call that costs
# a fixed overhead $t_0$ plus $c$ per example takes $t_0/m + c$ per example: a line falling with
# slope $-1$ while the overhead dominates, flattening to $c$ once the work does. Lower is faster.

# %%
panels = {"masked cost + gradient": {name: times for name, times in kernel_times.items()}}
for kind in step_sizes:
    panels[f"{kind} training step"] = {name: times for (k, name), times in step_times.items() if k == kind}

fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
for ax, (title, series) in zip(axes, panels.items()):
    for name, times in series.items():
        m = np.array(list(times))
        ax.loglog(m, np.array(list(times.values())) / m, marker="o", label=name)
    ax.set(title=title, xlabel="examples per call (batch size m)", ylabel="seconds per example")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
fig.tight_layout()

# %% [markdown]
# How to read it, left to right:
#
# * **The kernel.** At the small sizes the per-example time falls with $m$: the fixed cost of the
#   call is being spread over more examples. Where a line flattens, the kernel is memory-bound and
#   the height of the flat part compares the backends' passes over memory: NumPy's several
#   temporary arrays against Numba's single pass. A line that *rises* with $m$ belongs to a kernel
#   whose temporary arrays have outgrown the processor's caches, so that each of its passes now
#   goes to main memory. (Above $2^{20}$ entries the Numba kernel switches to
#   its parallel version, `COST_PARALLEL_MIN` in `mtl_numpy/backends/_numba_config.py`; on a busy
#   two-core machine waking the second thread can cost more than it saves.)
# * **The training steps.** Most of a step is matrix products (the MLP) or convolutions as matrix
#   products (the CNN), and both CPU backends call the same BLAS for them: any gap between the
#   MLP lines comes from the rest of the step (bias + ReLU, the cost, Adam) or from noise (on a
#   shared machine single timings jump; run the cell twice before believing a small gap). The CNN
#   is where Numba's own kernels (im2col, pooling, fused bias + ReLU) replace several NumPy passes
#   each, and the gap between its lines shows what that buys.
#
# **The full benchmark.** `python -m benchmarks --help` lists it: `cost` (this kernel, Numba serial
# and parallel, PyTorch), `kernels`, `steps` (the training steps, with PyTorch on the same weights
# as a reference, and `--plot` for this figure), `gpu-cost`. Its tables are read like the one above,
# with more care taken: each contender runs in its own process, the repeats are interleaved (A, B,
# A, B, ... so that a noisy moment hits all contenders), the table shows the median, a *spread*
# column says how much the repeats disagreed (a ratio smaller than the spread is not a result), a
# *check* column holds the correctness test done before timing, and the first step (compile or
# cache load) has its own table. Ratios measured side by side in one run are the only speed claims
# worth making; absolute times change with the machine and its load.
#
# ## Where a GPU starts to win, and why
#
# A GPU has hundreds of times the arithmetic throughput and memory bandwidth of one CPU core, and a
# much larger fixed cost per call: every kernel is launched from the host (a few
# microseconds each, and a training step launches tens of them), and reading the cost back to the
# host waits for all the queued work. So the GPU's line starts *high* at small batches (overhead
# divided by few examples) and falls steeply; it crosses the CPU line where the work per call is
# large enough to hide the overhead.
#
# Whether the work is memory-bound or compute-bound is set by the arithmetic intensity against the
# machine's *ridge point*, peak operations per second divided by bandwidth. Below the ridge the
# memory is the limit, above it the arithmetic. The cell below computes rough intensities (the
# operation and byte counts are estimates, stated in the code) and the ridge points of two machines
# from their specification sheets (assumed round numbers, not measurements made here):

# %%
flops_per_entry, bytes_per_entry = 40, 12     # masked cost: rough operation count; float32 z, y read, dZ written
print(f"masked cost: about {flops_per_entry / bytes_per_entry:.1f} flop/byte at every m")

P_w = 3072 * 256 + 256 * 128 + 128 * 4        # weights of the reference MLP
units = 3072 + 256 + 128 + 4                  # activations per example
print(f"MLP step (weights {P_w:,}):")
for m in (1, 8, 64, 512, 4096):
    flops = 6 * m * P_w                        # forward 2 m P_w, backward 4 m P_w (dW and dA)
    nbytes = 4 * (10 * P_w + 4 * m * units)    # weights ~10 passes (forward, backward, dW, Adam), activations ~4
    print(f"  m = {m:>4}: about {flops / nbytes:6.1f} flop/byte")

machines = {"one CPU core (AVX-512 at ~3 GHz)": (190e9, 15e9),    # assumed: peak float32 flop/s, bytes/s
            "H100 SXM GPU (spec sheet)": (67e12, 3.35e12)}
for name, (peak, bandwidth) in machines.items():
    print(f"{name}: ridge point about {peak / bandwidth:.0f} flop/byte")

# %% [markdown]
# The masked cost sits far below both ridge points at every size: memory-bound everywhere, so a GPU
# can only win on it by its bandwidth, and only once the input is large enough that moving it takes
# longer than the launch and the read-back. The MLP step's intensity grows with the batch (the
# weights are read once per step however many examples share them): at small batches it is
# memory-bound on the weights, at large batches compute-bound, which is where the GPU's arithmetic
# pays.
#
# A rough crossover, from this machine's measured CPU times and an **assumed** fixed GPU cost per
# call (the GPU's per-example cost from the bandwidth and peak above; if this machine has a GPU,
# the measured cupy line in the figure replaces the estimate):

# %%
gpu_overhead = {"masked cost + gradient": 100e-6,  # assumed: the input checks, a launch, one read-back of the cost
                "MLP training step": 500e-6}       # assumed: tens of launches (checks, forward, backward, Adam), read-backs
gpu_peak, gpu_bandwidth = machines["H100 SXM GPU (spec sheet)"]
gpu_per_example = {"masked cost + gradient": 4 * bytes_per_entry / gpu_bandwidth,
                   "MLP training step": max(6 * P_w / gpu_peak, 4 * 4 * units / gpu_bandwidth)}
m_kernel, m_step = max(sizes), max(step_sizes["MLP"])
fastest_cpu = {"masked cost + gradient": min(kernel_times[name][m_kernel] / m_kernel for name in cpu_backends),
               "MLP training step": min(step_times["MLP", name][m_step] / m_step for name in cpu_backends)}
for what in gpu_overhead:
    m_cross = gpu_overhead[what] / (fastest_cpu[what] - gpu_per_example[what])
    print(f"{what}: fastest CPU backend here {fastest_cpu[what] * 1e6:.4g} µs per example (at the largest m);"
          f" a GPU with {gpu_overhead[what] * 1e6:.0f} µs of overhead per call would start to win at about m = {m_cross:,.0f}")

# %% [markdown]
# The orders of magnitude are the lesson, not the digits: a kernel that does little arithmetic per
# byte needs *many* examples per call before a GPU pays (the launch and the read-back dwarf
# microseconds of work), while a training step that is mostly matrix products does so much work
# per example that even small batches give the GPU enough to do. That is why `mtl.fit` on a GPU
# wants large batches, and why the CuPy backend fuses element-wise work into few kernels (fewer
# launches) and keeps every array on the GPU, reading back only small results such as the cost.
#
# ## A pitfall: `fastmath=True` and the '?' labels
#
# LLVM's "fast math" lets the compiler reorder and simplify floating-point code. One of the flags it
# turns on, `nnan`, tells it that **no value is ever NaN**. The Numba cost kernel detects a '?' label
# with `y == y`, which is False only for NaN; under `nnan` the compiler may fold that test to True, and
# every '?' then counts as a label and brings its NaN into the cost. `mtl_numpy/backends/_numba_config.py`
# is the one place where the package's flags are set; it lists the fast-math flags it wants
# (reassociation, so that sums vectorise, fused multiply-add, approximate functions, ...) and leaves
# `nnan` and `ninf` out. The demonstration, a loop written like the kernels' '?' test, compiled
# three ways (this is the one function defined in a cell: it *is* the teaching point):

# %%
if "numba" in backends:
    import numba
    from mtl_numpy.backends import _numba_config

    def known_and_sum(z, y):              # count the known labels, and sum z * y over them
        n, total = 0, 0.0
        for i in range(z.size):
            if y[i] == y[i]:              # False only for nan: the kernels' '?' test
                n += 1
                total += z[i] * y[i]
        return n, total

    z, y = ZL_all[0, :1000], Y_all[0, :1000]
    print("the package's fast-math flags:", sorted(_numba_config.FASTMATH))
    print(f"NumPy, selecting with where:   known = {int(np.sum(~np.isnan(y)))}, sum = {float(np.sum(np.where(np.isnan(y), 0.0, z * y))):.6f}")
    for label, options in (("numba, no fast math:          ", {}),
                           ("numba, the package's flags:   ", {"fastmath": set(_numba_config.FASTMATH)}),
                           ("numba, fastmath=True:         ", {"fastmath": True})):
        n, total = numba.njit(**options)(known_and_sum)(z, y)
        print(f"{label} known = {n}, sum = {total:.6f}")
else:
    print("Numba is not installed here: nothing to demonstrate")

# %% [markdown]
# Compare the lines. If the `fastmath=True` line reports every entry as known and a `nan` sum, the
# compiler on this machine did fold the test away: no error, no warning, a wrong count and a NaN
# cost. (Whether it folds depends on the Numba and LLVM versions; code that is only correct when an
# optimisation does not happen is wrong.) `tests/test_numba_backend.py` checks that '?' entries
# still give a finite cost and a zero gradient under the package's flags.
#
# ## Cleaning up
#
# The Numba cache folder this notebook made at the start is no longer needed.

# %%
shutil.rmtree(os.environ.pop("NUMBA_CACHE_DIR"), ignore_errors=True)

# %% [markdown]
# ## Summary
#
# * Time with the best of several repeats after a warm-up; check results before timing; on a GPU,
#   time with CUDA events (`cupyx.profiler.benchmark`), never a host clock without a synchronize.
# * Numba's first call compiles (the printed compile time); `cache=True` lets later processes load
#   the machine code instead. Keep the first call out of every timing.
# * Time per example against batch size, log-log: a falling line is overhead being amortised, a flat
#   line is the real per-example cost. A memory-bound kernel's flat part is set by how many passes
#   over memory it makes: one fused pass (Numba) against several (NumPy).
# * A GPU wins once there is enough work per call to hide its launch and read-back overhead: soon for
#   compute-heavy steps, only at large sizes for memory-bound kernels.
# * Never `fastmath=True` in code that relies on NaN: its `nnan` flag can delete the '?' test.
#
# ## Exercises
#
# 1. Time the kernel without the input checks, `mtl.get_backend("numba").masked_logistic_cost_and_grad(ZL, Y, "examples")`,
#    at the same sizes. How much of the public function's time per example was checking, and at
#    which sizes does it matter?
# 2. Run the Numba masked cost at `m = 1_000_000` with `numba.set_num_threads(1)` and with the
#    default number of threads. Which is faster on this machine, and what does that say about the
#    threshold `COST_PARALLEL_MIN`?
# 3. Train the `SharedCNN` of notebook 5 for one epoch with `backend="numpy"` and with
#    `backend="numba"` (`mtl.fit(..., progress=False)`) and compare `history.seconds`. Is the ratio
#    the one the CNN panel above predicts for `batch_size=64`?
'''


NOTEBOOKS = {
    "01_label_matrix.ipynb": NB01,
    "02_masked_cost.ipynb": NB02,
    "03_shared_network_by_hand.ipynb": NB03,
    "04_training_driving_scenes.ipynb": NB04,
    "05_convolutions_by_hand.ipynb": NB05,
    "06_when_multitask_helps.ipynb": NB06,
    "07_transfer_learning.ipynb": NB07,
    "08_end_to_end_vs_pipeline.ipynb": NB08,
    "09_making_it_fast.ipynb": NB09,
}


def parse_cells(source):
    """Split a percent-format source into ``[(kind, text), ...]`` with kind "markdown" or "code".

    A line ``# %% [markdown]`` starts a markdown cell whose lines are written as comments
    (``# text``), ``# %%`` a code cell. ``{SETUP}`` is replaced by the common setup cell.
    """
    cells, kind, lines = [], None, []

    def flush():
        if kind is not None:
            text = "\n".join(lines).strip("\n")
            if kind == "markdown":
                text = "\n".join(
                    line[2:] if line.startswith("# ") else ("" if line == "#" else line)
                    for line in text.split("\n")
                )
            if text.startswith("{SETUP}"):
                # lines after {SETUP} are the notebook's own imports: standard-library ones go
                # next to ``import os``, the others after ``import mtl_numpy as mtl``
                extra = [line for line in text[len("{SETUP}"):].split("\n") if line.strip()]
                stdlib = [line for line in extra
                          if line.startswith("import ") and line.split()[1] in _STDLIB]
                others = [line for line in extra if line not in stdlib]
                text = SETUP.replace("{STDLIB}", "".join("\n" + line for line in stdlib))
                text = text.replace("{EXTRA}", "".join("\n" + line for line in others))
            if text.strip():
                cells.append((kind, text))

    for line in source.strip("\n").split("\n"):
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    flush()
    return cells


def build_notebook(name, source):
    """The notebook for ``source``: no outputs, no execution counts, deterministic cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    stem = name.split("_")[0]
    for k, (kind, text) in enumerate(parse_cells(source)):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell(text)  # execution_count None, outputs []
        cell["id"] = f"nb{stem}-cell{k:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name):
    """The file content (str) that ``tutorials/<name>`` should have."""
    return nbformat.writes(build_notebook(name, NOTEBOOKS[name]), version=4) + "\n"


def cell_sources(text):
    """``[(cell_type, source), ...]`` of a notebook's JSON text: what "in step" compares.

    Comparing cells rather than bytes keeps the check independent of the nbformat version that
    serialised the file.
    """
    nb = nbformat.reads(text, as_version=4)
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def is_current(name):
    """True if ``tutorials/<name>`` has exactly the cells its source here generates."""
    path = TUTORIALS / name
    if not path.exists():
        return False
    return cell_sources(path.read_text(encoding="utf-8")) == cell_sources(render(name))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a notebook differs from its source here")
    args = parser.parse_args(argv)
    stale = []
    TUTORIALS.mkdir(exist_ok=True)
    for name in NOTEBOOKS:
        path = TUTORIALS / name
        content = render(name)
        if args.check:
            if not is_current(name):
                stale.append(name)
            continue
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != content:
            path.write_text(content, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run python tools/make_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
