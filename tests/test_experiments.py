"""The experiments' fast settings: structure and sanity of the result tables, not outcomes."""
import json
import math
import sys

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy import experiments
from mtl_numpy.experiments import common, end_to_end, sharing, stats, transfer

SCENE_TASKS = {"pedestrian", "car", "stop_sign", "traffic_light"}

EXPECTED = {
    "sharing": (set(sharing.CONDITIONS), SCENE_TASKS | {"mean"}),
    "network_size": ({c + f for c in ("multi_task", "single_task", "multi_minus_single")
                      for f in ("", " (rho=0)")}, SCENE_TASKS | {"mean"}),
    "data_amounts": ({"single-task", "multi-task (equal)", "multi-task (per_task)",
                      "multi-task (uncertainty)", "multi-task shuffled"},
                     {"stop_sign", "traffic_light", "mean"}),
    "masking": ({"masked", "zero_filled", "dropped"}, SCENE_TASKS | {"mean"}),
    "transfer": ({"scratch", "finetune_all", "finetune_head", "finetune_lower"},
                 {"traffic_light", "prime"}),
    "end_to_end": (set(end_to_end.CONDITIONS), SCENE_TASKS | {"mean"}),
}

# metrics that are differences (may be negative) or a bias in [-1, 1]
SIGNED = {"multi_minus_single", "multi_minus_single (rho=0)", "gain", "gain_shuffled"}


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
    assert results["data_amounts"].params == [f"rho={r:g}" for r in results["data_amounts"].settings["rhos"]]
    m = results["masking"]
    assert m.params == [experiments.masking.setting_key(rho, mech, q) for rho in m.settings["rhos"]
                        for mech in m.settings["mechanisms"] for q in m.settings["missing"]]
    e2e = results["end_to_end"]
    assert e2e.params == [end_to_end.setting_key(rho, m) for rho in e2e.settings["rhos"]
                          for m in e2e.settings["sizes"]]
    assert "bias" in results["masking"].metrics


def test_gain_is_paired_difference(results):
    r = results["data_amounts"]
    for d in r.paired:
        if d.key["focus"] == "pooled" and d.key["metric"] == "accuracy":
            rho = f"rho={d.key['rho']:g}"
            m = r.get(d.key["condition"], "mean", "accuracy", rho).mean
            s = r.get(d.key["baseline"], "mean", "accuracy", rho).mean
            assert d.mean == pytest.approx(m - s, abs=1e-9)


def test_markdown_format_and_json(results):
    r = results["sharing"]
    md = r.to_markdown()
    assert "| condition |" in md and "±" in md
    for cond in r.conditions:
        assert cond in md
    assert "all-shared" in r.format()
    data = json.loads(r.to_json())
    assert data["name"] == "sharing" and len(data["rows"]) == len(r.rows)
    back = experiments.ExperimentResult.from_json(r.to_json())
    assert back.rows == r.rows and back.to_markdown() == md
    assert back.paired == r.paired and sharing.full_markdown(back) == sharing.full_markdown(r)


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


def test_sharing_and_network_size_params_match_settings(results):
    r = results["sharing"]
    assert r.params == [sharing.setting_key(rho, f) for rho in r.settings["rhos"]
                        for f in r.settings["labelled"]]
    assert 1.0 in r.settings["labelled"] and min(r.settings["labelled"]) < 1.0
    assert r.settings["rhos"] == [0.0, 1.0]
    n = results["network_size"]
    assert n.params == list(n.settings["widths"])
    assert n.settings["labelled"] == [1.0] and n.settings["rhos"] == [0.0, 1.0]
    assert experiments.network_size.condition("multi_minus_single", 0.1) == "multi_minus_single@0.1"
    assert experiments.network_size.condition("multi_minus_single", 1.0) == "multi_minus_single"
    assert experiments.network_size.condition("multi_minus_single", 0.3, rho=0.0) == \
        "multi_minus_single@0.3 (rho=0)"


