"""The hidden split of a task: the test set the teacher imported (leaderboard.imported_sets), or
else its dataset's official test set, cut by a fixed seed into a public half (ranked during
the course) and a private half (ranked after `reveal`). Only the verification child process
loads the labels; no answer of the service contains them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.data import datasets
from cnnlab.data.splits import stratified_split
from cnnlab.leaderboard.imported_sets import decoded


def hidden_split(dataset: str, seed: int, data_dir: str | None = None,
                 test_set: str | Path | None = None):
    """(uint8 images N x C x H x W, int64 labels, public index, private index); `test_set`
    is an imported set's .npz, as the database keeps it."""
    if test_set is not None:
        images, labels = decoded(Path(test_set).read_bytes())
    else:
        spec = datasets.get_spec(dataset)
        images, labels = datasets.load(spec, data_dir, allow_download=False)["test"]
    private, public = stratified_split(labels, len(labels) // 2, seed)
    return images, labels, np.sort(public), np.sort(private)
