"""Which images of one set are copies of images of another: the same pixels, or the same
picture re-encoded, shifted, noised or brightened (what a set borrowed from a public dataset
looks like after a careless or a clever pass over it).

Two steps, as near-duplicate search usually goes. Retrieval: each image is averaged over 4x4
blocks, and the `CANDIDATES` images of the other set nearest to that coarse picture, at the
image's best shift up to `MAX_SHIFT` pixels, are kept. Verification: each
candidate is compared with the image at every shift up to `MAX_SHIFT` pixels, over the
interior that every shift keeps, after removing each one's mean brightness; the distance is
the root mean square of the pixel differences (0 to 255) at the best shift.

What the threshold means, measured on Fashion-MNIST (benchmarks/borrowed_test_sets.py, 2,000
training images disguised each way, searched among the 60,000): its official test set, other
photos of the same kinds of products, has 28 of 10,000 images (0.3%) within `NEAR` of a
training image (the dataset's own near-identical products); exact copies, JPEG at quality 75
and Gaussian noise of 8 grey levels are found 100%, shifts of one or two pixels 93.5-100%
(wrapping ones 98.5%), a contrast change of 0.9x + 20 77.5%, and JPEG at quality 30 9.2%.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

NEAR = 10.0  # RMS grey levels (of 255): at or below it two images are one picture
MAX_SHIFT = 2  # pixels, each way, tried at verification
CANDIDATES = 32  # nearest by the coarse picture, verified one by one
BLOCK = 4  # the coarse picture's block, in pixels
CHUNK = 256  # images searched at once (bounds memory: CHUNK x the other set's size)
SHIFTS = [(dy, dx) for dy in range(-MAX_SHIFT, MAX_SHIFT + 1)
          for dx in range(-MAX_SHIFT, MAX_SHIFT + 1)]


@dataclass(frozen=True)
class Matches:
    exact: np.ndarray  # bool (N,): the same pixels as some image of the other set
    distance: np.ndarray  # float (N,): RMS difference from the nearest, at its best shift
    nearest: np.ndarray  # int (N,): that image's index in the other set

    @property
    def near(self) -> np.ndarray:
        return self.exact | (self.distance <= NEAR)


def pixel_digests(images: np.ndarray) -> list[bytes]:
    """One digest per image of its exact pixels."""
    return [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in images]


def _grey(images: np.ndarray) -> np.ndarray:
    """(N, H, W) float32 from uint8 (N, C, H, W): the channels' mean."""
    return images.astype(np.float32).mean(axis=1)


def shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Moved down by dy and right by dx (negative: up, left), zeros coming in."""
    out = np.zeros_like(images)
    height, width = images.shape[-2:]
    out[..., max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        images[..., max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return out


def _coarse(grey: np.ndarray) -> np.ndarray:
    """(N, D): each image averaged over BLOCK x BLOCK blocks."""
    count, height, width = grey.shape
    rows, cols = height // BLOCK, width // BLOCK
    blocks = grey[:, :rows * BLOCK, :cols * BLOCK].reshape(count, rows, BLOCK, cols, BLOCK)
    return blocks.mean(axis=(2, 4)).reshape(count, -1)


def _candidates(queries: np.ndarray, base: np.ndarray) -> np.ndarray:
    """(N, CANDIDATES): the indices in `base` (coarse pictures) of the images nearest to each
    query (N, H, W) by the coarse picture, at the query's best shift."""
    keep = min(CANDIDATES, len(base))
    squared = (base ** 2).sum(axis=1)
    out = np.empty((len(queries), keep), dtype=np.int64)
    for start in range(0, len(queries), CHUNK):
        part = queries[start:start + CHUNK]
        nearest = np.full((len(part), len(base)), np.inf, dtype=np.float32)
        for dy, dx in SHIFTS:
            coarse = _coarse(shifted(part, dy, dx))
            distance = squared[None] - 2 * coarse @ base.T
            distance += (coarse ** 2).sum(axis=1, keepdims=True)  # a shift changes it
            np.minimum(nearest, distance, out=nearest)
        out[start:start + CHUNK] = np.argpartition(nearest, keep - 1, axis=1)[:, :keep] \
            if keep < len(base) else np.argsort(nearest, axis=1)
    return out


def _best_distance(queries: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, which candidate) of each query (N, H, W) to its candidates (N, K, H, W):
    the smallest RMS difference over every shift, on the interior every shift keeps, each
    image's mean brightness removed."""
    height, width = queries.shape[1:]
    inner = (slice(MAX_SHIFT, height - MAX_SHIFT), slice(MAX_SHIFT, width - MAX_SHIFT))
    theirs = candidates[(..., *inner)]
    theirs = theirs - theirs.mean(axis=(2, 3), keepdims=True)
    best = np.full(queries.shape[:1], np.inf, dtype=np.float32)
    which = np.zeros(queries.shape[:1], dtype=np.int64)
    for dy, dx in SHIFTS:
        ours = shifted(queries, dy, dx)[(slice(None), None, *inner)]
        ours = ours - ours.mean(axis=(2, 3), keepdims=True)
        rms = np.sqrt(((ours - theirs) ** 2).mean(axis=(2, 3)))
        closer = rms.min(axis=1) < best
        best = np.where(closer, rms.min(axis=1), best)
        which = np.where(closer, rms.argmin(axis=1), which)
    return best, which


class Index:
    """A set of uint8 images (N, C, H, W) prepared to be searched for copies."""

    def __init__(self, images: np.ndarray):
        self.images = images
        self.grey = _grey(images)
        self.coarse = _coarse(self.grey)
        self.digests = {digest: index for index, digest in enumerate(pixel_digests(images))}

    def matches(self, images: np.ndarray) -> Matches:
        """For each of `images` (the same shape as the index's), its nearest image here."""
        if images.shape[1:] != self.images.shape[1:]:
            raise ValueError(f"images of shape {images.shape[1:]} cannot be compared with "
                             f"images of shape {self.images.shape[1:]}")
        digests = pixel_digests(images)
        exact = np.array([digest in self.digests for digest in digests], dtype=bool)
        grey = _grey(images)
        candidates = _candidates(grey, self.coarse)
        distance = np.empty(len(images), dtype=np.float32)
        nearest = np.empty(len(images), dtype=np.int64)
        for start in range(0, len(images), CHUNK):
            part = slice(start, start + CHUNK)
            best, which = _best_distance(grey[part], self.grey[candidates[part]])
            distance[part] = best
            nearest[part] = candidates[part][np.arange(len(best)), which]
        for index, digest in enumerate(digests):
            if exact[index]:
                distance[index], nearest[index] = 0.0, self.digests[digest]
        return Matches(exact, distance, nearest)
