"""The experiments' fast settings: structure and sanity of the result tables, not outcomes."""
import json
import math
import sys

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy import experiments
from mtl_numpy.experiments import common, end_to_end, transfer

SCENE_TASKS = {"pedestrian", "car", "stop_sign", "traffic_light"}

EXPECTED = {
    "sharing": ({"multi_task", "single_task", "single_task_quarter"}, SCENE_TASKS),
    "network_size": ({"multi_task", "single_task", "multi_minus_single"}, SCENE_TASKS),
    "data_amounts": ({"single_task", "multi_task", "multi_task_shuffled", "gain", "gain_shuffled"},
                     {"traffic_light"}),
    "masking": ({"masked", "zero_filled", "dropped"}, SCENE_TASKS),
    "transfer": ({"scratch", "finetune_all", "finetune_head"}, {"traffic_light", "closed_loop"}),
    "end_to_end": ({"pipeline", "end_to_end"}, SCENE_TASKS | {"mean"}),
}

# metrics that are differences (may be negative) or a bias in [-1, 1]
SIGNED = {"multi_minus_single", "gain", "gain_shuffled"}


@pytest.fixture(scope="module")
def results():
    return {name: experiments.run(name, fast=True, progress=False) for name in experiments.EXPERIMENTS}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fast_setting_table_structure(results, name):
    result = results[name]
    conditions, tasks = EXPECTED[name]
    assert isinstance(result, experiments.ExperimentResult)
    assert result.name == name
    assert set(result.conditions) == conditions
    assert set(result.tasks) == tasks
    assert result.settings["fast"] is True
    assert result.seconds > 0
    n_seeds = len(result.settings["seeds"])
    assert n_seeds >= 2
    for row in result.rows:
        assert row.n <= n_seeds
        if name == "masking" and row.condition == "dropped" and row.n == 0:
            continue  # no fully labelled example survived: recorded as nan, by design
        assert row.n >= 1, row
        assert math.isfinite(row.mean) and math.isfinite(row.std), row
        assert row.std >= 0
        if row.condition in SIGNED or row.metric == "bias":
            assert -1.0 <= row.mean <= 1.0, row
        else:
            assert 0.0 <= row.mean <= 1.0, row
    # every (condition, param) has every metric for its tasks
    assert {"accuracy", "average_precision"} <= set(result.metrics)


def test_param_values_match_settings(results):
    assert results["network_size"].params == list(results["network_size"].settings["widths"])
    assert results["data_amounts"].params == list(results["data_amounts"].settings["fractions"])
    assert results["masking"].params == list(results["masking"].settings["rates"])
    assert results["end_to_end"].params == list(results["end_to_end"].settings["sizes"])
    assert "bias" in results["masking"].metrics


def test_masking_zero_fill_biases_downwards(results):
    # not an outcome of learning, a consequence of the labels: at 0% missing the three agree exactly
    r = results["masking"]
    for task in SCENE_TASKS:
        a = r.get("masked", task, "accuracy", 0.0).mean
        assert a == r.get("zero_filled", task, "accuracy", 0.0).mean


def test_gain_is_paired_difference(results):
    r = results["data_amounts"]
    for frac in r.params:
        m = r.get("multi_task", "traffic_light", "accuracy", frac).mean
        s = r.get("single_task", "traffic_light", "accuracy", frac).mean
        g = r.get("gain", "traffic_light", "accuracy", frac).mean
        assert g == pytest.approx(m - s, abs=1e-9)


def test_markdown_format_and_json(results):
    r = results["sharing"]
    md = r.to_markdown()
    assert "| condition |" in md and "±" in md
    for cond in r.conditions:
        assert cond in md
    assert "multi_task" in r.format()
    data = json.loads(r.to_json())
    assert data["name"] == "sharing" and len(data["rows"]) == len(r.rows)
    back = experiments.ExperimentResult.from_json(r.to_json())
    assert back.rows == r.rows and back.to_markdown() == md


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_plot_writes_png(results, name, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"{name}.png"
    experiments.plot(results[name], str(path))
    assert path.exists() and path.stat().st_size > 1000


def test_plot_without_matplotlib(results, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"needs matplotlib: pip install 'mtl-numpy\[plot\]'"):
        experiments.plot(results["sharing"])


def test_unknown_experiment():
    with pytest.raises(ValueError, match="experiment must be one of"):
        experiments.run("nope")


def test_trainable_subset_freezes_the_trunk():
    rng = np.random.default_rng(0)
    X = rng.random((5, 40)).astype(np.float32)
    Y = (rng.random((1, 40)) < 0.5).astype(float)
    pre = mtl.SharedMLP([5, 4, 3, 2], seed=1)
    model = mtl.SharedMLP([5, 4, 3, 1], seed=2)
    trunk, head = transfer.transfer_trunk(pre, model)
    assert trunk == ["W1", "b1", "W2", "b2"] and head == ["W3", "b3"]
    before = {k: v.copy() for k, v in model.params.items()}
    for k in trunk:
        np.testing.assert_array_equal(model.params[k], pre.params[k])
    common.train(model, X, Y, epochs=3, batch_size=8, trainable=head)
    for k in trunk:
        np.testing.assert_array_equal(model.params[k], before[k])
    assert not np.array_equal(model.params["W3"], before["W3"])
    with pytest.raises(ValueError, match="trunks differ"):
        transfer.transfer_trunk(mtl.SharedMLP([5, 6, 1]), model)


def test_epochs_for_gives_small_sets_enough_steps():
    assert common.epochs_for(4000, 64, 15) == 15
    assert common.epochs_for(50, 64, 15, min_steps=300) == 300
    assert common.epochs_for(50, 64, 15, min_steps=300, max_epochs=100) == 100


def test_hand_features_shape_and_range():
    data = mtl.datasets.driving_scenes(20, image_size=16, missing=0.0, seed=0)
    F = end_to_end.hand_features(data.X)
    assert F.shape[1] == 20 and F.ndim == 2 and F.dtype == np.float32
    assert np.isfinite(F).all() and F.min() >= 0.0 and F.max() <= 1.0


def test_main_cli_writes_outputs(tmp_path, capsys):
    status = experiments.main(["masking", "--fast", "--no-progress", "--seeds", "3", "4",
                               "--out", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "## masking" in out and "| condition |" in out
    for ext in ("json", "md"):
        assert (tmp_path / f"masking.{ext}").exists()
    data = json.loads((tmp_path / "masking.json").read_text())
    assert data["settings"]["seeds"] == [3, 4]
