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
# multi-task learning makes sense: the tasks (1) could benefit from **shared lower-level features**,
# (2) the *other* tasks together have **much more data** than the one you focus on, and (3) you can
# train a **big enough network** (Caruana: sharing hurts only when the network is too small). Each
# condition is an experiment in `mtl_numpy.experiments` (`sharing`, `data_amounts`,
# `network_size`), and `masking` asks how to use the examples that carry a '?'. For each we print
# the stored full run (`docs/figures/NAME.json`, discussed in
# [docs/experiments.md](../docs/experiments.md)), read it against its spread over seeds, then run
# the experiment here and plot it.
#
# With `MTL_FAST=1` (the test suite's setting) each run here is a **smoke test**: two seeds, a few
# hundred scenes, a narrow network, numbers that show the code runs and nothing more. The stored
# full run's wall times:

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
# ## The math: the network and what "helps" means
#
# Every experiment uses one small CNN on the $16 \times 16 \times 3$ scenes
# (`experiments.common.scene_cnn`) with one knob, its width $w$: conv $w$ + pool, conv $2w$ + pool,
# dense $4w$, one sigmoid per task. All layers but the last are shared by the $T$ tasks, so
#
# $$n_\text{params} = \underbrace{(27w + w)}_{\text{conv 1}} + \underbrace{(18w^2 + 2w)}_{\text{conv 2}}
# + \underbrace{(128w^2 + 4w)}_{\text{dense}} + \underbrace{(4wT + T)}_{\text{output}}
# = 146\,w^2 + 34\,w + 4wT + T.$$
#
# Four single-task networks ($T = 1$) of width $w$ have about four times the parameters of one
# multi-task network ($T = 4$); four of width $w/2$ have about as many. Each model is trained with
# Adam on the masked cost (notebook 2), keeps its best checkpoint on validation scenes, and is
# scored on held-out scenes against the full truth. Every number is a **mean ± standard deviation
# over seeds**; a *gain* is multi-task minus single-task, paired seed by seed. The check: the
# formula against the models' own counts.

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
# `experiments.sharing.run` compares, on the same scenes, two multi-task networks — `all-shared`
# (the lecture's: everything shared up to the outputs) and `shared trunk + per-task heads` (a
# small dense head per task on a shared trunk) — with four one-output `separate networks`, of the
# same width (`equal width`) or of half the width (`equal parameter count`, about the all-shared
# network's size). It does so at several settings of the scenes' relatedness dial `rho` (at 1 the
# four objects are built from the same parts, at 0 from parts of their own) and of the *labelled
# fraction* (each label kept with that probability). With few labels each separate network sees
# only its own task's labels, while a shared one learns from every scene with any label: the
# lecture's "the other tasks in aggregate have much more data".
#
# Every network is trained alike (`experiments.common.train_fair`): a patience rule stops it, a run
# still improving at its last epoch is extended, each task is scored at its own best validation
# epoch (in the multi-task networks too), and each condition's learning rate comes from a small
# sweep on separate tuning scenes. The gain, multi-task minus separate, is paired seed by seed, and
# its 95 % interval decides the words (`experiments.stats.verdict`): **helps** (above 0), **hurts**
# (below 0), **no difference resolved at this size** (covers 0).

# %%
full = stored_run("sharing")
if full is not None and full.paired:
    print("parameters:", full.notes["parameters"], "\n")
    print(experiments.sharing.claims_markdown(full))
    print("\nagainst separate networks of about the all-shared network's size:\n")
    print(experiments.sharing.gain_markdown(full, separate=experiments.sharing.SEPARATE_PARAMS))
    print("\nthe gain's change between rho values (paired by seed):\n")
    print(experiments.sharing.rho_markdown(full))

