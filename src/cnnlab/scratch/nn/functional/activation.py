"""ReLU and the softmax family, each with its hand-written backward pass."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.tensor import Tensor, _record


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    # `inplace` is accepted for torch compatibility; NumPy buffers are never shared here.
    out = np.maximum(input.data, 0)
    return _record(out, (input,), lambda g: (g * (out > 0),))


def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    if dim is None:
        raise ValueError("log_softmax: pass dim explicitly (the class dimension, usually 1)")
    x = input.data if dtype is None else input.data.astype(dtype)
    shifted = x - x.max(axis=dim, keepdims=True)  # exp() of large logits would overflow
    out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))

    def backward(g):
        return (g - np.exp(out) * g.sum(axis=dim, keepdims=True),)

    return _record(out, (input,), backward)


def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    if dim is None:
        raise ValueError("softmax: pass dim explicitly (the class dimension, usually 1)")
    x = input.data if dtype is None else input.data.astype(dtype)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    out = e / e.sum(axis=dim, keepdims=True)

    def backward(g):
        return (out * (g - (g * out).sum(axis=dim, keepdims=True)),)

    return _record(out, (input,), backward)
