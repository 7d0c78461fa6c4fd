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
# tasks it does answer. For each experiment we first print the stored full run and compare it with
# what the lecture predicts, including where the results disagree with it; then we run the
# experiment here and draw its figure.
#
# In the fast setting (`MTL_FAST=1`) every experiment runs in seconds, on two seeds, a few hundred
# scenes and a narrow network (the settings are printed with each table): its numbers are
# illustrations, noisy by design, and say nothing either way about the lecture's claims. The
# conclusions come from the full setting, which docs/experiments.md discusses. Its results are
# stored in `docs/figures/NAME.json`, written by `python -m mtl_numpy.experiments all --out
# docs/figures`; where this checkout has them, the notebook loads each one and prints it before
# this run's table. Running the full setting here (`MTL_FAST` unset) takes minutes per experiment:
# the wall times of the stored run are in `docs/figures/timings_all.json`, printed below.

# %%
import os
import json

import numpy as np
import matplotlib.pyplot as plt

import mtl_numpy as mtl
from mtl_numpy import experiments
# Tables of an earlier full run, if this checkout has them (python -m mtl_numpy.experiments NAME --out docs/figures)
from tutorial_utils import FIGURES, stored_run

# The test suite sets MTL_FAST=1: small data and few epochs, so that every notebook runs in
# seconds. Run by hand (MTL_FAST unset) for the full setting the text describes.
FAST = os.environ.get("MTL_FAST") == "1"
print("setting:", "fast (MTL_FAST=1)" if FAST else "full")

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

# %% [markdown]
# The stored full run first, if this checkout has it, with the settings it ran with and the comparisons
# that matter: the mean over the four tasks at each labelled fraction, and the hardest and easiest
# tasks on their own:

# %%
full = stored_run("sharing")
if full is not None:
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

# %% [markdown]
# How to read the tables: compare `multi_task` with `single_task` task by task, and look at the
# `±`: a difference smaller than the spread over seeds is not a difference.
#
# docs/experiments.md (section 1) reads the stored full run, printed above: **sharing buys
# parameter efficiency, not accuracy.** At every labelled fraction the one multi-task network is
# within about 0.01 of the mean accuracy of four single-task networks of its width, which have four
# times its parameters, and ties the four half-width networks that have about as many parameters
# as it.
# Read the `multi - single` column against the `±` beside it: with every label the multi-task
# network is behind by a margin larger than both spreads; from a tenth of the labels down the
# difference is smaller than the spreads, no difference resolved. That is the direction the
# lecture predicts (sharing matters more when labels are scarce), but what the run resolves is a
# small deficit with every label, not a gain with few. Task by task the differences are larger:
# the hardest task gains, at the smallest fraction the single-task pedestrian networks are at
# chance (0.519) while the multi-task one reaches 0.568, more than either spread. The easiest task pays: traffic light drops from 0.899 alone to 0.857
# shared at that fraction. **Where it disagrees with the lecture:** no labelled fraction gives the
# multi-task network a clear win on the mean. The likely reasons docs/experiments.md gives: the four
# objects are independent and look nothing alike, so what they share is generic (edges, colour
# blobs) and cheap to learn from a few hundred examples; and one width-16 trunk for four tasks is
# close to its capacity (condition 3 below).

# %% [markdown]
# ### This run
#
# The same experiment in this notebook's setting, with its figure. With `MTL_FAST=1` (the setting
# the test suite uses) it is a **smoke test**: a few hundred scenes, small networks, two seeds, too
# little for any conclusion; its numbers show that the code runs, not what sharing does. Run the
# notebook without `MTL_FAST` for the full setting (minutes), which is what the stored run above
# is.

# %%
print("this run:", "a smoke test (MTL_FAST=1): too small for conclusions; read the stored full run above"
      if FAST else "the full setting")
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

# %% [markdown]
# The stored full run first:

