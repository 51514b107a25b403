"""The visual guide from Python: each function returns a figure that shows itself in Jupyter
(`_repr_png_`) and saves itself (`.save(path)`), computed as `cnnlab viz` computes it."""

from __future__ import annotations

import os
from pathlib import Path

from cnnlab.evaluate.targets import load_target
from cnnlab.runs import folder as layout
from cnnlab.viz import canvas, plots, run_data
from cnnlab.viz.run_figures import run_attribution, run_features, run_kernels


class Plot:
    """A matplotlib figure: PNG in a notebook, .png, .svg or .pdf on disk."""

    def __init__(self, figure, note: str = ""):
        self.figure, self.note = figure, note

    def _repr_png_(self) -> bytes:
        return plots.png_bytes(self.figure)

    def save(self, path: str | Path) -> Path:
        return plots.save(self.figure, path)


class Picture:
    """A pixel-exact image (kernel grid, feature maps): PNG in a notebook and on disk."""

    def __init__(self, image, title: str):
        self.image, self.title = image, title

    def _repr_png_(self) -> bytes:
        return canvas.png_bytes(self.image)

    def save(self, path: str | Path) -> Path:
        return canvas.save_png(self.image, path)


def _target(model, dataset, weights, normalize):
    return load_target(os.fspath(model), dataset, weights, normalize)


def curves(*runs) -> Plot:
    """Loss and accuracy per epoch of one run, or of several overlaid."""
    if not runs:
        raise ValueError("name at least one run")
    named = []
    for run in runs:
        folder = os.fspath(run)
        config = layout.read_config(folder)
        named.append((f"{Path(folder).name} ({config.model})", layout.history(folder)))
    title = named[0][0] if len(named) == 1 else f"{len(named)} runs"
    return Plot(plots.curves_figure(named if len(named) > 1 else named[0][1], title))


def confusion(model, split: str | None = None, *, dataset=None, weights=None,
              normalize=None) -> Plot:
    """The confusion matrix (from eval.json, evaluated first when missing)."""
    result = run_data.evaluation(_target(model, dataset, weights, normalize), split)
    accuracy = result["accuracy"]
    return Plot(plots.confusion_figure(
        accuracy["confusion"], [row["class"] for row in accuracy["per_class"]],
        f"{result['model']}, {result['split']} split: top-1 {100 * accuracy['top1']:.2f}%"))


def pareto(*runs, split: str | None = None, speed: str = "images") -> Plot:
    """Accuracy against speed at batch size 4, every run on one split."""
    points, label, measured = run_data.pareto_points([os.fspath(run) for run in runs], speed,
                                                     split)
    return Plot(plots.pareto_figure(points, label, f"accuracy against speed at batch size "
                                                   f"4, {measured} split"))


def first_kernels(model, *, dataset=None, weights=None, normalize=None) -> Picture:
    """The first convolution's kernels as a grid."""
    grid = run_kernels(_target(model, dataset, weights, normalize))
    return Picture(grid.image, grid.title)


def grad_cam(model, image: int = 0, layer: str | None = None, target_class: int | None = None,
             *, dataset=None, weights=None, normalize=None) -> Picture:
    """Why the model chose a class for test image `image`: the image, Grad-CAM at `layer` (a
    call site such as "pool (2nd call)"; the last with positions when None) and saliency."""
    figure, found = run_attribution(_target(model, dataset, weights, normalize), image, layer,
                                    target_class)
    return Picture(figure, f"Grad-CAM at {found.layer}")


def feature_maps(model, image: int = 0, blocks: int = 2, channels: int = 8, *, dataset=None,
             weights=None, normalize=None) -> Picture:
    """Test image `image` through the first blocks' conv, ReLU and pooling layers."""
    figure = run_features(_target(model, dataset, weights, normalize), image, blocks, channels)
    return Picture(figure.image, "feature maps")
