"""Image checks and conversions for style transfer: uint8 ``H×W×3`` arrays ↔ float tensors in [-1, 1], sizes.

Every array a user hands over is checked here first: it must be an RGB ``H×W×3`` uint8 image (a 2-D grayscale
array, a single channel or RGBA is refused with the reason), at least :data:`MIN_SIDE` px on each side and at most
:data:`MAX_PIXELS` pixels; working sizes are capped by :data:`MAX_SIDE_GATYS` / :data:`MAX_SIDE_FAST`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from faceedit.errors import FaceEditError

#: Smallest side (px) of a content or style image: VGG halves it four times before relu5_1.
MIN_SIDE = 16
#: Largest image (pixels) read for stylisation, before resizing (64 MP, the project's decoding cap).
MAX_PIXELS = 64_000_000
#: Largest working side (px) of the Gatys optimisation (each step is a VGG forward and backward at that size).
MAX_SIDE_GATYS = 2048
#: Largest working side (px) of the fast (feed-forward) method.
MAX_SIDE_FAST = 4096


def check_rgb(img, what: str = "the image") -> np.ndarray:
    """``img`` as a C-contiguous ``H×W×3`` uint8 array, or a one-line :class:`FaceEditError` saying what it is."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise FaceEditError(f"{what} must be a uint8 RGB image (H×W×3), got dtype {a.dtype}")
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        raise FaceEditError(f"{what} is grayscale ({a.shape[1]}x{a.shape[0]}, one channel): style transfer needs an "
                            "RGB image (convert it, e.g. np.repeat(img[..., None], 3, axis=2))")
    if a.ndim != 3 or a.shape[2] != 3:
        raise FaceEditError(f"{what} must be an RGB image H×W×3, got shape {a.shape}")
    h, w = a.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise FaceEditError(f"{what} is too small: {w}x{h} px (style transfer needs at least {MIN_SIDE} px a side)")
    if h * w > MAX_PIXELS:
        raise FaceEditError(f"{what} is too large: {w}x{h} = {h * w:,} pixels (at most {MAX_PIXELS:,})")
    return np.ascontiguousarray(a)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 ``H×W×3`` → float ``[1, 3, H, W]`` in [-1, 1]."""
    x = torch.from_numpy(np.array(img, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None]
    return x.float().contiguous() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float ``[1, 3, H, W]`` (or ``[3, H, W]``) in [-1, 1] → uint8 ``H×W×3`` (rounded, clipped)."""
    x = x.detach().float().cpu()
    if x.ndim == 4:
        x = x[0]
    if not bool(torch.isfinite(x).all()):
        raise FaceEditError("style transfer produced NaN or infinite pixels (no image written)")
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def working_shape(h: int, w: int, size: int | None, cap: int, name: str = "--size") -> tuple[int, int]:
    """``(H', W')`` with the long side ``size`` (None: the image's own, capped at ``cap``), aspect kept, each side at
    least :data:`MIN_SIDE`."""
    if size is not None:
        if not MIN_SIDE <= int(size) <= cap:
            raise FaceEditError(f"{name} must be from {MIN_SIDE} to {cap} px, got {size}")
        long_side = int(size)
    else:
        long_side = min(max(h, w), cap)
    scale = long_side / max(h, w)
    hh, ww = max(MIN_SIDE, int(round(h * scale))), max(MIN_SIDE, int(round(w * scale)))
    return hh, ww


def resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``[N, C, H, W]`` to ``hw`` (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    shrink = hw[0] < x.shape[-2] or hw[1] < x.shape[-1]
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=shrink)
