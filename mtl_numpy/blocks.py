r"""The blocks a shared network is built from, each with its forward and backward side by side.

A model is a list of blocks run in order, the lecture's ``L_model_forward``::

    for block in blocks:
        A, cache = block.forward(A)

and back in reverse order, its ``L_model_backward``::

    for block, cache in reversed(list(zip(blocks, caches))):
        dA, block_grads = block.backward(dA, cache)

Five kinds of block:

========================  ===========================================  =================
block                     forward                                      parameters
========================  ===========================================  =================
:class:`ConvBlock`        CONV (f×f, stride 1, 'same') -> RELU ->      ``W{l}``, ``b{l}``
                          MAX-POOL (p, stride p)
:class:`Flatten`          ``(m, n_H, n_W, n_C) -> (n_H·n_W·n_C, m)``   none
:class:`DenseReLU`        :math:`A = \max(W A_{prev} + b, 0)`          ``W{l}``, ``b{l}``
:class:`DenseOutput`      :math:`Z^{[L]} = W A_{prev} + b` (logits)    ``W{L}``, ``b{L}``
:class:`TaskHeads`        per task ``t``: its own dense ReLU layers     ``W{l}_t{t}``,
                          and its own output unit (row ``t`` of ZL)     ``b{l}_t{t}``
========================  ===========================================  =================

Per-task heads are named by layer and task: layer numbers continue the trunk's (the head's
first layer is ``l = L_trunk + 1``, its output unit is layer ``L``), and the suffix ``_t{t}``
(``t = 0 .. n_tasks - 1``, the row of ``Y``) says whose it is: ``W3_t0`` is task 0's first head
layer after a two-layer trunk, ``W4_t2``/``b4_t2`` task 2's output unit, of shapes ``(1, n[3])``
and ``(1, 1)``. Parameters are ordered layer by layer, and within a layer task by task.

Every block also has ``backward_tasks``: the same backward run once for a *stack* of per-task
upstream gradients (leading axis ``n_tasks``), giving each task's gradient of its own cost
(see :meth:`mtl_numpy.SharedNetwork.task_costs_and_grads`). The backward through a shared layer
is linear in its upstream gradient, so one pass over the stack gives every task's gradients;
the conv block runs the backend's ``conv_relu_pool_backward_tasks``
(:func:`mtl_numpy.backends.task_kernel`).

A block belongs to one network (``block.network``): it reads its parameters from
``network.params`` and runs the kernels of ``network.backend``, so a block holds no
arrays of its own. The output block returns the logits ``ZL``; the sigmoid is applied by
the loss (training) or by the model's prediction.

:func:`he_initialization` is the one place initial parameters are drawn.
"""
from __future__ import annotations

import numpy as np

from .arrays import get_array_module
from .backends import task_kernel

__all__ = ["ConvBlock", "Flatten", "DenseReLU", "DenseOutput", "TaskHeads", "he_initialization",
           "zero_parameters", "layer_blocks"]


class _LayerBlock:
    """A block with one weight ``W{l}`` and one bias ``b{l}``."""

    def __init__(self, network, l, W_shape, b_shape, fan_in, suffix=""):
        self.network = network
        self.l = int(l)
        #: "" for a shared layer, "_t{t}" for task t's head layer
        self.suffix = suffix
        self.W_shape = tuple(W_shape)
        self.b_shape = tuple(b_shape)
        #: inputs feeding one output unit: He initialisation's n[l-1]
        self.fan_in = int(fan_in)

    @property
    def param_names(self):
        """``("W{l}", "b{l}")`` (``("W{l}_t{t}", "b{l}_t{t}")`` in task t's head)."""
        return (f"W{self.l}{self.suffix}", f"b{self.l}{self.suffix}")

    @property
    def param_shapes(self):
        """``{"W{l}": W_shape, "b{l}": b_shape}``."""
        W, b = self.param_names
        return {W: self.W_shape, b: self.b_shape}

    def _Wb(self):
        P = self.network.params
        W, b = self.param_names
        return P[W], P[b]

    def _grads(self, dW, db):
        W, b = self.param_names
        return {"d" + W: dW, "d" + b: db}

    def _task_grads(self, dW_tasks, db_tasks):
        W, b = self.param_names
        return {W: dW_tasks, b: db_tasks}

    def __repr__(self):
        return f"{type(self).__name__}(l={self.l}, {self.param_names[0]}: {self.W_shape})"


