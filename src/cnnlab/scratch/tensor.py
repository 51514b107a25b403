"""The scratch engine's Tensor: a NumPy array plus reverse-mode automatic differentiation.

Every differentiable operation follows one pattern (as in micrograd): compute the output
array, then pass `_record` a function that maps the output's gradient to one gradient per
input. `Tensor.backward()` walks the recorded graph in reverse topological order and calls
those functions; nothing else in the engine knows about the graph. Gradients are NumPy
arrays, stored in `.grad` of the leaves (the tensors you created) that require them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np

_grad_enabled = True


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Operations inside the block record no graph (evaluation, optimizer updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


Backward = Callable[[np.ndarray], Sequence[np.ndarray | None]]


def _graph_freed(_grad: np.ndarray) -> Sequence[np.ndarray | None]:
    raise RuntimeError(
        "Trying to backward through the graph a second time: its intermediate values were "
        "freed by the first backward(). Pass retain_graph=True to the first call."
    )


def _as_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):  # NumPy scalars keep their dtype too
        return np.asarray(data) if dtype is None else np.asarray(data).astype(dtype, copy=False)
    array = np.asarray(data, dtype=dtype)
    # Python floats become float32, as in torch.tensor(); NumPy arrays keep their dtype.
    if dtype is None and array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


class Tensor:
    """A NumPy array that can take part in automatic differentiation."""

    __slots__ = ("_backward", "_parents", "_retains_grad", "data", "grad", "requires_grad")
    # Makes `ndarray + Tensor` call Tensor.__radd__ instead of broadcasting element-wise.
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        self.requires_grad = requires_grad
        self.grad: np.ndarray | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Backward | None = None
        self._retains_grad = False

    # ----------------------------------------------------------------- description
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        return not self._parents

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({np.array2string(self.data, prefix='tensor(')}, dtype={self.dtype}{grad})"

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def retain_grad(self) -> None:
        """Keep `.grad` on this intermediate tensor after backward(), as torch does."""
        self._retains_grad = True

    # ----------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar output, got shape {self.shape}"
                )
            gradient = np.ones_like(self.data)
        else:
            gradient = _as_array(gradient, self.dtype)
            if gradient.shape != self.shape:
                raise ValueError(
                    f"backward(): gradient of shape {gradient.shape} for a tensor of shape "
                    f"{self.shape}"
                )
        order = self._topological_order()
        pending = {id(self): gradient}
        for node in reversed(order):
            grad = pending.pop(id(node), None)
            if grad is None:
                continue
            if node.is_leaf or node._retains_grad:
                node.grad = grad.copy() if node.grad is None else node.grad + grad
            if node.is_leaf:
                continue
            for parent, parent_grad in zip(node._parents, node._backward(grad), strict=True):
                if parent_grad is None or not parent.requires_grad:
                    continue
                if parent_grad.dtype != parent.dtype:
                    parent_grad = parent_grad.astype(parent.dtype)
                key = id(parent)
                pending[key] = parent_grad if key not in pending else pending[key] + parent_grad
            if not retain_graph:
                node._backward = _graph_freed

    def _topological_order(self) -> list[Tensor]:
        # Iterative depth-first search: deep networks exceed Python's recursion limit.
        order, visited, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents if p.requires_grad)
        return order

    # ----------------------------------------------------------------- arithmetic
    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(_lift(other, self), self)

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return sub(_lift(other, self), self)

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(_lift(other, self), self)

    def __truediv__(self, other):
        return div(self, other)

    def __rtruediv__(self, other):
        return div(_lift(other, self), self)

    def __neg__(self):
        return mul(self, -1.0)

    def __pow__(self, exponent: float):
        return pow_(self, exponent)

    def __matmul__(self, other):
        return matmul(self, other)

    def __getitem__(self, index):
        return getitem(self, index)

    # Comparisons give plain boolean tensors, outside the graph.
    def __eq__(self, other):  # type: ignore[override]
        return Tensor(self.data == _data(other))

    def __ne__(self, other):  # type: ignore[override]
        return Tensor(self.data != _data(other))

    def __lt__(self, other):
        return Tensor(self.data < _data(other))

    def __gt__(self, other):
        return Tensor(self.data > _data(other))

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        # NumPy's rule: only a one-element tensor has a truth value (`if a == b` on many
        # elements raises instead of silently being true).
        return bool(self.data)

    # ----------------------------------------------------------------- methods
    def sum(self, dim=None, keepdim: bool = False):
        return sum_(self, dim, keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        return mean(self, dim, keepdim)

    def exp(self):
        return exp(self)

    def log(self):
        return log(self)

    def tanh(self):
        return tanh(self)

    def sigmoid(self):
        return sigmoid(self)

    def relu(self):
        return clamp(self, min=0.0)

    def clamp(self, min=None, max=None):
        return clamp(self, min, max)

    def pow(self, exponent: float):
        return pow_(self, exponent)

    def mm(self, other):
        return matmul(self, other)

    def reshape(self, *shape):
        return reshape(self, _shape_arg(shape))

    def view(self, *shape):
        return reshape(self, _shape_arg(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int, dim1: int):
        order = list(range(self.ndim))
        order[dim0], order[dim1] = order[dim1], order[dim0]
        return permute(self, order)

    def permute(self, *dims):
        return permute(self, _shape_arg(dims))

    @property
    def T(self):
        return permute(self, tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int):
        shape = list(self.shape)
        shape.insert(dim if dim >= 0 else self.ndim + dim + 1, 1)
        return reshape(self, tuple(shape))

    def argmax(self, dim=None, keepdim: bool = False):
        return Tensor(np.argmax(self.data, axis=dim, keepdims=keepdim))

    def float(self):
        return cast(self, np.float32)

    def double(self):
        return cast(self, np.float64)


# ===================================================================== plumbing


_op_observers: list[Callable[[Tensor, tuple[Tensor, ...]], None]] = []


@contextlib.contextmanager
def observe_ops(observer: Callable[[Tensor, tuple[Tensor, ...]], None]) -> Iterator[None]:
    """Call `observer(output, inputs)` after every op: how a tracer follows the data through
    a model's forward, residual sums and concatenations included."""
    _op_observers.append(observer)
    try:
        yield
    finally:
        _op_observers.remove(observer)


