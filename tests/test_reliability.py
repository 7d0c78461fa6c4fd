"""Faults that used to finish normally with wrong numbers (issue: nothing lost, nothing silent).

Each test reproduces one reported fault and holds its fix: a clear ValueError, or the right
answer where there is one.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mtl_numpy as mtl


# -- 7. silent wrong inputs ----------------------------------------------------------------------

def test_masked_array_labels_are_question_marks():
    Y = np.ma.array([[1, 0, 1], [0, 1, 1]], mask=[[0, 1, 0], [0, 0, 1]])
    expected = np.array([[1, np.nan, 1], [0, 1, np.nan]])
    np.testing.assert_array_equal(mtl.encode_labels(Y), expected)
    np.testing.assert_array_equal(mtl.validate_labels(Y), expected)
    np.testing.assert_array_equal(mtl.label_mask(Y), [[1, 0, 1], [1, 1, 0]])
    # the masked label is not scored: a model's cost equals the cost with '?' written out
    model = mtl.SharedMLP([2, 3, 2], dtype="float64")
    X = np.random.default_rng(0).random((2, 3))
    assert model.cost(X, Y) == model.cost(X, expected)
    # metrics leave it out too
    AL = np.full((2, 3), 0.9)
    assert mtl.task_metrics(Y, AL)["task0"]["n_labelled"] == 2


@pytest.mark.parametrize("value", [2.0, -1.0, np.inf, -np.inf, 0.5])
def test_label_mask_validates_like_encode_labels(value):
    Y = np.array([[1.0, value]])
    with pytest.raises(ValueError, match=r"Y\[0, 1\]"):
        mtl.label_mask(Y)
    with pytest.raises(ValueError):
        mtl.encode_labels(Y)


def test_numerical_gradient_refuses_integer_arrays():
    with pytest.raises(ValueError, match="x must be a floating NumPy array"):
        mtl.eval_numerical_gradient_array(lambda a: a * a, np.arange(3), np.ones(3))
    grad = mtl.eval_numerical_gradient_array(lambda a: a * a, np.arange(3.0), np.ones(3))
    np.testing.assert_allclose(grad, [0.0, 2.0, 4.0], atol=1e-8)


# -- 6. checks that pass vacuously -----------------------------------------------------------

def test_gradient_check_refuses_all_question_marks():
    model = mtl.SharedMLP([3, 4, 2], dtype="float64")
    X = np.random.default_rng(0).random((3, 5))
    with pytest.raises(ValueError, match="no known label"):
        mtl.gradient_check(model, X, np.full((2, 5), np.nan))


@pytest.mark.parametrize("threshold", [-1, 0, np.nan, np.inf, "2e-7", True])
def test_gradient_check_validates_threshold(threshold):
    model = mtl.SharedMLP([3, 2], dtype="float64")
    with pytest.raises(ValueError, match="threshold must be a positive number"):
        mtl.gradient_check(model, np.ones((3, 2)), np.ones((2, 2)), threshold=threshold)


def test_gradient_check_accepts_numpy_scalars():
    model = mtl.SharedMLP([3, 4, 2], dtype="float64")
    X = np.random.default_rng(0).random((3, 5))
    Y = np.ones((2, 5))
    a = mtl.gradient_check(model, X, Y, epsilon=np.float32(1e-7), threshold=np.float64(2e-7))
    b = mtl.gradient_check(model, X, Y)
    assert a.passed and b.passed
    assert a.difference == pytest.approx(b.difference, rel=0.5, abs=1e-9)


# -- 1. optimizers and metrics ---------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: mtl.Adam(learning_rate=math.inf),
    lambda: mtl.Adam(learning_rate=math.nan),
    lambda: mtl.Adam(epsilon=math.inf),
    lambda: mtl.GradientDescent(math.inf),
    lambda: mtl.Momentum(learning_rate=math.nan),
])
def test_optimizer_hyperparameters_must_be_finite(make):
    with pytest.raises(ValueError, match="must be a number in"):
        make()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_task_metrics_refuse_non_finite_probabilities(bad):
    Y = np.array([[1.0, 0.0, 1.0]])
    AL = np.array([[0.9, bad, 0.2]])
    with pytest.raises(ValueError, match=r"AL\[0, 1\].*finite"):
        mtl.task_metrics(Y, AL)


# -- property: random inputs through the public functions --------------------------------------

_label_values = st.sampled_from([0.0, 1.0, np.nan, 2.0, -1.0, np.inf, 0.5])


@settings(max_examples=200, deadline=None)
@given(Y=hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int64, np.bool_]),
                    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
                    elements=None, fill=None),
       values=st.lists(_label_values, min_size=1, max_size=48))
def test_random_label_arrays_give_a_result_or_a_named_error(Y, values):
    if Y.dtype.kind == "f" and Y.size:
        Y = np.resize(np.asarray(values, dtype=Y.dtype), Y.shape)
    elif Y.dtype.kind == "i" and Y.size:
        Y = np.resize(np.asarray([v for v in values if np.isfinite(v)] or [0], dtype=np.float64),
                      Y.shape).astype(np.int64)
    as_float = Y.astype(np.float64)
    valid = (Y.ndim == 2 and Y.shape[1] > 0
             and bool(np.all(np.isnan(as_float) | (as_float == 0) | (as_float == 1))))
    calls = [("Y", mtl.validate_labels), ("Y", mtl.label_mask), ("labels", mtl.encode_labels)]
    for name, call in calls:
        if not valid:
            with pytest.raises((ValueError, TypeError), match=name):
                call(Y)
            continue
        out = call(Y)
        assert out.shape == Y.shape and out.dtype.kind == "f"
        if call is mtl.label_mask:
            np.testing.assert_array_equal(out, (~np.isnan(as_float)).astype(out.dtype))
        else:
            np.testing.assert_array_equal(out, as_float)   # nan where '?', the labels elsewhere


@settings(max_examples=60, deadline=None)
@given(AL=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 5)),
                     elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
       seed=st.integers(0, 100))
def test_random_probabilities_give_metrics_or_a_named_error(AL, seed):
    rng = np.random.default_rng(seed)
    Y = rng.integers(0, 2, AL.shape).astype(np.float64)
    if np.isfinite(AL).all():
        out = mtl.task_metrics(Y, AL)
        assert len(out) == AL.shape[0]
    else:
        with pytest.raises(ValueError, match="AL"):
            mtl.task_metrics(Y, AL)


# -- 2. overflow past the finite checks ------------------------------------------------------

def test_inputs_beyond_float32_range_are_refused_by_a_float32_model():
    model = mtl.SharedMLP([3, 2], dtype="float32")
    X = np.array([[1e39, 0.0], [0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="beyond the largest float32"):
        model.predict_proba(X)
    assert np.isfinite(mtl.SharedMLP([3, 2], dtype="float64").predict_proba(X)).all()


def test_set_params_and_checkpoints_beyond_float32_range_are_refused(tmp_path):
    big = mtl.SharedMLP([3, 2], dtype="float64")
    big.params["W1"][0, 0] = 1e39
    small = mtl.SharedMLP([3, 2], dtype="float32")
    with pytest.raises(ValueError, match="W1.*beyond the largest float32"):
        small.set_params(big.get_params())
    path = big.save(tmp_path / "big.npz")
    with pytest.raises(ValueError, match="beyond the largest float32"):
        small.load_weights(path)
    cfg = mtl.load_model(path)                    # its own dtype (float64) holds it
    assert cfg.params["W1"][0, 0] == 1e39


# -- 3. small hostile checkpoints -------------------------------------------------------------

def _rewrite_config(path, out, config_text):
    import zipfile
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "__config__.npy":
                import io
                buf = io.BytesIO()
                np.save(buf, np.array(config_text))
                data = buf.getvalue()
            dst.writestr(info, data)
    return out


def test_config_declaring_a_huge_model_is_refused_before_allocation(tmp_path):
    import json
    import tracemalloc
    path = mtl.SharedMLP([3, 2]).save(tmp_path / "m.npz")
    config = {"model": "SharedMLP", "layer_dims": [20000, 20000, 2], "seed": 0,
              "dtype": "float32", "normalize": "examples"}
    evil = _rewrite_config(path, tmp_path / "evil.npz", json.dumps(config))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"evil.npz.*does not match.*missing \['W2'"):
            mtl.load_model(evil)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"{peak} bytes allocated to refuse a 2 kB file"


def test_deeply_nested_config_is_a_value_error(tmp_path):
    path = mtl.SharedMLP([3, 2]).save(tmp_path / "m.npz")
    evil = _rewrite_config(path, tmp_path / "nested.npz", "[" * 5000 + "]" * 5000)
    with pytest.raises(ValueError, match="nested.npz"):
        mtl.load_model(evil)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_load_model_never_blocks_or_tracebacks(tmp_path, kind):
    import os
    path = tmp_path / "x.npz"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    with pytest.raises(ValueError, match="x.npz"):
        mtl.load_model(path)


# -- 4. trained models lost --------------------------------------------------------------------

def test_model_with_nan_weights_is_refused_at_save_time(tmp_path):
    model = mtl.SharedMLP([3, 2])
    model.params["b1"][1] = np.nan
    with pytest.raises(ValueError, match="b1 holds 1 non-finite"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_mode_follows_umask_and_suffix_case_is_kept(tmp_path):
    import os
    import stat
    old = os.umask(0o022)
    try:
        written = mtl.SharedMLP([3, 2]).save(tmp_path / "model.NPZ")
    finally:
        os.umask(old)
    assert written.endswith("model.NPZ")
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o644
    assert mtl.load_model(written).n_parameters == 8


# -- 7. layer_dims in arbitrary order -----------------------------------------------------------

@pytest.mark.parametrize("bad", [{3, 4, 2}, frozenset({3, 2}), {"a": 3, "b": 2}])
def test_unordered_layer_dims_are_refused(bad):
    with pytest.raises(ValueError, match="layer_dims must be an ordered sequence"):
        mtl.SharedMLP(bad)


# -- 3. the checkpoint fuzzer: load_model finds only a ValueError or a correct model -----------

def _checkpoint_bytes(tmp_path_factory=None):
    import tempfile
    folder = tempfile.mkdtemp()
    model = mtl.SharedMLP([6, 5, 4], seed=3)
    path = model.save(f"{folder}/ok.npz")
    with open(path, "rb") as f:
        return f.read(), model


_VALID, _MODEL = _checkpoint_bytes()


def _swap_member_names(blob, a, b):
    """Swap two member names in the zip (local headers and central directory): same length."""
    assert len(a) == len(b)
    marker = b"\x00" * 0
    blob = blob.replace(a, b"\x01" * len(a)).replace(b, a).replace(b"\x01" * len(a), b)
    return blob + marker


def _inflate_header(blob, member, new_shape):
    """A well-formed zip (CRCs right) whose ``member`` has its .npy header rewritten to declare
    ``new_shape`` over the same data: the lie a hostile file tells."""
    import io
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == member:
                f = io.BytesIO(data)
                version = np.lib.format.read_magic(f)
                reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                _, fortran, dtype = reader(f)
                header = io.BytesIO()
                np.lib.format.write_array_header_2_0(
                    header, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran,
                             "shape": new_shape})
                data = header.getvalue() + data[f.tell():]
            dst.writestr(info.filename, data)
    return out.getvalue()


@settings(max_examples=int(__import__("os").environ.get("MTL_FUZZ_EXAMPLES", "120")), deadline=None)
@given(data=st.data())
def test_fuzzed_checkpoints_load_correctly_or_give_a_value_error(tmp_path_factory, data):
    import tracemalloc
    blob = bytearray(_VALID)
    op = data.draw(st.sampled_from(["truncate", "flip", "swap", "inflate", "insert"]))
    if op == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif op == "flip":
        for _ in range(data.draw(st.integers(1, 6))):
            k = data.draw(st.integers(0, len(blob) - 1))
            blob[k] ^= data.draw(st.integers(1, 255))
    elif op == "swap":
        blob = bytearray(_swap_member_names(bytes(blob), b"W1.npy", b"W2.npy"))
    elif op == "inflate":
        shape = data.draw(st.sampled_from([(10**9,), (5, 6 * 10**8), (40000, 40000), (5, 7), (6, 5), (3,)]))
        member = data.draw(st.sampled_from(["W1.npy", "b1.npy", "W2.npy"]))
        blob = bytearray(_inflate_header(bytes(blob), member, shape))
    else:
        k = data.draw(st.integers(0, len(blob)))
        blob[k:k] = data.draw(st.binary(min_size=1, max_size=32))
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.npz"
    path.write_bytes(bytes(blob))
    tracemalloc.start()
    try:
        try:
            model = mtl.load_model(path)
        except ValueError as exc:
            assert "fuzz.npz" in str(exc)
            model = None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{op}: {peak} bytes"
    if model is not None:        # whatever loads is a whole, finite model of the saved architecture
        assert model.param_shapes() == _MODEL.param_shapes()
        assert all(np.isfinite(v).all() for v in model.params.values())


@settings(max_examples=80, deadline=None)
@given(X=hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int32, np.bool_, np.complex64]),
                    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
                    elements=None),
       big=st.sampled_from([None, 1e39, np.inf, np.nan]))
def test_random_inputs_through_a_model_give_a_result_or_a_named_error(X, big):
    model = mtl.SharedMLP([3, 4, 2], seed=0, dtype="float32")
    if big is not None and X.size and X.dtype.kind == "f" and X.dtype.itemsize == 8:
        X = X.copy()
        X.flat[0] = big
    m = X.shape[1] if X.ndim == 2 else 1
    Y = np.ones((2, max(m, 1)))
    with np.errstate(all="ignore"):
        finite = X.dtype.kind in "biuf" and np.isfinite(X.astype(np.float64)).all() \
            and np.abs(X.astype(np.float64)).max(initial=0) < 3e38
    valid = X.ndim == 2 and X.shape[0] == 3 and X.shape[1] > 0 and X.dtype.kind in "biuf" and finite
    if valid:
        J = model.cost(X, Y)
        assert math.isfinite(J)
        assert model.predict_proba(X).shape == (2, X.shape[1])
    else:
        with pytest.raises((ValueError, TypeError), match="X"):
            model.cost(X, Y)
