"""Feature maps of one image through the first blocks of a trained model: every conv, ReLU and
pooling output, the ReLU's input and output side by side ("rectified feature map").

Every map is drawn on the same grey scale centred on zero: mid grey is 0, darker is negative
(black at the map's largest magnitude), lighter is positive. A ReLU's input and output share
their scale, so what the ReLU removed shows as the dark pixels turning mid grey."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from cnnlab.viz import canvas
from cnnlab.viz.layers import Stage

LABEL_WIDTH = 190
TILE_TARGET = 64
PAIR_GAP = 2  # between a ReLU's input and output
GAP = 10  # between channels
ROW_GAP = 14
MARGIN = 12
TITLE_SIZE = 15
LABEL_SIZE = 12


def signed_grey(values: np.ndarray, magnitude: float | None = None) -> np.ndarray:
    """Map values to [0, 1]: 0.5 at zero, 0 at -magnitude, 1 at +magnitude."""
    values = np.asarray(values, dtype=np.float64)
    if magnitude is None:
        magnitude = float(np.abs(values).max()) if values.size else 0.0
    if magnitude == 0:
        return np.full(values.shape, 0.5)
    return 0.5 + 0.5 * values / magnitude


@dataclass
class Panel:
    stage: str  # "INPUT", CONV1, RELU1, ...
    part: str  # "image", "output", "before" (a ReLU's input) or "after" (its output)
    channel: int
    box: tuple[int, int, int, int]  # (left, top, right, bottom), right/bottom exclusive
    values: np.ndarray  # the map drawn, before scaling to grey


@dataclass
class FeatureFigure:
    image: Image.Image
    panels: list[Panel] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)  # the rows drawn after the input

    def through(self) -> str:
        """The stages drawn, each with its call site: "CONV1: conv1; RELU1: F.relu; ..."."""
        return "; ".join(f"{stage.label}: {stage.module}" for stage in self.stages)

    def find(self, stage: str, part: str | None = None) -> list[Panel]:
        return [p for p in self.panels if p.stage == stage and part in (None, p.part)]


def _scale_for(height: int, width: int, target: int = TILE_TARGET) -> int:
    return max(1, target // max(height, width))


def _row_tiles(stage: Stage, channels: int) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    """(part, channel, values, grey in [0, 1]) for each tile of one stage's row."""
    tiles = []
    for channel in range(min(channels, len(stage.output))):
        if stage.before is not None:  # an activation: its input and output side by side
            before = stage.before[channel]
            magnitude = float(np.abs(before).max())
            tiles.append(("before", channel, before, signed_grey(before, magnitude)))
            tiles.append(("after", channel, stage.output[channel],
                          signed_grey(stage.output[channel], magnitude)))
        else:
            tiles.append(("output", channel, stage.output[channel],
                          signed_grey(stage.output[channel])))
    return tiles


def _stage_label(stage: Stage) -> list[str]:
    c, h, w = stage.output.shape
    return [f"{stage.label} ({stage.module})", stage.what, f"{h}x{w}x{c}"]


def feature_figure(image: np.ndarray, stages: list[Stage], title: str,
                   channels: int = 8, tile_target: int = TILE_TARGET) -> FeatureFigure:
    """Draw `image` ((C, H, W) pixels in [0, 1]) and the stages' first `channels` maps, each
    upscaled by a whole factor to about `tile_target` pixels."""
    if not stages:
        raise ValueError("the model applies no convolution, ReLU or pooling layer to draw")
    rows = [("INPUT", ["input image", "x".join(map(str, image.shape[1:] + image.shape[:1]))],
             [("image", 0, image, np.moveaxis(image, 0, -1) if len(image) == 3 else image[0])],
             _scale_for(*image.shape[1:], tile_target))]
    for stage in stages:
        rows.append((stage.label, _stage_label(stage), _row_tiles(stage, channels),
                     _scale_for(*stage.output.shape[1:], tile_target)))
    caption = ("grey is 0, darker is negative, lighter is positive; each map on its own scale, "
               "a ReLU's input and output on one")

    def row_width(tiles, scale):
        width = 0
        for index, (part, _, values, _) in enumerate(tiles):
            width += values.shape[-1] * scale
            if index + 1 < len(tiles):
                width += PAIR_GAP if part == "before" else GAP
        return width

    heights = [max(values.shape[-2] * scale for _, _, values, _ in tiles)
               for _, _, tiles, scale in rows]
    label_height = 3 * (LABEL_SIZE + 4)
    header = canvas.text_size(title, TITLE_SIZE)[1] + LABEL_SIZE + 3 * MARGIN
    width = max(max(row_width(tiles, scale) for _, _, tiles, scale in rows) + LABEL_WIDTH,
                canvas.text_size(title, TITLE_SIZE)[0],
                canvas.text_size(caption, LABEL_SIZE)[0]) + 2 * MARGIN
    height = header + sum(max(h, label_height) + ROW_GAP for h in heights) + MARGIN
    picture, draw = canvas.new_image(width, height)
    canvas.centred_text(draw, width / 2, MARGIN + TITLE_SIZE / 2, title, TITLE_SIZE)
    canvas.centred_text(draw, width / 2, 2 * MARGIN + TITLE_SIZE + LABEL_SIZE / 2, caption,
                        LABEL_SIZE)
    figure = FeatureFigure(picture, stages=list(stages))
    top = header
    for (name, label_lines, tiles, scale), tiles_height in zip(rows, heights, strict=True):
        row_height = max(tiles_height, label_height)
        for line_index, line in enumerate(label_lines):
            draw.text((MARGIN, top + line_index * (LABEL_SIZE + 4)), line, fill=canvas.TEXT,
                      font=canvas.font(LABEL_SIZE, bold=line_index == 0))
        left = MARGIN + LABEL_WIDTH
        for index, (part, channel, values, grey) in enumerate(tiles):
            pixels = canvas.upscale(canvas.to_rgb8(grey), scale)
            box = (left, top, left + pixels.shape[1], top + pixels.shape[0])
            picture.paste(Image.fromarray(pixels), box[:2])
            figure.panels.append(Panel(name, part, channel, box, values))
            left = box[2] + (PAIR_GAP if part == "before" else GAP)
            if index + 1 < len(tiles) and part == "after":
                # a thin rule between pairs, so input/output pairs read as units
                draw.line([(left - GAP // 2, top), (left - GAP // 2, top + tiles_height - 1)],
                          fill=(200, 200, 200))
        top += row_height + ROW_GAP
    return figure
