"""The layer table of a live model, from one capture of a real forward pass on either engine
(`models.capture`): a row for every call site, layers and the forward's own functions alike.

Before a layer runs, its row is computed with `cnnlab.arithmetic`, so a layer that cannot fit
raises the arithmetic's clear error (naming the layer) instead of the engine's; once it has
run, the computed output shape is checked against the real one. Receptive fields ride along
with the tensors: layers and the functions the forward calls itself (`F.max_pool2d(x, 2)`, as
in PyTorch's MNIST example) transform them, and every other step that keeps the spatial size
(a sum, a scaling) passes on the widest field of its inputs, so branching networks (ResNet,
Inception) get a field per row too. A step that changes the spatial size in a way cnnlab
cannot follow leaves the field unknown, and the table says so rather than print a wrong figure.
"""

from __future__ import annotations

from math import prod

import numpy as np

from cnnlab.arithmetic import layers as describe
from cnnlab.arithmetic import receptive_field as rf
from cnnlab.arithmetic.explain import parse_shape
from cnnlab.arithmetic.layers import Layer
from cnnlab.arithmetic.sizes import LayerDoesNotFit
from cnnlab.arithmetic.table import LayerTable, format_shape
from cnnlab.data.datasets import get_spec
from cnnlab.errors import first_line
from cnnlab.models.capture import NORMS, Call, Listener, forward
from cnnlab.models.engines import engine_of, get_engine
from cnnlab.models.user import is_user_model, load_user_model
from cnnlab.models.zoo import create_model, model_info

# The functional activations and norms as their layers are called (the table's labels)
_ACTIVATION_NAMES = {"relu": "ReLU", "relu6": "ReLU6", "leaky_relu": "LeakyReLU", "elu": "ELU",
                     "gelu": "GELU", "silu": "SiLU", "sigmoid": "Sigmoid", "tanh": "Tanh",
                     "hardswish": "Hardswish", "softmax": "Softmax",
                     "log_softmax": "LogSoftmax"}
_NORM_NAMES = {"batch_norm": "batch norm", "layer_norm": "layer norm",
               "group_norm": "group norm", "instance_norm": "instance norm",
               "local_response_norm": "local response norm"}


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


def _layer_for(call: Call, shape: tuple[int, ...], field,
               feature_map: tuple[int, ...] | None = None,
               image: tuple[int, ...] = ()) -> Layer:
    """The row of a layer about to run on an input of `shape`; `feature_map` is the last
    feature map computed before it (C, H, W) and `image` the model's input."""
    module, name, kind = call.module, call.name, call.what
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
    if call.kind == "norm":
        return describe.elementwise(name, "norm", NORMS[kind], shape, _own_params(module),
                                    field)
    if call.kind == "activation":
        return describe.elementwise(name, "activation", kind, shape, _own_params(module), field)
    if call.kind == "dropout":
        return describe.elementwise(name, "dropout", f"dropout p={module.p}", shape,
                                    field_in=field)
    if kind == "Flatten":
        return Layer(name, "reshape", "flatten", shape, ())
    return Layer(name, "other", kind, shape, (), params=_own_params(module))


def _function_layer(call: Call, shape: tuple[int, ...], field) -> Layer:
    """The row of a function the forward called itself (F.relu, x.view, a residual sum)."""
    values, label, kind = call.arguments(), call.name, call.kind
    what = call.what.removesuffix("_with_indices").rstrip("_")
    if kind == "adaptive_pool":
        mode = "avg" if "avg" in what else "max"
        return describe.adaptive_pool(label, shape, mode, values["output_size"], field)
    if kind == "pool":
        kernel = values["kernel_size"]
        return describe.pool(label, shape, what.split("_")[0], kernel,
                             values.get("stride") or kernel, values.get("padding", 0),
                             values.get("dilation", 1), bool(values.get("ceil_mode", False)),
                             field)
    if kind in ("conv", "conv_transpose"):
        weight = values["weight"]
        stride, padding = values.get("stride", 1), values.get("padding", 0)
        dilation, groups = values.get("dilation", 1), values.get("groups", 1)
        bias = values.get("bias") is not None
        if kind == "conv":
            return describe.conv(label, shape, weight.shape[0], tuple(weight.shape[2:]), stride,
                                 padding, dilation, groups, bias, field)
        return describe.conv_transpose(label, shape, weight.shape[1] * groups,
                                       tuple(weight.shape[2:]), stride, padding,
                                       values.get("output_padding", 0), dilation, groups, bias,
                                       field)
    if kind == "linear":
        weight = values["weight"]
        return describe.linear(label, shape, weight.shape[0], values.get("bias") is not None)
    if kind == "activation":
        return describe.elementwise(label, "activation", _ACTIVATION_NAMES.get(what, what),
                                    shape, field_in=field)
    if kind == "norm":
        return describe.elementwise(label, "norm", _NORM_NAMES.get(what, what), shape,
                                    field_in=field)
    if kind == "dropout":
        return describe.elementwise(label, "dropout", f"dropout p={values.get('p', 0.5)}",
                                    shape, field_in=field)
    if kind == "merge":
        return Layer(label, "merge", "concatenate" if what in ("cat", "concat", "concatenate")
                     else "add (a sum of maps)", shape, (), receptive_field=field)
    return Layer(label, "reshape", what, shape, ())


