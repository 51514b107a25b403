"""Convolution and transposed convolution, forward and backward, on NumPy.

Matrix products do all the work, one per kernel row. Unfold the padded input once into
`cols`, a matrix row per (channel, kernel column) and a column per (padded input row, image,
output column), laid out so that the columns that kernel row i reads are one contiguous block:
`rows_of(cols, i)` is a view, never a copy. Then, summing over the kernel rows i,

    convolution forward          y      = sum_i W_i @ cols_i
    its weight gradient          dW_i   = dy @ cols_i^T
    its input gradient           dcols_i = W_i^T @ dy, folded back onto the input

This is im2col with the kernel's height left out of the unfolded matrix: `cols` is KH times
smaller than im2col's, which is what made the copy, not the products, the cost on small
layers. Outputs come out in (O, OH, N, OW) memory order and are returned as (N, O, OH, OW)
views of it. A thin product (a small layer's) is cut along its columns into parts that
OpenBLAS multiplies with its small-matrix kernels (`column_parts`).

A transposed convolution is the same products with the roles exchanged: its forward is the
convolution's input gradient, its input gradient is the convolution's forward. Folding back
adds KW strided slices per stride phase (no `np.add.at`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnlab.arithmetic.sizes import same_padding_sides, window_count, window_extent
from cnnlab.scratch.nn.functional._args import (
    check_image_batch,
    check_non_negative,
    check_positive,
    check_same_dtype,
    check_window_fits,
    pair,
    spatial_op,
)
from cnnlab.scratch.tensor import Tensor, _record

Pads = tuple[tuple[int, int], tuple[int, int]]


# ===================================================================== kernels


def zero_pad(x: np.ndarray, pads: Pads, fill: float = 0.0) -> np.ndarray:
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + top + bottom, w + left + right), fill, dtype=x.dtype)
    out[:, :, top : top + h, left : left + w] = x
    return out


def crop(x: np.ndarray, pads: Pads, size: tuple[int, int]) -> np.ndarray:
    (top, _), (left, _) = pads
    return np.ascontiguousarray(x[:, :, top : top + size[0], left : left + size[1]])


@dataclass(frozen=True)
class Windows:
    """Where a kernel of size `kernel` reads a padded (N, C, HP, WP) input.

    The unfolded matrix has shape (C, KW, SH, T, N, OW): padded row `phase + SH*t` sits at
    [.., phase, t, ..], so that the rows kernel row i reads (i*DH, i*DH + SH, ...) are
    consecutive in t whatever the vertical stride SH is.
    """

    padded_shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    out_hw: tuple[int, int]

    def unfolded(self, channels: int, allocate=np.empty, dtype=np.float32) -> np.ndarray:
        """A buffer in the unfolded layout for `channels` input channels."""
        n, _, hp, _ = self.padded_shape
        sh, kw, ow = self.stride[0], self.kernel[1], self.out_hw[1]
        return allocate((channels, kw, sh, -(-hp // sh), n, ow), dtype=dtype)

    def phases(self):
        """Each vertical stride phase, the padded rows in it (a slice), and how many."""
        hp, sh = self.padded_shape[2], self.stride[0]
        for phase in range(min(sh, hp)):
            yield phase, slice(phase, hp, sh), len(range(phase, hp, sh))

    def columns(self, j: int) -> slice:
        (_, sw), (_, dw), (_, ow) = self.stride, self.dilation, self.out_hw
        return slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)

    def unfold(self, xp: np.ndarray) -> np.ndarray:
        n, c, _, _ = xp.shape
        (_, kw), (_, sw), (_, dw), (_, ow) = self.kernel, self.stride, self.dilation, self.out_hw
        cols = self.unfolded(c, dtype=xp.dtype)
        for phase, rows, count in self.phases():
            part = xp[:, :, rows]
            s_n, s_c, s_h, s_w = part.strides
            reads = as_strided(part, shape=(c, kw, count, n, ow),
                               strides=(s_c, dw * s_w, s_h, s_n, sw * s_w), writeable=False)
            cols[:, :, phase, :count] = reads
        return cols

    def rows_of(self, cols: np.ndarray, i: int, groups: int) -> np.ndarray:
        """The block kernel row i reads, as (G, C/G*KW, OH*N*OW): a view of `cols`."""
        first, phase = divmod(i * self.dilation[0], self.stride[0])
        c, kw = cols.shape[:2]
        block = cols[:, :, phase, first : first + self.out_hw[0]]
        # A view, never a copy: `cols` is C-contiguous, so its C and KW axes merge, and so do
        # the rows, images and columns of one block (callers add into it).
        return block.reshape(groups, c // groups * kw, -1)

    def fold(self, dcols: np.ndarray) -> np.ndarray:
        """The adjoint of `unfold`: add every entry back onto the padded pixel it came from.
        Returns an (N, C, HP, WP) view of a (C, HP, N, WP) buffer."""
        n, c, hp, wp = self.padded_shape
        out = np.zeros((c, hp, n, wp), dtype=dcols.dtype)
        for phase, rows, count in self.phases():
            for j in range(self.kernel[1]):
                out[:, rows, :, self.columns(j)] += dcols[:, j, phase, :count]
        return out.transpose(2, 0, 1, 3)


def _row_weights(w: np.ndarray, i: int, groups: int) -> np.ndarray:
    """Kernel row i of the weight, as (G, O/G, C/G*KW)."""
    o, c_per_group, _, kw = w.shape
    return w[:, :, i, :].reshape(groups, o // groups, c_per_group * kw)


# OpenBLAS multiplies a product of at most 100**3 multiply-adds with its small-matrix kernels,
# which read the operands in place, and packs both operands first above that. The products of
# a small convolution are thin (LeNet-5's C3: 16 x 30 times 30 x 12,800), and packed they
# run at a third of the speed: 102 GFLOPS at 999,840 multiply-adds against 37-67 just above
# (one core, this repo's OpenBLAS 0.3.31). So a thin product is cut along its long side into
# parts that each take the small kernels; a part stays in cache for all KH kernel rows too.
SMALL_PRODUCT = 100**3
# Below this many columns a part costs more in calls than the small kernels save: wider
# products (a CIFAR layer's 64 x 192) are left whole, where packing pays.
FEWEST_PART_COLUMNS = 1024


def column_parts(rows: int, inner: int, columns: int) -> list[slice]:
    """Slices of `columns` for products (rows x inner) @ (inner x part) that OpenBLAS runs
    with its small-matrix kernels; one slice when the product is wide or small already."""
    width = SMALL_PRODUCT // (rows * inner)
    if width < FEWEST_PART_COLUMNS or width >= columns:
        return [slice(0, columns)]
    return [slice(start, min(start + width, columns)) for start in range(0, columns, width)]


def channels_rows_first(y: np.ndarray, groups: int) -> np.ndarray:
    """(N, O, H, W) -> (G, O/G, H*N*W): the layout of the products' output side (no copy when
    `y` came from one of them)."""
    _n, o = y.shape[:2]
    return np.ascontiguousarray(y.transpose(1, 2, 0, 3)).reshape(groups, o // groups, -1)


def weights_times_cols(w: np.ndarray, cols: np.ndarray, windows: Windows, groups: int):
    """y = sum_i W_i @ cols_i, as a (G, O/G, OH*N*OW) array."""
    weights = [_row_weights(w, i, groups) for i in range(w.shape[2])]
    rows = [windows.rows_of(cols, i, groups) for i in range(w.shape[2])]
    g, m, k = weights[0].shape
    y = np.empty((g, m, rows[0].shape[2]), dtype=cols.dtype)
    parts = column_parts(m, k, y.shape[2])
    if len(parts) == 1:
        total, term = y, np.empty_like(y)
    else:  # sums in a contiguous part, copied out once: 0.77 ms for C3, not 1.0 in y itself
        total, term = (np.empty((g, m, parts[0].stop), dtype=cols.dtype) for _ in range(2))
    for part in parts:
        width = part.stop - part.start
        total_part, term_part = total[:, :, :width], term[:, :, :width]
        np.matmul(weights[0], rows[0][:, :, part], out=total_part)
        for weight, row in zip(weights[1:], rows[1:], strict=True):
            total_part += np.matmul(weight, row[:, :, part], out=term_part)
        if total is not y:
            y[:, :, part] = total_part
    return y


def to_images(y: np.ndarray, n: int, out_hw) -> np.ndarray:
    """(G, O/G, OH*N*OW) -> an (N, O, OH, OW) view."""
    return y.reshape(-1, out_hw[0], n, out_hw[1]).transpose(2, 0, 1, 3)


def weights_t_times(w: np.ndarray, dy_grouped: np.ndarray, windows: Windows, groups: int,
                    channels: int) -> np.ndarray:
    """dcols_i = W_i^T @ dy for every kernel row i, gathered into the unfolded layout."""
    dcols = windows.unfolded(channels, np.zeros, dy_grouped.dtype)
    weights_t = [_row_weights(w, i, groups).transpose(0, 2, 1) for i in range(w.shape[2])]
    rows = [windows.rows_of(dcols, i, groups) for i in range(w.shape[2])]
    g, k, m = weights_t[0].shape
    parts = column_parts(k, m, dy_grouped.shape[2])
    term = np.empty((g, k, parts[0].stop), dtype=dy_grouped.dtype)
    for part in parts:
        dy_part = dy_grouped[:, :, part]
        term_part = term[:, :, : part.stop - part.start]
        for weight_t, row in zip(weights_t, rows, strict=True):
            row[:, :, part] += np.matmul(weight_t, dy_part, out=term_part)
    return dcols


def grad_times_cols_t(dy_grouped: np.ndarray, cols: np.ndarray, windows: Windows,
                      groups: int, w_shape) -> np.ndarray:
    """dW_i = dy @ cols_i^T for every kernel row i, summed over the parts in order."""
    o, c_per_group, kh, kw = w_shape
    rows = [windows.rows_of(cols, i, groups) for i in range(kh)]
    g, m, columns = dy_grouped.shape
    k = rows[0].shape[1]
    dw_rows = np.zeros((kh, g, m, k), dtype=dy_grouped.dtype)
    term = np.empty((g, m, k), dtype=dy_grouped.dtype)
    for part in column_parts(m, k, columns):
        dy_part = dy_grouped[:, :, part]
        for dw_row, row in zip(dw_rows, rows, strict=True):
            dw_row += np.matmul(dy_part, row[:, :, part].transpose(0, 2, 1), out=term)
    # (KH, G, O/G, C/G*KW) -> (O, C/G, KH, KW)
    return np.ascontiguousarray(
        dw_rows.reshape(kh, o, c_per_group, kw).transpose(1, 2, 0, 3))


# ===================================================================== argument checks


def _conv_padding(padding, kernel, stride, dilation, op: str) -> Pads:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride={stride}")
            return tuple(same_padding_sides(k, d)  # type: ignore[return-value]
                         for k, d in zip(kernel, dilation, strict=True))
        raise ValueError(
            f"{op}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    ph, pw = pair(padding, "padding", op)
    check_non_negative((ph, pw), "padding", op)
    return (ph, ph), (pw, pw)


def _check_weight(weight, bias, x: Tensor, op: str) -> None:
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        shape = weight.shape if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"{op}: weight must be a 4-D Tensor, got {shape}")
    check_same_dtype(op, input=x, weight=weight, bias=bias)


def _check_groups(groups, channels: int, name: str, op: str) -> None:
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if channels % groups:
        raise ValueError(f"{op}: groups={groups} does not divide {name}={channels}")


def _check_bias(bias, channels: int, op: str) -> None:
    if bias is not None and bias.shape != (channels,):
        raise ValueError(
            f"{op}: bias must have shape ({channels},) (one value per output channel), "
            f"got {bias.shape}"
        )


def _spatial_args(weight, stride, dilation, op):
    kernel = weight.shape[2:]
    stride, dilation = pair(stride, "stride", op), pair(dilation, "dilation", op)
    check_positive(stride, "stride", op)
    check_positive(dilation, "dilation", op)
    return kernel, stride, dilation


# ===================================================================== functional


@spatial_op
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    op = "conv2d"
    x = check_image_batch(input, op)
    _check_weight(weight, bias, x, op)
    kernel, stride, dilation = _spatial_args(weight, stride, dilation, op)
    pads = _conv_padding(padding, kernel, stride, dilation, op)
    n, c, h, w = x.shape
    o, c_per_group = weight.shape[:2]
    _check_groups(groups, o, "out_channels (weight.shape[0])", op)
    _check_groups(groups, c, "in_channels", op)
    if c != c_per_group * groups:
        raise ValueError(
            f"{op}: input has {c} channels (input shape {x.shape}) but the weight expects "
            f"{c_per_group}*groups = {c_per_group * groups} (weight shape {weight.shape}, "
            f"groups={groups})"
        )
    _check_bias(bias, o, op)
    check_window_fits(op, (h, w), kernel, pads, dilation)
    out_hw = tuple(
        window_count(size, k, s, p[0], p[1], d)
        for size, k, s, p, d in zip((h, w), kernel, stride, pads, dilation, strict=True)
    )

    xp = zero_pad(x.data, pads)
    windows = Windows(xp.shape, kernel, stride, dilation, out_hw)
    cols = windows.unfold(xp)
    del xp
    y = weights_times_cols(weight.data, cols, windows, groups)
    if bias is not None:
        y += bias.data.reshape(groups, -1, 1)
    saved_cols = cols if weight.requires_grad else None
    del cols

    def backward(dy):
        dy_grouped = channels_rows_first(dy, groups)
        dx = dw = db = None
        if x.requires_grad:
            dcols = weights_t_times(weight.data, dy_grouped, windows, groups, c)
            dx = crop(windows.fold(dcols), pads, (h, w))
        if weight.requires_grad:
            dw = grad_times_cols_t(dy_grouped, saved_cols, windows, groups, weight.shape)
        if bias is not None and bias.requires_grad:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db

    parents = (x, weight) if bias is None else (x, weight, bias)
    return _record(to_images(y, n, out_hw), parents, lambda dy: backward(dy)[: len(parents)])


@spatial_op
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    op = "conv_transpose2d"
    x = check_image_batch(input, op)
    _check_weight(weight, bias, x, op)
    kernel, stride, dilation = _spatial_args(weight, stride, dilation, op)
    padding = pair(padding, "padding", op)
    output_padding = pair(output_padding, "output_padding", op)
    check_non_negative(padding, "padding", op)
    check_non_negative(output_padding, "output_padding", op)
    n, c_in, h, w = x.shape
    if c_in != weight.shape[0]:
        raise ValueError(
            f"{op}: input has {c_in} channels (input shape {x.shape}) but the weight expects "
            f"in_channels = weight.shape[0] = {weight.shape[0]} (weight shape {weight.shape})"
        )
    _check_groups(groups, c_in, "in_channels", op)
    c_out = weight.shape[1] * groups
    _check_bias(bias, c_out, op)
    for axis in range(2):
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(
                f"{op}: output_padding must be smaller than either stride or dilation, got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    out_hw = tuple(
        window_extent(i, k, s, d) - 2 * p + op_
        for i, s, p, d, k, op_ in zip((h, w), stride, padding, dilation, kernel, output_padding,
                                       strict=True)
    )
    if min(out_hw) < 1:
        raise ValueError(
            f"{op}: output size {out_hw} is not positive: (in-1)*stride - 2*padding + "
            f"dilation*(kernel-1) + output_padding + 1 with in={(h, w)}, stride={stride}, "
            f"padding={padding}, dilation={dilation}, kernel={kernel}, "
            f"output_padding={output_padding}"
        )
    pads: Pads = ((padding[0], padding[0]), (padding[1], padding[1]))
    padded_shape = (n, c_out, out_hw[0] + 2 * padding[0], out_hw[1] + 2 * padding[1])

    windows = Windows(padded_shape, kernel, stride, dilation, (h, w))
    x_grouped = channels_rows_first(x.data, groups)
    dcols = weights_t_times(weight.data, x_grouped, windows, groups, c_out)
    y = crop(windows.fold(dcols), pads, out_hw)
    del dcols
    if bias is not None:
        y += bias.data[:, None, None]

    def backward(dy):
        cols = windows.unfold(zero_pad(dy, pads))
        dx = dw = db = None
        if x.requires_grad:
            dx = to_images(weights_times_cols(weight.data, cols, windows, groups), n, (h, w))
        if weight.requires_grad:
            dw = grad_times_cols_t(x_grouped, cols, windows, groups, weight.shape)
        if bias is not None and bias.requires_grad:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db

    parents = (x, weight) if bias is None else (x, weight, bias)
    return _record(y, parents, lambda dy: backward(dy)[: len(parents)])
