"""Checkpoints of whole models: save one, load one back without knowing its class.

The file format (``.npz``, written atomically, read without pickle, an architecture
record beside the arrays) is :mod:`mtl_numpy.checkpoint_format`'s; this module adds
what needs the model classes: rebuilding the right model from the record and checking
every array against it before any parameter is set. ``io`` imports ``models``, never
the reverse (``model.save`` and ``model.load_weights`` use the format module directly).
"""
from __future__ import annotations

import os

from .checkpoint_format import FORMAT, check_arrays_match, read_checkpoint
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
    source = f"checkpoint {os.fspath(path)!r}"
    config, arrays = read_checkpoint(path)
    try:
        cls = MODEL_CLASSES[config["model"]]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{source} has no valid architecture record: {exc}") from None
    try:
        model = cls.from_config(config, backend=backend)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{source} has an incomplete architecture record: {exc}") from None
    model.set_params(arrays, source=source)
    return model


def check_params_match(model, arrays, source="params"):
    """Raise a ValueError unless ``arrays`` has exactly ``model``'s parameter names and shapes."""
    expected = {key: tuple(value.shape) for key, value in model.params.items()}
    check_arrays_match(expected, arrays, source, repr(model))


def load_weights(model, path):
    """Copy the parameters of a checkpoint into an existing ``model`` (same architecture).

    Raises a ValueError when the checkpoint was saved from a different architecture.
    """
    return model.load_weights(path)
