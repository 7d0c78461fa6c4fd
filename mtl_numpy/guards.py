r"""Guards for a training run: divergence is caught, a step is never torn, nothing is lost.

* :class:`ParameterSnapshot` keeps a copy of the parameters in buffers allocated once, so a
  diverged step (or an interrupted one) can be undone by copying back; taking it is one
  ``copyto`` per parameter (no allocation), a small fraction of a training step.
* :func:`all_finite` asks whether every parameter is finite with one reduction per array, in
  the array's dtype: the sum of an array is finite exactly when no entry is ``nan``/``inf``
  (barring an overflow of the sum itself, which needs weights far beyond any trained model's:
  divergence too).
* :func:`deferred_interrupt` holds back ``Ctrl-C`` (``SIGINT``) while a block runs -- the
  optimizer's update -- and delivers it right after, so an interrupt lands between two steps,
  never inside one.
* :class:`TrainingDiverged` is the one error a diverged run raises: it says at which epoch and
  step, what went non-finite, the likely cause, and that the parameters were restored.
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading

import numpy as np

from .arrays import get_array_module

__all__ = ["TrainingDiverged", "ParameterSnapshot", "all_finite", "deferred_interrupt", "finite_in_dtype"]


class TrainingDiverged(FloatingPointError):
    """Training produced a non-finite cost or parameters; the model was restored.

    Attributes
    ----------
    epoch, step : int
        Where it happened (both 1-based; ``step`` counts mini-batches from the start of the run).
    what : str
        ``"cost"`` or ``"parameters"``.
    restored : str
        What the model holds now (e.g. ``"the parameters after step 125"``).
    """

    def __init__(self, epoch, step, what, restored, hint):
        self.epoch, self.step, self.what, self.restored = epoch, step, what, restored
        super().__init__(
            f"training diverged at epoch {epoch}, step {step}: the {what} became nan or inf; "
            f"the model was restored to {restored}. Likely cause: {hint}"
        )


def all_finite(params):
    """True when every array in ``params`` (a dict) holds only finite numbers (and sums finitely)."""
    total = 0.0
    with np.errstate(all="ignore"):          # inf - inf is the nan we are looking for
        for value in params.values():
            # in the array's own dtype (no float64 copy): a float32 sum can only overflow when
            # the weights are beyond ~1e32, which is divergence too
            total += float(value.sum())
    return math.isfinite(total)


class ParameterSnapshot:
    """A copy of a parameter dict in buffers reused from call to call.

    >>> snap = ParameterSnapshot(model.params)   # doctest: +SKIP
    >>> snap.take(model.params); ...; snap.restore(model.params)   # doctest: +SKIP
    """

    def __init__(self, params):
        self._buffers = {key: get_array_module(v).empty_like(v) for key, v in params.items()}
        self.taken = False
        self.take(params)

    def take(self, params):
        """Copy ``params`` into the snapshot (same keys, shapes and dtypes as at construction)."""
        for key, value in params.items():
            xp = get_array_module(value)
            xp.copyto(self._buffers[key], value)
        self.taken = True

    def restore(self, params):
        """Copy the snapshot back into ``params`` in place (the model's arrays stay the same)."""
        for key, value in params.items():
            xp = get_array_module(value)
            xp.copyto(value, self._buffers[key])

    def as_dict(self):
        """Copies of the snapshot's arrays."""
        return {key: value.copy() for key, value in self._buffers.items()}


@contextlib.contextmanager
def deferred_interrupt():
    """Run the block with ``SIGINT`` held back; a ``KeyboardInterrupt`` is raised after it.

    Only the main thread can install signal handlers; elsewhere the block runs as it is (and
    :func:`mtl_numpy.fit` undoes a torn step from its snapshot instead).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def hold(signum, frame):
        received.append(signum)

    try:
        previous = signal.signal(signal.SIGINT, hold)
    except (ValueError, OSError):  # pragma: no cover - no signals here (e.g. embedded)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, None)
            else:
                raise KeyboardInterrupt


def finite_in_dtype(X, dtype, name="X"):
    """Raise a ValueError if ``X`` (already finite) has values beyond ``dtype``'s range.

    A value near 1e39 is finite in float64 and becomes inf in float32: this is the check that
    catches it before it reaches a float32 model as ``inf``.
    """
    dtype = np.dtype(dtype)
    limit = float(np.finfo(dtype).max)
    xp = get_array_module(X)
    if X.dtype.kind in "biu" or (X.dtype.kind == "f" and X.dtype.itemsize <= dtype.itemsize):
        return      # integers (|x| < 2**64) and narrower floats always fit
    if X.size and float(xp.abs(X).max()) > limit:
        raise ValueError(
            f"{name} has values of magnitude up to {float(xp.abs(X).max()):.3g}, beyond the "
            f"largest {dtype.name} ({limit:.3g}); they would become inf in this {dtype.name} "
            f"model. Rescale the input, or use a float64 model"
        )
