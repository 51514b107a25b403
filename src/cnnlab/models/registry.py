"""The model registry: `register_model` on a small function per variant (as timm does),
`create_model(name, engine=...)` to build one, `list_models(pattern)` to find them."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from cnnlab.models.engines import Engine, get_engine

SMALL_INPUT = 64  # below this, zoo models swap their ImageNet stem for a CIFAR-style one


@dataclass(frozen=True)
class ModelInfo:
    name: str
    build: Callable
    input_size: int  # the size the model was published for
    in_channels: int
    num_classes: int
    summary: str


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(input_size: int, in_channels: int = 3, num_classes: int = 1000):
    """Register `fn(engine, num_classes, in_channels, input_size, **options)` under its name;
    the first line of its docstring is the model's summary."""

    def decorator(fn: Callable) -> Callable:
        if fn.__name__ in _REGISTRY:
            raise ValueError(f"model {fn.__name__!r} is already registered")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _REGISTRY[fn.__name__] = ModelInfo(fn.__name__, fn, input_size, in_channels,
                                           num_classes, summary)
        return fn

    return decorator


def _load_zoo() -> None:
    # Importing the zoo modules runs their @register_model decorators.
    from cnnlab.models import alexnet, googlenet, lenet, resnet, vgg  # noqa: F401


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style pattern ('resnet*', '*_bn'), sorted."""
    _load_zoo()
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern))


def model_info(name: str) -> ModelInfo:
    _load_zoo()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.5)
        close += [n for n in sorted(_REGISTRY) if n.startswith(name) and n not in close]
        hint = f"; did you mean {', '.join(close[:6])}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (all models: "
                         f"{', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]


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
    engine = get_engine(engine) if isinstance(engine, str) else engine
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
        from cnnlab.models.weights import load_weights

        load_weights(model, weights)
    return model
