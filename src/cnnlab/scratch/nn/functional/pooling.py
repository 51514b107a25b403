"""Max, average and sum pooling, forward and backward, on NumPy.

A pooling window has few positions (4 for 2x2), so both directions loop over the kernel
offsets and touch one strided slice of the padded input per offset: the forward keeps a
running maximum (or sum), the backward adds the output gradient back through the same slices.
Max pooling's backward finds which offset won each window by comparing the slices with the
maximum (ties go to the first offset in row-major order, as in PyTorch), so the forward pass
stores nothing beyond its output.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cnnlab.arithmetic.sizes import effective_kernel, window_count, window_extent
from cnnlab.scratch.nn.functional._args import (
    check_image_batch,
    check_non_negative,
    check_positive,
    check_window_fits,
    pair,
    spatial_op,
)
from cnnlab.scratch.nn.functional.conv import Pads, crop, zero_pad
from cnnlab.scratch.tensor import Tensor, _record


class _Geometry:
    """Output size and padding of a pooling layer over one input, with PyTorch's rules."""

    def __init__(self, op, x, kernel_size, stride, padding, dilation, ceil_mode):
        self.kernel = pair(kernel_size, "kernel_size", op)
        # torch's functional API takes stride=None, [] or () to mean "the kernel size".
        default_stride = stride is None or (isinstance(stride, (list, tuple)) and not stride)
        self.stride = self.kernel if default_stride else pair(stride, "stride", op)
        self.padding = pair(padding, "padding", op)
        self.dilation = pair(dilation, "dilation", op)
        check_positive(self.kernel, "kernel_size", op)
        check_positive(self.stride, "stride", op)
        check_positive(self.dilation, "dilation", op)
        check_non_negative(self.padding, "padding", op)
        for p, k in zip(self.padding, self.kernel, strict=True):
            if p > k // 2:
                raise ValueError(
                    f"{op}: padding should be at most half of the kernel size, got "
                    f"padding={self.padding} for kernel_size={self.kernel}"
                )
        self.size = x.shape[2:]
        symmetric: Pads = tuple((p, p) for p in self.padding)  # type: ignore[assignment]
        if not ceil_mode:  # with ceil_mode a window may hang past a too-small input
            check_window_fits(op, self.size, self.kernel, symmetric, self.dilation)
        self.out = tuple(
            window_count(i, k, s, p, p, d, ceil_mode)
            for i, k, s, p, d in zip(self.size, self.kernel, self.stride, self.padding,
                                     self.dilation, strict=True)
        )
        if min(self.out) < 1:
            raise ValueError(f"{op}: the kernel {self.kernel} does not fit the input "
                             f"{tuple(self.size)} even with ceil_mode: output size {self.out}")
        # ceil_mode lets the last window hang past the padding: pad further on that side.
        self.pads: Pads = tuple(  # type: ignore[assignment]
            (p, max(p, window_extent(o, k, s, d) - i - p))
            for i, k, s, p, d, o in zip(self.size, self.kernel, self.stride, self.padding,
                                        self.dilation, self.out, strict=True)
        )

    def offsets(self) -> Iterator[tuple[int, int, tuple[slice, slice, slice, slice]]]:
        """Each kernel offset (row-major) with the slice of the padded input it sees."""
        (kh, kw), (sh, sw), (dh, dw), (oh, ow) = self.kernel, self.stride, self.dilation, self.out
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
                cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
                yield i, j, (slice(None), slice(None), rows, cols)


@spatial_op
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    op = "max_pool2d"
    x = check_image_batch(input, op)
    geo = _Geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = zero_pad(x.data, geo.pads, fill=-np.inf)
    windows = [(xp[window], window) for _, _, window in geo.offsets()]
    best = windows[0][0].copy(order="K")  # the input's memory order, which the views share
    for values, _ in windows[1:]:
        np.maximum(best, values, out=best)

    def winners():
        """Per offset, where it holds its window's maximum and no earlier offset does. Found
        again by comparison rather than stored: the forward pass is one `maximum` per offset."""
        last_nans = _last_nans(windows) if np.isnan(best).any() else None
        taken = np.zeros(best.shape, dtype=bool)
        for offset, (values, window) in enumerate(windows):
            mine = values == best
            if last_nans is not None:
                mine |= last_nans[offset]
            mine &= ~taken
            taken |= mine
            yield mine, window

    # Windows that never overlap write each input pixel at most once: no read-modify-write.
    disjoint = all(s >= effective_kernel(k, d)
                   for s, d, k in zip(geo.stride, geo.dilation, geo.kernel, strict=True))

    def backward(dy):
        # Every pass below in the forward's memory order (a convolution's output is laid out
        # (C, H, N, W)): with dy and the gradient in NCHW order beside it, each pass strided,
        # and LeNet-5's two poolings took 4.4 ms of a 16 ms training step (under cProfile).
        dy = _laid_out_as(best, dy)
        dxp = np.zeros_like(xp, dtype=dy.dtype)
        for mine, window in winners():
            if disjoint:
                np.multiply(dy, mine, out=dxp[window])
            else:
                dxp[window] += dy * mine
        return (dxp if xp is x.data else crop(dxp, geo.pads, geo.size),)

    out = _record(best, (x,), backward)
    if not return_indices:
        return out
    winner = np.zeros(best.shape, dtype=np.int64)
    for offset, (mine, _) in enumerate(winners()):
        winner[mine] = offset
    return out, Tensor(_flat_indices(winner, geo))


