"""Tests of mtl_numpy.datasets: synthetic street scenes and the digits tasks."""
import sys

import numpy as np
import pytest

from mtl_numpy.datasets import (
    DIGITS_TASKS,
    DrivingScenes,
    TaskDataset,
    digits_tasks,
    driving_scenes,
)

TASKS = ("pedestrian", "car", "stop_sign", "traffic_light")


@pytest.fixture(scope="module")
def big():
    """4,000 scenes, 30% of the labels hidden: enough for rates within +-0.03."""
    return driving_scenes(m=4000, image_size=32, missing=0.3, seed=0)


# --------------------------------------------------------------------------- #
# driving_scenes: shapes, dtypes, values
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("m, size", [(1, 16), (7, 32), (3, 48)])
def test_shapes_and_dtypes(m, size):
    data = driving_scenes(m=m, image_size=size, missing=0.3, seed=1)
    assert isinstance(data, DrivingScenes) and isinstance(data, TaskDataset)
    assert data.X.shape == (m, size, size, 3) and data.X.dtype == np.float32
    assert data.Y.shape == (4, m) and data.Y.dtype == np.float64
    assert data.Y_true.shape == (4, m) and data.Y_true.dtype == np.float64
    assert data.tasks == TASKS
    assert data.m == len(data) == m and data.n_tasks == 4
    flat = data.flat()
    assert flat.shape == (size * size * 3, m) and flat.dtype == np.float32
    assert flat.flags.c_contiguous


def test_tasks_match_labels_module():
    labels = pytest.importorskip("mtl_numpy.labels")
    assert driving_scenes(m=2).tasks == labels.TASKS


def test_values_in_unit_interval(big):
    assert np.isfinite(big.X).all()
    assert big.X.min() >= 0.0 and big.X.max() <= 1.0
    # Not degenerate: the images use most of the range.
    assert big.X.min() < 0.05 and big.X.max() > 0.95
    assert set(np.unique(big.Y_true)) == {0.0, 1.0}


def test_each_task_has_both_classes_about_half(big):
    rate = big.Y_true.mean(axis=1)
    assert np.all((rate > 0.45) & (rate < 0.55)), rate


def test_tasks_are_independent(big):
    # Presence is drawn independently per task: correlations near 0.
    corr = np.corrcoef(big.Y_true)
    off_diagonal = corr[~np.eye(4, dtype=bool)]
    assert np.abs(off_diagonal).max() < 0.06


# --------------------------------------------------------------------------- #
# Determinism
# --------------------------------------------------------------------------- #
def test_same_seed_same_arrays():
    a = driving_scenes(m=20, seed=5)
    b = driving_scenes(m=20, seed=5)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.Y, b.Y)  # nan == nan for assert_array_equal
    np.testing.assert_array_equal(a.Y_true, b.Y_true)


def test_different_seed_different_arrays():
    a = driving_scenes(m=20, seed=5)
    b = driving_scenes(m=20, seed=6)
    assert not np.array_equal(a.X, b.X)
    assert not np.array_equal(a.Y_true, b.Y_true)


def test_images_do_not_depend_on_missing():
    a = driving_scenes(m=20, missing=0.0, seed=2)
    b = driving_scenes(m=20, missing=(0.1, 0.5, 0.9, 1.0), seed=2)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.Y_true, b.Y_true)


def test_seed_none_runs():
    data = driving_scenes(m=3, seed=None)
    assert data.X.shape == (3, 32, 32, 3)


# --------------------------------------------------------------------------- #
# Missing labels
# --------------------------------------------------------------------------- #
def test_missing_rate_is_honoured(big):
    frac = np.isnan(big.Y).mean(axis=1)
    assert np.all(np.abs(frac - 0.3) <= 0.03), frac


def test_per_task_missing_rates():
    data = driving_scenes(m=2000, image_size=16, missing=(0, 0, 0, 0.99), seed=3)
    frac = np.isnan(data.Y).mean(axis=1)
    assert frac[:3].tolist() == [0.0, 0.0, 0.0]
    assert 0.97 <= frac[3] < 1.0


def test_missing_zero_gives_no_nan():
    data = driving_scenes(m=200, missing=0, seed=4)
    assert not np.isnan(data.Y).any()
    np.testing.assert_array_equal(data.Y, data.Y_true)


def test_missing_one_hides_everything():
    data = driving_scenes(m=50, missing=1.0, seed=4)
    assert np.isnan(data.Y).all()


