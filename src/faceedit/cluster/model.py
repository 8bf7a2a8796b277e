"""DERC's convolutional autoencoder (the thesis's Table 4-2).

Encoder: six 3×3 convolutions with strides 1, 2, 1, 2, 2, 1 (padding 1), each followed by ReLU, then a fully
connected layer to the embedding ``z`` of ``d_z`` numbers (no activation). Decoder: the mirror — a fully connected
layer back to the last feature map, ReLU, then six 3×3 transposed convolutions with strides 1, 2, 2, 1, 2, 1
(output padding chosen so that every size comes back exactly), ReLU between them and none after the last one.

Images are ``[N, C, H, W]`` float tensors in [0, 1] (C = 1 for digits, 3 for faces); reconstructions have the same
shape and are unbounded (the reconstruction loss is the mean squared pixel error).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from faceedit.errors import FaceEditError

#: Strides of the six encoder convolutions (Table 4-2).
ENCODER_STRIDES = (1, 2, 1, 2, 2, 1)


@dataclass
class AutoencoderConfig:
    """Shape of the autoencoder: input ``channels`` × ``size`` × ``size``, conv ``widths`` (one per conv), ``d_z``."""

    channels: int = 1
    size: int = 28
    widths: tuple[int, ...] = (8, 16, 16, 32, 32, 32)
    d_z: int = 10

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        if len(self.widths) != len(ENCODER_STRIDES):
            raise FaceEditError(f"the autoencoder has {len(ENCODER_STRIDES)} convolutions, got {len(self.widths)} widths")
        if not 1 <= self.channels <= 4 or not 8 <= self.size <= 256 or not 2 <= self.d_z <= 1024:
            raise FaceEditError(f"bad autoencoder config: channels {self.channels}, size {self.size}, d_z {self.d_z}")
        if min(self.widths) < 1 or max(self.widths) > 1024:
            raise FaceEditError(f"bad autoencoder widths {self.widths}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "AutoencoderConfig":
        known = {k: d[k] for k in ("channels", "size", "widths", "d_z") if k in d}
        return cls(**known)


def _sizes(size: int) -> list[int]:
    """Spatial size after each encoder conv (3×3, padding 1): ``floor((s - 1) / stride) + 1``."""
    out, s = [], size
    for stride in ENCODER_STRIDES:
        s = (s - 1) // stride + 1
        out.append(s)
    return out


class ConvAutoencoder(nn.Module):
    """``encode(x) -> z [N, d_z]``, ``decode(z) -> x̂ [N, C, H, W]``, ``forward(x) -> (z, x̂)``."""

    def __init__(self, cfg: AutoencoderConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or AutoencoderConfig()
        sizes = _sizes(cfg.size)
        chans = (cfg.channels,) + cfg.widths
        enc: list[nn.Module] = []
        for i, stride in enumerate(ENCODER_STRIDES):
            enc += [nn.Conv2d(chans[i], chans[i + 1], 3, stride, 1), nn.ReLU(inplace=True)]
        self.encoder_convs = nn.Sequential(*enc)
        self.last_shape = (cfg.widths[-1], sizes[-1], sizes[-1])
        flat = cfg.widths[-1] * sizes[-1] ** 2
        self.to_z = nn.Linear(flat, cfg.d_z)
        self.from_z = nn.Linear(cfg.d_z, flat)
        dec: list[nn.Module] = []
        ins = [cfg.size] + sizes[:-1]  # input size of each encoder conv = target size of its mirror
        for i in reversed(range(len(ENCODER_STRIDES))):
            stride, s_in, s_out = ENCODER_STRIDES[i], sizes[i], ins[i]
            pad_out = s_out - ((s_in - 1) * stride - 2 + 3)
            dec.append(nn.ConvTranspose2d(chans[i + 1], chans[i], 3, stride, 1, output_padding=pad_out))
            if i > 0:
                dec.append(nn.ReLU(inplace=True))
        self.decoder_convs = nn.Sequential(*dec)

    def config(self) -> dict:
        return dict(self.cfg.to_dict(), kind="conv")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] in [0, 1] → [N, d_z]."""
        self._check(x)
        return self.to_z(self.encoder_convs(x).flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """[N, d_z] → [N, C, H, W]."""
        h = torch.relu(self.from_z(z)).view(-1, *self.last_shape)
        return self.decoder_convs(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)

    def _check(self, x: torch.Tensor) -> None:
        c = self.cfg
        if x.ndim != 4 or tuple(x.shape[1:]) != (c.channels, c.size, c.size):
            raise FaceEditError(f"autoencoder input must be [N, {c.channels}, {c.size}, {c.size}], got {tuple(x.shape)}")


class FeatureAutoencoder(nn.Module):
    """The same encode/decode interface on feature vectors (identity descriptors, classifier features):
    ``in_dim`` → ``hidden`` → ReLU → ``d_z`` and the mirror back. Inputs ``[N, in_dim]`` float."""

    def __init__(self, in_dim: int, d_z: int = 10, hidden: int = 256):
        super().__init__()
        if not 2 <= in_dim <= 65536 or not 2 <= d_z <= 1024 or not 2 <= hidden <= 8192:
            raise FaceEditError(f"bad feature autoencoder: in_dim {in_dim}, d_z {d_z}, hidden {hidden}")
        self.in_dim, self.d_z, self.hidden = in_dim, d_z, hidden
        self.encoder = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, d_z))
        self.decoder = nn.Sequential(nn.Linear(d_z, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, in_dim))

    def config(self) -> dict:
        return {"kind": "features", "in_dim": self.in_dim, "d_z": self.d_z, "hidden": self.hidden}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in_dim] → [N, d_z]."""
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise FaceEditError(f"feature autoencoder input must be [N, {self.in_dim}], got {tuple(x.shape)}")
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """[N, d_z] → [N, in_dim]."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)


def build_autoencoder(config: dict) -> nn.Module:
    """Rebuild an autoencoder from its ``config()`` dict (``kind``: ``conv`` or ``features``)."""
    kind = config.get("kind")
    if kind == "conv":
        return ConvAutoencoder(AutoencoderConfig.from_dict(config))
    if kind == "features":
        return FeatureAutoencoder(int(config["in_dim"]), int(config["d_z"]), int(config["hidden"]))
    raise FaceEditError(f"unknown autoencoder kind {kind!r}")


__all__ = ["AutoencoderConfig", "ConvAutoencoder", "ENCODER_STRIDES", "FeatureAutoencoder", "build_autoencoder"]