def _laid_out_as(like: np.ndarray, a: np.ndarray) -> np.ndarray:
    """`a`'s values in `like`'s memory order (itself when it has it already)."""
    if a.strides == like.strides:
        return a
    out = np.empty_like(like, dtype=a.dtype)
    np.copyto(out, a)
    return out


def _last_nans(windows) -> list[np.ndarray]:
    """Per offset, where it holds the last NaN of its window: torch's kernel takes every NaN it
    meets as the new maximum, so a window with NaNs outputs NaN and its last NaN wins."""
    later = np.zeros(windows[0][0].shape, dtype=bool)
    masks = []
    for values, _ in reversed(windows):
        mine = np.isnan(values) & ~later
        later |= mine
        masks.append(mine)
    return masks[::-1]


def _flat_indices(winner: np.ndarray, geo: _Geometry) -> np.ndarray:
    """PyTorch's return_indices: each maximum's position in its unpadded (H, W) plane."""
    (sh, sw), (dh, dw), (oh, ow) = geo.stride, geo.dilation, geo.out
    ki, kj = np.divmod(winner.astype(np.int64), geo.kernel[1])
    rows = np.arange(oh)[:, None] * sh + ki * dh - geo.padding[0]
    cols = np.arange(ow)[None, :] * sw + kj * dw - geo.padding[1]
    return rows * geo.size[1] + cols


def _window_sum_pool(op, input, kernel_size, stride, padding, ceil_mode, divisor) -> Tensor:
    x = check_image_batch(input, op)
    geo = _Geometry(op, x, kernel_size, stride, padding, 1, ceil_mode)
    xp = zero_pad(x.data, geo.pads)
    total = np.zeros(x.shape[:2] + geo.out, dtype=x.dtype)
    for _, _, window in geo.offsets():
        total += xp[window]
    scale = None if divisor is None else (1.0 / divisor(geo)).astype(x.dtype)
    out = total if scale is None else total * scale

    def backward(dy):
        spread = dy if scale is None else dy * scale
        dxp = np.zeros(xp.shape, dtype=dy.dtype)
        for _, _, window in geo.offsets():
            dxp[window] += spread
        return (crop(dxp, geo.pads, geo.size),)

    return _record(out, (x,), backward)


def _avg_divisor(count_include_pad: bool):
    """The number PyTorch divides each window's sum by, per output position."""

    def divisor(geo: _Geometry) -> np.ndarray:
        counts = []
        for i, k, s, p, o in zip(geo.size, geo.kernel, geo.stride, geo.padding, geo.out,
                                 strict=True):
            start = np.arange(o) * s - p
            end = np.minimum(start + k, i + p)  # windows stop at the padding, not beyond
            if count_include_pad:
                counts.append(end - start)
            else:
                counts.append(np.minimum(end, i) - np.maximum(start, 0))
        return np.outer(counts[0], counts[1])

    return divisor


@spatial_op
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None) -> Tensor:
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool2d: divisor_override must be non-zero")
        divisor = lambda geo: np.full(geo.out, divisor_override)  # noqa: E731
    else:
        divisor = _avg_divisor(count_include_pad)
    return _window_sum_pool("avg_pool2d", input, kernel_size, stride, padding, ceil_mode,
                            divisor)


@spatial_op
def sum_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False) -> Tensor:
    """Sum pooling: the sum of each window (average pooling without the division)."""
    return _window_sum_pool("sum_pool2d", input, kernel_size, stride, padding, ceil_mode, None)


def _adaptive_bins(size: int, out: int) -> list[slice]:
    """torch's bins: output i averages input [floor(i*I/O), ceil((i+1)*I/O))."""
    return [slice(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


@spatial_op
def adaptive_avg_pool2d(input, output_size) -> Tensor:
    op = "adaptive_avg_pool2d"
    x = check_image_batch(input, op)
    size = x.shape[2:]
    if isinstance(output_size, (tuple, list)):
        out_hw = tuple(s if o is None else o for o, s in zip(output_size, size, strict=True))
    else:
        out_hw = (output_size, output_size)
    out_hw = pair(out_hw, "output_size", op)
    check_positive(out_hw, "output_size", op)
    if all(i % o == 0 for i, o in zip(size, out_hw, strict=True)):  # equal bins: plain pooling
        kernel = tuple(i // o for i, o in zip(size, out_hw, strict=True))
        return avg_pool2d(x, kernel, kernel)
    rows, cols = _adaptive_bins(size[0], out_hw[0]), _adaptive_bins(size[1], out_hw[1])
    out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            out[:, :, i, j] = x.data[:, :, r, c].mean(axis=(2, 3))

    def backward(dy):
        dx = np.zeros(x.shape, dtype=dy.dtype)
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                count = (r.stop - r.start) * (c.stop - c.start)
                dx[:, :, r, c] += dy[:, :, i : i + 1, j : j + 1] / count
        return (dx,)

    return _record(out, (x,), backward)
