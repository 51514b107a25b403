"""Near-duplicate search (data.near_duplicates) on real Fashion-MNIST images: exact copies,
re-encoded, noised and shifted ones are found with the image they copy; other pictures of
the same kind of garment are not; colour images compare too."""

import io

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import datasets
from cnnlab.data.near_duplicates import NEAR, Index, shifted


@pytest.fixture(scope="module")
def images(fashion_mnist):
    """2,000 training images to search, and 100 others (from the test split) to search for."""
    splits = datasets.load(datasets.FASHION_MNIST, allow_download=False)
    return splits["train"][0][:2000], splits["test"][0][:100]


@pytest.fixture(scope="module")
def index(images):
    return Index(images[0])


def _jpeg(batch: np.ndarray, quality: int = 75) -> np.ndarray:
    out = []
    for image in batch[:, 0]:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        out.append(np.asarray(Image.open(io.BytesIO(buffer.getvalue()))))
    return np.stack(out)[:, None]


def test_exact_copies_are_exact_and_name_their_original(images, index):
    picked = np.arange(0, 2000, 40)
    found = index.matches(images[0][picked])
    assert found.exact.all() and found.near.all()
    assert (found.distance == 0).all()
    np.testing.assert_array_equal(found.nearest, picked)


@pytest.mark.parametrize("disguise", ["jpeg", "noise", "shift", "roll", "jpeg+shift"])
def test_disguised_copies_are_near_and_find_their_original(images, index, disguise):
    picked = np.arange(0, 2000, 20)
    batch = images[0][picked]
    rng = np.random.default_rng(1)
    copies = {
        "jpeg": lambda: _jpeg(batch),
        "noise": lambda: np.clip(batch + rng.normal(0, 6, batch.shape), 0, 255).astype(np.uint8),
        "shift": lambda: shifted(batch, 2, -1),
        "roll": lambda: np.roll(batch, (-1, 2), axis=(2, 3)),
        "jpeg+shift": lambda: shifted(_jpeg(batch), 1, 1),
    }[disguise]()
    found = index.matches(copies)
    assert not found.exact.any()  # not a pixel-exact copy any more
    assert found.near.mean() >= 0.9, np.sort(found.distance)[-15:]
    assert (found.nearest[found.near] == picked[found.near]).all()


def test_other_photos_are_not_copies(images, index):
    """The test split's pictures are other products: nearly all are far from every training
    image (the dataset has a few near-identical products, hence not all)."""
    found = index.matches(images[1])
    assert not found.exact.any()
    assert found.near.sum() <= 2 and np.median(found.distance) > 3 * NEAR


def test_colour_images_and_shapes(images):
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (50, 3, 32, 32), dtype=np.uint8)
    found = Index(colour).matches(np.ascontiguousarray(colour[::-1]))
    assert found.exact.all() and (found.nearest == np.arange(49, -1, -1)).all()
    with pytest.raises(ValueError, match=r"images of shape \(1, 28, 28\) cannot be compared "
                                         r"with images of shape \(3, 32, 32\)"):
        Index(colour).matches(images[1][:2])
