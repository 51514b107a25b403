"""Seeded, class-stratified validation splits and class-balanced training subsets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.data import datasets


def _shares(counts: np.ndarray, total: int) -> np.ndarray:
    """Split `total` across classes in proportion to `counts`, largest remainders first, so
    the shares add up to exactly `total`."""
    exact = counts * total / counts.sum()
    shares = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - shares), kind="stable")
    shares[order[: total - shares.sum()]] += 1
    return shares


def stratified_split(labels: np.ndarray, val_size: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): each class gives the validation set its share of
    `val_size` images, chosen at random with `seed`."""
    if not 0 <= val_size < len(labels):
        raise ValueError(f"validation size must be between 0 and {len(labels) - 1}, got "
                         f"{val_size}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    val = []
    for cls, share in zip(classes, _shares(counts, val_size), strict=True):
        members = np.flatnonzero(labels == cls)
        val.append(rng.permutation(members)[:share])
    val_index = np.sort(np.concatenate(val)) if val else np.empty(0, np.int64)
    keep = np.ones(len(labels), dtype=bool)
    keep[val_index] = False
    return np.flatnonzero(keep), val_index


def balanced_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of `size` images with the classes as equal as possible (the course's
    "training set size"), chosen at random with `seed`."""
    classes, counts = np.unique(labels, return_counts=True)
    if not 1 <= size <= len(labels):
        raise ValueError(f"training-set size must be between 1 and {len(labels)}, got {size}")
    rng = np.random.default_rng(seed)
    wanted = np.full(len(classes), size // len(classes))
    wanted[rng.permutation(len(classes))[: size % len(classes)]] += 1
    # a class with too few images gives what it has; the others make up the difference
    while (short := np.minimum(wanted, counts)).sum() < size:
        spare = counts > short
        missing = size - short.sum()
        wanted = short.copy()
        extra = _shares(spare.astype(np.int64), missing)
        wanted += extra
    chosen = [rng.permutation(np.flatnonzero(labels == cls))[:take]
              for cls, take in zip(classes, wanted, strict=True)]
    return np.sort(np.concatenate(chosen))


@dataclass
class Splits:
    """A dataset as a run sees it: uint8 images (N, C, H, W) and int64 labels per split."""

    spec: datasets.DatasetSpec
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]


def run_splits(dataset: str, val_size: int, seed: int, train_size: int | None = None,
               data_dir: str | None = None, classes: list[int] | None = None) -> Splits:
    """The training images less a stratified validation split of `val_size` (drawn with
    `seed`, so every command that reads the run draws the same one), optionally cut to a
    class-balanced `train_size`, and the official test set; of some `classes` only when
    given (see DatasetSpec.only)."""
    spec = datasets.get_spec(dataset).only(classes)
    loaded = datasets.load(spec, data_dir)
    images, labels = loaded["train"]
    train_index, val_index = stratified_split(labels, val_size, seed)
    if train_size is not None:
        if train_size > len(train_index):
            raise ValueError(f"train_size {train_size} is more than the {len(train_index)} "
                             f"training images left after a validation split of {val_size}")
        train_index = train_index[balanced_subset(labels[train_index], train_size, seed)]
    return Splits(spec, (images[train_index], labels[train_index]),
                  (images[val_index], labels[val_index]), loaded["test"])
