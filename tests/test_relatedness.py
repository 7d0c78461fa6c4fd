"""The relatedness dial of the driving scenes, and the probe that measures it (fast setting)."""
import itertools
import json
import math

import numpy as np
import pytest

from mtl_numpy import experiments
from mtl_numpy.datasets import driving
from mtl_numpy.datasets.driving import (
    CLUTTER_PARTS,
    PART_COLOURS,
    PART_MATERIALS,
    PRIVATE_PARTS,
    SHARED_PARTS,
    driving_scenes,
)
from mtl_numpy.experiments import relatedness

TASKS = ("pedestrian", "car", "stop_sign", "traffic_light")


# --------------------------------------------------------------------------- #
# The vocabularies
# --------------------------------------------------------------------------- #
def test_vocabularies_partition_the_materials():
    everything = np.concatenate([SHARED_PARTS, PRIVATE_PARTS.ravel(), CLUTTER_PARTS])
    assert sorted(everything.tolist()) == list(range(len(PART_MATERIALS)))
    assert len(PART_MATERIALS) == 45 and SHARED_PARTS.shape == (3,) and PRIVATE_PARTS.shape == (4, 3)
    # no two materials alike
    assert len({tuple(m) for m in PART_MATERIALS.tolist()}) == 45


@pytest.mark.parametrize("v", range(5))
def test_each_vocabulary_uses_every_colour_once_and_every_pattern_once(v):
    vocabulary = SHARED_PARTS if v == 0 else PRIVATE_PARTS[v - 1]
    a, b, pattern = PART_MATERIALS[vocabulary].T
    assert sorted(np.concatenate([a, b]).tolist()) == list(range(len(PART_COLOURS)))
    assert sorted(pattern.tolist()) == [0, 1, 2]


def test_only_the_conjunction_tells_a_vocabulary_from_clutter():
    # Every colour pair of a vocabulary material also occurs in clutter, with the other
    # two patterns; so a colour detector or an orientation detector alone cannot tell.
    vocab = np.concatenate([SHARED_PARTS, PRIVATE_PARTS.ravel()])
    pairs_vocab = {tuple(PART_MATERIALS[i, :2]) for i in vocab}
    assert len(pairs_vocab) == 15  # no two vocabulary materials share a colour pair
    for i in vocab:
        a, b, p = PART_MATERIALS[i]
        clutter_patterns = {q for (x, y, q) in PART_MATERIALS[CLUTTER_PARTS].tolist() if (x, y) == (a, b)}
        assert clutter_patterns == {0, 1, 2} - {p}


def test_paint_material_draws_the_two_colours_in_the_pattern():
    g = driving._Grid.square(16)
    fields = driving._pattern_fields(g)
    rng = np.random.default_rng(0)
    for material in (SHARED_PARTS[0], PRIVATE_PARTS[2, 1], CLUTTER_PARTS[7]):
        a, b, pattern = PART_MATERIALS[material]
        layer = np.zeros((3, 1, g.H * g.W), dtype=np.float32)
        mask = np.ones((1, g.H * g.W), dtype=bool)
        driving._paint_material(rng, layer, mask, np.array([material]), fields)
        image = layer[:, 0].T.reshape(16, 16, 3)
        on = fields[pattern].reshape(16, 16)
        if np.abs(image[on][0] - PART_COLOURS[a]).max() > 0.05:  # the other phase
            on = ~on
        first, second = image[on], image[~on]
        assert first.shape[0] == second.shape[0] == 128  # every pattern is half and half
        np.testing.assert_allclose(first, np.broadcast_to(PART_COLOURS[a], first.shape), atol=0.05)
        np.testing.assert_allclose(second, np.broadcast_to(PART_COLOURS[b], second.shape), atol=0.05)


# --------------------------------------------------------------------------- #
# The dial: which materials the objects are made of
# --------------------------------------------------------------------------- #
def _materials(rho, m=600, seed=0):
    """Materials of each object's components over ``m`` scenes: list of 4 int arrays (whether
    the object is present or not: every scene draws all four). Recorded from the generator's
    own choice, ``driving._choose_materials``, while ``driving_scenes`` runs."""
    per_task = [[] for _ in TASKS]
    choose = driving._choose_materials

    def recording(rng, n, n_components, k, relatedness):
        material = choose(rng, n, n_components, k, relatedness)
        per_task[k].append(material.ravel())
        return material

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(driving, "_choose_materials", recording)
        driving_scenes(m, image_size=16, missing=0.0, seed=seed, relatedness=rho)
    return [np.concatenate(x) for x in per_task]