def test_known_labels_equal_truth(big):
    known = ~np.isnan(big.Y)
    np.testing.assert_array_equal(big.Y[known], big.Y_true[known])
    assert np.isin(big.Y[known], [0.0, 1.0]).all()


# --------------------------------------------------------------------------- #
# Bad arguments
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(m=0), "m"),
        (dict(m=-3), "m"),
        (dict(m=2.5), "m"),
        (dict(m=True), "m"),
        (dict(m=10, image_size=4), "image_size"),
        (dict(m=10, image_size=32.0), "image_size"),
        (dict(m=10, missing=1.5), "missing"),
        (dict(m=10, missing=-0.1), "missing"),
        (dict(m=10, missing=float("nan")), "missing"),
        (dict(m=10, missing="0.3"), "missing"),
        (dict(m=10, missing=(0.1, 0.2, 0.3)), "missing"),
        (dict(m=10, missing=(0.1, 0.2, 0.3, 0.4, 0.5)), "missing"),
        (dict(m=10, missing=(0.1, 0.2, 0.3, 2.0)), "missing"),
        (dict(m=10, seed=1.5), "seed"),
        (dict(m=10, seed="0"), "seed"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name} must be") as info:
        driving_scenes(**kwargs)
    # The message repeats the value it got.
    assert repr(kwargs[name]) in str(info.value)


# --------------------------------------------------------------------------- #
# Dataset methods
# --------------------------------------------------------------------------- #
def test_flat_column_is_ravelled_example():
    data = driving_scenes(m=6, image_size=20, seed=7)
    flat = data.flat()
    for i in range(data.m):
        np.testing.assert_array_equal(flat[:, i], data.X[i].ravel())
    np.testing.assert_array_equal(flat, data.X.reshape(data.m, -1).T)


def test_flat_is_a_copy():
    data = driving_scenes(m=1, seed=7)  # m = 1: the transpose is contiguous already
    flat = data.flat()
    flat[:] = -1.0
    assert data.X.min() >= 0.0


def test_split_first_and_last():
    data = driving_scenes(m=10, missing=0.5, seed=8)
    train, test = data.split(3)
    assert (train.m, test.m) == (7, 3)
    assert isinstance(train, DrivingScenes) and train.tasks == data.tasks
    np.testing.assert_array_equal(train.X, data.X[:7])
    np.testing.assert_array_equal(test.X, data.X[7:])
    np.testing.assert_array_equal(train.Y, data.Y[:, :7])
    np.testing.assert_array_equal(test.Y_true, data.Y_true[:, 7:])


@pytest.mark.parametrize("n_test", [0, 10, 11, -1, 2.5])
def test_split_bad_n_test(n_test):
    data = driving_scenes(m=10, seed=8)
    with pytest.raises(ValueError, match="n_test"):
        data.split(n_test)


def test_subset_and_hide_labels():
    data = driving_scenes(m=12, missing=0.0, seed=9)
    sub = data.subset(np.array([3, 1]))
    np.testing.assert_array_equal(sub.X, data.X[[3, 1]])
    np.testing.assert_array_equal(sub.Y_true, data.Y_true[:, [3, 1]])
    hidden = data.hide_labels((0, 0, 0, 1))
    np.testing.assert_array_equal(hidden.X, data.X)
    assert not np.isnan(hidden.Y[:3]).any() and np.isnan(hidden.Y[3]).all()
    assert not np.isnan(data.Y).any()  # the original is untouched


def test_repr_is_short():
    text = repr(driving_scenes(m=5, seed=0))
    assert text.startswith("DrivingScenes(m=5") and len(text) < 300


# --------------------------------------------------------------------------- #
# The tasks are not solvable from the mean colour
# --------------------------------------------------------------------------- #
def test_mean_colour_does_not_solve_the_tasks():
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    data = driving_scenes(m=3000, image_size=32, missing=0.0, seed=11)
    train, test = data.split(1000)

    def features(d):
        mean_rgb = d.X.mean(axis=(1, 2))  # (m, 3)
        return np.column_stack([mean_rgb, mean_rgb**2, d.X.std(axis=(1, 2))])

    for k, task in enumerate(data.tasks):
        clf = sklearn_lm.LogisticRegression(max_iter=1000)
        clf.fit(features(train), train.Y_true[k])
        accuracy = clf.score(features(test), test.Y_true[k])
        # Chance is about 0.5; these statistics give 0.55-0.66 (seeds 11-13), while an
        # MLP on the pixels reaches 0.73-0.89 per task with 20,000 scenes.
        assert accuracy < 0.72, f"{task}: colour statistics alone give accuracy {accuracy:.3f}"


