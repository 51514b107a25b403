"""Exact-pixel image composition: tiles pasted at known positions, text in matplotlib's bundled
DejaVu Sans (so the pictures look the same on every machine, with no system font needed), and
writing PNG, GIF or MP4 files atomically."""

from __future__ import annotations

import base64
import functools
import importlib.util
import io
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnnlab.files import write_atomically

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
TEXT = (30, 30, 30)
BORDER = (255, 255, 255)  # between tiles of a grid


@functools.cache
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    spec = importlib.util.find_spec("matplotlib")
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    if spec is None or not spec.submodule_search_locations:
        return ImageFont.load_default(size)
    path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / name
    return ImageFont.truetype(str(path), size) if path.is_file() else \
        ImageFont.load_default(size)


def text_size(text: str, size: int, bold: bool = False) -> tuple[int, int]:
    left, top, right, bottom = font(size, bold).getbbox(text)
    return right - left, bottom - top


def to_rgb8(values: np.ndarray) -> np.ndarray:
    """[0, 1] floats, (H, W) grey or (H, W, 3) colour, as (H, W, 3) uint8."""
    values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    if values.ndim == 2:
        values = np.repeat(values[:, :, None], 3, axis=2)
    return np.rint(values * 255).astype(np.uint8)


# A heat map's colours, from cold to hot (the "jet" ramp Grad-CAM's paper and tools use).
HEAT_STOPS = ((0.0, (0, 0, 143)), (0.125, (0, 0, 255)), (0.375, (0, 255, 255)),
              (0.625, (255, 255, 0)), (0.875, (255, 0, 0)), (1.0, (128, 0, 0)))


def heat_rgb8(values: np.ndarray) -> np.ndarray:
    """[0, 1] floats (H, W) as (H, W, 3) uint8 colours of HEAT_STOPS, linearly between them."""
    values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    positions = [position for position, _ in HEAT_STOPS]
    channels = [np.interp(values, positions, [colour[i] for _, colour in HEAT_STOPS])
                for i in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel as a factor x factor block: no interpolation, so a kernel's taps stay crisp."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def new_image(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (width, height), WHITE)
    return image, ImageDraw.Draw(image)


def centred_text(draw: ImageDraw.ImageDraw, x: float, y: float, text: str, size: int,
                 fill=TEXT, bold: bool = False) -> None:
    draw.text((x, y), text, fill=fill, font=font(size, bold), anchor="mm")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_data_url(data: bytes | Image.Image | np.ndarray) -> str:
    """A PNG (its bytes, or an image or uint8 pixel array to encode) as a data: URL, for a
    page that embeds it."""
    if isinstance(data, np.ndarray):
        data = Image.fromarray(data)
    if isinstance(data, Image.Image):
        data = png_bytes(data)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def save_png(image: Image.Image, path: str | Path) -> Path:
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"{path}: this picture is written as .png, got "
                         f"{Path(path).suffix or 'no extension'!r}")
    write_atomically(path, png_bytes(image))
    return Path(path)


ANIMATION_FORMATS = (".gif", ".mp4")


def save_animation(frames: Sequence[Image.Image], durations_ms: Sequence[int],
                   path: str | Path) -> Path:
    """A GIF through Pillow, or an MP4 through ffmpeg when it is installed."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ANIMATION_FORMATS:
        raise ValueError(f"{path}: an animation is written as .gif or .mp4, got "
                         f"{path.suffix or 'no extension'!r}")
    if suffix == ".mp4":
        write_atomically(path, _mp4(frames, durations_ms, path.name))
        return path
    paletted = _shared_palette(frames)
    buffer = io.BytesIO()
    paletted[0].save(buffer, format="GIF", save_all=True, append_images=paletted[1:],
                     duration=list(durations_ms), loop=0, optimize=False)
    write_atomically(path, buffer.getvalue())
    return path


def _shared_palette(frames: Sequence[Image.Image]) -> list[Image.Image]:
    """Every frame on one palette made from the first, middle and last frames (between them
    they hold every colour an animation uses), without dithering: flat cells stay flat, and
    it is ten times faster than letting the GIF writer quantise each frame on its own."""
    width, height = frames[0].size
    picks = sorted({0, len(frames) // 2, len(frames) - 1})
    strip = Image.new("RGB", (width, height * len(picks)))
    for index, pick in enumerate(picks):
        strip.paste(frames[pick], (0, index * height))
    palette = strip.quantize(colors=255, method=Image.Quantize.MEDIANCUT,
                             dither=Image.Dither.NONE)
    return [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]


def _mp4(frames, durations_ms, name: str) -> bytes:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ValueError(f"{name}: writing MP4 needs ffmpeg, which is not installed "
                         "(write a .gif instead, or install ffmpeg)")
    # A constant frame rate of 10 per second; each frame is repeated for its duration.
    fps = 10
    width, height = frames[0].size
    even = (width + width % 2, height + height % 2)  # H.264 in yuv420p needs even sides
    raw = io.BytesIO()
    for frame, duration in zip(frames, durations_ms, strict=True):
        padded = Image.new("RGB", even, WHITE)
        padded.paste(frame, (0, 0))
        raw.write(padded.tobytes() * max(1, round(duration * fps / 1000)))
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "animation.mp4"
        done = subprocess.run(
            [ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
             "-s", f"{even[0]}x{even[1]}", "-r", str(fps), "-i", "-", "-an",
             "-pix_fmt", "yuv420p", "-f", "mp4", str(video)],
            input=raw.getvalue(), capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg could not write {name}: "
                               f"{done.stderr.decode(errors='replace').strip()}")
        return video.read_bytes()