def test_rho_zero_objects_share_no_material():
    used = _materials(0.0)
    for k, materials in enumerate(used):
        assert set(materials.tolist()) == set(PRIVATE_PARTS[k].tolist())
    for k, l in itertools.combinations(range(4), 2):
        assert not set(used[k].tolist()) & set(used[l].tolist())


def test_rho_one_objects_are_made_of_the_same_materials():
    used = _materials(1.0)
    for materials in used:
        assert set(materials.tolist()) == set(SHARED_PARTS.tolist())
    # and in the same proportions (uniform over the shared vocabulary), within sampling error
    for materials in used:
        counts = np.bincount(materials, minlength=len(PART_MATERIALS))[SHARED_PARTS] / materials.size
        assert np.abs(counts - 1 / 3).max() < 0.05, counts


@pytest.mark.parametrize("rho", [0.25, 0.5, 0.8])
def test_intermediate_rho_is_the_fraction_of_shared_components(rho):
    for k, materials in enumerate(_materials(rho, m=800)):
        shared = np.isin(materials, SHARED_PARTS)
        assert np.isin(materials[~shared], PRIVATE_PARTS[k]).all()
        assert abs(shared.mean() - rho) < 0.05, (k, shared.mean())


@pytest.mark.parametrize("rho", [0.0, 0.5, 1.0])
def test_decoys_never_wear_their_own_objects_materials(rho):
    rng = np.random.default_rng(1)
    for k in range(4):
        materials = driving._decoy_materials(rng, 2000, 3, k, rho)
        assert not np.isin(materials, PRIVATE_PARTS[k]).any()
        assert not np.isin(materials, SHARED_PARTS).any()
        in_clutter = np.isin(materials, CLUTTER_PARTS).mean()
        assert abs(in_clutter - rho) < 0.03


def test_the_dial_changes_only_the_materials():
    # Same seed: same labels and the same geometry, so the very same pixels are covered by
    # something other than background; the images differ (the materials) but not Y_true.
    a = driving_scenes(200, image_size=16, missing=0.3, seed=4, relatedness=0.0)
    b = driving_scenes(200, image_size=16, missing=0.3, seed=4, relatedness=1.0)
    np.testing.assert_array_equal(a.Y_true, b.Y_true)
    np.testing.assert_array_equal(a.Y, b.Y)
    assert not np.array_equal(a.X, b.X)
    for d in (a, b):
        assert d.X.dtype == np.float32 and d.X.min() >= 0.0 and d.X.max() <= 1.0


def test_parts_scenes_use_the_part_colours_inside_objects():
    # With relatedness set, saturated part colours cover a good share of the image (objects,
    # decoys and patches); the original scenes have far fewer such pixels.
    def saturated_share(d):
        x = d.X.reshape(-1, 3)
        return np.mean((x.max(axis=1) - x.min(axis=1)) > 0.55)

    parts = driving_scenes(300, image_size=16, missing=0.0, seed=2, relatedness=0.5)
    legacy = driving_scenes(300, image_size=16, missing=0.0, seed=2)
    assert saturated_share(parts) > 2 * saturated_share(legacy)


# --------------------------------------------------------------------------- #
# The probe, fast setting
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def result():
    return experiments.run("relatedness", fast=True, progress=False)


def test_probe_table_structure(result):
    assert result.name == "relatedness" and result.param_name == "rho"
    assert set(result.conditions) == set(relatedness.CONDITIONS)
    assert result.params == [0.0, 1.0]
    n_seeds = len(result.settings["seeds"])
    assert n_seeds == 2
    assert set(result.metrics) == {"accuracy", "average_precision"}
    for cond in relatedness.CONDITIONS:
        tasks = set(TASKS) | ({"mean"} if cond == "gain_off_diagonal" else set())
        assert {r.task for r in result.select(condition=cond)} == tasks, cond
        for rho in result.params:
            for metric in result.metrics:
                assert len(result.select(cond, None, metric, rho)) == len(tasks)
    for row in result.rows:
        assert row.n == n_seeds, row
        assert math.isfinite(row.mean) and math.isfinite(row.std) and row.std >= 0, row
        lo = -1.0 if row.condition.startswith("gain") else 0.0
        assert lo <= row.mean <= 1.0, row


