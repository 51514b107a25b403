"""What the training loop needs from an engine: one training step, one evaluation batch, the
learning rate, and its state as tensors for the checkpoint. The loop itself is engine-free."""

from __future__ import annotations

import numpy as np
import torch

from cnnlab.models.registry import create_model


def _all_finite(value: float) -> bool:
    return bool(np.isfinite(value))


class TorchBackend:
    """`model` may be wrapped in DistributedDataParallel; `module` is the model itself, which
    evaluation and checkpoints use (no collective calls, no "module." key prefix)."""

    def __init__(self, model, optimizer, label_smoothing: float, module=None,
                 all_finite=_all_finite):
        self.model, self.optimizer, self.label_smoothing = model, optimizer, label_smoothing
        self.module = model if module is None else module
        self.all_finite = all_finite  # every rank must agree before a backward pass

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        self.model.train()
        logits = self.model(x.contiguous(memory_format=torch.channels_last))
        loss = torch.nn.functional.cross_entropy(logits, y,
                                                 label_smoothing=self.label_smoothing)
        value = loss.item()
        if not self.all_finite(value):
            return float("nan") if np.isfinite(value) else value, 0  # weights untouched
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return value, int((logits.argmax(1) == y).sum())

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        self.module.eval()
        return self.module(x.contiguous(memory_format=torch.channels_last))

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict:
        return {"model": self.module.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


def _to_torch(value):
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, dict):
        return {k: _to_torch(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_torch(v) for v in value)
    return value


def _to_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.numpy().copy()
    if isinstance(value, dict):
        return {k: _to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(v) for v in value)
    return value


class ScratchBackend:
    """The NumPy engine: batches arrive as torch tensors (augmentation is shared) and cross
    over as NumPy arrays; every gradient is cnnlab.scratch's."""

    def __init__(self, model, optimizer, label_smoothing: float):
        self.model, self.optimizer, self.label_smoothing = model, optimizer, label_smoothing

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        import cnnlab.scratch as scratch
        from cnnlab.scratch.nn import functional as F

        self.model.train()
        labels = y.numpy()
        logits = self.model(scratch.tensor(x.numpy()))
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        value = loss.item()
        if not np.isfinite(value):
            return value, 0
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return value, int((logits.data.argmax(1) == labels).sum())

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        import cnnlab.scratch as scratch

        self.model.eval()
        with scratch.no_grad():
            return torch.from_numpy(self.model(scratch.tensor(x.numpy())).data)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict:
        return _to_torch({"model": dict(self.model.state_dict()),
                          "optimizer": self.optimizer.state_dict()})

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(_to_numpy(state["model"]))
        self.optimizer.load_state_dict(_to_numpy(state["optimizer"]))


def build_model(config, engine: str, num_classes: int, shape: tuple[int, int, int]):
    """The zoo model a training configuration names, on `engine`, for inputs of `shape`."""
    options = {} if config.dropout is None else {"dropout": config.dropout}
    return create_model(config.model, engine, num_classes=num_classes, in_channels=shape[0],
                        input_size=shape[1:], **options)


def build_backend(config, num_classes: int, shape: tuple[int, int, int], cluster=None):
    """The model, optimizer and backend a configuration asks for; under torchrun the torch
    model is wrapped in DistributedDataParallel."""
    model = build_model(config, config.engine, num_classes, shape)
    if config.engine == "torch":
        # Channels-last feature maps take oneDNN's faster convolution and pooling paths on
        # CPU: a LeNet-5 epoch went from 5.6 s to 4.9 s here (benchmarks/epoch_vs_tutorial.py).
        model = model.to(memory_format=torch.channels_last)
    if config.engine == "torch":
        optim = torch.optim
        # One kernel per step for all parameters instead of ~10 small ops per tensor: Adam's
        # step on LeNet-5 takes 0.2 ms instead of 0.9 ms. Same update formulas.
        implementation = {"fused": True}
    else:
        from cnnlab.scratch import optim
        implementation = {}
    params = list(model.parameters())
    if config.optimizer == "sgd":
        optimizer = optim.SGD(params, lr=config.lr, momentum=config.momentum,
                              nesterov=config.nesterov, weight_decay=config.weight_decay,
                              **implementation)
    elif config.optimizer == "adam":
        optimizer = optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay,
                               **implementation)
    else:
        optimizer = optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay,
                                **implementation)
    if config.engine == "scratch":
        return ScratchBackend(model, optimizer, config.label_smoothing)
    if cluster is None or not cluster.distributed:
        return TorchBackend(model, optimizer, config.label_smoothing)
    return TorchBackend(cluster.wrap(model), optimizer, config.label_smoothing, module=model,
                        all_finite=lambda value: np.isfinite(cluster.sum([value])[0]))
