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


def _cached_onnx() -> Path:
    """The exported reference, made once per torch version and kept in the user cache."""
    from cnnlab.evaluate.onnx_export import export_onnx

    path = (Path.home() / ".cache" / "cnnlab" / "reference"
            / f"{NAME}-torch{torch.__version__.replace('+', '-')}.onnx")
    if not path.is_file():
        export_onnx(reference_torch_model(), SHAPE, MEAN, STD, path)
    return path


def reference_predictor(engine: str, threads: int = 1):
    from cnnlab.evaluate.predictors import make_predictor

    model = reference_torch_model()
    if engine == "scratch":
        from cnnlab.models.registry import create_model

        scratch_model = create_model(NAME, "scratch", num_classes=10, in_channels=SHAPE[0],
                                     input_size=SHAPE[1:])
        scratch_model.load_state_dict({k: v.numpy() for k, v in model.state_dict().items()})
        model = scratch_model
    onnx_path = _cached_onnx() if engine == "onnx" else None
    return make_predictor(model, engine, MEAN, STD, threads, onnx_path)


def reference(engine: str, threads: int = 1):
    """(name, predict, pixels), as `speed.measure` takes it."""
    return f"{NAME} (reference)", reference_predictor(engine, threads), reference_pixels()
