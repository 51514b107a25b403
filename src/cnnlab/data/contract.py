"""The preprocessing contract: exactly what a model receives, recorded with its run.

Every image enters as uint8 pixels; the contract turns them into what the model was trained
on: the pixels scaled to [0, 1] and then either normalised by the dataset's per-channel mean
and standard deviation ("dataset") or left as they are ("none"). Training, evaluation, the
report, the explorer's views, the exported ONNX graph (and so the leaderboard) all apply the
same contract, from here: `unit_pixels` for the first step (what an .onnx file receives),
`Preprocessing.received` for NumPy callers, `images`/`pixels` for torch ones and `normalised`
for any array (scratch tensors and engine-placed statistics included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.data.datasets import DatasetSpec
from cnnlab.data.names import NORMALIZATIONS

__all__ = ["NORMALIZATIONS", "Preprocessing", "unit_pixels"]


def unit_pixels(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 pixels as floats in [0, 1]: what an exported .onnx file receives, the first step
    of every contract, and what a figure shows."""
    return np.asarray(images).astype(dtype) / 255.0


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

    def normalised(self, pixels, statistics=None):
        """Pixels in [0, 1] (a NumPy array, a torch or a scratch tensor) as the model receives
        them. `statistics` is (mean, std) already where the pixels are, as the engine placed
        them; by default the NumPy arrays."""
        if self.is_identity:
            return pixels
        mean, std = self.arrays() if statistics is None else statistics
        return (pixels - mean) / std

    def received(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (N, C, H, W) as the model receives them, in float32 NumPy."""
        return self.normalised(unit_pixels(images)).astype(np.float32, copy=False)

    def images(self, images):
        """uint8 images (N, C, H, W), a torch tensor on any device, as the model receives
        them."""
        return self.pixels(images.float() / 255.0)

    def pixels(self, pixels):
        """float pixels in [0, 1], a torch tensor on any device, as the model receives them."""
        if self.is_identity:
            return pixels
        key = (self, str(pixels.device), pixels.dtype)
        if key not in _PLACED:  # copied where the pixels are once, not at every batch
            _PLACED[key] = tuple(pixels.new_tensor(array) for array in self.arrays())
        return self.normalised(pixels, _PLACED[key])


_PLACED: dict[tuple, tuple] = {}  # (contract, device, dtype) -> (mean, std) placed there
