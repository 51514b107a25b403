"""The layer table of a live model, traced with a real forward pass on either engine.

A pre-hook on every leaf module computes the layer's row with `cnnlab.arithmetic` before the
layer runs, so a layer that cannot fit raises the arithmetic's clear error (naming the module)
instead of the engine's; a post-hook checks the computed output shape against the real one.
Receptive fields ride along with the tensors: modules transform them, and so do the
functional convolutions and poolings a `forward` calls itself (`F.max_pool2d(x, 2)`, as in
PyTorch's MNIST example), which get rows of their own. Every other operation that keeps the
spatial size (a residual sum, a concatenation, an activation) passes on the widest field of its
inputs, so branching networks (ResNet, Inception) get a field per layer too. An operation that
changes the spatial size in a way cnnlab cannot follow leaves the field unknown, and the table
says so rather than print a wrong figure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from math import prod

import numpy as np
import torch

from cnnlab.arithmetic import layers as describe
from cnnlab.arithmetic import receptive_field as rf
from cnnlab.arithmetic.explain import parse_shape
from cnnlab.arithmetic.layers import Layer
from cnnlab.arithmetic.sizes import LayerDoesNotFit
from cnnlab.arithmetic.table import LayerTable, format_shape
from cnnlab.data.datasets import get_spec
from cnnlab.errors import first_line
from cnnlab.models.engines import engine_of, get_engine
from cnnlab.models.user import is_user_model, load_user_model
from cnnlab.models.zoo import create_model, model_info

_ACTIVATIONS = {"ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh",
                "Hardswish", "Softmax", "LogSoftmax", "PReLU"}
_NORMS = {"BatchNorm1d": "batch norm", "BatchNorm2d": "batch norm",
          "LocalResponseNorm": "local response norm", "GroupNorm": "group norm",
          "LayerNorm": "layer norm", "InstanceNorm2d": "instance norm"}


def _own_params(module) -> int:
    return sum(int(prod(p.shape)) for p in module.parameters(recurse=False))


def _linear_mismatch(name: str, module, shape: tuple[int, ...],
                     feature_map: tuple[int, ...] | None, image: tuple[int, ...]) -> str:
    """What a Linear that does not fit its input is told: the sizes, and where the input
    is a feature map flattened (the tutorials' `16 * 5 * 5` on another image size), the
    size to write."""
    message = (f"{name} (Linear) expects {module.in_features} input features but its input "
               f"is {format_shape(shape)}")
    if len(shape) == 1 and feature_map is not None and len(feature_map) == 3 and \
            prod(feature_map) == shape[0]:
        channels, height, width = feature_map
        message += (f", the {channels}x{height}x{width} feature map flattened: for a "
                    f"{'x'.join(map(str, image[1:]))} input the flattened size is "
                    f"{channels}*{height}*{width}; write nn.Linear({channels} * {height} * "
                    f"{width}, {module.out_features})")
    return message


def _layer_for(module, name: str, shape: tuple[int, ...], field,
               feature_map: tuple[int, ...] | None = None,
               image: tuple[int, ...] = ()) -> Layer | None:
    """The row of a leaf module about to run on an input of `shape`; `feature_map` is the
    last feature map computed before it (C, H, W) and `image` the model's input."""
    kind = type(module).__name__
    if kind == "Identity":
        return None
    if kind == "Conv2d":
        if shape and shape[0] != module.in_channels:
            raise ValueError(f"{name} ({kind}) expects {module.in_channels} input channels "
                             f"but its input is {format_shape(shape)} ({shape[0]} channels)")
        return describe.conv(name, shape, module.out_channels, module.kernel_size,
                             module.stride, module.padding, module.dilation, module.groups,
                             module.bias is not None, field)
    if kind == "ConvTranspose2d":
        if shape and shape[0] != module.in_channels:
            raise ValueError(f"{name} ({kind}) expects {module.in_channels} input channels "
                             f"but its input is {format_shape(shape)} ({shape[0]} channels)")
        return describe.conv_transpose(name, shape, module.out_channels, module.kernel_size,
                                       module.stride, module.padding, module.output_padding,
                                       module.dilation, module.groups, module.bias is not None,
                                       field)
    if kind in ("MaxPool2d", "AvgPool2d", "SumPool2d"):
        mode = {"MaxPool2d": "max", "AvgPool2d": "avg", "SumPool2d": "sum"}[kind]
        return describe.pool(name, shape, mode, module.kernel_size, module.stride,
                             module.padding, getattr(module, "dilation", 1), module.ceil_mode,
                             field)
    if kind in ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d"):
        return describe.adaptive_pool(name, shape, "avg" if "Avg" in kind else "max",
                                      module.output_size, field)
    if kind == "Linear":
        if not shape or shape[-1] != module.in_features:
            raise ValueError(_linear_mismatch(name, module, shape, feature_map, image))
        return describe.linear(name, shape, module.out_features, module.bias is not None)
    if kind in _NORMS:
        return describe.elementwise(name, "norm", _NORMS[kind], shape, _own_params(module),
                                    field)
    if kind in _ACTIVATIONS:
        return describe.elementwise(name, "activation", kind, shape, _own_params(module), field)
    if kind.startswith("Dropout"):
        return describe.elementwise(name, "dropout", f"dropout p={module.p}", shape,
                                    field_in=field)
    if kind == "Flatten":
        return Layer(name, "reshape", "flatten", shape, ())
    return Layer(name, "other", kind, shape, (), params=_own_params(module))


# The parameters of the functional forms, in order, as both engines name them.
_FUNCTIONAL = {
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv_transpose2d": ("input", "weight", "bias", "stride", "padding", "output_padding",
                         "groups", "dilation"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode"),
    "sum_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode"),
    "adaptive_avg_pool2d": ("input", "output_size"),
    "adaptive_max_pool2d": ("input", "output_size"),
}
_FUNCTIONAL["max_pool2d_with_indices"] = _FUNCTIONAL["max_pool2d"]


