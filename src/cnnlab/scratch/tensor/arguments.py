"""What the ops do with their arguments: torch's shape and dimension conventions, the
arrays inside an index, and a gradient summed back over broadcast axes."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.tensor.graph import Tensor


def _shape_arg(args) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient over the axes that broadcasting expanded, back to `shape`."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _normalise_dims(dim, ndim: int, op: str = "dim") -> tuple[int, ...] | None:
    """Dimensions in [0, ndim), torch's rule: a 0-d tensor takes dim 0 or -1 as itself."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    for d in dims:
        if not low <= d <= high:
            raise IndexError(f"{op}: dimension out of range (expected to be in range of "
                             f"[{low}, {high}], but got {d})")
    return tuple(d % ndim for d in dims) if ndim else ()


def _index(index):
    """Tensors inside an index (masks, index tensors) become their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(p.data if isinstance(p, Tensor) else p for p in index)
    return index


# ===================================================================== element-wise
