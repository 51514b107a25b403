"""Receptive field along one axis: size, jump and start, propagated layer by layer.

`size` is how many input pixels one output value sees, `jump` the distance in input pixels
between two neighbouring outputs, `start` the input coordinate of the centre of the first
output's field (pixel i has its centre at i, so padding makes `start` negative). Fractions keep
transposed convolutions exact, where the jump shrinks below one pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from cnnlab.arithmetic.sizes import effective_kernel


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


@dataclass(frozen=True)
class ReceptiveField:
    size: Fraction
    jump: Fraction
    start: Fraction

    @property
    def pixels(self) -> int:
        """The size in whole input pixels. After a transposed convolution neighbouring outputs
        see different numbers of inputs; this is the largest."""
        return math.ceil(self.size)

    def __str__(self) -> str:
        return f"{self.pixels} (jump {_show(self.jump)}, start {_show(self.start)})"

    def as_dict(self) -> dict:
        return {"size": self.pixels, "jump": float(self.jump), "start": float(self.start)}


INPUT_PIXEL = ReceptiveField(Fraction(1), Fraction(1), Fraction(0))


def through_window(rf: ReceptiveField, kernel: int, stride: int = 1, padding: int = 0,
                   dilation: int = 1) -> ReceptiveField:
    """After a convolution or pooling window: r + (d(k-1)) j, jump j s, start shifted by
    ((d(k-1))/2 - p) j."""
    span = effective_kernel(kernel, dilation) - 1
    return ReceptiveField(
        size=rf.size + span * rf.jump,
        jump=rf.jump * stride,
        start=rf.start + (Fraction(span, 2) - padding) * rf.jump,
    )


def through_transposed(rf: ReceptiveField, kernel: int, stride: int = 1, padding: int = 0,
                       dilation: int = 1) -> ReceptiveField:
    """After a transposed convolution. Output o gathers input i through kernel tap m when
    i*s - p + m*d = o, so the inputs one output sees depend on o modulo s; the field is the
    widest of those spans."""
    widest = 0
    for residue in range(stride):
        inputs = [(residue + padding - m * dilation) // stride for m in range(kernel)
                  if (residue + padding - m * dilation) % stride == 0]
        if inputs:
            widest = max(widest, max(inputs) - min(inputs))
    span = effective_kernel(kernel, dilation) - 1
    return ReceptiveField(
        size=rf.size + widest * rf.jump,
        jump=rf.jump / stride,
        start=rf.start + Fraction(padding * 2 - span, 2 * stride) * rf.jump,
    )


def through_adaptive(rf: ReceptiveField, in_size: int, out_size: int) -> ReceptiveField:
    """After adaptive pooling: bin i covers [floor(i*I/O), ceil((i+1)*I/O)); the field is the
    widest bin's, the jump the average distance between bin starts."""
    widest = max(-(-(i + 1) * in_size // out_size) - (i * in_size // out_size)
                 for i in range(out_size))
    return ReceptiveField(
        size=rf.size + (widest - 1) * rf.jump,
        jump=rf.jump * Fraction(in_size, out_size),
        start=rf.start + Fraction(widest - 1, 2) * rf.jump,
    )


def merge(fields: list[ReceptiveField]) -> ReceptiveField:
    """Where branches meet (a residual sum, a channel concatenation): the output sees what the
    widest branch sees."""
    return max(fields, key=lambda rf: rf.size)
