"""Activations and the softmax family, each with its hand-written backward pass."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.tensor import Tensor, _normalise_dims, _record, announced
from cnnlab.scratch.tensor import relu as _relu
from cnnlab.scratch.tensor import sigmoid as _sigmoid
from cnnlab.scratch.tensor import tanh as _tanh


@announced("relu")
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    # `inplace` is accepted for torch compatibility; the result is always a new tensor.
    return _relu(input)


@announced("leaky_relu")
def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    positive = input.data > 0
    out = np.where(positive, input.data, input.data * negative_slope)
    slope = np.where(positive, 1.0, negative_slope).astype(input.dtype)
    return _record(out, (input,), lambda g: (g * slope,))


@announced("tanh")
def tanh(input: Tensor) -> Tensor:
    return _tanh(input)


@announced("sigmoid")
def sigmoid(input: Tensor) -> Tensor:
    return _sigmoid(input)


def _softmax_axis(input: Tensor, dim, op: str) -> int:
    if dim is None:
        raise ValueError(f"{op}: pass dim explicitly (the class dimension, usually 1)")
    (axis,) = _normalise_dims(dim, input.ndim, op) or (None,)
    return axis


@announced("log_softmax")
def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    axis = _softmax_axis(input, dim, "log_softmax")
    x = input.data if dtype is None else input.data.astype(dtype)
    if x.size == 0:  # nothing to normalise (a zero-size dimension): torch returns it empty
        return _record(x.copy(), (input,), lambda g: (g,))
    shifted = x - x.max(axis=axis, keepdims=True)  # exp() of large logits would overflow
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g):
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

    return _record(out, (input,), backward)


@announced("softmax")
def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    axis = _softmax_axis(input, dim, "softmax")
    x = input.data if dtype is None else input.data.astype(dtype)
    if x.size == 0:
        return _record(x.copy(), (input,), lambda g: (g,))
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return _record(out, (input,), backward)
