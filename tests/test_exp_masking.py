"""Experiment 4 (masking) on the fair footing: structure, pairing, verdicts, outputs, the stored run."""
import math
from pathlib import Path

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy import experiments
from mtl_numpy.experiments import common, masking as mk, stats

ROOT = Path(__file__).resolve().parents[1]
TASKS = list(mtl.TASKS)


@pytest.fixture(scope="module")
def result():
    return mk.run(fast=True, progress=False)


def _cells(r):
    s = r.settings
    return [(rho, mech, q) for rho in s["rhos"] for mech in s["mechanisms"] for q in s["missing"]]


def test_fast_setting_structure(result):
    r = result
    assert r.name == "masking" and r.settings["fast"] is True
    assert r.conditions == list(mk.CONDITIONS)
    assert set(r.tasks) == set(TASKS) | {"mean"}
    assert set(r.metrics) == set(mk.METRICS)
    assert r.settings["rhos"] == [0.0, 1.0] and r.settings["mechanisms"] == list(mk.MECHANISMS)
    assert len(r.settings["seeds"]) == 2
    assert r.params == [mk.setting_key(*c) for c in _cells(r)]
    for row in r.rows:
        assert row.n <= 2
        if row.n == 0:
            assert row.condition == mk.DROPPED   # no fully labelled scene: nan by design
            continue
        lo = -1.0 if row.metric == "bias" else 0.0
        assert lo <= row.mean <= 1.0, row
    n = r.notes
    assert n["cpu_seconds"] > 0
    for key in r.params:
        assert set(n["learning_rate"][key]) == set(mk.CONDITIONS)
        assert n["runs"][key][mk.MASKED] == 2
        assert len(n["fully_labelled_examples"][key]) == 2
        lo, mean, hi = n["epochs"][key][mk.MASKED]
        assert 1 <= lo <= mean <= hi


def test_paired_differences_are_per_seed_and_verdicts_follow_intervals(result):
    r = result
    assert len(r.paired) == len(_cells(r)) * len(mk.OTHERS) * len(mk.CLAIM_METRICS)
    per_seed = r.notes["per_seed"]
    for d in r.paired:
        key = mk.setting_key(d.key["rho"], d.key["mechanism"], d.key["missing"])
        other = d.key["other"]
        if d.key["metric"] == "calibration":
            a = per_seed[key][other]["abs_bias"]["mean"]
            b = per_seed[key][mk.MASKED]["abs_bias"]["mean"]
        else:
            a = per_seed[key][mk.MASKED][d.key["metric"]]["mean"]
            b = per_seed[key][other][d.key["metric"]]["mean"]
        assert d.differences == pytest.approx(tuple(x - y for x, y in zip(a, b)))
        assert d.verdict in stats.VERDICTS
        if d.n >= 2:
            expected = stats.HELPS if d.low > 0 else stats.HURTS if d.high < 0 else stats.UNRESOLVED
            assert d.verdict == expected
            assert d.low <= d.mean <= d.high


def test_abs_bias_and_mean_task(result):
    r = result
    for cond in mk.CONDITIONS:
        for key in r.params:
            ps = r.notes["per_seed"][key][cond]
            for i, mean_bias in enumerate(ps["bias"]["mean"]):
                if mean_bias is None:
                    continue
                biases = [ps["bias"][t][i] for t in TASKS]
                assert mean_bias == pytest.approx(np.mean(biases))
                assert ps["abs_bias"]["mean"][i] == pytest.approx(np.mean(np.abs(biases)))


def test_nan_run_is_left_out_of_the_pair(result):
    r = common.ExperimentResult.from_json(result.to_json())
    key = r.params[0]
    for metric in mk.METRICS:
        for task in TASKS + ["mean"]:
            r.notes["per_seed"][key][mk.DROPPED][metric][task][0] = None
    paired = mk.paired_table(r)
    for d in paired:
        if mk.setting_key(d.key["rho"], d.key["mechanism"], d.key["missing"]) == key:
            assert d.n == (1 if d.key["other"] == mk.DROPPED else 2)


def test_no_missing_label_gives_three_identical_runs():
    # the three conditions train on the same data (same seed, same scenes) when nothing is hidden
    cfg = dict(m_train=120, m_val=60, m_test=60, image_size=16, width=2, max_epochs=2, patience=1,
               max_extensions=0, batch_size=64, backend="numpy")
    out = mk._unit(1.0, "random", 0.0, 3, {c: 3e-3 for c in mk.CONDITIONS}, cfg)
    assert out["fully_labelled"] == 120
    for cond in mk.OTHERS:
        assert out[cond]["metrics"] == out[mk.MASKED]["metrics"]


