"""The declared kernel interface: every backend passes its check, and every kernel of every
backend agrees with the reference math, parametrised over (backend, kernel, dtype).

The kernel list is :data:`mtl_numpy.backends._interface.KERNELS`, never typed out here: a kernel
added to the interface without a case below fails :func:`test_every_kernel_has_a_case`. The
reference is the plain math -- :mod:`mtl_numpy.layers`, :mod:`mtl_numpy.conv` and the course's
masked cost formula -- run on NumPy arrays in the same dtype. Tolerances are relative to the
size of the reference (float64 1e-10, float32 1e-4).
"""
import ast
import inspect
import types

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy import conv, layers
from mtl_numpy.backends import BACKENDS, get_backend
from mtl_numpy.backends import _interface
from mtl_numpy.backends import numpy_backend as npb
from mtl_numpy.backends._interface import KERNELS, check_backend, missing_kernels

from conftest import random_labels

TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}
DTYPES = ["float64", "float32"]
AVAILABLE = mtl.available_backends()


def backend_or_skip(name):
    if name not in AVAILABLE:
        pytest.skip(f"the {name} backend cannot run here (optional dependency or GPU missing)")
    return get_backend(name)


# ----------------------------------------------------------------------------------------------
# The reference: the plain math, on NumPy arrays
# ----------------------------------------------------------------------------------------------

def _reference_cost(ZL, Y, normalize="examples"):
    """The course's masked cost and dZL, from logits, in float64 (dZL back in ZL's dtype)."""
    known = ~np.isnan(Y)
    n_known = int(known.sum())
    if n_known == 0:
        return 0.0, np.zeros_like(ZL)
    N = ZL.shape[1] if normalize == "examples" else n_known
    z, y = ZL.astype(np.float64), np.where(known, Y, 0).astype(np.float64)
    loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    dZ = np.where(known, 1 / (1 + np.exp(-z)) - y, 0) / N
    return float(np.sum(loss, where=known)) / N, dZ.astype(ZL.dtype)


def _reference_block_forward(A_prev, W, b, conv_hparameters, pool_hparameters):
    Z, conv_cache = conv.conv_forward(A_prev, W, b, conv_hparameters)
    A, relu_cache = layers.relu_forward(Z)
    P, pool_cache = conv.pool_forward(A, pool_hparameters, mode="max")
    return P, (conv_cache, relu_cache, pool_cache)


def _reference_block_backward(dA, cache, need_dA_prev=True):
    conv_cache, relu_cache, pool_cache = cache
    dZ = layers.relu_backward(conv.pool_backward(dA, pool_cache, mode="max"), relu_cache)
    return conv.conv_backward(dZ, conv_cache, need_dA_prev)


REFERENCE = types.SimpleNamespace(
    name="reference", xp=np, asarray=lambda x, dtype=None: np.asarray(x, dtype=dtype),
    to_numpy=np.asarray,
    **{k: getattr(layers, k) for k in (
        "linear_forward", "linear_backward", "relu_forward", "relu_backward", "sigmoid",
        "sigmoid_forward", "sigmoid_backward", "linear_relu_forward", "linear_relu_backward",
        "flatten_forward", "flatten_backward")},
    **{k: getattr(conv, k) for k in ("conv_forward", "conv_backward", "pool_forward",
                                     "pool_backward")},
    masked_logistic_cost_and_grad=_reference_cost,
    conv_relu_pool_forward=_reference_block_forward,
    conv_relu_pool_backward=_reference_block_backward,
)


# ----------------------------------------------------------------------------------------------
# One case per kernel: run(bk, rng, dtype) -> the kernel's outputs as host arrays / floats.
# Inputs are drawn on the host (the same draws for every backend), moved with bk.asarray;
# a backward kernel gets its cache from the same backend's forward kernel.
# ----------------------------------------------------------------------------------------------

def _draw(rng, shape, dtype, zeros=False):
    x = rng.standard_normal(shape)
    if zeros:
        x[..., :1] = 0.0                          # ReLU's kink: the derivative at 0 is 0
    return x.astype(dtype)


def _host(bk, outputs):
    return [None if o is None else o if isinstance(o, float) else bk.to_numpy(o)
            for o in outputs]


