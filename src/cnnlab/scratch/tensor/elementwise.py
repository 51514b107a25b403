"""Element-wise ops, each with its backward beside it, and the Tensor methods that call
them: arithmetic (reversed and in place too), exp, log, tanh, sigmoid, relu, abs, sqrt,
clamp, maximum and minimum, and casts."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.device import check_device, device
from cnnlab.scratch.tensor.arguments import unbroadcast
from cnnlab.scratch.tensor.graph import Tensor, _data, _lift, _record, tensor_method


@tensor_method("__add__")
def add(a, b) -> Tensor:
    a, b = _lift(a, b if isinstance(b, Tensor) else a), _lift(b, a)

    def backward(g):
        return unbroadcast(g, a.shape), unbroadcast(g, b.shape)

    return _record(a.data + b.data, (a, b), backward)


@tensor_method("__sub__")
def sub(a, b) -> Tensor:
    a, b = _lift(a, b if isinstance(b, Tensor) else a), _lift(b, a)

    def backward(g):
        return unbroadcast(g, a.shape), unbroadcast(-g, b.shape)

    return _record(a.data - b.data, (a, b), backward)


@tensor_method("__mul__")
def mul(a, b) -> Tensor:
    a, b = _lift(a, b if isinstance(b, Tensor) else a), _lift(b, a)

    def backward(g):
        ga = unbroadcast(g * b.data, a.shape) if a.requires_grad else None
        gb = unbroadcast(g * a.data, b.shape) if b.requires_grad else None
        return ga, gb

    return _record(a.data * b.data, (a, b), backward)


@tensor_method("__truediv__")
def div(a, b) -> Tensor:
    a, b = _lift(a, b if isinstance(b, Tensor) else a), _lift(b, a)
    out = a.data / b.data

    def backward(g):
        ga = unbroadcast(g / b.data, a.shape) if a.requires_grad else None
        gb = unbroadcast(-g * out / b.data, b.shape) if b.requires_grad else None
        return ga, gb

    return _record(out, (a, b), backward)


@tensor_method("__pow__", "pow")
def pow_(a: Tensor, exponent) -> Tensor:
    """`a ** exponent`, the exponent a number or a tensor broadcast against `a` (the
    tutorial's `x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))`); an integer exponent keeps
    `a`'s dtype, as in torch."""
    if not isinstance(exponent, Tensor):
        def backward(g):
            return (g * exponent * a.data ** (exponent - 1),)

        return _record(a.data**exponent, (a,), backward)
    kind = a.dtype if exponent.dtype.kind in "biu" else np.result_type(a.dtype, exponent.dtype)
    e = exponent.data.astype(kind)
    out = (a.data**e).astype(kind)

    def backward_both(g):
        ga = unbroadcast(g * e * a.data ** (e - 1), a.shape) if a.requires_grad else None
        ge = unbroadcast(g * out * np.log(a.data), e.shape) if exponent.requires_grad else None
        return ga, ge

    return _record(out, (a, exponent), backward_both)


@tensor_method("exp")
def exp(a: Tensor) -> Tensor:
    out = np.exp(a.data)
    return _record(out, (a,), lambda g: (g * out,))


@tensor_method("log")
def log(a: Tensor) -> Tensor:
    return _record(np.log(a.data), (a,), lambda g: (g / a.data,))


@tensor_method("sin")
def sin(a: Tensor) -> Tensor:
    return _record(np.sin(a.data), (a,), lambda g: (g * np.cos(a.data),))


@tensor_method("cos")
def cos(a: Tensor) -> Tensor:
    return _record(np.cos(a.data), (a,), lambda g: (-g * np.sin(a.data),))


@tensor_method("tanh")
def tanh(a: Tensor) -> Tensor:
    out = np.tanh(a.data)
    return _record(out, (a,), lambda g: (g * (1 - out * out),))


@tensor_method("sigmoid")
def sigmoid(a: Tensor) -> Tensor:
    out = 1 / (1 + np.exp(-a.data))
    return _record(out, (a,), lambda g: (g * out * (1 - out),))


@tensor_method("relu")
def relu(a: Tensor) -> Tensor:
    out = np.maximum(a.data, 0)
    return _record(out, (a,), lambda g: (g * (out > 0),))  # torch: gradient 0 at exactly 0


@tensor_method("abs")
def abs_(a: Tensor) -> Tensor:
    return _record(np.abs(a.data), (a,), lambda g: (g * np.sign(a.data),))


@tensor_method("sqrt")
def sqrt(a: Tensor) -> Tensor:
    out = np.sqrt(a.data)
    return _record(out, (a,), lambda g: (g / (2 * out),))


@tensor_method("clamp")
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


# ===================================================================== methods


@tensor_method("__radd__")
def _radd(self, other):
    return add(_lift(other, self), self)


@tensor_method("__rsub__")
def _rsub(self, other):
    return sub(_lift(other, self), self)


@tensor_method("__rmul__")
def _rmul(self, other):
    return mul(_lift(other, self), self)


@tensor_method("__rtruediv__")
def _rtruediv(self, other):
    return div(_lift(other, self), self)


@tensor_method("__neg__", "neg")
def _neg(self):
    return mul(self, -1.0)


@tensor_method("float")
def _float(self):
    return cast(self, np.float32)


@tensor_method("double")
def _double(self):
    return cast(self, np.float64)


@tensor_method("to")
def _to(self, *args, **kwargs) -> Tensor:
    """`.to(dtype)`, `.to("cpu")` or `.to(device)`: the scratch engine has one device."""
    target = kwargs.get("dtype", kwargs.get("device", args[0] if args else None))
    if isinstance(target, (str, device)):
        check_device(target, "Tensor.to")
        return self
    return self if target is None else cast(self, target)


# In place: the op computed on the tensor's value, the tensor keeping its identity


@tensor_method("__iadd__")
def _iadd(self, other):
    return self._in_place(lambda t: add(t, other))


@tensor_method("__isub__")
def _isub(self, other):
    return self._in_place(lambda t: sub(t, other))


@tensor_method("__imul__", "mul_")
def _imul(self, other):
    return self._in_place(lambda t: mul(t, other))


@tensor_method("__itruediv__", "div_")
def _itruediv(self, other):
    return self._in_place(lambda t: div(t, other))


@tensor_method("add_")
def _add_(self, other, alpha=1):
    return self._in_place(lambda t: add(t, other if alpha == 1 else mul(_lift(other, t), alpha)))


@tensor_method("sub_")
def _sub_(self, other, alpha=1):
    return self._in_place(lambda t: sub(t, other if alpha == 1 else mul(_lift(other, t), alpha)))


@tensor_method("clamp_")
def _clamp_(self, min=None, max=None):
    return self._in_place(lambda t: clamp(t, min, max))


@tensor_method("relu_")
def _relu_(self):
    return self._in_place(relu)


@tensor_method("copy_")
def _copy_(self, src):
    src = _lift(src, self)
    return self._in_place(lambda t: add(mul(t, 0.0), src))


@tensor_method("fill_")
def _fill_(self, value):
    return self._in_place(lambda t: add(mul(t, 0.0), _lift(np.full(t.shape, _data(value)), t)))


@tensor_method("zero_")
def _zero_(self):
    return self.fill_(0)
