"""Per-task costs and gradients against PyTorch autograd: a twin of a model with per-task heads
(and of the all-shared CNN), each task's cost differentiated on its own, every parameter
compared. PyTorch is only a test oracle here; the file is skipped without it."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch twin needs torch (never an mtl-numpy extra)")
F = torch.nn.functional

import mtl_numpy as mtl  # noqa: E402
from conftest import host, jitter_biases, labels_with_pattern, model_inputs  # noqa: E402

RTOL, ATOL = 1e-10, 1e-13


def dense_stack(P, A, layers, suffix=""):
    """``A`` through dense layers ``layers`` (ReLU on all but the last one given)."""
    for i, l in enumerate(layers):
        Z = P[f"W{l}{suffix}"] @ A + P[f"b{l}{suffix}"]
        A = torch.relu(Z) if i < len(layers) - 1 else Z
    return A


def trunk_twin(model, P, X):
    """The shared trunk's output (columns are examples), with PyTorch's conv2d and max_pool2d."""
    A = torch.tensor(X, dtype=torch.float64)
    l = 0
    if isinstance(model, mtl.SharedCNN):
        A = A.permute(0, 3, 1, 2)
        for l in range(1, len(model.conv_channels) + 1):
            W = P[f"W{l}"].permute(3, 2, 0, 1)
            A = F.conv2d(A, W, P[f"b{l}"].reshape(-1), padding=(model.kernel_size - 1) // 2)
            A = F.max_pool2d(torch.relu(A), kernel_size=model.pool_size, stride=model.pool_size)
        A = A.permute(0, 2, 3, 1).reshape(A.shape[0], -1).T        # our flatten order
    hidden = [k for k in model.shared if k.startswith("W")][l:]
    for key in hidden:
        A = torch.relu(P[key] @ A + P["b" + key[1:]])
    return A


def logits_twin(model, P, X):
    """``ZL`` (n_tasks, m): the shared output layer, or one tower per task."""
    A = trunk_twin(model, P, X)
    L = model.n_layers
    if model.head_dims is None:
        return P[f"W{L}"] @ A + P[f"b{L}"]
    first = L - len(model.head_dims)
    layers = list(range(first, L + 1))
    return torch.cat([dense_stack(P, A, layers, f"_t{t}") for t in range(model.n_tasks)], dim=0)


def task_cost(ZL_t, Y_t, normalize):
    known = ~torch.isnan(Y_t)
    losses = F.binary_cross_entropy_with_logits(ZL_t, torch.where(known, Y_t, torch.zeros_like(Y_t)),
                                                reduction="none")
    N = Y_t.shape[0] if normalize == "examples" else int(known.sum())
    return torch.where(known, losses, torch.zeros_like(losses)).sum() / max(N, 1)


MODELS = {
    "mlp-heads": lambda: mtl.SharedMLP([6, 5, 4, 3], head_dims=(3,), dtype="float64", seed=2),
    "cnn-heads": lambda: mtl.SharedCNN((7, 6, 2), conv_channels=(3, 4), hidden=(5,), n_tasks=3,
                                       head_dims=(4, 2), dtype="float64", seed=2),
    "cnn": lambda: mtl.SharedCNN((7, 6, 2), conv_channels=(3, 4), hidden=(5,), n_tasks=3,
                                 dtype="float64", seed=2),
}


@pytest.mark.parametrize("normalize", ["examples", "labels"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_per_task_gradients_match_torch_autograd(backend, name, normalize, rng):
    model = jitter_biases(MODELS[name](), rng).to_backend(backend)
    model.normalize = normalize
    m = 5
    X = model_inputs(model, rng, m)
    Y = labels_with_pattern(rng, model.n_tasks, m, "example")
    J_t, G = model.task_costs_and_grads(X, Y)
    P = {k: torch.tensor(host(v), dtype=torch.float64, requires_grad=True) for k, v in model.params.items()}
    ZL = logits_twin(model, P, X)
    Yt = torch.tensor(Y, dtype=torch.float64)
    for t in range(model.n_tasks):
        cost = task_cost(ZL[t], Yt[t], normalize)
        theirs = torch.autograd.grad(cost, list(P.values()), retain_graph=True, allow_unused=True)
        assert J_t[t] == pytest.approx(cost.item(), rel=RTOL, abs=ATOL)
        for (key, _), grad in zip(P.items(), theirs):
            expected = np.zeros(P[key].shape) if grad is None else grad.numpy()
            ours = host(G[key][t])
            if not np.allclose(ours, expected, rtol=RTOL, atol=ATOL):
                raise AssertionError(f"task {t}, {key}: ours {ours.ravel()[:4]} ..., "
                                     f"theirs {expected.ravel()[:4]} ... "
                                     f"(max diff {np.abs(ours - expected).max():.3e})")
