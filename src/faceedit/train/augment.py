"""Every augmentation of the trainers, in one place. Images are [N, C, H, W] float in [-1, 1].

For the classifier, parser and encoder (seeded by the run's ``torch.Generator``, so a resumed run draws the same):
:func:`random_flip` (x-flips), :func:`random_affine` + :func:`warp` (zoom, rotation, shift; masks warped with
nearest sampling), :func:`colour_jitter` (brightness, contrast, saturation).

For the GAN: differentiable augmentation (DiffAugment, Zhao et al. 2020) for data-efficient training. The same
random policy is applied to real and generated images before the discriminator, and gradients flow through it to
the generator. Own implementation of the published recipe:

- ``color``: per-sample brightness (+U(-0.5, 0.5)), saturation (×U(0, 2) around the pixel mean over channels),
  contrast (×U(0.5, 1.5) around the image mean);
- ``translation``: per-sample integer shift of up to ``ratio`` (1/8) of the size, zero padded;
- ``cutout``: one zeroed square of ``ratio`` (1/2) of the size per sample at a random place.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from faceedit.errors import FaceEditError

POLICIES = ("color", "translation", "cutout")


# ------------------------------------------------------------------------------------------ classic, seeded
def random_flip(n: int, gen: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """bool [n]: which of ``n`` images to mirror (each with probability ``p``)."""
    return torch.rand(n, generator=gen) < p


def random_affine(n: int, gen: torch.Generator, scale: float = 0.06, rotate: float = 6.0, shift: float = 0.04,
                  flip: torch.Tensor | None = None) -> torch.Tensor:
    """``[n, 2, 3]`` theta for ``F.affine_grid``: random zoom ±scale, rotation ±rotate degrees, shift ±shift (as a
    fraction of the side), mirrored where ``flip``."""
    s = 1.0 + (torch.rand(n, generator=gen) * 2 - 1) * scale
    a = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(rotate)
    t = (torch.rand(n, 2, generator=gen) * 2 - 1) * shift * 2
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    theta[:, :, 2] = t
    if flip is not None:
        theta[flip, :, 0] *= -1
    return theta


def warp(x: torch.Tensor, theta: torch.Tensor, mask: torch.Tensor | None = None):
    """``x`` [N, C, H, W] warped by ``theta`` [N, 2, 3] (bilinear, reflected at the border); with ``mask``
    (long [N, H, W] class ids), also the mask (nearest). Returns ``x`` or ``(x, mask)``."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if mask is None:
        return out
    m = F.grid_sample(mask[:, None].float(), grid, mode="nearest", padding_mode="reflection",
                      align_corners=False)[:, 0].long()
    return out, m


def colour_jitter(x: torch.Tensor, gen: torch.Generator, strength: float = 0.1) -> torch.Tensor:
    """Brightness, contrast and saturation jitter (±strength) on float images in [-1, 1]."""
    n = x.shape[0]

    def r():
        return ((torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * strength).to(x.dtype)

    x = x + r() * 2
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + r()) + mean
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (1 + 2 * r()) + grey
    return x.clamp(-1, 1)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images resized to ``size``² (bilinear; antialiased when shrinking)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)


# ------------------------------------------------------------------------------------------ DiffAugment (GAN)


class PolicyError(FaceEditError, ValueError):
    """An unknown augmentation policy name (a user error, and a ValueError for callers that catch those)."""


def parse_policy(policy: str | None) -> tuple[str, ...]:
    """'color,translation,cutout' → tuple; '' / None / 'none' → ()."""
    if not policy or policy.strip().lower() == "none":
        return ()
    names = tuple(p.strip() for p in policy[:1000].split(",") if p.strip())
    for n in names:
        if n not in POLICIES:
            raise PolicyError(f"unknown DiffAugment policy {n[:40]!r} (choose from {', '.join(POLICIES)})")
    return names


def rand_brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)


def rand_saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean


def rand_contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


def rand_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dev = x.device
    ty = torch.randint(-sh, sh + 1, size=[n, 1, 1], device=dev)
    tx = torch.randint(-sw, sw + 1, size=[n, 1, 1], device=dev)
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
    # source index in the zero-padded image (padding 1 on each side)
    gy = torch.clamp(gy.unsqueeze(0) + ty + 1, 0, h + 1)
    gx = torch.clamp(gx.unsqueeze(0) + tx + 1, 0, w + 1)
    xp = F.pad(x, [1, 1, 1, 1])
    flat = xp.permute(0, 2, 3, 1)  # [N, H+2, W+2, C]
    bidx = torch.arange(n, device=dev).view(n, 1, 1)
    out = flat[bidx, gy, gx]  # [N, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def rand_cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dev = x.device
    oy = torch.randint(0, h + (1 - ch % 2), size=[n, 1, 1], device=dev)
    ox = torch.randint(0, w + (1 - cw % 2), size=[n, 1, 1], device=dev)
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
    y0 = oy - ch // 2
    x0 = ox - cw // 2
    inside = (gy.unsqueeze(0) >= y0) & (gy.unsqueeze(0) < y0 + ch) & (gx.unsqueeze(0) >= x0) & \
             (gx.unsqueeze(0) < x0 + cw)
    mask = (~inside).to(x.dtype).unsqueeze(1)
    return x * mask


_FUNCS = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...] | str = POLICIES, p: float = 1.0) -> torch.Tensor:
    """Apply the DiffAugment ``policy`` (tuple or comma-separated names) to a batch; identity if empty.

    ``p`` < 1: each transform is applied to each image with probability ``p`` (adaptive augmentation, ADA's
    scheme, with :class:`AdaptiveP` steering ``p``)."""
    if isinstance(policy, str):
        policy = parse_policy(policy)
    if p <= 0:
        return x
    for name in policy:
        for f in _FUNCS[name]:
            if p >= 1:
                x = f(x)
            else:
                keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= p
                x = torch.where(keep, x, f(x))
    return x


class AdaptiveP:
    """ADA's controller (Karras et al. 2020): every ``interval`` steps, r_t = E[sign(D(real))] over those steps;
    p moves up when r_t > ``target`` (D overfits the reals) and down otherwise, by batch·interval / (speed_kimg·1000)
    so that it can go from 0 to 1 in ``speed_kimg`` thousand images."""

    def __init__(self, target: float = 0.6, speed_kimg: float = 100.0, interval: int = 4, p: float = 0.0):
        self.target, self.speed_kimg, self.interval = float(target), float(speed_kimg), int(interval)
        self.p = float(p)
        self._signs: list[float] = []
        self.rt = float("nan")

    def observe(self, logits_real: torch.Tensor, batch: int) -> None:
        self._signs.append(torch.sign(logits_real.detach().float()).mean().item())
        if len(self._signs) >= self.interval:
            self.rt = sum(self._signs) / len(self._signs)
            step = batch * len(self._signs) / (self.speed_kimg * 1000)
            self.p = min(1.0, max(0.0, self.p + (step if self.rt > self.target else -step)))
            self._signs.clear()

    def state(self) -> dict:
        return {"p": self.p, "target": self.target, "speed_kimg": self.speed_kimg, "interval": self.interval}
