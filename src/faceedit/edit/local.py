"""Local edits in the manner of ATMGAN: change a few feature-map channels inside a region only.

1. :func:`score_local_channels` runs the (positive) samples, reads one mid-resolution conv layer's output
   (default ``b32.conv1``, or ``b{R/2}.conv1`` below 64 px) and scores each channel by how much more it is
   active inside the region mask than outside it, in units of the channel's σ over all samples and pixels:
   ``score_c = mean_n (mean_in(x_c) − mean_out(x_c)) / σ_c``. The top ``k`` are kept.
2. :func:`local_edit` synthesises with a feature hook that adds ``α · σ_c · m`` to those channels, where ``m`` is
   the region mask resized to the feature map: activations outside the mask are not touched.
3. :func:`change_share` measures the share of the absolute pixel change that falls inside the region;
   :func:`diff_heatmap` renders the change as a heat map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from faceedit.edit.stylespace import ImageFn, _resize_masks, region_masks
from faceedit.errors import FaceEditError
from faceedit.model import Model, NoiseMaps


def feature_layers(model) -> list[str]:
    """Names of the conv layers whose output a local edit can change ('b8.conv0', 'b8.conv1', …)."""
    return [n for n, _ in model.style_layers if not n.endswith("torgb")]


def default_layer(model) -> str:
    res = min(32, max(8, model.resolution // 2))
    return f"b{res}.conv1"


def _check_layer(model, layer: str) -> str:
    names = feature_layers(model)
    if layer not in names:
        raise FaceEditError(f"unknown feature layer {layer!r}: use one of {', '.join(names)}")
    return layer


@dataclass
class LocalChannels:
    """The channels of ``layer`` chosen for a region, best first, with each channel's activation σ."""

    layer: str
    channels: list[int]
    scores: list[float]
    sigma: list[float]
    samples: int

    def table(self) -> str:
        rows = ["rank\tlayer\tchannel\tscore\tsigma"]
        rows += [f"{i + 1}\t{self.layer}\t{c}\t{s:.4g}\t{g:.4g}"
                 for i, (c, s, g) in enumerate(zip(self.channels, self.scores, self.sigma))]
        return "\n".join(rows) + "\n"


