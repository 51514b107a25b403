"""What every engine is: the `Engine` declaration that `torch_engine` and `scratch_engine`
implement, and what they share. The registry that picks one is `engines`."""

from __future__ import annotations

import re
from types import ModuleType

OPTIMIZERS = ("sgd", "adam", "adamw")
DEVICES = re.compile(r"auto|cpu|mps|cuda(:\d+)?")  # what --device takes


class Engine:
    name: str
    lib: ModuleType
    nn: ModuleType
    distributable: bool  # trains in several processes under torchrun

    @property
    def F(self) -> ModuleType:  # the name every torch user writes
        return self.nn.functional

    def cat(self, tensors, dim: int):
        return self.lib.cat(tensors, dim)

    def __repr__(self) -> str:
        return f"<{self.name} engine>"

    def owns(self, model) -> bool:
        return isinstance(model, self.nn.Module)

    def check_amp(self, device, amp: str | None) -> None:
        """Refuse, now and in one line, mixed precision this engine or device cannot do."""
        self.autocast(device, amp)  # building the context is what checks it

    def amp_warning(self, device, amp: str | None) -> str | None:
        """A line to show when mixed precision works on `device` but slowly; None when not."""
        return None



def optimizer(optim: ModuleType, kind: str, params, lr, momentum, nesterov, weight_decay,
              **implementation):
    """The optimizer `kind` from an engine's `optim` module (the same names on both)."""
    params = list(params)
    if kind == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay, **implementation)
    if kind == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay, **implementation)
    if kind == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay, **implementation)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {kind!r}")
