"""Exponential moving average of the generator's weights, with NVIDIA's ramp-up.

The half-life is ``ema_kimg`` thousand images; with ``rampup`` the half-life is at most ``rampup × images seen``,
so the average forgets the random initialisation quickly early in training:
``beta = 0.5 ** (batch / max(min(ema_kimg * 1000, cur_nimg * rampup), 1e-8))``.
"""

from __future__ import annotations

import torch
from torch import nn


def ema_beta(batch: int, cur_nimg: int, ema_kimg: float, rampup: float | None) -> float:
    ema_nimg = ema_kimg * 1000
    if rampup is not None and rampup > 0:
        ema_nimg = min(ema_nimg, cur_nimg * rampup)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """G_ema ← lerp(G, G_ema, beta) for parameters; buffers (w_avg, noise_const) are copied."""
    ema_params = list(G_ema.parameters())
    params = [p.detach() for p in G.parameters()]
    if hasattr(torch, "_foreach_lerp_"):
        torch._foreach_lerp_(ema_params, params, 1.0 - beta)
    else:  # pragma: no cover
        for pe, p in zip(ema_params, params):
            pe.copy_(p.lerp(pe, beta))
    for be, b in zip(G_ema.buffers(), G.buffers()):
        be.copy_(b)
