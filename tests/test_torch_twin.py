"""Our models against a PyTorch twin: same weights, same '?' labels, same cost and gradients.

numpy-ml's habit: copy the weights into an independently written network (here PyTorch's
autograd, in float64) and compare every named tensor, with a message showing ours and theirs.
PyTorch is never a dependency of the package (no extra lists it): without it this file is skipped.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch twin needs torch (never an mtl-numpy extra)")
F = torch.nn.functional

import mtl_numpy as mtl  # noqa: E402
from conftest import host, jitter_biases, labels_with_pattern, model_inputs  # noqa: E402

#: float64 on both sides; only the order of the sums differs
RTOL, ATOL = 1e-10, 1e-13


def assert_same(name, ours, theirs):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"{name}: ours has shape {ours.shape}, theirs {theirs.shape}"
    if not np.allclose(ours, theirs, rtol=RTOL, atol=ATOL):
        k = int(np.argmax(np.abs(ours - theirs)))
        raise AssertionError(
            f"{name} differs from the PyTorch twin: max |ours - theirs| = {np.abs(ours - theirs).max():.3e} "
            f"at flat index {k}: ours {ours.ravel()[k]!r}, theirs {theirs.ravel()[k]!r}\n"
            f"ours   = {np.array2string(ours.ravel()[:6], precision=10)} ...\n"
            f"theirs = {np.array2string(theirs.ravel()[:6], precision=10)} ..."
        )


def torch_masked_cost(ZL, Y, normalize):
    """The lecture's masked cost, written with PyTorch's own mask and BCE-with-logits."""
    known = ~torch.isnan(Y)
    losses = F.binary_cross_entropy_with_logits(ZL, torch.where(known, Y, torch.zeros_like(Y)),
                                                reduction="none")
    N = Y.shape[1] if normalize == "examples" else int(known.sum())
    return torch.where(known, losses, torch.zeros_like(losses)).sum() / max(N, 1)


def twin_params(model):
    """Our parameters as float64 leaf tensors that require gradients."""
    return {k: torch.tensor(host(v), dtype=torch.float64, requires_grad=True) for k, v in model.params.items()}


def mlp_twin(model, P, X):
    """``ZL`` of a SharedMLP: Z = W A + b with columns as examples, ReLU on the hidden layers."""
    A = torch.tensor(X, dtype=torch.float64)
    L = model.n_layers
    for l in range(1, L + 1):
        Z = P[f"W{l}"] @ A + P[f"b{l}"]
        A = torch.relu(Z) if l < L else Z
    return A


def cnn_twin(model, P, X):
    """``ZL`` of a SharedCNN with PyTorch's conv2d and max_pool2d (channels first inside)."""
    A = torch.tensor(X, dtype=torch.float64).permute(0, 3, 1, 2)          # (m, n_C, n_H, n_W)
    n_conv = len(model.conv_channels)
    for l in range(1, n_conv + 1):
        W = P[f"W{l}"].permute(3, 2, 0, 1)                               # (n_C, n_C_prev, f, f)
        A = F.conv2d(A, W, P[f"b{l}"].reshape(-1), stride=1, padding=(model.kernel_size - 1) // 2)
        A = F.max_pool2d(torch.relu(A), kernel_size=model.pool_size, stride=model.pool_size)
    # our flatten: each example row-major over (n_H, n_W, n_C), one column per example
    A = A.permute(0, 2, 3, 1).reshape(A.shape[0], -1).T
    L = model.n_layers
    for l in range(n_conv + 1, L + 1):
        Z = P[f"W{l}"] @ A + P[f"b{l}"]
        A = torch.relu(Z) if l < L else Z
    return A


TWINS = {
    "mlp": (lambda: mtl.SharedMLP([6, 5, 4, 3], dtype="float64", seed=2), mlp_twin),
    "cnn": (lambda: mtl.SharedCNN((7, 6, 2), conv_channels=(3, 4), kernel_size=3, pool_size=2, hidden=(5,),
                                  n_tasks=3, dtype="float64", seed=2), cnn_twin),
}


@pytest.mark.parametrize("normalize", ["examples", "labels"])
@pytest.mark.parametrize("pattern", ["none", "example", "task"])
@pytest.mark.parametrize("name", sorted(TWINS))
def test_cost_and_every_gradient_match_the_torch_twin(backend, name, pattern, normalize, rng):
    build, twin = TWINS[name]
    model = jitter_biases(build(), rng).to_backend(backend)
    model.normalize = normalize
    m = 5
    X = model_inputs(model, rng, m)
    Y = labels_with_pattern(rng, model.n_tasks, m, pattern)
    assert np.isnan(Y).any()

    J, grads = model.cost_and_grads(X, Y)
    P = twin_params(model)
    ZL = twin(model, P, X)
    J_t = torch_masked_cost(ZL, torch.tensor(Y, dtype=torch.float64), normalize)
    J_t.backward()

    assert_same("cost J", J, J_t.item())
    assert_same("cost J (no gradient)", model.cost(X, Y), J_t.item())
    assert_same("AL", host(model.predict_proba(X)), torch.sigmoid(ZL).detach().numpy())
    assert list(grads) == ["d" + k for k in model.params]
    for key, tensor in P.items():
        assert_same("d" + key, host(grads["d" + key]), tensor.grad.numpy())
