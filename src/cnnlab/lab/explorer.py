"""The network explorer: a trained model (a run folder, or a zoo model with its weights) looked
into from the page. Each request is one computation on the model itself, answered as JSON with
its pictures as PNG data URLs at their own resolution (the page scales them up, pixel for
pixel): the layer table, any convolution's kernels, every conv/ReLU/pooling output for a test
image or an upload, the class probabilities, Grad-CAM and saliency, and the test set's
predictions (confusion matrix, misclassified images), computed once when first asked for.

A model's hooks are not safe to share between threads, so each model computes under its own
lock; the server keeps answering other requests meanwhile."""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict

import numpy as np
from PIL import Image

from cnnlab.data import datasets
from cnnlab.data.contract import unit_pixels
from cnnlab.evaluate.metrics import classification_report
from cnnlab.evaluate.predictors import ModelPredictor, predict_all
from cnnlab.evaluate.targets import Target
from cnnlab.lab import uploads
from cnnlab.models.capture import record
from cnnlab.models.summary import summarize
from cnnlab.viz import canvas
from cnnlab.viz.attribution import attribute, softmax, spatial_of
from cnnlab.viz.features import signed_grey
from cnnlab.viz.kernels import default_max_kernels, kernel_grid
from cnnlab.viz.layers import choose_conv, convs_of, stages_of, trace_stages
from cnnlab.viz.run_figures import load_run

CHANNELS_SHOWN = 64  # feature maps drawn by default (ask for more with channels=)
UPLOADS_KEPT = 32  # per model; the oldest is forgotten first
PAGE_LIMIT = 200  # images a gallery request lists at most


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


def _count(value, what: str, low: int, high: int | None = None) -> int:
    """A whole number from a query, in range, or the sentence saying what was expected."""
    text = str(value).strip()
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(f"{what}: expected a whole number, got {value!r}")
    number = int(text)
    if number < low or (high is not None and number > high):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{what}: expected a number {span}, got {number}")
    return number


def _shape(array_shape) -> list[int]:
    return [int(n) for n in array_shape]


