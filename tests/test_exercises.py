"""The tutorials' graded exercises: one source per notebook with the answers marked, the learner's
notebook derived from it, and checks that fail on the stub and pass on the answer.

* ``tools/make_exercises.py``'s derivation (nbgrader's ``### BEGIN/END SOLUTION`` markers replaced
  by the stub) is right, and every learner's ``tutorials/NN_topic.py`` is what it gives;
* every check in ``mtl_numpy.exercises`` reports "not done" on an unfilled stub, passes on the
  package's own code where the package has the same function, and names typical mistakes;
* every solution notebook ``tutorials/solutions/NN_topic.py`` executes in the fast setting, top to
  its last exercise, with every check passing (the shipped notebooks, where every check reports
  "not done", are executed whole by ``tests/test_notebooks.py``).
"""
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy import exercises
from mtl_numpy.backends import naive
from mtl_numpy.exercises import EXERCISES
# The notebooks' runner and the fixture for the fast setting (a fixture is used by its name).
from test_notebooks import check_reports, execute_notebook, fast_kernel_env  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_exercises", ROOT / "tools" / "make_exercises.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _load_tool()
SOURCES = TOOL.sources()
SOURCE_IDS = [path.name for path in SOURCES]
NAMES = list(EXERCISES)


# -- the derivation -----------------------------------------------------------------------------
def test_strip_solutions_replaces_each_block_by_the_indented_stub():
    text = ("def f(x):\n"
            "    ### START CODE HERE ### (≈ 1 line)\n"
            "    ### BEGIN SOLUTION\n"
            "    y = 2 * x\n"
            "    ### END SOLUTION\n"
            "    ### END CODE HERE ###\n"
            "    return y\n"
            "### BEGIN SOLUTION\n"
            "z = 1\n"
            "### END SOLUTION\n")
    assert TOOL.strip_solutions(text) == (
        "def f(x):\n"
        "    ### START CODE HERE ### (≈ 1 line)\n"
        "    # YOUR CODE HERE\n"
        "    raise NotImplementedError()\n"
        "    ### END CODE HERE ###\n"
        "    return y\n"
        "# YOUR CODE HERE\n"
        "raise NotImplementedError()\n")


def test_strip_solutions_leaves_text_without_markers_alone():
    text = "# %%\nx = 1\n\n# %% [markdown]\n# text\n"
    assert TOOL.strip_solutions(text) == text


@pytest.mark.parametrize("text, message", [
    ("### BEGIN SOLUTION\nx\n", "line 1: ### BEGIN SOLUTION is never closed"),
    ("x\n### END SOLUTION\n", "line 2: ### END SOLUTION without"),
    ("### BEGIN SOLUTION\n  ### BEGIN SOLUTION\n### END SOLUTION\n", "line 2: ### BEGIN SOLUTION inside"),
])
def test_strip_solutions_rejects_misplaced_markers(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TOOL.strip_solutions(text)


def test_solution_sources_exist():
    assert SOURCE_IDS, f"no solution sources in {TOOL.SOLUTIONS}"


@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_IDS)
def test_learner_notebook_is_derived_from_its_solution_source(source):
    pytest.importorskip("jupytext", reason="jupytext reads the tutorials' sources")
    learner = TUTORIALS / source.name
    assert learner.exists(), f"{learner} is missing: run python tools/make_exercises.py"
    expected = TOOL.learner_text(source.read_text(encoding="utf-8"))
    assert learner.read_text(encoding="utf-8") == expected, (
        f"{learner.name} is not what {source.relative_to(ROOT)} gives: edit the solution source, "
        "then run python tools/make_exercises.py (it also syncs the notebook)"
    )


