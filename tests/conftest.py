import os

import numpy as np
import pytest
from hypothesis import settings

# Hypothesis: deterministic in CI, a moderate number of examples everywhere.
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_labels(rng, n_tasks, m, missing=0.3, dtype=np.float64):
    """Random 0/1 labels with a fraction of nan ('?')."""
    Y = (rng.random((n_tasks, m)) < 0.5).astype(dtype)
    Y[rng.random((n_tasks, m)) < missing] = np.nan
    return Y
