r"""The shared networks: one trunk, one sigmoid unit per task (or one head per task).

Both models are the same abstraction, :class:`SharedNetwork`: an ordered list
of blocks (:mod:`mtl_numpy.blocks`: conv blocks, a flatten, dense ReLU layers,
the dense output layer), run forward and then backward by the same two loops.
:class:`SharedMLP` and :class:`SharedCNN` only declare their blocks; the
parameters are drawn by :func:`mtl_numpy.blocks.he_initialization`.

Every kernel is called through ``self.backend`` (a module from
:mod:`mtl_numpy.backends`), never by testing the backend's name.

The public API works on raw inputs (``cost(X, Y)``, ``predict_proba(X)``): each
call validates its arguments. Loops that reuse a batch (training, gradient
checks, benchmarks) validate once with :meth:`SharedNetwork.prepare` and then
call the ``prepared_*`` methods, which take the prepared arrays as they are.

Per-task heads (``head_dims=(32,)``): the trunk is shared, then each task has its own dense
ReLU layers and its own output unit (:class:`mtl_numpy.blocks.TaskHeads`). Head parameters
are named ``W{l}_t{t}``, ``b{l}_t{t}`` (layer ``l``, task ``t`` counted from 0; the layer
numbers continue the trunk's), their gradients ``"d" + name``. ``head_dims=None`` (the
default) is the lecture's model, unchanged. :attr:`SharedNetwork.shared` names the parameters
every task uses; :meth:`SharedNetwork.task_costs_and_grads` gives each task's own cost and
gradients in one forward and one backward pass.
"""
from __future__ import annotations

import numbers
import os

import numpy as np

from .backends import get_array_module, get_backend, to_numpy
from .blocks import (ConvBlock, DenseOutput, DenseReLU, Flatten, TaskHeads, he_initialization,
                     layer_blocks, zero_parameters)
from .checkpoint_format import DEFAULT_MAX_BYTES, check_arrays_match, read_checkpoint, write_checkpoint
from .guards import finite_in_dtype
from .labels import validate_labels
from .losses import check_normalize, masked_logistic_cost_from_logits

__all__ = ["SharedNetwork", "SharedMLP", "SharedCNN", "DTYPES", "MODEL_CLASSES"]

#: Floating dtypes a model can be built in.
DTYPES = ("float32", "float64")


def _check_dtype(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}; got {dtype!r}")
    return name


def _check_seed(seed):
    if seed is not None and not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an int or None; got {seed!r}")
    return seed


def _check_sequence(name, value, expected):
    """``value`` as a list if it is an ordered sequence (not a string, set or dict)."""
    if isinstance(value, (str, bytes, set, frozenset, dict)) or not hasattr(value, "__len__") \
            or not hasattr(value, "__getitem__"):
        raise ValueError(f"{name} must be an ordered sequence (list or tuple) {expected}; got {value!r}")
    return list(value)


def _check_positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def _check_head_dims(head_dims):
    """``None`` (no heads: the lecture's model) or a non-empty tuple of positive widths."""
    if head_dims is None:
        return None
    dims = _check_sequence("head_dims", head_dims, "of per-task head layer widths, or None")
    if not dims:
        raise ValueError("head_dims must be None (one shared output layer) or a non-empty sequence "
                         "of per-task head widths such as (32,); got an empty sequence")
    return tuple(_check_positive_int(f"head_dims[{i}]", d) for i, d in enumerate(dims))