@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_IDS)
def test_every_stub_in_a_solution_source_is_marked(source):
    """Every START CODE HERE region holds a marked solution, and the learner's file holds none."""
    text = source.read_text(encoding="utf-8")
    regions = re.findall(r"^[ \t]*### START CODE HERE ###.*?^[ \t]*### END CODE HERE ###", text,
                         flags=re.S | re.M)
    assert regions, f"{source.name} has no exercise"
    unmarked = [r.splitlines()[0] for r in regions if TOOL.BEGIN not in r]
    assert not unmarked, f"{source.name}: regions without {TOOL.BEGIN}: {unmarked}"
    learner = (TUTORIALS / source.name).read_text(encoding="utf-8")
    assert TOOL.BEGIN not in learner and "### END SOLUTION" not in learner


# -- the inventory -----------------------------------------------------------------------------
def test_enough_exercises_across_enough_notebooks():
    notebooks = {ex.notebook for ex in EXERCISES.values()}
    assert len(EXERCISES) >= 12 and len(notebooks) >= 4, (len(EXERCISES), sorted(notebooks))


def test_every_exercise_is_checked_in_its_notebook_and_every_check_exists():
    called = {}
    for source in SOURCES:
        for name in re.findall(r"exercises\.check_(\w+)\(", source.read_text(encoding="utf-8")):
            called.setdefault(name, set()).add(source.stem)
    unknown = sorted(set(called) - set(EXERCISES))
    assert not unknown, f"notebooks call checks that mtl_numpy.exercises does not define: {unknown}"
    for name, ex in EXERCISES.items():
        assert called.get(name) == {ex.notebook}, f"{name}'s check should be called in {ex.notebook}; found {called.get(name)}"


# -- the checks themselves -----------------------------------------------------------------------
def _raises_not_implemented(*args, **kwargs):
    raise NotImplementedError()


def _returns_none(*args, **kwargs):
    return None


def _call(name, learner, forward=None):
    check = EXERCISES[name].check
    return check(learner, forward) if name == "two_task_backward" else check(learner)


@pytest.mark.parametrize("stub", [_raises_not_implemented, _returns_none], ids=["raises", "returns-None"])
@pytest.mark.parametrize("name", NAMES)
def test_check_reports_an_unfilled_stub_as_not_done(name, stub):
    result = _call(name, stub, forward=stub)
    assert result.status == "not done" and not result, str(result)
    assert str(result).startswith(f"… {name}: not done yet")


def test_check_of_the_backward_waits_for_the_forward():
    def forward(X, params):
        raise NotImplementedError()
    result = exercises.check_two_task_backward(lambda dZL, caches: {}, forward)
    assert result.status == "not done", str(result)


def _package_pcgrad_project(g_i, g_j):
    """g_i's PCGrad projection by mtl.weighting.pcgrad_weights on two tasks, with g_j kept out of
    the projections: a zero K[0, 0] makes the package skip projecting g_j on g_i, so its weights
    are (1, 1 + c) with g_i_pc = g_i + c g_j, and the sum minus g_j is g_i_pc."""
    K = np.array([[0.0, g_i @ g_j], [g_i @ g_j, g_j @ g_j]])
    return mtl.weighting.pcgrad_weights(K, np.random.default_rng(0)) @ np.vstack([g_i, g_j]) - g_j


def _package_uncertainty(J_t, s, present):
    """UncertaintyWeighting.combine's cost and dJ/ds for log variances ``s``."""
    G = {"W1": np.where(present[:, None], 1.0, 0.0)}
    method = mtl.weighting.UncertaintyWeighting(n_tasks=len(J_t))
    method.params["log_var"][:] = s
    J, _ = method.combine(J_t, G, present=present)
    return J, method.grads["dlog_var"]