def test_task_mean_is_mean_of_tasks(results):
    r = results["sharing"]
    for cond in r.conditions:
        for frac in r.params:   # sharing's param: "rho=... labelled=..."
            rows = [r.get(cond, t, "accuracy", frac).mean for t in SCENE_TASKS]
            assert r.get(cond, "mean", "accuracy", frac).mean == pytest.approx(np.mean(rows), abs=1e-9)


def test_network_size_difference_is_paired(results):
    r = results["network_size"]
    cond = experiments.network_size.condition
    for rho in r.settings["rhos"]:
        for w in r.params:
            for task in SCENE_TASKS | {"mean"}:
                m = r.get(cond("multi_task", 1.0, rho), task, "accuracy", w).mean
                s = r.get(cond("single_task", 1.0, rho), task, "accuracy", w).mean
                assert r.get(cond("multi_minus_single", 1.0, rho), task, "accuracy", w).mean == \
                    pytest.approx(m - s, abs=1e-9)


def test_network_size_gains_are_paired_per_seed_with_verdicts(results):
    ns = experiments.network_size
    r = results["network_size"]
    n_seeds = len(r.settings["seeds"])
    # one gain per width x rho x labelled x metric, on the task mean
    assert len(r.paired) == len(r.params) * len(r.settings["rhos"]) * len(r.settings["labelled"]) * 2
    for d in r.paired:
        assert d.key["multi_task"] == sharing.ALL_SHARED and d.key["separate"] == sharing.SEPARATE_WIDTH
        row = r.get(ns.condition("multi_minus_single", d.key["labelled"], d.key["rho"]), "mean",
                    d.key["metric"], d.key["width"])
        assert d.n == row.n == n_seeds
        assert d.mean == pytest.approx(row.mean, abs=1e-12) and d.std == pytest.approx(row.std, abs=1e-12)
        assert d.verdict == stats.verdict((d.low, d.high)) and d.low <= d.mean <= d.high
    # the change with width pairs the same seeds' gains at the narrowest and the widest width
    gains = {(d.key["width"], d.key["rho"]): np.array(d.differences) for d in r.paired
             if d.key["metric"] == "accuracy"}
    lo, hi = min(r.params), max(r.params)
    changes = ns.width_changes(r)
    assert len(changes) == len(r.settings["rhos"])
    for d in changes:
        assert d.differences == pytest.approx(tuple(gains[(hi, d.key["rho"])] - gains[(lo, d.key["rho"])]))
    md = ns.gain_markdown(r)
    assert md.count("\n") == 1 + len(r.params) * len(r.settings["rhos"]) and "verdict" in md.splitlines()[0]
    claims = ns.claims_markdown(r)
    assert claims.count("\n") + 1 == len(r.params) * len(r.settings["rhos"]) + len(changes)
    assert set(r.notes["parameters"]) == {str(w) for w in r.params}


def test_network_size_combine_checks_its_parts():
    ns = experiments.network_size
    kw = dict(seeds=(0, 1), rhos=(1.0,), labelled=(1.0,), conditions=ns.CONDITIONS, progress=False,
              **ns.FAST)
    a, b = sharing.run(width=1, **kw), sharing.run(width=2, **kw)
    whole = ns.combine([b, a])
    assert whole.settings["widths"] == [1, 2] and whole.params == [1, 2]
    with pytest.raises(ValueError, match="distinct widths"):
        ns.combine([a, a])
    other = experiments.ExperimentResult.from_json(b.to_json())
    other.settings["seeds"] = [0, 2]
    with pytest.raises(ValueError, match="differ only in width"):
        ns.combine([a, other])
    with pytest.raises(ValueError, match="widths must be positive"):
        ns.run(widths=(0, 2), fast=True, progress=False)


def test_fewer_labels_at_lower_fraction(results):
    r = results["sharing"]
    labels = r.notes["labels_per_task"]
    low = min(r.settings["labelled"])
    for rho in r.settings["rhos"]:
        full = np.array(labels[sharing.setting_key(rho, 1.0)])
        part = np.array(labels[sharing.setting_key(rho, low)])
        assert (part < full).all()
        assert (full == r.settings["m_train"]).all()


