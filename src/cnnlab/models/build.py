"""One builder for every model a command names: a zoo name or the user's own network, on an
engine, sized for a dataset's images. A network of the user's own is tried on one blank batch
first, so a shape that does not fit is one clear message before anything trains or runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnlab.errors import first_line
from cnnlab.models.engines import Engine, engine_of, get_engine
from cnnlab.models.summary import summarize
from cnnlab.models.user import is_user_model, load_user_model
from cnnlab.models.weights import load_state
from cnnlab.models.zoo import create_model


def build_model(name: str, shape: tuple[int, int, int], num_classes: int | None,
                engine: str | Engine | None = None, dropout: float | None = None,
                source: Path | None = None):
    """The model `name` for inputs of `shape` (C, H, W) and `num_classes` classes: a zoo model
    on `engine` (torch by default), or the user's network on the engine its file uses (which
    `engine`, when given, must be). `source` loads a run's copy of the user's file."""
    options = {} if dropout is None else {"dropout": dropout}
    if not is_user_model(name):
        return create_model(name, get_engine(engine or "torch"), num_classes=num_classes,
                            in_channels=shape[0], input_size=shape[1:], **options)
    model = load_user_model(name, num_classes, shape[0], options, source)
    own = engine_of(model)
    if engine is not None and get_engine(engine) is not own:
        raise ValueError(f"{name} builds a {own.name} model, so it runs on the {own.name} "
                         f"engine only (asked for {get_engine(engine).name})")
    check_fits(model, name, shape, num_classes)
    return model


def _forward(model, pixels: np.ndarray):
    """`model` on `pixels` (NumPy, on the CPU) in evaluation mode without gradients, its
    mode restored afterwards whatever the forward raised."""
    engine = engine_of(model)
    was_training = model.training
    model.eval()
    try:
        with engine.no_grad():
            return model(engine.tensor(pixels, torch.device("cpu")))
    finally:
        model.train(was_training)


def check_fits(model, name: str, shape: tuple[int, int, int], num_classes: int | None) -> None:
    """Run one blank batch of two images through `model`: ValueError unless it takes
    (batch, *shape) and gives (batch, num_classes) logits (any number when None)."""
    try:
        logits = _forward(model, np.zeros((2, *shape), np.float32))
    except Exception as error:  # the user's forward may raise anything; say what it was
        raise ValueError(f"{name} does not take input of shape (batch, "
                         f"{', '.join(map(str, shape))}): "
                         f"{_diagnosis(model, name, shape, error)}") from None
    got = tuple(getattr(logits, "shape", ()))
    if len(got) == 2 and got[0] == 2 and num_classes is None:
        return
    if got != (2, num_classes):
        expected = "(2, classes)" if num_classes is None else \
            f"(2, {num_classes}) for the dataset's {num_classes} classes (a class or factory " \
            "that takes num_classes receives it)"
        raise ValueError(f"{name} gives output of shape {got} for a batch of 2; expected "
                         f"logits of shape {expected}")


def _diagnosis(model, name: str, shape: tuple[int, int, int], error: Exception) -> str:
    """Why the forward failed, as `cnnlab shapes` says it: the layer, the sizes it expects
    and gets, and the likely fix; the engine's own message where the trace finds nothing
    more precise."""
    engine_says = f"{type(error).__name__}: {first_line(error)}"
    try:
        summarize(model, shape, name)
    except ValueError as diagnosed:
        if not str(diagnosed).startswith(f"the forward pass of {name}"):
            return str(diagnosed)  # names the layer
    except Exception:  # the trace is a second opinion; the engine's first one stands
        pass
    return engine_says


TWIN_TOLERANCE = 1e-4  # max abs logit difference between a network and its twin, per unit


def on_engine(model, name: str, shape: tuple[int, int, int], num_classes: int,
              engine: str | Engine, dropout: float | None = None,
              source: Path | None = None):
    """`model` on `engine`: itself, or its twin there with the same weights: a zoo model
    rebuilt there, a network of the user's own rebuilt from its file (`source`: the run's
    copy) with the engine's imports swapped, its logits checked against the original's."""
    engine = get_engine(engine)
    own = engine_of(model)
    if own is engine:
        return model
    if not is_user_model(name):
        twin = create_model(name, engine, num_classes=num_classes, in_channels=shape[0],
                            input_size=shape[1:])
        load_state(twin, own.weights(model), name)
        return twin
    options = {} if dropout is None else {"dropout": dropout}
    try:
        twin = load_user_model(name, num_classes, shape[0], options, source,
                               swap=(own.name, engine.name))
        if engine_of(twin) is not engine:
            raise ValueError(f"it still builds a {engine_of(twin).name} model")
        load_state(twin, own.weights(model), name)
        _check_twin(model, twin, name, shape)
    except Exception as error:  # the user's code, on an engine it was not written for
        detail = str(error) if isinstance(error, ValueError) else \
            f"{type(error).__name__}: {first_line(error)}"
        raise ValueError(f"{name} is written for the {own.name} engine and could not be "
                         f"rebuilt on {engine.name} with its imports swapped: "
                         f"{first_line(detail)}") from None
    return twin


def _check_twin(model, twin, name: str, shape: tuple[int, int, int]) -> None:
    """The twin must compute what the original computes: the same logits on random pixels."""
    own, other = engine_of(model), engine_of(twin)
    pixels = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    logits = [engine.numpy(_forward(net, pixels)) for engine, net in ((own, model),
                                                                      (other, twin))]
    worst = float(np.max(np.abs(logits[0] - logits[1]))) if logits[0].shape == \
        logits[1].shape else float("inf")
    scale = max(1.0, float(np.max(np.abs(logits[0]))))
    if not worst <= TWIN_TOLERANCE * scale:
        raise ValueError(f"{name} computes differently on {other.name} than on {own.name}: "
                         f"the logits differ by up to {worst:.3g} with the same weights")