class ConvBlock(_LayerBlock):
    r"""CONV (f×f, stride 1, 'same' padding) -> RELU -> MAX-POOL (p×p, stride p).

    One call to the backend's block kernel ``conv_relu_pool_forward`` /
    ``conv_relu_pool_backward``; its cache belongs to the backend (the model never
    looks inside).

    Parameters
    ----------
    network : SharedNetwork
    l : int
        Layer number: the parameters are ``W{l}`` of shape ``(f, f, n_C_prev, n_C)`` and
        ``b{l}`` of shape ``(1, 1, 1, n_C)``.
    f, n_C_prev, n_C, pool_size : int
    """

    def __init__(self, network, l, f, n_C_prev, n_C, pool_size):
        super().__init__(network, l, (f, f, n_C_prev, n_C), (1, 1, 1, n_C), f * f * n_C_prev)
        # 'same' padding (f - 1) / 2 keeps n_H and n_W for an odd f at stride 1
        self.conv_hparameters = {"stride": 1, "pad": (f - 1) // 2}
        self.pool_hparameters = {"f": pool_size, "stride": pool_size}

    def forward(self, A_prev):
        """``(A, cache)``: ``A`` of shape ``(m, n_H // p, n_W // p, n_C)``."""
        W, b = self._Wb()
        return self.network.backend.conv_relu_pool_forward(
            A_prev, W, b, self.conv_hparameters, self.pool_hparameters)

    def backward(self, dA, cache, need_dA_prev=True):
        """``(dA_prev, {"dW{l}": dW, "db{l}": db})``; ``dA_prev`` is None if not needed."""
        dA_prev, dW, db = self.network.backend.conv_relu_pool_backward(dA, cache, need_dA_prev)
        return dA_prev, self._grads(dW, db)

    def backward_tasks(self, dA_tasks, cache, need_dA_prev=True):
        """Per-task backward: ``dA_tasks`` of shape ``(n_tasks, m, n_H // p, n_W // p, n_C)``
        -> ``(dA_prev_tasks or None, {"W{l}": dW_tasks, "b{l}": db_tasks})``, each with a leading
        task axis (the backend's ``conv_relu_pool_backward_tasks``)."""
        kernel = task_kernel(self.network.backend, "conv_relu_pool_backward_tasks")
        dA_prev, dW, db = kernel(dA_tasks, cache, need_dA_prev)
        return dA_prev, self._task_grads(dW, db)


class Flatten:
    """``(m, n_H, n_W, n_C) -> (n_H·n_W·n_C, m)``: images to columns (no parameters)."""

    param_names = ()
    param_shapes = {}

    def __init__(self, network):
        self.network = network

    def forward(self, A_prev):
        """``(A, cache)`` with ``A`` of shape ``(n_H·n_W·n_C, m)``."""
        return self.network.backend.flatten_forward(A_prev)

    def backward(self, dA, cache, need_dA_prev=True):
        """``(dA_prev, {})``: the gradient reshaped back to images."""
        return self.network.backend.flatten_backward(dA, cache), {}

    def backward_tasks(self, dA_tasks, cache, need_dA_prev=True):
        """``(n_tasks, n, m) -> (n_tasks, m, n_H, n_W, n_C)``: each task's columns back to images
        (the backend's ``flatten_backward``, the one home of the flatten order, per task)."""
        backend = self.network.backend
        return backend.xp.stack([backend.flatten_backward(d, cache) for d in dA_tasks]), {}

    def __repr__(self):
        return "Flatten()"


class DenseReLU(_LayerBlock):
    r"""A hidden dense layer: :math:`Z = W A_{prev} + b`, :math:`A = \max(Z, 0)`.

    Parameters: ``W{l}`` of shape ``(n, n_prev)``, ``b{l}`` of shape ``(n, 1)``. The cache
    is the course's ``(linear_cache, activation_cache)``.
    """

    def __init__(self, network, l, n_prev, n, suffix=""):
        super().__init__(network, l, (n, n_prev), (n, 1), n_prev, suffix)

    def forward(self, A_prev):
        """``(A, cache)`` with ``A`` of shape ``(n, m)``."""
        W, b = self._Wb()
        return self.network.backend.linear_relu_forward(A_prev, W, b)

    def backward(self, dA, cache, need_dA_prev=True):
        """``(dA_prev, {"dW{l}": dW, "db{l}": db})``."""
        dA_prev, dW, db = self.network.backend.linear_relu_backward(dA, cache, need_dA_prev)
        return dA_prev, self._grads(dW, db)

    def backward_tasks(self, dA_tasks, cache, need_dA_prev=True):
        """Per-task backward: ``dA_tasks`` of shape ``(n_tasks, n, m)`` -> ``(dA_prev_tasks
        (n_tasks, n_prev, m) or None, {"W{l}": (n_tasks, n, n_prev), "b{l}": (n_tasks, n, 1)})``
        (the backend's ``linear_relu_backward_tasks``)."""
        kernel = task_kernel(self.network.backend, "linear_relu_backward_tasks")
        dA_prev, dW, db = kernel(dA_tasks, cache, need_dA_prev)
        return dA_prev, self._task_grads(dW, db)


class DenseOutput(_LayerBlock):
    r"""The output layer: logits :math:`Z^{[L]} = W^{[L]} A^{[L-1]} + b^{[L]}`, one row per task.

    No activation here: the sigmoid is fused into the loss (stable from logits) for
    training and applied by the model for predictions. The cache is
    ``(linear_cache, ZL)``, so ``backward`` takes ``dZ[L]`` itself.
    """

    def __init__(self, network, l, n_prev, n_tasks, suffix=""):
        super().__init__(network, l, (n_tasks, n_prev), (n_tasks, 1), n_prev, suffix)

    def forward(self, A_prev):
        """``(ZL, (linear_cache, ZL))`` with ``ZL`` of shape ``(n_tasks, m)``."""
        W, b = self._Wb()
        ZL, linear_cache = self.network.backend.linear_forward(A_prev, W, b)
        return ZL, (linear_cache, ZL)

    def backward(self, dZL, cache, need_dA_prev=True):
        """``(dA_prev, {"dW{L}": dW, "db{L}": db})`` from ``dZ[L]`` (which carries the cost's 1/m)."""
        linear_cache, _ = cache
        dA_prev, dW, db = self.network.backend.linear_backward(dZL, linear_cache, need_dA_prev)
        return dA_prev, self._grads(dW, db)

    def backward_tasks(self, dZL, cache, need_dA_prev=True):
        r"""Per-task backward from ``dZL`` of shape ``(n_tasks, m)``, whose row ``t`` is task
        ``t``'s gradient of its own cost (each task's cost depends on its row of ``ZL`` only).

        Returns ``(dA_prev_tasks, {"W{L}": G_W, "b{L}": G_b})``: task ``t``'s gradient touches
        only row ``t`` of ``W[L]`` and ``b[L]``, so ``G_W[t]`` is zero except
        ``G_W[t, t] = dZL[t] A_prev^T`` (the row of the summed ``dW``), and
        ``dA_prev_tasks[t] = W[L][t]^T dZL[t]`` (an outer product), ``(n_tasks, n_prev, m)``.
        """
        linear_cache, _ = cache
        A_prev, W, b = linear_cache
        xp = get_array_module(dZL)
        T = dZL.shape[0]
        _, dW, db = self.network.backend.linear_backward(dZL, linear_cache, False)
        rows = xp.arange(T)
        G_W = xp.zeros((T,) + tuple(W.shape), dtype=dW.dtype)
        G_b = xp.zeros((T,) + tuple(b.shape), dtype=db.dtype)
        G_W[rows, rows] = dW
        G_b[rows, rows] = db
        dA_prev = W[:, :, None] * dZL[:, None, :] if need_dA_prev else None
        return dA_prev, self._task_grads(G_W, G_b)


class TaskHeads:
    r"""One head per task on top of the shared trunk: task ``t``'s own dense ReLU layers and
    its own output unit, whose logit is row ``t`` of ``ZL``.

    Parameters
    ----------
    network : SharedNetwork
    l_first : int
        Layer number of the heads' first layer (the trunk has ``l_first - 1`` layers).
    n_prev : int
        Width of the trunk's output (the heads' input).
    head_dims : sequence of int
        Widths of each head's hidden layers (the same for every task).
    n_tasks : int

    Notes
    -----
    For task :math:`t`, with :math:`A^{[k]}` the trunk's output and :math:`L = k + H + 1`:

    .. math::
        A_t^{[l]} = \max(W_t^{[l]} A_t^{[l-1]} + b_t^{[l]}, 0) \;(l = k+1..L-1,\; A_t^{[k]} = A^{[k]}),
        \qquad Z^{[L]}_{t,:} = W_t^{[L]} A_t^{[L-1]} + b_t^{[L]}

    Parameters ``W{l}_t{t}`` of shape ``(n[l], n[l-1])`` and ``b{l}_t{t}`` of shape
    ``(n[l], 1)``; the output unit's are ``(1, n[L-1])`` and ``(1, 1)``. Backward, the trunk
    receives the sum over tasks of each head's ``dA``.
    """

    def __init__(self, network, l_first, n_prev, head_dims, n_tasks):
        self.network = network
        self.head_dims = tuple(head_dims)
        self.n_tasks = int(n_tasks)
        dims = [n_prev, *self.head_dims]
        L = l_first + len(self.head_dims)
        #: towers[t]: task t's blocks, in forward order
        self.towers = [
            [DenseReLU(network, l_first + i, dims[i], dims[i + 1], suffix=f"_t{t}")
             for i in range(len(self.head_dims))]
            + [DenseOutput(network, L, dims[-1], 1, suffix=f"_t{t}")]
            for t in range(self.n_tasks)
        ]

    @property
    def layers(self):
        """The head blocks layer by layer, and within a layer task by task (the parameter order)."""
        return [tower[i] for i in range(len(self.towers[0])) for tower in self.towers]

    @property
    def param_names(self):
        return tuple(name for block in self.layers for name in block.param_names)

    @property
    def param_shapes(self):
        return {name: shape for block in self.layers for name, shape in block.param_shapes.items()}

    def forward(self, A_prev):
        """``(ZL, cache)``: ``ZL`` of shape ``(n_tasks, m)``, row ``t`` from task ``t``'s head."""
        rows, caches = [], []
        for tower in self.towers:
            A, tower_caches = A_prev, []
            for block in tower:
                A, cache = block.forward(A)
                tower_caches.append(cache)
            rows.append(A)
            caches.append(tower_caches)
        return self.network.backend.xp.concatenate(rows, axis=0), caches

    def _tower_backward(self, t, dZL_t, caches, need_dA_prev):
        grads, dA = {}, dZL_t
        tower = self.towers[t]
        for i in range(len(tower) - 1, -1, -1):
            dA, block_grads = tower[i].backward(dA, caches[t][i], need_dA_prev=i > 0 or need_dA_prev)
            grads.update(block_grads)
        return dA, grads

    def backward(self, dZL, cache, need_dA_prev=True):
        """``(dA_prev, grads)``: every head's gradients, and the sum of the heads' ``dA`` for the trunk."""
        grads, dA_prev = {}, None
        for t in range(self.n_tasks):
            dA, tower_grads = self._tower_backward(t, dZL[t:t + 1], cache, need_dA_prev)
            grads.update(tower_grads)
            if need_dA_prev:
                dA_prev = dA if dA_prev is None else dA_prev + dA
        return dA_prev, grads

    def backward_tasks(self, dZL, cache, need_dA_prev=True):
        """Per-task backward from ``dZL`` of shape ``(n_tasks, m)`` (row ``t``: task ``t``'s).

        Returns ``(dA_prev_tasks (n_tasks, n_prev, m) or None, G)``: task ``t``'s head gives
        ``dA_prev_tasks[t]``, and ``G[name]`` of shape ``(n_tasks, *param.shape)`` is zero except
        at the row of the task that owns the parameter.
        """
        xp = self.network.backend.xp
        G, dA_rows = {}, []
        for t in range(self.n_tasks):
            dA, tower_grads = self._tower_backward(t, dZL[t:t + 1], cache, need_dA_prev)
            dA_rows.append(dA)
            for key, value in tower_grads.items():
                g = xp.zeros((self.n_tasks,) + tuple(value.shape), dtype=value.dtype)
                g[t] = value
                G[key[1:]] = g
        return (xp.stack(dA_rows) if need_dA_prev else None), G

    def __repr__(self):
        return f"TaskHeads(head_dims={self.head_dims}, n_tasks={self.n_tasks})"


def layer_blocks(blocks):
    """The blocks that hold parameters, in parameter order (the heads' blocks expanded)."""
    out = []
    for block in blocks:
        if isinstance(block, TaskHeads):
            out.extend(block.layers)
        elif block.param_names:
            out.append(block)
    return out


def he_initialization(blocks, seed):
    r"""Initial parameters of ``blocks``, drawn on the host: He for weights, zeros for biases.

    Parameters
    ----------
    blocks : list of blocks
        In forward order; their weights are drawn in that order from one generator, so
        the same ``seed`` gives the same numbers on every backend and dtype.
    seed : int or None
        Seeds ``np.random.default_rng``.

    Returns
    -------
    params : dict of str to float64 ndarray
        ``{"W1": ..., "b1": ..., ...}``.

    Notes
    -----
    .. math::
        W^{[l]} \sim \mathcal N\!\left(0, \frac{2}{n^{[l-1]}}\right), \qquad b^{[l]} = 0

    with :math:`n^{[l-1]}` the fan-in: the previous layer's width for a dense layer,
    :math:`f \cdot f \cdot n_{C,prev}` for a conv filter.
    """
    rng = np.random.default_rng(seed)
    params = {}
    for block in layer_blocks(blocks):
        W, b = block.param_names
        params[W] = rng.standard_normal(block.W_shape) * np.sqrt(2.0 / block.fan_in)
        params[b] = np.zeros(block.b_shape)
    return params


def zero_parameters(blocks):
    """Zero-filled parameters of ``blocks`` (placeholders to be overwritten, e.g. by a checkpoint)."""
    return {name: np.zeros(shape) for block in blocks for name, shape in block.param_shapes.items()}