class SharedNetwork:
    """Base class: parameters, the forward and backward loops, masked cost, conversions.

    Subclasses declare ``self.blocks`` (a list of :mod:`mtl_numpy.blocks` objects, in
    forward order) and then call :meth:`_init_params`.
    """

    #: axis of X that indexes examples (1 for column-stacked MLP inputs, 0 for images)
    example_axis = 1

    def __init__(self, *, seed, dtype, backend, normalize, head_dims=None):
        self.head_dims = _check_head_dims(head_dims)
        self.seed = _check_seed(seed)
        self.dtype = _check_dtype(dtype)
        self.normalize = check_normalize(normalize)
        self.backend = get_backend(backend)
        self.params = {}
        self.blocks = []

    # ------------------------------------------------------------------ set-up
    def _init_params(self, initialize):
        """He-initialise the declared blocks (``initialize=False``: zeros, to be overwritten;
        ``None``: allocate nothing -- an architecture only, whose :meth:`param_shapes` a
        checkpoint is checked against before its arrays are read)."""
        if initialize is None:
            self.params = {}
            return
        host = he_initialization(self.blocks, self.seed) if initialize else zero_parameters(self.blocks)
        self._set_params(host)

    def param_shapes(self):
        """``{"W1": shape, "b1": shape, ...}`` from the architecture alone (nothing allocated)."""
        return {name: tuple(shape) for block in self.blocks for name, shape in block.param_shapes.items()}

    def _set_params(self, host_params):
        """Move host float64 arrays to the backend in the model's dtype."""
        self.params = {
            key: self.backend.asarray(np.asarray(value), dtype=self.dtype)
            for key, value in host_params.items()
        }

    def _add_output(self, l, n_prev, n_tasks):
        """The last block(s): the shared output layer ``W{l}`` (no heads), or per-task heads
        whose first layer is ``l``."""
        if self.head_dims is None:
            self.blocks.append(DenseOutput(self, l, n_prev, n_tasks))
        else:
            self.blocks.append(TaskHeads(self, l, n_prev, self.head_dims, n_tasks))

    @property
    def n_tasks(self):
        """Number of tasks (output sigmoid units)."""
        return self._n_tasks

    @property
    def n_layers(self):
        """L, the number of layers that have parameters (a head's layers counted once)."""
        return max(block.l for block in layer_blocks(self.blocks))

    @property
    def shared(self):
        """Names of the shared parameters, in parameter order: every parameter that all tasks
        use. Not shared: each head's parameters and, without heads, the output layer
        ``W{L}``, ``b{L}`` (row ``t`` is task ``t``'s own)."""
        names = []
        for block in self.blocks:
            if not isinstance(block, (TaskHeads, DenseOutput)):
                names.extend(block.param_names)
        return names

    @property
    def n_parameters(self):
        """Total number of trainable numbers."""
        return int(sum(int(np.prod(v.shape)) for v in self.params.values()))

    def config(self):
        """A JSON-able dict that rebuilds this architecture (see :meth:`from_config`)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config, backend="numpy", allocate=True):
        """The architecture of ``config`` (from :meth:`config`), with zero parameters
        (``allocate=False``: with no parameter arrays at all, see :meth:`param_shapes`)."""
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "model")
        return f"{type(self).__name__}({args}, backend={self.backend.name!r})"

    # -------------------------------------------------------------- validation
    def _input_shape(self):
        """Shape of one example, without the example axis."""
        raise NotImplementedError

    def _layout(self):
        raise NotImplementedError

    def n_examples(self, X):
        """m, the number of examples in ``X``."""
        return int(X.shape[self.example_axis])

    def take_examples(self, X, index):
        """The examples ``index`` (an int array or slice) of ``X``, in the model's layout."""
        return X[:, index] if self.example_axis == 1 else X[index]

    def _check_X(self, X, name="X"):
        if not hasattr(X, "shape"):
            try:
                X = np.asarray(X, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{name} must be a numeric array of shape {self._layout()}; got {type(X).__name__}"
                ) from None
        expected = self._input_shape()
        ndim = len(expected) + 1
        shape = tuple(X.shape)
        feature_shape = shape[:self.example_axis] + shape[self.example_axis + 1:] if len(shape) == ndim else None
        if len(shape) != ndim or feature_shape != expected:
            hint = ""
            if self.example_axis == 1 and len(shape) == 2 and shape[0] != expected[0] and shape[1] == expected[0]:
                hint = " (it looks transposed: columns must be examples; pass X.T)"
            if self.example_axis == 1 and len(shape) == 4:
                hint = " (images? flatten them to columns first, e.g. data.flat())"
            raise ValueError(f"{name} must have shape {self._layout()}; got {shape}{hint}")
        if shape[self.example_axis] == 0:
            raise ValueError(f"{name} has no examples (m = 0); expected at least one")
        if X.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real numbers; got dtype {X.dtype}")
        return X

    def _check_finite(self, X, Xp, name="X"):
        """One pass over ``Xp`` (``X`` in the model's dtype): finite, or a ValueError saying why.

        Checking the converted array catches both nan/inf in the input and values that are
        finite in ``X``'s dtype but overflow the model's (1e39 in a float32 model)."""
        xp = get_array_module(Xp)
        if bool(xp.isfinite(Xp).all()):
            return
        if not bool(get_array_module(X).isfinite(X).all()):
            raise ValueError(f"{name} contains nan or inf; expected finite values (fill or drop them first)")
        finite_in_dtype(X, self.dtype, name=name)   # raises: finite in X's dtype, not in ours

    # ------------------------------------------------------- prepared batches
    def prepare(self, X, Y=None):
        """Validate a batch once and put it on the model's backend, in the model's dtype.

        Parameters
        ----------
        X : ndarray
            The model's input layout (see :meth:`forward`).
        Y : ndarray of shape (n_tasks, m), optional
            Labels with ``nan`` for '?'.

        Returns
        -------
        Xp : ndarray
            ``X`` as a backend array of the model's dtype.
        Xp, Yp : tuple of ndarray
            When ``Y`` is given.

        Notes
        -----
        The ``prepared_*`` methods take these arrays without checking them again:
        validation (shapes, finiteness, labels in {0, 1, nan}) costs a pass over the
        data, which a training loop pays once instead of once per step. The inputs are
        never modified (new arrays, or the same arrays used read-only).
        Slices of prepared arrays (:meth:`take_examples`, ``Yp[:, index]``) are prepared too.
        """
        X = self._check_X(X)
        m = self.n_examples(X)
        with np.errstate(over="ignore"):        # an overflow becomes inf, refused just below
            Xp = self.backend.asarray(X, dtype=self.dtype)
        self._check_finite(X, Xp)
        if Y is None:
            return Xp
        Y = validate_labels(Y, n_tasks=self.n_tasks, m=m)
        return Xp, self.backend.asarray(Y, dtype=self.dtype)

    def prepared_cost(self, Xp, Yp):
        """The masked cost of a prepared batch (a float): forward and the loss, no gradient.

        See :meth:`cost` for the formula; ``Xp, Yp`` come from :meth:`prepare`. The forward
        pass keeps no caches and no ``dZ[L]`` is computed
        (:func:`mtl_numpy.losses.masked_logistic_cost_from_logits`).
        """
        return masked_logistic_cost_from_logits(self._logits(Xp), Yp, self.normalize, check=False)

    def prepared_cost_and_grads(self, Xp, Yp):
        """``(J, grads)`` of a prepared batch: forward, the fused masked cost, backward.

        This is one training step's work; ``Xp, Yp`` come from :meth:`prepare`.
        ``grads`` holds ``"dW1", "db1", ...`` in the order of :attr:`params`.
        """
        ZL, caches = self._forward(Xp)
        J, dZL = self.backend.masked_logistic_cost_and_grad(ZL, Yp, self.normalize)
        return J, self.backward(dZL, caches)

    def prepared_task_logits(self, Xp, Yp):
        """``(J_t, dZL, caches)`` of a prepared batch: one forward pass, then each task's own
        masked cost ``J_t`` (host float64, ``(n_tasks,)``) and ``dZL`` whose row ``t`` is the
        gradient of ``J_t[t]`` with respect to row ``t`` of ``ZL`` (task ``t``'s cost depends
        on no other row). See :meth:`task_costs_and_grads`."""
        ZL, caches = self._forward(Xp)
        J_t, dZL = self._task_costs(ZL, Yp)
        return J_t, dZL, caches

    def _task_costs(self, ZL, Yp):
        T = ZL.shape[0]
        J_t = np.zeros(T)
        dZL = self.backend.xp.empty_like(ZL)
        for t in range(T):
            # one row at a time: the backend's fused masked loss normalises each task's cost
            # by m ("examples") or by that task's own known labels ("labels")
            J_t[t], dZL[t:t + 1] = self.backend.masked_logistic_cost_and_grad(
                ZL[t:t + 1], Yp[t:t + 1], self.normalize)
        return J_t, dZL

    def prepared_task_costs_and_grads(self, Xp, Yp):
        """``(J_t, G)`` of a prepared batch; see :meth:`task_costs_and_grads`."""
        J_t, dZL, caches = self.prepared_task_logits(Xp, Yp)
        return J_t, self.backward_tasks(dZL, caches)

    def backward_tasks(self, dZL, caches):
        r"""Each task's gradients, in one backward pass over the stacked per-task upstream gradients.

        Parameters
        ----------
        dZL : ndarray of shape (n_tasks, m)
            Row ``t``: the gradient of task ``t``'s cost with respect to its logits (row ``t``
            of ``ZL``), as :meth:`prepared_task_logits` returns it.
        caches : list
            From the forward pass.

        Returns
        -------
        G : dict
            ``{name: (n_tasks, *param.shape)}`` for every parameter, in the order of
            :attr:`params`.

        Notes
        -----
        Backward through a layer is linear in its upstream gradient, so task ``t``'s slice of
        every block's output is the ordinary backward of ``dZL`` masked to row ``t``. The
        output layer (or the heads) turns ``dZL`` into a stack ``dA_t`` of shape
        ``(n_tasks, ...)``, and every trunk block then runs once on the stack (its
        ``backward_tasks``): one pass, not ``n_tasks``.
        """
        G, dA = {}, dZL
        for i in range(len(self.blocks) - 1, -1, -1):
            dA, block_G = self.blocks[i].backward_tasks(dA, caches[i], need_dA_prev=i > 0)
            G.update(block_G)
        return {key: G[key] for key in self.params}

    def prepared_proba(self, Xp):
        """``AL`` of shape ``(n_tasks, m)`` for a prepared ``Xp``, keeping no caches."""
        AL, _ = self.backend.sigmoid_forward(self._logits(Xp))
        return AL

    # ----------------------------------------------------------------- forward
    def _forward(self, A):
        """``L_model_forward`` on a prepared batch: ``(ZL, caches)``, one cache per block."""
        caches = []
        for block in self.blocks:
            A, cache = block.forward(A)
            caches.append(cache)
        return A, caches

    def _logits(self, A):
        """``ZL`` of a prepared batch; each block's cache is dropped as soon as it is made."""
        for block in self.blocks:
            A, _ = block.forward(A)
        return A

    def forward(self, X):
        r"""Forward propagation.

        Parameters
        ----------
        X : ndarray
            ``(n_x, m)`` for :class:`SharedMLP`, ``(m, n_H, n_W, n_C)`` for
            :class:`SharedCNN`. NumPy or (on the CuPy backend) CuPy.

        Returns
        -------
        AL : ndarray of shape (n_tasks, m)
            :math:`\sigma(Z^{[L]})`, one probability per task and example.
        caches : list
            One cache per block, in forward order, for :meth:`backward`. A dense
            layer's cache is the course's ``(linear_cache, activation_cache)``; for
            the output layer the activation cache is ``ZL``. A conv block's cache
            is its backend's own (``conv_relu_pool_forward``'s).
        """
        ZL, caches = self._forward(self.prepare(X))
        AL, _ = self.backend.sigmoid_forward(ZL)
        return AL, caches

    # ---------------------------------------------------------------- backward
    def backward(self, dZL, caches):
        r"""Backward propagation from ``dZ[L]`` through every block, last to first.

        Parameters
        ----------
        dZL : ndarray of shape (n_tasks, m)
            Gradient of the cost with respect to the output logits (it carries
            the cost's ``1/m``), as returned by
            :func:`mtl_numpy.masked_logistic_cost_and_grad`.
        caches : list
            From :meth:`forward`.

        Returns
        -------
        grads : dict
            ``{"dW1": ..., "db1": ..., ...}``, same shapes as ``params``, in their order.
        """
        grads, dA = {}, dZL
        for i in range(len(self.blocks) - 1, -1, -1):
            # the input X needs no gradient: the first block skips dA_prev
            dA, block_grads = self.blocks[i].backward(dA, caches[i], need_dA_prev=i > 0)
            grads.update(block_grads)
        return {"d" + key: grads["d" + key] for key in self.params}

    # -------------------------------------------------------------------- cost
    def cost(self, X, Y):
        r"""Forward pass plus the masked logistic cost (a Python float); no gradient is computed.

        Parameters
        ----------
        X : ndarray
            The model's input layout (see :meth:`forward`).
        Y : ndarray of shape (n_tasks, m)
            0.0 / 1.0 labels, ``nan`` for '?'.

        Notes
        -----
        .. math::
            J = \frac{1}{N} \sum_{i=1}^{m} \sum_{j:\, y_j^{(i)} \neq ?}
                \mathcal{L}(\hat y_j^{(i)}, y_j^{(i)})

        with :math:`N = m` (``normalize="examples"``) or the number of known
        labels (``normalize="labels"``).
        """
        return self.prepared_cost(*self.prepare(X, Y))

    def cost_and_grads(self, X, Y):
        """Forward, masked cost and backward: ``(J, grads)`` with ``grads["dW1"]`` etc."""
        return self.prepared_cost_and_grads(*self.prepare(X, Y))

    def task_costs_and_grads(self, X, Y):
        r"""Each task's masked cost and each task's gradients, from one forward pass.

        Parameters
        ----------
        X : ndarray
            The model's input layout (see :meth:`forward`).
        Y : ndarray of shape (n_tasks, m)
            0.0 / 1.0 labels, ``nan`` for '?'.

        Returns
        -------
        J_t : ndarray of float64, shape (n_tasks,)
            Task ``t``'s masked cost, normalised as the model's ``normalize``.
        G : dict of str to ndarray of shape (n_tasks, \*param.shape)
            ``G[name][t]``: the gradient of ``J_t[t]`` with respect to ``params[name]``
            (zero for a parameter task ``t`` does not use, e.g. another task's head).

        Notes
        -----
        .. math::
            J_t = rac{1}{N_t} \sum_{i:\, y_t^{(i)} 
eq ?} \mathcal{L}(\hat y_t^{(i)}, y_t^{(i)}),
            \qquad G[k]_t = rac{\partial J_t}{\partial k}

        with :math:`N_t = m` (``normalize="examples"``) or task :math:`t`'s count of known
        labels (``normalize="labels"``; a task with none has :math:`J_t = 0` and a zero
        gradient). With ``normalize="examples"``, ``J_t.sum()`` is :meth:`cost` and
        ``G[k].sum(0)`` is ``cost_and_grads``' ``grads["d" + k]`` (to rounding).
        """
        return self.prepared_task_costs_and_grads(*self.prepare(X, Y))

    # ------------------------------------------------------------- predictions
    def predict_proba(self, X):
        """``AL``: the probability of each task for each example, shape ``(n_tasks, m)``."""
        return self.prepared_proba(self.prepare(X))

    def predict(self, X, threshold=0.5):
        """0/1 predictions, ``(AL > threshold)`` as int8 of shape ``(n_tasks, m)``."""
        if not isinstance(threshold, numbers.Real) or not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be a number in [0, 1]; got {threshold!r}")
        AL = self.predict_proba(X)
        return (AL > threshold).astype(np.int8)

    # ------------------------------------------------------------- conversions
    def _clone(self, backend=None, dtype=None):
        backend = self.backend if backend is None else get_backend(backend)
        config = dict(self.config())
        if dtype is not None:
            config["dtype"] = _check_dtype(dtype)
        new = type(self).from_config(config, backend=backend)
        # get_params copies: a clone must never share a live array with this model (moving
        # to the same backend and dtype would otherwise hand back the very same arrays)
        new._set_params(self.get_params())
        return new

    def astype(self, dtype):
        """A new model with the same parameters in ``dtype`` ("float32" or "float64")."""
        return self._clone(dtype=dtype)

    def to_backend(self, backend):
        """A new model with the same parameters on ``backend`` ("numpy", "numba", "cupy")."""
        return self._clone(backend=backend)

    def copy(self):
        """An independent copy (same backend, dtype and parameter values)."""
        return self._clone()

    def get_params(self):
        """Host (NumPy) copies of the parameters."""
        return {key: to_numpy(value).copy() for key, value in self.params.items()}

    def set_params(self, params, source="params"):
        """Copy ``params`` (a dict with this model's names and shapes) into the model.

        ``source`` names where they come from in the ValueError raised when a name,
        a shape or a value does not fit.
        """
        host = {k: to_numpy(v) for k, v in params.items()}
        check_arrays_match(self.param_shapes(), host, source, repr(self))
        for key, value in host.items():
            finite_in_dtype(value, self.dtype, name=f"{source}: {key}")
        self._set_params(host)

    # --------------------------------------------------------------------- i/o
    def save(self, path):
        """Write the model to ``path`` (.npz, no pickle, atomic). See :func:`mtl_numpy.save_model`.

        Returns the path written (``.npz`` added if missing).
        """
        return write_checkpoint(path, self.get_params(), self.config())

    def load_weights(self, path, max_bytes=DEFAULT_MAX_BYTES):
        """Load a checkpoint's parameters into this model; ValueError if its architecture differs.

        Names and shapes are compared with the file's headers before any array is read;
        ``max_bytes`` bounds what is read (see :func:`mtl_numpy.load_model`).
        """
        _, arrays = read_checkpoint(path, require_format=False, max_bytes=max_bytes,
                                    expected=lambda config: self.param_shapes())
        self.set_params(arrays, source=f"checkpoint {os.fspath(path)!r}")
        return self


