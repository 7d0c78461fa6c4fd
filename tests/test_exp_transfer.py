"""The transfer experiment on the fair footing: structure, paired claims, words, files, stored run."""
import math
from pathlib import Path

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy.experiments import ExperimentResult, common, stats, transfer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fast():
    return transfer.run(fast=True, progress=False)


def test_fast_setting_structure(fast):
    r = fast
    assert r.name == "transfer" and r.settings["fast"] is True
    assert r.conditions == list(transfer.CONDITIONS)
    assert set(r.tasks) == {"traffic_light", "prime"}
    seeds = r.settings["seeds"]
    assert len(seeds) == 2
    keys = [transfer.setting_key("scenes", rho, n) for rho in r.settings["rhos"] for n in r.settings["n_B"]] + \
        [transfer.setting_key("digits", None, n) for n in r.settings["digits_n_B"]]
    assert r.params == keys
    for row in r.rows:
        assert row.n == len(seeds) and 0.0 <= row.mean <= 1.0, row
    notes = r.notes
    assert notes["cpu_seconds"] > 0
    assert set(notes["pretrain_learning_rate"]) == {"scenes rho=0", "scenes rho=1", "digits"}
    for key in keys:
        assert set(notes["learning_rate"][key]) == set(transfer.CONDITIONS)
        for cond in transfer.CONDITIONS:
            lo, mean, hi = notes["epochs"][key][cond]
            assert 1 <= lo <= mean <= hi
            assert notes["runs"][key][cond] == len(seeds)
            for metric in ("accuracy", "average_precision"):
                values = notes["per_seed"][key][cond][metric]
                assert len(values) == len(seeds)
                row = r.get(cond, notes["tasks"][key], metric, key)
                assert row.mean == pytest.approx(np.mean(values))
    bound = notes["digits_label_bound"]
    assert 0.5 <= bound["majority_class"] < bound["accuracy_from_A_labels"] < 0.8


def test_paired_claims_and_verdicts(fast):
    r = fast
    gains = [d for d in r.paired if d.key["claim"] == "gain"]
    changes = [d for d in r.paired if d.key["claim"] == "change with rho"]
    n_cells = len(r.params)
    assert len(gains) == n_cells * len(transfer.FINETUNE) * 2
    assert len(changes) == len(r.settings["n_B"]) * len(transfer.FINETUNE) * 2   # two rhos: one pair
    per_seed = r.notes["per_seed"]
    for d in gains:
        key = transfer.setting_key(d.key["dataset"], d.key["rho"], d.key["n_B"])
        a = per_seed[key][d.key["condition"]][d.key["metric"]]
        b = per_seed[key]["scratch"][d.key["metric"]]
        assert d.differences == pytest.approx(tuple(np.subtract(a, b)))
        assert d.label == f"{d.key['condition']} - scratch"
    for d in changes:
        at = {rho: next(g for g in gains if g.key["dataset"] == "scenes" and g.key["rho"] == rho
                        and g.key["n_B"] == d.key["n_B"] and g.key["condition"] == d.key["condition"]
                        and g.key["metric"] == d.key["metric"]) for rho in (d.key["from_rho"], d.key["to_rho"])}
        assert d.differences == pytest.approx(tuple(np.subtract(at[d.key["to_rho"]].differences,
                                                                at[d.key["from_rho"]].differences)))
    for d in r.paired:
        assert d.verdict == stats.verdict((d.low, d.high))
        if d.verdict == stats.HELPS:
            assert d.low > 0
        elif d.verdict == stats.HURTS:
            assert d.high < 0
        else:
            assert math.isnan(d.low) or d.low <= 0 <= d.high


def test_markdown_sentences_use_the_verdict_words(fast):
    r = fast
    claims = transfer.claims_markdown(r).splitlines()
    accuracy = [d for d in r.paired if d.key["metric"] == "accuracy"]
    assert len(claims) == len(accuracy)
    for line, d in zip(claims, accuracy):
        assert line.startswith("- ") and f"{d.n} seeds" in line
        word = {stats.HELPS: " helps ", stats.HURTS: " hurts ",
                stats.UNRESOLVED: " shows no difference resolved at this size "}[d.verdict]
        assert word in line, line
        for other in {" helps ", " hurts "} - {word}:
            assert other not in line, line
    md = transfer.markdown(r)
    assert transfer.claims_markdown(r) in md and transfer.gain_markdown(r) in md
    assert transfer.rho_markdown(r) in md and transfer.bound_markdown(r) in md
    assert "0.7" in transfer.bound_markdown(r) or "accuracy on the test digits" in transfer.bound_markdown(r)


