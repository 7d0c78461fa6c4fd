"""The training guards: snapshots restore exactly, finiteness is detected, Ctrl-C waits for the
end of a block, and out-of-range inputs are named."""
import os
import signal

import numpy as np
import pytest

from mtl_numpy.guards import (ParameterSnapshot, TrainingDiverged, all_finite, deferred_interrupt,
                              finite_in_dtype)


def test_snapshot_restores_in_place():
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((3, 2)).astype(np.float32), "b1": np.zeros((3, 1))}
    original = {k: v.copy() for k, v in params.items()}
    ids = {k: id(v) for k, v in params.items()}
    snap = ParameterSnapshot(params)
    params["W1"] *= np.float32(np.inf)
    params["b1"][0] = np.nan
    assert not all_finite(params)
    snap.restore(params)
    assert all_finite(params)
    for k in params:
        np.testing.assert_array_equal(params[k], original[k])
        assert id(params[k]) == ids[k]            # the model's own arrays, not new ones


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_one_bad_entry(bad):
    params = {"W": np.zeros((50, 50), np.float32)}
    assert all_finite(params)
    params["W"][17, 3] = bad
    assert not all_finite(params)


def test_interrupt_is_delivered_after_the_block():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("rest of the block")
    assert done == ["rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_diverged_error_names_where():
    err = TrainingDiverged(3, 125, "parameters", "the parameters after step 124", "learning rate")
    assert "epoch 3, step 125" in str(err) and "restored" in str(err)


def test_values_beyond_float32_named():
    with pytest.raises(ValueError, match="beyond the largest float32"):
        finite_in_dtype(np.array([[1.0, 1e39]]), "float32", name="X")
    finite_in_dtype(np.array([[1.0, 1e39]]), "float64")
    finite_in_dtype(np.array([[1.0, 3e38]]), "float32")
