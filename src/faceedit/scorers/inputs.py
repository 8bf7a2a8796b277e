"""Image batches into the project's scorer networks (attribute classifier, face parser)."""

from __future__ import annotations

import torch

from faceedit.errors import FaceEditError


def to_model_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """Check an image batch ``[N, 3, H, W]`` (float, [-1, 1]) and resize it to ``size``² (antialiased when
    shrinking; differentiable)."""
    if not torch.is_tensor(x) or x.ndim != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise FaceEditError(f"expected an image batch [N, 3, H, W], got {shape}")
    if not x.is_floating_point():
        raise FaceEditError("expected float images in [-1, 1] (got an integer tensor)")
    if x.shape[-2:] != (size, size):
        shrink = x.shape[-1] > size or x.shape[-2] > size
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                            antialias=shrink)
    return x
