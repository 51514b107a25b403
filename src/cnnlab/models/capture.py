"""One capture of a network's computation, on either engine: every call its forward pass makes,
in order, each call site its own row.

A layer (a leaf module: `self.conv1(x)`, `self.pool(x)`) is one call named after the module,
and what runs inside it is its own business. The forward's own code is seen through the
engine's op observer (torch's function mode; the scratch engine's announced ops), so
`F.relu(x)`, `torch.flatten(x, 1)`, `x.view(-1, 400)` and a residual `out + x` are calls too,
named after the function and the module whose forward made them (`F.relu`, `layer1.0.add`).
A layer or function called again is a call of its own: `pool (2nd call)`.

Every view of a network is built from these calls: `cnnlab shapes` and its receptive fields
(`models.summary`), the feature maps and kernels (`viz.layers`), the report, the explorer,
Grad-CAM and saliency (`viz.attribution`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from cnnlab.models.engines import engine_of

CPU = torch.device("cpu")  # where a network is looked into

ACTIVATIONS = {"ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh",
               "Hardswish", "Softmax", "LogSoftmax", "PReLU"}
RELUS = {"ReLU", "ReLU6", "LeakyReLU", "relu", "relu6", "leaky_relu"}
NORMS = {"BatchNorm1d": "batch norm", "BatchNorm2d": "batch norm",
         "LocalResponseNorm": "local response norm", "GroupNorm": "group norm",
         "LayerNorm": "layer norm", "InstanceNorm2d": "instance norm"}
_MODULE_KINDS = {"Conv2d": "conv", "ConvTranspose2d": "conv_transpose", "MaxPool2d": "pool",
                 "AvgPool2d": "pool", "SumPool2d": "pool", "LPPool2d": "pool",
                 "AdaptiveAvgPool2d": "adaptive_pool", "AdaptiveMaxPool2d": "adaptive_pool",
                 "Linear": "linear", "Flatten": "reshape"}

# What a function called in a forward is, by the name both engines give it. One not listed
# (x * 2, x.mean(), indexing) is a "step": followed by the views that need it, not shown.
FUNCTION_KINDS = {
    "conv2d": "conv", "conv_transpose2d": "conv_transpose",
    **dict.fromkeys(("max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "sum_pool2d"),
                    "pool"),
    **dict.fromkeys(("adaptive_avg_pool2d", "adaptive_max_pool2d",
                     "adaptive_max_pool2d_with_indices"), "adaptive_pool"),
    **dict.fromkeys(("relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "gelu",
                     "silu", "sigmoid", "tanh", "hardswish", "softmax", "log_softmax"),
                    "activation"),
    **dict.fromkeys(("batch_norm", "layer_norm", "group_norm", "instance_norm",
                     "local_response_norm"), "norm"),
    **dict.fromkeys(("dropout", "dropout2d", "alpha_dropout"), "dropout"),
    **dict.fromkeys(("flatten", "view", "reshape"), "reshape"),
    "linear": "linear",
    **dict.fromkeys(("add", "add_", "iadd", "radd"), "merge"),
    **dict.fromkeys(("cat", "concat", "concatenate"), "merge"),
}

# The parameters of the functional forms, in order, as both engines name them.
PARAMETERS = {
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv_transpose2d": ("input", "weight", "bias", "stride", "padding", "output_padding",
                         "groups", "dilation"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode"),
    "sum_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode"),
    "adaptive_avg_pool2d": ("input", "output_size"),
    "adaptive_max_pool2d": ("input", "output_size"),
    "dropout": ("input", "p", "training"),
    "linear": ("input", "weight", "bias"),
}


@dataclass(eq=False)
class Call:
    """One call a forward pass made: a layer, or a function its own code called."""

    name: str  # the call site: "conv1", "pool (2nd call)", "F.relu", "layer1.0.add"
    kind: str  # conv, conv_transpose, pool, adaptive_pool, linear, norm, activation, dropout,
    #            reshape, merge or other; "step" for a function that is not shown
    what: str  # the layer's class (Conv2d) or the function (relu, max_pool2d)
    module: object | None = None  # the layer; None for a function
    args: tuple = ()  # a function's arguments
    kwargs: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)  # the engine tensors it read
    output: object = None  # the engine tensor it returned, once it has run
    value: np.ndarray | None = None  # the output for one image, where recorded
    before: np.ndarray | None = None  # an activation's input as it was, where recorded

    @property
    def shown(self) -> bool:
        return self.kind != "step"

    @property
    def is_relu(self) -> bool:
        return self.what.rstrip("_") in RELUS

    def arguments(self) -> dict:
        """A function's arguments by name (what `PARAMETERS` knows of its positions)."""
        base = self.what.removesuffix("_with_indices")
        return dict(zip(PARAMETERS.get(base, ()), self.args, strict=False)) | dict(self.kwargs)