def test_gain_rows_are_the_paired_differences(result):
    for rho in result.params:
        for target in TASKS:
            random_trunk = result.get("random_trunk", target, "accuracy", rho).mean
            for source in TASKS:
                trunk = result.get(f"trunk_{source}", target, "accuracy", rho).mean
                gain = result.get(f"gain_{source}", target, "accuracy", rho).mean
                assert gain == pytest.approx(trunk - random_trunk, abs=1e-12)
        G = relatedness.gain_matrix(result, rho)
        off = ~np.eye(4, dtype=bool)
        mean = result.get("gain_off_diagonal", "mean", "accuracy", rho).mean
        assert mean == pytest.approx(G[off].mean(), abs=1e-12)


def test_probe_notes_hold_per_seed_gains(result):
    notes = result.notes["off_diagonal_gain"]
    for metric in ("accuracy", "average_precision"):
        for rho in result.params:
            entry = notes[metric][f"{rho:g}"]
            assert len(entry["per_seed"]) == 2
            assert entry["mean"] == pytest.approx(np.mean(entry["per_seed"]))
            row = result.get("gain_off_diagonal", "mean", metric, rho)
            assert entry["mean"] == pytest.approx(row.mean) and entry["std"] == pytest.approx(row.std)
            assert entry["ci95"] >= 0
    # and survive a JSON round trip
    again = experiments.ExperimentResult.from_json(result.to_json())
    assert json.loads(again.to_json()) == json.loads(result.to_json())


def test_train_head_keeps_the_trunk_frozen():
    data = driving_scenes(120, image_size=16, missing=0.0, seed=3, relatedness=1.0)
    rng = np.random.default_rng(0)
    trunk = {k: rng.standard_normal(shape).astype(np.float32)
             for k, shape in (("W1", (3, 3, 3, 4)), ("b1", (1, 1, 1, 4)), ("W2", (3, 3, 4, 8)),
                              ("b2", (1, 1, 1, 8)))}
    kw = dict(image_size=16, width=4, seed=0, backend="numpy", epochs=2)
    model = relatedness.train_head(trunk, data.X[:80], data.Y_true[1:2, :80],
                                   (data.X[80:], data.Y_true[1:2, 80:]), **kw)
    for k in relatedness.TRUNK:
        np.testing.assert_array_equal(model.params[k], trunk[k])
    fresh = experiments.common.scene_cnn(16, 4, 1, 1, "numpy")
    assert not np.array_equal(model.params["W3"], fresh.params["W3"])
    # the baseline: the network's own random trunk, also frozen
    baseline = relatedness.train_head(None, data.X[:80], data.Y_true[1:2, :80],
                                      (data.X[80:], data.Y_true[1:2, 80:]), **kw)
    for k in relatedness.TRUNK:
        np.testing.assert_array_equal(baseline.params[k], fresh.params[k])


def test_probe_figures(result, tmp_path):
    pytest.importorskip("matplotlib")
    path = experiments.plot(result, tmp_path / "relatedness.png")
    assert (tmp_path / "relatedness.png").stat().st_size > 1000 and str(path).endswith(".png")
    relatedness.plot_scenes(tmp_path / "scenes.png", rhos=(0.0, 1.0), n=2, sizes=(16,))
    assert (tmp_path / "scenes.png").stat().st_size > 1000


def test_summary_markdown_quotes_the_notes(result):
    text = relatedness.summary_markdown(result)
    lines = text.splitlines()
    assert len(lines) == 2 + len(result.params)
    for line, rho in zip(lines[2:], result.params):
        mean = result.notes["off_diagonal_gain"]["accuracy"][f"{rho:g}"]["mean"]
        assert line.startswith(f"| {rho:g} | {mean:+.3f} ± ")


def test_docs_quote_the_stored_probe():
    # docs/experiments.md prints the headline table of docs/figures/relatedness.json verbatim.
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    stored = root / "docs" / "figures" / "relatedness.json"
    docs = root / "docs" / "experiments.md"
    if not stored.exists() or not docs.exists():
        pytest.skip("docs/ not in this checkout")
    result = experiments.ExperimentResult.from_json(str(stored))
    text = docs.read_text()
    assert relatedness.summary_markdown(result) in text
    assert relatedness.growth_markdown(result) in text


def test_growth_markdown_pairs_the_seeds(result):
    lines = relatedness.growth_markdown(result).splitlines()
    assert len(lines) == 3  # two rho values: one pair
    per_seed = result.notes["off_diagonal_gain"]["accuracy"]
    d = np.array(per_seed["1"]["per_seed"]) - np.array(per_seed["0"]["per_seed"])
    assert lines[2].startswith(f"| 0 | 1 | {d.mean():+.3f} ± {d.std(ddof=1):.3f} |")
