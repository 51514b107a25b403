"""The preprocessing contract: exactly what a model receives, recorded with its run.

Every image enters as uint8 pixels; the contract turns them into what the model was trained
on: the pixels scaled to [0, 1] and then either normalised by the dataset's per-channel mean
and standard deviation ("dataset") or left as they are ("none"). Training, evaluation, the
report, the exported ONNX graph (and so the leaderboard) all apply the same contract, from
here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from cnnlab.data.datasets import DatasetSpec

NORMALIZATIONS = ("dataset", "none")


@dataclass(frozen=True)
class Preprocessing:
    normalize: str  # "dataset" or "none"
    dataset: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def of(cls, spec: DatasetSpec, normalize: str) -> Preprocessing:
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got "
                             f"{normalize!r}")
        return cls(normalize, spec.name, spec.mean, spec.std)

    @property
    def is_identity(self) -> bool:
        return self.normalize == "none"

    def statistics(self) -> str:
        """The normalisation's numbers: "mean 0.2860, std 0.3530" (per channel)."""
        return (f"mean {', '.join(f'{m:.4f}' for m in self.mean)}, std "
                f"{', '.join(f'{s:.4f}' for s in self.std)}")

    def describe(self) -> str:
        if self.is_identity:
            return "pixels in [0, 1], not normalised (--normalize none)"
        return (f"pixels in [0, 1] normalised by the {self.dataset} {self.statistics()} "
                "(--normalize dataset)")

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) as float32 arrays of shape (1, C, 1, 1); 0 and 1 for "none"."""
        channels = len(self.mean)
        if self.is_identity:
            return (np.zeros((1, channels, 1, 1), np.float32),
                    np.ones((1, channels, 1, 1), np.float32))
        return (np.asarray(self.mean, np.float32).reshape(1, -1, 1, 1),
                np.asarray(self.std, np.float32).reshape(1, -1, 1, 1))

    def as_dict(self) -> dict:
        return {"normalize": self.normalize, "dataset": self.dataset,
                "mean": list(self.mean) if not self.is_identity else None,
                "std": list(self.std) if not self.is_identity else None}

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, C, H, W), on any device, as the model receives them."""
        pixels = images.float() / 255.0
        return pixels if self.is_identity else self.pixels(pixels)

    def pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """float pixels in [0, 1] as the model receives them."""
        if self.is_identity:
            return pixels
        mean, std = _on_device(self, pixels.device)
        return (pixels - mean) / std


@functools.cache
def _on_device(contract: Preprocessing, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The mean and std where the pixels are, copied there once (not at every batch)."""
    return tuple(torch.from_numpy(array).to(device) for array in contract.arrays())


class Normalised(torch.nn.Module):
    """`model` behind its contract: float32 pixels in [0, 1] in, logits out. What `cnnlab
    export` writes to ONNX; for "none" the graph holds no normalisation at all."""

    def __init__(self, model: torch.nn.Module, contract: Preprocessing):
        super().__init__()
        self.model = model
        self.identity = contract.is_identity
        mean, std = contract.arrays()
        self.register_buffer("mean", torch.from_numpy(mean))
        self.register_buffer("std", torch.from_numpy(std))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixels if self.identity else (pixels - self.mean) / self.std)
