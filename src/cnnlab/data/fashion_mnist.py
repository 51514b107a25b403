"""Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test images, 28x28 grey.

Found in the first of: an explicit data_dir, $CNNLAB_DATA (or its fashion-mnist/ folder),
~/.cache/cnnlab/fashion-mnist, and Debian's /usr/share/datasets/fashion-mnist (package
dataset-fashion-mnist).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnnlab.data.idx import read_idx

NAME = "fashion-mnist"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SIZES = {"train": 60_000, "test": 10_000}
# Mean and standard deviation of the training pixels scaled to [0, 1].
MEAN, STD = 0.2860, 0.3530


def candidate_dirs(data_dir: str | Path | None = None) -> list[Path]:
    places = []
    if data_dir is not None:
        places += [Path(data_dir), Path(data_dir) / NAME]
    if os.environ.get("CNNLAB_DATA"):
        root = Path(os.environ["CNNLAB_DATA"])
        places += [root, root / NAME]
    places += [Path.home() / ".cache" / "cnnlab" / NAME, Path("/usr/share/datasets") / NAME]
    return places


def locate(data_dir: str | Path | None = None) -> Path:
    needed = [name for pair in FILES.values() for name in pair]
    places = candidate_dirs(data_dir)
    for place in places:
        if all((place / name).is_file() for name in needed):
            return place
    searched = "\n  ".join(str(p) for p in places)
    raise FileNotFoundError(
        f"Fashion-MNIST not found. Looked for {', '.join(needed)} in:\n  {searched}\n"
        "Install Debian's package (apt-get install dataset-fashion-mnist), or put the four "
        "files in a folder and pass --data-dir or set CNNLAB_DATA."
    )


def load(split: str, data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 of shape (N, 28, 28), labels uint8 of shape (N,)) of one split."""
    if split not in FILES:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(FILES)}")
    folder = locate(data_dir)
    images_file, labels_file = (folder / name for name in FILES[split])
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"{images_file}: expected uint8 images of shape (N, 28, 28), got "
                         f"{images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"{labels_file}: {labels.shape[0]} labels for {len(images)} images")
    if len(images) != SIZES[split]:
        raise ValueError(f"{images_file}: {len(images)} images, but the {split} split has "
                         f"{SIZES[split]}; the file is not the official one")
    if labels.max() >= len(CLASSES):
        raise ValueError(f"{labels_file}: label {labels.max()} is not one of the 10 classes")
    return images, labels


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), standardised with the training statistics."""
    return ((images.astype(np.float32) / 255.0 - MEAN) / STD)[:, None]
