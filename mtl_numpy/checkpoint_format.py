"""The checkpoint file format: ``.npz`` written atomically, read without pickle.

A checkpoint holds each parameter array under its name (``W1``, ``b1``, ...),
plus ``__config__`` (the architecture as a JSON string) and ``__format__``.
Writing goes to a temporary file in the same folder, flushed and fsync'ed, then
``os.replace``-d over the target: a crash mid-write leaves the previous
checkpoint intact. Reading uses ``allow_pickle=False``.

This module knows files and arrays, not models: :mod:`mtl_numpy.models` (``model.save``,
``model.load_weights``) and :mod:`mtl_numpy.io` (``load_model``) both build on it, so the
arrows run ``io -> models -> checkpoint_format`` and never back.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["FORMAT", "write_checkpoint", "read_checkpoint", "check_arrays_match"]

FORMAT = "mtl-numpy-checkpoint-v1"


def write_checkpoint(path, arrays, config):
    """Write host ``arrays`` (a dict of name to ndarray) and ``config`` to ``path``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` suffix is added if missing; the folder must exist.
    arrays : dict of str to ndarray
        NumPy arrays (copy device arrays to the host first).
    config : dict
        JSON-able architecture record, stored as ``__config__``.

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
    payload = dict(arrays)
    payload["__config__"] = np.array(json.dumps(config))
    payload["__format__"] = np.array(FORMAT)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_checkpoint(path, require_format=True):
    """Read a checkpoint: ``(config, arrays)``.

    ``require_format=False`` also accepts an ``.npz`` without the ``__format__`` record
    (``model.load_weights`` reads any file of named parameter arrays).

    Returns
    -------
    config : dict or None
        The architecture record; None when the file has none.
    arrays : dict of str to ndarray
        Every other array of the file, by name.

    Raises
    ------
    ValueError
        If the file is missing, corrupted, truncated, needs pickle, is not an
        mtl-numpy checkpoint, or its architecture record is not valid JSON.
    """
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
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise ValueError(
            f"checkpoint {path!r} is not a readable .npz file (corrupted or truncated?): {exc}"
        ) from None
    except ValueError as exc:  # e.g. an object array, which would need pickle
        raise ValueError(f"checkpoint {path!r} cannot be loaded without pickle: {exc}") from None
    found = str(arrays.pop("__format__")) if "__format__" in arrays else None
    if require_format and found != FORMAT:
        raise ValueError(f"checkpoint {path!r} is not an mtl-numpy checkpoint ({FORMAT})")
    config = None
    if "__config__" in arrays:
        try:
            config = json.loads(str(arrays.pop("__config__")))
        except (json.JSONDecodeError, TypeError) as exc:
            if require_format:
                raise ValueError(f"checkpoint {path!r} has no valid architecture record: {exc}") from None
    return config, arrays


def check_arrays_match(expected, arrays, source, architecture):
    """Raise a ValueError unless ``arrays`` has exactly the names and shapes of ``expected``.

    Parameters
    ----------
    expected : dict of str to tuple
        Parameter name to shape.
    arrays : dict of str to ndarray
        Host arrays to check: same names, same shapes, finite floats.
    source : str
        Where the arrays come from, for the message (``"params"``, ``"checkpoint 'a.npz'"``).
    architecture : str
        The model they are meant for, for the message.
    """
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ValueError(
            f"{source} does not match the architecture {architecture}: missing {missing}, unexpected {extra}"
        )
    for key, shape in expected.items():
        got = tuple(arrays[key].shape)
        if got != shape:
            raise ValueError(
                f"{source}: {key} has shape {got}; the architecture expects {shape}"
            )
        if arrays[key].dtype.kind != "f" or not np.isfinite(arrays[key]).all():
            raise ValueError(f"{source}: {key} must hold finite floats")
