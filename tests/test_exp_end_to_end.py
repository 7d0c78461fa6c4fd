"""end_to_end on the fair footing: the fast setting's structure, the claims and their words, the
segment pipeline's stages, and the stored full run against docs/experiments.md."""
import math
import pathlib
import re

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy.experiments import ExperimentResult, end_to_end, stats

ROOT = pathlib.Path(__file__).resolve().parents[1]
STORED = ROOT / "docs" / "figures" / "end_to_end.json"
TASKS = {"pedestrian", "car", "stop_sign", "traffic_light"}


@pytest.fixture(scope="module")
def fast():
    return end_to_end.run(fast=True, progress=False)


# ---------------------------------------------------------------------- the fast setting
def test_fast_setting_structure(fast):
    assert fast.name == "end_to_end" and fast.settings["fast"] is True
    assert set(fast.conditions) == set(end_to_end.CONDITIONS)
    assert set(fast.tasks) == TASKS | {"mean"}
    keys = [end_to_end.setting_key(r, m) for r in fast.settings["rhos"] for m in fast.settings["sizes"]]
    assert fast.params == keys
    n = len(fast.settings["seeds"])
    for row in fast.rows:
        assert row.n == n and 0.0 <= row.mean <= 1.0 and math.isfinite(row.std)
    notes = fast.notes
    assert notes["cpu_seconds"] > 0
    for key in keys:
        for cond in end_to_end.CONDITIONS:
            assert notes["learning_rate"][key][cond] in fast.settings["rates"]
            lo, mean, hi = notes["epochs"][key][cond]
            assert 1 <= lo <= mean <= hi
            assert notes["runs"][key][cond] == n
            assert len(notes["per_seed"][key][cond]["accuracy"]["mean"]) == n
    assert notes["n_inputs"] == {end_to_end.FEATURES: 211, end_to_end.SEGMENTS: 620,
                                 end_to_end.END_TO_END: 16 * 16 * 3}


def test_paired_verdicts_follow_intervals(fast):
    s = fast.settings
    assert len(fast.paired) == len(s["rhos"]) * len(s["sizes"]) * 2 * 2   # pipelines x metrics
    for d in fast.paired:
        assert d.label == f"{end_to_end.END_TO_END} - {d.key['pipeline']}"
        assert d.n == len(s["seeds"]) and d.low <= d.mean <= d.high
        assert d.verdict == stats.verdict((d.low, d.high))
        key = end_to_end.setting_key(d.key["rho"], d.key["m"])
        per = fast.notes["per_seed"][key]
        a = per[end_to_end.END_TO_END][d.key["metric"]]["mean"]
        b = per[d.key["pipeline"]][d.key["metric"]]["mean"]
        assert np.allclose(d.differences, np.subtract(a, b))


def test_markdown_uses_verdict_words(fast):
    claims = end_to_end.claims_markdown(fast).splitlines()
    assert len(claims) == len([d for d in fast.paired if d.key["metric"] == "accuracy"])
    for line, d in zip(claims, [d for d in fast.paired if d.key["metric"] == "accuracy"]):
        assert line.startswith(f"- rho = {d.key['rho']:g}, m = {d.key['m']} training scenes")
        assert f": {d.verdict} (difference" in line
    for banned in ("ties", "no effect", "slightly"):
        assert banned not in end_to_end.markdown(fast)
    md = end_to_end.markdown(fast)
    assert end_to_end.claims_markdown(fast) in md and end_to_end.crossover_markdown(fast) in md


def test_json_round_trip(fast, tmp_path):
    path = tmp_path / "end_to_end.json"
    fast.to_json(path)
    back = ExperimentResult.from_json(path)
    assert back.rows == fast.rows and back.paired == fast.paired
    assert end_to_end.markdown(back) == end_to_end.markdown(fast)
    assert end_to_end.paired_table(back) == fast.paired


