"""Chamfer distances between batches of point clouds: the full one, the α-fraction local one (partial overlap)
and the ones of the clouds projected on the coordinate planes (global shape), as HOUV's hybrid loss uses them.

Shapes: ``p`` ``[..., N, D]`` and ``q`` ``[..., M, D]`` with batch dimensions that broadcast (many groups of one
pair share one ``q``), optional boolean masks ``[..., N]`` / ``[..., M]`` marking real (not padding) points.
Nearest neighbours are searched without autograd (chunked, so memory stays bounded) and the distances of the
matched pairs are recomputed with autograd: the same gradient as differentiating the minimum, at a fraction of
the memory.

Distances are Euclidean (not squared) by default: a partial overlap leaves points with no true partner, and the
unsquared distance lets them pull less.
"""

from __future__ import annotations

import math

import torch

#: Elements of one distance-matrix chunk in the neighbour search (float32: 4 bytes each).
CHUNK_ELEMENTS = 1 << 25
PLANES = {"xy": (0, 1), "yz": (1, 2), "xz": (0, 2)}


def _useful(mask: torch.Tensor | None) -> torch.Tensor | None:
    """``mask`` unless it keeps every point (then ``None``: no masking work)."""
    return None if mask is None or bool(mask.all()) else mask


def _sqdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distances ``[K, N, M]`` of ``a`` ``[K, N, D]`` and ``b`` ``[K, M, D]`` (for neighbour search: one
    fused multiply-add and one in-place add; tiny negative values from rounding are left as they are)."""
    bb = (b * b).sum(-1)[:, None, :]
    return torch.baddbmm(bb, a, b.transpose(1, 2), alpha=-2.0).add_((a * a).sum(-1)[:, :, None])


@torch.no_grad()
def nearest_indices(p: torch.Tensor, q: torch.Tensor, mask_p: torch.Tensor | None = None,
                    mask_q: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of each point's nearest neighbour in the other cloud: ``[..., N]`` into q and ``[..., M]`` into p
    (batch dimensions broadcast; masked-out points are never chosen)."""
    mask_p, mask_q = _useful(mask_p), _useful(mask_q)
    batch = torch.broadcast_shapes(p.shape[:-2], q.shape[:-2])
    n, m = p.shape[-2], q.shape[-2]
    pb = p.expand(batch + p.shape[-2:]).reshape(-1, n, p.shape[-1])
    qb = q.expand(batch + q.shape[-2:]).reshape(-1, m, q.shape[-1])
    mp = None if mask_p is None else mask_p.expand(batch + (n,)).reshape(-1, n)
    mq = None if mask_q is None else mask_q.expand(batch + (m,)).reshape(-1, m)
    step = max(1, CHUNK_ELEMENTS // max(1, n * m))
    ip, iq = [], []
    for s in range(0, pb.shape[0], step):
        d = _sqdist(pb[s:s + step], qb[s:s + step])
        if mq is not None:
            d = d.masked_fill(~mq[s:s + step, None, :], math.inf)
        ip.append(d.argmin(-1))
        if mp is not None:
            d = d.masked_fill(~mp[s:s + step, :, None], math.inf)
        iq.append(d.argmin(-2))
    return torch.cat(ip).reshape(batch + (n,)), torch.cat(iq).reshape(batch + (m,))


def _gather(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``points[..., idx, :]`` with broadcast batch dimensions: ``[..., K, D]``."""
    batch = torch.broadcast_shapes(points.shape[:-2], idx.shape[:-1])
    pts = points.expand(batch + points.shape[-2:])
    idx = idx.expand(batch + idx.shape[-1:])
    return torch.gather(pts, -2, idx[..., None].expand(idx.shape + (points.shape[-1],)))


def nearest_distances(p: torch.Tensor, q: torch.Tensor, mask_p: torch.Tensor | None = None,
                      mask_q: torch.Tensor | None = None, squared: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance of each point of p to its nearest point of q ``[..., N]``, and of each point of q to p ``[..., M]``
    (differentiable in both clouds)."""
    ip, iq = nearest_indices(p, q, mask_p, mask_q)
    dp = ((p - _gather(q, ip)) ** 2).sum(-1)
    dq = ((q - _gather(p, iq)) ** 2).sum(-1)
    if not squared:
        dp, dq = (dp + 1e-12).sqrt(), (dq + 1e-12).sqrt()
    return dp, dq


def trimmed_mean(d: torch.Tensor, mask: torch.Tensor | None, fraction: float) -> torch.Tensor:
    """Mean of the ``fraction`` smallest valid entries along the last axis: ``[..., K]`` → ``[...]``; with
    ``fraction`` = 1 the plain mean of the valid entries. At least one entry is always kept."""
    mask = _useful(mask)
    if mask is not None:
        mask = mask.expand(d.shape)
        valid = mask.sum(-1, keepdim=True).clamp_min(1)
    else:
        valid = torch.full(d.shape[:-1] + (1,), d.shape[-1], device=d.device)
    if fraction >= 1.0:
        if mask is None:
            return d.mean(-1)
        return (d * mask).sum(-1) / valid[..., 0]
    keep = torch.ceil(valid.to(d.dtype) * fraction).clamp_min(1)
    filled = d if mask is None else d.masked_fill(~mask, math.inf)
    values, _ = torch.sort(filled, dim=-1)
    rank = torch.arange(d.shape[-1], device=d.device, dtype=d.dtype)
    kept = rank < keep
    return torch.where(kept, values, torch.zeros_like(values)).sum(-1) / keep[..., 0]


def chamfer(p: torch.Tensor, q: torch.Tensor, mask_p: torch.Tensor | None = None,
            mask_q: torch.Tensor | None = None, alpha: float = 1.0, squared: bool = False) -> torch.Tensor:
    """Chamfer distance ``[...]``: mean nearest-neighbour distance p→q plus q→p. With ``alpha`` < 1 it is the
    local Chamfer distance CD_local(P, Q, α) that keeps, in each direction, only the α fraction of closest matches
    (the points a partial view shares with the other)."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    ip, iq = nearest_indices(p, q, mask_p, mask_q)
    return _matched_chamfer(p, q, ip, iq, mask_p, mask_q, alpha, squared)


def projected_chamfer(p: torch.Tensor, q: torch.Tensor, plane: str, mask_p: torch.Tensor | None = None,
                      mask_q: torch.Tensor | None = None, squared: bool = False) -> torch.Tensor:
    """Chamfer distance ``[...]`` of the clouds projected on a coordinate plane: ``plane`` is 'xy', 'yz' or 'xz'."""
    dims = list(PLANES[plane])
    return chamfer(p[..., dims], q[..., dims], mask_p, mask_q, squared=squared)


@torch.no_grad()
def hybrid_indices(p: torch.Tensor, q: torch.Tensor, mask_p: torch.Tensor | None = None,
                   mask_q: torch.Tensor | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Nearest-neighbour indices for the four Chamfer terms of the hybrid loss in one pass: for '3d', 'xy', 'yz'
    and 'xz', ``(index into q [..., N], index into p [..., M])``. The per-axis squared differences are computed
    once and summed per plane, cheaper than four separate searches."""
    mask_p, mask_q = _useful(mask_p), _useful(mask_q)
    batch = torch.broadcast_shapes(p.shape[:-2], q.shape[:-2])
    n, m = p.shape[-2], q.shape[-2]
    pb = p.expand(batch + p.shape[-2:]).reshape(-1, n, 3)
    qb = q.expand(batch + q.shape[-2:]).reshape(-1, m, 3)
    mp = None if mask_p is None else mask_p.expand(batch + (n,)).reshape(-1, n)
    mq = None if mask_q is None else mask_q.expand(batch + (m,)).reshape(-1, m)
    step = max(1, CHUNK_ELEMENTS // max(1, 4 * n * m))
    names = ("3d", "xy", "yz", "xz")
    out: dict[str, tuple[list, list]] = {k: ([], []) for k in names}
    for s in range(0, pb.shape[0], step):
        a, b = pb[s:s + step], qb[s:s + step]
        dx, dy, dz = ((a[..., :, None, i] - b[..., None, :, i]) ** 2 for i in range(3))
        dists = {"xy": dx + dy, "yz": dy + dz}
        dists["3d"] = dists["xy"] + dz
        dists["xz"] = dx.add_(dz)
        for k in names:
            d = dists[k]
            if mq is not None:
                d = d.masked_fill(~mq[s:s + step, None, :], math.inf)
            out[k][0].append(d.argmin(-1))
            if mp is not None:
                d = d.masked_fill(~mp[s:s + step, :, None], math.inf)
            out[k][1].append(d.argmin(-2))
    return {k: (torch.cat(ip).reshape(batch + (n,)), torch.cat(iq).reshape(batch + (m,)))
            for k, (ip, iq) in out.items()}


def _matched_chamfer(p: torch.Tensor, q: torch.Tensor, ip: torch.Tensor, iq: torch.Tensor,
                     mask_p: torch.Tensor | None, mask_q: torch.Tensor | None, alpha: float,
                     squared: bool) -> torch.Tensor:
    dp = ((p - _gather(q, ip)) ** 2).sum(-1)
    dq = ((q - _gather(p, iq)) ** 2).sum(-1)
    if not squared:
        dp, dq = (dp + 1e-12).sqrt(), (dq + 1e-12).sqrt()
    return trimmed_mean(dp, mask_p, alpha) + trimmed_mean(dq, mask_q, alpha)


def hybrid_loss(p: torch.Tensor, q: torch.Tensor, mask_p: torch.Tensor | None = None,
                mask_q: torch.Tensor | None = None, alpha: float = 0.7, beta: float = 0.5, gamma: float = 1.0,
                squared: bool = False) -> torch.Tensor:
    """HOUV's loss ``[...]``: CD_local(P, Q, α) + β (CD_xy + CD_yz) + γ CD_xz — the thesis writes it with γ = 1
    (the local term in 3D, the three others on the clouds projected on the coordinate planes). With β = γ = 0
    only the local Chamfer distance is searched (one neighbour search instead of four)."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    if beta == 0 and gamma == 0:
        return chamfer(p, q, mask_p, mask_q, alpha=alpha, squared=squared)
    idx = hybrid_indices(p, q, mask_p, mask_q)
    loss = _matched_chamfer(p, q, *idx["3d"], mask_p, mask_q, alpha, squared)
    for plane, weight in (("xy", beta), ("yz", beta), ("xz", gamma)):
        dims = list(PLANES[plane])
        loss = loss + weight * _matched_chamfer(p[..., dims], q[..., dims], *idx[plane], mask_p, mask_q, 1.0,
                                                squared)
    return loss
