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
# # 5. Convolutions by hand
#
# **What we are about to do, and why.** The lecture's argument for multi-task learning is that the
# four tasks share *low-level features*: edges, colours, blobs, that a pedestrian detector and a
# car detector both need. In images, the layer that learns such features is the convolution: one
# small filter, slid over every position, so that a feature learned in one corner works everywhere.
# This notebook has you write convolution and pooling the course's way, with loops (graded
# exercises; the package's teaching versions are in `mtl_numpy.backends.naive`), then the window
# gathering of the fast version (im2col, in `mtl_numpy.conv`), checks that they agree and times them, checks the gradients, looks at
# what the filters of a trained `SharedCNN` see in a street scene, and compares that CNN with the
# MLP of notebook 4 on the same scenes.

# %%
import os
import time

import numpy as np
import matplotlib.pyplot as plt

import mtl_numpy as mtl
from mtl_numpy import conv  # the course's conv/pool math (im2col, col2im, forward/backward) on its own
from mtl_numpy.backends import naive
from mtl_numpy.plotting import plot_learning_curves, plot_task_metrics
from mtl_numpy import exercises  # the checks of this notebook's exercises
from tutorial_utils import best_time

# The test suite sets MTL_FAST=1: small data and few epochs, so that every notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting the text describes.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")

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
# ## The course's loops, by you
#
# Complete each function between `### START CODE HERE ###` and `### END CODE HERE ###`, run it,
# then the check under it (✓, or what is wrong and the expected output; "not done yet" before you
# start). Hints are folded under each exercise; the answers are in
# [solutions/05_convolutions_by_hand.py](solutions/05_convolutions_by_hand.py).
#
# ### Exercise 1: `conv_single_step`
#
# One filter on one window: the elementwise product of the window and the filter, summed, plus the
# filter's bias.
#
# <details><summary>Hint</summary>
#
# `np.sum(a_slice_prev * W) + b[0, 0, 0]` (`b` has shape $(1, 1, 1)$; index it to get a number).
# </details>

# %%
def conv_single_step(a_slice_prev, W, b):
    """a_slice_prev (f, f, n_C_prev), W (f, f, n_C_prev), b (1, 1, 1) -> Z, one number."""
    ### START CODE HERE ### (≈ 2 lines)
    ### BEGIN SOLUTION
    s = a_slice_prev * W
    Z = np.sum(s) + b[0, 0, 0]
    ### END SOLUTION
    ### END CODE HERE ###
    return Z


# %%
exercises.check_conv_single_step(conv_single_step)

# %% [markdown]
# ### Exercise 2: `conv_forward`, loop by loop
#
# Pad the input (`naive.zero_pad(A_prev, pad)` does it), compute $n_H, n_W$ with the formula above,
# then loop over the examples $i$, the output rows $h$, the output columns $w$ and the filters $c$:
# the window starts at row `stride * h` and column `stride * w`, and
# `Z[i, h, w, c] = conv_single_step(window, W[:, :, :, c], b[:, :, :, c])`.
#
# <details><summary>Hint</summary>
#
# `n_H = (n_H_prev - f + 2 * pad) // stride + 1` (the same for `n_W`);
# `Z = np.zeros((m, n_H, n_W, n_C))`; inside the four loops,
# `a_slice_prev = A_prev_pad[i, vert_start:vert_start + f, horiz_start:horiz_start + f, :]`.
# </details>