def _record(data: np.ndarray, parents: tuple[Tensor, ...], backward: Backward) -> Tensor:
    """Wrap an op's output; remember how to send its gradient back when one is needed."""
    out = Tensor(data)
    for observer in _op_observers:
        observer(out, parents)
    if _grad_enabled and any(p.requires_grad for p in parents):
        out.requires_grad = True
        out._parents = parents
        out._backward = backward
    return out


def _data(x) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _lift(x, like: Tensor) -> Tensor:
    """A Python number or array beside a tensor takes the tensor's floating dtype."""
    if isinstance(x, Tensor):
        return x
    array = np.asarray(x)
    if like.dtype.kind == "f" and array.dtype.kind in "biuf":
        array = array.astype(like.dtype)
    return Tensor(array)


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


def _normalise_dims(dim, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(d % ndim for d in dims)


# ===================================================================== element-wise


def add(a, b) -> Tensor:
    a, b = _lift(a, b if isinstance(b, Tensor) else a), _lift(b, a)

    def backward(g):
        return unbroadcast(g, a.shape), unbroadcast(g, b.shape)

    return _record(a.data + b.data, (a, b), backward)


def sub(a, b) -> Tensor:
    a, b = _lift(a, b if isinstance(b, Tensor) else a), _lift(b, a)

    def backward(g):
        return unbroadcast(g, a.shape), unbroadcast(-g, b.shape)

    return _record(a.data - b.data, (a, b), backward)


def mul(a, b) -> Tensor:
    a, b = _lift(a, b if isinstance(b, Tensor) else a), _lift(b, a)

    def backward(g):
        ga = unbroadcast(g * b.data, a.shape) if a.requires_grad else None
        gb = unbroadcast(g * a.data, b.shape) if b.requires_grad else None
        return ga, gb

    return _record(a.data * b.data, (a, b), backward)


def div(a, b) -> Tensor:
    a, b = _lift(a, b if isinstance(b, Tensor) else a), _lift(b, a)
    out = a.data / b.data

    def backward(g):
        ga = unbroadcast(g / b.data, a.shape) if a.requires_grad else None
        gb = unbroadcast(-g * out / b.data, b.shape) if b.requires_grad else None
        return ga, gb

    return _record(out, (a, b), backward)


def pow_(a: Tensor, exponent: float) -> Tensor:
    if isinstance(exponent, Tensor):
        raise TypeError("pow: only a Python number is supported as the exponent")

    def backward(g):
        return (g * exponent * a.data ** (exponent - 1),)

    return _record(a.data**exponent, (a,), backward)


def exp(a: Tensor) -> Tensor:
    out = np.exp(a.data)
    return _record(out, (a,), lambda g: (g * out,))


def log(a: Tensor) -> Tensor:
    return _record(np.log(a.data), (a,), lambda g: (g / a.data,))


def tanh(a: Tensor) -> Tensor:
    out = np.tanh(a.data)
    return _record(out, (a,), lambda g: (g * (1 - out * out),))


def sigmoid(a: Tensor) -> Tensor:
    out = 1 / (1 + np.exp(-a.data))
    return _record(out, (a,), lambda g: (g * out * (1 - out),))


def clamp(a: Tensor, min=None, max=None) -> Tensor:
    out = np.clip(a.data, min, max)
    # Like torch, the gradient passes where the input lies inside [min, max] (bounds included).
    inside = np.ones(a.shape, dtype=bool)
    if min is not None:
        inside &= a.data >= min
    if max is not None:
        inside &= a.data <= max
    return _record(out, (a,), lambda g: (g * inside,))


def cast(a: Tensor, dtype) -> Tensor:
    return _record(a.data.astype(dtype), (a,), lambda g: (g.astype(a.dtype),))


# ===================================================================== linear algebra


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
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if b.requires_grad:
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb

    return _record(a.data @ b.data, (a, b), backward)


# ===================================================================== reductions


def sum_(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    axes = _normalise_dims(dim, a.ndim)

    def backward(g):
        if axes is not None and not keepdim:
            g = np.expand_dims(g, axes)
        return (np.broadcast_to(g, a.shape),)

    return _record(np.sum(a.data, axis=axes, keepdims=keepdim), (a,), backward)


def mean(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    axes = _normalise_dims(dim, a.ndim)
    count = a.data.size if axes is None else int(np.prod([a.shape[d] for d in axes]))

    def backward(g):
        if axes is not None and not keepdim:
            g = np.expand_dims(g, axes)
        return (np.broadcast_to(g / count, a.shape),)

    return _record(np.mean(a.data, axis=axes, keepdims=keepdim), (a,), backward)


# ===================================================================== shapes


def reshape(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    try:
        out = a.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot view shape {a.shape} as {shape}") from None
    return _record(out, (a,), lambda g: (g.reshape(a.shape),))


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


def _is_basic_index(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice, type(None), type(Ellipsis))) for p in parts)


def getitem(a: Tensor, index) -> Tensor:
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(p.data if isinstance(p, Tensor) else p for p in index)

    def backward(g):
        grad = np.zeros_like(a.data)
        if _is_basic_index(index):
            grad[index] += g  # slices select each element at most once
        else:
            np.add.at(grad, index, g)  # fancy indices may repeat an element
        return (grad,)

    return _record(a.data[index], (a,), backward)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    tensors = tuple(tensors)
    axis = dim % tensors[0].ndim
    bounds = np.cumsum([t.shape[axis] for t in tensors])[:-1]

    def backward(g):
        return tuple(np.split(g, bounds, axis=axis))

    return _record(np.concatenate([t.data for t in tensors], axis=axis), tensors, backward)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    return cat([t.unsqueeze(dim) for t in tensors], dim)
