"""The figures of one trained model: its kernels, one test image's feature maps, and why it
chose a class for that image (Grad-CAM and saliency).
A model is anything `cnnlab eval` accepts that carries layers: a run folder, a checkpoint, its
model.safetensors, or a model named bare with its weights; an .onnx file has no layers to look
into. The image goes through the model's own preprocessing contract."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from cnnlab.data import datasets
from cnnlab.data.contract import unit_pixels
from cnnlab.evaluate.predictors import ModelPredictor, predict_all
from cnnlab.evaluate.targets import Target, load_target
from cnnlab.viz.attribution import Attribution, attribute
from cnnlab.viz.cam_figure import attribution_figure
from cnnlab.viz.features import FeatureFigure, feature_figure
from cnnlab.viz.kernels import KernelGrid, kernel_grid
from cnnlab.viz.layers import choose_conv, conv_layers, trace_stages


def refuse_onnx(path: str | Path | None) -> None:
    if path is not None and Path(str(path)).suffix.lower() == ".onnx":
        raise ValueError(f"{path}: an .onnx file cannot be looked into layer by layer (it has "
                         "no layers, history or config); point at the run folder it was "
                         "exported from")


def load_run(target: Target | str | Path) -> Target:
    """A model with layers; an .onnx file is refused with the reason."""
    loaded = target if isinstance(target, Target) else None
    refuse_onnx(loaded.path if loaded is not None else target)
    return loaded or load_target(str(target))


def trained_model(target: Target | str, model=None):
    """(the target, its model); `model` when the caller has built it already."""
    target = load_run(target)
    return target, model if model is not None else target.build()


def run_kernels(target: Target | str, model=None, layer: str | None = None,
                max_kernels: int | None = None) -> KernelGrid:
    """The kernels of the first convolution, or of the one `layer` names (see choose_conv),
    at most `max_kernels` of them (kernel_grid's default)."""
    target, model = trained_model(target, model)
    conv = choose_conv(conv_layers(model, target.spec.shape), layer)
    return kernel_grid(conv.weight, f"{conv.label} of {target.name}", max_kernels)


def test_image(target: Target, index: int, data_dir: str | None = None):
    """(uint8 image (C, H, W), label) number `index` of the dataset's test set."""
    images, labels = datasets.load(target.spec, data_dir or target.config.data_dir)["test"]
    if not 0 <= index < len(images):
        raise ValueError(f"--image {index} is out of range: the {target.spec.name} test set "
                         f"has images 0 to {len(images) - 1}")
    return images[index], int(labels[index])


def run_features(target: Target | str, index: int = 0, blocks: int = 2, channels: int = 8,
                 data_dir: str | None = None, model=None) -> FeatureFigure:
    target, model = trained_model(target, model)
    if channels < 1:
        raise ValueError(f"--channels must be at least 1, got {channels}")
    pixels, label = test_image(target, index, data_dir)
    unit = unit_pixels(pixels)
    stages = trace_stages(model, target.contract.received(pixels[None])[0], blocks)
    predicted = int(predict_all(ModelPredictor(model, target.contract), unit[None])[0].argmax())
    classes = target.spec.classes
    title = (f"{target.name} on {target.spec.name} test image {index}: "
             f"{classes[label]}, predicted {classes[predicted]}")
    return feature_figure(unit, stages, title, channels)


def run_attribution(target: Target | str, index: int = 0, layer: str | None = None,
                    target_class: int | None = None, data_dir: str | None = None,
                    model=None) -> tuple[Image.Image, Attribution]:
    """Grad-CAM at `layer` (a call site; the last with positions when None) and saliency for
    `target_class` (the predicted one when None) on test image `index`: (figure, numbers)."""
    target, model = trained_model(target, model)
    pixels, label = test_image(target, index, data_dir)
    classes = list(target.spec.classes)
    if target_class is not None and not 0 <= target_class < len(classes):
        raise ValueError(f"--class {target_class} is out of range: {target.spec.name} has "
                         f"classes 0 to {len(classes) - 1}")
    found = attribute(model, target.contract.received(pixels[None])[0], target_class, layer)
    unit = unit_pixels(pixels)
    display = unit[0] if len(unit) == 1 else unit.transpose(1, 2, 0)
    caption = f"test image {index}: {classes[label]}"
    return attribution_figure(display, found, caption, classes), found
