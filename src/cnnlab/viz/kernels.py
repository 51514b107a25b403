"""The first convolution layer's kernels as an image grid, as in AlexNet's Fig. 3 (96 kernels
of 11x11x3): each kernel normalised on its own to the full range, colour when it reads three
channels, grey when it reads one, a thin white border between tiles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from cnnlab.viz import canvas

MAX_COLUMNS = 16  # AlexNet's 96 kernels come out as 6 rows of 16, as in the paper's figure
TILE_TARGET = 48  # pixels a tile aims for; kernels are upscaled by a whole factor
BORDER = 2
MARGIN = 12
TITLE_SIZE = 15


def normalise_each(kernels: np.ndarray) -> np.ndarray:
    """Each kernel (first axis) stretched to [0, 1] on its own; a constant kernel is mid grey."""
    flat = kernels.reshape(len(kernels), -1).astype(np.float64)
    low = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - low
    scaled = np.where(span > 0, (flat - low) / np.where(span > 0, span, 1), 0.5)
    return scaled.reshape(kernels.shape)


@dataclass
class KernelGrid:
    image: Image.Image
    tiles: np.ndarray  # (count, kh, kw, 3) uint8: what each tile shows, before upscaling
    origin: tuple[int, int]  # pixel (x, y) of the first tile's top-left corner
    scale: int  # each kernel tap is a scale x scale block
    columns: int
    title: str

    @property
    def pitch(self) -> tuple[int, int]:
        """Pixels from one tile's corner to the next tile's, across and down."""
        _, kh, kw, _ = self.tiles.shape
        return kw * self.scale + BORDER, kh * self.scale + BORDER

    def tile_box(self, index: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of tile `index` in the image, right/bottom exclusive."""
        row, column = divmod(index, self.columns)
        _, kh, kw, _ = self.tiles.shape
        left = self.origin[0] + column * self.pitch[0]
        top = self.origin[1] + row * self.pitch[1]
        return left, top, left + kw * self.scale, top + kh * self.scale


def kernel_tiles(weight: np.ndarray, layer_channels: int | None = None
                 ) -> tuple[np.ndarray, str]:
    """(tiles (n, kh, kw, 3) uint8, how they were made) for a (out, in, kh, kw) weight: one
    colour tile per kernel for 3 input channels (R, G, B as the image's), one grey tile per
    kernel for 1, and one grey tile per input channel of each kernel otherwise.
    `layer_channels` is the layer's own count when `weight` holds only its first channels."""
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 4:
        raise ValueError(f"expected convolution weights (out, in, kh, kw), got shape "
                         f"{weight.shape}")
    out, channels, kh, kw = weight.shape
    if channels == 3:
        scaled = normalise_each(weight).transpose(0, 2, 3, 1)
        return canvas.to_rgb8(scaled), "colour, normalised per kernel"
    if channels == 1:
        scaled = normalise_each(weight[:, 0])
        return np.stack([canvas.to_rgb8(tile) for tile in scaled]), \
            "grey, normalised per kernel"
    scaled = normalise_each(weight.reshape(out * channels, kh, kw))
    per_kernel = str(channels) if layer_channels in (None, channels) else \
        f"the first {channels} of {layer_channels}"
    return np.stack([canvas.to_rgb8(tile) for tile in scaled]), \
        f"one grey tile per input channel ({per_kernel} per kernel), normalised per tile"


def default_max_kernels(channels: int) -> int:
    """How many kernels a grid shows unless asked: a first layer's whole bank (AlexNet's 96
    in 6 rows), or for a deeper layer, whose kernel is a row of input channels, 16 rows."""
    return 96 if channels in (1, 3) else 16


def kernel_grid(weight: np.ndarray, layer: str, max_kernels: int | None = None) -> KernelGrid:
    """Draw `weight` (out, in, kh, kw) as a grid titled with `layer`'s name: its first
    `max_kernels` kernels (default_max_kernels), and of a deep layer's kernels their first
    16 input channels, one kernel to a row; the title says what was left out."""
    out, channels, kh, kw = np.shape(weight)
    limit = default_max_kernels(channels) if max_kernels is None else max_kernels
    if limit < 1:
        raise ValueError(f"--max-kernels must be at least 1, got {limit}")
    shown_in = channels if channels in (1, 3) else min(channels, MAX_COLUMNS)
    shown = min(out, limit)
    tiles, how = kernel_tiles(np.asarray(weight)[:shown, :shown_in], channels)
    count = len(tiles)
    columns = shown_in if channels not in (1, 3) else min(count, MAX_COLUMNS)
    rows = -(-count // columns)
    scale = max(1, round(TILE_TARGET / max(kh, kw)))
    kept = "" if shown == out else f"the first {shown} of "
    title = f"{layer}: {kept}{out} kernels of {kh}x{kw}x{channels} ({how})"
    title_height = canvas.text_size(title, TITLE_SIZE)[1] + 2 * MARGIN
    grid_w = columns * (kw * scale + BORDER) - BORDER
    grid_h = rows * (kh * scale + BORDER) - BORDER
    width = max(grid_w, canvas.text_size(title, TITLE_SIZE)[0]) + 2 * MARGIN
    image, draw = canvas.new_image(width, title_height + grid_h + MARGIN)
    canvas.centred_text(draw, width / 2, title_height / 2, title, TITLE_SIZE)
    grid = KernelGrid(image, tiles, ((width - grid_w) // 2, title_height), scale, columns,
                      title)
    # The gaps between tiles are the image's white background.
    for index, tile in enumerate(tiles):
        left, top, _, _ = grid.tile_box(index)
        image.paste(Image.fromarray(canvas.upscale(tile, scale)), (left, top))
    return grid
