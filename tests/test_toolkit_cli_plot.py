"""The toolkit on the command line (``train --head-dims --weighting --track-conflict``) and the
gradient-conflict plot."""
import importlib.util

import numpy as np
import pytest

import mtl_numpy as mtl
from mtl_numpy.cli import main

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
TRAIN = ["train", "--model", "cnn", "--m", "120", "--n-test", "40", "--image-size", "16", "--epochs", "2",
         "--hidden", "8", "--conv-channels", "4", "--batch-size", "30", "--no-progress"]


def test_train_with_heads_weighting_and_conflict_summary(capsys, tmp_path):
    path = tmp_path / "heads.npz"
    status = main(TRAIN + ["--head-dims", "6", "--weighting", "pcgrad", "--track-conflict", "3",
                           "--save", str(path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "a head [6] per task" in out and "weighting 'pcgrad'" in out
    assert "gradient conflict on the shared parameters, 3 tracked steps (every 3 steps)" in out
    assert "pedestrian / car" in out and "stop_sign / traffic_light" in out
    loaded = mtl.load_model(path)
    assert loaded.head_dims == (6,) and "W3_t3" in loaded.params
    assert main(["evaluate", "--load", str(path), "--m", "20"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--weighting", "nope"], "invalid choice: 'nope'"),
    (["--head-dims", "0"], "--head-dims: expected comma-separated positive integers"),
    (["--head-dims", "a,b"], "--head-dims: expected comma-separated positive integers"),
    (["--track-conflict", "0"], "--track-conflict: expected a positive integer"),
])
def test_bad_toolkit_arguments_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(TRAIN + argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def tracked_history():
    data = mtl.datasets.driving_scenes(64, image_size=16, missing=0.3, seed=0)
    model = mtl.SharedMLP([16 * 16 * 3, 8, 4], head_dims=(4,), seed=0)
    return mtl.fit(model, data.flat(), data.Y, epochs=2, batch_size=16, progress=False,
                   weighting="mgda", track_conflict=2, tasks=data.tasks)


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="plotting needs matplotlib")
def test_plot_gradient_conflict(tracked_history, tmp_path):
    from mtl_numpy.plotting import plot_gradient_conflict

    fig = plot_gradient_conflict(tracked_history, path=tmp_path / "conflict.png")
    assert (tmp_path / "conflict.png").stat().st_size > 0
    assert len(fig.axes) == 3                      # all shared, layer "1", the task weights
    lines = [line for line in fig.axes[0].get_lines() if line.get_label().count(" / ") == 1]
    assert len(lines) == 6                         # every pair of the four tasks
    steps, values = tracked_history.conflict_curve("pedestrian", "car")
    np.testing.assert_allclose(lines[0].get_ydata(), values)
    assert len(plot_gradient_conflict(tracked_history, layers=None).axes) == 2
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="plotting needs matplotlib")
def test_plot_gradient_conflict_bad_inputs(tracked_history):
    from mtl_numpy.plotting import plot_gradient_conflict

    with pytest.raises(ValueError, match="track_conflict"):
        plot_gradient_conflict(mtl.History())
    with pytest.raises(ValueError, match="not among the tracked layers"):
        plot_gradient_conflict(tracked_history, layers=["7"])
