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
import os

import numpy as np
import matplotlib.pyplot as plt

import mtl_numpy as mtl
import mtl_numpy.layers  # the layer functions, used below as mtl.layers.*

# The test suite sets MTL_FAST=1: small data and few epochs, so that every notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting the text describes.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")

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
#
# Next: [notebook 2](02_masked_cost.ipynb), the masked cost. The project's [README](../README.md)
# lists every tutorial.