def test_sharing_gains_are_paired_per_seed_differences(results):
    r = results["sharing"]
    n_seeds = len(r.settings["seeds"])
    # every (rho, labelled) x multi-task x separate x metric, on the task mean
    assert len(r.paired) == len(r.params) * 2 * 2 * 2
    for d in r.paired:
        key = sharing.setting_key(d.key["rho"], d.key["labelled"])
        a = r.notes["per_seed"][key][d.key["multi_task"]][d.key["metric"]][d.key["task"]]
        b = r.notes["per_seed"][key][d.key["separate"]][d.key["metric"]][d.key["task"]]
        assert len(a) == len(b) == n_seeds == d.n
        assert d.differences == pytest.approx(tuple(np.subtract(a, b)), abs=1e-12)
        # the rows' means are the means of the same per-seed values
        assert r.get(d.key["multi_task"], d.key["task"], d.key["metric"], key).mean == \
            pytest.approx(np.mean(a), abs=1e-12)
        assert d.verdict == stats.verdict((d.low, d.high))
        assert d.low <= d.mean <= d.high
    md = sharing.gain_markdown(r)
    assert md.count("\n") == 1 + len(r.params) * 2 and "verdict" in md.splitlines()[0]
    for name in ("learning_rate", "epochs", "extended_runs", "runs"):
        assert set(r.notes[name]) == set(r.params)


def test_sharing_rejects_tuning_on_evaluation_seeds():
    with pytest.raises(ValueError, match="tuning_seeds must differ"):
        sharing.run(seeds=(0, 1), tuning_seeds=(1,), fast=True, progress=False)


def test_resolve_backend_and_blas_threads():
    assert common.resolve_backend("auto") in mtl.available_backends()
    assert common.resolve_backend(None) == common.resolve_backend("auto")
    assert common.resolve_backend("numpy") == "numpy"
    with common.blas_threads(1):
        a = np.ones((50, 50)) @ np.ones((50, 50))
    assert a[0, 0] == 50


def test_checkpoint_epochs():
    assert common.checkpoint_epochs(6) == {1, 2, 3, 4, 5, 6}
    marks = common.checkpoint_epochs(600, n=12)
    assert 1 in marks and 600 in marks and len(marks) <= 13
    assert min(m for m in marks if m > 10) < 100  # geometric: dense early on


def test_train_with_validation_keeps_the_best_checkpoint():
    rng = np.random.default_rng(0)
    X = rng.random((5, 30)).astype(np.float32)
    Y = (rng.random((1, 30)) < 0.5).astype(float)           # noise: training on it overfits
    Xv = rng.random((5, 200)).astype(np.float32)
    Yv = (Xv[:1] > 0.5).astype(float)
    model = mtl.SharedMLP([5, 16, 1], seed=0)
    hist = common.train(model, X, Y, epochs=40, batch_size=8, learning_rate=1e-2,
                        validation=(Xv, Yv))
    assert 1 <= hist.best_epoch <= 40
    AL = np.asarray(mtl.training.predict_proba_batched(model, Xv), dtype=np.float64)
    kept = mtl.losses.masked_logistic_cost(AL, Yv)
    # the kept parameters score the lowest validation cost among the checkpoints
    again = mtl.SharedMLP([5, 16, 1], seed=0)
    common.train(again, X, Y, epochs=40, batch_size=8, learning_rate=1e-2)
    AL_last = np.asarray(mtl.training.predict_proba_batched(again, Xv), dtype=np.float64)
    assert kept <= mtl.losses.masked_logistic_cost(AL_last, Yv) + 1e-9


