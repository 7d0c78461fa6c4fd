import numpy as np
import pytest

import mtl_numpy as mtl


def test_tasks_are_the_lectures_four():
    assert mtl.TASKS == ("pedestrian", "car", "stop_sign", "traffic_light")


def test_encode_labels_accepts_every_spelling_of_known_and_unknown():
    Y = mtl.encode_labels([[1, 0, "?"], [True, False, None], [1.0, 0.0, float("nan")], [np.int64(1), " ? ", 0]])
    assert Y.shape == (4, 3)
    assert Y.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(Y), [[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(np.nan_to_num(Y, nan=-1), [[1, 0, -1], [1, 0, -1], [1, 0, -1], [1, -1, 0]])


def test_encode_labels_dtype_and_array_input():
    Y = mtl.encode_labels(np.array([[1, 0], [0, 1]]), dtype="float32")
    assert Y.dtype == np.float32
    src = np.array([[1.0, np.nan]])
    out = mtl.encode_labels(src)
    out[0, 0] = 0
    assert src[0, 0] == 1.0  # a copy, never the caller's array


@pytest.mark.parametrize("bad, match", [
    ([[1, 2]], r"labels\[0\]\[1\] is 2"),
    ([[1, -1]], r"labels\[0\]\[1\] is -1"),
    ([[1, "yes"]], r"labels\[0\]\[1\] is the string 'yes'"),
    ([[1, 0], [1]], "same length"),
    ([], "non-empty"),
    ([[]], "no columns"),
    ([1, 0, 1], "row 0 is 1"),
    (np.array([1.0, 0.0]), "2-D"),
    (np.array([[0.5, 1.0]]), r"labels\[0, 0\] = 0.5"),
])
def test_encode_labels_rejects_bad_tables(bad, match):
    with pytest.raises(ValueError, match=match):
        mtl.encode_labels(bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_label_mask_marks_known_labels_and_keeps_dtype(dtype):
    Y = np.array([[1, np.nan, 0], [np.nan, np.nan, 1]], dtype=dtype)
    M = mtl.label_mask(Y)
    assert M.dtype == dtype
    np.testing.assert_array_equal(M, [[1, 0, 1], [0, 0, 1]])


def test_validate_labels_names_the_entry_and_spots_transposes():
    with pytest.raises(ValueError, match=r"Y\[1, 2\] = 2.0"):
        mtl.validate_labels(np.array([[0, 1, 0], [1, 0, 2.0]]))
    with pytest.raises(ValueError, match=r"Y\[0, 1\] = inf"):
        mtl.validate_labels(np.array([[0, np.inf]]))
    with pytest.raises(ValueError, match="transposed"):
        mtl.validate_labels(np.zeros((5, 4)), n_tasks=4, m=5)
    with pytest.raises(ValueError, match="dtype"):
        mtl.validate_labels(np.array([["a"]]))
