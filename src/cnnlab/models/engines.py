"""The engines a model can be built on, and the one place that knows how they differ.

A model definition is written once against an `Engine`: `engine.nn` is `torch.nn` or
`cnnlab.scratch.nn` (same layer names, arguments and state_dict keys), `engine.F` the matching
functional module and `engine.cat` the channel concatenation. Everything else that differs
between torch and the NumPy engine is a method of theirs too, so no other module compares
engine names: arrays in and out, no-grad and mixed precision, devices, optimizers, random
state, and what goes into a checkpoint.

Each engine lives in its own module (`torch_engine`, `scratch_engine`), implementing the
`Engine` that `engine.py` declares, and is imported when first asked for: a scratch model is
built and run without importing torch at all.

Batches reach an engine as torch tensors (the data pipeline and its augmentation are torch's,
on the run's device) and results leave as NumPy arrays or torch tensors.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from cnnlab.models.engine import DEVICES, OPTIMIZERS, Engine

__all__ = ["DEVICES", "NAMES", "ONNX", "OPTIMIZERS", "RUNTIMES", "Engine", "device_name",
           "engine_of", "get_engine", "manual_seed", "nn_namespace"]

# name -> the module defining it; engine_of tries them in this order (scratch first: telling
# a scratch model apart needs no torch)
_MODULES = {"scratch": "cnnlab.models.scratch_engine", "torch": "cnnlab.models.torch_engine"}
NAMES = ("torch", "scratch")
ONNX = "onnx"  # not an engine: ONNX Runtime running a model's exported file, beside them
RUNTIMES = (*NAMES, ONNX)  # what --engine takes where a trained model only runs


def get_engine(name: str | Engine) -> Engine:
    if isinstance(name, Engine):
        return name
    if name not in _MODULES:
        raise ValueError(f"unknown engine {name!r}; expected one of {', '.join(NAMES)}")
    return importlib.import_module(_MODULES[name]).ENGINE


def engine_of(model) -> Engine:
    """The engine that built `model` (a torch.nn.Module or a cnnlab.scratch.nn.Module)."""
    for name in _MODULES:
        if name == "torch" and "torch" not in sys.modules:
            break  # no torch model can exist yet
        if get_engine(name).owns(model):
            return get_engine(name)
    raise TypeError(f"expected a torch.nn.Module or a cnnlab.scratch.nn.Module, got "
                    f"{type(model).__name__}")


def device_name(device) -> str | None:
    """A device's accelerator name, None for the CPU (every engine's devices are torch's)."""
    if device is None or device.type == "cpu":
        return None
    return get_engine("torch").device_name(device)


def nn_namespace(engine: str) -> ModuleType:
    """`torch.nn` or `cnnlab.scratch.nn`: the layers a model definition is written against."""
    return get_engine(engine).nn


def manual_seed(seed: int) -> None:
    """Seed every engine's generator: a model's initialisation draws from its engine's."""
    for name in NAMES:
        get_engine(name).manual_seed(seed)
