"""The perceptual losses of neural style transfer, shared by the Gatys optimisation and the Johnson networks.

Images are RGB in [-1, 1], ``[N, 3, H, W]``; features come from a frozen ImageNet VGG (:mod:`faceedit.features`).
Each loss is *relative*, so that the same weights work for the Oxford VGG16 (caffe input, activations in the
hundreds) and a torchvision VGG16/19 (activations near 1):

- content loss at a layer: ``mean((F(x) − F(c))²) / mean(F(c)²)``;
- style loss at a layer: ``mean((G(x) − G(s))²) / mean(G(s)²)`` with ``G`` the Gram matrix normalised by C·H·W
  (:func:`faceedit.features.gram`), averaged over the style layers (optionally weighted);
- total variation: ``mean((x[i+1, j] − x[i, j])²) + mean((x[i, j+1] − x[i, j])²)`` in [-1, 1] units.

The total is ``content_weight · content + style_weight · style + tv_weight · tv``.

Layer sets: Gatys et al. (content relu4_2; style relu1_1 … relu5_1) and Johnson et al. (content relu2_2; style
relu1_2, relu2_2, relu3_3, relu4_3 — one block less of VGG, and finer content detail, which suits faces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from faceedit.errors import FaceEditError
from faceedit.features import gram

GATYS_CONTENT = ("relu4_2",)
GATYS_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
JOHNSON_CONTENT = ("relu2_2",)
JOHNSON_STYLE = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
_EPS = 1e-8


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative squared error of features ``f`` [N, C, H, W] against ``target`` (same shape, or batch 1) → [N]."""
    target = target.expand_as(f)
    return (f - target).pow(2).mean(dim=(1, 2, 3)) / (target.pow(2).mean(dim=(1, 2, 3)) + _EPS)


def style_loss(g: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative squared error of Gram matrices ``g`` [N, C, C] against ``target`` [1 or N, C, C] → [N]."""
    target = target.expand_as(g)
    return (g - target).pow(2).mean(dim=(1, 2)) / (target.pow(2).mean(dim=(1, 2)) + _EPS)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation of images ``x`` [N, C, H, W]: mean squared difference of vertical plus horizontal
    neighbours → [N] (0 for a constant image)."""
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).mean(dim=(1, 2, 3)) if x.shape[-2] > 1 else x.new_zeros(len(x))
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).mean(dim=(1, 2, 3)) if x.shape[-1] > 1 else x.new_zeros(len(x))
    return dy + dx


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three terms (see the module doc)."""

    content: float = 1.0
    style: float = 10.0
    tv: float = 0.0

    def __post_init__(self):
        import math

        for name in ("content", "style", "tv"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or v > 1e12:
                raise FaceEditError(f"--{name}-weight must be a finite number from 0 to 1e12, got {v!r}")
        if self.content == 0 and self.style == 0:
            raise FaceEditError("--content-weight and --style-weight are both 0: nothing to optimise")

    def to_dict(self) -> dict[str, float]:
        return {"content": self.content, "style": self.style, "tv": self.tv}


class PerceptualLoss(torch.nn.Module):
    """Content + style + TV loss against fixed targets.

    ``vgg``: a frozen :class:`faceedit.features.VGG`. ``style``: the style image(s) [S, 3, H, W] in [-1, 1] (their
    Gram matrices are averaged; computed once). ``content_layers`` / ``style_layers``: VGG layer names;
    ``style_layer_weights``: one weight per style layer (default equal; they are normalised to sum to 1).
    ``autocast_bf16``: run VGG under bfloat16 autocast (≈ 2× faster on CPUs with bf16; Gram matrices and losses
    stay float32).

    ``forward(x, content_feats)`` → dict of per-image tensors ``content``, ``style``, ``tv``, ``total`` ([N]);
    ``content_feats`` is :meth:`content_targets` of the content images (or None to skip the content term).
    """

    def __init__(self, vgg, style: torch.Tensor, weights: LossWeights = LossWeights(),
                 content_layers: Sequence[str] = GATYS_CONTENT, style_layers: Sequence[str] = GATYS_STYLE,
                 style_layer_weights: Sequence[float] | None = None, autocast_bf16: bool = False):
        super().__init__()
        if not content_layers or not style_layers:
            raise FaceEditError("style transfer needs at least one content and one style layer")
        self.vgg, self.weights = vgg, weights
        self.content_layers, self.style_layers = tuple(content_layers), tuple(style_layers)
        lw = torch.ones(len(self.style_layers)) if style_layer_weights is None else \
            torch.tensor([float(w) for w in style_layer_weights])
        if lw.numel() != len(self.style_layers) or bool((lw < 0).any()) or float(lw.sum()) <= 0:
            raise FaceEditError("style layer weights must be one non-negative number per style layer, not all 0")
        self.register_buffer("layer_weights", lw / lw.sum())
        self.bf16 = bool(autocast_bf16)
        with torch.no_grad():
            feats = self._features(style, self.style_layers)
            grams = [gram(f.float()).mean(dim=0, keepdim=True) for f in feats]
        self.style_grams = [g.detach() for g in grams]
        self._all = tuple(dict.fromkeys(self.style_layers + self.content_layers))

    def _features(self, x: torch.Tensor, layers: Sequence[str]) -> list[torch.Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16 and x.device.type == "cpu"):
            return self.vgg.extract(x, layers)

    def content_targets(self, content: torch.Tensor) -> list[torch.Tensor]:
        """Features of ``content`` [N, 3, H, W] at the content layers (detached, float32)."""
        with torch.no_grad():
            return [f.float().detach() for f in self._features(content, self.content_layers)]

    def forward(self, x: torch.Tensor, content_feats: Sequence[torch.Tensor] | None) -> dict[str, torch.Tensor]:
        feats = dict(zip(self._all, self._features(x, self._all)))
        n = x.shape[0]
        s = x.new_zeros(n)
        for w, name, target in zip(self.layer_weights, self.style_layers, self.style_grams):
            s = s + w * style_loss(gram(feats[name].float()), target)
        c = x.new_zeros(n)
        if content_feats is not None:
            for name, target in zip(self.content_layers, content_feats):
                c = c + content_loss(feats[name].float(), target) / len(self.content_layers)
        t = tv_loss(x)
        w = self.weights
        total = w.content * c + w.style * s + w.tv * t
        return {"content": c, "style": s, "tv": t, "total": total}
