"""Whether a test set a teacher imports is really hidden: its images compared with every public
split of its dataset (the official training and test images, whose labels every student
has), by exact pixels and as near copies (re-encoded, shifted, noised: data.near_duplicates).

A set of which more than `MAX_PUBLIC_SHARE` of the images are public is refused, unless the
teacher accepts it as public; a few matches are expected of honest new photos (Fashion-MNIST's
own test set has 28 of 10,000 images within the near-copy distance of its training set) and
are reported, not refused."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from cnnlab.data import datasets
from cnnlab.data.near_duplicates import NEAR, Index
from cnnlab.leaderboard.imported_sets import HiddenTestSet

MAX_PUBLIC_SHARE = 0.01


@dataclass(frozen=True)
class Overlap:
    dataset: str
    images: int  # in the imported set
    exact: dict[str, int]  # per public split: images with the same pixels as one of it
    near: dict[str, int]  # per public split: near copies (not exact) of one of its images
    public: int  # images that are exact or near copies of some public image

    @property
    def share(self) -> float:
        return self.public / self.images

    @property
    def too_public(self) -> bool:
        return self.share > MAX_PUBLIC_SHARE

    def describe(self) -> str:
        if not self.public:
            return (f"none of its {self.images:,} images is one of {self.dataset}'s public "
                    "images, or a near copy of one")
        parts = [f"{self.exact[split]:,} the same pixels and {self.near[split]:,} near copies "
                 f"of {split} images" for split in self.exact
                 if self.exact[split] or self.near[split]]
        return (f"{self.public:,} of its {self.images:,} images ({100 * self.share:.1f}%) are "
                f"{self.dataset}'s public images: " + "; ".join(parts) +
                f" (near: within {NEAR:g} grey levels RMS, shifted up to 2 pixels)")


@functools.lru_cache(maxsize=2)
def _public_index(dataset: str, data_dir: str | None) -> dict[str, Index]:
    """The dataset's public splits prepared for search (kept: a test run adds many tasks)."""
    spec = datasets.get_spec(dataset)
    return {split: Index(images)
            for split, (images, _labels) in datasets.load(spec, data_dir,
                                                          allow_download=False).items()}


def public_overlap(test_set: HiddenTestSet, dataset: str,
                   data_dir: str | None = None) -> Overlap:
    """How many of the set's images are public ones; a FileNotFoundError (naming the files)
    when this machine does not have the dataset's public images to compare with."""
    exact, near, public = {}, {}, np.zeros(len(test_set.labels), dtype=bool)
    for split, index in _public_index(dataset, data_dir).items():
        found = index.matches(test_set.images)
        exact[split] = int(found.exact.sum())
        near[split] = int((found.near & ~found.exact).sum())
        public |= found.near
    return Overlap(dataset, len(test_set.labels), exact, near, int(public.sum()))
