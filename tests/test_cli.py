"""The command line, end to end: demo, train/evaluate round trip, gradcheck, info, bad input.

Most tests call ``main([...])`` in-process (fast); one runs ``python -m mtl_numpy`` in a
subprocess to check the module entry point itself.
"""
import importlib.util
import re
import subprocess
import sys

import pytest

from mtl_numpy import TASKS, available_backends
from mtl_numpy.cli import main

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

GRADCHECK_LINE = re.compile(r"gradient check (passed|FAILED): difference = (\d\.\d+e[-+]\d+)")
TABLE_ROW = r"^{task}\s+(\d\.\d{{3}})\s"


def table_accuracies(out):
    """{task: accuracy} read back from a printed per-task table."""
    found = {}
    for task in TASKS:
        match = re.search(TABLE_ROW.format(task=task), out, flags=re.MULTILINE)
        assert match, f"no table row for {task!r} in:\n{out}"
        found[task] = float(match.group(1))
    return found


@pytest.mark.slow
def test_demo_quick_prints_table_gradient_check_and_saves_plot(tmp_path, capsys):
    out_dir = tmp_path / "runs"
    status = main(["demo", "--quick", "--no-progress", "--out", str(out_dir)])
    out = capsys.readouterr().out
    assert status == 0, out

    accuracies = table_accuracies(out)
    assert all(0.0 <= a <= 1.0 for a in accuracies.values())
    assert re.search(r"^mean\s+\d\.\d{3}", out, flags=re.MULTILINE), out

    match = GRADCHECK_LINE.search(out)
    assert match, f"no gradient-check line in:\n{out}"
    assert match.group(1) == "passed"
    assert float(match.group(2)) < 2e-7
    assert re.search(r"^\s+W1: \d\.\d+e[-+]\d+$", out, flags=re.MULTILINE), "per-parameter differences missing"

    png = out_dir / "demo_mlp_learning_curves.png"
    if HAS_MATPLOTLIB:
        assert png.is_file(), out
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"saved to {png}" in out
        assert (out_dir / "demo_mlp_scenes.png").is_file()
    else:
        assert not png.exists()
        assert "matplotlib" in out