def test_absent_skipped_hides_only_absent_objects_below_one_half():
    # what the docs rely on: at 30 % missing under absent_skipped, zero-filling restores the truth
    data = mtl.datasets.driving_scenes(300, image_size=16, missing=0.3, seed=0, relatedness=1.0,
                                       missing_mechanism="absent_skipped")
    known = mtl.label_mask(data.Y).astype(bool)
    assert (~known).any()
    assert np.array_equal(np.where(known, data.Y, 0.0), data.Y_true)


def test_no_fully_labelled_scene_records_nan():
    cfg = dict(m_train=12, m_val=30, m_test=30, image_size=16, width=2, max_epochs=2, patience=1,
               max_extensions=0, batch_size=64, backend="numpy")
    out = mk._unit(0.0, "random", 0.95, 0, {c: 3e-3 for c in mk.CONDITIONS}, cfg)
    assert out["fully_labelled"] == 0 and out[mk.DROPPED]["n_train"] == 0
    assert math.isinf(out[mk.DROPPED]["val_score"])
    assert all(math.isnan(v) for v in out[mk.DROPPED]["metrics"]["mean"].values())


def test_markdown_sentences_use_the_verdict_words(result):
    lines = mk.claims_markdown(result).splitlines()
    assert len(lines) == len(_cells(result)) * len(mk.OTHERS)
    words = {stats.HELPS: "masking helps", stats.HURTS: "masking hurts",
             stats.UNRESOLVED: "masking shows no difference resolved at this size"}
    by = {(d.key["rho"], d.key["mechanism"], d.key["missing"], d.key["other"], d.key["metric"]): d
          for d in result.paired if d.key["task"] == "mean"}
    i = 0
    for rho, mech, q in _cells(result):
        for other in mk.OTHERS:
            line = lines[i]
            i += 1
            acc, cal = by[(rho, mech, q, other, "accuracy")], by[(rho, mech, q, other, "calibration")]
            assert line.startswith(f"- rho = {rho:g}, {mech}, {100 * q:g} % missing")
            head, tail = line.split("calibration —")
            assert f"accuracy — {words[acc.verdict]} (gain {acc.mean:+.3f}" in head
            assert tail.startswith(f" {words[cal.verdict]} (|bias| lower by {cal.mean:+.3f}")
    md = mk.markdown(result)
    assert mk.claims_markdown(result) in md and mk.gain_markdown(result, "calibration") in md
    for line in mk.gain_markdown(result, "calibration").splitlines():
        assert line.count("|") == 9   # no stray '|' inside a cell


def test_json_round_trip(result):
    back = common.ExperimentResult.from_json(result.to_json())
    assert back.rows == result.rows and back.paired == result.paired
    assert mk.markdown(back) == mk.markdown(result)
    assert [d.to_dict() for d in mk.paired_table(back)] == [d.to_dict() for d in result.paired]


def test_plot_writes_a_file(result, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "masking.png"
    experiments.plot(result, str(path))
    assert path.exists() and path.stat().st_size > 1000


@pytest.mark.parametrize("kwargs, match", [
    (dict(mechanisms=("nope",)), "mechanisms must be"),
    (dict(missing=(1.0,)), "missing must be"),
    (dict(missing="abc"), "missing must be"),
    (dict(rhos=(2.0,)), "rhos must be"),
    (dict(seeds=(0, 1), tuning_seeds=(1,)), "tuning_seeds must differ"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mk.run(fast=True, progress=False, **kwargs)


def test_docs_quote_the_stored_masking_run():
    # docs/experiments.md section 4 quotes the stored full run: its verdict sentences and gain tables
    # are what the stored per-seed values give, and masking.md is what the command writes
    r = experiments.ExperimentResult.from_json(str(ROOT / "docs" / "figures" / "masking.json"))
    assert len(r.settings["seeds"]) >= 10 and not r.settings["fast"]
    assert r.settings["rhos"] == [0.0, 1.0] and r.settings["mechanisms"] == list(mk.MECHANISMS)
    assert [d.to_dict() for d in mk.paired_table(r)] == [d.to_dict() for d in r.paired]
    assert (ROOT / "docs" / "figures" / "masking.md").read_text() == mk.markdown(r) + "\n"
    doc = (ROOT / "docs" / "experiments.md").read_text()
    section = doc.split("## 4. Masking")[1].split("\n## ")[0]
    for line in mk.claims_markdown(r).splitlines():
        assert line in section
    assert mk.gain_markdown(r, "accuracy") in section
    words = {d.verdict for d in r.paired if d.key["task"] == "mean"}
    prose = section.replace(mk.claims_markdown(r), "")
    for word in ("helps", "hurts"):
        if word not in words:
            assert f" {word} " not in prose.replace("\"", " ").replace("*", " "), word
