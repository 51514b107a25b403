"""What add-task's borrowed-test-set check catches, measured on Fashion-MNIST (issue 35,
point 4).

Prints, for sets built from the public images (each disguised one way), how many images are
found to be public (exact pixels or near copies: data.near_duplicates) and whether add-task
would refuse the set (more than leaderboard.public_overlap.MAX_PUBLIC_SHARE public); and, as
the honest baseline, the official test set against the training set: two sets of different
photos, whose few matches are the dataset's own near-identical products.

    .venv/bin/python benchmarks/borrowed_test_sets.py [--images 2000]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image

from cnnlab.data import datasets
from cnnlab.data.near_duplicates import NEAR, Index, shifted  # zeros come in, as padding
from cnnlab.leaderboard.public_overlap import MAX_PUBLIC_SHARE


def jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    out = []
    for image in images[:, 0]:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        out.append(np.asarray(Image.open(io.BytesIO(buffer.getvalue()))))
    return np.stack(out)[:, None]


def disguises(images: np.ndarray, rng) -> dict[str, np.ndarray]:
    noisy = images + rng.normal(0, 8, images.shape)
    return {
        "exact copies": images,
        "JPEG quality 75": jpeg(images, 75),
        "JPEG quality 30": jpeg(images, 30),
        "Gaussian noise, sigma 8": np.clip(noisy, 0, 255).round().astype(np.uint8),
        "0.9 x contrast + 20": np.clip(images * 0.9 + 20, 0, 255).round().astype(np.uint8),
        "shifted 1 down, 2 left": shifted(images, 1, -2),
        "shifted 2 down, 2 right": shifted(images, 2, 2),
        "rolled 2 up, 2 right (wrapping)": np.roll(images, (-2, 2), axis=(2, 3)),
        "JPEG 75 and shifted 1, 1": shifted(jpeg(images, 75), 1, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="per disguised set")
    args = parser.parse_args()
    splits = datasets.load(datasets.FASHION_MNIST, allow_download=False)
    train, test = splits["train"][0], splits["test"][0]
    start = time.perf_counter()
    index = Index(train)
    print(f"Fashion-MNIST: {len(train):,} training images indexed in "
          f"{time.perf_counter() - start:.1f} s; near: within {NEAR:g} grey levels RMS at the "
          f"best shift; a set is refused above {100 * MAX_PUBLIC_SHARE:g}% public")
    print(f"{'set, against the training images':<44} {'images':>7} {'found':>7} {'share':>7} "
          f"{'refused':>8} {'seconds':>8}")
    rng = np.random.default_rng(0)
    picked = train[rng.choice(len(train), args.images, replace=False)]
    rows = disguises(picked, rng)
    rows["honest: the official test set"] = test
    for name, images in rows.items():
        start = time.perf_counter()
        found = int(index.matches(images).near.sum())
        seconds = time.perf_counter() - start
        share = found / len(images)
        print(f"{name:<44} {len(images):>7,} {found:>7,} {share:>7.1%} "
              f"{'yes' if share > MAX_PUBLIC_SHARE else 'no':>8} {seconds:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