def _functional_layer(op, shape: tuple[int, ...], field) -> Layer | None:
    """The row of a convolution or pooling called as a function, or None for other ops."""
    name, args, kwargs = op
    if name not in _FUNCTIONAL:
        return None
    values = dict(zip(_FUNCTIONAL[name], args, strict=False)) | dict(kwargs)
    label = f"F.{name.removesuffix('_with_indices')}"
    if name.startswith("adaptive"):
        mode = "avg" if "avg" in name else "max"
        return describe.adaptive_pool(label, shape, mode, values["output_size"], field)
    if name.endswith("pool2d") or name == "max_pool2d_with_indices":
        kernel = values["kernel_size"]
        stride = values.get("stride")
        mode = name.split("_")[0]
        return describe.pool(label, shape, mode, kernel, stride or kernel,
                             values.get("padding", 0), values.get("dilation", 1),
                             bool(values.get("ceil_mode", False)), field)
    weight = values["weight"]
    stride, padding = values.get("stride", 1), values.get("padding", 0)
    dilation, groups = values.get("dilation", 1), values.get("groups", 1)
    bias = values.get("bias") is not None
    if name == "conv2d":
        return describe.conv(label, shape, weight.shape[0], tuple(weight.shape[2:]), stride,
                             padding, dilation, groups, bias, field)
    return describe.conv_transpose(label, shape, weight.shape[1] * groups,
                                   tuple(weight.shape[2:]), stride, padding,
                                   values.get("output_padding", 0), dilation, groups, bias,
                                   field)