# The package's own function where it has one with the exercise's signature.
REFERENCES = {
    "masked_cost_vectorized": lambda AL, Y, normalize="examples": mtl.masked_logistic_cost(AL, Y, normalize=normalize),
    "masked_cost_grad": lambda ZL, Y: mtl.masked_logistic_cost_and_grad(ZL, Y)[1],
    "linear_forward": mtl.layers.linear_forward,
    "linear_backward": mtl.layers.linear_backward,
    "relu_backward": mtl.layers.relu_backward,
    "conv_single_step": naive.conv_single_step,
    "conv_forward": naive.conv_forward,
    "create_mask_from_window": naive.create_mask_from_window,
    "pool_backward": naive.pool_backward,
    # Tutorial 10: the package's functions, called with the exercise's signature.
    "gradient_cosine": lambda G, shared, i, j: mtl.diagnostics.conflict_from_task_grads(G, shared).cosine[i, j],
    "mgda_two_tasks": lambda g1, g2: mtl.weighting.two_task_min_norm(g1 @ g1, g1 @ g2, g2 @ g2),
    "pcgrad_project": lambda g_i, g_j: _package_pcgrad_project(g_i, g_j),
    "uncertainty_cost": lambda J_t, s, present: _package_uncertainty(J_t, s, present),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_check_passes_on_the_package_s_own_function(name):
    result = _call(name, REFERENCES[name])
    assert result.passed, str(result)
    assert str(result).startswith(f"✓ {name}: ")


def _adam_without_bias_correction(params, grads, v, s, t, learning_rate, beta1, beta2, epsilon):
    for key in params:
        d = "d" + key
        v[d] = beta1 * v[d] + (1 - beta1) * grads[d]
        s[d] = beta2 * s[d] + (1 - beta2) * grads[d] ** 2
        params[key] = params[key] - learning_rate * v[d] / (np.sqrt(s[d]) + epsilon)
    return params, v, s


def _two_task_forward(X, params):
    A1, trunk = mtl.layers.linear_relu_forward(X, params["W1"], params["b1"])
    Zp, ped = mtl.layers.linear_forward(A1, params["Wp"], params["bp"])
    Zc, car = mtl.layers.linear_forward(A1, params["Wc"], params["bc"])
    return np.vstack([Zp, Zc]), (trunk, ped, car)


def _two_task_backward_one_head(dZL, caches):
    trunk, ped, car = caches
    dA1, dWp, dbp = mtl.layers.linear_backward(dZL[0:1], ped)
    _, dWc, dbc = mtl.layers.linear_backward(dZL[1:2], car)
    _, dW1, db1 = mtl.layers.linear_relu_backward(dA1, trunk)     # the car head's dA1 forgotten
    return {"dW1": dW1, "db1": db1, "dWp": dWp, "dbp": dbp, "dWc": dWc, "dbc": dbc}


def _pool_backward_all_ties(dA, cache, mode="max"):
    A_prev, hp = cache
    f, s = hp["f"], hp["stride"]
    dA_prev = np.zeros_like(A_prev)
    for i, h, w, c in np.ndindex(*dA.shape):
        window = A_prev[i, s * h:s * h + f, s * w:s * w + f, c]
        spread = (window == window.max()) * dA[i, h, w, c] if mode == "max" else dA[i, h, w, c] / f ** 2
        dA_prev[i, s * h:s * h + f, s * w:s * w + f, c] += spread
    return dA_prev


WRONG = {
    "masked_cost_loops": (lambda AL, Y: mtl.masked_logistic_cost(AL, Y, normalize="labels"),
                          "divided by the number of known labels"),
    "masked_cost_vectorized": (lambda AL, Y, normalize="examples": mtl.masked_logistic_cost(AL, Y),
                               'J (normalize="labels")'),
    "masked_cost_grad": (lambda ZL, Y: mtl.label_mask(Y) * (mtl.layers.sigmoid(ZL) - Y) / Y.shape[1],
                         "is nan (Y there is '?')"),
    "linear_forward": (lambda A_prev, W, b: (W @ A_prev, (A_prev, W, b)), "without + b"),
    "linear_backward": (lambda dZ, cache: tuple(g / dZ.shape[1] for g in mtl.layers.linear_backward(dZ, cache)),
                        "divided by m"),
    "relu_backward": (lambda dA, Z: np.where(Z >= 0, dA, 0.0), "the derivative at Z = 0"),
    "two_task_forward": (lambda X, params: (_two_task_forward(X, params)[0][::-1], ()), "rows swapped"),
    "two_task_backward": (_two_task_backward_one_head, "the gradients of the pedestrian head alone"),
    "random_mini_batches": (lambda X, Y, batch_size, seed: [(X[:, k:k + batch_size], Y[:, k:k + batch_size])
                                                           for k in range(0, X.shape[1], batch_size)],
                            "original order"),
    "adam_step": (_adam_without_bias_correction, "without the bias correction"),
    "conv_single_step": (lambda a, W, b: np.sum(a * W), "without the bias"),
    "conv_forward": (lambda A, W, b, hp: naive.conv_forward(A, W, b, dict(hp, pad=0)), "Z has shape"),
    "create_mask_from_window": (lambda x: x == np.max(x), "True at every tied maximum"),
    "pool_backward": (_pool_backward_all_ties, "dA_prev["),
    "im2col": (lambda A, f, s, p: np.zeros((1, 1)), "cols has shape (1, 1)"),
    "gradient_cosine": (lambda G, shared, i, j: mtl.diagnostics.conflict_from_task_grads(G).cosine[i, j],
                        "the heads included"),
    "pcgrad_project": (lambda g_i, g_j: g_i - (g_i @ g_j) / (g_j @ g_j) * g_j,
                       "projected although it agrees"),
    "mgda_two_tasks": (lambda g1, g2: (g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)), "the unclipped ratio"),
    "uncertainty_cost": (lambda J_t, s, present: (float(np.sum(np.exp(-s) * J_t + s)), 1.0 - np.exp(-s) * J_t),
                         "the absent one's s_t included"),
}


