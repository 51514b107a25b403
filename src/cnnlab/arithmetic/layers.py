"""One layer of a network, described by integers: its output shape, parameters, multiply-adds,
receptive field and any warning, computed from its hyperparameters and input shape.

Shapes are per sample and channels-first, as the engines hold them: (C, H, W) for feature maps,
(F,) for flat vectors. MACs count the multiply-accumulates of convolutions and fully connected
layers (bias additions, pooling, normalisation and activations are not multiply-adds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from cnnlab.arithmetic import receptive_field as rf
from cnnlab.arithmetic.sizes import (
    conv_output_size,
    conv_transpose_output_size,
    coverage_warnings,
    pool_output_size,
    same_padding_sides,
)

Pair = tuple[int, int]
Field2d = tuple[rf.ReceptiveField, rf.ReceptiveField]  # along H, along W

KINDS = ("conv", "conv_transpose", "pool", "adaptive_pool", "linear", "norm", "activation",
         "dropout", "reshape", "merge", "other")  # merge: a residual sum or a concatenation


@dataclass
class Layer:
    name: str  # where it lives in the model, e.g. "features.0"
    kind: str  # one of KINDS
    description: str  # what it is in plain words: "96 11x11 filters at stride 4, pad 0"
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int = 0
    macs: int = 0
    receptive_field: Field2d | None = None  # None once the values are no longer a spatial map
    warnings: list[str] = field(default_factory=list)
    label: str = ""  # the course's name for it (CONV1, POOL1, FC6), given by the table

    @property
    def activations(self) -> int:
        """Values in this layer's output for one image."""
        return prod(self.output_shape)

    @property
    def flops(self) -> int:
        """Floating-point operations of the multiply-adds: one multiply and one add each."""
        return 2 * self.macs


def pair(value) -> Pair:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def xy(values: Pair) -> str:
    return str(values[0]) if values[0] == values[1] else f"{values[0]}x{values[1]}"


