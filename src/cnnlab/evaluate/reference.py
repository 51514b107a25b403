"""The reference every speed figure is divided by: LeNet-5 (1x28x28, 10 classes, fixed seeded
weights) on the same engine and thread count as the model under test, timed over 1,000 fixed
random images. Small and quick, so timing it interleaved costs little."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

NAME = "lenet5"
SHAPE = (1, 28, 28)
MEAN, STD = (0.2860,), (0.3530,)  # Fashion-MNIST's
IMAGES = 1000


def reference_pixels() -> np.ndarray:
    return np.random.default_rng(0).random((IMAGES, *SHAPE), dtype=np.float32)


def reference_torch_model() -> torch.nn.Module:
    from cnnlab.models.registry import create_model

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return create_model(NAME, "torch", num_classes=10, in_channels=SHAPE[0],
                            input_size=SHAPE[1:]).eval()


def reference_predictor(engine: str, threads: int = 1):
    """The reference on `engine`; its ONNX export is made once per torch version and kept in
    the user cache."""
    from cnnlab.evaluate.predictors import zoo_predictor

    onnx_path = (Path.home() / ".cache" / "cnnlab" / "reference"
                 / f"{NAME}-torch{torch.__version__.replace('+', '-')}.onnx")
    return zoo_predictor(NAME, reference_torch_model(), engine, SHAPE, 10, MEAN, STD,
                         threads, onnx_path)


def reference(engine: str, threads: int = 1):
    """(name, predict, pixels), as `speed.measure` takes it."""
    return f"{NAME} (reference)", reference_predictor(engine, threads), reference_pixels()
