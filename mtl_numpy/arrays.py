"""Which array module an array belongs to, and copies to the host.

The lowest layer of the package: it imports nothing from ``mtl_numpy``, so every other module
(labels, layers, the backends, the models) may use it without an import cycle. CuPy is imported
only when a CuPy array is seen: ``import mtl_numpy`` needs NumPy alone.
"""
from __future__ import annotations

import numpy as np

__all__ = ["get_array_module", "to_numpy", "is_cupy_array"]


def is_cupy_array(x):
    """True for a CuPy array (tested by its type's module: CuPy itself is never imported)."""
    return type(x).__module__.startswith("cupy")


def get_array_module(x):
    """Return ``cupy`` for a CuPy array, else ``numpy`` (never imports CuPy needlessly)."""
    if is_cupy_array(x):
        import cupy

        return cupy
    return np


def to_numpy(x):
    """Copy an array to the host as a NumPy array (no copy for NumPy input)."""
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)
