"""What every engine is: the `Engine` declaration that `torch_engine` and `scratch_engine`
implement, and what they share. The registry that picks one is `engines`."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from types import ModuleType

OPTIMIZERS = ("sgd", "adam", "adamw")
DEVICES = re.compile(r"auto|cpu|mps|cuda(:\d+)?")  # what --device takes


class Engine(ABC):
    """What an engine is: every member the training loop, the predictors, the tracers and the
    figures use, declared here and implemented by `TorchEngine` and `ScratchEngine`. Devices
    are torch devices on both (the data pipeline is torch's; the scratch engine's is the
    CPU); a "tensor" is the engine's own (torch.Tensor or cnnlab.scratch.Tensor)."""

    name: str  # "torch" or "scratch"
    lib: ModuleType  # torch or cnnlab.scratch
    nn: ModuleType  # torch.nn or cnnlab.scratch.nn: the layers a model is written against
    distributable: bool  # trains in several processes under torchrun

    @property
    def F(self) -> ModuleType:  # the name every torch user writes
        return self.nn.functional

    def cat(self, tensors, dim: int):
        return self.lib.cat(tensors, dim)

    def __repr__(self) -> str:
        return f"<{self.name} engine>"

    def owns(self, model) -> bool:
        """Whether `model` was built on this engine."""
        return isinstance(model, self.nn.Module)

    # ------------------------------------------------------------ devices
    @abstractmethod
    def device(self, asked: str = "auto", local_rank: int | None = None):
        """The torch.device `asked` names (auto, cpu, cuda, cuda:N, mps), or a one-line
        ValueError saying why it cannot be had; under torchrun (`local_rank` given) each
        rank takes the GPU of its LOCAL_RANK."""

    def device_name(self, device) -> str | None:
        """The accelerator's own name (an NVIDIA GPU's model, or Apple GPU (MPS)); None for
        the CPU."""
        return None

    @abstractmethod
    def synchronize(self, device) -> None:
        """Wait for the device's queued work, so a clock read times the work itself."""

    # ------------------------------------------------------------ arrays in and out
    @abstractmethod
    def tensor(self, array, device):
        """A NumPy array as this engine's tensor on `device`."""

    @abstractmethod
    def numpy(self, value):
        """This engine's tensor as a float32 (or integer) NumPy array, on the CPU."""

    @abstractmethod
    def inputs(self, x, channels_last: bool = False):
        """A batch from the torch data pipeline as the model's input."""

    @abstractmethod
    def targets(self, y):
        """A batch's labels from the torch data pipeline as the loss takes them."""

    @abstractmethod
    def to_torch(self, value):
        """This engine's tensor as a float32 torch tensor (for the loss's statistics)."""

    # ------------------------------------------------------------ running
    @abstractmethod
    def no_grad(self):
        """A context in which no graph is recorded."""

    @abstractmethod
    def inference(self):
        """A context for a model that will only ever predict (faster than no_grad where the
        engine can make it so)."""

    @abstractmethod
    def observe_ops(self, observer):
        """A context calling `observer(output, inputs, (name, args, kwargs))` after every
        call a forward pass makes (F.relu, x.view, a + b; not the ops inside them); what the
        observer returns, when not None, replaces the call's output."""

    @abstractmethod
    def autocast(self, device, amp: str | None):
        """Mixed precision (`amp` "bf16" or "fp16", None for float32) for the forward pass
        and the loss; a ValueError where this engine or device cannot."""

    def check_amp(self, device, amp: str | None) -> None:
        """Refuse, now and in one line, mixed precision this engine or device cannot do."""
        self.autocast(device, amp)  # building the context is what checks it

    def amp_warning(self, device, amp: str | None) -> str | None:
        """A line to show when mixed precision works on `device` but slowly; None when not."""
        return None

    # ------------------------------------------------------------ training
    @abstractmethod
    def prepare(self, model, device, channels_last: bool = False):
        """`model` moved to `device` (in channels-last layout where asked and it helps)."""

    def on_cores(self, model, threads: int | None):
        """What the training step calls, computing on `threads` CPU threads (None: torch's
        default): `model` itself, on torch's intra-op threads."""
        if threads:
            import torch

            torch.set_num_threads(threads)
        return model

    def off_cores(self, net) -> None:  # noqa: B027 (nothing to release, on most engines)
        """Release what `on_cores` took, once training is over."""

    @abstractmethod
    def optimizer(self, kind: str, params, lr: float, momentum: float, nesterov: bool,
                  weight_decay: float, device):
        """The optimizer `kind` (one of OPTIMIZERS) over `params`."""

    @abstractmethod
    def grad_scaler(self, device, amp: str | None):
        """What scales the loss so small fp16 gradients do not underflow: scale(loss),
        step(optimizer), update(), state_dict() and load_state_dict() (a no-op where none is
        needed)."""

    @abstractmethod
    def correct(self, logits, labels) -> int:
        """How many of the batch's top-1 predictions are the label."""

    # ------------------------------------------------------------ random state
    @abstractmethod
    def manual_seed(self, seed: int) -> None:
        """Seed the generator this engine's models initialise and drop out from."""

    @abstractmethod
    def rng_state(self, device) -> dict:
        """The generators' state, as a checkpoint keeps it."""

    @abstractmethod
    def set_rng_state(self, state: dict, device) -> None:
        """Restore what rng_state returned."""

    # ------------------------------------------------------------ state
    @abstractmethod
    def to_checkpoint(self, state):
        """An optimizer's state as torch.save writes it (torch.load(weights_only) reads it)."""

    @abstractmethod
    def from_checkpoint(self, state):
        """The inverse of to_checkpoint."""

    @abstractmethod
    def weights(self, model) -> dict:
        """The model's state_dict as NumPy arrays."""

    @abstractmethod
    def load_weights(self, model, arrays: dict) -> None:
        """Copy checked NumPy arrays into the model, wherever it lives (missing keys kept)."""


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
