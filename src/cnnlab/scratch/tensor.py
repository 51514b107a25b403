"""The scratch engine's Tensor: a NumPy array plus reverse-mode automatic differentiation.

Every differentiable operation follows one pattern (as in micrograd): compute the output
array, then pass `_record` a function that maps the output's gradient to one gradient per
input. `Tensor.backward()` walks the recorded graph in reverse topological order and calls
those functions; nothing else in the engine knows about the graph. Gradients are stored
as tensors in `.grad` of the leaves (the tensors you created) that require them, as in torch.

In-place operations (`w -= lr * w.grad`, `x[mask] = 0`, `grad.zero_()`) follow torch's rules:
refused on a leaf that requires grad unless gradients are off (`no_grad()`), recorded in the
graph otherwise. Each tensor counts its in-place changes (`_version`), and backward() refuses
to use a value that changed after an op recorded it, where torch would refuse too. Torch only
checks the values an op saved; this engine checks every input an op recorded, so it also
refuses a few orders torch accepts (an input changed after an op that saved only its output).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np

from cnnlab.scratch.device import check_device, device

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

    __slots__ = ("_backward", "_grad", "_parents", "_retains_grad", "_saved_versions",
                 "_version", "data", "requires_grad")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy meeting a tensor: `array + tensor` keeps the graph (it is the tensor's op),
        `array -= tensor` writes numbers into the array, and any other ufunc computes on the
        tensors' arrays and returns an array."""
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(x.data if isinstance(x, Tensor) else x for x in kwargs["out"])
            return getattr(ufunc, method)(*arrays, **kwargs)
        op = _GRAPH_UFUNCS.get(ufunc.__name__) if method == "__call__" and not kwargs else None
        if op is not None and len(inputs) == 2:
            return globals()[op](*inputs)
        return getattr(ufunc, method)(*arrays, **kwargs)

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        self.requires_grad = requires_grad
        self._grad: Tensor | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Backward | None = None
        self._saved_versions: tuple[int, ...] = ()
        self._version = 0
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

    @property
    def device(self) -> device:
        return device("cpu")

    @property
    def grad(self) -> Tensor | None:
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            value = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
            if value.shape != self.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size {list(value.shape)} to a tensor "
                    f"of size {list(self.shape)}: the gradient and the tensor must have one size"
                )
        self._grad = value

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

    def clone(self) -> Tensor:
        return _record(self.data.copy(), (self,), lambda g: (g,))

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self.is_leaf:
            raise RuntimeError("you can only change requires_grad flags of leaf tensors; use "
                               ".detach() to get a tensor outside the graph")
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def to(self, *args, **kwargs) -> Tensor:
        """`.to(dtype)`, `.to("cpu")` or `.to(device)`: the scratch engine has one device."""
        target = kwargs.get("dtype", kwargs.get("device", args[0] if args else None))
        if isinstance(target, (str, device)):
            check_device(target, "Tensor.to")
            return self
        return self if target is None else cast(self, target)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *_args, **_kwargs) -> Tensor:
        check_device("cuda", "Tensor.cuda")
        return self

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
                node._accumulate(grad)
            if node.is_leaf:
                continue
            node._check_versions()
            for parent, parent_grad in zip(node._parents, node._backward(grad), strict=True):
                if parent_grad is None or not parent.requires_grad:
                    continue
                if parent_grad.dtype != parent.dtype:
                    parent_grad = parent_grad.astype(parent.dtype)
                key = id(parent)
                pending[key] = parent_grad if key not in pending else pending[key] + parent_grad
            if not retain_graph:
                node._backward = _graph_freed

    def _accumulate(self, grad: np.ndarray) -> None:
        if self._grad is None:
            self._grad = Tensor(np.array(grad, dtype=self.dtype))  # a copy the user may change
        else:  # the same tensor object keeps the sum, as torch's .grad does
            self._grad.data = self._grad.data + grad

    def _check_versions(self) -> None:
        for parent, saved in zip(self._parents, self._saved_versions, strict=True):
            if parent._version != saved:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: a tensor of shape {list(parent.shape)} is at version "
                    f"{parent._version}; expected version {saved} instead. Change it out of "
                    "place (x = x + 1 instead of x += 1), or clone() it before the change."
                )

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

    def __le__(self, other):
        return Tensor(self.data <= _data(other))

    def __ge__(self, other):
        return Tensor(self.data >= _data(other))

    # ----------------------------------------------------------------- in place
    def _in_place(self, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Make this tensor hold compute(self), keeping its identity (and its buffer when no
        graph is recorded, so a state_dict array or a NumPy view sees the change)."""
        if _grad_enabled and self.requires_grad and self.is_leaf:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation. "
                "Update parameters inside `with no_grad():`, or write the result to a new name."
            )
        before = self._snapshot()
        result = compute(before)
        if result.shape != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(result.shape)}")
        if result.requires_grad:
            # `before` takes over this tensor's place in the graph; this tensor becomes the op.
            self.data = result.data.astype(self.dtype, copy=False)
            self._parents, self._backward = result._parents, result._backward
            self._saved_versions, self.requires_grad = result._saved_versions, True
        else:
            try:
                np.copyto(self.data, result.data, casting="same_kind")
            except TypeError:
                raise RuntimeError(f"result type {result.dtype} can't be cast to the desired "
                                   f"output type {self.dtype}") from None
        self._version += 1
        return self

    def _snapshot(self) -> Tensor:
        twin = Tensor.__new__(Tensor)
        for name in ("data", "requires_grad", "_parents", "_backward", "_saved_versions",
                     "_version"):
            setattr(twin, name, getattr(self, name))
        twin._grad, twin._retains_grad = None, False
        return twin

    def __iadd__(self, other):
        return self._in_place(lambda t: add(t, other))

    def __isub__(self, other):
        return self._in_place(lambda t: sub(t, other))

    def __imul__(self, other):
        return self._in_place(lambda t: mul(t, other))

    def __itruediv__(self, other):
        return self._in_place(lambda t: div(t, other))

    def add_(self, other, alpha=1):
        return self._in_place(lambda t: add(t, other if alpha == 1 else mul(_lift(other, t),
                                                                             alpha)))

    def sub_(self, other, alpha=1):
        return self._in_place(lambda t: sub(t, other if alpha == 1 else mul(_lift(other, t),
                                                                             alpha)))

    def mul_(self, other):
        return self._in_place(lambda t: mul(t, other))

    def div_(self, other):
        return self._in_place(lambda t: div(t, other))

    def clamp_(self, min=None, max=None):
        return self._in_place(lambda t: clamp(t, min, max))

    def relu_(self):
        return self._in_place(relu)

    def copy_(self, src):
        src = _lift(src, self)
        return self._in_place(lambda t: add(mul(t, 0.0), src))

    def fill_(self, value):
        return self._in_place(lambda t: add(mul(t, 0.0), _lift(np.full(t.shape, _data(value)),
                                                               t)))

    def zero_(self):
        return self.fill_(0)

    def __setitem__(self, index, value) -> None:
        index = _index(index)
        graph = _grad_enabled and (self.requires_grad
                                   or (isinstance(value, Tensor) and value.requires_grad))
        if graph:
            self._in_place(lambda t: setitem(t, index, value))
            return
        self.data[index] = _data(value)
        self._version += 1

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
        return relu(self)

    def abs(self):
        return abs_(self)

    def sqrt(self):
        return sqrt(self)

    def neg(self):
        return mul(self, -1.0)

    def max(self, dim=None, keepdim: bool = False):
        return maximum(self, dim) if isinstance(dim, Tensor) else extreme(self, dim, keepdim,
                                                                        "max")

    def min(self, dim=None, keepdim: bool = False):
        return minimum(self, dim) if isinstance(dim, Tensor) else extreme(self, dim, keepdim,
                                                                        "min")

    def clamp(self, min=None, max=None):
        return clamp(self, min, max)

    def pow(self, exponent: float):
        return pow_(self, exponent)

    def mm(self, other):
        return matmul(self, other)

    def matmul(self, other):
        return matmul(self, other)

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but it has "
                               f"{self.ndim} (shape {self.shape}); use transpose(dim0, dim1)")
        return self.transpose(0, -1) if self.ndim == 2 else self

    def reshape(self, *shape):
        return reshape(self, _shape_arg(shape))

    def view(self, *shape):
        return reshape(self, _shape_arg(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int, dim1: int):
        dims = _normalise_dims((dim0, dim1), self.ndim, "transpose")
        order = list(range(self.ndim))
        if dims:  # a 0-d tensor is its own transpose
            order[dims[0]], order[dims[1]] = order[dims[1]], order[dims[0]]
        return permute(self, order)

    def permute(self, *dims):
        return permute(self, _shape_arg(dims))

    def flip(self, *dims):
        return flip(self, _shape_arg(dims))

    @property
    def T(self):
        return permute(self, tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int):
        shape = list(self.shape)
        shape.insert(dim if dim >= 0 else self.ndim + dim + 1, 1)
        return reshape(self, tuple(shape))

    def squeeze(self, dim=None):
        dims = _normalise_dims(dim, self.ndim, "squeeze")
        if dims is None:
            dims = tuple(i for i, n in enumerate(self.shape) if n == 1)
        return reshape(self, tuple(n for i, n in enumerate(self.shape)
                                   if not (i in dims and n == 1)))

    def argmax(self, dim=None, keepdim: bool = False):
        return Tensor(np.argmax(self.data, axis=dim, keepdims=keepdim))

    def argmin(self, dim=None, keepdim: bool = False):
        return Tensor(np.argmin(self.data, axis=dim, keepdims=keepdim))

    def float(self):
        return cast(self, np.float32)

    def double(self):
        return cast(self, np.float64)

    def long(self):
        return Tensor(self.data.astype(np.int64))

    def int(self):
        return Tensor(self.data.astype(np.int32))

    def bool(self):
        return Tensor(self.data.astype(bool))


# ===================================================================== plumbing


_GRAPH_UFUNCS = {"add": "add", "subtract": "sub", "multiply": "mul", "divide": "div",
                 "true_divide": "div", "matmul": "matmul"}

Observer = Callable[[Tensor, tuple[Tensor, ...], "tuple | None"], None]
_op_observers: list[Observer] = []
_named_ops: list[tuple] = []  # (name, args, kwargs) of the functional ops being computed


@contextlib.contextmanager
def observe_ops(observer: Observer) -> Iterator[None]:
    """Call `observer(output, inputs, op)` after every op: how a tracer follows the data
    through a model's forward, residual sums and concatenations included. `op` is the
    (name, args, kwargs) of a functional op that announced itself with `named_op`, else None."""
    _op_observers.append(observer)
    try:
        yield
    finally:
        _op_observers.remove(observer)


@contextlib.contextmanager
def named_op(name: str, args: tuple, kwargs: dict) -> Iterator[None]:
    """The ops recorded inside the block are reported to observers as this call."""
    _named_ops.append((name, args, kwargs))
    try:
        yield
    finally:
        _named_ops.pop()


def _record(data: np.ndarray, parents: tuple[Tensor, ...], backward: Backward) -> Tensor:
    """Wrap an op's output; remember how to send its gradient back when one is needed."""
    out = Tensor(data)
    for observer in _op_observers:
        observer(out, parents, _named_ops[-1] if _named_ops else None)
    if _grad_enabled and any(p.requires_grad for p in parents):
        out.requires_grad = True
        out._parents = parents
        out._backward = backward
        out._saved_versions = tuple(p._version for p in parents)
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


def relu(a: Tensor) -> Tensor:
    out = np.maximum(a.data, 0)
    return _record(out, (a,), lambda g: (g * (out > 0),))  # torch: gradient 0 at exactly 0


def abs_(a: Tensor) -> Tensor:
    return _record(np.abs(a.data), (a,), lambda g: (g * np.sign(a.data),))


def sqrt(a: Tensor) -> Tensor:
    out = np.sqrt(a.data)
    return _record(out, (a,), lambda g: (g / (2 * out),))


def clamp(a: Tensor, min=None, max=None) -> Tensor:
    """Bounds may be numbers or tensors (broadcast); torch's gradients: the input's where it
    lies inside [min, max] (bounds included), a bound's where it replaced the input."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    low = None if min is None else _lift(min, a)
    high = None if max is None else _lift(max, a)
    out = a.data
    inside = np.ones(a.shape, dtype=bool)
    if low is not None:
        out = np.maximum(out, low.data)
        inside = inside & (a.data >= low.data)
    if high is not None:
        out = np.minimum(out, high.data)
        inside = inside & (a.data <= high.data)
    bounds = tuple(t for t in (low, high) if t is not None)

    def backward(g):
        grads = [unbroadcast(g * inside, a.shape)]
        x = a.data
        if low is not None and high is not None:  # torch's clamp_backward_min_max
            grads.append(unbroadcast(g * ((x < low.data) & (low.data < high.data)), low.shape))
            grads.append(unbroadcast(g * ((x > high.data) | (high.data < low.data)),
                                     high.shape))
        elif low is not None:
            grads.append(unbroadcast(g * (x < low.data), low.shape))
        else:
            grads.append(unbroadcast(g * (x > high.data), high.shape))
        return tuple(grads)

    return _record(np.asarray(out, dtype=a.dtype), (a, *bounds), backward)


def maximum(a, b) -> Tensor:
    return _pick(a, b, np.greater)


def minimum(a, b) -> Tensor:
    return _pick(a, b, np.less)


def _pick(a, b, wins) -> Tensor:
    """Element-wise max or min; a tie sends half the gradient to each side, as in torch."""
    a, b = _lift(a, b if isinstance(b, Tensor) else a), _lift(b, a)
    first = wins(a.data, b.data)
    tie = (a.data == b.data).astype(np.result_type(a.dtype, b.dtype))
    share = first + 0.5 * tie

    def backward(g):
        return unbroadcast(g * share, a.shape), unbroadcast(g * (1 - share), b.shape)

    return _record(np.where(first | (tie > 0), a.data, b.data), (a, b), backward)


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