# %%
full = stored_run("data_amounts")
if full is not None:
    print("labelled focus examples per seed:", full.notes["focus_labels"], "\n")
    print(full.to_markdown("accuracy"))
    print()
    focus = full.tasks[0]
    for f in full.params:
        g, gs = full.get("gain", focus, "accuracy", f), full.get("gain_shuffled", focus, "accuracy", f)
        multi, shuffled = full.get("multi_task", focus, "accuracy", f), full.get("multi_task_shuffled", focus, "accuracy", f)
        print(f"{focus} labelled fraction {f:>4g}: gain {g.mean:+.3f} ± {g.std:.3f}, shuffled control {gs.mean:+.3f} ± {gs.std:.3f}"
              f"   (multi_task {multi.mean:.3f}, multi_task_shuffled {shuffled.mean:.3f})")

# %% [markdown]
# Read the printed gains line by line: is `gain` above zero by more than its spread, and does the
# shuffled control stay near zero? The stored full run shows
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
# ### This run
#
# The same experiment in this notebook's setting, with its figure. With `MTL_FAST=1` (the setting
# the test suite uses) it is a **smoke test**: two seeds and a few hundred scenes, too little for
# any conclusion; its numbers show that the code runs, not what the other tasks' labels do. Run the
# notebook without `MTL_FAST` for the full setting (minutes), which is what the stored run above
# is.

# %%
print("this run:", "a smoke test (MTL_FAST=1): too small for conclusions; read the stored full run above"
      if FAST else "the full setting")
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

# %% [markdown]
# The stored full run first, averaged over the four tasks (with the range over
# tasks in brackets):

# %%
full = stored_run("masking")
if full is not None:
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

# %% [markdown]
# Here the full run is the lecture, quantitatively (docs/experiments.md, section 4). Masking keeps
# working at every missing rate, and its predicted probabilities stay calibrated (mean bias near
# 0). Filling '?' with 0 biases every probability down by about half the missing rate, as predicted
# above, and at the 0.5 threshold that becomes near-chance accuracy from 60% missing on. Dropping
# incomplete scenes throws away most of the data and is at chance by 90% missing, where at most a
# handful of the training scenes survive. Masking is the only one of the three that is both
# unbiased and uses all the data.

# %% [markdown]
# ### This run
#
# The same experiment in this notebook's setting, with its figure. With `MTL_FAST=1` (the setting
# the test suite uses) it is a **smoke test**: a few hundred scenes and few missing rates, too
# little for any conclusion; its numbers show that the code runs, not what masking does. Run the
# notebook without `MTL_FAST` for the full setting (minutes), which is what the stored run above
# is.

# %%
print("this run:", "a smoke test (MTL_FAST=1): too small for conclusions; read the stored full run above"
      if FAST else "the full setting")
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
# correspondingly noisy.

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

# %% [markdown]
# The stored full run first: multi-task minus single-task accuracy per width, averaged over the
# tasks, with the task that loses most and the single-task networks' own accuracy:

# %%
def print_widths(label, res):
    """Multi-task minus single-task accuracy per width, with the task that loses most."""
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


full = stored_run("network_size")
if full is not None:
    print("parameters (multi-task, four single-task) per width:", full.notes["parameters"])
    print_widths("stored full run", full)


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

# %% [markdown]
# ### This run
#
# The same experiment in this notebook's setting, with its figure. With `MTL_FAST=1` (the setting
# the test suite uses) it is a **smoke test**: few widths, small data, two seeds, too little for
# any conclusion; its numbers show that the code runs, not what the width does. Run the notebook
# without `MTL_FAST` for the full setting (minutes), which is what the stored run above is.

# %%
print("this run:", "a smoke test (MTL_FAST=1): too small for conclusions; read the stored full run above"
      if FAST else "the full setting")
size = experiments.network_size.run(fast=FAST, progress=not FAST)
print("settings:", size.settings, f"\n({size.seconds:.1f} s)\n")
print(size.to_markdown("accuracy"))

# %%
fig = experiments.plot(size)

# %% [markdown]
# One panel per labelled fraction: the gain from sharing per task against the width (log scale);
# the last panel: the absolute accuracy of both, averaged over tasks.

# %%
print_widths("this run", size)

# %% [markdown]
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
#
# Next: [notebook 7](07_transfer_learning.ipynb), transfer learning. The experiments and their
# full runs are written up in [docs/experiments.md](../docs/experiments.md); the project's
# [README](../README.md) lists every tutorial.
