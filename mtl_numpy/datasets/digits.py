"""Real data for multi-task learning: handwritten digits as four yes/no tasks.

scikit-learn ships a small set of 1,797 handwritten digits (8x8 grey images,
pixel values 0..16) inside the package, so no download is needed. We ask four
questions about each digit, and they share low-level features (strokes, loops,
curves), which is the situation where the lecture says one multi-task network
should beat four separate ones:

=================== ============================ =====================
task                question                     digits answering yes
=================== ============================ =====================
``even``            is the digit even?           0, 2, 4, 6, 8
``greater_equal_5`` is the digit 5 or more?      5, 6, 7, 8, 9
``prime``           is the digit a prime?        2, 3, 5, 7
``closed_loop``     does it contain a loop?      0, 4, 6, 8, 9
=================== ============================ =====================

``closed_loop`` is a property of the digit class, not of each drawing: 0, 6,
8 and 9 have loops, and so does a 4 with a closed top (the printed form, which
we count as closed); 1, 2, 3, 5 and 7 are open strokes. Some hand-written 4s are
open at the top: for them the label says "loop" where the drawing has none,
a small taste of the label noise real data sets carry.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from ._checks import hide_entries, validate_missing, validate_seed
from .driving import TaskDataset

__all__ = ["DIGITS_TASKS", "DigitsTasks", "digits_tasks"]

#: Task names of :func:`digits_tasks`, in the row order of ``Y``.
DIGITS_TASKS = ("even", "greater_equal_5", "prime", "closed_loop")

# For each task, the digit classes whose answer is "yes".
_YES = {
    "even": (0, 2, 4, 6, 8),
    "greater_equal_5": (5, 6, 7, 8, 9),
    "prime": (2, 3, 5, 7),
    "closed_loop": (0, 4, 6, 8, 9),
}


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class DigitsTasks(TaskDataset):
    """Digits returned by :func:`digits_tasks`; see :class:`TaskDataset`.

    Attributes
    ----------
    digits : ndarray of shape (m,), int64
        The class (0-9) of each image, from which all four labels derive.
    """

    digits: np.ndarray

    _example_axis: ClassVar[dict] = {"X": 0, "Y": 1, "Y_true": 1, "digits": 0}


def digits_tasks(seed=0, missing=0.0) -> DigitsTasks:
    """scikit-learn's 8x8 handwritten digits as four yes/no tasks.

    Parameters
    ----------
    seed : int or None, default 0
        Seed of ``np.random.default_rng`` used to pick the hidden labels. The
        images keep scikit-learn's order (classes are interleaved, so
        ``split`` gives balanced parts).
    missing : float or tuple of 4 floats, default 0.0
        Probability, in [0, 1], that a label is hidden ('?', stored as ``nan``):
        one rate for every task or one per task in the order of ``tasks``.

    Returns
    -------
    data : DigitsTasks
        ``data.X`` : ndarray of shape (1797, 8, 8, 1), float32, pixel values / 16 in [0, 1];
        ``data.Y`` : ndarray of shape (4, 1797), float64, 0/1 or ``nan`` for '?';
        ``data.Y_true`` : ndarray of shape (4, 1797), float64, the full 0/1 truth;
        ``data.tasks`` : ``("even", "greater_equal_5", "prime", "closed_loop")``;
        ``data.digits`` : ndarray of shape (1797,), the digit classes 0-9;
        ``data.flat()`` : ndarray of shape (64, 1797), float32.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    ValueError
        If ``missing`` or ``seed`` is invalid.
    """
    rates = validate_missing(missing, len(DIGITS_TASKS))
    validate_seed(seed)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        message = "digits_tasks needs scikit-learn: pip install 'mtl-numpy[data]'"
        raise ImportError(message) from None

    bunch = load_digits()
    digits = np.asarray(bunch.target, dtype=np.int64)  # (m,)
    X = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0))[..., None]  # (m, 8, 8, 1)
    Y_true = np.stack(
        [np.isin(digits, _YES[task]) for task in DIGITS_TASKS]
    ).astype(np.float64)  # (4, m)

    rng = np.random.default_rng(seed)
    hidden = rng.random(Y_true.shape) < rates[:, None]
    return DigitsTasks(
        X=np.ascontiguousarray(X),
        Y=hide_entries(Y_true, hidden),
        Y_true=Y_true,
        tasks=DIGITS_TASKS,
        digits=digits,
    )
