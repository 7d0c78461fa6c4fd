"""Checkpoints of whole models: save one, load one back without knowing its class.

The file format (``.npz``, written atomically, read without pickle, an architecture
record beside the arrays) is :mod:`mtl_numpy.checkpoint_format`'s; this module adds
what needs the model classes: rebuilding the right model from the record and checking
every array against it before any parameter is set. ``io`` imports ``models``, never
the reverse (``model.save`` and ``model.load_weights`` use the format module directly).
"""
from __future__ import annotations

import os

from .checkpoint_format import DEFAULT_MAX_BYTES, FORMAT, check_arrays_match, read_checkpoint
from .models import MODEL_CLASSES

__all__ = ["save_model", "load_model", "load_weights", "check_params_match", "FORMAT"]


def save_model(model, path):
    """Save ``model`` to ``path`` (a ``.npz`` file; the suffix is added if missing).

    Returns
    -------
    str
        The path written.
    """
    return model.save(path)


def load_model(path, backend="numpy", max_bytes=DEFAULT_MAX_BYTES):
    """Load a model saved with :func:`save_model` / ``model.save``.

    Bounded work before trust: only a regular file is opened (never blocking on a FIFO or a
    device); its zip directory and every array's ``.npy`` header are read first and checked
    against ``max_bytes`` and against the architecture record -- the model's parameter
    *shapes* are worked out from the record without allocating them -- before any array is
    decompressed or any parameter allocated.

    Parameters
    ----------
    path : str or os.PathLike
    backend : str, default "numpy"
        Backend for the loaded model.
    max_bytes : int, default 2 GiB (:data:`mtl_numpy.safe_npz.DEFAULT_MAX_BYTES`)
        Largest file, and largest sum of its arrays' sizes, that will be read. Raise it for
        a model bigger than that, from a file you trust.

    Raises
    ------
    ValueError
        If the file is missing, not a regular file, over the limit, corrupted,
        truncated, not an mtl-numpy checkpoint, its architecture record is not valid,
        or its arrays do not match it -- always one ValueError naming the file.
    """
    source = f"checkpoint {os.fspath(path)!r}"
    built = {}

    def architecture(config):
        try:
            cls = MODEL_CLASSES[config["model"]]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{source} has no valid architecture record: {exc!r}") from None
        try:
            built["model"] = cls.from_config(config, backend=backend, allocate=False)
        except (KeyError, TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"{source} has an invalid architecture record: {exc}") from None
        return built["model"].param_shapes()

    _, arrays = read_checkpoint(path, max_bytes=max_bytes, expected=architecture)
    model = built["model"]
    model.set_params(arrays, source=source)
    return model


def check_params_match(model, arrays, source="params"):
    """Raise a ValueError unless ``arrays`` has exactly ``model``'s parameter names and shapes."""
    check_arrays_match(model.param_shapes(), arrays, source, repr(model))


def load_weights(model, path, max_bytes=DEFAULT_MAX_BYTES):
    """Copy the parameters of a checkpoint into an existing ``model`` (same architecture).

    Raises a ValueError when the checkpoint was saved from a different architecture.
    """
    return model.load_weights(path, max_bytes=max_bytes)
