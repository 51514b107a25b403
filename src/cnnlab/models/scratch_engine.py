"""The scratch engine: cnnlab.scratch, NumPy on the CPU, every gradient from a backward pass
written in cnnlab. torch is imported only where a batch or a checkpoint crosses over from the
torch data pipeline: building and running a scratch model never imports it."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

import numpy as np

import cnnlab.scratch as scratch
from cnnlab.models.engine import Engine, optimizer
from cnnlab.scratch import nn as scratch_nn
from cnnlab.scratch import optim as scratch_optim
from cnnlab.scratch.tensor import observe_ops

if TYPE_CHECKING:
    import torch


class ScratchEngine(Engine):
    """cnnlab.scratch: NumPy on the CPU, every gradient from a backward pass written here."""

    name, lib, nn = "scratch", scratch, scratch_nn
    distributable = False

    def device(self, asked: str = "auto", local_rank: int | None = None) -> torch.device:
        if asked not in ("auto", "cpu"):
            raise ValueError(f"--device {asked}: the scratch engine is NumPy and runs on the "
                             "CPU only; use --device cpu (or auto), or a torch model for a GPU")
        import torch  # the device of the torch data pipeline that feeds this engine

        return torch.device("cpu")

    def synchronize(self, device: torch.device) -> None:
        pass  # NumPy returns when the work is done

    def tensor(self, array: np.ndarray, device: torch.device) -> scratch.Tensor:
        return scratch.tensor(np.ascontiguousarray(array))

    def numpy(self, value: scratch.Tensor) -> np.ndarray:
        return np.asarray(value.data, dtype=np.float32)

    def inputs(self, x: torch.Tensor, channels_last: bool = False) -> scratch.Tensor:
        return scratch.tensor(x.numpy())

    def targets(self, y: torch.Tensor) -> np.ndarray:
        return y.numpy()

    def to_torch(self, value: scratch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(np.asarray(value.data, dtype=np.float32))

    def no_grad(self):
        return scratch.no_grad()

    def inference(self):
        return scratch.no_grad()

    def observe_ops(self, observer):
        return observe_ops(observer)

    def autocast(self, device: torch.device, amp: str | None):
        if amp is not None:
            raise ValueError(f"--amp {amp}: the scratch engine computes in float32 only")
        return contextlib.nullcontext()

    def prepare(self, model, device: torch.device, channels_last: bool = False):
        return model

    def on_cores(self, model, threads: int | None):
        """On two threads or more, half of each training batch in a second process, where
        Python threads gained nothing on a LeNet-5 step (cnnlab.scratch.halves)."""
        from cnnlab.scratch.halves import CAN_FORK, HalfBatch

        if not (threads and threads >= 2 and CAN_FORK):
            return super().on_cores(model, threads)  # torch's threads: the data pipeline's
        # The data pipeline's torch work on one thread: torch's OpenMP workers spin after
        # each op, and took the core the second half needed (an epoch in 8.1 s, not 5.6).
        super().on_cores(model, 1)
        return HalfBatch(model)

    def off_cores(self, net) -> None:
        from cnnlab.scratch.halves import HalfBatch

        if isinstance(net, HalfBatch):
            net.close()

    def optimizer(self, kind: str, params, lr: float, momentum: float, nesterov: bool,
                  weight_decay: float, device: torch.device):
        return optimizer(scratch_optim, kind, params, lr, momentum, nesterov, weight_decay)

    def grad_scaler(self, device: torch.device, amp: str | None):
        return _NoScaling()

    def correct(self, logits: scratch.Tensor, labels: np.ndarray) -> int:
        return int((logits.data.argmax(1) == labels).sum())

    def manual_seed(self, seed: int) -> None:
        scratch.manual_seed(seed)

    def rng_state(self, device: torch.device) -> dict:
        return {"scratch": json.dumps(scratch.get_rng_state())}

    def set_rng_state(self, state: dict, device: torch.device) -> None:
        scratch.set_rng_state(json.loads(state["scratch"]))

    def to_checkpoint(self, state):
        """NumPy arrays as torch tensors: a checkpoint is read with torch.load(weights_only)."""
        import torch

        return _convert(state, np.ndarray, lambda a: torch.from_numpy(np.array(a)))

    def from_checkpoint(self, state):
        import torch

        return _convert(state, torch.Tensor, lambda t: t.numpy().copy())

    def weights(self, model) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in model.state_dict().items()}

    def load_weights(self, model, arrays: dict[str, np.ndarray]) -> None:
        model.load_state_dict(arrays, strict=False)


class _NoScaling:
    """torch.amp.GradScaler's interface where nothing is scaled (the scratch engine)."""

    def scale(self, loss):
        return loss

    def step(self, optimizer) -> None:
        optimizer.step()

    def update(self) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _convert(value, kind, convert):
    if isinstance(value, kind):
        return convert(value)
    if isinstance(value, dict):
        return {k: _convert(v, kind, convert) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_convert(v, kind, convert) for v in value)
    return value


ENGINE = ScratchEngine()
