"""The figures of one trained run: its first-layer kernels and one test image's feature maps.
A run is anything `cnnlab eval` accepts that carries weights (run folder, checkpoint,
model.safetensors); an .onnx file has no torch layers to look into."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.evaluate.targets import Target, load_target
from cnnlab.viz.features import FeatureFigure, feature_figure
from cnnlab.viz.kernels import KernelGrid, kernel_grid
from cnnlab.viz.layers import first_conv, trace_stages


def load_run(target: Target | str | Path) -> Target:
    """A run with weights and history; an .onnx file is refused with the reason."""
    if isinstance(target, Target):
        path, loaded = target.path, target
    else:
        path, loaded = Path(target), None
    if path.suffix.lower() == ".onnx":
        raise ValueError(f"{path}: an .onnx file cannot be looked into layer by layer (it has "
                         "no torch layers, history or config); point at the run folder it was "
                         "exported from")
    return loaded or load_target(str(path))


def trained_model(target: Target | str, model=None):
    """(the run, its torch model); `model` when the caller has built it already."""
    target = load_run(target)
    return target, model if model is not None else target.build("torch")


def run_kernels(target: Target | str, model=None) -> KernelGrid:
    target, model = trained_model(target, model)
    conv = first_conv(model, target.spec.shape)
    return kernel_grid(conv.weight, f"CONV1 ({conv.module}) of {target.name}")


def test_image(target: Target, index: int, data_dir: str | None = None):
    """(uint8 image (C, H, W), label) number `index` of the dataset's test set."""
    from cnnlab.data import datasets

    images, labels = datasets.load(target.spec, data_dir or target.config.data_dir)["test"]
    if not 0 <= index < len(images):
        raise ValueError(f"--image {index} is out of range: the {target.spec.name} test set "
                         f"has images 0 to {len(images) - 1}")
    return images[index], int(labels[index])


def run_features(target: Target | str, index: int = 0, blocks: int = 2, channels: int = 8,
                 data_dir: str | None = None, model=None) -> FeatureFigure:
    import torch

    target, model = trained_model(target, model)
    if channels < 1:
        raise ValueError(f"--channels must be at least 1, got {channels}")
    pixels, label = test_image(target, index, data_dir)
    unit = pixels.astype(np.float32) / 255.0
    mean = np.asarray(target.spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(target.spec.std, dtype=np.float32)[:, None, None]
    normalised = (unit - mean) / std
    stages = trace_stages(model, normalised, blocks)
    with torch.no_grad():
        predicted = int(model(torch.from_numpy(normalised)[None]).argmax(1))
    classes = target.spec.classes
    title = (f"{target.name} on {target.spec.name} test image {index}: "
             f"{classes[label]}, predicted {classes[predicted]}")
    return feature_figure(unit, stages, title, channels)
