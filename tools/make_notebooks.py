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


NOTEBOOKS = {
    "01_label_matrix.ipynb": NB01,
    "02_masked_cost.ipynb": NB02,
    "03_shared_network_by_hand.ipynb": NB03,
    "04_training_driving_scenes.ipynb": NB04,
    "05_convolutions_by_hand.ipynb": NB05,
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
