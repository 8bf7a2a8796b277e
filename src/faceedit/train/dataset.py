"""Batches of the training images held in memory (uint8 [N, 3, R, R], from :func:`faceedit.data.images.load_images`):
random batches with x-flips, as float in [-1, 1]."""

from __future__ import annotations

import torch


def to_float(batch_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, R, R] → float32 in [-1, 1]."""
    return batch_u8.to(torch.float32) * (2 / 255) - 1


def sample_batch(images: torch.Tensor, batch: int, mirror: bool, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Random batch (with replacement) with random x-flips, float32 in [-1, 1] on ``device``."""
    idx = torch.randint(0, images.shape[0], (batch,), generator=generator)
    x = to_float(images[idx]).to(device, non_blocking=True)
    if mirror:
        flip = torch.rand(batch, generator=generator) < 0.5
        if flip.any():
            flip = flip.to(x.device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    return x