class _Tracer:
    def __init__(self, image: tuple[int, ...] = ()) -> None:
        self.image = image  # the model's input (C, H, W)
        self.feature_map: tuple[int, ...] | None = None  # the last (C, H, W) computed
        self.fields: dict[int, tuple[object, object]] = {}  # id -> (tensor, field); the
        self.layers: list[Layer] = []                       # tensor is kept so ids stay unique
        self.pending: list[Layer | None] = []
        self.unknown_after: list[str] = []  # ops that left the receptive field unknown

    def field_of(self, tensor):
        entry = self.fields.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else None

    def set_field(self, tensor, field) -> None:
        self.fields[id(tensor)] = (tensor, field)

    def follow_op(self, output, inputs, op=None) -> None:
        """Any operation with a 4-D output. Inside a layer its post-hook has the last word;
        in a forward's own code a functional convolution or pooling adds its row, an op that
        keeps the spatial size passes on the widest field of its inputs, and any other op
        leaves the field unknown. `op` is (name, args, kwargs) where the engine knows it."""
        if len(getattr(output, "shape", ())) != 4:
            return
        self.feature_map = tuple(output.shape[1:])
        maps = [x for x in inputs if len(getattr(x, "shape", ())) == 4]
        if not self.pending and op is not None and maps:
            layer = _functional_layer(op, tuple(maps[0].shape[1:]), self.field_of(maps[0]))
            if layer is not None:
                self._add_functional(layer, tuple(output.shape[1:]))
                self.set_field(output, layer.receptive_field)
                return
        known = [(x, f) for x in maps if (f := self.field_of(x)) is not None]
        if not known:
            return
        if self.pending or all(x.shape[2:] == output.shape[2:] for x, _ in known):
            self.set_field(output, (rf.merge([f[0] for _, f in known]),
                                    rf.merge([f[1] for _, f in known])))
        else:
            self.unknown_after.append(op[0] if op is not None else "an operation")

    def _add_functional(self, layer: Layer, actual: tuple[int, ...]) -> None:
        if layer.output_shape != actual and layer.kind != "conv_transpose":
            raise RuntimeError(f"{layer.name}: cnnlab.arithmetic computed an output of "
                               f"{format_shape(layer.output_shape)} but the call produced "
                               f"{format_shape(actual)}; please report this")
        layer.output_shape = actual
        self.layers.append(layer)

    def before(self, name: str) -> Callable:
        def hook(module, args):
            x = args[0] if args else None
            shape = tuple(x.shape[1:]) if hasattr(x, "shape") else ()
            self.pending.append(_layer_for(module, name, shape, self.field_of(x),
                                           self.feature_map, self.image))

        return hook

    def after(self, name: str) -> Callable:
        def hook(module, args, output):
            layer = self.pending.pop()
            if isinstance(output, tuple) and output:  # MaxPool2d(return_indices=True)
                output = output[0]
            if layer is None or not hasattr(output, "shape"):
                return
            actual = tuple(output.shape[1:])
            if len(actual) == 3:
                self.feature_map = actual
            if layer.kind in ("reshape", "other", "conv_transpose"):  # the real shape rules
                layer.output_shape = actual  # (a transposed conv may be given output_size)
            elif actual != layer.output_shape:
                raise RuntimeError(f"{name}: cnnlab.arithmetic computed an output of "
                                   f"{format_shape(layer.output_shape)} but the layer produced "
                                   f"{format_shape(actual)}; please report this")
            own = _own_params(module)
            if own != layer.params:
                raise RuntimeError(f"{name}: cnnlab.arithmetic counted {layer.params} "
                                   f"parameters but the layer has {own}; please report this")
            if layer.kind == "other" and len(actual) == 3 and args:
                spatial_in = tuple(args[0].shape[2:])
                field = self.field_of(args[0])
                layer.receptive_field = field if spatial_in == actual[1:] else None
            field = layer.receptive_field if len(actual) == 3 else None
            self.set_field(output, field)
            self.layers.append(layer)

        return hook


def _leaves(model) -> Iterator[tuple[str, object]]:
    for name, module in model.named_modules():
        if next(iter(module.children()), None) is None and module is not model:
            yield name, module
    if next(iter(model.children()), None) is None:
        yield type(model).__name__, model


