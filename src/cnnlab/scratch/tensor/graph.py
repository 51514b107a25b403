"""The scratch engine's Tensor and its graph: a NumPy array plus reverse-mode automatic
differentiation. The ops live beside it, each with its backward (`elementwise`, `reductions`,
`shapes`) and installing the Tensor methods that call it (`tensor_method`).

Every differentiable op follows one pattern (as in micrograd): compute the output array,
then pass `_record` a function mapping the output's gradient to one gradient per input.
`Tensor.backward()` walks the graph in reverse topological order calling those functions, and
leaves gradients in `.grad` of the leaves that require them (the tensors you created).

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

import numpy as np

from cnnlab.scratch.device import check_device, device
from cnnlab.scratch.tensor import observers

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
            return getattr(Tensor, op)(*inputs)  # the op itself, whichever side is the tensor
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

    def __index__(self) -> int:  # `classes[label]`, as torch allows
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            f"index (this one is {self.dtype}, shape {self.shape})")
        return int(self.data.item())

    def __int__(self) -> int:
        return int(self.data.item())

    def __float__(self) -> float:
        return float(self.data.item())

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

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        # NumPy's rule: only a one-element tensor has a truth value (`if a == b` on many
        # elements raises instead of silently being true).
        return bool(self.data)
    # ----------------------------------------------------------------- outside the graph
    def argmax(self, dim=None, keepdim: bool = False):
        return Tensor(np.argmax(self.data, axis=dim, keepdims=keepdim))

    def argmin(self, dim=None, keepdim: bool = False):
        return Tensor(np.argmin(self.data, axis=dim, keepdims=keepdim))

    def long(self):
        return Tensor(self.data.astype(np.int64))

    def int(self):
        return Tensor(self.data.astype(np.int32))

    def bool(self):
        return Tensor(self.data.astype(bool))



# ===================================================================== plumbing


# The ufuncs that stay in the graph when NumPy meets a tensor: the Tensor method that is the op
_GRAPH_UFUNCS = {"add": "__add__", "subtract": "__sub__", "multiply": "__mul__",
                 "divide": "__truediv__", "true_divide": "__truediv__", "matmul": "__matmul__"}


def _record(data: np.ndarray, parents: tuple[Tensor, ...], backward: Backward) -> Tensor:
    """Wrap an op's output; remember how to send its gradient back when one is needed."""
    out = Tensor(data)
    if observers.WATCHING:
        observers.recorded(out, parents)
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


def tensor_method(*names: str):
    """Install the function as Tensor's methods `names` (`t.exp()` is `exp(t)`), announced as
    named (`__add__` as "add") while ops are observed; a property (t.T) runs as its ops."""
    def install(function):
        if isinstance(function, property):
            for name in names:
                setattr(Tensor, name, function)
            return function
        for name in names:
            spoken = name[2:-2] if name.startswith("__") and name.endswith("__") else name
            observers.method(Tensor, name, function, spoken)
        return observers.announced(function.__name__.strip("_"))(function)

    return install