# %%
def conv_forward(A_prev, W, b, hparameters):
    """A_prev (m, n_H_prev, n_W_prev, n_C_prev), W (f, f, n_C_prev, n_C), b (1, 1, 1, n_C),
    hparameters {"stride", "pad"} -> Z (m, n_H, n_W, n_C), cache (A_prev, W, b, hparameters)."""
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    ### START CODE HERE ### (≈ 12 lines)
    ### BEGIN SOLUTION
    n_H = (n_H_prev - f + 2 * pad) // stride + 1
    n_W = (n_W_prev - f + 2 * pad) // stride + 1
    Z = np.zeros((m, n_H, n_W, n_C))
    A_prev_pad = naive.zero_pad(A_prev, pad)
    for i in range(m):
        for h in range(n_H):
            vert_start = stride * h
            for w in range(n_W):
                horiz_start = stride * w
                a_slice_prev = A_prev_pad[i, vert_start:vert_start + f, horiz_start:horiz_start + f, :]
                for c in range(n_C):
                    Z[i, h, w, c] = conv_single_step(a_slice_prev, W[:, :, :, c], b[:, :, :, c])
    ### END SOLUTION
    ### END CODE HERE ###
    cache = (A_prev, W, b, hparameters)
    return Z, cache


# %%
exercises.check_conv_forward(conv_forward)

# %% [markdown]
# ### Exercise 3: `create_mask_from_window`
#
# Max pooling's backward sends each output's gradient to the position of its window's maximum.
# Mark that position with `True`, and only one: when several entries tie for the maximum (a window
# of zeros after a ReLU, for one), mark the **first** in row-major order.
#
# <details><summary>Hint</summary>
#
# `mask = np.zeros(x.shape, dtype=bool)`, then `mask.flat[np.argmax(x)] = True`: `np.argmax`
# returns the first maximum of the flattened window.
# </details>

# %%
def create_mask_from_window(x):
    """x (f, f) -> mask (f, f) of bool, True at the first maximum of x only."""
    ### START CODE HERE ### (≈ 2 lines)
    ### BEGIN SOLUTION
    mask = np.zeros(x.shape, dtype=bool)
    mask.flat[np.argmax(x)] = True
    ### END SOLUTION
    ### END CODE HERE ###
    return mask


# %%
exercises.check_create_mask_from_window(create_mask_from_window)

# %% [markdown]
# ### Exercise 4: `pool_backward`
#
# Loop over the examples, output rows, output columns and channels; for each output, find its
# window in `A_prev` and **add** (windows may overlap when the stride is smaller than $f$) to
# `dA_prev`'s window: `mask * dA[i, h, w, c]` for max pooling, the gradient spread evenly,
# `dA[i, h, w, c] / (f * f)` in every entry, for average pooling.
#
# <details><summary>Hint</summary>
#
# `A_prev, hparameters = cache`; `dA_prev = np.zeros(A_prev.shape)`; with
# `vs, hs = stride * h, stride * w`, the window is `A_prev[i, vs:vs + f, hs:hs + f, c]` and the
# update `dA_prev[i, vs:vs + f, hs:hs + f, c] += ...`.
# </details>

# %%
def pool_backward(dA, cache, mode="max"):
    """dA (m, n_H, n_W, n_C), cache (A_prev, hparameters {"f", "stride"}) -> dA_prev, A_prev's shape."""
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    m, n_H, n_W, n_C = dA.shape
    ### START CODE HERE ### (≈ 11 lines)
    ### BEGIN SOLUTION
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(n_H):
            vs = stride * h
            for w in range(n_W):
                hs = stride * w
                for c in range(n_C):
                    if mode == "max":
                        mask = create_mask_from_window(A_prev[i, vs:vs + f, hs:hs + f, c])
                        dA_prev[i, vs:vs + f, hs:hs + f, c] += mask * dA[i, h, w, c]
                    else:
                        dA_prev[i, vs:vs + f, hs:hs + f, c] += dA[i, h, w, c] / (f * f)
    ### END SOLUTION
    ### END CODE HERE ###
    return dA_prev


# %%
exercises.check_pool_backward(pool_backward)

# %% [markdown]
# ### The package's loops
#
# The package's teaching versions, in `mtl_numpy/backends/naive.py`, are the oracle the fast
# kernels are tested against. Where they differ from the course's code, and maybe from yours:
# `create_mask_from_window` marks the *first* maximum only, where the course writes
# `x == np.max(x)`, which sends the whole gradient to every tied position (a gradient $k$ times too
# large in a window with $k$ ties, which after a ReLU is common); `conv_forward` computes the
# output size with floor division `//` (the course's `int(x / stride)` rounds a negative number
# the other way) and makes `Z` in the inputs' dtype; `conv_single_step` adds `b[0, 0, 0]` as a
# NumPy scalar rather than through `float(b)`.