def test_every_exercise_has_a_wrong_answer_case():
    assert sorted(WRONG) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_check_fails_on_a_wrong_answer_and_says_what_is_wrong(name):
    learner, phrase = WRONG[name]
    result = _call(name, learner, forward=_two_task_forward)
    assert result.status == "failed" and not result, str(result)
    assert str(result).startswith(f"✗ {name}: ") and phrase in str(result), str(result)
    assert "expected output:" in str(result)


def test_a_crash_in_the_learner_s_code_is_reported_not_raised():
    result = exercises.check_relu_backward(lambda dA, Z: dA[99, 99])
    assert result.status == "failed" and "IndexError" in str(result), str(result)


def test_show_source_prints_the_package_s_code(capsys):
    exercises.show_source(mtl.layers.relu_backward)
    out = capsys.readouterr().out
    assert out.startswith("# mtl_numpy/layers.py, line ") and "def relu_backward(dA, cache):" in out


# -- the solution notebooks --------------------------------------------------------------------
def _through_the_last_exercise(nb):
    """``nb`` cut after its last cell that uses ``exercises``: the cells after it are the shipped
    notebook's, already executed by tests/test_notebooks.py, and must not call a learner's function
    (checked here), so running them again with the solutions would test nothing new."""
    last = max(k for k, cell in enumerate(nb.cells) if cell.cell_type == "code" and "exercises." in cell.source)
    learner_call = re.compile(r"(?<![.\w])(" + "|".join(map(re.escape, EXERCISES)) + r")\(")
    late = [(k, m.group(1)) for k, cell in enumerate(nb.cells[last + 1:], start=last + 1)
            if cell.cell_type == "code" for m in [learner_call.search(cell.source)] if m]
    assert not late, f"cells after the last exercise call a learner's function: {late}"
    nb.cells = nb.cells[:last + 1]
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_IDS)
def test_solution_notebook_passes_every_check(source, fast_kernel_env):
    """The notebook with the answers filled in, top to its last exercise: every check passes."""
    jupytext = pytest.importorskip("jupytext", reason="jupytext reads the solution sources")

    nb = execute_notebook(_through_the_last_exercise(jupytext.read(str(source))), f"solutions/{source.name}")
    expected = [("✓", name) for name, ex in EXERCISES.items() if ex.notebook == source.stem]
    reports = check_reports(nb)
    assert expected and sorted(set(reports)) == sorted(expected), (
        f"solutions/{source.name}: every check should pass (✓); got {reports}, expected {expected}"
    )