class _Tracer(Listener):
    def __init__(self, image: tuple[int, ...] = ()) -> None:
        self.image = image  # the model's input (C, H, W)
        self.feature_map: tuple[int, ...] | None = None  # the last (C, H, W) computed
        self.fields: dict[int, tuple[object, object]] = {}  # id -> (tensor, field); the
        self.layers: list[Layer] = []                       # tensor is kept so ids stay unique
        self.pending: dict[int, Layer] = {}  # id(call) -> the row of a layer running
        self.weighed: set[int] = set()  # the layers whose parameters a row already counts
        self.unknown_after: list[str] = []  # steps that left the receptive field unknown

    def field_of(self, tensor):
        entry = self.fields.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else None

    def set_field(self, tensor, field) -> None:
        self.fields[id(tensor)] = (tensor, field)

    def begin(self, x) -> None:
        self.set_field(x, (rf.INPUT_PIXEL, rf.INPUT_PIXEL))

    def before(self, call: Call) -> None:
        x = call.inputs[0] if call.inputs else None
        shape = tuple(x.shape[1:]) if x is not None else ()
        self.pending[id(call)] = _layer_for(call, shape, self.field_of(x), self.feature_map,
                                            self.image)

    def after(self, call: Call) -> None:
        actual = tuple(call.output.shape[1:])
        if len(actual) == 3:
            self.feature_map = actual
        if call.module is not None:
            self._layer_ran(call, self.pending.pop(id(call)), actual)
        elif call.shown:
            x = call.inputs[0] if call.inputs else None
            field = self._merged([t for t in call.inputs if len(t.shape) == 4]) \
                if call.kind == "merge" else self.field_of(x)
            layer = _function_layer(call, tuple(x.shape[1:]) if x is not None else (), field)
            self._add(layer, actual, call.name)
            self.set_field(call.output, layer.receptive_field if len(actual) == 3 else None)
        elif len(actual) == 3:
            self._follow_step(call, actual)

    def _merged(self, tensors):
        known = [f for x in tensors if (f := self.field_of(x)) is not None]
        if not known:
            return None
        return rf.merge([f[0] for f in known]), rf.merge([f[1] for f in known])

    def _follow_step(self, call: Call, actual: tuple[int, ...]) -> None:
        """A step that is not shown: it passes on its inputs' widest field where it keeps
        their spatial size, and leaves the field unknown where it changes it."""
        maps = [x for x in call.inputs if len(x.shape) == 4 and self.field_of(x) is not None]
        if not maps:
            return
        if all(tuple(x.shape[2:]) == actual[1:] for x in maps):
            self.set_field(call.output, self._merged(maps))
        else:
            self.unknown_after.append(call.what or "an operation")

    def _add(self, layer: Layer, actual: tuple[int, ...], name: str) -> None:
        if layer.kind in ("reshape", "other", "conv_transpose", "merge"):  # the real shape
            layer.output_shape = actual  # rules (a transposed conv may be given output_size)
        elif actual != layer.output_shape:
            raise RuntimeError(f"{name}: cnnlab.arithmetic computed an output of "
                               f"{format_shape(layer.output_shape)} but the call produced "
                               f"{format_shape(actual)}; please report this")
        self.layers.append(layer)

    def _layer_ran(self, call: Call, layer: Layer, actual: tuple[int, ...]) -> None:
        self._add(layer, actual, call.name)
        if id(call.module) in self.weighed:
            layer.params = 0  # a layer called again: its weights are counted at its 1st call
        else:
            self.weighed.add(id(call.module))
            own = _own_params(call.module)
            if own != layer.params:
                raise RuntimeError(f"{call.name}: cnnlab.arithmetic counted {layer.params} "
                                   f"parameters but the layer has {own}; please report this")
        if layer.kind == "other" and len(actual) == 3 and call.inputs:
            x = call.inputs[0]
            layer.receptive_field = self.field_of(x) if tuple(x.shape[2:]) == actual[1:] \
                else None
        self.set_field(call.output, layer.receptive_field if len(actual) == 3 else None)


def summarize(model, input_shape: tuple[int, ...], name: str | None = None) -> LayerTable:
    """Trace `model` (torch or scratch) on one input of `input_shape` (C, H, W) and return its
    layer table."""
    engine = engine_of(model)
    tracer = _Tracer(tuple(input_shape))
    parameter = next(model.parameters(), None)
    dtype = engine.numpy(parameter).dtype if parameter is not None else np.float32
    values = np.random.default_rng(0).standard_normal((1, *input_shape)).astype(dtype)
    try:
        forward(model, values, tracer)
    except (LayerDoesNotFit, ValueError):
        raise
    except (RuntimeError, TypeError, IndexError) as error:
        if "please report this" in str(error):
            raise
        raise ValueError(f"the forward pass of {name or type(model).__name__} on a "
                         f"{format_shape(tuple(input_shape))} input failed: "
                         f"{type(error).__name__}: {first_line(error)}") from None
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
