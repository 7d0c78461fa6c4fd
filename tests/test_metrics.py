import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy.metrics import average_precision


def test_task_metrics_by_hand():
    Y = np.array([[1, 0, 1, 0, np.nan], [np.nan, np.nan, np.nan, np.nan, np.nan]])
    AL = np.array([[0.9, 0.8, 0.3, 0.1, 0.99], [0.5, 0.5, 0.5, 0.5, 0.5]])
    m = mtl.task_metrics(Y, AL, tasks=("a", "b"))
    a = m["a"]
    assert a["n_labelled"] == 4
    assert a["accuracy"] == pytest.approx(0.5)   # preds 1,1,0,0 vs 1,0,1,0
    assert a["precision"] == pytest.approx(0.5) and a["recall"] == pytest.approx(0.5)
    assert a["f1"] == pytest.approx(0.5)
    # ranking 0.9(+) 0.8(-) 0.3(+) 0.1(-): AP = 0.5*1 + 0.5*(2/3)
    assert a["average_precision"] == pytest.approx(0.5 + 1 / 3)
    assert m["b"]["n_labelled"] == 0 and np.isnan(m["b"]["accuracy"])


def test_default_task_names():
    Y = np.zeros((4, 2))
    assert tuple(mtl.task_metrics(Y, np.zeros((4, 2)))) == mtl.TASKS
    assert tuple(mtl.task_metrics(Y[:2], np.zeros((2, 2)))) == ("task0", "task1")


def test_average_precision_matches_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = (rng.random(50) < 0.4).astype(float)
        s = np.round(rng.random(50), 1)  # many ties
        if y.sum() == 0:
            continue
        assert average_precision(y, s) == pytest.approx(sklearn_metrics.average_precision_score(y, s))


def test_format_table_mentions_every_task():
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
    text = mtl.format_metrics_table(mtl.task_metrics(Y, np.full((4, 2), 0.7)))
    for task in mtl.TASKS:
        assert task in text
    assert "mean" in text
