"""The tutorials: stored clean, in step with their text source, and runnable top to bottom.

* every ``tutorials/NN_topic.ipynb`` is paired by jupytext with ``tutorials/NN_topic.py`` (percent
  format, the file a person edits) and has exactly the cells jupytext reads from it;
* every notebook is stored without outputs and without execution counts;
* every notebook executes without error in the fast setting (``MTL_FAST=1``), in a fresh
  ``python3`` kernel running this interpreter, with ``tutorials/`` as its working directory;
  there every exercise check reports "not done yet", and every result the text quotes (a number
  with three or more decimals) is printed by a cell, from the run or from a stored full run.

The exercise notebooks are also run with their solutions filled in: see ``tests/test_exercises.py``.
"""
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
IDS = [path.name for path in NOTEBOOKS]
PAIRING = "ipynb,py:percent"

# Each notebook takes seconds in the fast setting; this only stops a hung kernel.
CELL_TIMEOUT_S = 600


def test_tutorials_exist():
    assert len(NOTEBOOKS) >= 5, f"expected the numbered tutorials in {TUTORIALS}; found {IDS}"


def test_every_notebook_has_its_text_source():
    notebooks = {path.stem for path in NOTEBOOKS}
    sources = {path.stem for path in SOURCES}
    assert notebooks == sources, (
        f"unpaired: notebooks without a .py {sorted(notebooks - sources)}, "
        f".py without a notebook {sorted(sources - notebooks)}; create the missing one with "
        "jupytext --sync tutorials/NN_topic.py (or .ipynb)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        (k, cell.get("execution_count"), len(cell.get("outputs", [])))
        for k, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("execution_count") is not None or cell.get("outputs"))
    ]
    assert not dirty, (
        f"{path.name}: code cells with outputs or execution counts (cell, count, n_outputs): {dirty}; "
        "clear all outputs before committing (jupyter nbconvert --clear-output --inplace, then "
        "jupytext --sync)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_in_sync_with_its_source(path):
    """The stored notebook has exactly the cells of its ``.py``, compared by jupytext itself."""
    jupytext = pytest.importorskip("jupytext", reason="jupytext reads the tutorials' .py sources")
    nbformat = pytest.importorskip("nbformat", reason="nbformat reads the stored notebooks")
    from jupytext.compare import NotebookDifference, compare_notebooks

    stored = nbformat.read(str(path), as_version=4)
    assert stored.metadata.get("jupytext", {}).get("formats") == PAIRING, (
        f"{path.name} is not paired with its .py: its metadata should say jupytext formats "
        f"{PAIRING!r}; run jupytext --set-formats {PAIRING} {path.relative_to(ROOT)}"
    )
    source = path.with_suffix(".py")
    from_text = jupytext.read(str(source))
    try:
        compare_notebooks(from_text, stored, fmt="py:percent", allow_expected_differences=False)
    except NotebookDifference as err:
        pytest.fail(f"{path.name} differs from {source.name} (edit the .py, then run "
                    f"jupytext --sync {source.relative_to(ROOT)}):\n{err}", pytrace=False)


@pytest.fixture
def fast_kernel_env(monkeypatch):
    """Environment the kernel inherits: the fast setting, and matplotlib's notebook backend."""
    monkeypatch.setenv("MTL_FAST", "1")
    # conftest.py sets MPLBACKEND=Agg for the test process; let the kernel pick its inline
    # backend, as it would for a reader, so that figures are really rendered.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # The matrices are small: one BLAS thread is as fast, and avoids oversubscribing a 2-core CI
    # machine (or a machine shared with other jobs). An explicit setting is left alone.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if name not in os.environ:
            monkeypatch.setenv(name, "1")


def execute_notebook(nb, name):
    """Run ``nb`` (an nbformat notebook) in place, top to bottom, in ``tutorials/``; fail on any error."""
    nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebooks")
    pytest.importorskip("ipykernel", reason="ipykernel is needed for the notebooks' python3 kernel")
    pytest.importorskip("matplotlib", reason="the notebooks draw figures with matplotlib")
    # kernel_name "python3" is the native kernel: jupyter_client launches it with sys.executable,
    # so the kernel sees the same environment (and the same installed mtl_numpy) as this test.
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
        resources={"metadata": {"path": str(TUTORIALS)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{name} failed in the fast setting (MTL_FAST=1):\n{err}", pytrace=False)
    errors = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors, f"{name}: error outputs {[(e['ename'], e['evalue']) for e in errors]}"
    return nb


# A check's report starts its line with ✓ (passed), ✗ (failed) or … (not done), then its name.
CHECK_LINE = re.compile(r"^(✓|✗|…) (\w+): ", re.MULTILINE)


def check_reports(nb):
    """``[(symbol, exercise name), ...]`` of the exercise checks in an executed notebook's outputs."""
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            texts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    return CHECK_LINE.findall("\n".join(texts))


# A result quoted in the text: a number with three or more decimals ("0.519", "−0.103").
QUOTED_NUMBER = re.compile(r"(?<![\w.$])[−+-]?(\d+\.\d{3,})(?![\d])(?!\.\d)")


def unprinted_numbers(nb):
    """The numbers quoted in ``nb``'s markdown that neither its executed outputs nor its code show.

    Every quoted result must be printed by the notebook (from this run, or from a stored full run
    it reads): then a stored file that changes makes the quote fail here instead of going stale.
    """
    shown = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            shown.append(cell.source)
            for out in cell.get("outputs", []):
                shown.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    shown = "\n".join(shown)
    quoted = [m.group(1) for cell in nb.cells if cell.cell_type == "markdown"
              for m in QUOTED_NUMBER.finditer(cell.source)]
    return sorted({number for number in quoted if not re.search(rf"(?<![\d.]){re.escape(number)}(?!\d)", shown)})


def test_unprinted_numbers_finds_a_quote_no_cell_prints():
    nbformat = pytest.importorskip("nbformat", reason="nbformat builds the notebook")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("at chance (0.519) against 0.568, a gain of −0.103."),
                nbformat.v4.new_code_cell("print(full.get(...))")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="pedestrian 0.519 ± 0.016\n")]
    assert unprinted_numbers(nb) == ["0.103", "0.568"]
    nb.cells[1].outputs[0].text += "0.568 -0.103\n"
    assert unprinted_numbers(nb) == []


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes(path, fast_kernel_env):
    """Each notebook runs as shipped; there, every exercise's check reports "not done yet"."""
    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebooks")
    from mtl_numpy.exercises import EXERCISES

    nb = execute_notebook(nbformat.read(str(path), as_version=4), path.name)
    expected = [("…", name) for name, ex in EXERCISES.items() if ex.notebook == path.stem]
    reports = check_reports(nb)
    assert sorted(set(reports)) == sorted(expected), (
        f"{path.name} as shipped: every exercise's check should report not done (…); "
        f"got {reports}, expected {expected}"
    )
    unprinted = unprinted_numbers(nb)
    assert not unprinted, (
        f"{path.name} quotes numbers that none of its cells prints (nor its code holds): {unprinted}; "
        "print them from the run or from the stored file, or reword"
    )
