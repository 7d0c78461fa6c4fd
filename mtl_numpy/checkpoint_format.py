"""The checkpoint file format: ``.npz`` written atomically, read without pickle.

A checkpoint holds each parameter array under its name (``W1``, ``b1``, ...),
plus ``__config__`` (the architecture as a JSON string) and ``__format__``.
Writing goes to a temporary file in the same folder, flushed and fsync'ed, then
``os.replace``-d over the target: a crash mid-write leaves the previous
checkpoint intact (:func:`mtl_numpy.safe_npz.write_npz_atomic`; the file's mode follows
the umask). Reading does bounded work before it trusts anything
(:class:`mtl_numpy.safe_npz.NpzArchive`): only regular files, the zip directory and every
``.npy`` header checked against a size limit and against the architecture record before
any array is read, never pickle, and every failure one ``ValueError`` naming the file.

This module knows files and arrays, not models: :mod:`mtl_numpy.models` (``model.save``,
``model.load_weights``) and :mod:`mtl_numpy.io` (``load_model``) both build on it, so the
arrows run ``io -> models -> checkpoint_format -> safe_npz`` and never back.
"""
from __future__ import annotations

import json
import os

import numpy as np

from .safe_npz import DEFAULT_MAX_BYTES, NpzArchive, write_npz_atomic

__all__ = ["FORMAT", "write_checkpoint", "read_checkpoint", "check_arrays_match", "MAX_CONFIG_CHARS",
           "DEFAULT_MAX_BYTES"]

FORMAT = "mtl-numpy-checkpoint-v1"


#: Longest architecture record read (characters of JSON); a real one is a few hundred.
MAX_CONFIG_CHARS = 1 << 16


def write_checkpoint(path, arrays, config):
    """Write host ``arrays`` (a dict of name to ndarray) and ``config`` to ``path``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` suffix is added if missing (any case: ``model.NPZ`` stays as it is); the
        folder must exist.
    arrays : dict of str to ndarray
        NumPy arrays (copy device arrays to the host first); every value must be finite.
    config : dict
        JSON-able architecture record, stored as ``__config__``.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ValueError
        If the folder does not exist, or an array holds nan or inf (such a checkpoint could
        not be loaded back: refusing it at save time tells you while the run is still here).
    """
    path = os.fspath(path)
    if not path.lower().endswith(".npz"):
        path += ".npz"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"path must be in an existing folder; {folder!r} does not exist")
    for key, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind != "f" or not np.isfinite(value).all():
            bad = int(value.size - np.isfinite(value).sum()) if value.dtype.kind == "f" else value.size
            raise ValueError(
                f"{key} holds {bad} non-finite value(s) (nan or inf); refusing to write {path!r}: "
                "a checkpoint of a diverged model could not be loaded back"
            )
    payload = dict(arrays)
    payload["__config__"] = np.array(json.dumps(config))
    payload["__format__"] = np.array(FORMAT)
    return write_npz_atomic(path, payload)


def _read_text(npz, name, limit):
    """A small string member (``__format__``, ``__config__``), its header checked first."""
    member = npz.members[name]
    if member.shape != () or member.dtype.kind not in "US" or member.nbytes > 4 * limit:
        raise ValueError(f"checkpoint {npz.path!r}: {name} must be a short string; got "
                         f"shape {member.shape}, dtype {member.dtype}")
    return str(npz.read(name))


def read_checkpoint(path, require_format=True, *, max_bytes=DEFAULT_MAX_BYTES, expected=None):
    """Read a checkpoint: ``(config, arrays)``, with bounded work before trust.

    The file is opened and checked by :class:`mtl_numpy.safe_npz.NpzArchive` (a regular file,
    its zip directory and every ``.npy`` header within ``max_bytes``); then the architecture
    record is parsed, and -- with ``expected`` -- every array's name, shape and dtype in the
    headers is compared with what the architecture needs, all before any array is read.

    Parameters
    ----------
    path : str or os.PathLike
    require_format : bool, default True
        ``False`` also accepts an ``.npz`` without the ``__format__`` record
        (``model.load_weights`` reads any file of named parameter arrays).
    max_bytes : int, default :data:`mtl_numpy.safe_npz.DEFAULT_MAX_BYTES` (2 GiB)
        Largest file, and largest sum of array sizes, that will be read.
    expected : callable, optional
        ``expected(config) -> {name: shape}``, the parameters the architecture needs,
        computed without allocating them; it may raise ValueError for a bad record.

    Returns
    -------
    config : dict or None
        The architecture record; None when the file has none.
    arrays : dict of str to ndarray
        Every other array of the file, by name.

    Raises
    ------
    ValueError
        If the file is missing, not a regular file, over the size limit, corrupted,
        truncated, needs pickle, is not an mtl-numpy checkpoint, its architecture record is
        not valid, or its arrays do not match it.
    """
    path = os.fspath(path)
    source = f"checkpoint {path!r}"
    with NpzArchive(path, max_bytes=max_bytes, what="checkpoint") as npz:
        found = _read_text(npz, "__format__", 256) if "__format__" in npz.members else None
        if require_format and found != FORMAT:
            raise ValueError(f"{source} is not an mtl-numpy checkpoint ({FORMAT})")
        config = None
        if "__config__" in npz.members:
            try:
                text = _read_text(npz, "__config__", MAX_CONFIG_CHARS)
                if len(text) > MAX_CONFIG_CHARS:
                    raise ValueError(f"longer than {MAX_CONFIG_CHARS} characters")
                config = json.loads(text)
                if not isinstance(config, dict):
                    raise ValueError(f"expected a JSON object; got {type(config).__name__}")
            except (ValueError, RecursionError, TypeError) as exc:
                if require_format:
                    raise ValueError(f"{source} has no valid architecture record: {exc}") from None
                config = None
        names = [name for name in npz.members if name not in ("__format__", "__config__")]
        if expected is not None:
            shapes = expected(config)
            declared = {name: npz.members[name].shape for name in names}
            _check_names_and_shapes(shapes, declared, source, "it records")
            for name in shapes:
                if npz.members[name].dtype.kind != "f":
                    raise ValueError(f"{source}: {name} must hold floats; got dtype "
                                     f"{npz.members[name].dtype}")
        arrays = {name: npz.read(name) for name in names}
    return config, arrays


def _check_names_and_shapes(expected, shapes, source, architecture):
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    if missing or extra:
        raise ValueError(
            f"{source} does not match the architecture {architecture}: missing {missing}, unexpected {extra}"
        )
    for key, shape in expected.items():
        got = tuple(shapes[key])
        if got != tuple(shape):
            raise ValueError(
                f"{source}: {key} has shape {got}; the architecture expects {tuple(shape)}"
            )


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
    _check_names_and_shapes(expected, {k: v.shape for k, v in arrays.items()}, source, architecture)
    for key in expected:
        if arrays[key].dtype.kind != "f" or not np.isfinite(arrays[key]).all():
            raise ValueError(f"{source}: {key} must hold finite floats")