# --------------------------------------------------------------------------- #
# digits_tasks
# --------------------------------------------------------------------------- #
def test_digits_tasks_shapes_and_labels():
    pytest.importorskip("sklearn")
    data = digits_tasks()
    m = data.m
    assert data.tasks == DIGITS_TASKS == ("even", "greater_equal_5", "prime", "closed_loop")
    assert data.X.shape == (m, 8, 8, 1) and m == 1797
    assert data.X.min() >= 0.0 and data.X.max() <= 1.0 and data.X.max() == 1.0
    assert data.flat().shape == (64, m)
    assert data.digits.shape == (m,)
    d = data.digits
    np.testing.assert_array_equal(data.Y_true[0], d % 2 == 0)
    np.testing.assert_array_equal(data.Y_true[1], d >= 5)
    np.testing.assert_array_equal(data.Y_true[2], np.isin(d, [2, 3, 5, 7]))
    np.testing.assert_array_equal(data.Y_true[3], np.isin(d, [0, 4, 6, 8, 9]))
    assert not np.isnan(data.Y).any()  # missing=0.0 by default


def test_digits_tasks_pixels_are_sklearn_over_16():
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = datasets.load_digits()
    data = digits_tasks()
    np.testing.assert_allclose(data.X[..., 0], bunch.images / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(data.digits, bunch.target)


def test_digits_tasks_missing_and_split():
    pytest.importorskip("sklearn")
    data = digits_tasks(seed=1, missing=(0.0, 0.5, 0.0, 1.0))
    frac = np.isnan(data.Y).mean(axis=1)
    assert frac[0] == 0.0 and frac[2] == 0.0 and frac[3] == 1.0
    assert abs(frac[1] - 0.5) < 0.05
    known = ~np.isnan(data.Y)
    np.testing.assert_array_equal(data.Y[known], data.Y_true[known])
    train, test = data.split(300)
    np.testing.assert_array_equal(test.digits, data.digits[-300:])
    assert train.m == data.m - 300
    with pytest.raises(ValueError, match="missing"):
        digits_tasks(missing=2)


def test_digits_tasks_without_sklearn(monkeypatch):
    # A None entry in sys.modules makes `import sklearn.datasets` raise ImportError.
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'mtl-numpy\[data\]'"):
        digits_tasks()


# --------------------------------------------------------------------------- #
# Second wave: relatedness, label_correlation, missing_mechanism
# --------------------------------------------------------------------------- #
# sha256 of X, Y, Y_true (bytes, in that order) as the generator gave them before the three
# arguments existed: computed from /work/baseline (the untouched old main, commit 3c179b1)
# with `driving_scenes(**kwargs)`.
LEGACY_SHA256 = [
    (dict(m=64), "f3d12c1d21f585de7b264a80111931b85e574a46e0b30849b9cd953f6fe40e3a"),
    (dict(m=50, image_size=16, missing=0.5, seed=3),
     "7d48586278237147e0e23a78d4ab7f02c47733992a8d397f4deed66b127aa60b"),
    (dict(m=10, image_size=48, missing=(0, 0.1, 0.5, 1.0), seed=7),
     "dd3fc4c66c72ca9a54f86754a2e368b3a3fbe770b0f59f69cc710fecb579de95"),
]


def _sha256(data):
    import hashlib

    h = hashlib.sha256()
    for a in (data.X, data.Y, data.Y_true):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("kwargs, digest", LEGACY_SHA256)
def test_defaults_give_the_legacy_scenes_bit_for_bit(kwargs, digest):
    assert _sha256(driving_scenes(**kwargs)) == digest
    explicit = dict(kwargs, relatedness=None, label_correlation=0.0, missing_mechanism="random")
    assert _sha256(driving_scenes(**explicit)) == digest


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(relatedness=1.5), "relatedness"),
        (dict(relatedness=-0.1), "relatedness"),
        (dict(relatedness=float("nan")), "relatedness"),
        (dict(relatedness="0.5"), "relatedness"),
        (dict(relatedness=True), "relatedness"),
        (dict(label_correlation=1.01), "label_correlation"),
        (dict(label_correlation=None), "label_correlation"),
        (dict(label_correlation=-1), "label_correlation"),
        (dict(missing_mechanism="mnar"), "missing_mechanism"),
        (dict(missing_mechanism=None), "missing_mechanism"),
        (dict(missing_mechanism=0), "missing_mechanism"),
    ],
)
def test_second_wave_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name} must be") as info:
        driving_scenes(m=5, image_size=16, **kwargs)
    assert repr(kwargs[name]) in str(info.value)


