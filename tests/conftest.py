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


# ----------------------------------------------------------------------------------------------
# Every model test runs on every backend that can run here, from one table of model cases
# ----------------------------------------------------------------------------------------------
import mtl_numpy as mtl  # noqa: E402

#: The backends of this machine: numpy always, numba when installed, cupy with a GPU.
BACKENDS = tuple(mtl.available_backends())


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each available backend's name in turn ("numpy", "numba", "cupy")."""
    return request.param


#: Model cases shared by the model, training and twin tests: name -> (class, keyword arguments).
#: Small enough for a full float64 gradient check; between them they cover a deep and a
#: one-layer MLP, two conv blocks, a 5x5 kernel with 3x3 pooling that rounds sizes down, and a
#: CNN with no hidden dense layer.
MODEL_CASES = {
    "mlp": (mtl.SharedMLP, dict(layer_dims=[5, 4, 3, 3])),
    "mlp-one-layer": (mtl.SharedMLP, dict(layer_dims=[4, 2])),
    "cnn": (mtl.SharedCNN, dict(input_shape=(6, 5, 2), conv_channels=(3, 2), kernel_size=3,
                                pool_size=2, hidden=(5,), n_tasks=3)),
    "cnn-5x5-pool3": (mtl.SharedCNN, dict(input_shape=(7, 8, 1), conv_channels=(2,), kernel_size=5,
                                          pool_size=3, hidden=(), n_tasks=2)),
}

#: Where the '?' labels sit: at random only, plus an all-'?' example, an all-'?' task, or nothing known.
LABEL_PATTERNS = ("none", "example", "task", "batch")


def make_model(case, backend="numpy", dtype="float64", seed=3, normalize="examples"):
    """A model of ``MODEL_CASES[case]`` on ``backend``."""
    cls, kwargs = MODEL_CASES[case]
    return cls(**kwargs, seed=seed, dtype=dtype, backend=backend, normalize=normalize)


def model_inputs(model, rng, m):
    """Random float64 host inputs for ``model``: ``(n_x, m)`` or ``(m, n_H, n_W, n_C)``."""
    if isinstance(model, mtl.SharedCNN):
        return rng.random((m, *model.input_shape))
    return rng.normal(size=(model.layer_dims[0], m))


def labels_with_pattern(rng, n_tasks, m, pattern):
    """Random labels with 30% '?', and the '?' pattern of :data:`LABEL_PATTERNS` on top."""
    Y = random_labels(rng, n_tasks, m, 0.3)
    if pattern == "example" and m > 1:
        Y[:, 0] = np.nan          # an all-'?' example
    elif pattern == "task":
        Y[0, :] = np.nan          # an all-'?' task
    elif pattern == "batch":
        Y[:] = np.nan             # nothing known at all
    return Y


def jitter_biases(model, rng):
    """Give every b a small random value (in place: params are live).

    With b = 0, a ReLU unit that is dead on every example feeds exact zeros to
    the next layer, whose Z is then exactly 0: on ReLU's kink, where no
    finite-difference check can agree with a one-sided derivative.
    """
    for key, value in model.params.items():
        if key.startswith("b"):
            jitter = rng.normal(scale=0.1, size=value.shape)
            value += model.backend.asarray(jitter, dtype=value.dtype)
    return model


def host(a):
    """A NumPy copy of a NumPy or CuPy array."""
    return mtl.to_numpy(a)