def _spatial(shape: tuple[int, ...], name: str, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ValueError(f"{name}: a {what} needs a (channels, height, width) input, got shape "
                         f"{'x'.join(map(str, shape))}")
    return shape


def same_padding(kernel: Pair, dilation: Pair) -> Pair:
    """padding='same' at stride 1: torch pads d(k-1) in total, the odd pixel on the far side;
    the near side, which is what moves the receptive field, is the floor half."""
    return tuple(same_padding_sides(k, d)[0] for k, d in zip(kernel, dilation, strict=True))


def conv(name: str, input_shape, out_channels: int, kernel, stride=1, padding=0, dilation=1,
         groups: int = 1, bias: bool = True, field_in: Field2d | None = None) -> Layer:
    c, h, w = _spatial(input_shape, name, "convolution")
    kernel, stride, dilation = pair(kernel), pair(stride), pair(dilation)
    if padding == "valid":
        padding = 0
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{name}: padding='same' needs stride 1, got stride {xy(stride)}")
        pads, out_hw, padding_text = same_padding(kernel, dilation), (h, w), "same"
        warnings = []
    else:
        pads = pair(padding)
        out_hw = tuple(conv_output_size(size, k, s, p, d, layer=f"{name} ({axis})")
                       for axis, size, k, s, p, d in
                       zip("HW", (h, w), kernel, stride, pads, dilation, strict=True))
        padding_text = xy(pads)
        warnings = coverage_warnings((h, w), kernel, stride, pads, dilation)
    _check_groups(name, c, out_channels, groups)
    weights = out_channels * (c // groups) * kernel[0] * kernel[1]
    extras = "".join([f", dilation {xy(dilation)}" if dilation != (1, 1) else "",
                      f", {groups} groups" if groups != 1 else ""])
    return Layer(
        name, "conv",
        f"{out_channels} {kernel[0]}x{kernel[1]} filters at stride {xy(stride)}, "
        f"pad {padding_text}{extras}",
        (c, h, w), (out_channels, *out_hw),
        params=weights + (out_channels if bias else 0),
        macs=weights * out_hw[0] * out_hw[1],
        receptive_field=_through(field_in, rf.through_window, kernel, stride, pads, dilation),
        warnings=warnings,
    )


def conv_transpose(name: str, input_shape, out_channels: int, kernel, stride=1, padding=0,
                   output_padding=0, dilation=1, groups: int = 1, bias: bool = True,
                   field_in: Field2d | None = None) -> Layer:
    c, h, w = _spatial(input_shape, name, "transposed convolution")
    kernel, stride, pads = pair(kernel), pair(stride), pair(padding)
    output_padding, dilation = pair(output_padding), pair(dilation)
    out_hw = tuple(conv_transpose_output_size(size, k, s, p, op, d, layer=f"{name} ({axis})")
                   for axis, size, k, s, p, op, d in
                   zip("HW", (h, w), kernel, stride, pads, output_padding, dilation, strict=True))
    _check_groups(name, c, out_channels, groups)
    weights = c * (out_channels // groups) * kernel[0] * kernel[1]
    extras = "".join([f", output pad {xy(output_padding)}" if output_padding != (0, 0) else "",
                      f", dilation {xy(dilation)}" if dilation != (1, 1) else "",
                      f", {groups} groups" if groups != 1 else ""])
    return Layer(
        name, "conv_transpose",
        f"{out_channels} {kernel[0]}x{kernel[1]} transposed filters at stride {xy(stride)}, "
        f"pad {xy(pads)}{extras}",
        (c, h, w), (out_channels, *out_hw),
        params=weights + (out_channels if bias else 0),
        macs=weights * h * w,  # every input value is spread over a k x k patch of outputs
        receptive_field=_through(field_in, rf.through_transposed, kernel, stride, pads, dilation),
    )


def pool(name: str, input_shape, mode: str, kernel, stride=None, padding=0, dilation=1,
         ceil_mode: bool = False, field_in: Field2d | None = None) -> Layer:
    c, h, w = _spatial(input_shape, name, f"{mode} pool")
    kernel = pair(kernel)
    stride = kernel if stride is None or stride == [] else pair(stride)
    pads, dilation = pair(padding), pair(dilation)
    out_hw = tuple(pool_output_size(size, k, s, p, d, ceil_mode, layer=f"{name} ({axis})")
                   for axis, size, k, s, p, d in
                   zip("HW", (h, w), kernel, stride, pads, dilation, strict=True))
    extras = "".join([f", pad {xy(pads)}" if pads != (0, 0) else "",
                      f", dilation {xy(dilation)}" if dilation != (1, 1) else "",
                      ", ceil mode" if ceil_mode else ""])
    warnings = [] if ceil_mode else coverage_warnings((h, w), kernel, stride, pads, dilation)
    return Layer(
        name, "pool", f"{kernel[0]}x{kernel[1]} {mode} pool at stride {xy(stride)}{extras}",
        (c, h, w), (c, *out_hw),
        receptive_field=_through(field_in, rf.through_window, kernel, stride, pads, dilation),
        warnings=warnings,
    )


def adaptive_pool(name: str, input_shape, mode: str, output_size,
                  field_in: Field2d | None = None) -> Layer:
    c, h, w = _spatial(input_shape, name, f"adaptive {mode} pool")
    out_hw = pair(output_size) if not isinstance(output_size, (tuple, list)) else tuple(
        size if size is not None else full for size, full in zip(output_size, (h, w),
                                                                  strict=True))
    field_out = None if field_in is None else tuple(
        rf.through_adaptive(f, i, o) for f, i, o in zip(field_in, (h, w), out_hw, strict=True))
    return Layer(name, "adaptive_pool", f"adaptive {mode} pool to {out_hw[0]}x{out_hw[1]}",
                 (c, h, w), (c, *out_hw), receptive_field=field_out)


def linear(name: str, input_shape, out_features: int, bias: bool = True) -> Layer:
    in_features = input_shape[-1]
    rows = prod(input_shape[:-1])  # a linear layer applies to every row of its input
    return Layer(name, "linear", f"{out_features} neurons, fully connected",
                 tuple(input_shape), (*input_shape[:-1], out_features),
                 params=in_features * out_features + (out_features if bias else 0),
                 macs=rows * in_features * out_features)


def elementwise(name: str, kind: str, description: str, input_shape, params: int = 0,
                field_in: Field2d | None = None) -> Layer:
    """A layer that keeps the shape and the receptive field: activation, norm, dropout."""
    return Layer(name, kind, description, tuple(input_shape), tuple(input_shape), params=params,
                 receptive_field=field_in if len(input_shape) == 3 else None)


def _check_groups(name: str, in_channels: int, out_channels: int, groups: int) -> None:
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{name}: {in_channels} input and {out_channels} output channels must "
                         f"both be divisible by groups={groups}")


def _through(field_in: Field2d | None, step, kernel: Pair, stride: Pair, pads: Pair,
             dilation: Pair) -> Field2d | None:
    if field_in is None:
        return None
    return tuple(step(f, k, s, p, d) for f, k, s, p, d in
                 zip(field_in, kernel, stride, pads, dilation, strict=True))
