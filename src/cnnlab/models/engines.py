"""The two engines a model can be built on, by name."""

from __future__ import annotations

import importlib
from types import ModuleType

ENGINES = {"torch": "torch.nn", "scratch": "cnnlab.scratch.nn"}


def nn_namespace(engine: str) -> ModuleType:
    """`torch.nn` or `cnnlab.scratch.nn`: the layers a model definition is written against."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {sorted(ENGINES)}")
    return importlib.import_module(ENGINES[engine])
