"""Regenerate the README's figures in ``docs/figures/``.

Usage::

    python tools/readme_figures.py            # full setting, about two minutes on one CPU core
    python tools/readme_figures.py --fast     # small and quick, to check that the script runs

Writes

* ``docs/figures/label_matrix.png``       — the label matrix ``Y`` of 32 scenes, '?' in its own colour;
* ``docs/figures/scenes_predictions.png`` — test scenes with their labels ('?' included) and the
  predictions of a trained ``SharedCNN`` (red where a known label is contradicted);
* ``docs/figures/learning_curves.png``    — that CNN's training and validation cost, and its
  validation accuracy per task, epoch by epoch;

and prints the CNN's per-task test metrics (against the full truth), so that any number quoted
next to the figures comes from the run that drew them. Everything is seeded: the same command
gives the same figures on the same machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Regenerate the README figures in docs/figures/.")
    parser.add_argument("--fast", action="store_true", help="small data and one epoch (a smoke test)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures",
                        help="output folder (default: docs/figures)")
    args = parser.parse_args(argv)

    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    import mtl_numpy as mtl
    from mtl_numpy.plotting import plot_label_matrix, plot_learning_curves, plot_scenes

    args.out.mkdir(parents=True, exist_ok=True)
    m_train, m_val, m_test = (600, 200, 200) if args.fast else (10000, 1000, 1000)
    epochs = 1 if args.fast else 12

    start = time.perf_counter()
    data = mtl.datasets.driving_scenes(m_train + m_val + m_test, image_size=32, missing=0.3, seed=0)
    rest, test = data.split(m_test)
    train, val = rest.split(m_val)
    written = []

    # 1. The label matrix of the first 32 training scenes.
    path = args.out / "label_matrix.png"
    plt.close(plot_label_matrix(train.Y[:, :32], tasks=train.tasks, path=path))
    written.append(path)

    # 2-3. A SharedCNN trained on the scenes; its learning curves and its predictions.
    model = mtl.SharedCNN(input_shape=(32, 32, 3), conv_channels=(16, 32), kernel_size=3, pool_size=2,
                          hidden=(64,), seed=0)
    history = mtl.fit(model, train.X, train.Y, optimizer=mtl.Adam(learning_rate=1e-3), epochs=epochs,
                      batch_size=64, validation=(val.X, val.Y), seed=0, progress=sys.stderr.isatty(),
                      tasks=train.tasks)

    path = args.out / "learning_curves.png"
    fig = plot_learning_curves(history)
    fig.suptitle(f"SharedCNN on {train.m} driving scenes, 30% of the labels '?'", y=1.03)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    written.append(path)

    AL = mtl.predict_proba_batched(model, test.X)
    path = args.out / "scenes_predictions.png"
    plt.close(plot_scenes(test.X, test.Y, Y_pred=AL, tasks=test.tasks, n=8, path=path))
    written.append(path)

    metrics = mtl.task_metrics(test.Y_true, AL, tasks=test.tasks)
    print(mtl.format_metrics_table(
        metrics, title=f"SharedCNN, {history.epochs} epochs, {test.m} test scenes, full truth"))
    print(f"({time.perf_counter() - start:.0f} s)")
    for path in written:
        print("wrote", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
