"""The digits sharing experiment (real-data row beside sharing): fast setting and the stored run."""
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from mtl_numpy import experiments  # noqa: E402
from mtl_numpy.experiments import digits_sharing as ds  # noqa: E402
from mtl_numpy.experiments import sharing, stats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIGIT_TASKS = {"even", "greater_equal_5", "prime", "closed_loop"}


@pytest.fixture(scope="module")
def fast():
    return ds.run(fast=True, progress=False, backend="numpy")


def test_fast_result_structure(fast):
    assert set(fast.conditions) == set(sharing.CONDITIONS)
    assert set(fast.tasks) == DIGIT_TASKS | {"mean"}
    assert set(fast.params) == {0.2, 1.0}
    for row in fast.rows:
        assert row.n == 2 and 0.0 <= row.mean <= 1.0
    # every condition of a seed saw the same kept labels: fewer at 20 % than with every label
    n20 = np.array(fast.notes["labels_per_task"]["0.2"])
    n100 = np.array(fast.notes["labels_per_task"]["1"])
    assert (n20 < n100).all() and (n100 == 1797 - 200 - 400).all()
    assert fast.notes["cpu_seconds"] > 0


def test_paired_gains_are_per_seed_differences_with_their_verdict(fast):
    per_seed = fast.notes["per_seed"]
    assert len(fast.paired) == 2 * 2 * 2 * 2      # fractions x multi x separate x metrics
    for d in fast.paired:
        a = per_seed[f"{d.key['labelled']:g}"][d.key["multi_task"]][d.key["metric"]]["mean"]
        b = per_seed[f"{d.key['labelled']:g}"][d.key["separate"]][d.key["metric"]]["mean"]
        assert d.differences == pytest.approx(tuple(np.subtract(a, b)), abs=1e-12)
        assert d.verdict == stats.verdict((d.low, d.high))
        # the table's mean row is the mean over the four tasks, per seed
        row = fast.get(d.key["multi_task"], "mean", d.key["metric"], d.key["labelled"])
        assert row.mean == pytest.approx(np.mean(a), abs=1e-12)


def test_markdown_uses_the_verdict_words_and_round_trips(fast, tmp_path):
    text = ds.markdown(fast)
    claims = ds.claims_markdown(fast).splitlines()
    assert len(claims) == 4
    for line in claims:
        assert any(w in line for w in ("helps", "hurts", "no difference resolved at this size"))
    assert text.count("| 0.2 |") >= 4
    back = experiments.ExperimentResult.from_json(fast.to_json())
    assert [d.to_dict() for d in ds.paired_table(back)] == [d.to_dict() for d in fast.paired]
    pytest.importorskip("matplotlib")
    path = ds.plot(fast, str(tmp_path / "digits.png"))
    assert Path(path).stat().st_size > 1000


def test_bad_arguments():
    with pytest.raises(ValueError, match="labelled"):
        ds.run(labelled=(0.0,), progress=False)
    with pytest.raises(ValueError, match="m_val and m_test"):
        ds.run(m_val=1000, m_test=900, progress=False)
    with pytest.raises(ValueError, match="tuning_seeds"):
        ds.run(seeds=(0, 1), tuning_seeds=(1,), labelled=(1.0,), max_epochs=1, patience=1,
               max_extensions=0, rates=(1e-2, 3e-2), progress=False)


def test_docs_quote_the_stored_digits_run():
    path = ROOT / "docs" / "figures" / "digits_sharing.json"
    r = experiments.ExperimentResult.from_json(str(path))
    assert len(r.settings["seeds"]) >= 10 and not r.settings["fast"]
    assert [d.to_dict() for d in ds.paired_table(r)] == [d.to_dict() for d in r.paired]
    assert (ROOT / "docs" / "figures" / "digits_sharing.md").read_text() == ds.markdown(r) + "\n"
    section = (ROOT / "docs" / "experiments.md").read_text().split("## 1. Sharing")[1].split("\n## ")[0]
    assert ds.claims_markdown(r) in section
