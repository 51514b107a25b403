"""Linear algebra and reductions, each with its backward beside it, and the Tensor methods
that call them: matmul, sum, mean, max and min (over everything, along a dimension, or
element-wise against another tensor)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cnnlab.scratch.tensor.arguments import _normalise_dims, unbroadcast
from cnnlab.scratch.tensor.elementwise import maximum, minimum
from cnnlab.scratch.tensor.graph import Tensor, _lift, _record, tensor_method


@tensor_method("__matmul__", "matmul", "mm")
def matmul(a: Tensor, b: Tensor) -> Tensor:
    a, b = _lift(a, b if isinstance(b, Tensor) else a), _lift(b, a)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need a dimension, got {a.shape} @ {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied")

    def backward(g):
        # Treat vectors as matrices (a row for a, a column for b) so one formula serves all.
        a2 = a.data[None, :] if a.ndim == 1 else a.data
        b2 = b.data[:, None] if b.ndim == 1 else b.data
        g2 = np.asarray(g)
        if a.ndim == 1:  # the product dropped a's row dimension: restore it
            g2 = g2.reshape(*g2.shape[:-1], 1, *g2.shape[-1:]) if b.ndim > 1 else g2[..., None]
        if b.ndim == 1:  # and b's column dimension
            g2 = g2[..., None]
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if b.requires_grad:
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb

    return _record(a.data @ b.data, (a, b), backward)


# ===================================================================== reductions


@tensor_method("sum")
def sum_(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    axes = _normalise_dims(dim, a.ndim)

    def backward(g):
        if axes is not None and not keepdim:
            g = np.expand_dims(g, axes)
        return (np.broadcast_to(g, a.shape),)

    return _record(np.sum(a.data, axis=axes, keepdims=keepdim), (a,), backward)


@tensor_method("mean")
def mean(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    axes = _normalise_dims(dim, a.ndim)
    count = a.data.size if axes is None else int(np.prod([a.shape[d] for d in axes]))

    def backward(g):
        if axes is not None and not keepdim:
            g = np.expand_dims(g, axes)
        return (np.broadcast_to(g / count, a.shape),)

    return _record(np.mean(a.data, axis=axes, keepdims=keepdim), (a,), backward)


class ValuesIndices(NamedTuple):
    """What max(dim) and min(dim) return, as torch.return_types.max does."""

    values: Tensor
    indices: Tensor


def extreme(a: Tensor, dim=None, keepdim: bool = False, kind: str = "max"):
    """max/min over all elements (a tensor; ties share the gradient equally, as in torch)
    or along `dim` ((values, indices); the gradient goes to the index returned)."""
    if a.data.size == 0:
        raise IndexError(f"{kind}(): expected a non-empty tensor, got shape {a.shape}")
    if dim is None:
        value = a.data.max() if kind == "max" else a.data.min()
        winners = a.data == value

        def backward_all(g):
            return (g * winners / winners.sum(),)

        return _record(np.asarray(value), (a,), backward_all)
    (axis,) = _normalise_dims(dim, a.ndim, kind) or (None,)
    if axis is None:  # a 0-d tensor is its own maximum
        return ValuesIndices(a.clone(), Tensor(np.array(0)))
    pick = np.argmax if kind == "max" else np.argmin
    kept = np.expand_dims(pick(a.data, axis=axis), axis)  # indices with the reduced axis kept
    values = np.take_along_axis(a.data, kept, axis)

    def backward(g):
        grad = np.zeros_like(a.data)
        np.put_along_axis(grad, kept, g if keepdim else np.expand_dims(g, axis), axis)
        return (grad,)

    indices = kept if keepdim else kept.squeeze(axis)
    values = values if keepdim else values.squeeze(axis)
    return ValuesIndices(_record(values, (a,), backward), Tensor(indices.astype(np.int64)))


# ===================================================================== shapes


@tensor_method("max")
def _max(self, dim=None, keepdim: bool = False):
    return maximum(self, dim) if isinstance(dim, Tensor) else extreme(self, dim, keepdim, "max")


@tensor_method("min")
def _min(self, dim=None, keepdim: bool = False):
    return minimum(self, dim) if isinstance(dim, Tensor) else extreme(self, dim, keepdim, "min")
