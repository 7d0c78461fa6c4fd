"""The tutorials: stored clean, in step with their source, and runnable top to bottom.

* every ``tutorials/*.ipynb`` is stored without outputs and without execution counts;
* every notebook equals what ``tools/make_notebooks.py`` generates from its source;
* every notebook executes without error in the fast setting (``MTL_FAST=1``), in a fresh
  ``python3`` kernel running this interpreter, with ``tutorials/`` as its working directory.
"""
import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))
IDS = [path.name for path in NOTEBOOKS]

# Each notebook takes seconds in the fast setting; this only stops a hung kernel.
CELL_TIMEOUT_S = 600


def test_tutorials_exist():
    assert len(NOTEBOOKS) >= 5, f"expected the numbered tutorials in {TUTORIALS}; found {IDS}"


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
        "regenerate with python tools/make_notebooks.py (or clear all outputs) before committing"
    )


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebooks_match_their_source():
    pytest.importorskip("nbformat", reason="nbformat is needed to generate the notebooks")
    generator = _load_generator()
    assert sorted(generator.NOTEBOOKS) == IDS, (
        f"tools/make_notebooks.py defines {sorted(generator.NOTEBOOKS)}; tutorials/ holds {IDS}"
    )
    stale = [name for name in generator.NOTEBOOKS if not generator.is_current(name)]
    assert not stale, (
        f"{stale} differ from their source in tools/make_notebooks.py; edit the source there and run "
        "python tools/make_notebooks.py"
    )


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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes(path, fast_kernel_env):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebooks")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebooks")
    pytest.importorskip("ipykernel", reason="ipykernel is needed for the notebooks' python3 kernel")
    pytest.importorskip("matplotlib", reason="the notebooks draw figures with matplotlib")

    nb = nbformat.read(str(path), as_version=4)
    # kernel_name "python3" is the native kernel: jupyter_client launches it with sys.executable,
    # so the kernel sees the same environment (and the same installed mtl_numpy) as this test.
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
        resources={"metadata": {"path": str(TUTORIALS)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{path.name} failed in the fast setting (MTL_FAST=1):\n{err}", pytrace=False)
    errors = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors, f"{path.name}: error outputs {[(e['ename'], e['evalue']) for e in errors]}"