class SharedMLP(SharedNetwork):
    r"""A multi-task multilayer perceptron: ReLU hidden layers, one sigmoid per task.

    Parameters
    ----------
    layer_dims : sequence of int
        ``[n_x, n[1], ..., n[L-1], n_tasks]``; at least ``[n_x, n_tasks]``.
    seed : int or None, default 0
        Seeds NumPy's generator for He initialisation (drawn on the host, so
        every backend starts from the same numbers).
    dtype : {"float32", "float64"}, default "float32"
    backend : {"numpy", "numba", "cupy"}, default "numpy"
    normalize : {"examples", "labels"}, default "examples"
        The cost's normaliser (see :func:`mtl_numpy.masked_logistic_cost`).
    head_dims : sequence of int or None, default None
        Per-task heads: the hidden layers ``n[1..L-2]`` of ``layer_dims`` form the shared
        trunk, then each task gets its own dense ReLU layers of these widths and its own
        output unit. None: the lecture's model (one shared output layer).

    Attributes
    ----------
    params : dict
        ``W{l}`` of shape ``(n[l], n[l-1])`` and ``b{l}`` of shape ``(n[l], 1)``. With heads,
        ``W{l}_t{t}``, ``b{l}_t{t}`` for task ``t``'s head layers (see the module docstring):
        ``layer_dims=[n_x, 256, 128, 4], head_dims=(32,)`` has ``W1 (256, n_x)``,
        ``W2 (128, 256)``, then per task ``W3_t{t} (32, 128)`` and ``W4_t{t} (1, 32)``.

    Notes
    -----
    Forward, for :math:`l = 1..L-1`:
    :math:`Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}`, :math:`A^{[l]} = \max(Z^{[l]}, 0)`;
    output :math:`A^{[L]} = \sigma(W^{[L]} A^{[L-1]} + b^{[L]})`.
    He initialisation: :math:`W^{[l]} \sim \mathcal N(0, 2 / n^{[l-1]})`, :math:`b^{[l]} = 0`.
    """

    example_axis = 1

    def __init__(self, layer_dims, seed=0, dtype="float32", backend="numpy",
                 normalize="examples", head_dims=None, *, _initialize=True):
        super().__init__(seed=seed, dtype=dtype, backend=backend, normalize=normalize,
                         head_dims=head_dims)
        layer_dims = _check_sequence("layer_dims", layer_dims, "[n_x, ..., n_tasks]")
        if len(layer_dims) < 2:
            raise ValueError(
                f"layer_dims must be a list [n_x, ..., n_tasks] of at least 2 positive ints; got {layer_dims!r}"
            )
        self.layer_dims = [
            _check_positive_int(f"layer_dims[{i}]", d) for i, d in enumerate(layer_dims)
        ]
        dims, L = self.layer_dims, len(self.layer_dims) - 1
        self._n_tasks = dims[L]
        self.blocks = [DenseReLU(self, l, dims[l - 1], dims[l]) for l in range(1, L)]
        self._add_output(L, dims[L - 1], dims[L])
        self._init_params(_initialize)

    def _input_shape(self):
        return (self.layer_dims[0],)

    def _layout(self):
        return f"(n_x, m) = ({self.layer_dims[0]}, m)"

    def config(self):
        config = {"model": "SharedMLP", "layer_dims": list(self.layer_dims), "seed": self.seed,
                  "dtype": self.dtype, "normalize": self.normalize}
        return _with_heads(config, self.head_dims)

    @classmethod
    def from_config(cls, config, backend="numpy", allocate=True):
        return cls(config["layer_dims"], seed=config.get("seed"), dtype=config["dtype"],
                   backend=backend, normalize=config["normalize"],
                   head_dims=_heads_of(config), _initialize=False if allocate else None)


