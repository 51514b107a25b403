"""Augmentation on whole batches of uint8 image tensors (N, C, H, W): random crop with zero
padding, horizontal flip and cutout. Each op draws all its random numbers at once from the
given torch.Generator, so runs are reproducible and no Python loop runs per image.

The images may live on any device (a GPU's batches never leave it); the generator stays on
the CPU and only the few numbers it draws per batch travel, so a run draws the same numbers,
and resumes the same way, whatever its device."""

from __future__ import annotations

import torch


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Pad by `padding` zeros on every side, then cut each image back at a random offset."""
    if padding <= 0:
        return images
    n, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    device = images.device
    top = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(device)
    left = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(device)
    rows = (top[:, None] + torch.arange(h, device=device))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w, device=device))[:, None, None, :]
    return padded[torch.arange(n, device=device)[:, None, None, None],
                  torch.arange(c, device=device)[None, :, None, None], rows, cols]


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = (torch.rand(len(images), generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def cutout(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a `size` x `size` square at a random centre of each image (DeVries & Taylor 2017);
    near a border the square is clipped."""
    if size <= 0:
        return images
    n, _, h, w = images.shape
    device = images.device
    centre_y = torch.randint(0, h, (n,), generator=generator).to(device)[:, None]
    centre_x = torch.randint(0, w, (n,), generator=generator).to(device)[:, None]
    start_y, start_x = centre_y - size // 2, centre_x - size // 2
    ys, xs = torch.arange(h, device=device)[None], torch.arange(w, device=device)[None]
    inside_y = (ys >= start_y) & (ys < start_y + size)
    inside_x = (xs >= start_x) & (xs < start_x + size)
    hole = inside_y[:, None, :, None] & inside_x[:, None, None, :]
    return images.masked_fill(hole, 0)


def augment(images: torch.Tensor, generator: torch.Generator, crop_padding: int = 0,
            flip: bool = False, cutout_size: int = 0) -> torch.Tensor:
    images = random_crop(images, crop_padding, generator)
    if flip:
        images = random_flip(images, generator)
    return cutout(images, cutout_size, generator)
