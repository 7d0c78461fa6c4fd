"""Checkpoints: round trip, atomic writes, no pickle, and clear errors for bad files."""
import os
import zipfile

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy import checkpoint_format
from mtl_numpy import io as mtl_io


@pytest.fixture(params=["mlp", "cnn"])
def model(request):
    if request.param == "mlp":
        return mtl.SharedMLP([6, 5, 4], seed=1, normalize="labels")
    return mtl.SharedCNN(input_shape=(8, 8, 3), conv_channels=(2,), hidden=(5,), n_tasks=4, seed=1)


def inputs_for(model, rng):
    if isinstance(model, mtl.SharedMLP):
        return rng.normal(size=(6, 7))
    return rng.random((7, 8, 8, 3))


def test_round_trip_gives_identical_predictions(model, tmp_path, rng):
    X = inputs_for(model, rng)
    model.params["b1"] += 0.25  # not just the initial values
    path = model.save(tmp_path / "model.npz")
    loaded = mtl.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.config() == model.config()
    for k in model.params:
        np.testing.assert_array_equal(loaded.params[k], model.params[k])
        assert loaded.params[k].dtype == model.params[k].dtype
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_suffix_is_added(tmp_path):
    path = mtl.SharedMLP([2, 1]).save(tmp_path / "ckpt")
    assert path.endswith("ckpt.npz") and os.path.exists(path)


def test_interrupted_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = mtl.SharedMLP([4, 3, 2], seed=1)
    old.save(path)
    before = path.read_bytes()
    new = mtl.SharedMLP([4, 3, 2], seed=2)

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("power cut mid-write")

    monkeypatch.setattr(checkpoint_format.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        new.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temp file left behind
    monkeypatch.undo()
    np.testing.assert_array_equal(mtl.load_model(path).params["W1"], old.params["W1"])


def test_loading_never_unpickles(tmp_path, monkeypatch):
    path = mtl.SharedMLP([3, 2]).save(tmp_path / "m.npz")
    calls = []
    from mtl_numpy import safe_npz

    real_read = safe_npz.npy_format.read_array

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle"))
        return real_read(*args, **kwargs)

    monkeypatch.setattr(safe_npz.npy_format, "read_array", spy)
    mtl.load_model(path)
    assert calls and set(calls) == {False}    # every array read with allow_pickle=False
    # a file that needs pickle (an object array) is refused
    evil = tmp_path / "evil.npz"
    np.savez(evil, W1=np.array([object()], dtype=object), __format__=np.array(mtl_io.FORMAT))
    with pytest.raises(ValueError, match="pickle"):
        mtl.load_model(evil)


def test_corrupted_checkpoint(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"this is not a zip file at all")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        mtl.load_model(path)


def test_truncated_checkpoint(tmp_path):
    path = mtl.SharedMLP([30, 20, 4]).save(tmp_path / "m.npz")
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupted or truncated"):
        mtl.load_model(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        mtl.load_model(tmp_path / "nope.npz")


def test_not_an_mtl_checkpoint(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ValueError, match="not an mtl-numpy checkpoint"):
        mtl.load_model(path)


def test_checkpoint_whose_arrays_do_not_match_its_architecture(tmp_path):
    path = mtl.SharedMLP([4, 3, 2]).save(tmp_path / "m.npz")
    with np.load(path) as data:
        arrays = dict(data)
    arrays["W1"] = np.zeros((3, 5), dtype=np.float32)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"W1 has shape \(3, 5\); the architecture expects \(3, 4\)"):
        mtl.load_model(path)


def test_weights_from_a_different_architecture(tmp_path):
    path = mtl.SharedMLP([4, 3, 2]).save(tmp_path / "m.npz")
    other = mtl.SharedMLP([4, 8, 2])
    with pytest.raises(ValueError, match=r"W1 has shape \(3, 4\); the architecture expects \(8, 4\)"):
        other.load_weights(path)
    cnn = mtl.SharedCNN(input_shape=(8, 8, 3), conv_channels=(2,), hidden=(), n_tasks=2)
    with pytest.raises(ValueError, match=r"W1 has shape \(3, 4\); the architecture expects \(3, 3, 3, 2\)"):
        cnn.load_weights(path)
    deeper = mtl.SharedMLP([4, 3, 3, 2])
    with pytest.raises(ValueError, match=r"does not match the architecture.*missing \['W3', 'b3'\]"):
        deeper.load_weights(path)
    same = mtl.SharedMLP([4, 3, 2], seed=5)
    same.load_weights(path)
    np.testing.assert_array_equal(same.params["W1"], mtl.load_model(path).params["W1"])


def test_checkpoint_is_a_plain_zip_of_npy_files(tmp_path):
    path = mtl.SharedMLP([3, 2]).save(tmp_path / "m.npz")
    names = zipfile.ZipFile(path).namelist()
    assert sorted(names) == ["W1.npy", "__config__.npy", "__format__.npy", "b1.npy"]
