"""The two engines a model can be built on, by name.

A model definition is written once against an `Engine`: `engine.nn` is `torch.nn` or
`cnnlab.scratch.nn` (same layer names, arguments and state_dict keys), `engine.F` the matching
functional module and `engine.cat` the channel concatenation.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from types import ModuleType

ENGINES = {"torch": ("torch", "torch.nn"), "scratch": ("cnnlab.scratch", "cnnlab.scratch.nn")}


@dataclass(frozen=True)
class Engine:
    name: str

    @property
    def lib(self) -> ModuleType:
        return importlib.import_module(ENGINES[self.name][0])

    @property
    def nn(self) -> ModuleType:
        return importlib.import_module(ENGINES[self.name][1])

    @property
    def F(self) -> ModuleType:  # the name every torch user writes
        return self.nn.functional

    def cat(self, tensors, dim: int):
        return self.lib.cat(tensors, dim)


@functools.cache
def get_engine(name: str) -> Engine:
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; expected one of {', '.join(ENGINES)}")
    return Engine(name)


def nn_namespace(engine: str) -> ModuleType:
    """`torch.nn` or `cnnlab.scratch.nn`: the layers a model definition is written against."""
    return get_engine(engine).nn


def engine_of(model) -> str:
    """Which engine built `model`: 'scratch' for a cnnlab.scratch Module, 'torch' for a
    torch.nn.Module."""
    from cnnlab.scratch.nn import Module as ScratchModule

    if isinstance(model, ScratchModule):
        return "scratch"
    torch_nn = importlib.import_module("torch.nn")
    if isinstance(model, torch_nn.Module):
        return "torch"
    raise TypeError(f"expected a torch.nn.Module or a cnnlab.scratch.nn.Module, got "
                    f"{type(model).__name__}")
