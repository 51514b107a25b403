"""An image a student uploads, turned into what their model takes: the dataset's channels and
size, and its polarity (Fashion-MNIST's garments are light on black; a photo's are usually dark
on light). Every step is recorded, so the page can show what the model really sees.

Checked before anything is decoded: the size of the file, that it is a PNG or a JPEG, and its
pixel count (a small file can declare a huge image). Nothing is written to disk: the converted
pixels live in the lab's memory."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnlab.data.contract import unit_pixels

MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 25_000_000  # 25 megapixels: a phone photo, not a decompression bomb
FORMATS = ("PNG", "JPEG")
PREVIEW_SIDE = 160  # the original is shown at most this big


@dataclass
class Converted:
    pixels: np.ndarray  # (C, H, W) uint8, as the dataset's images are
    steps: list[str]  # what was done, in order, in words
    preview: Image.Image  # the upload as received (orientation applied), small


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def _open(data: bytes) -> Image.Image:
    if not data:
        raise ValueError("the upload is empty: choose a PNG or JPEG image")
    if len(data) > MAX_BYTES:
        raise ValueError(f"the upload is {_mib(len(data))}; the lab takes images up to "
                         f"{_mib(MAX_BYTES)}")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ValueError("the upload is not an image the lab can read: expected a PNG or "
                         "JPEG file") from None
    if image.format not in FORMATS:
        raise ValueError(f"the upload is a {image.format} image; the lab takes PNG or JPEG")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValueError(f"the image is {width}x{height} pixels ({width * height / 1e6:.0f} "
                         f"megapixels); the lab takes at most {MAX_PIXELS / 1e6:.0f} "
                         "megapixels: make it smaller first")
    try:
        image.load()
    except (OSError, SyntaxError) as error:  # a truncated or corrupt file
        raise ValueError(f"the {image.format} file could not be decoded ({error}); is it "
                         "complete?") from None
    return image


def _flatten_alpha(image: Image.Image) -> Image.Image:
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    return image


def _centre_crop(image: Image.Image, height: int, width: int) -> Image.Image:
    """The largest centred box of the dataset's aspect ratio."""
    w, h = image.size
    if w * height > h * width:  # too wide
        new_w = max(1, round(h * width / height))
        left = (w - new_w) // 2
        return image.crop((left, 0, left + new_w, h))
    new_h = max(1, round(w * height / width))
    top = (h - new_h) // 2
    return image.crop((0, top, w, top + new_h))


def border_brightness(pixels: np.ndarray) -> float:
    """Mean of the outermost rows and columns of (..., H, W) uint8 images, in [0, 1]: where a
    centred object's background shows."""
    pixels = unit_pixels(pixels, np.float64)
    edges = np.concatenate([pixels[..., 0, :].ravel(), pixels[..., -1, :].ravel(),
                            pixels[..., :, 0].ravel(), pixels[..., :, -1].ravel()])
    return float(edges.mean())


def convert(data: bytes, shape: tuple[int, int, int], dark_background: bool,
            invert: str = "auto") -> Converted:
    """The upload as a (C, H, W) uint8 image of `shape`. `dark_background`: the dataset's
    images are light objects on a dark background; `invert` is "auto" (invert a light-
    background upload for such a dataset), "yes" or "no"."""
    if invert not in ("auto", "yes", "no"):
        raise ValueError(f"invert: expected auto, yes or no, got {invert!r}")
    channels, height, width = shape
    image = _open(data)
    steps = [f"received a {image.width}x{image.height} {image.format} in {image.mode}"]
    upright = ImageOps.exif_transpose(image)
    if upright.size != image.size or upright.tobytes() != image.tobytes():
        steps.append("turned upright as its EXIF orientation says")
    image = upright
    flat = _flatten_alpha(image)
    if flat.mode != image.mode and image.mode in ("RGBA", "LA", "P"):
        steps.append("transparent pixels put on white")
    image = flat
    preview = image.copy()
    preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    if channels == 1:
        if image.mode != "L":
            image = image.convert("L")
            steps.append("made grey (ITU-R 601 luma: 0.299 R + 0.587 G + 0.114 B)")
    elif channels == 3:
        if image.mode != "RGB":
            image = image.convert("RGB")
            steps.append("made RGB (a grey image repeated in the three channels)")
    else:
        raise ValueError(f"the model takes {channels} channels; an upload can become 1 (grey) "
                         "or 3 (RGB)")
    cropped = _centre_crop(image, height, width)
    if cropped.size != image.size:
        steps.append(f"cropped to its centre, {cropped.width}x{cropped.height}, the dataset's "
                     "aspect ratio")
    image = cropped
    if image.size != (width, height):
        before = image.size
        image = image.resize((width, height), Image.LANCZOS)
        steps.append(f"resized from {before[0]}x{before[1]} to {width}x{height} (Lanczos, "
                     "antialiased)")
    pixels = np.asarray(image, np.uint8)
    pixels = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
    light = border_brightness(pixels) > 0.5
    if invert == "yes" or (invert == "auto" and dark_background and light):
        pixels = 255 - pixels
        steps.append("inverted (255 - value): " + (
            "asked for" if invert == "yes" else
            "its background is light and the dataset's images are light objects on black"))
    return Converted(np.ascontiguousarray(pixels), steps, preview)
