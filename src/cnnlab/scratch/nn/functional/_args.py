"""Argument normalisation and the checks every spatial op shares.

Errors name the op, the argument and the shapes involved, so that a student who wires a layer
wrongly reads what is wrong and what was expected instead of a NumPy broadcasting message.
"""

from __future__ import annotations

import functools

import numpy as np

from cnnlab.arithmetic.sizes import effective_kernel
from cnnlab.scratch.tensor import Tensor, announced


def pair(value, name: str, op: str) -> tuple[int, int]:
    """An int, a one-element sequence or a pair of ints, as torch accepts for kernel_size,
    stride, padding and dilation."""
    items = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) == 1:
        items = items * 2
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) for v in items):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


def check_positive(values: tuple[int, int], name: str, op: str) -> None:
    if min(values) < 1:
        raise ValueError(f"{op}: {name} must be positive, got {values}")


def check_non_negative(values: tuple[int, int], name: str, op: str) -> None:
    if min(values) < 0:
        raise ValueError(f"{op}: {name} must be non-negative, got {values}")


def check_image_batch(x, op: str, name: str = "input") -> Tensor:
    """A 4-D floating-point tensor (N, C, H, W)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(
            f"{op}: {name} must be a floating-point tensor (float32 or float64), got {x.dtype}; "
            "convert images with .float() after scaling them"
        )
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) {name}, got "
                         f"shape {x.shape}")
    return x


def spatial_op(op):
    """A convolution or pooling function: it takes one (C, H, W) image too, as torch's do
    (run as a batch of one, the batch dimension dropped again from every tensor it returns),
    and it announces itself and its arguments to op observers (`cnnlab shapes` reads a
    `F.max_pool2d(x, 2)` in a forward from them)."""
    spoken = announced(op.__name__)(op)

    @functools.wraps(op)
    def wrapper(input, *args, **kwargs):
        if isinstance(input, Tensor) and input.ndim == 3:
            out = wrapper(input.unsqueeze(0), *args, **kwargs)
            if isinstance(out, tuple):
                return tuple(o.squeeze(0) for o in out)
            return out.squeeze(0)
        return spoken(input, *args, **kwargs)

    return wrapper


def check_same_dtype(op: str, **tensors) -> None:
    dtypes = {name: t.dtype for name, t in tensors.items() if t is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{name} is {dtype}" for name, dtype in dtypes.items())
        raise TypeError(f"{op}: all operands must have one dtype, but {listed}")


def check_window_fits(op: str, size: tuple[int, int], kernel: tuple[int, int],
                      pads: tuple[tuple[int, int], tuple[int, int]],
                      dilation: tuple[int, int]) -> None:
    for axis, name in enumerate(("height", "width")):
        padded = size[axis] + sum(pads[axis])
        extent = effective_kernel(kernel[axis], dilation[axis])
        if extent > padded:
            raise ValueError(
                f"{op}: the kernel does not fit the input {name}: dilated kernel size "
                f"{dilation[axis]}*({kernel[axis]}-1)+1 = {extent} is larger than the padded "
                f"input {size[axis]} + {pads[axis][0]} + {pads[axis][1]} = {padded}"
            )
