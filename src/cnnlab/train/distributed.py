"""Several processes under torchrun: DistributedDataParallel with gloo on CPUs and nccl on
GPUs. Every rank computes the same epoch order and takes its share of each global batch, so
the number of steps, the learning-rate schedule and the averaged gradient are those of one
process training on the whole batch; rank 0 alone writes checkpoints, metrics and output."""

from __future__ import annotations

import os
from dataclasses import dataclass

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

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over every rank (the values themselves in one process)."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64)
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def wrap(self, model):
        if not self.distributed:
            return model
        # gradients written straight into the all-reduce buckets: no copy, one layout
        return torch.nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=True)


def join() -> Cluster:
    """Join the process group torchrun set up (WORLD_SIZE > 1), or stay alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Cluster()
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return Cluster(torch.distributed.get_rank(), torch.distributed.get_world_size())


def leave() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
