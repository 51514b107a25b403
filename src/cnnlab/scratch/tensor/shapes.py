"""Shape ops, each with its backward beside it, and the Tensor methods that call them:
reshape and view, flatten, permute and transpose, flip, squeeze and unsqueeze, indexing and
item assignment, cat and stack."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnlab.scratch.tensor import graph
from cnnlab.scratch.tensor.arguments import _index, _normalise_dims, _shape_arg, unbroadcast
from cnnlab.scratch.tensor.graph import Tensor, _data, _lift, _record, tensor_method
from cnnlab.scratch.tensor.observers import announced


@announced("reshape")
def reshape(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    try:
        out = a.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot view shape {a.shape} as {shape}") from None
    return _record(out, (a,), lambda g: (g.reshape(a.shape),))


@announced("flatten")
def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if a.ndim == 0:
        return reshape(a, (1,))
    start, end = start_dim % a.ndim, end_dim % a.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = (*a.shape[:start], int(np.prod(a.shape[start:end + 1])), *a.shape[end + 1:])
    return reshape(a, shape)


def permute(a: Tensor, dims: Sequence[int]) -> Tensor:
    dims = tuple(d % a.ndim for d in dims)
    if sorted(dims) != list(range(a.ndim)):
        raise ValueError(f"permute: {dims} is not an ordering of the {a.ndim} dimensions")
    inverse = tuple(np.argsort(dims))
    return _record(a.data.transpose(dims), (a,), lambda g: (g.transpose(inverse),))


def flip(a: Tensor, dims: int | Sequence[int]) -> Tensor:
    """The entries of `a` in reverse order along each of `dims` (torch.flip); its gradient
    is the incoming one flipped back."""
    axes = _normalise_dims(dims, a.ndim, "flip")
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"flip: dims {dims} name a dimension twice")
    if not axes:
        return _record(a.data.copy(), (a,), lambda g: (g,))
    # A copy, as torch's: a view would let an in-place change of the result reach `a`.
    return _record(np.flip(a.data, axes).copy(), (a,),
                   lambda g: (np.ascontiguousarray(np.flip(g, axes)),))


def _is_basic_index(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice, type(None), type(Ellipsis))) for p in parts)


@tensor_method("__getitem__")
def getitem(a: Tensor, index) -> Tensor:
    index = _index(index)

    def backward(g):
        grad = np.zeros_like(a.data)
        if _is_basic_index(index):
            grad[index] += g  # slices select each element at most once
        else:
            np.add.at(grad, index, g)  # fancy indices may repeat an element
        return (grad,)

    return _record(a.data[index], (a,), backward)


def setitem(a: Tensor, index, value) -> Tensor:
    """A copy of `a` with `a[index] = value`: the out-of-place form of item assignment."""
    value = _lift(value, a)
    out = a.data.copy()
    out[index] = value.data

    def backward(g):
        kept = g.copy()
        kept[index] = 0
        return kept, unbroadcast(np.broadcast_to(g[index], out[index].shape), value.shape) \
            if value.requires_grad else None

    return _record(out, (a, value), backward)


@announced("cat")
def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    tensors = tuple(tensors)
    axis = dim % tensors[0].ndim
    bounds = np.cumsum([t.shape[axis] for t in tensors])[:-1]

    def backward(g):
        return tuple(np.split(g, bounds, axis=axis))

    return _record(np.concatenate([t.data for t in tensors], axis=axis), tensors, backward)


@announced("stack")
def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    return cat([t.unsqueeze(dim) for t in tensors], dim)


# ===================================================================== methods


@tensor_method("reshape", "view")
def _reshape(self, *shape):
    return reshape(self, _shape_arg(shape))


@tensor_method("flatten")
def _flatten(self, start_dim: int = 0, end_dim: int = -1):
    return flatten(self, start_dim, end_dim)


@tensor_method("transpose")
def _transpose(self, dim0: int, dim1: int):
    dims = _normalise_dims((dim0, dim1), self.ndim, "transpose")
    order = list(range(self.ndim))
    if dims:  # a 0-d tensor is its own transpose
        order[dims[0]], order[dims[1]] = order[dims[1]], order[dims[0]]
    return permute(self, order)


@tensor_method("t")
def _t(self):
    if self.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but it has "
                           f"{self.ndim} (shape {self.shape}); use transpose(dim0, dim1)")
    return self.transpose(0, -1) if self.ndim == 2 else self


@tensor_method("permute")
def _permute(self, *dims):
    return permute(self, _shape_arg(dims))


@tensor_method("flip")
def _flip(self, *dims):
    return flip(self, _shape_arg(dims))


tensor_method("T")(property(lambda self: permute(self, tuple(reversed(range(self.ndim))))))


@tensor_method("unsqueeze")
def _unsqueeze(self, dim: int):
    shape = list(self.shape)
    shape.insert(dim if dim >= 0 else self.ndim + dim + 1, 1)
    return reshape(self, tuple(shape))


@tensor_method("squeeze")
def _squeeze(self, dim=None):
    dims = _normalise_dims(dim, self.ndim, "squeeze")
    if dims is None:
        dims = tuple(i for i, n in enumerate(self.shape) if n == 1)
    return reshape(self, tuple(n for i, n in enumerate(self.shape)
                               if not (i in dims and n == 1)))


@tensor_method("__setitem__")
def _setitem(self, index, value) -> None:
    index = _index(index)
    recorded = graph.is_grad_enabled() and (
        self.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
    if recorded:
        self._in_place(lambda t: setitem(t, index, value))
        return
    self.data[index] = _data(value)
    self._version += 1