def test_transfer_trunk_for_the_cnn():
    pre = common.scene_cnn(16, 2, 3, seed=0, backend="numpy")
    model = common.scene_cnn(16, 2, 1, seed=1, backend="numpy")
    trunk, head = transfer.transfer_trunk(pre, model)
    assert trunk == ["W1", "b1", "W2", "b2", "W3", "b3"] and head == ["W4", "b4"]
    for k in trunk:
        np.testing.assert_array_equal(model.params[k], pre.params[k])
    assert model.params["W4"].shape == (1, 8)
    with pytest.raises(ValueError, match="trunks differ"):
        transfer.transfer_trunk(common.scene_cnn(16, 4, 3, seed=0, backend="numpy"), model)
    fresh = common.scene_cnn(16, 2, 1, seed=1, backend="numpy")
    lower, rest = transfer.transfer_trunk(pre, fresh, keep_top=2)
    assert lower == ["W1", "b1", "W2", "b2"] and rest == ["W3", "b3", "W4", "b4"]
    np.testing.assert_array_equal(fresh.params["W3"], common.scene_cnn(16, 2, 1, seed=1, backend="numpy").params["W3"])
    with pytest.raises(ValueError, match="keep_top"):
        transfer.transfer_trunk(pre, fresh, keep_top=4)


def test_main_cli_all_writes_timings(tmp_path, monkeypatch):
    calls = []

    def fake_run(name, **kwargs):
        calls.append((name, kwargs))
        return experiments.ExperimentResult(name, None, [common.Row("c", None, "t", "accuracy", 0.5, 0.0, 1)],
                                            {"backend": "numpy"}, 0.01)

    monkeypatch.setattr(experiments, "run", fake_run)
    assert experiments.main(["all", "--no-plot", "--no-progress", "--jobs", "1", "--out", str(tmp_path)]) == 0
    assert [c[0] for c in calls] == list(experiments.EXPERIMENTS)
    assert all("backend" not in kw for _, kw in calls)     # each experiment's default ("auto")
    data = json.loads((tmp_path / "timings_all.json").read_text())
    assert set(data["seconds"]) == set(experiments.EXPERIMENTS)
    assert data["total"] >= 0 and data["backends"]["sharing"] == "numpy"


def test_main_cli_side_by_side(tmp_path, capsys):
    # two experiments in two worker processes: the same tables as one after the other
    args = ["masking", "end_to_end", "--fast", "--no-progress", "--no-plot", "--seeds", "0", "1"]
    assert experiments.main(args + ["--jobs", "2", "--out", str(tmp_path / "a")]) == 0
    assert experiments.main(args + ["--jobs", "1", "--out", str(tmp_path / "b")]) == 0
    for name in ("masking", "end_to_end"):
        a = json.loads((tmp_path / "a" / f"{name}.json").read_text())
        b = json.loads((tmp_path / "b" / f"{name}.json").read_text())
        assert len(a["rows"]) == len(b["rows"])
        for ra, rb in zip(a["rows"], b["rows"]):
            # the same computation; only floating-point rounding may differ between a fresh worker
            # and this long-lived test process (memory alignment, BLAS code paths), and training
            # can amplify it a little
            assert {k: ra[k] for k in ("condition", "param", "task", "metric", "n")} == \
                {k: rb[k] for k in ("condition", "param", "task", "metric", "n")}
            for k in ("mean", "std"):
                assert ra[k] == pytest.approx(rb[k], abs=0.02, nan_ok=True)
    timings = json.loads((tmp_path / "a" / "timings_masking+end_to_end.json").read_text())
    assert timings["jobs"] == 2 and set(timings["seconds"]) == {"masking", "end_to_end"}


def test_plot_helpers_live_in_plotting(tmp_path):
    pytest.importorskip("matplotlib")
    from mtl_numpy import plotting

    from mtl_numpy import optim

    for name in ("require_matplotlib", "log_axis", "finish_figure"):
        assert not hasattr(common, name), f"{name} has its own home now: mtl_numpy.plotting"
    assert "TrainableSubset" not in common.__all__ and experiments.TrainableSubset is optim.TrainableSubset
    plt = plotting.require_matplotlib()
    fig, ax = plt.subplots()
    ax.plot([1, 10, 100], [1, 2, 3])
    plotting.log_axis(ax, [1, 10, 100])
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "10", "100"]
    path = plotting.finish_figure(fig, tmp_path / "f.png")
    assert path == str(tmp_path / "f.png") and (tmp_path / "f.png").stat().st_size > 0
    assert not plt.fignum_exists(fig.number)          # saved figures are closed
    other = plt.figure()
    assert plotting.finish_figure(other, None) is other
    plt.close(other)


