"""Constant padding of any dimensions, torch.nn.functional.pad's convention: `pad` lists
(before, after) pairs starting from the last dimension."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.tensor import Tensor, _record


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got mode={mode!r}")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even number of values, at most two per dimension "
                         f"of the {input.ndim}-D input, got {pad}")
    if any(not isinstance(p, (int, np.integer)) or p < 0 for p in pad):
        raise ValueError(f"pad: padding sizes must be non-negative integers, got {pad}")
    widths = [(0, 0)] * input.ndim
    for axis_from_end, (before, after) in enumerate(zip(pad[::2], pad[1::2], strict=True)):
        widths[input.ndim - 1 - axis_from_end] = (int(before), int(after))
    out = np.pad(input.data, widths, constant_values=0 if value is None else value)
    inside = tuple(slice(before, before + size)
                   for (before, _), size in zip(widths, input.shape, strict=True))
    return _record(out, (input,), lambda g: (g[inside],))
