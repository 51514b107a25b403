"""Test sets a teacher imports, whose labels the students do not have: read from IDX files (as
MNIST's), one .npz holding `images` and `labels`, or a folder with one subfolder of images per
class; checked against the task's dataset (image shape, pixel type, label range, every class
present in both halves); stored in the database, compressed, so a worker needs nothing but
the database URL to evaluate on them.

A task without one is ranked on its dataset's official test set, whose labels are public."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data.datasets import DatasetSpec
from cnnlab.data.idx import read_idx

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MIN_PER_CLASS = 2  # one image in each half of the test set
MAX_IMAGES = 200_000


@dataclass
class HiddenTestSet:
    images: np.ndarray  # uint8 (N, C, H, W)
    labels: np.ndarray  # int64 (N,)
    source: str  # what it was read from, in words

    def encoded(self) -> bytes:
        """The set as a compressed .npz: how the database keeps it."""
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=self.images, labels=self.labels)
        return buffer.getvalue()

    @property
    def sha256(self) -> str:
        """Of the pixels and labels themselves (not of a file's compression or names)."""
        digest = hashlib.sha256()
        digest.update(repr(self.images.shape).encode())
        digest.update(self.images.tobytes())
        digest.update(self.labels.astype("<i8").tobytes())
        return digest.hexdigest()


def decoded(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of a set the database keeps."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return arrays["images"], arrays["labels"]


def _channels_first(images: np.ndarray, spec: DatasetSpec, where: str) -> np.ndarray:
    """(N, C, H, W) from (N, H, W) grey, (N, C, H, W) or (N, H, W, C), as the task's shape."""
    channels, height, width = spec.shape
    if images.ndim == 3 and channels == 1:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[1:] != spec.shape and \
            images.shape[1:] == (height, width, channels):
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4 or images.shape[1:] != spec.shape:
        expected = f"{height}x{width}" + (f"x{channels}" if channels != 1 else "")
        raise ValueError(f"{where}: images of shape {tuple(images.shape[1:])}; the task's "
                         f"dataset {spec.name} has {expected} images ({channels} channel"
                         f"{'s' if channels != 1 else ''} of {height}x{width})")
    return np.ascontiguousarray(images)


def check(images: np.ndarray, labels: np.ndarray, spec: DatasetSpec,
          source: str) -> HiddenTestSet:
    """The set, or a ValueError naming what is wrong with it and what was expected."""
    if images.dtype != np.uint8:
        raise ValueError(f"{source}: images of type {images.dtype}; expected uint8 pixels "
                         "(0 to 255), as the dataset's own")
    images = _channels_first(images, spec, source)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{source}: labels of shape {labels.shape} and type {labels.dtype}; "
                         "expected one whole number per image")
    if len(labels) != len(images):
        raise ValueError(f"{source}: {len(images)} images but {len(labels)} labels")
    if not 0 < len(images) <= MAX_IMAGES:
        raise ValueError(f"{source}: {len(images)} images; a test set holds 1 to "
                         f"{MAX_IMAGES:,}")
    classes = len(spec.classes)
    if labels.min() < 0 or labels.max() >= classes:
        bad = labels[(labels < 0) | (labels >= classes)]
        raise ValueError(f"{source}: label {int(bad[0])} is out of range; {spec.name} has "
                         f"{classes} classes, labelled 0 to {classes - 1}")
    counts = np.bincount(labels, minlength=classes)
    few = [f"{spec.classes[i]} ({i}): {int(counts[i])}" for i in range(classes)
           if counts[i] < MIN_PER_CLASS]
    if few:
        raise ValueError(f"{source}: every class needs at least {MIN_PER_CLASS} images, one "
                         f"for each half of the ranking; too few of {', '.join(few)}")
    return HiddenTestSet(images, labels.astype(np.int64), source)


def _from_npz(path: Path, spec: DatasetSpec) -> HiddenTestSet:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = {"images", "labels"} - set(arrays.files)
            if missing:
                raise ValueError(f"{path}: an .npz test set holds arrays named images and "
                                 f"labels; it lacks {' and '.join(sorted(missing))} (it has "
                                 f"{', '.join(arrays.files) or 'none'})")
            images, labels = arrays["images"], arrays["labels"]
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path}: cannot be read as .npz ({error})") from None
    return check(images, labels, spec, str(path))


def _from_folder(folder: Path, spec: DatasetSpec) -> HiddenTestSet:
    from PIL import Image, UnidentifiedImageError

    names = {name: index for index, name in enumerate(spec.classes)}
    names.update({str(index): index for index in range(len(spec.classes))})
    mode = {1: "L", 3: "RGB"}[spec.shape[0]]
    images, labels = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in names:
            raise ValueError(f"{sub}: not a class of {spec.name}; name each subfolder after "
                             f"a class ({', '.join(spec.classes)}) or its number (0 to "
                             f"{len(spec.classes) - 1})")
        for file in sorted(sub.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as image:
                    if image.size != spec.shape[:0:-1]:
                        raise ValueError(f"{file}: {image.width}x{image.height} pixels; "
                                         f"{spec.name}'s images are {spec.shape[2]}x"
                                         f"{spec.shape[1]} (resize them before importing)")
                    pixels = np.asarray(image.convert(mode), np.uint8)
            except (UnidentifiedImageError, OSError) as error:
                raise ValueError(f"{file}: not a readable image ({error})") from None
            images.append(pixels if pixels.ndim == 3 else pixels[:, :, None])
            labels.append(names[sub.name])
    if not images:
        raise ValueError(f"{folder}: no PNG or JPEG image in class subfolders")
    stacked = np.stack(images).transpose(0, 3, 1, 2)
    return check(stacked, np.array(labels), spec, f"{folder} (a folder per class)")


def read_test_set(images: str | Path, labels: str | Path | None,
                  spec: DatasetSpec) -> HiddenTestSet:
    """The set named by `--test-images` (and `--test-labels` for IDX files), checked."""
    path = Path(images)
    if not path.exists():
        raise ValueError(f"--test-images {images}: no such file or folder")
    if path.is_dir() or path.suffix.lower() == ".npz":
        if labels is not None:
            raise ValueError(f"--test-labels applies to IDX files; {path} holds its labels "
                             f"({'its subfolders' if path.is_dir() else 'an array labels'})")
        return _from_folder(path, spec) if path.is_dir() else _from_npz(path, spec)
    if labels is None:
        raise ValueError(f"{path}: IDX images need their labels too: give --test-labels FILE "
                         "(or an .npz with images and labels, or a folder per class)")
    label_path = Path(labels)
    if not label_path.is_file():
        raise ValueError(f"--test-labels {labels}: no such file")
    return check(read_idx(path), read_idx(label_path), spec, f"{path} and {label_path}")
