"""`cnnlab.scratch`: a from-scratch NumPy engine for CNNs, with hand-written backward passes.

It mirrors the parts of torch a CNN course uses (Tensor, nn, nn.functional, optim,
optim.lr_scheduler, utils.data, autograd.gradcheck, save/load) and never imports torch, so
every gradient it computes comes from the formulas written here. The course's code runs on it
with `import cnnlab.scratch as torch`.
"""

import importlib

import numpy as np

from cnnlab.scratch import cuda
from cnnlab.scratch.device import check_device, device
from cnnlab.scratch.random import generator, get_rng_state, manual_seed, set_rng_state
from cnnlab.scratch.serialization import load, save
from cnnlab.scratch.tensor import (
    Tensor,
    cat,
    clamp,
    cos,
    exp,
    flatten,
    flip,
    is_grad_enabled,
    log,
    matmul,
    maximum,
    minimum,
    no_grad,
    reshape,
    sigmoid,
    sin,
    sqrt,
    stack,
    tanh,
)
from cnnlab.scratch.tensor import abs_ as abs
from cnnlab.scratch.tensor import mean as mean
from cnnlab.scratch.tensor import relu as relu
from cnnlab.scratch.tensor import sum_ as sum

float32 = np.float32
float64 = np.float64
int64 = np.int64
double = np.float64
long = np.int64
float = np.float32


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device, "tensor")
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor that shares the array's memory (changing one changes the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor(array)


def _new(values: np.ndarray, device, requires_grad: bool, op: str) -> Tensor:
    check_device(device, op)
    return Tensor(values, requires_grad=requires_grad)


def zeros(*shape, dtype=np.float32, device=None, requires_grad: bool = False) -> Tensor:
    return _new(np.zeros(_shape(shape), dtype=dtype), device, requires_grad, "zeros")


def ones(*shape, dtype=np.float32, device=None, requires_grad: bool = False) -> Tensor:
    return _new(np.ones(_shape(shape), dtype=dtype), device, requires_grad, "ones")


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    values = np.full(tuple(size), fill_value, dtype=dtype)
    if dtype is None and values.dtype == np.float64:
        values = values.astype(np.float32)
    return _new(values, device, requires_grad, "full")


def zeros_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _new(np.zeros(input.shape, dtype=dtype or input.dtype), device, requires_grad,
                "zeros_like")


def ones_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _new(np.ones(input.shape, dtype=dtype or input.dtype), device, requires_grad,
                "ones_like")


def randn(*shape, dtype=np.float32, device=None, requires_grad: bool = False) -> Tensor:
    values = generator().standard_normal(_shape(shape)).astype(dtype)
    return _new(values, device, requires_grad, "randn")


def randn_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return randn(*input.shape, dtype=dtype or input.dtype, device=device,
                 requires_grad=requires_grad)


def rand(*shape, dtype=np.float32, device=None, requires_grad: bool = False) -> Tensor:
    values = generator().random(_shape(shape)).astype(dtype)
    return _new(values, device, requires_grad, "rand")


def arange(start, end=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """torch's rule: integers give int64, any floating bound or step gives float32."""
    start, end = (0, start) if end is None else (start, end)
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    values = np.arange(start, end, step, dtype=dtype or (np.int64 if integral else np.float32))
    return _new(values, device, requires_grad, "arange")


def linspace(start, end, steps: int, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """`steps` values evenly from `start` to `end`, both included (float32 by default)."""
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be an integer >= 0, got {steps!r}")
    values = np.linspace(start, end, steps, dtype=np.float64).astype(dtype or np.float32)
    return _new(values, device, requires_grad, "linspace")


def max(input, dim=None, keepdim: bool = False):
    """`torch.max(t)`, `torch.max(t, dim)` ((values, indices)) or `torch.max(a, b)`."""
    return _as_tensor(input).max(dim, keepdim)


def min(input, dim=None, keepdim: bool = False):
    return _as_tensor(input).min(dim, keepdim)


def argmax(input, dim=None, keepdim: bool = False) -> Tensor:
    return _as_tensor(input).argmax(dim, keepdim)


def _as_tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value)


_SUBPACKAGES = ("autograd", "nn", "optim", "utils")


def __getattr__(name: str):
    # `torch.nn.Linear` after `import torch`: the subpackages load on first use (nn imports
    # this package, so importing it eagerly here would be a cycle).
    if name in _SUBPACKAGES:
        return importlib.import_module(f"cnnlab.scratch.{name}")
    raise AttributeError(f"module 'cnnlab.scratch' has no attribute {name!r}")


def _shape(shape) -> tuple[int, ...]:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


__all__ = [
    "Tensor",
    "abs",
    "arange",
    "argmax",
    "cat",
    "clamp",
    "cos",
    "cuda",
    "device",
    "double",
    "exp",
    "flatten",
    "flip",
    "float",
    "float32",
    "float64",
    "from_numpy",
    "full",
    "get_rng_state",
    "int64",
    "is_grad_enabled",
    "linspace",
    "load",
    "log",
    "long",
    "manual_seed",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "no_grad",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "randn_like",
    "relu",
    "reshape",
    "save",
    "set_rng_state",
    "sigmoid",
    "sin",
    "sqrt",
    "stack",
    "sum",
    "tanh",
    "tensor",
    "zeros",
    "zeros_like",
]
