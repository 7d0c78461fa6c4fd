"""Label matrices with '?' entries: encoding, the mask, and the one validation.

The lecture stacks the label vectors ``y(i)`` (one 0/1 entry per task) into a
matrix ``Y`` of shape ``(n_tasks, m)``; an entry nobody labelled is a '?'. We
store a '?' as ``nan`` so that ``Y`` stays a plain float array, and we never let
that ``nan`` reach arithmetic: every consumer builds the mask with
:func:`label_mask` and selects with ``where``.
"""
from __future__ import annotations

import math
from numbers import Number

import numpy as np

from .arrays import get_array_module

__all__ = ["TASKS", "encode_labels", "label_mask", "known_labels", "validate_labels", "unmask_labels"]

#: The lecture's four questions about one image, in the row order of ``Y``.
TASKS = ("pedestrian", "car", "stop_sign", "traffic_light")

_UNKNOWN_STRINGS = {"?"}


def _encode_one(value, row, col):
    """Map one raw label to 0.0, 1.0 or nan, or raise a ValueError naming it."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        if value.strip() in _UNKNOWN_STRINGS:
            return math.nan
        raise ValueError(
            f"labels[{row}][{col}] is the string {value!r}; expected 0, 1, '?', None or nan"
        )
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (Number, np.number)):
        v = float(value)
        if math.isnan(v):
            return math.nan
        if v in (0.0, 1.0):
            return v
    raise ValueError(
        f"labels[{row}][{col}] is {value!r}; expected 0, 1, '?', None or nan"
    )


def encode_labels(labels, dtype="float64"):
    r"""Turn a task-by-example table of labels into the float matrix ``Y``.

    Parameters
    ----------
    labels : sequence of sequences, or array-like, shape (n_tasks, m)
        Rows are tasks, columns are examples. Each entry is 0 or 1 (as an int,
        bool or float), or '?' / ``None`` / ``nan`` for "not labelled".
    dtype : str or numpy dtype, default "float64"
        A floating dtype for the result.

    Returns
    -------
    Y : ndarray of shape (n_tasks, m)
        ``0.0`` / ``1.0`` for known labels and ``nan`` for '?'.

    Examples
    --------
    >>> encode_labels([[1, 0, "?"], [None, 1, 0]])
    array([[ 1.,  0., nan],
           [nan,  1.,  0.]])
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating dtype; got {dtype}")
    if isinstance(labels, np.ma.MaskedArray):
        labels = unmask_labels(labels, name="labels")
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "biuf":
        arr = labels
        if arr.ndim != 2:
            raise ValueError(
                f"labels must be 2-D (n_tasks, m), rows = tasks; got shape {arr.shape}"
            )
        Y = arr.astype(dtype, copy=True)
        validate_labels(Y, name="labels")
        return Y
    rows = list(labels) if not isinstance(labels, (str, bytes)) else None
    if rows is None or len(rows) == 0:
        raise ValueError(
            "labels must be a non-empty 2-D table (n_tasks, m), rows = tasks; "
            f"got {labels!r}"
        )
    table = []
    for r, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
            raise ValueError(
                f"labels must be 2-D (n_tasks, m), rows = tasks; row {r} is {row!r}, "
                "not a sequence"
            )
        table.append([_encode_one(v, r, c) for c, v in enumerate(row)])
    lengths = {len(row) for row in table}
    if len(lengths) != 1:
        raise ValueError(
            f"every row of labels must have the same length m; got row lengths "
            f"{[len(row) for row in table]}"
        )
    if lengths == {0}:
        raise ValueError("labels has no columns (m = 0); expected at least one example")
    return np.array(table, dtype=dtype)


def unmask_labels(Y, name="Y"):
    """A NumPy masked array's masked entries become '?' (``nan``); other arrays pass through.

    A masked array's mask says "no value here", which is what '?' means: honouring it is the
    only reading that does not score a masked label as whatever number sits under the mask.
    """
    if not isinstance(Y, np.ma.MaskedArray):
        return Y
    data = np.asarray(Y.data)
    if data.dtype.kind not in "biuf":
        raise ValueError(f"{name} is a masked array of dtype {data.dtype}; expected numbers 0 and 1")
    out = data.astype(data.dtype if data.dtype.kind == "f" else np.float64)
    out[np.ma.getmaskarray(Y)] = np.nan
    return out


