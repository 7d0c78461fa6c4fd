"""Checks for the tutorials' graded exercises, in the course's style.

A tutorial asks the learner to complete a function between ``### START CODE HERE ###`` and
``### END CODE HERE ###``; the cell after it calls the exercise's check, e.g.
``exercises.check_linear_forward(linear_forward)``. The check runs the function on fixed inputs,
compares it with the package's own code (the reference answer) and returns a :class:`CheckResult`
that shows as one line: ``✓`` with what is right, ``✗`` with what is wrong (a wrong shape, the
first wrong entry, a gradient-check difference per parameter, a likely mistake by name), or
``…`` "not done yet" for a stub still unfilled. It never raises because of the learner's code,
so a notebook with unfilled stubs runs top to bottom. The same checks run from a script::

    from mtl_numpy import exercises
    print(exercises.check_relu_backward(my_relu_backward))

:data:`EXERCISES` lists every exercise with its notebook and what its check verifies.
"""
from __future__ import annotations

import inspect
from pathlib import Path

from ._check import EXERCISES, CheckResult, Exercise
from .conv_pool import (check_conv_forward, check_conv_single_step, check_create_mask_from_window,
                        check_im2col, check_pool_backward)
from .cost import check_masked_cost_grad, check_masked_cost_loops, check_masked_cost_vectorized
from .network import (check_linear_backward, check_linear_forward, check_relu_backward,
                      check_two_task_backward, check_two_task_forward, two_task_inputs)
from .training import check_adam_step, check_random_mini_batches
from .weighting import (check_gradient_cosine, check_mgda_two_tasks, check_pcgrad_project,
                        check_uncertainty_cost, cosine_inputs)

__all__ = [
    "EXERCISES", "CheckResult", "Exercise", "show_source", "two_task_inputs", "cosine_inputs",
    "check_masked_cost_loops", "check_masked_cost_vectorized", "check_masked_cost_grad",
    "check_linear_forward", "check_linear_backward", "check_relu_backward",
    "check_two_task_forward", "check_two_task_backward",
    "check_random_mini_batches", "check_adam_step",
    "check_conv_single_step", "check_conv_forward", "check_create_mask_from_window",
    "check_pool_backward", "check_im2col",
    "check_gradient_cosine", "check_pcgrad_project", "check_mgda_two_tasks", "check_uncertainty_cost",
]

# In the order of the tutorials (stable: within a notebook, the order the exercises come in).
_ordered = sorted(EXERCISES.items(), key=lambda item: item[1].notebook)
EXERCISES.clear()
EXERCISES.update(_ordered)
del _ordered

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def show_source(obj):
    """Print where ``obj`` (a function or class of the package) is defined and its source code:
    the package's own answer, to hold next to the learner's."""
    path = Path(inspect.getsourcefile(obj)).resolve()
    lines, first = inspect.getsourcelines(obj)
    try:
        where = path.relative_to(_PACKAGE_ROOT)
    except ValueError:
        where = path
    print(f"# {where}, line {first}")
    print("".join(lines), end="")