# %%
exercises.show_source(naive.create_mask_from_window)
exercises.show_source(naive.conv_forward)

# %% [markdown]
# The package's loops on a small batch: `naive.zero_pad` adds the border,
# `naive.conv_single_step` is one filter on one window, `naive.conv_forward` calls it once per
# output number, and max pooling drops what does not fill a window.

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
# onto the input (col2im).
#
# ### Exercise 5: im2col
#
# Gather the windows: row $r = (i\, n_H + h)\, n_W + w$ of `cols` is the window under output
# position $(i, h, w)$, flattened in the order $(u, v, k)$, rows of the window first, channels
# last, which is the order of `W.reshape(f * f * n_C_prev, n_C)`. Loops over $h$ and $w$ are fine
# (all the examples at once, `A_pad[:, ...]`); the package's version below has no Python loop.
#
# <details><summary>Hint</summary>
#
# For each `h, w`: `window = A_pad[:, stride * h:stride * h + f, stride * w:stride * w + f, :]`
# has shape `(m, f, f, n_C_prev)`; `cols[:, h, w, :] = window.reshape(m, -1)` flattens it in
# $(u, v, k)$ order.
# </details>

# %%
def im2col(A_prev, f, stride, pad):
    """A_prev (m, n_H_prev, n_W_prev, n_C_prev) -> cols (m * n_H * n_W, f * f * n_C_prev)."""
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    n_H = (n_H_prev - f + 2 * pad) // stride + 1
    n_W = (n_W_prev - f + 2 * pad) // stride + 1
    A_pad = naive.zero_pad(A_prev, pad)
    cols = np.zeros((m, n_H, n_W, f * f * n_C_prev), dtype=A_prev.dtype)
    ### START CODE HERE ### (≈ 4 lines)
    ### BEGIN SOLUTION
    for h in range(n_H):
        for w in range(n_W):
            window = A_pad[:, stride * h:stride * h + f, stride * w:stride * w + f, :]
            cols[:, h, w, :] = window.reshape(m, -1)
    ### END SOLUTION
    ### END CODE HERE ###
    return cols.reshape(m * n_H * n_W, f * f * n_C_prev)


# %%
exercises.check_im2col(im2col)

# %% [markdown]
# With your `cols`, the whole convolution is one matrix product. (This cell waits for exercise 5.)

# %%
if exercises.check_im2col(im2col):
    n_C = W.shape[3]
    Z_matrix = (im2col(A_prev, 3, 1, 1) @ W.reshape(-1, n_C) + b.reshape(1, n_C)).reshape(Z_naive.shape)
    print(f"cols @ W + b, reshaped to {Z_matrix.shape}: max |difference to the loops| = {np.max(np.abs(Z_matrix - Z_naive)):.1e}")
else:
    print("(exercise 5 is not done yet)")

# %% [markdown]
# The package's im2col does the gathering without a Python loop: it describes every window as a
# strided *view* of the padded input (no copy), then copies that view once into a contiguous
# array; it returns the 6-d array `(m, n_H, n_W, f, f, n_C_prev)`, whose reshape to your matrix is
# free. The fast conv and pool functions have exactly the naive ones' signatures and caches; check
# that every output agrees.

# %%
exercises.show_source(conv.im2col)
cols = conv.im2col(A_prev, 3, 1, 1)
print("im2col:", cols.shape, "-> as a matrix", cols.reshape(-1, 3 * 3 * 3).shape)