@pytest.mark.slow
def test_demo_quick_cnn(tmp_path, capsys):
    status = main(["demo", "--model", "cnn", "--quick", "--no-progress", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "SharedCNN" in out
    table_accuracies(out)
    assert GRADCHECK_LINE.search(out).group(1) == "passed"


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_gradcheck_passes_and_exits_0(model, capsys):
    status = main(["gradcheck", "--model", model, "--m", "4"])
    out = capsys.readouterr().out
    assert status == 0, out
    match = GRADCHECK_LINE.search(out)
    assert match and match.group(1) == "passed", out
    assert float(match.group(2)) < 2e-7


def test_train_save_then_evaluate_load(tmp_path, capsys):
    path = tmp_path / "model.npz"
    status = main(["train", "--m", "120", "--n-test", "40", "--image-size", "16", "--epochs", "2",
                   "--hidden", "8", "--missing", "0,0.5,0.5,1", "--optimizer", "momentum",
                   "--lr", "0.05", "--dtype", "float64", "--normalize", "labels",
                   "--save", str(path), "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert path.is_file()
    table_accuracies(out)
    assert "model saved to" in out

    status = main(["evaluate", "--load", str(path), "--m", "50", "--seed", "3"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "SharedMLP([768, 8, 4])" in out
    table_accuracies(out)
    # 50 fresh scenes scored against the full truth: every task has 50 labels
    assert re.search(r"^pedestrian(\s+\S+){5}\s+50$", out, flags=re.MULTILINE), out


def test_evaluate_reproduces_the_saved_model(tmp_path, capsys):
    """Same checkpoint, same fresh scenes: the same table twice."""
    path = tmp_path / "m.npz"
    assert main(["train", "--m", "60", "--n-test", "20", "--image-size", "16", "--epochs", "1",
                 "--hidden", "4", "--save", str(path), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--load", str(path), "--m", "30"]) == 0
    first = capsys.readouterr().out
    assert main(["evaluate", "--load", str(path), "--m", "30"]) == 0
    assert capsys.readouterr().out == first


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--missing", "2"], "--missing"),
        (["train", "--missing", "0.1,0.2"], "--missing"),
        (["train", "--missing", "nan"], "--missing"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--hidden", "256,x"], "--hidden"),
        (["train", "--image-size", "8"], "--image-size"),
        (["train", "--optimizer", "sgd"], "--optimizer"),
        (["demo", "--backend", "nope"], "--backend"),
        (["gradcheck", "--missing", "0.2,0.2,0.2,0.2"], "--missing"),
        (["evaluate"], "--load"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_arguments_give_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "--load", "{tmp}/no-such-model.npz"], "does not exist"),
        (["train", "--m", "10", "--save", "{tmp}/no-such-folder/model.npz"], "does not exist"),
    ],
)
def test_user_mistakes_found_later_are_one_clean_line(argv, message, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in argv]
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_corrupt_checkpoint_is_a_clean_error(tmp_path, capsys):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a checkpoint")
    assert main(["evaluate", "--load", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


@pytest.mark.skipif("cupy" in available_backends(), reason="the cupy backend runs here")
def test_missing_backend_is_a_clean_error(capsys):
    status = main(["gradcheck", "--backend", "cupy"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: ") and "pip install" in err, err


def test_info_lists_versions_and_backends(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^numpy\s+\d+\.\d+", out, flags=re.MULTILINE), out
    assert re.search(r"^backends\s+numpy", out, flags=re.MULTILINE), out
    assert "mtl-numpy" in out


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "mtl_numpy", "info"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "numpy" in result.stdout

    result = subprocess.run([sys.executable, "-m", "mtl_numpy", "train", "--batch-size", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--batch-size" in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- #
# mtl_numpy.plotting (what the demo draws with): each function returns a Figure and saves it
# --------------------------------------------------------------------------- #
needs_matplotlib = pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")


@pytest.fixture
def small_run():
    import numpy as np

    import mtl_numpy as mtl

    data = mtl.datasets.driving_scenes(12, image_size=16, missing=0.3, seed=0)
    rng = np.random.default_rng(0)
    AL = rng.random((4, 12))
    metrics = mtl.task_metrics(data.Y_true, AL)
    history = mtl.History(train_cost=[1.9, 1.5, 1.2], val_cost=[2.0, 1.7, 1.6],
                          val_metrics=[metrics] * 3, tasks=data.tasks)
    return data, AL, metrics, history


@needs_matplotlib
def test_plotting_functions_return_figures_and_save(small_run, tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from mtl_numpy import plotting

    data, AL, metrics, history = small_run
    drawings = {
        "curves.png": lambda p: plotting.plot_learning_curves(history, path=p),
        "scenes.png": lambda p: plotting.plot_scenes(data.X, data.Y, AL, tasks=data.tasks, n=6, path=p),
        "labels.png": lambda p: plotting.plot_label_matrix(data.Y, tasks=data.tasks, path=p),
        "bars.png": lambda p: plotting.plot_task_metrics({"a": metrics, "b": metrics}, metric="f1", path=p),
    }
    for name, draw in drawings.items():
        fig = draw(tmp_path / name)
        assert isinstance(fig, Figure), name
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG", name
        plt.close(fig)


@needs_matplotlib
def test_label_matrix_shows_question_marks_in_their_own_colour(small_run):
    import matplotlib.pyplot as plt
    import numpy as np

    from mtl_numpy import plotting

    data = small_run[0]
    fig = plotting.plot_label_matrix(data.Y, tasks=data.tasks)
    image = fig.axes[0].images[0]
    codes = np.asarray(image.get_array())
    assert np.array_equal(codes == 2, np.isnan(data.Y))  # '?' has its own code ...
    colours = image.cmap(image.norm(np.array([0, 1, 2])))
    assert len({tuple(c) for c in colours}) == 3        # ... and its own colour
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("?") == int(np.isnan(data.Y).sum())
    plt.close(fig)


@needs_matplotlib
def test_learning_curves_draw_into_given_axes(small_run):
    import matplotlib.pyplot as plt

    from mtl_numpy import plotting

    history = small_run[3]
    fig, axes = plt.subplots(1, 2)
    assert plotting.plot_learning_curves(history, ax=axes) is fig
    assert len(axes[1].lines) == len(history.tasks) + 1  # one per task, plus the mean
    plt.close(fig)


@needs_matplotlib
@pytest.mark.parametrize("call, message", [
    (lambda P, d: P.plot_scenes(d[0].flat()), "(m, n_H, n_W, n_C)"),
    (lambda P, d: P.plot_task_metrics({}), "non-empty dict"),
    (lambda P, d: P.plot_task_metrics({"a": d[2]}, metric="auc"), "metric must be one of"),
    (lambda P, d: P.plot_label_matrix(d[0].Y, tasks=("a", "b")), "tasks must name"),
])
def test_plotting_bad_inputs_raise_value_error(call, message, small_run):
    from mtl_numpy import plotting

    with pytest.raises(ValueError, match=re.escape(message)):
        call(plotting, small_run)


def test_plotting_without_matplotlib_names_the_extra(monkeypatch):
    from mtl_numpy import plotting

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'mtl-numpy[plot]'")):
        plotting.plot_label_matrix([[1.0, 0.0]])


def test_demo_says_when_matplotlib_is_missing(monkeypatch, small_run, tmp_path):
    from mtl_numpy import cli

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    import mtl_numpy as mtl

    data, _, _, history = small_run
    model = mtl.SharedMLP([16 * 16 * 3, 4], seed=0)
    (message,) = cli._save_figures(history, model, data, str(tmp_path), "demo_mlp")
    assert "not plotted" in message and "mtl-numpy[plot]" in message
    assert list(tmp_path.iterdir()) == []


# -- faults that used to end normally or lose a trained model (one error line, non-zero exit) --

TRAIN_SMALL = ["train", "--model", "mlp", "--m", "200", "--n-test", "50", "--image-size", "16",
               "--epochs", "1", "--no-progress"]


def _one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_train_diverging_exits_non_zero_and_saves_nothing(tmp_path, capsys):
    target = tmp_path / "d.npz"
    status = main(TRAIN_SMALL + ["--optimizer", "gd", "--lr", "1e30", "--save", str(target)])
    captured = capsys.readouterr()
    assert status == 1
    assert "diverged" in _one_error_line(captured.err)
    assert not target.exists()


def test_train_refuses_an_unwritable_save_path_before_training(capsys):
    # /proc takes no new files, not even from root
    status = main(TRAIN_SMALL + ["--save", "/proc/mtl-numpy-test.npz"])
    captured = capsys.readouterr()
    assert status == 2
    assert "cannot write" in _one_error_line(captured.err)
    assert "trained in" not in captured.out            # refused before any training


def test_train_rescues_the_model_when_the_save_fails(tmp_path, capsys, monkeypatch):
    import mtl_numpy as mtl

    monkeypatch.chdir(tmp_path)
    target = tmp_path / "out" / "m.npz"
    target.parent.mkdir()
    real_save = mtl.SharedNetwork.save

    def save_fails_at_target(self, path):
        if str(path).startswith(str(target.parent)):
            raise PermissionError(13, "Permission denied")
        return real_save(self, path)

    monkeypatch.setattr(mtl.SharedNetwork, "save", save_fails_at_target)
    status = main(TRAIN_SMALL + ["--save", str(target)])
    captured = capsys.readouterr()
    assert status == 1
    line = _one_error_line(captured.err)
    rescued = list(tmp_path.glob("mtl-numpy-rescued-*.npz"))
    assert len(rescued) == 1 and str(rescued[0]) in line
    assert mtl.load_model(rescued[0]).n_parameters > 0


def test_gradcheck_with_every_label_missing_is_an_error(capsys):
    status = main(["gradcheck", "--missing", "1.0"])
    assert status == 2
    assert "no known label" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("make", ["fifo", "directory", "bomb"])
def test_evaluate_hostile_checkpoints_are_one_error_line(make, tmp_path, capsys):
    import os
    import zipfile

    path = tmp_path / "x.npz"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "directory":
        path.mkdir()
    else:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("W1.npy", bytes(50 << 20))          # 50 MB of zeros, ~50 kB on disk
    status = main(["evaluate", "--load", str(path), "--m", "20", "--max-bytes", str(10 << 20)]
                  if make == "bomb" else ["evaluate", "--load", str(path), "--m", "20"])
    assert status == 2
    assert "x.npz" in _one_error_line(capsys.readouterr().err)
