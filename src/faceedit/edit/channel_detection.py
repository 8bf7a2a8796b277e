"""Three ways to find the StyleSpace channels of an attribute, side by side (the thesis's ch. 6 reproduction):

* ``thesis`` — the thesis's method, :func:`~faceedit.edit.stylespace.find_channels_attribute`: the mean gradient
  of the classifier's loss over the positive samples, ×σ, then the *layer filter* (the one layer whose top-k
  |gradient| sum is largest) and its top-k channels;
* ``unfiltered`` — the ablation of the thesis's Fig. 6-5: the same mean gradients, top-k over every layer at once
  (no layer filter);
* ``stylespace`` — the StyleSpace paper's detection of attribute-specific channels (Wu et al. 2021, §4.2):
  no gradients, only statistics: with μ_c, σ_c a channel's mean and σ over all samples and μᵖ_c, σᵖ_c over the
  positive samples (the top ``positive_fraction`` by the classifier's logit), the relevance
  θ_c = |μᵖ_c − μ_c| / σᵖ_c, top-k over every layer; the edit moves each channel towards its positive mean
  (sign of μᵖ_c − μ_c), weighted by θ.

All return a :class:`~faceedit.edit.stylespace.StyleDirection` (unit-norm weights; α in σ of each channel) and a
short record of where the channels lie (their layers and how concentrated the criterion is). ToRGB layers are left
out unless ``include_torgb``.

    direction, info = detect_channels("unfiltered", model, ws, score, k=5, stats=stats)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from faceedit.edit.layers import ChannelId
from faceedit.edit.stylespace import (ImageFn, StyleDirection, StyleStats, _layer_filter, _pick_layer,
                                      attribute_gradients, score_images, style_stats)
from faceedit.errors import FaceEditError

DETECTORS = ("thesis", "unfiltered", "stylespace")


@dataclass
class Detection:
    """Where the found channels lie: ``layers`` (StyleSpace layer of each channel, best first), ``top_share``: the
    share of the criterion's total (|gradient| or θ summed over every searched channel) held by the k channels —
    how concentrated the attribute is in a few channels; ``samples``: positive samples used."""

    method: str
    layers: list[int]
    top_share: float
    samples: int


def global_top(per_channel: Sequence[torch.Tensor | None], k: int) -> list[tuple[int, int, float]]:
    """The ``k`` (layer, channel, value) with the largest |value| over every layer given (None: not searched)."""
    flat = [(li, c, float(v[c])) for li, v in enumerate(per_channel) if v is not None for c in range(v.numel())]
    if not flat:
        raise FaceEditError("no StyleSpace layer to search")
    flat.sort(key=lambda t: -abs(t[2]))
    return flat[:max(1, int(k))]


def _direction(top: list[tuple[int, int, float]]) -> StyleDirection:
    w = np.array([t[2] for t in top], dtype=np.float64)
    w = w / (np.linalg.norm(w) or 1.0)
    return StyleDirection([ChannelId(li, c) for li, c, _ in top], [float(x) for x in w])


def _share(per_channel: Sequence[torch.Tensor | None], top: list[tuple[int, int, float]]) -> float:
    total = sum(float(v.abs().sum()) for v in per_channel if v is not None)
    return sum(abs(t[2]) for t in top) / max(total, 1e-30)


def relevance(model, ws: torch.Tensor, score: ImageFn, positive_fraction: float, use: Sequence[bool],
              batch_size: int = 8) -> tuple[list[torch.Tensor | None], int]:
    """StyleSpace's signed relevance per channel: sign(μᵖ − μ) · |μᵖ − μ| / σᵖ (see the module doc), per layer
    [C] (None where ``use`` is False), and the number of positive samples."""
    ws = model.as_ws(ws)
    if not 0 < positive_fraction < 1:
        raise FaceEditError(f"positive fraction must be in (0, 1), got {positive_fraction}")
    logits = score_images(model, ws, score, batch_size)
    n_pos = max(2, int(round(positive_fraction * ws.shape[0])))
    pos = logits.topk(n_pos).indices.to(ws.device)
    styles = model.to_styles(ws)
    out: list[torch.Tensor | None] = []
    for s, u in zip(styles, use):
        if not u:
            out.append(None)
            continue
        s = s.detach().double().cpu()
        sp = s[pos.cpu()]
        diff = sp.mean(0) - s.mean(0)
        out.append((diff / sp.std(0).clamp_min(1e-8)).float())
    return out, n_pos


def detect_channels(method: str, model, ws: torch.Tensor, score: ImageFn, k: int = 5,
                    stats: StyleStats | None = None, positive_fraction: float | None = None,
                    include_torgb: bool = False, batch_size: int = 4) -> tuple[StyleDirection, Detection]:
    """The attribute's channels by ``method`` (one of :data:`DETECTORS`) on the samples ``ws`` [N, num_ws,
    w_dim]; ``score(images) -> [N]`` is the attribute's logit (differentiable for the gradient methods).
    ``positive_fraction``: default 0.5 for the gradient methods (the thesis), 0.1 for StyleSpace's statistics."""
    if method not in DETECTORS:
        raise FaceEditError(f"unknown channel detection {method!r}: use {', '.join(DETECTORS)}")
    stats = stats or style_stats(model)
    use = _layer_filter(model, include_torgb, None)
    if method == "stylespace":
        per_channel, n_pos = relevance(model, ws, score, positive_fraction or 0.1, use, max(batch_size, 8))
    else:
        per_channel, n_pos = attribute_gradients(model, ws, score, stats, positive_fraction or 0.5, use,
                                                 batch_size)
    if method == "thesis":  # the layer filter of find_channels_attribute, then that layer's top k
        best, idx, _ = _pick_layer(per_channel, k, key=lambda v: v.abs())
        top = [(best, int(c), float(per_channel[best][c])) for c in idx]
    else:
        top = global_top(per_channel, k)
    return _direction(top), Detection(method, [t[0] for t in top], _share(per_channel, top), n_pos)


__all__ = ["DETECTORS", "Detection", "detect_channels", "global_top", "relevance"]