Z_fast, cache_fast = conv.conv_forward(A_prev, W, b, hparameters)
P_fast, pool_cache_fast = conv.pool_forward(Z_fast, {"f": 2, "stride": 2}, mode="max")
dZ = rng.standard_normal(Z_fast.shape)
dP = rng.standard_normal(P_fast.shape)
pairs = {
    "conv_forward Z": (Z_naive, Z_fast),
    "pool_forward A": (P_naive, P_fast),
    **{f"conv_backward {n}": (g1, g2) for n, g1, g2 in zip(
        ("dA_prev", "dW", "db"), naive.conv_backward(dZ, cache_naive), conv.conv_backward(dZ, cache_fast))},
    "pool_backward dA_prev": (naive.pool_backward(dP, pool_cache_naive, mode="max"),
                              conv.pool_backward(dP, pool_cache_fast, mode="max")),
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

t_naive = best_time(lambda: naive.conv_forward(A_time, W_time, b_time, hparameters), repeat=2)
t_fast = best_time(lambda: conv.conv_forward(A_time, W_time, b_time, hparameters), repeat=20)
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
Zc, cc = conv.conv_forward(A64, W64, b64, hparameters)
dZc = rng.standard_normal(Zc.shape)
dA_c, dW_c, db_c = conv.conv_backward(dZc, cc)
num = mtl.eval_numerical_gradient_array
print("conv  dA_prev relative error:", f"{mtl.relative_error(dA_c, num(lambda a: conv.conv_forward(a, W64, b64, hparameters)[0], A64, dZc)):.1e}")
print("conv  dW      relative error:", f"{mtl.relative_error(dW_c, num(lambda w: conv.conv_forward(A64, w, b64, hparameters)[0], W64, dZc)):.1e}")
print("conv  db      relative error:", f"{mtl.relative_error(db_c, num(lambda c: conv.conv_forward(A64, W64, c, hparameters)[0], b64, dZc)):.1e}")
Pp, pc = conv.pool_forward(A64, {"f": 2, "stride": 2}, mode="max")
dPp = rng.standard_normal(Pp.shape)
print("pool  dA_prev relative error:", f"{mtl.relative_error(conv.pool_backward(dPp, pc, mode='max'), num(lambda a: conv.pool_forward(a, {'f': 2, 'stride': 2}, mode='max')[0], A64, dPp)):.1e}")

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
                      batch_size=64, validation=(val.X, val.Y), seed=0, progress=not FAST, tasks=train.tasks)
history_mlp = mtl.fit(mlp, train.flat(), train.Y, optimizer=mtl.Adam(learning_rate=1e-3), epochs=epochs_mlp,
                      batch_size=64, validation=(val.flat(), val.Y), seed=0, progress=not FAST, tasks=train.tasks)
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
Z1, _ = conv.conv_forward(scene, W1, b1, same)
A1 = np.maximum(Z1, 0)                                         # the ReLU
P1, _ = conv.pool_forward(A1, {"f": 2, "stride": 2}, mode="max")
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
#   windows are gathered (im2col). The loops of `naive` and the matrix product of `conv`
#   agree to rounding, forward and backward, and the matrix product is much faster (the timing
#   cell).
# * Max pooling keeps each window's maximum; its gradient goes to that one position.
# * The per-layer checks and the whole-model `gradient_check` pass for the CNN as they did for the
#   MLP.
# * On the same scenes a small `SharedCNN` has fewer parameters than the MLP and learns features
#   that work at every position; its first-layer feature maps are the shared low-level features
#   the lecture talks about.
#
# ## More exercises (not graded)
#
# 1. Use `naive.conv_forward` with `{"stride": 2, "pad": 0}` on `A_prev`. Predict the output shape
#    from the formula first, then check it, and check that `conv.conv_forward` agrees.
# 2. Replace max pooling by average pooling (`mode="average"`) in the naive/fast comparison and in
#    the gradient check of the pooling layer. What is `naive.distribute_value` for?
# 3. Train a `SharedCNN` with `conv_channels=(4, 8)` and another with `(32, 64)` for the same number
#    of epochs. How do the parameter counts, the time per epoch and the test average precision
#    change? Relate it to the lecture's remark that multi-task learning needs a network big enough.
#
# Next: [notebook 6](06_when_multitask_helps.ipynb) puts this CNN to work on the lecture's
# question of when multi-task learning helps. The project's [README](../README.md) lists every
# tutorial.
