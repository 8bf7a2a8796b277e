"""Image embeddings for DIFA's losses: a global vector per image (the directional loss) and a set of tokens per
image (the local loss). Two kinds:

- :class:`VGGEmbedding` (the offline default): ImageNet VGG16. Global: the spatially mean-pooled features of
  ``global_layers``, each stage L2-normalised before concatenation (so each stage counts the same) → [N, ΣC];
  tokens: the feature vectors of ``local_layer`` at every position → [N, h·w, C].
- :class:`CLIPEmbedding` (the paper's): a CLIP ViT (:mod:`faceedit.adapt.clip`). Global: CLIP's image embedding
  [N, D]; tokens: the last block's patch tokens [N, G², W].

Both take images in the generator convention (RGB [-1, 1], [N, 3, H, W]) and return float32.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from faceedit.errors import FaceEditError
from faceedit.features import VGG, resize_for

#: Default VGG16 stages, chosen in benchmarks/README.md ("One-shot art adaptation (DIFA)").
VGG_GLOBAL = ("relu4_3", "relu5_3")
VGG_LOCAL = "relu3_3"
#: The side (px) images are read at by VGG when the generator draws smaller ones.
VGG_MIN_SIDE = 128


class Embedding:
    """``embed(x) → (global [N, D], tokens [N, T, C])`` for images [N, 3, H, W] in [-1, 1]; ``describe()`` for
    the card."""

    name = "embedding"

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name}


class VGGEmbedding(Embedding):
    """VGG16 features as the embedding (see the module docstring). ``side``: images are resized to this side
    first (None: at least :data:`VGG_MIN_SIDE`); ``bf16``: run VGG under bfloat16 autocast (CPU)."""

    name = "vgg16"

    def __init__(self, vgg: VGG, global_layers: Sequence[str] = VGG_GLOBAL, local_layer: str = VGG_LOCAL,
                 side: int | None = None, bf16: bool = True):
        if not global_layers:
            raise FaceEditError("the VGG embedding needs at least one global stage")
        for name in (*global_layers, local_layer):
            if name not in vgg.names:
                raise FaceEditError(f"unknown VGG16 stage {name!r} (e.g. relu3_3, relu4_3, relu5_3)")
        self.vgg, self.global_layers, self.local_layer = vgg, tuple(global_layers), local_layer
        self.side, self.bf16 = side, bf16

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        side = self.side or max(VGG_MIN_SIDE, x.shape[-1])
        x = resize_for(x.float(), side)
        layers = list(dict.fromkeys((*self.global_layers, self.local_layer)))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16 and x.device.type == "cpu"):
            feats = dict(zip(layers, self.vgg.extract(x, layers)))
        pooled = [F.normalize(feats[n].float().mean(dim=(2, 3)), dim=1) for n in self.global_layers]
        tokens = feats[self.local_layer].float().flatten(2).transpose(1, 2)
        return torch.cat(pooled, 1), tokens

    def describe(self) -> dict:
        return {"name": self.name, "global": list(self.global_layers), "local": self.local_layer,
                "side": self.side or f"max({VGG_MIN_SIDE}, generator)"}


class CLIPEmbedding(Embedding):
    """A CLIP ViT image encoder as the embedding (the paper's choice)."""

    name = "clip"

    def __init__(self, clip, source: str = ""):
        self.clip, self.source = clip, source

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb, tokens = self.clip.encode(x)
        return emb.float(), tokens.float()

    def describe(self) -> dict:
        c = self.clip.cfg
        return {"name": self.name, "file": os.path.basename(self.source), "width": c.width, "layers": c.layers,
                "patch": c.patch, "image_size": c.image_size}


def make_embedding(spec: str = "vgg16", global_layers: Sequence[str] = VGG_GLOBAL, local_layer: str = VGG_LOCAL,
                   vgg_weights: str | None = None, clip_act: str = "quick_gelu", bf16: bool = True,
                   vgg_side: int | None = None) -> Embedding:
    """``"vgg16"`` (the fetched VGG16, or ``vgg_weights``) or the path of a CLIP / open_clip weights file."""
    if spec in ("vgg", "vgg16"):
        from faceedit.features import load_vgg

        return VGGEmbedding(load_vgg(vgg_weights), global_layers, local_layer, side=vgg_side, bf16=bf16)
    from faceedit.adapt.clip import load_clip

    return CLIPEmbedding(load_clip(spec, act=clip_act), source=str(spec))


__all__ = ["CLIPEmbedding", "Embedding", "VGGEmbedding", "VGG_GLOBAL", "VGG_LOCAL", "make_embedding"]