def label_mask(Y):
    r"""Return ``M``: 1.0 where ``Y`` holds a label (0 or 1), 0.0 where it is '?'.

    Parameters
    ----------
    Y : ndarray of shape (n_tasks, m)
        Labels with ``nan`` for '?'. NumPy or CuPy.

    Returns
    -------
    M : ndarray of shape (n_tasks, m), same float dtype and array module as ``Y``
        (float64 for integer or bool ``Y``)

    Raises
    ------
    ValueError
        As :func:`validate_labels`: ``Y`` must be 2-D and hold only 0, 1 and ``nan``.

    Notes
    -----
    This is the only place the mask is defined:

    .. math:: M_{j,i} = \begin{cases} 1 & y_j^{(i)} \in \{0, 1\} \\ 0 & y_j^{(i)} = \,? \end{cases}
    """
    Y = validate_labels(Y)
    return known_labels(Y).astype(Y.dtype)


def known_labels(Y):
    r"""The boolean twin of :func:`label_mask`: True where ``Y`` holds a label, False at '?'.

    Parameters
    ----------
    Y : ndarray of shape (n_tasks, m)
        Labels with ``nan`` for '?'. NumPy or CuPy.

    Returns
    -------
    known : bool ndarray of shape (n_tasks, m), same array module as ``Y``

    Use it to *select* (``where=known``, ``Y[:, known[t]]``, ``known.sum()``); use
    :func:`label_mask` where the lecture multiplies by :math:`M`. Both are the one definition of
    the mask: a label is known exactly when it is not ``nan``.
    """
    xp = get_array_module(Y)
    return ~xp.isnan(xp.asarray(Y))


def validate_labels(Y, n_tasks=None, m=None, name="Y"):
    """Check that ``Y`` is a (n_tasks, m) float matrix of 0, 1 and nan.

    Returns ``Y`` as a floating array (integers and bools are converted, never
    modified in place). Raises a ValueError naming the first offending entry. A NumPy masked
    array's masked entries are read as '?' (see :func:`unmask_labels`).
    """
    Y = unmask_labels(Y, name=name)
    xp = get_array_module(Y)
    if not hasattr(Y, "shape"):
        try:
            Y = np.asarray(Y, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must be an array of 0, 1 and nan of shape (n_tasks, m); "
                f"got {type(Y).__name__}. Use mtl.encode_labels for tables with '?'."
            ) from None
        xp = np
    if Y.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n_tasks, m), rows = tasks; got shape {tuple(Y.shape)}"
        )
    expected = (n_tasks if n_tasks is not None else "n_tasks", m if m is not None else "m")
    if (n_tasks is not None and Y.shape[0] != n_tasks) or (m is not None and Y.shape[1] != m):
        hint = ""
        if n_tasks is not None and m is not None and tuple(Y.shape) == (m, n_tasks):
            hint = " (it looks transposed: rows must be tasks, columns examples; pass Y.T)"
        raise ValueError(
            f"{name} must have shape (n_tasks, m) = ({expected[0]}, {expected[1]}); "
            f"got {tuple(Y.shape)}{hint}"
        )
    if Y.shape[1] == 0:
        raise ValueError(f"{name} has no columns (m = 0); expected at least one example")
    if Y.dtype.kind in "biu":
        Y = Y.astype(np.float64)
    elif Y.dtype.kind != "f":
        raise ValueError(
            f"{name} must hold numbers 0, 1 or nan; got dtype {Y.dtype}. "
            "Use mtl.encode_labels to turn '?' / None into nan."
        )
    bad = ~(xp.isnan(Y) | (Y == 0) | (Y == 1))
    if bool(bad.any()):
        j, i = (int(v) for v in xp.argwhere(bad)[0])
        value = float(Y[j, i])
        raise ValueError(
            f"{name}[{j}, {i}] = {value!r}; labels must be 0, 1 or nan (for '?')"
        )
    return Y
