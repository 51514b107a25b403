"""`cnnlab.scratch`: a from-scratch NumPy engine for CNNs, with hand-written backward passes.

It mirrors the parts of torch a CNN course uses (Tensor, nn, nn.functional, optim) and never
imports torch, so every gradient it computes comes from the formulas written here.
"""

import numpy as np

from cnnlab.scratch.random import generator, get_rng_state, manual_seed, set_rng_state
from cnnlab.scratch.tensor import Tensor, cat, is_grad_enabled, no_grad, stack

float32 = np.float32
float64 = np.float64


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    values = generator().standard_normal(_shape(shape)).astype(dtype)
    return Tensor(values, requires_grad=requires_grad)


def _shape(shape) -> tuple[int, ...]:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


__all__ = [
    "Tensor",
    "cat",
    "float32",
    "float64",
    "get_rng_state",
    "is_grad_enabled",
    "manual_seed",
    "no_grad",
    "ones",
    "randn",
    "set_rng_state",
    "stack",
    "tensor",
    "zeros",
]