def capture_features(model, ws: torch.Tensor, layer: str, batch_size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(features [N, C, h, w] of ``layer``, images [N, 3, R, R]) for the w+ ``ws``."""
    ws = model.as_ws(ws)
    _check_layer(model, layer)
    feats, imgs = [], []
    got = {}

    def hook(name, x):
        if name == layer:
            got["x"] = x.detach().float().cpu()
        return x

    with torch.no_grad():
        for i in range(0, ws.shape[0], batch_size):
            imgs.append(model.G.synthesis(ws[i:i + batch_size], noise_mode="const", feature_hook=hook).cpu())
            feats.append(got.pop("x"))
    return torch.cat(feats), torch.cat(imgs)


def score_local_channels(model, ws: torch.Tensor, mask: torch.Tensor | None = None, region: ImageFn | None = None,
                         layer: str | None = None, k: int = 8, positives: ImageFn | None = None,
                         positive_fraction: float = 0.5, batch_size: int = 8) -> LocalChannels:
    """Score the channels of ``layer`` by their activation inside the region (see module doc) and keep the top k.

    ``mask``: fixed [H, W] in [0, 1] (image frame) or ``region(images) -> [N, H, W]``. With ``positives`` (a
    score ``images -> [N]``), only the top ``positive_fraction`` of the samples are used."""
    layer = _check_layer(model, layer or default_layer(model))
    feats, imgs = capture_features(model, ws, layer, batch_size)
    if positives is not None:
        with torch.no_grad():
            s = torch.cat([positives(imgs[i:i + batch_size]).reshape(-1).cpu()
                           for i in range(0, imgs.shape[0], batch_size)])
        keep = s.topk(max(1, int(round(positive_fraction * len(s))))).indices
        feats, imgs = feats[keep], imgs[keep]
    M = region_masks(imgs, mask, region)  # [N,1,R,R]
    m = F.adaptive_avg_pool2d(M, feats.shape[-2:])  # area share of each feature cell
    area_in = m.sum((2, 3)).clamp_min(1e-6)
    area_out = (1 - m).sum((2, 3)).clamp_min(1e-6)
    if float(area_in.min()) < 1e-3:
        raise FaceEditError("the region mask is empty for at least one sample")
    mean_in = (feats * m).sum((2, 3)) / area_in
    mean_out = (feats * (1 - m)).sum((2, 3)) / area_out
    sigma = feats.transpose(0, 1).flatten(1).std(1).clamp_min(1e-8)
    score = ((mean_in - mean_out).mean(0) / sigma)
    kk = min(int(k), score.numel())
    if kk < 1:
        raise FaceEditError("k must be at least 1")
    top = score.topk(kk).indices
    return LocalChannels(layer, [int(c) for c in top], [float(score[c]) for c in top],
                         [float(sigma[c]) for c in top], samples=feats.shape[0])


def local_edit(model: Model, ws: torch.Tensor, channels: LocalChannels, alpha: float,
               mask: torch.Tensor | None = None, region: ImageFn | None = None, noise_mode: str = "const",
               batch_size: int = 8, noise: NoiseMaps | None = None) -> torch.Tensor:
    """Images [N, 3, R, R] of ``ws`` with ``channels`` raised by ``alpha``·σ inside the region only.

    The region is the fixed ``mask`` or ``region`` evaluated on each unedited image. ``noise``: the faces' noise
    maps ([1, 1, r, r] each) instead of ``noise_mode``'s."""
    ws = model.as_ws(ws)
    layer = _check_layer(model, channels.layer)
    idx = torch.tensor(channels.channels, dtype=torch.long)
    sig = torch.tensor(channels.sigma, dtype=torch.float32)
    out = []
    with torch.no_grad():
        for i in range(0, ws.shape[0], batch_size):
            w = ws[i:i + batch_size]
            if region is not None:
                base = model.G.synthesis(w, noise_mode=noise_mode, noise=noise)
                M = region_masks(base, None, region)
            else:
                M = region_masks(torch.zeros(w.shape[0], 1, model.resolution, model.resolution), mask, None)

            def hook(name, x, M=M):
                if name != layer:
                    return x
                m = F.adaptive_avg_pool2d(M.to(x.device, x.dtype), x.shape[-2:])  # [n,1,h,w]
                x = x.clone()
                x[:, idx] = x[:, idx] + float(alpha) * sig.to(x.device, x.dtype)[None, :, None, None] * m
                return x

            out.append(model.G.synthesis(w, noise_mode=noise_mode, feature_hook=hook, noise=noise).cpu())
    return torch.cat(out)


def pixel_change(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Mean absolute change over colour channels: [N, H, W]."""
    return (after.float() - before.float()).abs().mean(1)


def change_share(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Share of the absolute pixel change inside the (soft) mask, per image: [N] in [0, 1]."""
    d = pixel_change(before, after)
    m = _resize_masks(mask, d.shape[0], d.shape[-1])[:, 0]
    return (d * m).flatten(1).sum(1) / d.flatten(1).sum(1).clamp_min(1e-12)


def diff_heatmap(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor | None = None,
                 scale: float | None = None) -> np.ndarray:
    """uint8 heat maps [N, H, W, 3] of the absolute change (black → red → yellow → white), scaled to the largest
    change (or ``scale``), with the region's outline in cyan when ``mask`` is given."""
    d = pixel_change(before, after)
    top = float(scale) if scale else float(d.max()) or 1.0
    t = (d / top).clamp(0, 1).numpy()
    rgb = np.stack([np.clip(3 * t, 0, 1), np.clip(3 * t - 1, 0, 1), np.clip(3 * t - 2, 0, 1)], -1)
    out = (rgb * 255).round().astype(np.uint8)
    if mask is not None:
        m = _resize_masks(mask, d.shape[0], d.shape[-1])[:, 0].numpy() > 0.5
        edge = np.zeros_like(m)
        edge[:, 1:, :] |= m[:, 1:, :] != m[:, :-1, :]
        edge[:, :, 1:] |= m[:, :, 1:] != m[:, :, :-1]
        out[edge] = (0, 255, 255)
    return out


def random_channels(model, ws: torch.Tensor, layer: str, k: int, seed: int = 0) -> LocalChannels:
    """k random channels of ``layer`` with their σ measured on the samples ``ws`` (a baseline for comparisons)."""
    layer = _check_layer(model, layer)
    feats, _ = capture_features(model, ws, layer)
    g = torch.Generator().manual_seed(seed)
    ch = torch.randperm(feats.shape[1], generator=g)[:k]
    sigma = feats.transpose(0, 1).flatten(1).std(1)
    return LocalChannels(layer, [int(c) for c in ch], [float("nan")] * len(ch), [float(sigma[c]) for c in ch],
                         samples=feats.shape[0])
