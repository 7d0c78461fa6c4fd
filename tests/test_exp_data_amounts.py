"""data_amounts on the fair footing: the fast setting's structure, the claims, the stored full run."""
import json
import math
import pathlib
import re

import numpy as np
import pytest

from mtl_numpy import experiments
from mtl_numpy.experiments import data_amounts as da
from mtl_numpy.experiments import stats

ROOT = pathlib.Path(__file__).resolve().parents[1]
STORED = ROOT / "docs" / "figures" / "data_amounts.json"
DOCS = ROOT / "docs" / "experiments.md"


@pytest.fixture(scope="module")
def result():
    return da.run(fast=True, progress=False)


def test_fast_setting_structure(result):
    s = result.settings
    assert result.name == "data_amounts" and s["fast"] is True
    assert len(s["seeds"]) == 2 and s["rhos"] == [0.0, 1.0]
    assert set(result.conditions) == set(da.CONDITIONS)
    assert set(result.tasks) == set(s["focus_tasks"]) | {"mean"}
    assert result.params == ["rho=0", "rho=1"]
    for row in result.rows:
        assert row.n == 2 and 0.0 <= row.mean <= 1.0 and math.isfinite(row.std), row
    notes = result.notes
    assert notes["cpu_seconds"] > 0
    cells = [f"rho={r:g} focus={f}" for r in s["rhos"] for f in s["focus_tasks"]]
    for name in ("learning_rate", "epochs", "extended_runs", "still_improving_runs", "diverged_runs",
                 "runs", "best_epoch", "tuning_val_cost"):
        assert sorted(notes[name]) == sorted(cells), name
        for cell in cells:
            assert set(notes[name][cell]) == set(da.CONDITIONS), (name, cell)
    for cell in cells:
        assert notes["learning_rate"][cell][da.SINGLE] in s["rates"]
        lo, mean, hi = notes["epochs"][cell][da.EQUAL]
        assert 1 <= lo <= mean <= hi
    # the focus task keeps about focus_labelled of its labels, the others all of theirs
    for cell in cells:
        for n in notes["focus_labels"][cell]:
            assert 0 < n < s["m_train"]


def test_fast_focus_labels_per_task():
    tr, Y, _, _ = da._data(1.0, 1, 0.2, 3, (400, 20, 20, 16))
    known = ~np.isnan(Y)
    assert known[[0, 2, 3]].all()
    assert 0.1 < known[1].mean() < 0.3
    assert np.array_equal(Y[known], tr.Y_true[known])


def test_paired_claims_match_per_seed_values(result):
    s = result.settings
    foci = s["focus_tasks"]
    n_expected = len(s["rhos"]) * (len(foci) + 1) * len(da.COMPARISONS) * 2
    assert len(result.paired) == n_expected
    per_seed = result.notes["per_seed"]
    for d in result.paired:
        assert d.verdict == stats.verdict((d.low, d.high))
        assert d.low <= d.mean <= d.high and d.n == 2
        cell = per_seed[f"rho={d.key['rho']:g}"]
        a, b, metric = d.key["condition"], d.key["baseline"], d.key["metric"]
        if d.key["focus"] == da.POOLED:
            want = np.mean([np.subtract(cell[a][metric][f], cell[b][metric][f]) for f in foci], axis=0)
        else:
            want = np.subtract(cell[a][metric][d.key["focus"]], cell[b][metric][d.key["focus"]])
        np.testing.assert_allclose(d.differences, want, atol=1e-12)
        assert d.label == f"{a} - {b}"
    # the pooled rows of the table are the mean over the focus tasks
    for rho in ("rho=0", "rho=1"):
        for cond in da.CONDITIONS:
            m = result.get(cond, "mean", "accuracy", rho).mean
            assert m == pytest.approx(np.mean([result.get(cond, f, "accuracy", rho).mean for f in foci]))


def test_markdown_uses_verdict_words(result):
    claims = da.claims_markdown(result).splitlines()
    accuracy = [d for d in result.paired if d.key["metric"] == "accuracy"]
    assert len(claims) == len(accuracy)
    words = {"helps", "hurts", "shows no difference resolved at this size"}
    for line in claims:
        assert line.startswith("- rho = ")
        assert sum(f" {w} (gain " in line for w in words) == 1, line
        assert re.search(r"95 % interval \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\], 2 seeds\)\.$", line), line
    assert any("pooled over the two focus tasks" in line for line in claims)
    md = da.markdown(result)
    assert da.claims_markdown(result) in md and "mean cosine, checkpoint" in md
    for bad in ("ties", "no effect", "slightly"):
        assert bad not in md


def test_gradient_conflict_recorded(result):
    s = result.settings
    table = da.conflict_table(result)
    assert len(table) == len(s["rhos"]) * len(s["focus_tasks"]) * 2 * (2 + 3)
    for row in table:
        assert row["n"] == 2
        if row["quantity"] == "norm_ratio":
            assert row["mean"] > 0
        else:
            assert -1.0 <= row["mean"] <= 1.0
    rec = result.notes["conflict"]["rho=1"][s["focus_tasks"][0]]["checkpoint"][0]
    others = set(da.TASKS) - {s["focus_tasks"][0]}
    assert set(rec["cosine"]) == others
    assert rec["mean_cosine"] == pytest.approx(np.mean(list(rec["cosine"].values())))
    assert set(rec["layer_mean_cosine"])  # one entry per shared layer


def test_json_round_trip(result):
    back = experiments.ExperimentResult.from_json(result.to_json())
    assert back.rows == result.rows and back.paired == result.paired
    assert da.markdown(back) == da.markdown(result)
    assert json.loads(result.to_json())["name"] == "data_amounts"


def test_plot_writes_png(result, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "data_amounts.png"
    experiments.plot(result, str(path))
    assert path.exists() and path.stat().st_size > 1000


@pytest.mark.parametrize("kwargs, name", [
    (dict(focus_tasks=("bicycle",)), "focus_tasks"),
    (dict(focus_labelled=1.5), "focus_labelled"),
    (dict(focus_labelled=0.0), "focus_labelled"),
    (dict(conditions=(da.EQUAL, da.SHUFFLED)), "conditions"),
    (dict(m_train=0), "m_train"),
    (dict(rhos=(2.0,)), "rhos"),
    (dict(seeds=(0,)), "seeds"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        da.run(progress=False, **kwargs)


def test_tuning_seeds_must_differ():
    with pytest.raises(ValueError, match="tuning_seeds"):
        da.run(seeds=(0, 1), tuning_seeds=(1,), fast=True, progress=False)


# ---------------------------------------------------------------------- the stored full run
def _stored():
    if not STORED.exists():
        pytest.skip("no stored full run")
    return experiments.ExperimentResult.from_json(str(STORED))


def _section(text, number=3):
    start = text.index(f"\n## {number}. ")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_stored_run_has_ten_seeds_and_every_claim():
    r = _stored()
    assert len(r.settings["seeds"]) >= 10 and r.settings["fast"] is False
    assert set(r.settings["focus_tasks"]) == set(da.TASKS) and r.settings["rhos"] == [0.0, 1.0]
    assert all(d.n >= 10 for d in r.paired)
    assert r.notes["cpu_seconds"] <= 800


def test_docs_quote_the_stored_verdicts():
    r = _stored()
    section = _section(DOCS.read_text())
    claims = da.claims_markdown(r).splitlines()
    assert claims
    for line in claims:
        assert line in section, line
    stored_md = (ROOT / "docs" / "figures" / "data_amounts.md").read_text()
    assert da.markdown(r) + "\n" == stored_md
