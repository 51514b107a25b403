"""The zoo: every registered architecture, `create_model(name, engine=...)` to build one,
`list_models(pattern)` to find them."""

from __future__ import annotations

import difflib
import fnmatch

# Importing the zoo's modules runs their @register_model decorators.
from cnnlab.models import alexnet, fastcnn, googlenet, lenet, resnet, vgg  # noqa: F401
from cnnlab.models.engines import Engine, get_engine
from cnnlab.models.registry import REGISTRY, ModelInfo
from cnnlab.models.weights import load_weights


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style pattern ('resnet*', '*_bn'), sorted."""
    return sorted(name for name in REGISTRY if fnmatch.fnmatchcase(name, pattern))


def is_zoo_model(name: str) -> bool:
    return name in REGISTRY


def model_info(name: str) -> ModelInfo:
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=5, cutoff=0.5)
        close += [n for n in sorted(REGISTRY) if n.startswith(name) and n not in close]
        hint = f"; did you mean {', '.join(close[:6])}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (all models: "
                         f"{', '.join(sorted(REGISTRY))}; or your own: path/to/net.py:Name)")
    return REGISTRY[name]


def square(size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def create_model(name: str, engine: str | Engine = "torch", num_classes: int | None = None,
                 in_channels: int | None = None, input_size=None, weights: str | None = None,
                 **options):
    """Build a zoo model on `engine` ("torch" or "scratch").

    `input_size` (an int or (height, width); the published size by default) picks the variant:
    below 64 pixels the models use their CIFAR-style stem, so 32x32 CIFAR-10 and 28x28
    Fashion-MNIST images keep enough resolution. `weights` is a state-dict file (.pth read
    with torch.load(weights_only=True), or .safetensors) with torchvision's key names.
    Other keyword options (e.g. `dropout`) go to the model's builder.
    """
    info = model_info(name)
    engine = get_engine(engine)
    num_classes = info.num_classes if num_classes is None else num_classes
    in_channels = info.in_channels if in_channels is None else in_channels
    height, width = square(info.input_size if input_size is None else input_size)
    for what, value in (("num_classes", num_classes), ("in_channels", in_channels),
                        ("input height", height), ("input width", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: {what} must be a positive integer, got {value!r}")
    try:
        model = info.build(engine, num_classes=num_classes, in_channels=in_channels,
                           input_size=(height, width), **options)
    except TypeError as error:
        if "unexpected keyword" in str(error):
            raise ValueError(f"{name} does not take the option(s) {sorted(options)}") from None
        raise
    if weights is not None:
        load_weights(model, weights)
    return model