# ---------------------------------------------------------------------- the fair protocol
def _toy(seed=0, m=120, n_tasks=2):
    """A learnable toy problem for the protocol: linear tasks on 6 inputs, a validation split."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((6, 2 * m))
    W = rng.standard_normal((n_tasks, 6))
    Y = (W @ X + 0.5 * rng.standard_normal((n_tasks, 2 * m)) > 0).astype(float)
    return X[:, :m], Y[:, :m], X[:, m:], Y[:, m:]


def test_per_task_checkpoints_keep_each_tasks_own_best_epoch():
    X, Y, Xv, Yv = _toy()
    model = mtl.SharedMLP([6, 8, 2], seed=0, dtype="float64")
    ckpt = common.PerTaskCheckpoints(Xv, Yv)
    seen = []

    def monitor(m):
        seen.append(ckpt.task_costs(m))
        return ckpt(m)

    mtl.fit(model, X, Y, optimizer=mtl.Adam(learning_rate=0.05), epochs=25, batch_size=16,
            progress=False, restore_best=True, monitor=monitor)
    seen = np.array(seen)
    assert ckpt.epoch == 25
    for t in range(2):
        assert ckpt.best_epoch[t] == int(np.argmin(seen[:, t])) + 1
        assert ckpt.best_cost[t] == pytest.approx(seen[:, t].min(), abs=1e-12)
        ckpt.load(model, t)
        assert ckpt.task_costs(model)[t] == pytest.approx(seen[:, t].min(), abs=1e-12)


def test_train_fair_stops_on_patience():
    X, Y, Xv, Yv = _toy(m=40)
    model = mtl.SharedMLP([6, 32, 2], seed=0, dtype="float64")
    run = common.train_fair(model, X, Y, (Xv, Yv), learning_rate=0.05, max_epochs=300, patience=4,
                            batch_size=16)
    assert run.epochs < 300 and run.extensions == 0 and not run.still_improving
    # stopped exactly `patience` epochs after the last epoch at which some task improved
    assert run.epochs == max(run.best_epoch) + 4


def test_train_fair_extends_a_run_still_improving_at_its_last_epoch():
    X, Y, Xv, Yv = _toy()
    model = mtl.SharedMLP([6, 8, 2], seed=0, dtype="float64")
    # a small rate: validation cost still falls at every epoch, so every block ends on a best epoch
    run = common.train_fair(model, X, Y, (Xv, Yv), learning_rate=1e-3, max_epochs=2, patience=3,
                            max_extensions=2, batch_size=16)
    assert run.extensions == 2 and run.epochs == 6 and run.still_improving
    assert run.best_epoch == [6, 6]
    shorter = common.train_fair(mtl.SharedMLP([6, 8, 2], seed=0, dtype="float64"), X, Y, (Xv, Yv),
                                learning_rate=1e-3, max_epochs=2, patience=3, max_extensions=0,
                                batch_size=16)
    assert shorter.extensions == 0 and shorter.epochs == 2 and shorter.still_improving


def test_evaluate_per_task_uses_each_tasks_checkpoint():
    X, Y, Xv, Yv = _toy()
    model = mtl.SharedMLP([6, 8, 2], seed=0, dtype="float64")
    run = common.train_fair(model, X, Y, (Xv, Yv), learning_rate=0.05, max_epochs=40, patience=5,
                            batch_size=16)
    got = common.evaluate_per_task(model, run, Xv, Yv, ("a", "b"))
    for t, task in enumerate(("a", "b")):
        run.checkpoints.load(model, t)
        want = mtl.task_metrics(Yv[t:t + 1], model.predict_proba(Xv)[t:t + 1], tasks=(task,))[task]
        assert got[task]["accuracy"] == want["accuracy"]


def test_train_fair_rejects_bad_budgets():
    X, Y, Xv, Yv = _toy()
    with pytest.raises(ValueError, match="max_epochs and patience"):
        common.train_fair(mtl.SharedMLP([6, 4, 2], seed=0), X, Y, (Xv, Yv), learning_rate=1e-3,
                          patience=0)


def test_sharing_merge_of_parts_equals_one_run():
    # every (rho, labelled) cell is independent, so running rho = 0 and rho = 1 apart and merging
    # gives the one run's table (the stored full run was made in parts this way)
    kw = dict(fast=True, progress=False, seeds=(0, 1), labelled=(1.0,))
    whole = sharing.run(rhos=(0.0, 1.0), **kw)
    merged = sharing.merge([sharing.run(rhos=(1.0,), **kw), sharing.run(rhos=(0.0,), **kw)])
    assert merged.settings["rhos"] == [0.0, 1.0]
    assert [(r.condition, r.param, r.task, r.metric) for r in merged.rows] == \
        [(r.condition, r.param, r.task, r.metric) for r in whole.rows]
    for a, b in zip(merged.rows, whole.rows):
        assert a.mean == pytest.approx(b.mean, abs=1e-9)
    assert [d.verdict for d in merged.paired] == [d.verdict for d in whole.paired]
    with pytest.raises(ValueError, match="differ only in rhos/labelled"):
        other = experiments.ExperimentResult.from_json(whole.to_json())
        other.settings["seeds"] = [0, 2]
        sharing.merge([whole, other])


def test_sharing_conditions_subset():
    r = sharing.run(fast=True, progress=False, seeds=(0, 1), rhos=(1.0,), labelled=(1.0,),
                    conditions=(sharing.ALL_SHARED, sharing.SEPARATE_WIDTH))
    assert r.conditions == [sharing.ALL_SHARED, sharing.SEPARATE_WIDTH]
    assert [d.label for d in r.paired] == [f"{sharing.ALL_SHARED} - {sharing.SEPARATE_WIDTH}"] * 2 * len(r.params)
    with pytest.raises(ValueError, match="conditions must be a subset"):
        sharing.run(fast=True, progress=False, conditions=(sharing.ALL_SHARED, sharing.HEADS))


def test_docs_quote_the_stored_sharing_run():
    # docs/experiments.md section 1 quotes the stored full run: its verdict sentences and gain tables
    # are exactly what the stored per-seed values give, and sharing.md is what the command writes
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = experiments.ExperimentResult.from_json(str(root / "docs" / "figures" / "sharing.json"))
    recomputed = sharing.paired_table(r)
    assert [d.to_dict() for d in recomputed] == [d.to_dict() for d in r.paired]
    assert len(r.settings["seeds"]) >= 10 and {0.0, 1.0} <= set(r.settings["rhos"])
    doc = (root / "docs" / "experiments.md").read_text()
    section = doc.split("## 1. Sharing")[1].split("\n## ")[0]
    for block in (sharing.claims_markdown(r), sharing.gain_markdown(r),
                  sharing.gain_markdown(r, separate=sharing.SEPARATE_PARAMS)):
        assert block in section
    assert (root / "docs" / "figures" / "sharing.md").read_text() == sharing.markdown(r) + "\n"
    # no sentence of the section claims more than a verdict allows: "helps"/"hurts" appear only in
    # the quoted verdict lines or where the stored verdicts contain them
    words = {d.verdict for d in r.paired if d.key["metric"] == "accuracy" and d.key["task"] == "mean"}
    prose = section.replace(sharing.claims_markdown(r), "")
    for word in ("helps", "hurts"):
        if word not in words:
            assert f" {word} " not in prose.replace("\"", " ").replace("*", " "), word


def test_docs_quote_the_stored_network_size_run():
    # docs/experiments.md section 2 quotes the stored full run: its verdict sentences and gain table
    # are what the stored per-seed values give, and network_size.md is what the command writes
    from pathlib import Path

    ns = experiments.network_size
    root = Path(__file__).resolve().parents[1]
    r = experiments.ExperimentResult.from_json(str(root / "docs" / "figures" / "network_size.json"))
    assert len(r.settings["seeds"]) >= 10 and r.settings["rhos"] == [0.0, 1.0] and not r.settings["fast"]
    for d in r.paired:
        row = r.get(ns.condition("multi_minus_single", d.key["labelled"], d.key["rho"]), "mean",
                    d.key["metric"], d.key["width"])
        assert d.mean == pytest.approx(row.mean, abs=1e-12) and d.n == row.n
        again = stats.paired_difference(d.differences, np.zeros(d.n))
        assert (again.low, again.high, again.verdict) == pytest.approx((d.low, d.high, d.verdict))
    doc = (root / "docs" / "experiments.md").read_text()
    section = doc.split("## 2. ")[1].split("\n## ")[0]
    for block in (ns.claims_markdown(r), ns.gain_markdown(r)):
        assert block in section
    assert (root / "docs" / "figures" / "network_size.md").read_text() == ns.markdown(r) + "\n"
    words = {d.verdict for d in r.paired if d.key["metric"] == "accuracy"} | \
        {d.verdict for d in ns.width_changes(r)}
    prose = section.replace(ns.claims_markdown(r), "")
    for word in ("helps", "hurts"):
        if word not in words:
            assert f" {word} " not in prose.replace("\"", " ").replace("*", " "), word


def test_docs_runtime_table_quotes_the_stored_timings():
    # docs/experiments.md "Runtime of the full setting" quotes docs/figures/timings_all.json: one
    # `all` run of every experiment's default setting, within the 45-minute budget on 2 cores
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    t = json.loads((root / "docs" / "figures" / "timings_all.json").read_text())
    assert set(t["seconds"]) == set(experiments.EXPERIMENTS) and not t["fast"] and t["cpus"] == 2
    assert t["total"] < 45 * 60
    section = (root / "docs" / "experiments.md").read_text().split("## Runtime of the full setting")[1]
    section = section.split("\n## ")[0]
    assert f"**{t['total']:.0f} ({t['total'] / 60:.1f} min)**" in section
    for name, seconds in t["seconds"].items():
        assert any(line.startswith(f"| {name}") and line.rstrip().endswith(f"| {seconds:.0f} |")
                   for line in section.splitlines()), name


def test_docs_prose_numbers_come_from_the_stored_runs():
    # every three-decimal number in the prose of sections 1-7 of docs/experiments.md (tables and the
    # pasted verdict lines aside) is one the stored runs print: in a NAME.md the command wrote from
    # docs/figures/NAME.json, or in the relatedness summary tables; ln 2 is the one constant quoted
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    figures = root / "docs" / "figures"
    printed = "".join(p.read_text() for p in sorted(figures.glob("*.md")))
    rel = experiments.ExperimentResult.from_json(str(figures / "relatedness.json"))
    printed += experiments.relatedness.summary_markdown(rel) + experiments.relatedness.growth_markdown(rel)
    number = re.compile(r"(?<![\w.])[+\-−]?\d\.\d{3}(?!\d)")
    known = {n.replace("−", "-").lstrip("+-") for n in number.findall(printed)} | {"0.693"}
    doc = (root / "docs" / "experiments.md").read_text()
    missing = {}
    for head in ("1. ", "2. ", "3. ", "4. ", "5. ", "6. ", "7. "):
        section = doc.split("\n## " + head)[1].split("\n## ")[0]
        prose = [line for line in section.splitlines() if not line.startswith("|") and line not in printed]
        bad = [n for line in prose for n in number.findall(line) if n.replace("−", "-").lstrip("+-") not in known]
        if bad:
            missing[head] = bad
    assert not missing, missing
