"""Morphing between faces: linear interpolation in w / w+, spherical interpolation in z."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from faceedit.errors import FaceEditError

SPACES = ("w", "z")


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the last axis (the norm is interpolated linearly, as for Gaussian z)."""
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(eps), b / nb.clamp_min(eps)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    small = so.abs() < 1e-5
    dir_ = torch.where(small, lerp(ua, ub, t), (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / so)
    return dir_ * lerp(na, nb, t)


def morph_times(steps: int, ease: bool = False) -> np.ndarray:
    """``steps`` times from 0 to 1 inclusive (smooth-step eased when ``ease``)."""
    if steps < 2:
        raise FaceEditError(f"a morph needs at least 2 frames, got {steps}")
    t = np.linspace(0.0, 1.0, int(steps))
    return t * t * (3 - 2 * t) if ease else t


def morph_latents(model, ws_a: torch.Tensor | None = None, ws_b: torch.Tensor | None = None, steps: int = 30,
                  space: str = "w", z_a: torch.Tensor | None = None, z_b: torch.Tensor | None = None,
                  truncation: float = 0.7, ease: bool = False) -> torch.Tensor:
    """w+ for every frame of a morph A → B: [steps, num_ws, w_dim].

    ``space="w"``: lerp between the w+ codes (``ws_a``, ``ws_b``); ``space="z"``: slerp between ``z_a`` and ``z_b``
    and map each frame with truncation ψ = ``truncation`` (only faces that came from seeds have a z)."""
    times = morph_times(steps, ease)
    if space == "w":
        if ws_a is None or ws_b is None:
            raise FaceEditError("a w morph needs both faces' w+ codes")
        a, b = model.as_ws(ws_a)[:1], model.as_ws(ws_b)[:1]
        t = torch.as_tensor(times, dtype=torch.float32, device=a.device)[:, None, None]
        return lerp(a, b, t)
    if space == "z":
        if z_a is None or z_b is None:
            raise FaceEditError("a z morph (slerp) needs faces given as seeds; latent files and photos have no z "
                                "(use --space w)")
        zs = torch.cat([slerp(z_a[:1], z_b[:1], float(t)) for t in times])
        return model.map(zs, truncation)
    raise FaceEditError(f"unknown morph space {space!r}: use w or z")


def morph_frames(model, ws: torch.Tensor, noise_mode: str = "const", batch_size: int = 8,
                 progress: bool = False) -> Iterator[np.ndarray]:
    """Render w+ frames to uint8 HxWx3 images, a batch at a time."""
    from faceedit.media import to_uint8

    starts = range(0, ws.shape[0], batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, total=len(starts), desc="morph frames", unit="batch")
    for i in starts:
        for img in to_uint8(model.synthesize(ws[i:i + batch_size], noise_mode=noise_mode, batch_size=batch_size)):
            yield img