# %% [markdown]
# The stored run (10 seeds, docs/experiments.md section 1), read with its verdicts. Related tasks
# with few labels each: at `rho = 1` with 30 % of the labels the all-shared network **helps**
# (+0.034 mean accuracy over separate networks of its width). Unrelated tasks: at `rho = 0` with
# every label sharing **hurts** (−0.086 all-shared, −0.088 with per-task heads). With every label
# the gain grows with `rho`: its paired change from `rho = 0` to `rho = 1` (+0.094) helps. With 10 %
# of the labels every network stays close to chance, and against equal width there is **no
# difference resolved at this size** at any `rho`. The tasks are harder at high `rho`, so compare
# the conditions within each `rho`, not accuracies across it.
#
# This run (a smoke test with `MTL_FAST=1`), and its figure: one panel per `rho`, each gain with its
# 95 % interval; an interval that crosses 0 is no difference resolved at this size.

# %%
print("this run:", "a smoke test (MTL_FAST=1): too small for conclusions; read the stored full run above"
      if FAST else "the full setting")
sharing = experiments.sharing.run(fast=FAST, progress=not FAST)
print("settings:", sharing.settings, f"\n({sharing.seconds:.1f} s)\n")
print(experiments.sharing.full_markdown(sharing))

# %%
fig = experiments.plot(sharing)

# %% [markdown]
# ## Condition 2: the other tasks have much more data
#
# Make one *focus* task label-poor: it keeps a fraction of its labels (15 % in the stored run), the
# others keep all of theirs (`hide_labels` with one rate per task, notebook 1). Each of the four
# tasks takes its turn as the focus task, at low and high relatedness (`rho` 0 and 1).
# `experiments.data_amounts.run` compares, on the focus task alone, a `single-task` network (its
# own labels only) with the all-shared network on every scene, trained three ways — the lecture's
# summed cost (`multi-task (equal)`), each task's cost averaged over its own labels
# (`multi-task (per_task)`) and learned uncertainty weights (`multi-task (uncertainty)`) — and
# **Caruana's control** `multi-task shuffled`: the other tasks' labels permuted across scenes, as
# many labels but describing nothing. Every network is trained alike (`train_fair`), the focus task
# is judged at its own best validation epoch, and each gain is paired seed by seed with a 95 %
# interval. The lecture predicts a gain at `rho = 1` that the shuffled control does not have.
#
# To measure *why* rather than guess, the equal-weighted run also records the **gradient conflict**
# (`mtl.gradient_conflict`, notebook 10): the cosine between the focus task's gradient on the shared
# layers and each other task's, at initialisation and at the focus task's checkpoint. What a focus
# task with 15 % of its labels looks like:

# %%
scenes = mtl.datasets.driving_scenes(800, image_size=16, missing=0.0, seed=0)
part = scenes.hide_labels((0.0, 0.0, 0.0, 0.85), seed=0)
print(part)
print("labelled examples per task:", dict(zip(part.tasks, (~np.isnan(part.Y)).sum(axis=1).tolist())))

# %%
full = stored_run("data_amounts")
if full is not None and full.paired:
    print("focus labels per cell and seed:", full.notes["focus_labels"], "\n")
    print(experiments.data_amounts.claims_markdown(full))
    print("\ngradient conflict of multi-task (equal), mean [95 % interval] over seeds:\n")
    print(experiments.data_amounts.conflict_markdown(full))

# %% [markdown]
# The stored run (10 seeds, docs/experiments.md section 3), read with its verdicts. With related
# tasks (`rho = 1`) the label-poor task **gains**: pooled over the four focus tasks the
# equal-weighted network helps (+0.090), uncertainty weighting too (+0.086), and each focus task
# gains with both. The shuffle control says where the gain comes from: the others' *real* labels
# against shuffled ones help (+0.122), while as many shuffled labels hurt (−0.032). With unrelated
# tasks (`rho = 0`) there is **no difference resolved at this size** with any of the three
# weightings (equal −0.016), and for the stop sign equal weighting hurts (−0.062). Condition 2 paid
# off here only together with condition 1.
#
# The gradient conflict is a measurement beside the verdicts, not a cause: at the focus task's
# checkpoint its gradient is close to orthogonal to the others' at both `rho` (mean cosines from
# −0.138 to +0.049, every interval covering 0), so the `rho = 0` "no" does not come with a measured
# conflict; what separates the two `rho` here is the shuffle control, i.e. whether the other labels
# describe something the focus task can use.
#
# This run (a smoke test with `MTL_FAST=1`), and its figure: the gains with their 95 % intervals
# per focus task and pooled, one panel per `rho`, and below them the focus task's gradient cosine
# with the others.