class Listener:
    """What a capture tells as a forward pass runs; a view overrides what it needs."""

    def begin(self, x) -> None:
        """The input (an engine tensor), before the network runs."""

    def before(self, call: Call) -> None:
        """A layer about to run (its inputs known): a view may refuse it with a clear error.
        A function is seen once it has run, by `after` alone."""

    def after(self, call: Call):
        """A call that ran, `call.output` set. What it returns, when not None, replaces the
        output (Grad-CAM keeps a layer's output that way)."""


def _module_kind(module) -> str | None:
    kind = type(module).__name__
    if kind == "Identity":
        return None
    if kind in _MODULE_KINDS:
        return _MODULE_KINDS[kind]
    if kind in ACTIVATIONS:
        return "activation"
    if kind in NORMS:
        return "norm"
    return "dropout" if kind.startswith("Dropout") else "other"


def _function_kind(name: str, inputs: list, output) -> str:
    kind = FUNCTION_KINDS.get(name, "step")
    shape = tuple(getattr(output, "shape", ()))
    if kind == "reshape" and (not inputs or len(inputs[0].shape) == len(shape)):
        return "step"  # a reshape that keeps the rank is bookkeeping, not a flatten
    if kind == "merge" and name not in ("cat", "concat", "concatenate") and \
            sum(tuple(x.shape) == shape for x in inputs) < 2:
        return "step"  # a bias or a number added, not a residual sum
    return kind


def _function_label(name: str, kind: str) -> str:
    base = name.removesuffix("_with_indices").rstrip("_")
    if kind == "merge":
        return "cat" if base in ("cat", "concat", "concatenate") else "add"
    return base if kind in ("reshape", "step") else f"F.{base}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _tensors(values) -> Iterator[object]:
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from _tensors(value)
        elif hasattr(value, "shape") and hasattr(value, "requires_grad"):
            yield value


def is_layer(module) -> bool:
    """A leaf module: one call of the capture, whatever runs inside it."""
    return next(iter(module.children()), None) is None


