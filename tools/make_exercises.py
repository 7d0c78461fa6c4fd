"""Derive the learner's notebooks from the tutorials' solution sources.

A tutorial with graded exercises has one source: ``tutorials/solutions/NN_topic.py`` (jupytext
percent format), where each exercise's answer sits between nbgrader's solution markers::

    ### START CODE HERE ### (≈ 2 lines)
    ### BEGIN SOLUTION
    Z = W @ A_prev + b
    cache = (A_prev, W, b)
    ### END SOLUTION
    ### END CODE HERE ###

This script writes ``tutorials/NN_topic.py`` with every marked answer replaced, at the same
indentation, by nbgrader's default stub (``# YOUR CODE HERE`` / ``raise NotImplementedError()``)
and pairs it with ``tutorials/NN_topic.ipynb`` through ``jupytext --sync``. (nbgrader itself, or
otter-grader, would pull in a Jupyter server, a database layer or a browser driver: too much for
one text substitution; the markers are theirs, so the sources stay usable with nbgrader.)

Usage::

    python tools/make_exercises.py            # (re)write the learner's notebooks
    python tools/make_exercises.py --check    # exit 1 if one is not what its solution source gives

``tests/test_exercises.py`` runs the same comparison and executes both versions of each notebook.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
SOLUTIONS = TUTORIALS / "solutions"

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
#: The solution sources are plain percent scripts; the learner's file is paired with its notebook.
SOLUTION_FORMATS, LEARNER_FORMATS = "py:percent", "ipynb,py:percent"


def strip_solutions(text):
    """``text`` with every ``BEGIN``/``END SOLUTION`` block replaced by the indented stub.

    Raises ``ValueError`` (with the line number) on a marker out of place: a block opened twice,
    closed without being opened, or never closed.
    """
    out, opened_at, indent = [], None, ""
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if opened_at is not None:
                raise ValueError(f"line {number}: {BEGIN} inside the solution opened on line {opened_at}")
            opened_at, indent = number, line[:len(line) - len(line.lstrip())]
            out.extend(f"{indent}{stub}\n" for stub in STUB)
        elif marker == END:
            if opened_at is None:
                raise ValueError(f"line {number}: {END} without a {BEGIN} before it")
            opened_at = None
        elif opened_at is None:
            out.append(line)
    if opened_at is not None:
        raise ValueError(f"line {opened_at}: {BEGIN} is never closed by {END}")
    return "".join(out)


def learner_text(solution_text):
    """The learner's ``.py`` for a solution source: solutions stripped, paired with its notebook."""
    import jupytext

    nb = jupytext.reads(strip_solutions(solution_text), fmt="py:percent")
    nb.metadata.setdefault("jupytext", {})["formats"] = LEARNER_FORMATS
    return jupytext.writes(nb, fmt="py:percent")


def sources():
    """The solution sources, ``tutorials/solutions/NN_topic.py``."""
    return sorted(SOLUTIONS.glob("[0-9][0-9]_*.py"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a learner's .py differs from its solution source")
    args = parser.parse_args(argv)
    stale = []
    for source in sources():
        target = TUTORIALS / source.name
        text = learner_text(source.read_text(encoding="utf-8"))
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(target.name)
            continue
        target.write_text(text, encoding="utf-8")
        from jupytext.cli import jupytext as jupytext_cli

        jupytext_cli(["--sync", str(target)])  # the notebook's cells from the new .py
        print(f"wrote {target.relative_to(ROOT)} and its notebook")
    if stale:
        print("out of date (run python tools/make_exercises.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
