"""Datasets for multi-task learning: images with several yes/no labels, some '?'.

* :func:`driving_scenes` — synthetic street scenes for the lecture's four tasks
  (pedestrian, car, stop sign, traffic light), drawn procedurally with NumPy.
* :func:`digits_tasks` — real data: scikit-learn's bundled 8x8 handwritten
  digits as four yes/no tasks that share features (needs scikit-learn).

Both return a :class:`TaskDataset`: ``X`` (m, n_H, n_W, n_C) in [0, 1],
``Y`` (n_tasks, m) with ``nan`` for '?', the full truth ``Y_true``, the task
names ``tasks``, and ``flat()`` giving X as (n_x, m) for the MLP.
"""
from .digits import DIGITS_TASKS, DigitsTasks, digits_tasks
from .driving import TASKS, DrivingScenes, TaskDataset, driving_scenes

__all__ = [
    "TASKS",
    "DIGITS_TASKS",
    "TaskDataset",
    "DrivingScenes",
    "DigitsTasks",
    "driving_scenes",
    "digits_tasks",
]