@pytest.mark.parametrize("relatedness", [None, 0.0, 0.5, 1.0])
def test_relatedness_scenes_shapes_values_and_determinism(relatedness):
    a = driving_scenes(m=30, image_size=16, missing=0.3, seed=8, relatedness=relatedness)
    b = driving_scenes(m=30, image_size=16, missing=0.3, seed=8, relatedness=relatedness)
    assert isinstance(a, DrivingScenes) and a.X.shape == (30, 16, 16, 3) and a.X.dtype == np.float32
    assert a.X.min() >= 0.0 and a.X.max() <= 1.0
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.Y, b.Y)


def test_relatedness_changes_the_images_not_the_labels():
    legacy = driving_scenes(m=40, image_size=16, seed=9)
    parts = driving_scenes(m=40, image_size=16, seed=9, relatedness=0.0)
    np.testing.assert_array_equal(legacy.Y_true, parts.Y_true)
    assert not np.array_equal(legacy.X, parts.X)


@pytest.mark.parametrize("c", [0.0, 0.3, 0.7])
def test_label_correlation_is_the_pairwise_correlation(c):
    data = driving_scenes(m=6000, image_size=16, missing=0.0, seed=12, label_correlation=c)
    rate = data.Y_true.mean(axis=1)
    assert np.all(np.abs(rate - 0.5) < 0.03), rate
    corr = np.corrcoef(data.Y_true)[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(corr - c) < 0.05), (c, corr)


def test_label_correlation_one_puts_all_objects_together():
    data = driving_scenes(m=200, image_size=16, missing=0.0, seed=1, label_correlation=1.0)
    assert (data.Y_true == data.Y_true[0]).all()
    assert 0.3 < data.Y_true[0].mean() < 0.7


@pytest.mark.parametrize("missing", [0.1, 0.3, 0.5])
def test_absent_skipped_hides_only_absent_objects_up_to_half(missing):
    data = driving_scenes(m=4000, image_size=16, missing=missing, seed=13,
                          missing_mechanism="absent_skipped")
    hidden = np.isnan(data.Y)
    assert not hidden[data.Y_true == 1.0].any()
    assert np.all(np.abs(hidden.mean(axis=1) - missing) < 0.03), hidden.mean(axis=1)
    # Not at random: the known labels over-represent present objects.
    known = ~hidden
    assert np.all(np.nanmean(data.Y, axis=1) > 0.5 + missing / 2 - 0.05)
    np.testing.assert_array_equal(data.Y[known], data.Y_true[known])


def test_absent_skipped_above_half_hides_every_absent_and_some_present():
    data = driving_scenes(m=4000, image_size=16, missing=0.8, seed=14,
                          missing_mechanism="absent_skipped")
    hidden = np.isnan(data.Y)
    assert hidden[data.Y_true == 0.0].all()
    present_hidden = hidden[data.Y_true == 1.0].mean()
    assert abs(present_hidden - 0.6) < 0.03  # (0.8 - 0.5) / 0.5
    assert abs(hidden.mean() - 0.8) < 0.02


def test_missing_mechanism_does_not_change_images_or_truth():
    a = driving_scenes(m=20, image_size=16, missing=0.4, seed=15)
    b = driving_scenes(m=20, image_size=16, missing=0.4, seed=15, missing_mechanism="absent_skipped")
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.Y_true, b.Y_true)
    assert not np.array_equal(np.isnan(a.Y), np.isnan(b.Y))


def test_per_task_missing_rates_with_absent_skipped():
    data = driving_scenes(m=3000, image_size=16, missing=(0.0, 0.2, 0.5, 1.0), seed=16,
                          missing_mechanism="absent_skipped")
    frac = np.isnan(data.Y).mean(axis=1)
    assert frac[0] == 0.0 and frac[3] == 1.0
    assert abs(frac[1] - 0.2) < 0.03 and abs(frac[2] - 0.5) < 0.03