# %%
print("this run:", "a smoke test (MTL_FAST=1): too small for conclusions; read the stored full run above"
      if FAST else "the full setting")
amounts = experiments.data_amounts.run(fast=FAST, progress=not FAST)
print("settings:", amounts.settings, f"\n({amounts.seconds:.1f} s)\n")
print(experiments.data_amounts.full_markdown(amounts))

# %%
fig = experiments.plot(amounts)

# %% [markdown]
# ## Using every partly labelled example: the masked cost
#
# The masked cost is what lets the labels of different tasks add up: a scene with a '?' for traffic
# light still teaches the network about cars. `experiments.masking.run` trains the all-shared CNN
# three ways: `masked` (the lecture's cost), `zero_filled` ('?' → 0, notebook 2) and `dropped`
# (only scenes labelled for every task, a fraction $(1-q)^4$ of them at missing rate $q$), with
# section 1's fair protocol, at `rho` 0 and 1, at two missing rates $q$ and under two *reasons* for
# a '?': `random` (any label hidden with probability $q$, as in notebook 2) and `absent_skipped`
# (labellers skip images where the object is absent, so up to $q = 0.5$ every '?' is a true 0).
# Besides accuracy it records the calibration `bias`, mean predicted probability minus the true
# base rate; notebook 2 predicts $-q\,p = -q/2$ for `zero_filled` under `random`. Each claim is
# masking minus the other condition, paired by seed, with its 95 % interval and verdict; for
# calibration the claim is how much lower masking's $|\text{bias}|$ is. The stored run:

# %%
full = stored_run("masking")
if full is not None and full.paired:
    print(experiments.masking.claims_markdown(full))
    print("\nheld-out accuracy per condition (mean over the four tasks):\n")
    print(experiments.masking.condition_markdown(full, "accuracy"))
    print("\ncalibration bias per condition (mean over the four tasks):\n")
    print(experiments.masking.condition_markdown(full, "bias"))

# %% [markdown]
# In the stored run (docs/experiments.md, section 4) the reason for the '?' decides. Missing at
# random, masking helps against filling with 0 and against dropping, in accuracy at both `rho` and
# both rates, and its mean bias stays near 0 (+0.005 to +0.010) while zero-filling's falls to about
# −0.29 at 70 % missing. When labellers skip absent objects, the verdict against filling with 0
# turns round: masking hurts (accuracy −0.063 at `rho = 0`, −0.055 at `rho = 1`, 30 % missing), and
# its probabilities are too high (bias +0.09), because the known labels over-represent presence; at
# 70 % every known label is a 1 and the masked network answers "present" to everything (bias
# +0.49). Masking is the right cost when a '?' says nothing about the label.
# This run (a smoke test with `MTL_FAST=1`): compare the counts kept by `dropped` with
# $(1-q)^4 m$ (the expected fraction under both mechanisms), and the `bias` table.

# %%
print("this run:", "a smoke test (MTL_FAST=1): too small for conclusions; read the stored full run above"
      if FAST else "the full setting")
masking = experiments.masking.run(fast=FAST, progress=not FAST)
print("settings:", masking.settings, f"\n({masking.seconds:.1f} s)\n")
m_train = masking.settings["m_train"]
for key, kept in masking.notes["fully_labelled_examples"].items():
    q = float(key.split("missing=")[1])
    print(f"{key}: fully labelled scenes kept by 'dropped' {kept} of {m_train}"
          f"   (expected (1 - q)^4 m = {(1 - q) ** 4 * m_train:.0f})")
print()
print(experiments.masking.condition_markdown(masking, "bias"))
print()
print(experiments.masking.claims_markdown(masking))

