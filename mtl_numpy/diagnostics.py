r"""Gradient-conflict diagnostics: how the tasks' gradients on the shared parameters line up.

One shared network is trained on the sum of the tasks' costs, so every shared parameter moves
along :math:`\sum_t g_t`, the sum of the tasks' gradients. When two task gradients point in
opposite directions (:math:`\cos(g_i, g_j) < 0`) a step that helps one task hurts the other;
when one gradient is much longer than the others it dominates the step. This module measures
both, from the per-task gradients a model returns::

    J_t, G = model.task_costs_and_grads(X, Y)      # G[name]: (n_tasks, *param.shape)
    conflict = conflict_from_task_grads(G, shared=model.shared)
    print(conflict)                                 # cosine matrix, per layer, norm ratios
    conflict.to_dict()                              # plain lists and floats (JSON-ready)

Everything is computed from Gram matrices :math:`K = G_{\text{flat}} G_{\text{flat}}^T`
(``n_tasks × n_tasks``), one per parameter, summed per layer and overall: the big arrays are
read once, on their own device (NumPy or CuPy), and only ``n_tasks × n_tasks`` numbers come back
to the host. :mod:`mtl_numpy.weighting` builds its gradient-combination methods on the same
:func:`gram_matrices`.

Tasks with no label in the batch ('?')
--------------------------------------
A task with no known label in the batch has :math:`J_t = 0` and an all-zero gradient row. Its
cosine with anything is undefined (0/0); this module never divides by it. The convention is:

- ``present[t]`` is False for such a task (given, or derived as "some gradient entry of task
  ``t`` is non-zero");
- its row and column of every cosine matrix are **0**, its diagonal entry too (a present task
  with a non-zero gradient has diagonal 1), its norm and norm ratio are 0;
- it is excluded from every summary (mean cosine, conflicting pairs, the mean norm that the
  ratios divide by).

The same rule covers a present task whose gradient vanishes on one layer: its cosines on that
layer are 0, never NaN.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .arrays import get_array_module, to_numpy

__all__ = [
    "GradientConflict", "conflict_from_task_grads", "gram_matrices", "cosine_from_gram",
    "present_tasks", "layer_of",
]


def _check_task_grads(G, name="G"):
    """Validate a per-task gradient dict; return ``n_tasks``."""
    if not isinstance(G, dict) or not G:
        raise ValueError(f"{name} must be a non-empty dict {{parameter name: (n_tasks, *shape) array}}; "
                         f"got {type(G).__name__}")
    n_tasks = None
    for key, value in G.items():
        shape = getattr(value, "shape", None)
        if shape is None or len(shape) < 1:
            raise ValueError(f"{name}[{key!r}] must be an array of shape (n_tasks, *param.shape); got {value!r}")
        if n_tasks is None:
            n_tasks = shape[0]
        elif shape[0] != n_tasks:
            raise ValueError(f"{name}[{key!r}] must have shape (n_tasks, ...) = ({n_tasks}, ...) like the "
                             f"other entries; got {tuple(shape)}")
    if n_tasks < 1:
        raise ValueError(f"{name} must hold at least one task; got n_tasks = 0")
    return n_tasks


def _check_names(names, G, name="shared"):
    """``names`` as a tuple of keys of ``G`` (``None``: every key, in ``G``'s order)."""
    if names is None:
        return tuple(G)
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    unknown = [k for k in names if k not in G]
    if unknown:
        raise ValueError(f"{name} names parameters that are not in G: {unknown}; G has {list(G)}")
    return names


def _check_counts(n_labelled, n_tasks):
    """``n_labelled`` as a host int64 array of shape ``(n_tasks,)``, or a ValueError."""
    counts = np.asarray(to_numpy(n_labelled))
    if (counts.shape != (n_tasks,) or not np.issubdtype(counts.dtype, np.number)
            or np.any(counts < 0) or np.any(counts != np.round(counts))):
        raise ValueError(f"n_labelled must be non-negative integer counts of shape (n_tasks,) = "
                         f"({n_tasks},); got {counts!r}")
    return counts.astype(np.int64)


#: The argument checks :mod:`mtl_numpy.weighting` shares with this module (public names, so
#: that it imports no private ones).
check_task_grads = _check_task_grads
check_names = _check_names
check_counts = _check_counts


def present_tasks(G, present=None, n_labelled=None):
    """Boolean ``(n_tasks,)`` host array: which tasks had at least one known label in the batch.

    Parameters
    ----------
    G : dict of str to array of shape (n_tasks, \\*param.shape)
    present : array-like of bool, shape (n_tasks,), optional
        Used as given when passed.
    n_labelled : array-like of int, shape (n_tasks,), optional
        Known labels per task in the batch; ``present = n_labelled > 0``.

    Notes
    -----
    With neither argument, a task counts as present when some entry of its gradient is non-zero
    (a task with no known label has an exactly zero gradient row, see ``task_costs_and_grads``).
    """
    n_tasks = _check_task_grads(G)
    if present is not None:
        present = np.asarray(to_numpy(present))
        if present.shape != (n_tasks,) or present.dtype != np.bool_:
            raise ValueError(f"present must be a boolean array of shape (n_tasks,) = ({n_tasks},); "
                             f"got dtype {present.dtype}, shape {present.shape}")
        return present.copy()
    if n_labelled is not None:
        return _check_counts(n_labelled, n_tasks) > 0
    found = np.zeros(n_tasks, dtype=bool)
    for value in G.values():
        xp = get_array_module(value)
        found |= to_numpy(xp.any(value.reshape(n_tasks, -1) != 0, axis=1))
    return found


def gram_matrices(G, names=None):
    r"""Per-parameter Gram matrices of the task gradients, on the host in float64.

    Parameters
    ----------
    G : dict of str to array of shape (n_tasks, \*param.shape)
        Task ``t``'s gradient of its cost ``J_t`` for every parameter (NumPy or CuPy).
    names : sequence of str, optional
        The parameters to use (default: all of ``G``).

    Returns
    -------
    dict of str to ndarray of shape (n_tasks, n_tasks)
        ``K[name][i, j]`` :math:`= \langle g_i, g_j \rangle` restricted to that parameter.

    Notes
    -----
    .. math:: K^{(k)} = G^{(k)}_{\text{flat}}\, G^{(k)\,T}_{\text{flat}}, \qquad
              G^{(k)}_{\text{flat}} \in \mathbb{R}^{n_{\text{tasks}} \times |\theta_k|}

    Inner products over several parameters add: the Gram matrix of the concatenated gradient is
    :math:`\sum_k K^{(k)}`.
    """
    n_tasks = _check_task_grads(G)
    names = _check_names(names, G, "names")
    out = {}
    for key in names:
        flat = G[key].reshape(n_tasks, -1)
        out[key] = np.asarray(to_numpy(flat @ flat.T), dtype=np.float64)
    return out


def cosine_from_gram(K, present=None):
    r"""Cosine-similarity matrix from a Gram matrix, 0 wherever a gradient is zero or absent.

    Parameters
    ----------
    K : ndarray of shape (n_tasks, n_tasks)
    present : ndarray of bool, shape (n_tasks,), optional
        Absent tasks get a zero row and column (diagonal included).

    Returns
    -------
    ndarray of shape (n_tasks, n_tasks)
        :math:`\cos_{ij} = K_{ij} / \sqrt{K_{ii} K_{jj}}`, clipped to [-1, 1]; the diagonal is 1
        for a present task with a non-zero gradient.
    """
    K = np.asarray(K, dtype=np.float64)
    norms = np.sqrt(np.clip(np.diag(K), 0.0, None))
    ok = norms > 0
    if present is not None:
        ok &= np.asarray(present, dtype=bool)
    denom = np.outer(norms, norms)
    valid = np.outer(ok, ok)
    # where(), not a masked division: 0/0 must never be computed.
    cos = np.divide(K, denom, out=np.zeros_like(K), where=valid)
    cos = np.clip(cos, -1.0, 1.0)
    np.fill_diagonal(cos, ok.astype(np.float64))
    return cos


_LAYER = re.compile(r"^[A-Za-z]+(.+)$")


def layer_of(name):
    """Default layer key of a parameter name: the name without its leading letters.

    ``"W1"`` and ``"b1"`` both give ``"1"``; a name with no leading letters is its own layer.
    """
    match = _LAYER.match(name)
    return match.group(1) if match else name


@dataclass
class GradientConflict:
    r"""How the task gradients on the shared parameters line up in one batch.

    Attributes
    ----------
    tasks : tuple of str
        Task names (``"task0"``, ... when none were given).
    present : ndarray of bool, shape (n_tasks,)
        False for a task with no known label in the batch (its entries below are 0).
    cosine : ndarray of shape (n_tasks, n_tasks)
        :math:`\cos(g_i, g_j)` over all the shared parameters together.
    norms : ndarray of shape (n_tasks,)
        :math:`\lVert g_i \rVert_2` over all the shared parameters.
    norm_ratio : ndarray of shape (n_tasks,)
        :math:`\lVert g_i \rVert / \overline{\lVert g \rVert}`, the mean over present tasks.
    layers : tuple of str
        The layer keys, in the order first met in ``shared``.
    layer_cosine : dict of str to ndarray of shape (n_tasks, n_tasks)
    layer_norms : dict of str to ndarray of shape (n_tasks,)
    layer_params : dict of str to tuple of str
        Which parameters each layer key groups.
    """

    tasks: tuple
    present: np.ndarray
    cosine: np.ndarray
    norms: np.ndarray
    norm_ratio: np.ndarray
    layers: tuple = ()
    layer_cosine: dict = field(default_factory=dict)
    layer_norms: dict = field(default_factory=dict)
    layer_params: dict = field(default_factory=dict)

    @property
    def n_tasks(self):
        return len(self.tasks)

    def _pairs(self):
        idx = np.flatnonzero(self.present)
        return [(int(i), int(j)) for a, i in enumerate(idx) for j in idx[a + 1:]]

    @property
    def mean_cosine(self):
        """Mean cosine over the pairs of present tasks (0.0 when fewer than two are present)."""
        pairs = self._pairs()
        return float(np.mean([self.cosine[i, j] for i, j in pairs])) if pairs else 0.0

    def conflicting_pairs(self, threshold=0.0, layer=None):
        """Pairs ``(task_i, task_j, cosine)`` of present tasks with cosine below ``threshold``."""
        cos = self.cosine if layer is None else self.layer_cosine[layer]
        return [(self.tasks[i], self.tasks[j], float(cos[i, j]))
                for i, j in self._pairs() if cos[i, j] < threshold]

    def to_dict(self):
        """Plain Python lists and floats (JSON-ready)."""
        return {
            "tasks": list(self.tasks),
            "present": [bool(p) for p in self.present],
            "cosine": self.cosine.tolist(),
            "norms": self.norms.tolist(),
            "norm_ratio": self.norm_ratio.tolist(),
            "mean_cosine": self.mean_cosine,
            "layers": list(self.layers),
            "layer_cosine": {k: v.tolist() for k, v in self.layer_cosine.items()},
            "layer_norms": {k: v.tolist() for k, v in self.layer_norms.items()},
            "layer_params": {k: list(v) for k, v in self.layer_params.items()},
        }

    def _matrix_lines(self, matrix):
        width = max(8, *(len(t) for t in self.tasks))
        lines = [" " * width + "".join(f"{t[:width]:>{width + 1}}" for t in self.tasks)]
        for i, t in enumerate(self.tasks):
            if self.present[i]:
                cells = "".join(f"{matrix[i, j]:>{width + 1}.3f}" if self.present[j] else f"{'-':>{width + 1}}"
                                for j in range(self.n_tasks))
            else:
                cells = "  (no label in batch)"
            lines.append(f"{t:<{width}}{cells}")
        return lines

    def __str__(self):
        lines = [f"gradient conflict: {int(self.present.sum())} of {self.n_tasks} tasks present, "
                 f"mean pairwise cosine {self.mean_cosine:+.3f}",
                 "cosine, all shared parameters:"]
        lines += self._matrix_lines(self.cosine)
        lines.append("norm ||g_t|| and ratio to the mean:")
        for i, t in enumerate(self.tasks):
            mark = "" if self.present[i] else "   (no label in batch)"
            lines.append(f"  {t:<16}{self.norms[i]:>12.4g}{self.norm_ratio[i]:>9.3f}{mark}")
        for layer in self.layers:
            lines.append(f"cosine, layer {layer} ({', '.join(self.layer_params[layer])}):")
            lines += self._matrix_lines(self.layer_cosine[layer])
        return "\n".join(lines)


def _norm_ratio(norms, present):
    mean = norms[present].mean() if present.any() else 0.0
    if mean > 0:
        return np.where(present, norms / mean, 0.0)
    return np.zeros_like(norms)


def conflict_from_task_grads(G, shared=None, present=None, *, n_labelled=None, tasks=None, by="layer"):
    r"""Cosine similarities and norm ratios of the task gradients on the shared parameters.

    Parameters
    ----------
    G : dict of str to array of shape (n_tasks, \*param.shape)
        Per-task gradients, as returned by ``model.task_costs_and_grads`` (NumPy or CuPy).
    shared : sequence of str, optional
        Names of the shared parameters (default: every key of ``G``). Task-specific parameters
        (a head, or row ``t`` of the output layer) do not belong here: two tasks' gradients on
        them have disjoint supports and would only dilute the cosine.
    present : array-like of bool, shape (n_tasks,), optional
        Which tasks had a known label in the batch (see :func:`present_tasks`).
    n_labelled : array-like of int, shape (n_tasks,), optional
        Known labels per task; ``present = n_labelled > 0`` when ``present`` is not given.
    tasks : sequence of str, optional
        Task names for the printout (default ``"task0"``, ...).
    by : {"layer", "parameter"} or callable, default "layer"
        How the per-layer matrices are grouped: ``"layer"`` joins ``W1`` and ``b1`` into layer
        ``"1"`` (:func:`layer_of`), ``"parameter"`` keeps one matrix per name, a callable maps a
        name to its group key.

    Returns
    -------
    GradientConflict

    Notes
    -----
    With :math:`g_i` task :math:`i`'s gradient on the shared parameters (all of them
    concatenated, or one layer's),

    .. math:: \cos_{ij} = \frac{\langle g_i, g_j \rangle}{\lVert g_i \rVert\, \lVert g_j \rVert},
              \qquad \rho_i = \frac{\lVert g_i \rVert}{\frac{1}{|P|}\sum_{k \in P} \lVert g_k \rVert}

    where :math:`P` is the set of tasks present in the batch. Absent tasks get 0 everywhere
    (see the module docstring).
    """
    n_tasks = _check_task_grads(G)
    shared = _check_names(shared, G, "shared")
    if tasks is None:
        tasks = tuple(f"task{t}" for t in range(n_tasks))
    else:
        tasks = tuple(str(t) for t in tasks)
        if len(tasks) != n_tasks:
            raise ValueError(f"tasks must name the n_tasks = {n_tasks} tasks; got {len(tasks)} names")
    if by == "layer":
        group = layer_of
    elif by == "parameter":
        def group(name):
            return name
    elif callable(by):
        group = by
    else:
        raise ValueError(f"by must be 'layer', 'parameter' or a callable; got {by!r}")
    present = present_tasks(G, present=present, n_labelled=n_labelled)

    grams = gram_matrices(G, shared)
    K = np.zeros((n_tasks, n_tasks))
    layer_params, layer_K = {}, {}
    for key in shared:
        K += grams[key]
        layer = str(group(key))
        layer_params.setdefault(layer, []).append(key)
        layer_K[layer] = layer_K.get(layer, 0.0) + grams[key]

    def norms_of(gram):
        return np.where(present, np.sqrt(np.clip(np.diag(gram), 0.0, None)), 0.0)

    norms = norms_of(K)
    layers = tuple(layer_params)
    return GradientConflict(
        tasks=tasks,
        present=present,
        cosine=cosine_from_gram(K, present),
        norms=norms,
        norm_ratio=_norm_ratio(norms, present),
        layers=layers,
        layer_cosine={k: cosine_from_gram(layer_K[k], present) for k in layers},
        layer_norms={k: norms_of(layer_K[k]) for k in layers},
        layer_params={k: tuple(v) for k, v in layer_params.items()},
    )
