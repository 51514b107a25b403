"""Padding, torch.nn.functional.pad's convention: `pad` lists (before, after) pairs starting
from the last dimension.

Constant padding fills with a value. Reflect, replicate and circular padding copy input
values outward; each padded position reads one input position, so the backward pass adds
every padded gradient back onto the position it was read from (a border value read three
times gets three gradients).
"""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.tensor import Tensor, _record, announced

# torch's mode names and NumPy's for the same rule.
_COPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
MODES = ("constant", *_COPY_MODES)


@announced("pad")
def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {MODES}, got mode={mode!r}")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even number of values, at most two per dimension "
                         f"of the {input.ndim}-D input, got {pad}")
    if any(not isinstance(p, (int, np.integer)) or p < 0 for p in pad):
        raise ValueError(f"pad: padding sizes must be non-negative integers, got {pad}")
    widths = [(0, 0)] * input.ndim
    for axis_from_end, (before, after) in enumerate(zip(pad[::2], pad[1::2], strict=True)):
        widths[input.ndim - 1 - axis_from_end] = (int(before), int(after))
    if mode == "constant":
        out = np.pad(input.data, widths, constant_values=0 if value is None else value)
        inside = tuple(slice(before, before + size)
                       for (before, _), size in zip(widths, input.shape, strict=True))
        return _record(out, (input,), lambda g: (g[inside],))
    return _copy_pad(input, widths, len(pad) // 2, mode)


def _copy_pad(input: Tensor, widths: list[tuple[int, int]], padded_dims: int,
              mode: str) -> Tensor:
    # torch pads the last 1-3 dimensions of a batch (N, C, ...) or of one sample (C, ...).
    if padded_dims > 3 or input.ndim not in (padded_dims + 1, padded_dims + 2):
        raise ValueError(
            f"pad: mode={mode!r} pads the last 1-3 dimensions of an input (C, ...) or (N, C, "
            f"...): {padded_dims} padded dimensions need a {padded_dims + 1}-D or "
            f"{padded_dims + 2}-D input, got shape {input.shape}")
    sources = []
    for axis, (before, after) in enumerate(widths):
        size = input.shape[axis]
        if before or after:
            largest = size - 1 if mode == "reflect" else size
            if max(before, after) > largest or size == 0:
                raise ValueError(
                    f"pad: with mode={mode!r} the padding of dimension {axis} must be at most "
                    f"{largest} (its size is {size}), got ({before}, {after})")
            sources.append((axis, np.pad(np.arange(size), (before, after),
                                         mode=_COPY_MODES[mode])))
    out = input.data
    for axis, source in sources:
        out = np.take(out, source, axis=axis)

    def backward(g):
        for axis, source in reversed(sources):
            summed = np.zeros((*g.shape[:axis], input.shape[axis], *g.shape[axis + 1:]),
                              dtype=g.dtype)
            np.add.at(summed, (slice(None),) * axis + (source,), g)
            g = summed
        return (g,)

    return _record(out, (input,), backward)