def test_json_round_trip(fast):
    back = ExperimentResult.from_json(fast.to_json())
    assert back.rows == fast.rows and back.paired == fast.paired
    assert [d.to_dict() for d in transfer.paired_table(back)] == [d.to_dict() for d in fast.paired]
    assert transfer.markdown(back) == transfer.markdown(fast)


def test_plot_writes_a_file(fast, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "transfer.png"
    transfer.plot(fast, str(path))
    assert path.exists() and path.stat().st_size > 1000


@pytest.mark.parametrize("kwargs, match", [
    ({"datasets": ("scenes", "nope")}, "datasets must be"),
    ({"n_B": ()}, "n_B must be"),
    ({"digits_n_B": (0, 20)}, "digits_n_B must be"),
    ({"rhos": (0.0, 2.0)}, "rhos must be"),
    ({"seeds": (0, 100)}, "tuning_seeds must differ"),
    ({"digits_n_B": (20, 1500)}, "leave at least 100"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        transfer.run(progress=False, **kwargs)


def test_label_bound_on_the_ten_digits():
    # one of each digit: (even, >= 5) -> prime is right for 7 of 10; the majority (not prime) for 6
    digits = np.arange(10)
    Y_A = np.stack([digits % 2 == 0, digits >= 5]).astype(float)
    prime = np.isin(digits, (2, 3, 5, 7)).astype(float)
    assert transfer.label_bound(Y_A, prime) == pytest.approx((0.7, 0.6))
    # a B that *is* a function of A's labels is predicted perfectly (the old closed_loop was one of (even, >=5, prime))
    assert transfer.label_bound(Y_A, Y_A[0])[0] == 1.0
    with pytest.raises(ValueError, match="Y_A must be"):
        transfer.label_bound(Y_A, prime[:5])


def test_train_fair_trainable_freezes_the_trunk():
    rng = np.random.default_rng(0)
    X = rng.random((5, 60)).astype(np.float32)
    Y = (rng.random((1, 60)) < 0.5).astype(float)
    pre = mtl.SharedMLP([5, 4, 3, 2], seed=1)
    model = mtl.SharedMLP([5, 4, 3, 1], seed=2)
    trunk, head = transfer.transfer_trunk(pre, model)
    before = {k: v.copy() for k, v in model.params.items()}
    run = common.train_fair(model, X, Y, (X, Y), learning_rate=1e-2, max_epochs=4, patience=2,
                            batch_size=16, trainable=head)
    for k in trunk:
        np.testing.assert_array_equal(model.params[k], before[k])
    assert run.checkpoints.params[0] is not None
    assert not np.array_equal(run.checkpoints.params[0]["W3"], before["W3"])


def _stored():
    path = ROOT / "docs" / "figures" / "transfer.json"
    if not path.exists():
        pytest.skip("no stored full run")
    return ExperimentResult.from_json(str(path))


def test_stored_full_run_has_ten_seeds_and_its_claims():
    r = _stored()
    assert len(r.settings["seeds"]) >= 10 and not r.settings["fast"]
    assert {0.0, 1.0} <= set(r.settings["rhos"]) and set(r.settings["datasets"]) == {"scenes", "digits"}
    assert [d.to_dict() for d in transfer.paired_table(r)] == [d.to_dict() for d in r.paired]
    assert all(d.n >= 10 for d in r.paired)
    assert r.notes["cpu_seconds"] <= 450
    assert (ROOT / "docs" / "figures" / "transfer.md").read_text() == transfer.markdown(r) + "\n"


def test_docs_quote_the_stored_run():
    r = _stored()
    doc = (ROOT / "docs" / "experiments.md").read_text()
    section = doc.split("## 5. Transfer")[1].split("\n## ")[0]
    for line in transfer.claims_markdown(r).splitlines():
        assert line in section, line
    for block in (transfer.gain_markdown(r), transfer.rho_markdown(r), transfer.bound_markdown(r)):
        assert block in section
    # "helps" / "hurts" appear in the prose only where some stored verdict says so
    words = {d.verdict for d in r.paired if d.key["metric"] == "accuracy"}
    prose = section.replace(transfer.claims_markdown(r), "")
    for word in ("helps", "hurts"):
        if word not in words:
            assert f" {word} " not in prose.replace("\"", " ").replace("*", " "), word