def _dense(bk, rng, dtype):
    return [bk.asarray(_draw(rng, s, dtype), dtype) for s in ((5, 7), (4, 5), (4, 1))]


def case_asarray(bk, rng, dtype):
    x = rng.standard_normal((3, 4))
    return [bk.asarray(x, dtype), bk.asarray(x.astype(dtype))]


def case_to_numpy(bk, rng, dtype):
    out = bk.to_numpy(bk.asarray(_draw(rng, (2, 3, 4), dtype), dtype))
    assert type(out) is np.ndarray
    return [out]


def case_linear_forward(bk, rng, dtype):
    return [bk.linear_forward(*_dense(bk, rng, dtype))[0]]


def _backward_both_ways(backward, dA, cache):
    """A backward kernel with and without ``dA_prev`` (None when not needed)."""
    full = list(backward(dA, cache, True))
    skipped = list(backward(dA, cache, False))
    assert skipped[0] is None
    return full + skipped[1:]


def case_linear_backward(bk, rng, dtype):
    Z, cache = bk.linear_forward(*_dense(bk, rng, dtype))
    dZ = bk.asarray(_draw(rng, Z.shape, dtype), dtype)
    return _backward_both_ways(bk.linear_backward, dZ, cache)


def case_linear_relu_forward(bk, rng, dtype):
    return [bk.linear_relu_forward(*_dense(bk, rng, dtype))[0]]


def case_linear_relu_backward(bk, rng, dtype):
    A, cache = bk.linear_relu_forward(*_dense(bk, rng, dtype))
    dA = bk.asarray(_draw(rng, A.shape, dtype), dtype)
    return _backward_both_ways(bk.linear_relu_backward, dA, cache)


def _activation(bk, rng, dtype, shape=(4, 9)):
    return bk.asarray(_draw(rng, shape, dtype, zeros=True), dtype)


def case_relu_forward(bk, rng, dtype):
    return [bk.relu_forward(_activation(bk, rng, dtype))[0],
            bk.relu_forward(_activation(bk, rng, dtype, (2, 3, 4, 5)))[0]]


def case_relu_backward(bk, rng, dtype):
    outputs = []
    for shape in ((4, 9), (2, 3, 4, 5)):
        A, cache = bk.relu_forward(_activation(bk, rng, dtype, shape))
        outputs.append(bk.relu_backward(bk.asarray(_draw(rng, A.shape, dtype), dtype), cache))
    return outputs


def case_sigmoid(bk, rng, dtype):
    Z = _activation(bk, rng, dtype) * bk.asarray(np.array(30.0), dtype)   # saturated entries
    return [bk.sigmoid(Z)]


def case_sigmoid_forward(bk, rng, dtype):
    return [bk.sigmoid_forward(_activation(bk, rng, dtype))[0]]


def case_sigmoid_backward(bk, rng, dtype):
    A, cache = bk.sigmoid_forward(_activation(bk, rng, dtype))
    return [bk.sigmoid_backward(bk.asarray(_draw(rng, A.shape, dtype), dtype), cache)]


def case_masked_logistic_cost_and_grad(bk, rng, dtype):
    ZL = bk.asarray(3 * _draw(rng, (4, 9), dtype), dtype)
    Y = random_labels(rng, 4, 9, 0.3, dtype=dtype)
    Y[:, 0] = np.nan                                          # an all-'?' example
    Y = bk.asarray(Y, dtype)
    outputs = []
    for normalize in ("examples", "labels"):
        J, dZL = bk.masked_logistic_cost_and_grad(ZL, Y, normalize)
        assert isinstance(J, float)
        outputs += [J, dZL]
    return outputs


CONV_HPARAMETERS = [{"stride": 1, "pad": 1}, {"stride": 2, "pad": 0}]


def _conv_inputs(bk, rng, dtype):
    return [bk.asarray(_draw(rng, s, dtype), dtype)
            for s in ((2, 6, 5, 3), (3, 3, 3, 4), (1, 1, 1, 4))]


def case_conv_forward(bk, rng, dtype):
    A_prev, W, b = _conv_inputs(bk, rng, dtype)
    return [bk.conv_forward(A_prev, W, b, hp)[0] for hp in CONV_HPARAMETERS]


