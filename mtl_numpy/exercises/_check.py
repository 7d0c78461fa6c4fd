"""What every exercise check shares: run the learner's function, compare, report in one line.

A check never raises because of the learner's code: an unfilled stub (``NotImplementedError``, or
a function that returns ``None``) is reported as "not done yet", a wrong answer or an exception
as a failure that says what is wrong (the shape, the first wrong entry, the likely mistake) and
what the expected output is. That way a notebook with unfilled stubs still runs top to bottom.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["CheckResult", "Exercise", "EXERCISES", "Mismatch", "NotDone", "PASSED", "FAILED", "NOT_DONE"]

PASSED, FAILED, NOT_DONE = "passed", "failed", "not done"
_SYMBOLS = {PASSED: "✓", FAILED: "✗", NOT_DONE: "…"}
_NOT_DONE_MESSAGE = ("not done yet: fill in the code between ### START CODE HERE ### and "
                     "### END CODE HERE ###, run that cell, then this one")


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: its name (the learner's function), its notebook, what it checks."""

    name: str
    notebook: str
    checks: str
    check: Callable


#: Every exercise, in the order of the tutorials: ``{name: Exercise}``.
EXERCISES: dict = {}


def exercise(notebook, checks):
    """Register ``check_<name>`` as the check of exercise ``<name>`` in ``notebook``."""
    def register(check):
        name = check.__name__[len("check_"):]
        EXERCISES[name] = Exercise(name=name, notebook=notebook, checks=checks, check=check)
        return check
    return register


class Mismatch(Exception):
    """The learner's answer is wrong; the message says where and how."""


class NotDone(Exception):
    """The learner's function returned ``None`` (a stub left as it was)."""


class CheckResult:
    """The outcome of one check. ``bool(result)`` is True when it passed; printing it (or leaving
    it as a cell's last value) shows ``✓``, ``✗`` or ``…``, the exercise's name, what is right or
    wrong, and the expected output."""

    def __init__(self, name, status, message, expected=""):
        self.name, self.status, self.message, self.expected = name, status, message, expected

    @property
    def passed(self):
        return self.status == PASSED

    def __bool__(self):
        return self.passed

    def __str__(self):
        text = f"{_SYMBOLS[self.status]} {self.name}: {self.message}"
        if self.expected:
            text += f"\n  expected output: {self.expected}"
        return text

    __repr__ = __str__


def run(name, trial, expected=""):
    """Run ``trial()`` (which calls the learner's code and compares) and turn what happens into a
    :class:`CheckResult`; ``trial`` returns a one-line summary of a correct answer."""
    try:
        summary = trial()
    except NotImplementedError:
        return CheckResult(name, NOT_DONE, _NOT_DONE_MESSAGE, expected)
    except NotDone as err:
        return CheckResult(name, NOT_DONE, f"not done yet: {err}", expected)
    except Mismatch as err:
        return CheckResult(name, FAILED, str(err), expected)
    except Exception as err:  # the learner's code crashed: say where, do not stop the notebook
        frames = traceback.extract_tb(err.__traceback__)
        where = f" (line {frames[-1].lineno}: {frames[-1].line})" if frames else ""
        return CheckResult(name, FAILED, f"your code raised {type(err).__name__}: {err}{where}", expected)
    return CheckResult(name, PASSED, summary or "correct", expected)


def returned(value, what):
    """``value``, or :class:`NotDone` if the learner's function returned ``None`` (or a None inside
    a returned tuple, as the course's ``Z = None`` stubs do)."""
    if value is None or (isinstance(value, tuple) and any(v is None for v in value)):
        raise NotDone(f"{what} returned None")
    return value


def _index(idx):
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def expect_array(what, got, expected, *, rtol=1e-7, atol=1e-10, case="", mistakes=None):
    """Raise :class:`Mismatch` unless ``got`` has ``expected``'s shape and values.

    ``mistakes`` maps a description of a likely mistake to the array that mistake produces; when
    ``got`` equals one of them the message names it.
    """
    suffix = f" ({case})" if case else ""
    if got is None:
        raise NotDone(f"{what} is None")
    if not hasattr(got, "shape"):
        raise Mismatch(f"{what} should be an array of shape {expected.shape}; got {type(got).__name__}{suffix}")
    got = np.asarray(got)
    if got.shape != expected.shape:
        raise Mismatch(f"{what} has shape {got.shape}; expected {expected.shape}{suffix}")
    close = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return
    for description, candidate in (mistakes or {}).items():
        if candidate.shape == got.shape and np.allclose(got, candidate, rtol=rtol, atol=atol, equal_nan=True):
            raise Mismatch(f"{what} is wrong{suffix}: it equals {description}")
    idx = tuple(np.argwhere(~close)[0])
    n_wrong = int((~close).sum())
    raise Mismatch(f"{what}{_index(idx)} = {got[idx]:.6g}; expected {expected[idx]:.6g} "
                   f"({n_wrong} of {got.size} entries wrong{', ' + case if case else ''})")


def expect_scalar(what, got, expected, *, rtol=1e-9, case="", mistakes=None):
    """Raise :class:`Mismatch` unless ``got`` is a number close to ``expected``."""
    suffix = f" ({case})" if case else ""
    if got is None:
        raise NotDone(f"{what} is None")
    try:
        value = float(got)
    except (TypeError, ValueError):
        raise Mismatch(f"{what} should be a number; got {type(got).__name__} {got!r:.60}{suffix}") from None
    if np.isclose(value, expected, rtol=rtol, atol=0.0):
        return
    for description, candidate in (mistakes or {}).items():
        if np.isclose(value, candidate, rtol=rtol, atol=0.0, equal_nan=True):
            raise Mismatch(f"{what} = {value:.6g}; expected {expected:.6g}: it equals {description}{suffix}")
    raise Mismatch(f"{what} = {value:.8g}; expected {expected:.8g}{suffix}")


def unchanged(what, before, after):
    """Raise :class:`Mismatch` if the learner's function changed an input array in place."""
    if not np.array_equal(before, after, equal_nan=True):
        raise Mismatch(f"your function changed its input {what} in place; work on new arrays")


def fmt(a, digits=4):
    """A short, fixed-precision rendering of an array for an "expected output" line."""
    text = np.array2string(np.asarray(a), precision=digits, suppress_small=True, separator=", ",
                           threshold=12)
    return " ".join(text.split())  # one line, however many rows