class ExploredModel:
    """One model, its test set, and what has been computed on them."""

    def __init__(self, key: str, target: Target, data_dir: str | None = None):
        self.key, self.target = key, load_run(target)
        self.model = self.target.build()
        self.predictor = ModelPredictor(self.model, self.target.contract)
        self.lock = threading.Lock()
        spec = self.target.spec
        images, labels = datasets.load(spec, data_dir or self.target.config.data_dir)["test"]
        self.images, self.labels = images, np.asarray(labels, np.int64)
        self.classes = list(spec.classes)
        # Fashion-MNIST and MNIST draw light objects on black: an upload is matched to that.
        self.dark_background = uploads.border_brightness(images[:1000]) < 0.25
        self.table = summarize(self.model, spec.shape, self.target.config.model)
        calls = record(self.model, np.zeros(spec.shape, np.float32))  # one pass for all three
        self.stages = stages_of(calls)
        self.convs = convs_of(self.model, calls)
        self.cam_layers = spatial_of(self.model, calls)
        # One backward pass now: the first one sets up autograd and takes most of a second,
        # which the student's first Grad-CAM would otherwise wait for.
        attribute(self.model, np.zeros(spec.shape, np.float32))
        self._logits: np.ndarray | None = None
        self.uploads: OrderedDict[str, uploads.Converted] = OrderedDict()

    # ------------------------------------------------------------------ what it is
    @property
    def title(self) -> str:
        where = self.target.folder.name if self.target.is_run else "zoo model"
        return f"{where}: {self.target.config.model} on {self.target.spec.name}"

    def listing(self) -> dict:
        target = self.target
        return {"id": self.key, "title": self.title, "model": target.config.model,
                "dataset": target.spec.name,
                "path": str(target.folder if target.is_run else target.weights_file or ""),
                "weights": str(target.weights_file) if target.weights_file else
                "initial (random) weights"}

    def _row_stages(self) -> list[int | None]:
        """For each row of the layer table (the input first), the stage drawn for it: both
        come from one capture, so a row and its stage share the call's name."""
        where = {stage.module: index for index, stage in enumerate(self.stages)}
        return [None] + [where.get(layer.name) for layer in self.table.rows(every_layer=True)]

    def describe(self) -> dict:
        table = self.table
        return {**self.listing(), "engine": self.target.config.engine,
                "receives": self.target.contract.describe(), "classes": self.classes,
                "input_shape": _shape(self.target.spec.shape),
                "test_images": len(self.images),
                "table": {"columns": list(table.COLUMNS), "rows": table.cells(every_layer=True),
                          "stages": self._row_stages(), "params": table.params,
                          "macs": table.macs},
                "stages": [{"index": index, "label": stage.label, "module": stage.module,
                            "kind": stage.kind, "what": stage.what,
                            "shape": _shape(stage.output.shape)}
                           for index, stage in enumerate(self.stages)],
                "convs": [{"number": conv.number, "label": conv.label, "module": conv.module,
                           "shape": _shape(conv.weight.shape)} for conv in self.convs],
                "cam_layers": self.cam_layers}

    # ------------------------------------------------------------------ images
    def image(self, source: str) -> tuple[np.ndarray, int | None, dict]:
        """(uint8 (C, H, W) pixels, true class or None, what the page shows of the image)
        for `source`: "test:N" or "upload:TOKEN"."""
        kind, _, rest = str(source).partition(":")
        if kind == "test":
            index = _count(rest, "image", 0, len(self.images) - 1)
            pixels, label = self.images[index], int(self.labels[index])
            about = {"source": f"test:{index}", "index": index, "true": label,
                     "true_class": self.classes[label],
                     "caption": f"{self.target.spec.name} test image {index}: "
                                f"{self.classes[label]}"}
        elif kind == "upload":
            converted = self.uploads.get(rest)
            if converted is None:
                raise ValueError("that upload is no longer held (the lab keeps the last "
                                 f"{UPLOADS_KEPT}); upload the image again")
            self.uploads.move_to_end(rest)
            pixels, label = converted.pixels, None
            about = {"source": f"upload:{rest}", "caption": "your image, as the model sees it",
                     "conversion": converted.steps,
                     "original": canvas.png_data_url(converted.preview)}
        else:
            raise ValueError(f"image: expected test:N (a test image's number) or upload:TOKEN,"
                             f" got {source!r}")
        about["png"] = canvas.png_data_url(canvas.to_rgb8(self._display(pixels)))
        return pixels, label, about

    @staticmethod
    def _display(pixels: np.ndarray) -> np.ndarray:
        """uint8 (C, H, W) as [0, 1] (H, W) grey or (H, W, 3) colour."""
        unit = unit_pixels(pixels, np.float64)
        return unit[0] if len(unit) == 1 else np.moveaxis(unit, 0, -1)

    def _received(self, pixels: np.ndarray) -> np.ndarray:
        """What the model receives: the [0, 1] pixels under its preprocessing contract."""
        return self.target.contract.received(pixels[None])[0]

    def upload(self, data: bytes, invert: str = "auto") -> dict:
        converted = uploads.convert(data, self.target.spec.shape, self.dark_background,
                                    invert)
        token = secrets.token_urlsafe(12)
        with self.lock:
            self.uploads[token] = converted
            while len(self.uploads) > UPLOADS_KEPT:
                self.uploads.popitem(last=False)
            return self.image(f"upload:{token}")[2]

    def _probabilities(self, pixels: np.ndarray) -> list[float]:
        logits = predict_all(self.predictor, unit_pixels(pixels[None]))[0]
        return [float(p) for p in softmax(logits)]

    # ------------------------------------------------------------------ layers
    def _stage(self, stage) -> int:
        if stage in (None, ""):
            return 0
        text = str(stage).strip()
        for index, known in enumerate(self.stages):
            if text.upper() == known.label:
                return index
        if re.fullmatch(r"\d+", text):
            return _count(text, "stage", 0, len(self.stages) - 1)
        names = ", ".join(known.label for known in self.stages[:12])
        raise ValueError(f"stage {stage!r}: this model's stages are {names}"
                         + (", ..." if len(self.stages) > 12 else ""))

    def features(self, source: str, stage=None, channels=None) -> dict:
        """One stage's maps for the image, each channel on its own signed grey scale (a ReLU's
        input and output on one), and the class probabilities."""
        index = self._stage(stage)
        limit = CHANNELS_SHOWN if channels in (None, "") else \
            _count(channels, "channels", 1)
        with self.lock:
            pixels, label, about = self.image(source)
            traced = trace_stages(self.model, self._received(pixels), None)
            probabilities = self._probabilities(pixels)
        chosen = traced[index]
        tiles = []
        for channel in range(min(limit, len(chosen.output))):
            output = chosen.output[channel]
            before = None if chosen.before is None else chosen.before[channel]
            magnitude = float(np.abs(before if before is not None else output).max())
            tile = {"channel": channel, "min": float(output.min()), "max": float(output.max()),
                    "output": canvas.png_data_url(canvas.to_rgb8(signed_grey(output,
                                                                             magnitude)))}
            if before is not None:
                tile.update(before=canvas.png_data_url(canvas.to_rgb8(
                    signed_grey(before, magnitude))), before_min=float(before.min()),
                    before_max=float(before.max()))
            tiles.append(tile)
        return {"image": about, "true": label,
                "stage": {"index": index, "label": chosen.label, "module": chosen.module,
                          "kind": chosen.kind, "what": chosen.what,
                          "shape": _shape(chosen.output.shape)},
                "channels": len(chosen.output), "tiles": tiles,
                "probabilities": probabilities,
                "predicted": int(np.argmax(probabilities))}

    def kernels(self, layer=None, first=None) -> dict:
        conv = choose_conv(self.convs, None if layer in (None, "") else str(layer))
        out, channels = conv.weight.shape[:2]
        shown = min(out, default_max_kernels(channels) if first in (None, "")
                    else _count(first, "first", 1))
        grid = kernel_grid(conv.weight, f"{conv.label} of {self.target.name}", shown)
        return {"number": conv.number, "label": conv.label, "module": conv.module,
                "shape": _shape(conv.weight.shape), "shown": shown, "title": grid.title,
                "stride": list(conv.stride), "png": canvas.png_data_url(grid.image)}

    def attribution(self, source: str, target_class=None, layer=None) -> dict:
        """Grad-CAM at `layer` and gradient saliency for `target_class` (the predicted class
        when none), overlaid on the image."""
        chosen = None if target_class in (None, "") else \
            _count(target_class, "class", 0, len(self.classes) - 1)
        with self.lock:
            pixels, label, about = self.image(source)
            found = attribute(self.model, self._received(pixels), chosen,
                              None if layer in (None, "") else str(layer))
        probabilities = found.probabilities
        return {"image": about, "true": label, "class": found.target_class,
                "class_name": self.classes[found.target_class], "layer": found.layer,
                "layers": self.cam_layers,
                "predicted": int(probabilities.argmax()),
                "probabilities": [float(p) for p in probabilities],
                "cam": [[round(float(v), 6) for v in row] for row in found.cam],
                "cam_png": canvas.png_data_url(found.cam_rgb8()),
                "overlay_png": canvas.png_data_url(found.overlay_rgb8(self._display(pixels))),
                "saliency_png": canvas.png_data_url(found.saliency_rgb8()),
                "cam_max": float(found.cam.max()), "saliency_max": float(found.saliency.max())}

    # ------------------------------------------------------------------ the test set
    def logits(self) -> np.ndarray:
        with self.lock:
            if self._logits is None:
                self._logits = predict_all(self.predictor, unit_pixels(self.images))
            return self._logits

    def confusion(self) -> dict:
        report = classification_report(self.logits(), self.labels, self.classes)
        return {"classes": self.classes, "confusion": report.confusion.tolist(),
                "accuracy": report.top1, "images": report.images,
                "wrong": int(report.images - np.trace(report.confusion))}

    def gallery(self, true=None, predicted=None, wrong=None, offset=0, limit=60) -> dict:
        """Test images by true and predicted class (a confusion cell, a row, a column), or
        the misclassified ones, with each one's probability of what was predicted."""
        classes = len(self.classes) - 1
        logits = self.logits()
        guesses = logits.argmax(axis=1)
        keep = np.ones(len(self.labels), bool)
        if true not in (None, ""):
            keep &= self.labels == _count(true, "true", 0, classes)
        if predicted not in (None, ""):
            keep &= guesses == _count(predicted, "predicted", 0, classes)
        if wrong not in (None, "", "0", "false"):
            keep &= guesses != self.labels
        indices = np.flatnonzero(keep)
        start = _count(offset, "offset", 0)
        count = _count(limit, "limit", 1, PAGE_LIMIT)
        page = indices[start:start + count]
        confidence = softmax(logits[page]).max(axis=1)  # the page's images only
        return {"total": len(indices), "offset": start, "items": [
            {"index": int(i), "true": int(self.labels[i]), "predicted": int(guesses[i]),
             "confidence": float(p)} for i, p in zip(page, confidence, strict=True)]}

    def thumbnail(self, index) -> bytes:
        number = _count(index, "image", 0, len(self.images) - 1)
        return canvas.png_bytes(Image.fromarray(canvas.to_rgb8(self._display(
            self.images[number]))))


class Explorer:
    """The models `cnnlab lab` was started with, by their id in the page's URLs."""

    def __init__(self, targets: list[Target | str], data_dir: str | None = None):
        self.data_dir = data_dir
        self.models: dict[str, ExploredModel] = {}
        for target in targets:
            loaded = load_run(target)
            base = _slug(loaded.folder.name if loaded.is_run else loaded.config.model)
            key, number = base, 1
            while key in self.models:
                number += 1
                key = f"{base}-{number}"
            self.models[key] = ExploredModel(key, loaded, data_dir)

    def get(self, key: str) -> ExploredModel:
        if key not in self.models:
            known = ", ".join(self.models) or "none: start the lab with `cnnlab lab RUN_DIR`"
            raise LookupError(f"no model {key!r} in this lab (its models: {known})")
        return self.models[key]

    def listing(self) -> list[dict]:
        return [model.listing() for model in self.models.values()]

    def run_folders(self) -> list:
        """The run folders among the models (a zoo model has no history to compare)."""
        return [model.target.folder for model in self.models.values() if model.target.is_run]
