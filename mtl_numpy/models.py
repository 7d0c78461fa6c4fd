r"""The shared networks: one trunk, one sigmoid unit per task.

Both models are the same abstraction, :class:`SharedNetwork`: an ordered plan
of blocks (conv blocks, a flatten, dense ReLU layers, the dense output layer),
run forward and then backward by the same two loops. :class:`SharedMLP` and
:class:`SharedCNN` only say which blocks, and how to initialise them.

Every kernel is called through ``self.backend`` (a module from
:mod:`mtl_numpy.backends`), never by testing the backend's name.
"""
from __future__ import annotations

import numbers

import numpy as np

from .backends import get_array_module, get_backend, to_numpy
from .labels import validate_labels
from .losses import check_normalize

__all__ = ["SharedNetwork", "SharedMLP", "SharedCNN", "DTYPES"]

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


def _check_positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


class SharedNetwork:
    """Base class: parameters, forward, backward, masked cost, conversions.

    Subclasses set ``self._plan`` (a list of blocks) and fill ``self.params``.
    A block is ``("conv", l)``, ``("flatten", None)``, ``("dense_relu", l)`` or
    ``("dense_out", l)``, with ``l`` the layer number of its ``W``/``b``.
    """

    #: axis of X that indexes examples (1 for column-stacked MLP inputs, 0 for images)
    example_axis = 1

    def __init__(self, *, seed, dtype, backend, normalize):
        self.seed = _check_seed(seed)
        self.dtype = _check_dtype(dtype)
        self.normalize = check_normalize(normalize)
        self.backend = get_backend(backend)
        self.params = {}
        self._plan = []

    # ------------------------------------------------------------------ set-up
    def _set_params(self, host_params):
        """Move host float64 arrays to the backend in the model's dtype."""
        self.params = {
            key: self.backend.asarray(np.asarray(value), dtype=self.dtype)
            for key, value in host_params.items()
        }

    @property
    def n_tasks(self):
        """Number of tasks (output sigmoid units)."""
        return int(self.params[f"W{self.n_layers}"].shape[0])

    @property
    def n_layers(self):
        """L, the number of layers that have parameters."""
        return len(self.params) // 2

    @property
    def n_parameters(self):
        """Total number of trainable numbers."""
        return int(sum(int(np.prod(v.shape)) for v in self.params.values()))

    def config(self):
        """A JSON-able dict that rebuilds this architecture (see :meth:`from_config`)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config, backend="numpy"):
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
        xp = get_array_module(X)
        if not bool(xp.isfinite(X).all()):
            raise ValueError(f"{name} contains nan or inf; expected finite values (fill or drop them first)")
        return X

    def _prepare(self, X, Y=None):
        """Validate ``X`` (and ``Y``) and return them as backend arrays of the model's dtype.

        Always returns new arrays or read-only uses: inputs are never modified.
        """
        X = self._check_X(X)
        m = self.n_examples(X)
        Xb = self.backend.asarray(X, dtype=self.dtype)
        if Y is None:
            return Xb
        Y = validate_labels(Y, n_tasks=self.n_tasks, m=m)
        return Xb, self.backend.asarray(Y, dtype=self.dtype)

    # ----------------------------------------------------------------- forward
    def _forward(self, X, fused=False):
        """Forward pass on a prepared batch: ``(ZL, caches)``, one cache per block.

        ``fused=True`` (the training step, whose caches never leave the model) runs each conv
        block as one ``conv_relu_pool_forward`` call: the same numbers, but the backend may
        keep the block's intermediate arrays out of memory (its cache is then private to
        ``conv_relu_pool_backward``). The default gives the documented per-layer caches.
        """
        bk, P = self.backend, self.params
        A, caches = X, []
        # (a backend module from elsewhere may lack the block kernel: then per layer)
        fused = fused and hasattr(bk, "conv_relu_pool_forward")
        for kind, l in self._plan:
            if kind == "conv" and fused:
                A, block_cache = bk.conv_relu_pool_forward(
                    A, P[f"W{l}"], P[f"b{l}"], self._conv_hparameters, self._pool_hparameters)
                caches.append(_FusedBlock(block_cache))
            elif kind == "conv":
                Z, conv_cache = bk.conv_forward(A, P[f"W{l}"], P[f"b{l}"], self._conv_hparameters)
                A, relu_cache = bk.relu_forward(Z)
                A, pool_cache = bk.pool_forward(A, self._pool_hparameters, mode="max")
                caches.append((conv_cache, relu_cache, pool_cache))
            elif kind == "flatten":
                A, cache = bk.flatten_forward(A)
                caches.append(cache)
            elif kind == "dense_relu":
                A, cache = bk.linear_relu_forward(A, P[f"W{l}"], P[f"b{l}"])
                caches.append(cache)
            else:  # "dense_out": logits; the sigmoid is applied by the loss / forward()
                ZL, linear_cache = bk.linear_forward(A, P[f"W{l}"], P[f"b{l}"])
                caches.append((linear_cache, ZL))
        return ZL, caches

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
            One cache per block, in forward order. A dense layer's cache is the
            course's ``(linear_cache, activation_cache)``; for the output layer
            the activation cache is ``ZL``.
        """
        ZL, caches = self._forward(self._prepare(X))
        AL, _ = self.backend.sigmoid_forward(ZL)
        return AL, caches

    # ---------------------------------------------------------------- backward
    def backward(self, dZL, caches):
        r"""Backward propagation from ``dZ[L]`` through every block.

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
            ``{"dW1": ..., "db1": ..., ...}``, same shapes as ``params``.
        """
        bk, grads = self.backend, {}
        dA = dZL
        first = 0
        for i in range(len(self._plan) - 1, -1, -1):
            kind, l = self._plan[i]
            cache = caches[i]
            # The input X needs no gradient: skip dA_prev for the first block.
            need_dA_prev = i > first
            if kind == "dense_out":
                linear_cache, _ = cache
                dA, grads[f"dW{l}"], grads[f"db{l}"] = bk.linear_backward(dA, linear_cache, need_dA_prev)
            elif kind == "dense_relu":
                dA, grads[f"dW{l}"], grads[f"db{l}"] = bk.linear_relu_backward(dA, cache, need_dA_prev)
            elif kind == "flatten":
                dA = bk.flatten_backward(dA, cache)
            elif isinstance(cache, _FusedBlock):  # conv block, fused (training step)
                dA, grads[f"dW{l}"], grads[f"db{l}"] = bk.conv_relu_pool_backward(
                    dA, cache.cache, need_dA_prev)
            else:  # conv block: pool <- relu <- conv
                conv_cache, relu_cache, pool_cache = cache
                dA = bk.pool_backward(dA, pool_cache, mode="max")
                dZ = bk.relu_backward(dA, relu_cache)
                dA, grads[f"dW{l}"], grads[f"db{l}"] = bk.conv_backward(dZ, conv_cache, need_dA_prev)
        return {key: grads[key] for key in sorted(grads, key=_grad_order)}

    # -------------------------------------------------------------------- cost
    def _cost_and_grads(self, X, Y):
        ZL, caches = self._forward(X, fused=True)
        J, dZL = self.backend.masked_logistic_cost_and_grad(ZL, Y, self.normalize)
        return J, self.backward(dZL, caches)

    def _cost(self, X, Y):
        ZL, _ = self._forward(X, fused=True)
        J, _ = self.backend.masked_logistic_cost_and_grad(ZL, Y, self.normalize)
        return J

    def cost(self, X, Y):
        r"""Forward pass plus the masked logistic cost (a Python float).

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
        X, Y = self._prepare(X, Y)
        return self._cost(X, Y)

    def cost_and_grads(self, X, Y):
        """Forward, masked cost and backward: ``(J, grads)`` with ``grads["dW1"]`` etc."""
        X, Y = self._prepare(X, Y)
        return self._cost_and_grads(X, Y)

    # ------------------------------------------------------------- predictions
    def predict_proba(self, X):
        """``AL``: the probability of each task for each example, shape ``(n_tasks, m)``."""
        AL, _ = self.forward(X)
        return AL

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
        new._set_params({k: to_numpy(v) for k, v in self.params.items()})
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

    def set_params(self, params):
        """Copy ``params`` (a dict with this model's names and shapes) into the model."""
        from .io import check_params_match

        host = {k: to_numpy(v) for k, v in params.items()}
        check_params_match(self, host, source="params")
        self._set_params(host)

    # --------------------------------------------------------------------- i/o
    def save(self, path):
        """Write the model to ``path`` (.npz, no pickle, atomic). See :func:`mtl_numpy.save_model`."""
        from .io import save_model

        return save_model(self, path)

    def load_weights(self, path):
        """Load a checkpoint's parameters into this model; ValueError if its architecture differs."""
        from .io import load_weights

        return load_weights(self, path)


class _FusedBlock:
    """A conv block's cache from ``conv_relu_pool_forward`` (private to the backend)."""

    __slots__ = ("cache",)

    def __init__(self, cache):
        self.cache = cache


def _grad_order(key):
    # "dW1", "db1", "dW2", ... : by layer, W before b
    return int(key[2:]), key[1] != "W"


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

    Attributes
    ----------
    params : dict
        ``W{l}`` of shape ``(n[l], n[l-1])`` and ``b{l}`` of shape ``(n[l], 1)``.

    Notes
    -----
    Forward, for :math:`l = 1..L-1`:
    :math:`Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}`, :math:`A^{[l]} = \max(Z^{[l]}, 0)`;
    output :math:`A^{[L]} = \sigma(W^{[L]} A^{[L-1]} + b^{[L]})`.
    He initialisation: :math:`W^{[l]} \sim \mathcal N(0, 2 / n^{[l-1]})`, :math:`b^{[l]} = 0`.
    """

    example_axis = 1

    def __init__(self, layer_dims, seed=0, dtype="float32", backend="numpy",
                 normalize="examples", *, _initialize=True):
        super().__init__(seed=seed, dtype=dtype, backend=backend, normalize=normalize)
        if isinstance(layer_dims, (str, bytes)) or not hasattr(layer_dims, "__len__") or len(layer_dims) < 2:
            raise ValueError(
                f"layer_dims must be a list [n_x, ..., n_tasks] of at least 2 positive ints; got {layer_dims!r}"
            )
        self.layer_dims = [
            _check_positive_int(f"layer_dims[{i}]", d) for i, d in enumerate(layer_dims)
        ]
        L = len(self.layer_dims) - 1
        self._plan = [("dense_relu", l) for l in range(1, L)] + [("dense_out", L)]
        rng = np.random.default_rng(seed)
        host = {}
        for l in range(1, L + 1):
            n_prev, n = self.layer_dims[l - 1], self.layer_dims[l]
            if _initialize:
                host[f"W{l}"] = rng.standard_normal((n, n_prev)) * np.sqrt(2.0 / n_prev)
            else:
                host[f"W{l}"] = np.zeros((n, n_prev))
            host[f"b{l}"] = np.zeros((n, 1))
        self._set_params(host)

    def _input_shape(self):
        return (self.layer_dims[0],)

    def _layout(self):
        return f"(n_x, m) = ({self.layer_dims[0]}, m)"

    def config(self):
        return {"model": "SharedMLP", "layer_dims": list(self.layer_dims), "seed": self.seed,
                "dtype": self.dtype, "normalize": self.normalize}

    @classmethod
    def from_config(cls, config, backend="numpy"):
        return cls(config["layer_dims"], seed=config.get("seed"), dtype=config["dtype"],
                   backend=backend, normalize=config["normalize"], _initialize=False)


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
                 backend="numpy", normalize="examples", *, _initialize=True):
        super().__init__(seed=seed, dtype=dtype, backend=backend, normalize=normalize)
        if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__") or len(input_shape) != 3:
            raise ValueError(f"input_shape must be (n_H, n_W, n_C); got {input_shape!r}")
        self.input_shape = tuple(_check_positive_int(f"input_shape[{i}]", d) for i, d in enumerate(input_shape))
        self.conv_channels = tuple(_check_positive_int(f"conv_channels[{i}]", c) for i, c in enumerate(conv_channels))
        self.kernel_size = _check_positive_int("kernel_size", kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd so that 'same' padding (f - 1)/2 is symmetric; got {kernel_size}"
            )
        self.pool_size = _check_positive_int("pool_size", pool_size)
        self.hidden = tuple(_check_positive_int(f"hidden[{i}]", h) for i, h in enumerate(hidden))
        n_tasks = _check_positive_int("n_tasks", n_tasks)
        self._conv_hparameters = {"stride": 1, "pad": (self.kernel_size - 1) // 2}
        self._pool_hparameters = {"f": self.pool_size, "stride": self.pool_size}

        n_H, n_W, n_C = self.input_shape
        rng = np.random.default_rng(seed)
        host, l, f = {}, 0, self.kernel_size
        for channels in self.conv_channels:
            l += 1
            shape = (f, f, n_C, channels)
            host[f"W{l}"] = rng.standard_normal(shape) * np.sqrt(2.0 / (f * f * n_C)) if _initialize else np.zeros(shape)
            host[f"b{l}"] = np.zeros((1, 1, 1, channels))
            self._plan.append(("conv", l))
            n_H, n_W, n_C = n_H // self.pool_size, n_W // self.pool_size, channels
            if n_H < 1 or n_W < 1:
                raise ValueError(
                    f"input_shape {self.input_shape} is too small for {len(self.conv_channels)} "
                    f"pooling layers of size {self.pool_size}: conv layer {l} leaves {n_H}x{n_W}"
                )
        self._plan.append(("flatten", None))
        self.flat_dim = n_H * n_W * n_C
        self.layer_dims = [self.flat_dim, *self.hidden, n_tasks]
        for i in range(1, len(self.layer_dims)):
            l += 1
            n_prev, n = self.layer_dims[i - 1], self.layer_dims[i]
            host[f"W{l}"] = rng.standard_normal((n, n_prev)) * np.sqrt(2.0 / n_prev) if _initialize else np.zeros((n, n_prev))
            host[f"b{l}"] = np.zeros((n, 1))
            self._plan.append(("dense_relu" if i < len(self.layer_dims) - 1 else "dense_out", l))
        self._set_params(host)

    def _input_shape(self):
        return self.input_shape

    def _layout(self):
        return "(m, n_H, n_W, n_C) = (m, {}, {}, {})".format(*self.input_shape)

    def config(self):
        return {"model": "SharedCNN", "input_shape": list(self.input_shape),
                "conv_channels": list(self.conv_channels), "kernel_size": self.kernel_size,
                "pool_size": self.pool_size, "hidden": list(self.hidden), "n_tasks": self.layer_dims[-1],
                "seed": self.seed, "dtype": self.dtype, "normalize": self.normalize}

    @classmethod
    def from_config(cls, config, backend="numpy"):
        return cls(tuple(config["input_shape"]), conv_channels=tuple(config["conv_channels"]),
                   kernel_size=config["kernel_size"], pool_size=config["pool_size"],
                   hidden=tuple(config["hidden"]), n_tasks=config["n_tasks"], seed=config.get("seed"),
                   dtype=config["dtype"], backend=backend, normalize=config["normalize"], _initialize=False)


MODEL_CLASSES = {"SharedMLP": SharedMLP, "SharedCNN": SharedCNN}