@contextlib.contextmanager
def _hooks(model, tracer: _Tracer):
    handles = []
    try:
        for name, module in _leaves(model):
            handles.append(module.register_forward_pre_hook(tracer.before(name)))
            handles.append(module.register_forward_hook(tracer.after(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _run(model, engine, input_shape, tracer: _Tracer):
    parameter = next(model.parameters(), None)
    dtype = engine.numpy(parameter).dtype if parameter is not None else np.float32
    values = np.random.default_rng(0).standard_normal((1, *input_shape)).astype(dtype)
    x = engine.tensor(values, torch.device("cpu"))
    tracer.set_field(x, (rf.INPUT_PIXEL, rf.INPUT_PIXEL))
    with engine.no_grad(), engine.observe_ops(tracer.follow_op):
        return model(x)


def summarize(model, input_shape: tuple[int, ...], name: str | None = None) -> LayerTable:
    """Trace `model` (torch or scratch) on one input of `input_shape` (C, H, W) and return its
    layer table."""
    engine = engine_of(model)
    tracer = _Tracer(tuple(input_shape))
    was_training = model.training
    model.eval()  # batch norm on a single image needs its running statistics
    try:
        with _hooks(model, tracer):
            _run(model, engine, tuple(input_shape), tracer)
    except (LayerDoesNotFit, ValueError):
        raise
    except (RuntimeError, TypeError, IndexError) as error:
        if "please report this" in str(error):
            raise
        raise ValueError(f"the forward pass of {name or type(model).__name__} on a "
                         f"{format_shape(tuple(input_shape))} input failed: "
                         f"{type(error).__name__}: {first_line(error)}") from None
    finally:
        model.train(was_training)
    params = list(model.parameters())
    notes = []
    if tracer.unknown_after:
        ops = ", ".join(dict.fromkeys(tracer.unknown_after))
        notes.append(f"receptive fields after {ops} in forward() are unknown: it changes the "
                     "spatial size in a way cnnlab cannot follow (write it as a layer, or as "
                     "F.conv2d / F.max_pool2d / F.avg_pool2d, to get them)")
    return LayerTable(
        model=name or type(model).__name__,
        input_shape=tuple(input_shape),
        layers=tracer.layers,
        params=sum(int(prod(p.shape)) for p in params),
        trainable_params=sum(int(prod(p.shape)) for p in params if p.requires_grad),
        engine=engine.name,
        notes=notes,
    )


def model_table(spec: str, input_text: str | None = None, engine: str | None = None,
                num_classes: int | None = None, dataset: str | None = None) -> LayerTable:
    """The table `cnnlab shapes MODEL` prints: MODEL is a zoo name or the user's own network
    (`net.py:ClassName`, `package.module:factory`); `input_text` is CxHxW, HxW or H, or
    `dataset` gives the input shape and the classes."""
    if dataset is not None:
        if input_text is not None:
            raise ValueError("give either --dataset or --input, not both")
        data = get_spec(dataset)
        if num_classes is not None and num_classes != len(data.classes):
            raise ValueError(f"{dataset} has {len(data.classes)} classes; drop --num-classes")
        shape, num_classes = data.shape, len(data.classes)
    else:
        shape = parse_shape(input_text) if input_text is not None else None
    if is_user_model(spec):
        if shape is None or len(shape) != 3:
            raise ValueError(f"give the input of {spec} as --input CxHxW (e.g. 3x32x32) or "
                             "--dataset NAME")
        model = load_user_model(spec, num_classes, shape[0])
        if engine is not None and get_engine(engine) is not engine_of(model):
            raise ValueError(f"{spec} builds a {engine_of(model).name} model; --engine "
                             f"{engine} applies to zoo models only")
        return summarize(model, shape, spec)
    info = model_info(spec)
    if shape is None:
        shape = (info.in_channels, info.input_size, info.input_size)
    elif len(shape) == 1:
        shape = (info.in_channels, shape[0], shape[0])
    elif len(shape) == 2:
        shape = (info.in_channels, *shape)
    model = create_model(spec, engine or "torch", num_classes=num_classes,
                         in_channels=shape[0], input_size=shape[1:])
    return summarize(model, shape, spec)
