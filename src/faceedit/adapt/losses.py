"""DIFA's losses (Zhang et al. 2022): L = L_global + λ1·L_local + λ2·L_scc.

- :func:`directional_loss`: 1 − cos(Δv_samp, Δv_dom), Δv_samp = E(G_B(w)) − E(G_A(w)) and Δv_dom = E(I_tar) − the
  mean of E(G_A(w)) over the source domain (StyleGAN-NADA's loss with an image as the target).
- :func:`token_loss`: match the adapted image's tokens to the target's: C_ij = 1 − cos(F_B^i, F_tar^j),
  L = max(mean_i min_j C_ij, mean_j min_i C_ij) (a symmetric, relaxed earth mover's distance).
- :func:`scc_mask` and :func:`scc_loss`: selective cross-domain consistency: the W+ entries where the target's
  inverted code differs least from the mean code (the fraction α with the smallest |Δw|) hold attributes the
  style does not need to change, so the inversions of G_A(w) and G_B(w) must agree there: |mask·(w_B − w_A)|₁.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from faceedit.errors import FaceEditError


def directional_loss(emb_b: torch.Tensor, emb_a: torch.Tensor, domain_direction: torch.Tensor) -> torch.Tensor:
    """1 − cos(emb_b − emb_a, domain_direction), mean over the batch. ``emb_*``: [N, D]; direction [D] or [1, D]."""
    d = domain_direction.reshape(1, -1).to(emb_b.dtype)
    return (1 - F.cosine_similarity(emb_b - emb_a, d.expand_as(emb_b), dim=1, eps=1e-8)).mean()


def token_loss(tokens: torch.Tensor, target_tokens: torch.Tensor) -> torch.Tensor:
    """Relaxed matching of ``tokens`` [N, T, C] to ``target_tokens`` [1 or N, S, C] (cosine cost), mean over N."""
    a = F.normalize(tokens.float(), dim=-1)
    b = F.normalize(target_tokens.float(), dim=-1).expand(a.shape[0], -1, -1)
    cost = 1 - a @ b.transpose(1, 2)  # [N, T, S]
    forward = cost.min(dim=2).values.mean(dim=1)
    backward = cost.min(dim=1).values.mean(dim=1)
    return torch.maximum(forward, backward).mean()


def scc_mask(delta_w: torch.Tensor, alpha: float) -> torch.Tensor:
    """Bool mask [num_ws, w_dim] of the ``alpha`` fraction (0–1) of W+ entries with the smallest |Δw|."""
    if not 0.0 <= alpha <= 1.0:
        raise FaceEditError(f"the consistency fraction alpha must be in [0, 1], got {alpha}")
    flat = delta_w.abs().reshape(-1)
    k = int(round(alpha * flat.numel()))
    mask = torch.zeros_like(flat, dtype=torch.bool)
    if k > 0:
        mask[flat.argsort()[:k]] = True
    return mask.reshape(delta_w.shape)


def scc_loss(ws_b: torch.Tensor, ws_a: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |w_B − w_A| over the masked W+ entries. ``ws_*``: [N, num_ws, w_dim]; ``mask`` [num_ws, w_dim]."""
    m = mask.to(ws_b.dtype)[None]
    return ((ws_b - ws_a).abs() * m).sum() / (m.sum() * ws_b.shape[0]).clamp(min=1)


__all__ = ["directional_loss", "scc_loss", "scc_mask", "token_loss"]
