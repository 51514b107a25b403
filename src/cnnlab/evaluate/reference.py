"""The reference every speed figure is divided by: LeNet-5 (1x28x28, 10 classes, fixed seeded
weights) on the same engine, device and thread count as the model under test, timed over 1,000
fixed random images. Small and quick, so timing it interleaved costs little."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnlab.data.contract import Preprocessing
from cnnlab.data.datasets import FASHION_MNIST
from cnnlab.evaluate.onnx_export import export_onnx
from cnnlab.evaluate.predictors import choose_predictor
from cnnlab.models.build import on_engine
from cnnlab.models.zoo import create_model

NAME = "lenet5"
SHAPE = (1, 28, 28)
CONTRACT = Preprocessing.of(FASHION_MNIST, "dataset")
IMAGES = 1000


def reference_pixels() -> np.ndarray:
    return np.random.default_rng(0).random((IMAGES, *SHAPE), dtype=np.float32)


def reference_torch_model() -> torch.nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return create_model(NAME, "torch", num_classes=10, in_channels=SHAPE[0],
                            input_size=SHAPE[1:]).eval()


def reference_predictor(engine: str, threads: int = 1, device: torch.device | None = None,
                        amp: str | None = None):
    """The reference on `engine` ("torch", "scratch" or "onnx") and `device`; its ONNX export
    is made once per torch version and kept in the user cache."""
    net = reference_torch_model()

    def onnx_file() -> Path:
        path = (Path.home() / ".cache" / "cnnlab" / "reference"
                / f"{NAME}-torch{torch.__version__.replace('+', '-')}.onnx")
        if not path.is_file():
            export_onnx(net, CONTRACT, SHAPE, path, 10)
        return path

    return choose_predictor(engine, CONTRACT, lambda: on_engine(net, NAME, SHAPE, 10, engine),
                            onnx_file, threads, str(device or "cpu"), amp)


def reference(engine: str, threads: int = 1, device: torch.device | None = None,
              amp: str | None = None):
    """(name, predict, pixels), as `speed.measure` takes it."""
    return (f"{NAME} (reference)", reference_predictor(engine, threads, device, amp),
            reference_pixels())
