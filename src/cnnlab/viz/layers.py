"""Which calls of a trained model (torch or scratch) to draw, from one capture of its forward
pass (`models.capture`): the convolutions in the order they are applied (not merely declared),
and the maps of every convolution, activation, pooling, norm and sum for one image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.arithmetic.layers import pair
from cnnlab.models.capture import Call, record
from cnnlab.models.engines import engine_of

# What a stage of each kind shows, in the figures' and the explorer's words
STAGE_KINDS = {"conv": "convolution", "relu": "ReLU: input | output",
               "activation": "activation: input | output", "pool": "pooling",
               "norm": "normalisation", "add": "sum of maps", "concat": "concatenation"}
_LABELS = {"conv": "CONV", "relu": "RELU", "pool": "POOL", "norm": "NORM", "add": "ADD",
           "concat": "CONCAT"}


@dataclass
class Stage:
    """One drawn step: a call's output maps (C, H, W), and for an activation also its input."""

    label: str  # the course's name: CONV1, RELU1, POOL1 (TANH1 for another activation)
    module: str  # the call site (see models.capture): conv1, F.relu, pool (2nd call)
    kind: str  # one of STAGE_KINDS
    output: np.ndarray
    before: np.ndarray | None = None  # an activation's input (the conv or norm output)

    @property
    def what(self) -> str:
        return STAGE_KINDS[self.kind]


def _stage_kind(call: Call) -> str | None:
    if call.kind == "activation":
        return "relu" if call.is_relu else "activation"
    if call.kind == "merge":
        return "concat" if call.what in ("cat", "concat", "concatenate") else "add"
    return {"conv": "conv", "pool": "pool", "adaptive_pool": "pool",
            "norm": "norm"}.get(call.kind)


def stages_of(calls: list[Call], blocks: int | None = None) -> list[Stage]:
    """The drawn steps among recorded calls: every map-producing call, in the order they ran,
    up to the convolution that starts block `blocks + 1` (all of them when None). A layer
    called twice (a pooling module reused, ResNet's shared ReLU) gives two stages."""
    if blocks is not None and blocks < 1:
        raise ValueError(f"blocks must be at least 1, got {blocks}")
    stages: list[Stage] = []
    counters: dict[str, int] = {}
    for call in calls:
        kind = _stage_kind(call)
        if kind is None or call.value is None or call.value.ndim != 3:
            continue
        prefix = _LABELS.get(kind) or call.what.rstrip("_").upper()
        if kind == "conv" and blocks is not None and counters.get(prefix, 0) == blocks:
            break
        counters[prefix] = counters.get(prefix, 0) + 1
        stages.append(Stage(f"{prefix}{counters[prefix]}", call.name, kind, call.value,
                            call.before))
    return stages


def trace_stages(model, image: np.ndarray, blocks: int | None = 2) -> list[Stage]:
    """Run `image` (C, H, W, normalised as in training) through `model` and keep the maps of
    every convolution, activation (with its input), pooling, norm and sum, up to the conv
    that starts block `blocks + 1` (every one when None)."""
    return stages_of(record(model, image), blocks)


@dataclass
class ConvLayer:
    number: int  # 1 for the first convolution the forward pass applies (CONV1), and so on
    module: str
    weight: np.ndarray  # (out_channels, in_channels / groups, kh, kw)
    stride: tuple[int, int]
    padding: tuple[int, int] | str

    @property
    def label(self) -> str:
        return f"CONV{self.number} ({self.module})"


def conv_layers(model, input_shape: tuple[int, ...]) -> list[ConvLayer]:
    """`convs_of` the calls of one blank input."""
    return convs_of(model, record(model, np.zeros(input_shape, np.float32)))


def convs_of(model, calls: list[Call]) -> list[ConvLayer]:
    """Every convolution among `model`'s recorded calls, in the order the forward pass first
    applies it (not the order the model declares them), layers and F.conv2d calls alike. A
    layer applied twice has one set of kernels: it is listed at its first call."""
    engine = engine_of(model)
    found: list[ConvLayer] = []
    seen: set[int] = set()
    for call in calls:
        if call.kind != "conv":
            continue
        arguments = call.arguments()
        weight = call.module.weight if call.module is not None else arguments["weight"]
        if id(weight) in seen:
            continue
        seen.add(id(weight))
        stride = call.module.stride if call.module is not None else arguments.get("stride", 1)
        padding = call.module.padding if call.module is not None else \
            arguments.get("padding", 0)
        found.append(ConvLayer(len(found) + 1, call.name, engine.numpy(weight).copy(),
                               pair(stride), padding if isinstance(padding, str)
                               else pair(padding)))
    if not found and not any(type(m).__name__ == "Conv2d" for m in model.modules()):
        raise ValueError(f"{type(model).__name__} has no convolution layer, so it has no "
                         "kernels to show")
    if not found:
        raise ValueError(f"{type(model).__name__}'s forward pass never applies its "
                         "convolution layers")
    return found


def first_conv(model, input_shape: tuple[int, ...]) -> ConvLayer:
    """The first Conv2d the forward pass applies."""
    return conv_layers(model, input_shape)[0]


def choose_conv(layers: list[ConvLayer], layer: str | None) -> ConvLayer:
    """The layer `--layer` names: its number in the forward order (3 or CONV3) or, when it is
    not a number, its module's name (features.6); the first when None."""
    if layer is None:
        return layers[0]
    text = layer.strip()
    number = text[4:] if text.upper().startswith("CONV") else text
    for conv in layers:  # a number is always the forward order (modules may be named "3")
        if (int(number) == conv.number) if number.isdigit() else (text == conv.module):
            return conv
    listed = ", ".join(conv.label for conv in layers[:12]) + (", ..." if len(layers) > 12
                                                               else "")
    raise ValueError(f"--layer {layer!r}: this model's convolutions are {listed}; give a "
                     f"number from 1 to {len(layers)} or a module name")