def test_plot_writes_a_file(fast, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "e2e.png"
    end_to_end.plot(fast, str(path))
    assert path.exists() and path.stat().st_size > 1000


@pytest.mark.parametrize("kwargs, name", [
    (dict(conditions=(end_to_end.FEATURES, end_to_end.SEGMENTS)), "conditions"),
    (dict(conditions=(end_to_end.END_TO_END,)), "conditions"),
    (dict(sizes=(1, 100)), "sizes"),
    (dict(rhos=(0.0, 2.0)), "rhos"),
    (dict(n_segments=1), "n_segments"),
    (dict(rates=(-1e-2,)), "rates"),
    (dict(seeds=(0, 100)), "tuning_seeds"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        end_to_end.run(progress=False, **kwargs)


# ---------------------------------------------------------------------- crossover from verdicts
def _fake(verdicts, sizes=(100, 1000, 4000)):
    means = {stats.HELPS: 0.05, stats.HURTS: -0.05, stats.UNRESOLVED: 0.0}
    paired = []
    for m, v in zip(sizes, verdicts):
        diffs = [means[v] + e for e in (-0.01, 0.01, 0.0, 0.005, -0.005)] if v != stats.UNRESOLVED \
            else [-0.02, 0.02, 0.01, -0.01, 0.0]
        d = stats.paired_difference(diffs, [0.0] * 5, key={"rho": 0.0, "m": m, "pipeline": end_to_end.FEATURES,
                                                             "task": "mean", "metric": "accuracy"})
        assert d.verdict == v
        paired.append(d)
    r = ExperimentResult("end_to_end", "setting", [], {"rhos": [0.0], "sizes": list(sizes),
                                                       "conditions": [end_to_end.FEATURES, end_to_end.END_TO_END]})
    r.paired = paired
    return r


@pytest.mark.parametrize("verdicts, expected", [
    ((stats.HURTS, stats.UNRESOLVED, stats.HELPS), 4000),
    ((stats.HURTS, stats.HELPS, stats.HELPS), 1000),
    ((stats.HELPS, stats.HELPS, stats.HELPS), None),       # helps everywhere: no turn within the sizes
    ((stats.UNRESOLVED, stats.HELPS, stats.HELPS), None),  # never hurt below
    ((stats.HURTS, stats.HELPS, stats.UNRESOLVED), None),  # does not stay helping
    ((stats.HURTS, stats.HURTS, stats.HURTS), None),
])
def test_crossover_is_read_from_the_verdicts(verdicts, expected):
    r = _fake(verdicts)
    assert end_to_end.crossover(r, 0.0, end_to_end.FEATURES) == expected
    line = end_to_end.crossover_markdown(r)
    assert ("turns from hurts to helps at m = " in line) == (expected is not None)


# ---------------------------------------------------------------------- the segment pipeline
def test_segment_stages_shapes():
    data = mtl.datasets.driving_scenes(12, image_size=16, missing=0.0, seed=0, relatedness=0.0)
    palette = end_to_end.fit_palette(data.X, 10, seed=0)
    assert palette.shape == (10, 3) and np.all((palette >= 0) & (palette <= 1))
    S = end_to_end.segment(data.X, palette)
    assert S.shape == (12, 16, 16) and S.min() >= 0 and S.max() < 10
    F = end_to_end.segment_features(S, 10)
    assert F.shape == (620, 12) and F.dtype == np.float32
    assert np.all((F >= 0) & (F <= 1 + 1e-6))
    # the 10 whole-image segment fractions sum to one per image
    assert np.allclose(F[:10].sum(axis=0), 1.0, atol=1e-5)


def test_segment_features_see_stripe_direction():
    # two colours in horizontal stripes (rows alternate): only vertical neighbours differ
    X = np.zeros((1, 16, 16, 3), dtype=np.float32)
    X[0, ::2] = (0.9, 0.1, 0.1)
    X[0, 1::2] = (0.1, 0.1, 0.9)
    palette = np.array([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9]], dtype=np.float32)
    S = end_to_end.segment(X, palette)
    assert np.array_equal(S[0, :, 0], np.arange(16) % 2)
    F = end_to_end.segment_features(S, 2)[:, 0]
    # K=2: 2*17 fractions, then per direction: whole image (1 pair) + 4 quarters
    vertical, horizontal = F[34:39], F[39:44]
    assert np.allclose(vertical, 1.0) and np.allclose(horizontal, 0.0)


def test_hand_features_still_there():
    data = mtl.datasets.driving_scenes(20, image_size=16, missing=0.0, seed=0)
    F = end_to_end.hand_features(data.X)
    assert F.shape == (211, 20) and np.isfinite(F).all() and F.min() >= 0.0 and F.max() <= 1.0


# ---------------------------------------------------------------------- the stored full run and the docs
def _docs_section():
    text = (ROOT / "docs" / "experiments.md").read_text()
    start = text.index("## 6. End-to-end learning")
    end = text.index("\n## ", start + 1)
    return text[start:end]


@pytest.mark.skipif(not STORED.exists(), reason="no stored full run")
def test_stored_full_run_has_ten_seeds_and_verdicts():
    r = ExperimentResult.from_json(STORED)
    assert r.settings["fast"] is False and len(r.settings["seeds"]) >= 10
    assert set(r.settings["rhos"]) == {0.0, 1.0}
    assert r.paired and all(d.n >= 10 for d in r.paired)
    assert all(d.verdict == stats.verdict((d.low, d.high)) for d in r.paired)
    assert r.notes["cpu_seconds"] <= 400


@pytest.mark.skipif(not STORED.exists(), reason="no stored full run")
def test_docs_quote_the_stored_verdicts_verbatim():
    r = ExperimentResult.from_json(STORED)
    section = _docs_section()
    lines = end_to_end.claims_markdown(r).splitlines() + end_to_end.crossover_markdown(r).splitlines()
    assert lines
    for line in lines:
        assert line in section, line
    stored_md = (ROOT / "docs" / "figures" / "end_to_end.md").read_text()
    assert end_to_end.claims_markdown(r) in stored_md
    # no verdict words stronger than the intervals in the section's prose
    for banned in ("ties", "no effect", "slightly"):
        assert not re.search(rf"\b{banned}\b", section), banned


@pytest.mark.skipif(not STORED.exists(), reason="no stored full run")
def test_readme_row_uses_the_verdict_words():
    readme = (ROOT / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| 6 | end-to-end")]
    assert len(rows) == 1, "README summary row 6 (end-to-end)"
    assert "3 seeds" not in rows[0] and "10 seeds" in rows[0]
    assert any(v in rows[0] for v in stats.VERDICTS)


def test_docs_quote_the_mask_separation_it_computes():
    # section 6's "what the hand-designed features were designed for" quotes mask_separation on
    # 2,000 scenes of seed 0: the default scenes' stop-sign red shift, and the range of the largest
    # shift per task at rho 0 and 1
    from pathlib import Path

    from mtl_numpy.datasets import driving_scenes

    def sep(rho):
        return end_to_end.mask_separation(driving_scenes(2000, image_size=16, missing=0.0, seed=0,
                                                         relatedness=rho))

    default = sep(None)
    assert default["stop_sign"][0] == "stop-sign red"
    dialled = [abs(z) for rho in (0.0, 1.0) for _, z in sep(rho).values()]
    section = (Path(__file__).resolve().parents[1] / "docs" / "experiments.md").read_text()
    section = " ".join(section.split("## 6. ")[1].split("\n## ")[0].split())
    assert f"is {default['stop_sign'][1]:.2f} standard deviations" in section
    assert f"{min(dialled):.2f}–{max(dialled):.2f} standard deviations" in section
    assert max(dialled) < abs(default["stop_sign"][1])
