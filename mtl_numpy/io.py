"""Checkpoints: ``.npz`` files, written atomically, read without pickle.

A checkpoint holds each parameter array under its name (``W1``, ``b1``, ...),
plus ``__config__`` (the architecture as a JSON string) and ``__format__``.
Writing goes to a temporary file in the same folder, flushed and fsync'ed, then
``os.replace``-d over the target: a crash mid-write leaves the previous
checkpoint intact. Reading uses ``allow_pickle=False`` and checks every array
against the architecture before building the model.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from .backends import to_numpy

__all__ = ["save_model", "load_model", "FORMAT"]

FORMAT = "mtl-numpy-checkpoint-v1"


def save_model(model, path):
    """Save ``model`` to ``path`` (a ``.npz`` file; the suffix is added if missing).

    Returns
    -------
    str
        The path written.
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"path must be in an existing folder; {folder!r} does not exist")
    arrays = {key: to_numpy(value) for key, value in model.params.items()}
    arrays["__config__"] = np.array(json.dumps(model.config()))
    arrays["__format__"] = np.array(FORMAT)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _read(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"checkpoint {path!r} does not exist")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        raise ValueError(
            f"checkpoint {path!r} is not a readable .npz file (corrupted or truncated?): "
            f"it does not start like a zip archive"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise ValueError(
            f"checkpoint {path!r} is not a readable .npz file (corrupted or truncated?): {exc}"
        ) from None
    except ValueError as exc:  # e.g. an object array, which would need pickle
        raise ValueError(f"checkpoint {path!r} cannot be loaded without pickle: {exc}") from None


def load_model(path, backend="numpy"):
    """Load a model saved with :func:`save_model` / ``model.save``.

    Parameters
    ----------
    path : str or os.PathLike
    backend : str, default "numpy"
        Backend for the loaded model.

    Raises
    ------
    ValueError
        If the file is missing, corrupted, truncated, not an mtl-numpy
        checkpoint, or its arrays do not match its architecture.
    """
    from .models import MODEL_CLASSES

    data = _read(path)
    if "__format__" not in data or str(data["__format__"]) != FORMAT:
        raise ValueError(f"checkpoint {os.fspath(path)!r} is not an mtl-numpy checkpoint ({FORMAT})")
    try:
        config = json.loads(str(data.pop("__config__")))
        cls = MODEL_CLASSES[config["model"]]
    except (KeyError, json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"checkpoint {os.fspath(path)!r} has no valid architecture record: {exc}") from None
    data.pop("__format__")
    try:
        model = cls.from_config(config, backend=backend)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"checkpoint {os.fspath(path)!r} has an incomplete architecture record: {exc}") from None
    check_params_match(model, data, source=f"checkpoint {os.fspath(path)!r}")
    model._set_params(data)
    return model


def check_params_match(model, arrays, source="params"):
    """Raise a ValueError unless ``arrays`` has exactly ``model``'s parameter names and shapes."""
    expected = {key: tuple(value.shape) for key, value in model.params.items()}
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ValueError(
            f"{source} does not match the architecture {model!r}: missing {missing}, unexpected {extra}"
        )
    for key, shape in expected.items():
        got = tuple(arrays[key].shape)
        if got != shape:
            raise ValueError(
                f"{source}: {key} has shape {got}; the architecture expects {shape}"
            )
        if arrays[key].dtype.kind != "f" or not np.isfinite(arrays[key]).all():
            raise ValueError(f"{source}: {key} must hold finite floats")


def load_weights(model, path):
    """Copy the parameters of a checkpoint into an existing ``model`` (same architecture).

    Raises a ValueError when the checkpoint was saved from a different architecture.
    """
    data = _read(path)
    data.pop("__config__", None)
    data.pop("__format__", None)
    check_params_match(model, data, source=f"checkpoint {os.fspath(path)!r}")
    model._set_params(data)
    return model
