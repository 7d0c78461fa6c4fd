"""What the tutorials share that is not part of the package: the stored runs' folder and a timer.

The notebooks run with ``tutorials/`` as their working directory, so a cell imports this module as
``from tutorial_utils import FIGURES, best_time``. Everything a tutorial *teaches* comes from
``mtl_numpy`` itself; the exercises' checks are in :mod:`mtl_numpy.exercises`.
"""
from __future__ import annotations

import timeit
from pathlib import Path

#: ``docs/figures`` of this checkout: tables and figures of the stored full runs
#: (``python -m mtl_numpy.experiments NAME --out docs/figures`` writes them).
FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"


def repeat_times(f, number=1, repeat=5):
    """Seconds per call of ``f()``, once per repeat: ``repeat`` blocks of ``number`` calls each.

    The caller warms ``f`` up first (compiled, caches filled); the clock is
    :func:`time.perf_counter`, through :func:`timeit.repeat`.
    """
    return [t / number for t in timeit.repeat(f, number=number, repeat=repeat)]


def best_time(f, number=1, repeat=5):
    """The fastest of :func:`repeat_times`: the others were slowed by something else on the machine."""
    return min(repeat_times(f, number=number, repeat=repeat))


def stored_run(name):
    """The stored full run of experiment ``name`` (``docs/figures/NAME.json``), or None.

    Prints the run's wall time and settings first, or, where this checkout has no stored run,
    the command that makes one.
    """
    path = FIGURES / f"{name}.json"
    if not path.exists():
        print(f"no stored full run here; make one with: python -m mtl_numpy.experiments {name} --out docs/figures")
        return None
    from mtl_numpy.experiments import ExperimentResult

    full = ExperimentResult.from_json(path)
    print(f"stored full run, {full.seconds:.0f} s, settings {full.settings}\n")
    return full