# %%
fig = experiments.plot(masking)

# %% [markdown]
# ## Condition 3: a big enough network (Caruana)
#
# `experiments.network_size.run` sweeps the width $w$ and records `multi_minus_single`, the
# all-shared CNN minus four separate CNNs of the same width (section 1's fair protocol), per task and
# for the `mean`, at `rho = 1` and `rho = 0` (the rows of `rho = 0` are suffixed ` (rho=0)`;
# `experiments.network_size.condition(name, fraction, rho)` builds the name), with paired 95 %
# intervals and verdicts in `result.paired`. Caruana's finding: a network too small for all the tasks makes them
# compete, and sharing hurts.

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
    print_widths("stored full run (rho = 1)", full)
    print("\nverdicts of the stored run:")
    print(experiments.network_size.claims_markdown(full))

# %% [markdown]
# The stored run (docs/experiments.md, section 2: widths 1 to 16, every label, 10 seeds) does **not**
# show Caruana's shape on these scenes. At `rho = 0` sharing everything hurts at every width; at
# `rho = 1` it helps at the smallest and the largest width and shows no difference resolved at this
# size in between; from the narrowest to the widest network the gain shows no change resolved at this
# size at either `rho` (the verdict lines above carry the numbers).
#
# This run (a smoke test with `MTL_FAST=1`), its figure (the gain against width, one line per `rho`,
# with 95 % interval bars) and the same summary lines:

# %%
print("this run:", "a smoke test (MTL_FAST=1): too small for conclusions; read the stored full run above"
      if FAST else "the full setting")
size = experiments.network_size.run(fast=FAST, progress=not FAST)
print("settings:", size.settings, f"\n({size.seconds:.1f} s)\n")
print(size.to_markdown("accuracy"))

# %%
fig = experiments.plot(size)

# %%
print_widths("this run", size)

# %% [markdown]
# ## Summary
#
# * Sharing, on a protocol fair to both sides (10 seeds, paired intervals): in the stored run it
#   helps related tasks with few labels each (`rho = 1`, 30 % of the labels), hurts unrelated tasks
#   with every label (`rho = 0`), and with 10 % of the labels shows no difference resolved at this
#   size at any `rho`.
# * Network width (Caruana): in the stored run sharing hurts unrelated tasks (`rho = 0`) at every
#   width from 1 to 16, and with related tasks the smallest network is not where it hurts.
# * A label-poor task beside label-rich ones (stored run, 10 seeds): it gains when the tasks share
#   parts (`rho = 1`), and the shuffle control shows the gain comes from what the other labels say
#   about the image; with unrelated tasks (`rho = 0`) no gain is resolved with any of the three
#   weightings. Read every gain with its interval, and against a control.
# * The masked cost lets partly labelled examples count: with '?' missing at random it beats filling
#   '?' with 0 (which biases the model towards "absent") and dropping incomplete examples (which
#   throws most data away). When a '?' mostly means "absent", filling with 0 wins in the stored run.
#
# ## Exercises
#
# 1. Run `experiments.data_amounts.run(seeds=range(5), focus_labelled=0.05, focus_tasks=("car",),
#    jobs=2)` and plot it: with fewer focus labels, does the gain at `rho = 1` grow, and does the
#    shuffled control still lack it?
# 2. Sharing on the *digits*: train one `mtl.SharedMLP([64, 32, 4])` and four
#    `mtl.SharedMLP([64, 32, 1])` on `mtl.datasets.digits_tasks()` (first 1,400 digits for training).
#    The four digit questions are all functions of the class: do they share more than the scenes?
# 3. From the stored `network_size.json`, compare the multi-task network of width $w$ with the
#    single-task networks of width $w/2$ (equal parameters). Does Caruana's shape survive?
#
# Next: [notebook 7](07_transfer_learning.ipynb), transfer learning. The full runs are written up in
# [docs/experiments.md](../docs/experiments.md); the [README](../README.md) lists every tutorial.
