"""Several processes under torchrun: DistributedDataParallel with gloo on CPUs and nccl on
GPUs, each rank on the GPU of its LOCAL_RANK. Every rank computes the same epoch order and
takes its share of each global batch, so the number of steps, the learning-rate schedule and
the averaged gradient are those of one process training on the whole batch; rank 0 alone
writes checkpoints, metrics and output."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Cluster:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def sum(self, values: list[float], device: torch.device | None = None) -> list[float]:
        """Element-wise sums over every rank (the values themselves in one process)."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()

    def all_finite(self, value: float, device: torch.device | None = None) -> bool:
        """Whether the loss is finite on every rank: all must agree before a backward pass."""
        return bool(np.isfinite(self.sum([value], device)[0]))

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def wrap(self, model, device: torch.device):
        if not self.distributed:
            return model
        # gradients written straight into the all-reduce buckets: no copy, one layout
        return torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            gradient_as_bucket_view=True)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int | None:
    """This process's LOCAL_RANK under torchrun (several processes), else None."""
    return int(os.environ.get("LOCAL_RANK", "0")) if world_size() > 1 else None


def join(device: torch.device) -> Cluster:
    """Join the process group torchrun set up (WORLD_SIZE > 1), or stay alone. nccl needs each
    rank's GPU chosen before the group forms."""
    if world_size() <= 1:
        return Cluster()
    if not torch.distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend="nccl" if device.type == "cuda"
                                             else "gloo")
    return Cluster(torch.distributed.get_rank(), torch.distributed.get_world_size())


def leave() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