def case_conv_backward(bk, rng, dtype):
    A_prev, W, b = _conv_inputs(bk, rng, dtype)
    outputs = []
    for hp in CONV_HPARAMETERS:
        Z, cache = bk.conv_forward(A_prev, W, b, hp)
        dZ = bk.asarray(_draw(rng, Z.shape, dtype), dtype)
        outputs += _backward_both_ways(bk.conv_backward, dZ, cache)
    return outputs


POOLS = [  # input shape, hyperparameters: tiled, odd size (not tiled), overlapping windows
    ((2, 6, 6, 3), {"f": 2, "stride": 2}),
    ((2, 7, 5, 3), {"f": 2, "stride": 2}),
    ((1, 7, 7, 2), {"f": 3, "stride": 2}),
]


def case_pool_forward(bk, rng, dtype):
    outputs = []
    for shape, hp in POOLS:
        A_prev = bk.asarray(np.maximum(np.round(_draw(rng, shape, dtype)), 0), dtype)  # ties
        for mode in ("max", "average"):
            outputs.append(bk.pool_forward(A_prev, hp, mode)[0])
    return outputs


def case_pool_backward(bk, rng, dtype):
    outputs = []
    for shape, hp in POOLS:
        A_prev = bk.asarray(np.maximum(np.round(_draw(rng, shape, dtype)), 0), dtype)
        for mode in ("max", "average"):
            A, cache = bk.pool_forward(A_prev, hp, mode)
            outputs.append(bk.pool_backward(bk.asarray(_draw(rng, A.shape, dtype), dtype),
                                            cache, mode))
    return outputs


def case_flatten_forward(bk, rng, dtype):
    return [bk.flatten_forward(bk.asarray(_draw(rng, (3, 2, 4, 5), dtype), dtype))[0]]


def case_flatten_backward(bk, rng, dtype):
    A_flat, cache = bk.flatten_forward(bk.asarray(_draw(rng, (3, 2, 4, 5), dtype), dtype))
    return [bk.flatten_backward(bk.asarray(_draw(rng, A_flat.shape, dtype), dtype), cache)]


BLOCKS = [  # input shape, n_C, pool window: tiled (the fused path on the CPU), odd, 3 x 3
    ((3, 8, 8, 3), 4, 2),
    ((2, 7, 7, 2), 3, 2),
    ((2, 9, 6, 1), 2, 3),
]


def _block_inputs(bk, rng, dtype, shape, n_C):
    f = 3
    return [bk.asarray(a, dtype) for a in (
        _draw(rng, shape, dtype), _draw(rng, (f, f, shape[3], n_C), dtype),
        0.1 * _draw(rng, (1, 1, 1, n_C), dtype))]


def case_conv_relu_pool_forward(bk, rng, dtype):
    outputs = []
    for shape, n_C, pf in BLOCKS:
        A_prev, W, b = _block_inputs(bk, rng, dtype, shape, n_C)
        outputs.append(bk.conv_relu_pool_forward(A_prev, W, b, {"stride": 1, "pad": 1},
                                                 {"f": pf, "stride": pf})[0])
    return outputs


def case_conv_relu_pool_backward(bk, rng, dtype):
    outputs = []
    for shape, n_C, pf in BLOCKS:
        A_prev, W, b = _block_inputs(bk, rng, dtype, shape, n_C)
        P, cache = bk.conv_relu_pool_forward(A_prev, W, b, {"stride": 1, "pad": 1},
                                             {"f": pf, "stride": pf})
        dP = bk.asarray(_draw(rng, P.shape, dtype), dtype)
        outputs += _backward_both_ways(bk.conv_relu_pool_backward, dP, cache)
    return outputs


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


def scaled_error(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, f"shape: ours {ours.shape}, theirs {theirs.shape}"
    if ours.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(theirs))), float(np.max(np.abs(ours))), 1e-300)
    return float(np.max(np.abs(ours - theirs))) / scale


def test_every_kernel_has_a_case():
    assert set(CASES) == {kernel.name for kernel in KERNELS}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", [k.name for k in KERNELS])
