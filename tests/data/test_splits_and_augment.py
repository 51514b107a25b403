"""Stratified validation splits, balanced subsets, and batched augmentation."""

import numpy as np
import pytest
import torch

from cnnlab.data.augment import cutout, random_crop, random_flip
from cnnlab.data.splits import balanced_subset, stratified_split

LABELS = np.repeat(np.arange(10), [100, 90, 80, 70, 60, 50, 40, 30, 20, 10])


def test_stratified_split_keeps_class_proportions_and_is_seeded():
    train, val = stratified_split(LABELS, 110, seed=3)
    assert len(val) == 110 and len(train) == len(LABELS) - 110
    assert not set(train) & set(val)
    assert np.bincount(LABELS[val]).tolist() == [20, 18, 16, 14, 12, 10, 8, 6, 4, 2]
    again, _ = stratified_split(LABELS, 110, seed=3)[1], None
    np.testing.assert_array_equal(again, val)
    assert not np.array_equal(stratified_split(LABELS, 110, seed=4)[1], val)


def test_balanced_subset_takes_equal_classes_where_it_can():
    subset = balanced_subset(LABELS, 300, seed=0)
    counts = np.bincount(LABELS[subset])
    assert counts.sum() == 300 and len(set(subset)) == 300
    assert counts[-3:].tolist() == [30, 20, 10]  # the small classes give all they have
    assert counts[:7].max() - counts[:7].min() <= 1  # the others share the rest evenly
    assert np.bincount(LABELS[balanced_subset(LABELS, 50, seed=1)]).tolist() == [5] * 10
    with pytest.raises(ValueError, match="between 1 and 550"):
        balanced_subset(LABELS, 551, seed=0)


def _images(n=5):
    return torch.arange(n * 2 * 6 * 7, dtype=torch.int32).reshape(n, 2, 6, 7).to(torch.uint8)


def test_random_crop_is_a_shifted_window_of_the_zero_padded_image():
    images = _images()
    out = random_crop(images, 2, torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    top = torch.randint(0, 5, (5,), generator=generator)
    left = torch.randint(0, 5, (5,), generator=generator)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(5):  # the reference crops one image at a time
        expected = padded[i, :, top[i] : top[i] + 6, left[i] : left[i] + 7]
        assert torch.equal(out[i], expected)


def test_flip_mirrors_exactly_the_drawn_images():
    images = _images(64)
    out = random_flip(images, torch.Generator().manual_seed(1))
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 16 < sum(flipped) < 48


def test_cutout_zeroes_one_clipped_square_per_image():
    images = torch.full((50, 3, 8, 8), 255, dtype=torch.uint8)
    out = cutout(images, 4, torch.Generator().manual_seed(2))
    holes = out[:, 0] == 0
    assert all(torch.equal(out[i, 0] == 0, out[i, 2] == 0) for i in range(50))  # all channels
    for hole in holes:
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert len(rows) <= 4 and len(cols) <= 4 and hole.sum() == len(rows) * len(cols)
    assert (holes.sum(dim=(1, 2)) == 16).sum() > 10  # most squares lie wholly inside


def test_augmentation_is_reproducible_from_the_seed():
    images = _images(16)
    a = random_crop(random_flip(images, torch.Generator().manual_seed(5)), 1,
                    torch.Generator().manual_seed(6))
    b = random_crop(random_flip(images, torch.Generator().manual_seed(5)), 1,
                    torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
