"""Rotations: Rodrigues' formula (batched, differentiable), random rotations, and the closed-form rigid fit
(Kabsch / Umeyama) used by refinement and as the head-pose baseline.

Convention everywhere: a transform (R, t) maps a point p to ``R @ p + t``; clouds are row-major ``[..., N, 3]``,
so a cloud moves as ``P @ R.T + t``.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def skew(axis: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices of vectors ``[..., 3]`` → ``[..., 3, 3]``."""
    x, y, z = axis.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([torch.stack([o, -z, y], -1), torch.stack([z, o, -x], -1), torch.stack([-y, x, o], -1)], -2)


def rodrigues(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``[..., 3, 3]`` from unit axes ``[..., 3]`` and angles ``[...]`` (radians):
    R = I + sin θ K + (1 − cos θ) K², K the cross-product matrix of the axis. Always a proper rotation when the
    axis has unit length, whatever θ."""
    k = skew(axis)
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device).expand(k.shape)
    s, c = torch.sin(angle)[..., None, None], torch.cos(angle)[..., None, None]
    return eye + s * k + (1 - c) * (k @ k)


def axis_angle_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    """One rotation ``[3, 3]`` (float64) from an axis (any length > 0) and an angle in radians."""
    a = torch.as_tensor(np.asarray(axis, dtype=np.float64))
    return rodrigues(a / a.norm(), torch.tensor(float(angle), dtype=torch.float64)).numpy()


def random_rotation(rng: np.random.Generator, max_angle_deg: float = 180.0) -> np.ndarray:
    """A rotation ``[3, 3]`` about a uniformly random axis by an angle uniform in [0, ``max_angle_deg``]."""
    axis = rng.normal(size=3)
    return axis_angle_matrix(axis, math.radians(rng.uniform(0.0, max_angle_deg)))


def rotation_angle_deg(r: np.ndarray | torch.Tensor) -> np.ndarray:
    """Rotation angles of matrices ``[..., 3, 3]`` in degrees, from the trace (clipped to the valid range)."""
    r = np.asarray(r, dtype=np.float64)
    tr = np.trace(r, axis1=-2, axis2=-1)
    return np.degrees(np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0)))


def kabsch(p: torch.Tensor, q: torch.Tensor, weights: torch.Tensor | None = None,
           scale: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Closed-form least-squares fit of matched points (Kabsch; Umeyama with ``scale``), batched.

    ``p``, ``q``: ``[..., N, 3]`` with row i of p matched to row i of q; ``weights``: ``[..., N]`` ≥ 0 (0 drops a
    match). Returns ``R`` ``[..., 3, 3]`` (det +1), ``t`` ``[..., 3]`` and ``s`` ``[...]`` minimising
    Σ w‖s R p + t − q‖² (``s`` = 1 unless ``scale``)."""
    if weights is None:
        weights = torch.ones(p.shape[:-1], dtype=p.dtype, device=p.device)
    w = weights / weights.sum(-1, keepdim=True).clamp_min(1e-12)
    cp = (w[..., None] * p).sum(-2)
    cq = (w[..., None] * q).sum(-2)
    p0, q0 = p - cp[..., None, :], q - cq[..., None, :]
    cov = (w[..., None] * q0).transpose(-1, -2) @ p0  # [..., 3, 3] = Σ w q pᵀ
    u, sv, vt = torch.linalg.svd(cov)
    d = torch.sign(torch.det(u @ vt))
    d = torch.where(d == 0, torch.ones_like(d), d)
    fix = torch.ones(d.shape + (3,), dtype=p.dtype, device=p.device)
    fix[..., 2] = d
    r = u @ (fix[..., :, None] * vt)
    if scale:
        var = (w * (p0 ** 2).sum(-1)).sum(-1).clamp_min(1e-12)
        s = (sv * fix).sum(-1) / var
    else:
        s = torch.ones(p.shape[:-2], dtype=p.dtype, device=p.device)
    t = cq - s[..., None] * (r @ cp[..., :, None])[..., 0]
    return r, t, s