class SharedCNN(SharedNetwork):
    r"""A multi-task convolutional network with a shared trunk.

    ``[CONV f×f 'same' -> RELU -> MAXPOOL p/p] × len(conv_channels) -> FLATTEN
    -> [DENSE -> RELU] × len(hidden) -> DENSE -> n_tasks sigmoids``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(n_H, n_W, n_C)`` of one image; inputs are ``(m, n_H, n_W, n_C)``.
    conv_channels : sequence of int, default (16, 32)
        Filters of each conv layer.
    kernel_size : int, default 3
        ``f``; odd, so that 'same' padding ``(f - 1) / 2`` is symmetric. Stride 1.
    pool_size : int, default 2
        Max-pool window and stride; output sizes round down.
    hidden : sequence of int, default (64,)
        Dense ReLU layer widths after the flatten.
    n_tasks : int, default 4
    seed, dtype, backend, normalize
        As for :class:`SharedMLP`.
    head_dims : sequence of int or None, default None
        Per-task heads after the shared ``hidden`` layers (see :class:`SharedMLP`).

    Attributes
    ----------
    params : dict
        Conv layers first: ``W{l}`` of shape ``(f, f, n_C_prev, n_C)`` and
        ``b{l}`` of shape ``(1, 1, 1, n_C)``; then dense layers as in the MLP.
        He initialisation with fan-in ``f * f * n_C_prev`` for conv filters.
    """

    example_axis = 0

    def __init__(self, input_shape=(32, 32, 3), conv_channels=(16, 32), kernel_size=3,
                 pool_size=2, hidden=(64,), n_tasks=4, seed=0, dtype="float32",
                 backend="numpy", normalize="examples", head_dims=None, *, _initialize=True):
        super().__init__(seed=seed, dtype=dtype, backend=backend, normalize=normalize,
                         head_dims=head_dims)
        input_shape = _check_sequence("input_shape", input_shape, "(n_H, n_W, n_C)")
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (n_H, n_W, n_C); got {input_shape!r}")
        conv_channels = _check_sequence("conv_channels", conv_channels, "of filter counts")
        hidden = _check_sequence("hidden", hidden, "of dense layer widths")
        self.input_shape = tuple(_check_positive_int(f"input_shape[{i}]", d) for i, d in enumerate(input_shape))
        self.conv_channels = tuple(_check_positive_int(f"conv_channels[{i}]", c) for i, c in enumerate(conv_channels))
        self.kernel_size = _check_positive_int("kernel_size", kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd so that 'same' padding (f - 1)/2 is symmetric; got {kernel_size}"
            )
        self.pool_size = _check_positive_int("pool_size", pool_size)
        self.hidden = tuple(_check_positive_int(f"hidden[{i}]", h) for i, h in enumerate(hidden))
        n_tasks = self._n_tasks = _check_positive_int("n_tasks", n_tasks)

        n_H, n_W, n_C = self.input_shape
        l = 0
        for channels in self.conv_channels:
            l += 1
            self.blocks.append(ConvBlock(self, l, self.kernel_size, n_C, channels, self.pool_size))
            n_H, n_W, n_C = n_H // self.pool_size, n_W // self.pool_size, channels
            if n_H < 1 or n_W < 1:
                raise ValueError(
                    f"input_shape {self.input_shape} is too small for {len(self.conv_channels)} "
                    f"pooling layers of size {self.pool_size}: conv layer {l} leaves {n_H}x{n_W}"
                )
        self.blocks.append(Flatten(self))
        self.flat_dim = n_H * n_W * n_C
        self.layer_dims = dims = [self.flat_dim, *self.hidden, n_tasks]
        for i in range(1, len(dims) - 1):
            l += 1
            self.blocks.append(DenseReLU(self, l, dims[i - 1], dims[i]))
        self._add_output(l + 1, dims[-2], n_tasks)
        self._init_params(_initialize)

    def _input_shape(self):
        return self.input_shape

    def _layout(self):
        return "(m, n_H, n_W, n_C) = (m, {}, {}, {})".format(*self.input_shape)

    def config(self):
        config = {"model": "SharedCNN", "input_shape": list(self.input_shape),
                "conv_channels": list(self.conv_channels), "kernel_size": self.kernel_size,
                "pool_size": self.pool_size, "hidden": list(self.hidden), "n_tasks": self.layer_dims[-1],
                "seed": self.seed, "dtype": self.dtype, "normalize": self.normalize}
        return _with_heads(config, self.head_dims)

    @classmethod
    def from_config(cls, config, backend="numpy", allocate=True):
        return cls(tuple(config["input_shape"]), conv_channels=tuple(config["conv_channels"]),
                   kernel_size=config["kernel_size"], pool_size=config["pool_size"],
                   hidden=tuple(config["hidden"]), n_tasks=config["n_tasks"], seed=config.get("seed"),
                   dtype=config["dtype"], backend=backend, normalize=config["normalize"],
                   head_dims=_heads_of(config), _initialize=False if allocate else None)


def _with_heads(config, head_dims):
    """``config`` with ``"head_dims"`` when the model has heads; without, the key is left out,
    so a model without heads writes exactly the checkpoints it always wrote."""
    if head_dims is not None:
        config["head_dims"] = list(head_dims)
    return config


def _heads_of(config):
    head_dims = config.get("head_dims")
    return None if head_dims is None else tuple(head_dims)


MODEL_CLASSES = {"SharedMLP": SharedMLP, "SharedCNN": SharedCNN}
