"""Which layers of a trained model (torch or scratch) to draw, found by running it: the first
convolution actually applied (not merely the first one declared), and the conv/ReLU/pool
outputs of the first blocks for one image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cnnlab.models.engines import engine_of

CPU = torch.device("cpu")  # where a trained model is looked into
_POOLS = ("MaxPool2d", "AvgPool2d", "LPPool2d")
_ACTIVATIONS = ("ReLU", "ReLU6", "LeakyReLU")


@dataclass
class Stage:
    """One drawn step: a layer's output maps (C, H, W), and for a ReLU also its input."""

    label: str  # the course's name: CONV1, RELU1, POOL1
    module: str  # where it lives in the model
    kind: str  # "conv", "relu" or "pool"
    output: np.ndarray
    before: np.ndarray | None = None  # a ReLU's input (the conv or batch-norm output)


def named_leaves(model):
    return [(name, module) for name, module in model.named_modules()
            if not list(module.children())]


def kind_of(module) -> str | None:
    name = type(module).__name__
    if name == "Conv2d":
        return "conv"
    if name in _ACTIVATIONS:
        return "relu"
    if name in _POOLS:
        return "pool"
    return None


def trace_stages(model, image: np.ndarray, blocks: int = 2) -> list[Stage]:
    """Run `image` (C, H, W, normalised as in training) through `model` and keep every conv,
    ReLU and pooling output, in the order they ran, up to the conv that starts block
    `blocks + 1`. A module called twice (ResNet's shared ReLU) gives two stages."""
    engine = engine_of(model)
    if blocks < 1:
        raise ValueError(f"blocks must be at least 1, got {blocks}")
    stages: list[Stage] = []
    counters = {"conv": 0, "relu": 0, "pool": 0}
    pending_input: dict[int, np.ndarray] = {}

    class _Enough(Exception):
        pass

    def before(name, module):
        def hook(_module, inputs):
            kind = kind_of(module)
            if kind == "conv" and counters["conv"] == blocks:
                raise _Enough
            if kind == "relu":  # copied now: an in-place ReLU overwrites its input
                pending_input[id(module)] = engine.numpy(inputs[0])[0].copy()
        return hook

    def after(name, module):
        def hook(_module, _inputs, output):
            kind = kind_of(module)
            if len(output.shape) != 4:
                return
            counters[kind] += 1
            label = {"conv": "CONV", "relu": "RELU", "pool": "POOL"}[kind]
            stages.append(Stage(f"{label}{counters[kind]}", name, kind,
                                engine.numpy(output)[0].copy(),
                                pending_input.pop(id(module), None)))
        return hook

    handles = []
    for name, module in named_leaves(model):
        if kind_of(module):
            handles.append(module.register_forward_pre_hook(before(name, module)))
            handles.append(module.register_forward_hook(after(name, module)))
    was_training = model.training
    model.eval()
    try:
        with engine.no_grad():
            model(engine.tensor(np.asarray(image, dtype=np.float32)[None], CPU))
    except _Enough:
        pass
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return stages


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


def run_blank(model, input_shape: tuple[int, ...], handles) -> None:
    """One blank (all-zero) input through `model` in evaluation mode, without gradients; then
    the hooks in `handles` removed and the model's mode restored. How a model's layers are
    found: by what its forward pass really applies."""
    engine = engine_of(model)
    was_training = model.training
    model.eval()
    try:
        with engine.no_grad():
            model(engine.tensor(np.zeros((1, *input_shape), np.float32), CPU))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()


def conv_layers(model, input_shape: tuple[int, ...]) -> list[ConvLayer]:
    """Every Conv2d in the order the forward pass first applies it (not the order the model
    declares them), found by running one blank input."""
    engine = engine_of(model)
    found: dict[int, tuple[str, object]] = {}

    def hook_for(name):
        def hook(module, _inputs):
            found.setdefault(id(module), (name, module))
        return hook

    handles = [module.register_forward_pre_hook(hook_for(name))
               for name, module in named_leaves(model) if type(module).__name__ == "Conv2d"]
    if not handles:
        raise ValueError(f"{type(model).__name__} has no convolution layer, so it has no "
                         "kernels to show")
    run_blank(model, input_shape, handles)
    if not found:
        raise ValueError(f"{type(model).__name__}'s forward pass never applies its "
                         "convolution layers")
    return [ConvLayer(number, name, engine.numpy(module.weight).copy(), tuple(module.stride),
                      module.padding if isinstance(module.padding, str)
                      else tuple(module.padding))
            for number, (name, module) in enumerate(found.values(), 1)]


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
