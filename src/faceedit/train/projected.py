"""A discriminator on frozen pretrained features (Projected GAN, Sauer et al. 2021), with ImageNet VGG16.

The image (after DiffAugment) goes through the frozen VGG16 (:mod:`faceedit.features`); the activations of four
stages are mixed by fixed random projections — cross-channel mixing (CCM: a random 1×1 conv per stage) and
cross-scale mixing (CSM: a top-down path adding each coarser, upsampled map to the finer one through random 3×3
convs) — and each mixed stage is judged by its own small trainable discriminator (strided 4×4 convs with spectral
norm and leaky ReLU — the paper's batch norm optional —, down to 4×4, then one logit). The logits of the stages are summed in the loss
(hinge, as in the paper; no R1).

Used two ways by :mod:`faceedit.train.gan` (``d_features``):
``"projected"`` — this is the discriminator (Projected GAN);
``"aided"`` — it is added to the usual StyleGAN2 discriminator with weight ``aided_weight`` (Vision-aided GAN,
Kumari et al. 2022: an ensemble of the trained D and D on pretrained features).

The VGG is not part of the state dict (it is loaded from the fetched weights, or random for tests); the random
projections are buffers made from a fixed seed, so a resumed run rebuilds exactly the same ones.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from faceedit.errors import FaceEditError

#: VGG16 stages read by the feature discriminator, with their downsampling factor.
STAGES = (("relu1_2", 1), ("relu2_2", 2), ("relu3_3", 4), ("relu4_3", 8))
PROJ_SEED = 12345


def _random_conv(cin: int, cout: int, k: int, gen: torch.Generator) -> torch.Tensor:
    w = torch.randn(cout, cin, k, k, generator=gen)
    return w / math.sqrt(cin * k * k)


class _Head(nn.Module):
    """Strided convs from side ``size`` down to 4×4, then a 4×4 conv to one logit. ``norm``: ``"batch"`` (the
    paper's) or ``"none"`` (spectral norm only: nothing depends on the other images of the batch, so the head
    sees a fake batch's absolute statistics — batch norm over an all-fake batch hides them)."""

    def __init__(self, cin: int, size: int, width: int, norm: str = "none"):
        super().__init__()
        if norm not in ("batch", "none"):
            raise FaceEditError(f"feature discriminator norm must be batch or none, got {norm!r}")
        layers: list[nn.Module] = []
        c = cin
        s = size
        while s > 4:
            cout = min(width * 2, 512) if s <= 16 else width
            layers.append(spectral_norm(nn.Conv2d(c, cout, 4, 2, 1, bias=norm == "none")))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2))
            c, s = cout, s // 2
        layers.append(spectral_norm(nn.Conv2d(c, 1, 4, 1, 0)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class FeatureDiscriminator(nn.Module):
    """Frozen VGG16 + fixed random CCM/CSM + one trainable head per stage → logits [N, stages]."""

    def __init__(self, resolution: int = 64, proj_channels: tuple[int, ...] = (32, 64, 128, 256), width: int = 64,
                 vgg=None, input_size: int | None = None, norm: str = "none"):
        super().__init__()
        if resolution < 32:
            raise FaceEditError("the feature discriminator needs images of at least 32 px")
        self.resolution = int(resolution)
        self.input_size = int(input_size or resolution)
        self.layers = tuple(name for name, _ in STAGES)
        sizes = [self.input_size // f for _, f in STAGES]
        if min(sizes) < 4:
            raise FaceEditError(f"input size {self.input_size} too small for the feature discriminator")
        from faceedit.features.vgg import VGG

        self._vgg = [vgg if vgg is not None else VGG("vgg16")]  # in a list: not a submodule, not in state_dict
        self._vgg[0].requires_grad_(False).eval()
        chans = [self._vgg[0].channels[n] for n in self.layers]
        gen = torch.Generator().manual_seed(PROJ_SEED)
        for i, (cin, cp) in enumerate(zip(chans, proj_channels)):
            self.register_buffer(f"ccm{i}", _random_conv(cin, cp, 1, gen))
        for i in range(len(chans) - 1):  # CSM: coarser stage i+1 → finer stage i
            self.register_buffer(f"csm{i}", _random_conv(proj_channels[i + 1], proj_channels[i], 3, gen))
        self.heads = nn.ModuleList(_Head(cp, s, width, norm) for cp, s in zip(proj_channels, sizes))
        self.proj_channels = tuple(proj_channels)

    @property
    def vgg(self):
        return self._vgg[0]

    def _apply(self, fn, *args, **kwargs):  # keep the frozen VGG on the same device / dtype as the heads
        super()._apply(fn, *args, **kwargs)
        self._vgg[0]._apply(fn, *args, **kwargs)
        return self

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Projected, scale-mixed features of images in [-1, 1]."""
        x = img
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        feats = self.vgg.extract(x, self.layers)
        proj = [F.conv2d(f, getattr(self, f"ccm{i}").to(f.dtype)) for i, f in enumerate(feats)]
        out = [None] * len(proj)
        out[-1] = proj[-1]
        for i in range(len(proj) - 2, -1, -1):
            up = F.interpolate(out[i + 1], scale_factor=2, mode="bilinear", align_corners=False)
            out[i] = proj[i] + F.conv2d(up, getattr(self, f"csm{i}").to(up.dtype), padding=1)
        return out

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return torch.cat([h(f) for h, f in zip(self.heads, self.features(img))], dim=1)


def d_loss_hinge(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator, summed over the stages' heads (logits [N, stages])."""
    return (F.relu(1 - logits_real.float()).mean(0) + F.relu(1 + logits_fake.float()).mean(0)).sum()


def g_loss_hinge(logits_fake: torch.Tensor) -> torch.Tensor:
    """The generator's hinge loss, summed over the stages' heads."""
    return -logits_fake.float().mean(0).sum()
