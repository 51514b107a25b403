"""Fully connected layers, dropout and flattening."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch import random
from cnnlab.scratch.tensor import Tensor, _record, announced, flatten, unbroadcast

__all__ = ["dropout", "flatten", "linear"]


@announced("linear")
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b, for x of shape (..., in_features) and W of (out_features, in_features)."""
    if weight.ndim != 2 or input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {input.shape} has {input.shape[-1] if input.ndim else 0} "
            f"features but the weight {weight.shape} expects in_features={weight.shape[-1]}"
        )
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input is {input.dtype} but weight is {weight.dtype}")
    y = input.data @ weight.data.T
    if bias is not None:
        y += bias.data

    def backward(g):
        flat_g = g.reshape(-1, g.shape[-1])
        dx = (g @ weight.data) if input.requires_grad else None
        dw = flat_g.T @ input.data.reshape(-1, input.shape[-1]) if weight.requires_grad else None
        db = unbroadcast(g, bias.shape) if bias is not None and bias.requires_grad else None
        return dx, dw, db

    parents = (input, weight) if bias is None else (input, weight, bias)
    return _record(y, parents, lambda g: backward(g)[: len(parents)])


@announced("dropout")
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        keep = np.zeros(input.shape, dtype=input.dtype)
    else:
        draws = random.generator().random(input.shape, dtype=np.float32)
        keep = (draws >= p).astype(input.dtype) * np.asarray(1.0 / (1.0 - p), input.dtype)
    return _record(input.data * keep, (input,), lambda g: (g * keep,))