@pytest.mark.parametrize("backend", BACKENDS)
def test_kernel_matches_the_reference(backend, kernel, dtype):
    bk = backend_or_skip(backend)
    seed = sum(map(ord, kernel))
    ours = _host(bk, CASES[kernel](bk, np.random.default_rng(seed), dtype))
    theirs = _host(REFERENCE, CASES[kernel](REFERENCE, np.random.default_rng(seed), dtype))
    assert len(ours) == len(theirs)
    tol = TOL[np.dtype(dtype)]
    for i, (o, t) in enumerate(zip(ours, theirs)):
        label = f"{backend}.{kernel} output {i}"
        if t is None:
            assert o is None, label
        elif isinstance(t, float):
            assert isinstance(o, float) and abs(o - t) <= tol * max(abs(t), 1e-300), \
                f"{label}: ours {o!r}, theirs {t!r}"
        else:
            assert o.dtype == t.dtype, f"{label}: dtype ours {o.dtype}, theirs {t.dtype}"
            err = scaled_error(o, t)
            assert err <= tol, f"{label}: error {err:.2e} > {tol:.0e}\nours:\n{o}\ntheirs:\n{t}"


# ----------------------------------------------------------------------------------------------
# The interface check
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_passes_the_interface_check(backend):
    bk = backend_or_skip(backend)
    assert missing_kernels(bk) == []
    assert check_backend(bk) is bk and get_backend(bk) is bk and bk.name == backend


def test_the_reference_passes_the_interface_check():
    assert missing_kernels(REFERENCE) == []


def _module_like(source, name="my_backend", **changes):
    module = types.ModuleType(name)
    for key in dir(source):
        if not key.startswith("__"):
            setattr(module, key, getattr(source, key))
    for key, value in changes.items():
        if value is None:
            delattr(module, key)
        else:
            setattr(module, key, value)
    return module


def test_a_module_of_ones_own_is_checked_and_accepted():
    mine = _module_like(npb)
    assert get_backend(mine) is mine
    assert get_backend(mine) is mine                           # again, from the checked cache


def test_a_module_missing_kernels_is_refused_with_their_names():
    mine = _module_like(npb, conv_relu_pool_backward=None, sigmoid=None)
    with pytest.raises(ValueError, match="my_backend") as info:
        get_backend(mine)
    assert "conv_relu_pool_backward" in str(info.value) and "sigmoid" in str(info.value)
    assert "conv_relu_pool_forward" not in str(info.value)


def test_a_kernel_with_too_few_parameters_is_refused():
    mine = _module_like(npb, conv_backward=lambda dZ, cache: None)
    with pytest.raises(ValueError, match=r"conv_backward\(dZ, cache, need_dA_prev\)"):
        get_backend(mine)


@pytest.mark.parametrize("bad", ["torch", 42, None, np])
def test_get_backend_refuses_what_is_no_backend(bad):
    with pytest.raises(ValueError):
        get_backend(bad)


# ----------------------------------------------------------------------------------------------
# The modules themselves (read, not run: the CuPy backend is checked without a GPU too)
# ----------------------------------------------------------------------------------------------

BACKEND_MODULES = ["numpy_backend", "numba_backend", "cupy_backend"]


def _tree(module_name):
    path = inspect.getfile(_interface).replace("_interface.py", f"{module_name}.py")
    with open(path) as source:
        return ast.parse(source.read())


@pytest.mark.parametrize("module_name", BACKEND_MODULES)
def test_each_backend_defines_or_explicitly_reexports_every_kernel(module_name):
    tree = _tree(module_name)
    named = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            named.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            named.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign):
            named.update(t.id for t in node.targets if isinstance(t, ast.Name))
    wanted = {k.name for k in KERNELS} | set(_interface.ATTRIBUTES)
    assert wanted - named == set()


@pytest.mark.parametrize("module_name", BACKEND_MODULES)
def test_no_backend_reaches_into_another_backends_private_names(module_name):
    tree = _tree(module_name)
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("_backend"):
            assert not [a.name for a in node.names if a.name.startswith("_")], node.module
        if isinstance(node, ast.ImportFrom):
            aliases.update(a.asname or a.name for a in node.names if a.name.endswith("_backend"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            assert not node.attr.startswith("_"), f"{module_name} uses {node.value.id}.{node.attr}"
