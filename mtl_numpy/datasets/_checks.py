"""Argument checks and label hiding shared by the datasets (driving scenes, digits)."""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["validate_missing", "validate_seed", "hide_entries"]


def validate_missing(missing, n_tasks: int) -> np.ndarray:
    """Return the per-task missing rates as a float64 array of shape (n_tasks,)."""
    expected = f"a float in [0, 1] or a tuple of {n_tasks} such floats (one per task)"

    def ok(value):
        return (
            isinstance(value, numbers.Real)
            and not isinstance(value, bool)
            and not math.isnan(value)
            and 0.0 <= value <= 1.0
        )

    if isinstance(missing, np.ndarray) and missing.ndim == 0:
        missing = missing.item()
    if isinstance(missing, (tuple, list, np.ndarray)):
        values = list(missing)
        if len(values) != n_tasks or not all(ok(v) for v in values):
            raise ValueError(f"missing must be {expected}; got {missing!r}")
        return np.array(values, dtype=np.float64)
    if not ok(missing):
        raise ValueError(f"missing must be {expected}; got {missing!r}")
    return np.full(n_tasks, float(missing))


def validate_seed(seed) -> None:
    """Raise a ValueError unless ``seed`` is an int or None."""
    if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)):
        raise ValueError(f"seed must be an int or None; got {seed!r}")


def hide_entries(Y_true: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """``Y_true`` with ``nan`` where ``hidden`` is True; both of shape (n_tasks, m)."""
    return np.where(hidden, np.nan, Y_true)
