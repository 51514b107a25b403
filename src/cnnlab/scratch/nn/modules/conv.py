"""Conv2d and ConvTranspose2d with torch.nn's signatures, initialisation and state_dict keys."""

from __future__ import annotations

import numpy as np

from cnnlab.arithmetic.sizes import same_padding_sides, window_extent
from cnnlab.scratch.device import check_device
from cnnlab.scratch.nn import functional as F
from cnnlab.scratch.nn.functional._args import pair
from cnnlab.scratch.nn.init import default_layer_init_
from cnnlab.scratch.nn.modules.module import Module, Parameter


def _check_device(device, dtype, layer: str):
    check_device(device, layer)
    return np.dtype(np.float32 if dtype is None else dtype)


def _check_channels(in_channels, out_channels, groups, layer: str) -> None:
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("groups", groups)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if value % groups:
            raise ValueError(f"{layer}: {name}={value} must be divisible by groups={groups}")


class _ConvNd(Module):
    def __init__(self, layer, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, padding_mode, weight_shape, device, dtype):
        super().__init__()
        dtype = _check_device(device, dtype, layer)
        _check_channels(in_channels, out_channels, groups, layer)
        modes = ("zeros",) if layer == "ConvTranspose2d" else ("zeros", *F.PADDING_MODES[1:])
        if padding_mode not in modes:
            raise ValueError(f"{layer}: padding_mode must be one of {modes}, got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", layer)
        self.stride = pair(stride, "stride", layer)
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding", layer)
        self.dilation = pair(dilation, "dilation", layer)
        self.padding_mode = padding_mode
        self.weight = Parameter(np.empty(weight_shape + self.kernel_size, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def _reversed_padding_repeated_twice(self) -> tuple[int, ...]:
        """F.pad's (left, right, top, bottom) for this layer's padding, 'same' included."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            pads = []
            for k, d in zip(reversed(self.kernel_size), reversed(self.dilation), strict=True):
                pads += same_padding_sides(k, d)
            return tuple(pads)
        ph, pw = self.padding
        return (pw, pw, ph, ph)

    def reset_parameters(self) -> None:
        default_layer_init_(self.weight, self.bias)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv2d(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__("Conv2d", in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, padding_mode,
                         (out_channels, in_channels // groups), device, dtype)

    def forward(self, input):
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice(), self.padding_mode)
            return F.conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation,
                            self.groups)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__("ConvTranspose2d", in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias, padding_mode,
                         (in_channels, out_channels // groups), device, dtype)
        self.output_padding = pair(output_padding, "output_padding", "ConvTranspose2d")

    def _output_padding_for(self, input, output_size):
        """torch's rule: the output_padding that makes the output exactly output_size."""
        size = tuple(output_size)[-2:]
        extra = []
        for axis in range(2):
            smallest = (window_extent(input.shape[2 + axis], self.kernel_size[axis],
                                      self.stride[axis], self.dilation[axis])
                        - 2 * self.padding[axis])
            if not smallest <= size[axis] < smallest + self.stride[axis]:
                raise ValueError(
                    f"ConvTranspose2d: requested output size {size} is not reachable; for input "
                    f"{input.shape} the output {'height' if axis == 0 else 'width'} must lie in "
                    f"[{smallest}, {smallest + self.stride[axis] - 1}]")
            extra.append(size[axis] - smallest)
        return tuple(extra)

    def forward(self, input, output_size=None):
        output_padding = (self.output_padding if output_size is None
                          else self._output_padding_for(input, output_size))
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)
