"""Image2StyleGAN++'s local embedding (Abdal et al. 2020): inversion where only some pixels count, for inpainting
(fill a hole from the generator) and crossover by mask (face B's region in face A).

    filled = inpaint(model, images, holes, steps=300)          # images [N, 3, H, W] in [-1, 1], holes [N, 1, H, W]
    filled.images                                              # [N, 3, H, W]: known pixels kept, holes filled
    mixed = crossover_by_mask(model, a, b, region, steps=300)  # A outside the region, B inside it

Both run the optimiser of :mod:`faceedit.invert.optimize` with its masked loss (MSE over the mask's weight and
the perceptual distance of the masked images). A mask is 1 where the pixel counts (or, for a hole, where it is
missing), 0 elsewhere; soft values weigh pixels in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from faceedit.errors import FaceEditError
from faceedit.invert.optimize import as_images, as_mask, optimize_latents
from faceedit.model import Model

#: Default optimisation steps of inpainting and crossover by mask.
MASKED_STEPS = 300


@dataclass
class MaskedResult:
    """``ws`` [N, num_ws, w_dim]; ``generated`` [N, 3, R, R]: the generator's image of ``ws``; ``images``
    [N, 3, H, W] at the input's size: the blend of the inputs and ``generated`` (inpainting: the known pixels
    kept and the holes filled; crossover: A outside the region, B's region drawn by the generator)."""

    ws: torch.Tensor
    generated: torch.Tensor
    images: torch.Tensor
    losses: dict[str, torch.Tensor]
    seconds: float


def read_mask(path: str | Path, size: int | None = None) -> torch.Tensor:
    """A square mask image in the aligned-face frame (white = 1; grey soft; alpha used when present) → float32
    [1, 1, H, W] in [0, 1], resized to ``size`` × ``size`` when given; an empty mask is an error (the reader of
    the channel commands' ``--mask``, :func:`faceedit.edit.scoring.load_mask`)."""
    from faceedit.edit.scoring import load_mask

    return load_mask(path, size)[None, None]


def _at_size(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=x.shape[-1] > size[-1])


def blend(base: torch.Tensor, generated: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """``base`` [N, 3, H, W] with ``generated`` (any square size, resized to H × W) where ``region`` [N or 1, 1,
    ·, ·] is 1: ``base · (1 − region) + generated · region``."""
    size = tuple(base.shape[-2:])
    g = _at_size(generated.to(base.device, base.dtype), size)
    r = _at_size(region.to(base.device, base.dtype), size).clamp(0, 1)
    return base * (1 - r) + g * r


def _check_pair(images: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 3:
        raise FaceEditError(f"images must be [N, 3, H, W] in [-1, 1], got {list(x.shape)}")
    x = x.float() / 127.5 - 1.0 if x.dtype == torch.uint8 else x.float()
    m = torch.as_tensor(mask).float()
    while m.ndim < 4:
        m = m[None]
    if m.shape[1] != 1 or m.shape[0] not in (1, x.shape[0]):
        raise FaceEditError(f"the mask must be [H, W] or [N, 1, H, W] for {x.shape[0]} image(s), got "
                            f"{list(m.shape)}")
    return x, m.clamp(0, 1)


def inpaint(model: Model, images: torch.Tensor, holes: torch.Tensor, steps: int = MASKED_STEPS,
            perceptual=None, progress=None, seed: int = 0, **settings) -> MaskedResult:
    """Fill ``holes`` ([N or 1, 1, H, W], 1 = missing) of aligned faces ``images`` ([N, 3, H, W] in [-1, 1] or
    uint8) from the generator: invert the known pixels only (w+, ``steps`` Adam steps, ``perceptual``: a
    distance or None for MSE only), then paste the generator's image into the holes."""
    x, holes = _check_pair(images, holes)
    known = 1 - as_mask(model, holes, x.shape[0]) if bool((holes > 0).any()) else None
    if known is not None and bool((known.flatten(1).sum(1) <= 1e-6).any()):
        raise FaceEditError("the hole covers the whole face: nothing is left to invert")
    res = optimize_latents(model, x, steps=steps, perceptual=perceptual, progress=progress, seed=seed, mask=known,
                           **settings)
    gen = model.synthesize(res.ws)
    return MaskedResult(ws=res.ws, generated=gen, images=blend(x, gen, holes), losses=res.losses,
                        seconds=res.seconds)


def crossover_by_mask(model: Model, a: torch.Tensor, b: torch.Tensor, region: torch.Tensor,
                      steps: int = MASKED_STEPS, init_ws: torch.Tensor | None = None, perceptual=None, progress=None,
                      seed: int = 0, **settings) -> MaskedResult:
    """Face B's ``region`` ([N or 1, 1, H, W], 1 = from B) in face A (both [N, 3, H, W] in [-1, 1] or uint8,
    aligned): one w+ optimised with two masked targets (A outside the region, B inside it), from ``init_ws``
    (e.g. A's code) or the average face. ``images``: the generator's result (its own blend of the two)."""
    x_a, region = _check_pair(a, region)
    x_b, _ = _check_pair(b, region)
    n = x_a.shape[0]
    inside = as_mask(model, region, n)
    outside = 1 - inside
    if bool((outside.flatten(1).sum(1) <= 1e-6).any()):
        raise FaceEditError("the region covers the whole face: nothing of face A is left")
    x_b = as_images(model, x_b)
    res = optimize_latents(model, x_a, steps=steps, init_ws=init_ws, perceptual=perceptual, progress=progress,
                           seed=seed, mask=outside, second=(x_b, inside), **settings)
    gen = model.synthesize(res.ws)
    return MaskedResult(ws=res.ws, generated=gen, images=gen, losses=res.losses, seconds=res.seconds)


def psnr_in_mask(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image [N] of ``a`` against ``b`` ([N, 3, H, W] in [-1, 1]) over the pixels where ``mask``
    ([N or 1, 1, H, W]) is 1 (weighted by soft values)."""
    m = _at_size(mask.float(), tuple(a.shape[-2:])).expand(a.shape[0], 1, -1, -1)
    err = ((a.float() - b.float()).square() * m).flatten(1).sum(1) / (3 * m.flatten(1).sum(1)).clamp_min(1e-8)
    return 10 * torch.log10(4.0 / err.clamp_min(1e-10))


__all__ = ["MASKED_STEPS", "MaskedResult", "blend", "crossover_by_mask", "inpaint", "psnr_in_mask", "read_mask"]
