"""Perceptual path length (Karras et al., StyleGAN §4.1; the thesis's ch. 5): how smoothly the image changes along
short steps of a latent path.

    res = perceptual_path_length(model, distance, space="w", n=1000)     # distance: d(a, b) -> [N], e.g. VGG16's
    res.ppl            # mean of d(G(p(t)), G(p(t + ε))) / ε² over pairs, outside the 1st and 99th percentile
    res.per_pair       # [n] the scaled distances

Per pair: two latents z₁, z₂ ~ N(0, I), t ~ U(0, 1) (``sampling="full"``) or t ∈ {0, 1} (``"end"``); in ``"z"``
the path is the spherical interpolation slerp(z₁, z₂, ·) of the normalised z, mapped afterwards; in ``"w"`` the
linear interpolation of w₁ = f(z₁), w₂ = f(z₂) (no truncation, as the paper). The two images at t and t + ε are
cropped to the face (``crop``: the centre of an FFHQ-aligned face, as NVIDIA's metric does for FFHQ: rows 3/8–7/8,
columns 2/8–6/8) and compared with ``distance`` (the project uses its LPIPS-style VGG16 distance: no LPIPS-
calibrated weights are available offline, so figures are comparable between models here, not to published PPLs).
The constant noise is used for both images, so only the latent step changes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from faceedit.errors import FaceEditError
from faceedit.model import Model

PPL_SPACES = ("w", "z")
SAMPLINGS = ("full", "end")
Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class PPLResult:
    """``ppl``: the filtered mean; ``sem``: its standard error; ``per_pair`` [n]: d / ε² per pair; the settings it
    ran with."""

    ppl: float
    sem: float
    per_pair: np.ndarray
    space: str
    epsilon: float
    sampling: str
    crop: bool

    def as_dict(self) -> dict:
        return {"ppl": self.ppl, "sem": self.sem, "space": self.space, "epsilon": self.epsilon, "sampling": self.sampling,
                "crop": self.crop, "n": int(len(self.per_pair)), "median": float(np.median(self.per_pair))}


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the unit vectors of ``a`` and ``b`` [N, D] at ``t`` [N] (unit vectors out)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    d = (a * b).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    p = t[:, None] * torch.acos(d)
    c = b - d * a
    c = c / c.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    out = a * torch.cos(p) + c * torch.sin(p)
    return out / out.norm(dim=-1, keepdim=True)


def face_crop(images: torch.Tensor) -> torch.Tensor:
    """The face region of FFHQ-aligned images [N, C, H, W]: rows 3/8–7/8, columns 2/8–6/8 (NVIDIA's PPL crop)."""
    c = images.shape[-1] // 8
    return images[:, :, c * 3:c * 7, c * 2:c * 6]


def path_endpoints(model: Model, z1: torch.Tensor, z2: torch.Tensor, t: torch.Tensor, epsilon: float,
                   space: str) -> tuple[torch.Tensor, torch.Tensor]:
    """w+ [N, num_ws, w_dim] at t and at t + ε along the path of ``space`` between z₁ and z₂ [N, z_dim]."""
    G = model.G
    with torch.no_grad():
        if space == "z":
            za, zb = slerp(z1, z2, t), slerp(z1, z2, t + epsilon)
            return G.mapping(za), G.mapping(zb)
        w1, w2 = G.mapping(z1), G.mapping(z2)
        ta, tb = t[:, None, None], (t + epsilon)[:, None, None]
        return w1.lerp(w2, ta), w1.lerp(w2, tb)


def perceptual_path_length(model: Model, distance: Distance, space: str = "w", n: int = 1000,
                           epsilon: float = 1e-4, sampling: str = "end", crop: bool = True, batch_size: int = 16,
                           seed: int = 0, progress: bool = False) -> PPLResult:
    """PPL of ``model`` in ``space`` over ``n`` pairs (see the module doc). ``sampling``: ``"end"`` (t ∈ {0, 1},
    the paper's default for its tables) or ``"full"`` (t ~ U(0, 1))."""
    if space not in PPL_SPACES:
        raise FaceEditError(f"PPL space must be w or z, got {space!r}")
    if sampling not in SAMPLINGS:
        raise FaceEditError(f"PPL sampling must be full or end, got {sampling!r}")
    if not (np.isfinite(epsilon) and 0 < epsilon <= 0.1):
        raise FaceEditError(f"PPL epsilon must be in (0, 0.1], got {epsilon}")
    if not 2 <= n <= 1_000_000:
        raise FaceEditError(f"PPL needs 2 to 1,000,000 pairs, got {n}")
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, total=len(starts), desc=f"PPL in {space}", unit="batch")
    for i in starts:
        b = min(batch_size, n - i)
        z1 = torch.randn(b, model.z_dim, generator=gen).to(model.device)
        z2 = torch.randn(b, model.z_dim, generator=gen).to(model.device)
        t = torch.rand(b, generator=gen) if sampling == "full" else torch.randint(0, 2, (b,), generator=gen).float()
        t = (t * (1 - epsilon)).to(model.device)  # t + ε stays on the path
        wa, wb = path_endpoints(model, z1, z2, t, epsilon, space)
        img = model.synthesize(torch.cat([wa, wb]), batch_size=2 * b)
        if crop:
            img = face_crop(img)
        with torch.no_grad():
            d = distance(img[:b].to(model.device), img[b:].to(model.device)).reshape(b).float().cpu()
        out.append(d.numpy() / epsilon ** 2)
    per_pair = np.concatenate(out).astype(np.float64)
    lo, hi = np.percentile(per_pair, 1, method="lower"), np.percentile(per_pair, 99, method="higher")
    kept = per_pair[(per_pair >= lo) & (per_pair <= hi)]
    sem = float(kept.std(ddof=1) / np.sqrt(len(kept))) if len(kept) > 1 else float("nan")
    return PPLResult(float(kept.mean()), sem, per_pair, space, float(epsilon), sampling, crop)


__all__ = ["PPLResult", "PPL_SPACES", "SAMPLINGS", "face_crop", "path_endpoints", "perceptual_path_length", "slerp"]