class _Capture:
    def __init__(self, model, listener: Listener) -> None:
        self.listener = listener
        self.names = {id(m): name for name, m in model.named_modules()}
        self.names[id(model)] = type(model).__name__ if is_layer(model) else ""
        self.leaves = {id(m) for m in model.modules() if is_layer(m)}
        self.owners: list[str] = []  # the modules whose own forward code is running
        self.layers: list[Call | None] = []  # the layers running (None: an Identity)
        self.calls: dict[str, int] = {}
        self.busy = False  # a listener at work: its own ops are not the network's

    def _numbered(self, name: str) -> str:
        count = self.calls[name] = self.calls.get(name, 0) + 1
        return name if count == 1 else f"{name} ({_ordinal(count)} call)"

    def _tell(self, method, call: Call):
        self.busy = True
        try:
            return method(call)
        finally:
            self.busy = False

    def enter(self, module, args) -> None:
        name = self.names[id(module)]
        if id(module) not in self.leaves:
            self.owners.append(name)
            return
        kind = _module_kind(module)
        call = None if kind is None else Call(self._numbered(name), kind,
                                              type(module).__name__, module,
                                              inputs=list(_tensors(args)))
        self.layers.append(call)
        if call is not None:
            self._tell(self.listener.before, call)

    def leave(self, module, _args, output):
        if id(module) not in self.leaves:
            self.owners.pop()
            return None
        call = self.layers.pop()
        values = output[0] if isinstance(output, tuple) and output else output
        if call is None or not hasattr(values, "shape"):
            return None
        call.output = values
        replaced = self._tell(self.listener.after, call)
        if replaced is None:
            return None
        return (replaced, *output[1:]) if isinstance(output, tuple) else replaced

    def op(self, output, inputs, op):
        if self.layers or self.busy or not hasattr(output, "shape"):
            return None
        name, args, kwargs = op
        kind = _function_kind(name, list(inputs), output)
        label = _function_label(name, kind)
        owner = self.owners[-1] if self.owners else ""
        if kind != "step":
            label = self._numbered(f"{owner}.{label}" if owner else label)
        call = Call(label, kind, name, None, args, kwargs, list(inputs), output)
        return self._tell(self.listener.after, call)


@contextlib.contextmanager
def capturing(model, listener: Listener) -> Iterator[None]:
    """Tell `listener` every call `model` makes while the block runs."""
    capture = _Capture(model, listener)
    handles = []
    try:
        for module in model.modules():
            handles.append(module.register_forward_pre_hook(capture.enter))
            handles.append(module.register_forward_hook(capture.leave))
        with engine_of(model).observe_ops(capture.op):
            yield
    finally:
        for handle in handles:
            handle.remove()


def forward(model, values: np.ndarray, listener: Listener, grad: bool = False):
    """Run `values` (N, C, H, W) through `model` in evaluation mode on the CPU under a capture;
    with `grad`, the input requires gradients and the graph is kept. (input, output) as the
    engine's tensors; the model's mode is restored."""
    engine = engine_of(model)
    x = engine.tensor(values, CPU)
    if grad:
        x.requires_grad_(True)
    listener.begin(x)
    was_training = model.training
    model.eval()  # batch norm on a single image needs its running statistics
    try:
        with (contextlib.nullcontext() if grad else engine.no_grad()), \
                capturing(model, listener):
            output = model(x)
    finally:
        model.train(was_training)
    return x, output


class Recording(Listener):
    """Every shown call with its values for one image: its output, and an activation's input
    as it was before the call (an in-place ReLU overwrites its input)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.calls: list[Call] = []
        self._values: dict[int, tuple[object, np.ndarray]] = {}  # id -> (tensor, its value)

    def _copy(self, tensor) -> np.ndarray:
        return self.engine.numpy(tensor)[0].copy()

    def _value_of(self, tensor) -> np.ndarray:
        kept = self._values.get(id(tensor))
        return kept[1] if kept is not None and kept[0] is tensor else self._copy(tensor)

    def before(self, call: Call) -> None:
        if call.kind == "activation" and call.inputs:
            call.before = self._copy(call.inputs[0])

    def after(self, call: Call) -> None:
        if call.kind == "activation" and call.module is None and call.inputs:
            call.before = self._value_of(call.inputs[0])
        if not call.shown and len(call.output.shape) != 4:
            return  # a step kept only where an in-place activation may need its maps
        call.value = self._copy(call.output)
        self._values[id(call.output)] = (call.output, call.value)
        if call.shown:
            self.calls.append(call)


def record(model, image: np.ndarray) -> list[Call]:
    """Every shown call `model` makes on one image (C, H, W) as it receives it, in order, with
    its values."""
    recording = Recording(engine_of(model))
    forward(model, np.asarray(image, np.float32)[None], recording)
    return recording.calls
