"""The model registry: `register_model` on a small function per variant (as timm does). The
zoo's modules register themselves here; `cnnlab.models.zoo` imports them all and looks models
up, so this module depends on none of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SMALL_INPUT = 64  # below this, zoo models swap their ImageNet stem for a CIFAR-style one


@dataclass(frozen=True)
class ModelInfo:
    name: str
    build: Callable
    input_size: int  # the size the model was published for
    in_channels: int
    num_classes: int
    summary: str


REGISTRY: dict[str, ModelInfo] = {}


def register_model(input_size: int, in_channels: int = 3, num_classes: int = 1000):
    """Register `fn(engine, num_classes, in_channels, input_size, **options)` under its name;
    the first line of its docstring is the model's summary."""

    def decorator(fn: Callable) -> Callable:
        if fn.__name__ in REGISTRY:
            raise ValueError(f"model {fn.__name__!r} is already registered")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        REGISTRY[fn.__name__] = ModelInfo(fn.__name__, fn, input_size, in_channels,
                                          num_classes, summary)
        return fn

    return decorator
