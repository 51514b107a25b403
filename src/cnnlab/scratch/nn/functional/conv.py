"""Convolution and transposed convolution, forward and backward, on NumPy.

Three matrix products do all the work. Unfold the padded input into `cols` (a row per
channel x kernel position, a column per output pixel; `as_strided` makes the windows a view
and one copy lays them out), then

    convolution forward          y    = W   @ cols
    its weight gradient          dW   = dy  @ cols^T
    its input gradient           dcols = W^T @ dy, folded back onto the input (col2im)

A transposed convolution is the same three products with the roles exchanged: its forward is
the convolution's input gradient, its input gradient is the convolution's forward. Folding
back adds the k*k shifted slices of `dcols` with strided slice additions (no `np.add.at`).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnlab.scratch.nn.functional._args import (
    check_image_batch,
    check_non_negative,
    check_positive,
    check_same_dtype,
    check_window_fits,
    pair,
    window_output_size,
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


def im2col(xp: np.ndarray, kernel, stride, dilation, out_hw) -> np.ndarray:
    """Windows of the padded input as a matrix of shape (C*KH*KW, N*OH*OW)."""
    n, c = xp.shape[:2]
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    s_n, s_c, s_h, s_w = xp.strides
    windows = as_strided(
        xp,
        shape=(c, kh, kw, n, oh, ow),
        strides=(s_c, dh * s_h, dw * s_w, s_n, sh * s_h, sw * s_w),
        writeable=False,
    )
    return windows.reshape(c * kh * kw, n * oh * ow)


def col2im(cols: np.ndarray, padded_shape, kernel, stride, dilation, out_hw) -> np.ndarray:
    """The adjoint of im2col: add each entry back onto the input pixel it was read from."""
    n, c, hp, wp = padded_shape
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    # Channel-major buffer: each kernel offset adds one (C, N, OH, OW) block, no reordering.
    out = np.zeros((c, n, hp, wp), dtype=cols.dtype)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            out[:, :, rows, j * dw : j * dw + sw * (ow - 1) + 1 : sw] += cols[:, i, j]
    return out.transpose(1, 0, 2, 3)


def _grouped(matrix: np.ndarray, groups: int) -> np.ndarray:
    return matrix.reshape(groups, matrix.shape[0] // groups, matrix.shape[1])


def _channels_first(y: np.ndarray, groups: int) -> np.ndarray:
    """(N, O, H, W) -> (G, O/G, N*H*W): the layout of the GEMMs' output side."""
    _n, o = y.shape[:2]
    return y.transpose(1, 0, 2, 3).reshape(groups, o // groups, -1)


def weights_times_cols(w: np.ndarray, cols: np.ndarray, groups: int, n: int, out_hw):
    """y = W @ cols, returned as an (N, O, OH, OW) view."""
    o = w.shape[0]
    y = np.matmul(_grouped(w.reshape(o, -1), groups), _grouped(cols, groups))
    return y.reshape(o, n, *out_hw).transpose(1, 0, 2, 3)


def weights_t_times(w: np.ndarray, dy_grouped: np.ndarray, groups: int) -> np.ndarray:
    """dcols = W^T @ dy, one (C/G*KH*KW, N*L) block per group, stacked."""
    o = w.shape[0]
    wt = _grouped(w.reshape(o, -1), groups).transpose(0, 2, 1)
    return np.matmul(wt, dy_grouped).reshape(-1, dy_grouped.shape[-1])


def grad_times_cols_t(dy_grouped: np.ndarray, cols: np.ndarray, groups: int, w_shape):
    """dW = dy @ cols^T."""
    return np.matmul(dy_grouped, _grouped(cols, groups).transpose(0, 2, 1)).reshape(w_shape)


# ===================================================================== argument checks


def _conv_padding(padding, kernel, stride, dilation, op: str) -> Pads:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride={stride}")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            # As in torch, an odd total puts the extra row/column at the bottom/right.
            return tuple((t // 2, t - t // 2) for t in totals)  # type: ignore[return-value]
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
        window_output_size(size, k, s, sum(p), d)
        for size, k, s, p, d in zip((h, w), kernel, stride, pads, dilation, strict=True)
    )

    xp = zero_pad(x.data, pads)
    cols = im2col(xp, kernel, stride, dilation, out_hw)
    y = weights_times_cols(weight.data, cols, groups, n, out_hw)
    y = y + bias.data[:, None, None] if bias is not None else np.ascontiguousarray(y)
    saved_cols = cols if weight.requires_grad else None
    del cols

    def backward(dy):
        dy_grouped = _channels_first(dy, groups)
        dx = dw = db = None
        if x.requires_grad:
            dcols = weights_t_times(weight.data, dy_grouped, groups)
            dx = crop(col2im(dcols, xp.shape, kernel, stride, dilation, out_hw), pads, (h, w))
        if weight.requires_grad:
            dw = grad_times_cols_t(dy_grouped, saved_cols, groups, weight.shape)
        if bias is not None and bias.requires_grad:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db

    parents = (x, weight) if bias is None else (x, weight, bias)
    return _record(y, parents, lambda dy: backward(dy)[: len(parents)])


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
        (i - 1) * s - 2 * p + d * (k - 1) + op_ + 1
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

    x_grouped = _channels_first(x.data, groups)
    dcols = weights_t_times(weight.data, x_grouped, groups)
    y = crop(col2im(dcols, padded_shape, kernel, stride, dilation, (h, w)), pads, out_hw)
    del dcols
    if bias is not None:
        y += bias.data[:, None, None]

    def backward(dy):
        cols = im2col(zero_pad(dy, pads), kernel, stride, dilation, (h, w))
        dx = dw = db = None
        if x.requires_grad:
            dx = np.ascontiguousarray(weights_times_cols(weight.data, cols, groups, n, (h, w)))
        if weight.requires_grad:
            dw = grad_times_cols_t(x_grouped, cols, groups, weight.shape)
        if bias is not None and bias.requires_grad:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db

    parents = (x, weight) if bias is None else (x, weight, bias)
    return _record(y, parents, lambda dy: backward(dy)[: len(parents)])
