"""The published pSp and e4e encoders (``psp_ffhq_encode.pt``, ``e4e_ffhq_encode.pt``), built here from the papers
and the checkpoints' key layout, loaded name by name with shapes checked, never running code from the file.

Architecture (Richardson et al. 2021, "Encoding in Style"; Tov et al. 2021, "Designing an Encoder for StyleGAN
Image Manipulation"):

* **IR-SE50 backbone** (ArcFace's improved residual units with squeeze-excitation): a stem
  ``input_layer`` = conv3×3 (3→64, no bias), BatchNorm, PReLU; then ``body`` = 24 units in four stages of
  3, 4, 14 and 3 units with widths 64, 128, 256, 512. Each unit: ``res_layer`` = BN, conv3×3, PReLU,
  conv3×3 (stride 2 in a stage's first unit), BN, SE (1×1 convs C→C/16→C, sigmoid gate); ``shortcut_layer`` =
  a strided 1×1 max-pool when the width is kept, else conv1×1 + BN. Taps after units 6, 20 and 23 give the
  fine (128 ch, 64²), middle (256 ch, 32²) and coarse (512 ch, 16²) maps of a 256-px input.
* **Feature pyramid**: middle = upsample(coarse) + ``latlayer1``(tap 20); fine = upsample(middle) +
  ``latlayer2``(tap 6) (1×1 convs to 512, bilinear upsampling with aligned corners).
* **Map2style heads** ``styles.i`` (one per w+ entry: 18 for a 1024-px generator): strided conv3×3 + LeakyReLU
  until 1×1 (4, 5, 6 convs on the coarse / middle / fine maps for entries 0-2 / 3-6 / 7-17), then an equalised
  linear layer (weight scaled by 1/√in).
* **pSp** (``GradualStyleEncoder``): w+[i] = styles[i](its level) + latent_avg[i].
  **e4e** (``Encoder4Editing``): w+[i] = styles[0](coarse) + (styles[i](its level) for i ≥ 1) + latent_avg[i]:
  one w and per-entry offsets.

Checkpoint: ``torch.save({'state_dict': {'encoder.*', 'decoder.*' (rosinality generator)}, 'opts': vars(opts) or
the argparse Namespace, 'latent_avg': [18, 512]})``. Input: an aligned face resized to 256 px, in [-1, 1].
The widths, the number of heads and the input size are read from the tensors (the official files have the
values above; tests use narrower copies with the same names).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError

KINDS = {"GradualStyleEncoder": "psp", "Encoder4Editing": "e4e"}
STAGE_UNITS = (3, 4, 14, 3)  # IR-50
COARSE_END, MIDDLE_END = 3, 7  # heads 0-2 read the coarse map, 3-6 the middle, the rest the fine map
SE_REDUCTION = 16


@dataclass(frozen=True)
class PSPConfig:
    """Shape of a pSp / e4e encoder. ``widths``: the four stage widths (official 64, 128, 256, 512; the last is
    also the w width); ``num_ws``: heads (18 for 1024 px); ``input_size``: the side of the input image (256)."""

    kind: str = "e4e"
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    num_ws: int = 18
    input_size: int = 256
    stem: int = 64

    @property
    def w_dim(self) -> int:
        return self.widths[3]

    def head_convs(self, i: int) -> int:
        """Strided convs of head ``i`` (its map's side is input/16, /8 or /4: log2 of that)."""
        level = 16 if i < COARSE_END else 8 if i < MIDDLE_END else 4
        return int(math.log2(self.input_size // level))


# ------------------------------------------------------------------------------------------------- modules
class SqueezeExcite(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.fc1 = nn.Conv2d(ch, max(ch // SE_REDUCTION, 1), 1, bias=False)
        self.fc2 = nn.Conv2d(max(ch // SE_REDUCTION, 1), ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1))))
        return x * torch.sigmoid(g)


class IRSEUnit(nn.Module):
    """Improved residual unit with squeeze-excitation (key names as in the checkpoints)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        if cin == cout:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.res_layer = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                                       nn.PReLU(cout), nn.Conv2d(cout, cout, 3, stride, 1, bias=False),
                                       nn.BatchNorm2d(cout), SqueezeExcite(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class EqualLinear(nn.Module):
    """Linear layer with the weight scaled by 1/√in at run time (StyleGAN's equalised learning rate)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = 1.0 / math.sqrt(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class StyleHead(nn.Module):
    """Map2style: ``n_convs`` strided conv3×3 + LeakyReLU(0.01) down to 1×1, then an equalised linear layer."""

    def __init__(self, ch: int, n_convs: int):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(n_convs):
            layers += [nn.Conv2d(ch, ch, 3, 2, 1), nn.LeakyReLU(0.01)]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(ch, ch)
        self.ch = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).reshape(-1, self.ch))


def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


class PSPEncoderNet(nn.Module):
    """IR-SE50 + pyramid + map2style heads (the module under ``encoder.`` in the checkpoints). ``forward`` gives
    the codes before ``latent_avg`` is added: [N, num_ws, w_dim]."""

    def __init__(self, cfg: PSPConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        self.input_layer = nn.Sequential(nn.Conv2d(3, cfg.stem, 3, 1, 1, bias=False), nn.BatchNorm2d(cfg.stem),
                                         nn.PReLU(cfg.stem))
        units, cin = [], cfg.stem
        for width, n in zip(w, STAGE_UNITS):
            for j in range(n):
                units.append(IRSEUnit(cin, width, 2 if j == 0 else 1))
                cin = width
        self.body = nn.Sequential(*units)
        self.taps = (STAGE_UNITS[0] + STAGE_UNITS[1] - 1, sum(STAGE_UNITS[:3]) - 1, sum(STAGE_UNITS) - 1)
        self.styles = nn.ModuleList([StyleHead(w[3], cfg.head_convs(i)) for i in range(cfg.num_ws)])
        self.latlayer1 = nn.Conv2d(w[2], w[3], 1)
        self.latlayer2 = nn.Conv2d(w[1], w[3], 1)

    def pyramid(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(coarse, middle, fine) maps: [N, w_dim, s/16, s/16], [.., s/8, s/8], [.., s/4, s/4]."""
        x = self.input_layer(x)
        taps = {}
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in self.taps:
                taps[i] = x
        c1, c2, c3 = (taps[i] for i in self.taps)
        middle = _upsample_add(c3, self.latlayer1(c2))
        fine = _upsample_add(middle, self.latlayer2(c1))
        return c3, middle, fine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coarse, middle, fine = self.pyramid(x)

        def level(i: int) -> torch.Tensor:
            return coarse if i < COARSE_END else middle if i < MIDDLE_END else fine

        if self.cfg.kind == "psp":
            return torch.stack([head(level(i)) for i, head in enumerate(self.styles)], 1)
        w0 = self.styles[0](coarse)
        deltas = [torch.zeros_like(w0)] + [self.styles[i](level(i)) for i in range(1, self.cfg.num_ws)]
        return w0[:, None] + torch.stack(deltas, 1)


# ------------------------------------------------------------------------------------------------- the encoder
class PSPEncoder(nn.Module):
    """A loaded pSp / e4e encoder with its ``latent_avg``: images → w+ [N, num_ws, w_dim].

    Offers the project encoder's inference interface (``encode``, ``predict``, ``w_avg``), so it can be used
    wherever an encoder is taken. ``opts``: the training options stored in the file (a plain dict).
    """

    def __init__(self, cfg: PSPConfig, latent_avg: torch.Tensor | None = None, opts: dict | None = None):
        super().__init__()
        self.cfg = cfg
        self.net = PSPEncoderNet(cfg)
        avg = torch.zeros(cfg.num_ws, cfg.w_dim) if latent_avg is None else latent_avg
        self.register_buffer("w_avg", avg.detach().float().reshape(-1, cfg.w_dim).expand(cfg.num_ws, -1).clone())
        self.opts: dict = dict(opts or {})

    @property
    def kind(self) -> str:
        return self.cfg.kind

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Images [N, 3, H, W] in [-1, 1] (uint8 accepted) → [N, 3, input_size, input_size] float on the device."""
        x = torch.as_tensor(x)
        if x.dtype == torch.uint8:
            x = x.float() / 127.5 - 1.0
        if x.ndim != 4 or x.shape[1] != 3:
            raise FaceEditError(f"the encoder takes images [N, 3, H, W], got {list(x.shape)}")
        x = x.to(self.w_avg.device, torch.float32)
        s = self.cfg.input_size
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=x.shape[-1] > s)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.prepare(x)) + self.w_avg[None]

    def predict(self, x: torch.Tensor, G=None, iterations: int | None = None) -> torch.Tensor:
        """One pass (pSp and e4e have no refinement iterations; ``G`` and ``iterations`` are ignored)."""
        return self(x)

    def encode(self, images: torch.Tensor, batch_size: int = 8, G=None, iterations: int | None = None
               ) -> torch.Tensor:
        """Images [N, 3, H, W] in [-1, 1] (or uint8) → w+ [N, num_ws, w_dim], no grad, in batches."""
        was = self.training
        self.eval()
        out = []
        with torch.no_grad():
            for i in range(0, images.shape[0], batch_size):
                out.append(self(images[i:i + batch_size]))
        self.train(was)
        return torch.cat(out)

    def card(self) -> dict:
        return {"kind": self.cfg.kind, "format": "pSp/e4e checkpoint", "num_ws": self.cfg.num_ws,
                "w_dim": self.cfg.w_dim, "input_size": self.cfg.input_size,
                "generator": {"w_dim": self.cfg.w_dim, "num_ws": self.cfg.num_ws},
                "opts": {k: v for k, v in self.opts.items() if isinstance(v, (str, int, float, bool, type(None)))}}


# ------------------------------------------------------------------------------------------------- loading
@dataclass
class PSPCheckpoint:
    """What a pSp / e4e file holds: the encoder, its generator's state dict (rosinality names) and the options."""

    encoder: PSPEncoder
    decoder: dict[str, torch.Tensor] = field(default_factory=dict)
    opts: dict[str, Any] = field(default_factory=dict)


def _opts_dict(opts: Any, source: str) -> dict[str, Any]:
    from faceedit.io.safe_torch import Namespace

    if opts is None:
        return {}
    if isinstance(opts, Namespace):
        return opts.as_dict()
    if isinstance(opts, dict):
        return dict(opts)
    raise FaceEditError(f"{source}: 'opts' is a {type(opts).__name__}, not the options of a pSp/e4e training")


def infer_config(sd: Mapping[str, torch.Tensor], kind: str, source: str) -> PSPConfig:
    """The :class:`PSPConfig` of an ``encoder.*`` state dict (prefix removed), from its tensor shapes."""
    try:
        stem = int(sd["input_layer.0.weight"].shape[0])
        starts = [0, STAGE_UNITS[0], sum(STAGE_UNITS[:2]), sum(STAGE_UNITS[:3])]
        widths = tuple(int(sd[f"body.{i}.res_layer.1.weight"].shape[0]) for i in starts)
        heads = sorted({int(m.group(1)) for k in sd for m in [re.match(r"styles\.(\d+)\.linear\.weight$", k)] if m})
        convs0 = len({k for k in sd if re.match(r"styles\.0\.convs\.\d+\.weight$", k)})
    except KeyError as exc:
        raise FaceEditError(f"{source}: the encoder is not an IR-SE50 pSp/e4e encoder (no tensor {exc})") from None
    if not heads or heads != list(range(len(heads))):
        raise FaceEditError(f"{source}: the encoder has no map2style heads styles.0..N")
    if convs0 < 1:
        raise FaceEditError(f"{source}: styles.0 has no convolutions")
    return PSPConfig(kind=kind, widths=widths, num_ws=len(heads), input_size=16 * 2 ** convs0, stem=stem)


def load_state_exact(module: nn.Module, sd: Mapping[str, torch.Tensor], source: str) -> None:
    """Copy ``sd`` into ``module`` name by name: every name must exist on both sides with the same shape."""
    own = module.state_dict()
    sd = dict(sd)
    for name in set(own) - set(sd):  # files from PyTorch < 0.4.1 have no BatchNorm step counters
        if name.endswith(".num_batches_tracked"):
            sd[name] = torch.zeros((), dtype=torch.long)
    missing = sorted(set(own) - set(sd))
    extra = sorted(set(sd) - set(own))
    if missing or extra:
        raise FaceEditError(f"{source}: the encoder's tensors do not match the pSp/e4e layout "
                            f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for name, t in sd.items():
        if not isinstance(t, torch.Tensor):
            raise FaceEditError(f"{source}: encoder.{name} is not a tensor")
        if tuple(t.shape) != tuple(own[name].shape):
            raise FaceEditError(f"{source}: encoder.{name} has shape {list(t.shape)}, expected "
                                f"{list(own[name].shape)}")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise FaceEditError(f"{source}: encoder.{name} holds NaN or infinite values")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()}, strict=True)


def is_psp_checkpoint(data: Any) -> bool:
    sd = data.get("state_dict") if isinstance(data, dict) else None
    return isinstance(sd, dict) and any(str(k).startswith("encoder.") for k in sd)


def read_psp(data: Any, source: str) -> PSPCheckpoint:
    """Build the encoder from the dict in a pSp / e4e checkpoint (see the module docstring)."""
    if not is_psp_checkpoint(data):
        what = ", ".join(sorted(map(str, data))[:5]) if isinstance(data, dict) else type(data).__name__
        raise FaceEditError(f"{source} is not a pSp/e4e checkpoint (expected 'state_dict' with encoder.* tensors; "
                            f"holds: {what})")
    opts = _opts_dict(data.get("opts"), source)
    encoder_type = str(opts.get("encoder_type", "GradualStyleEncoder"))
    if encoder_type not in KINDS:
        raise FaceEditError(f"{source}: encoder_type {encoder_type!r} is not supported (supported: "
                            f"{', '.join(KINDS)})")
    if opts.get("start_from_latent_avg") is False:
        raise FaceEditError(f"{source} was trained without start_from_latent_avg, which is not supported")
    sd = data["state_dict"]
    enc_sd = {k[len("encoder."):]: v for k, v in sd.items() if str(k).startswith("encoder.")}
    cfg = infer_config(enc_sd, KINDS[encoder_type], source)
    latent_avg = data.get("latent_avg")
    if latent_avg is None:
        raise FaceEditError(f"{source} has no latent_avg (the average w the encoder's codes are added to)")
    if not isinstance(latent_avg, torch.Tensor) or latent_avg.shape[-1] != cfg.w_dim or \
            latent_avg.reshape(-1, cfg.w_dim).shape[0] not in (1, cfg.num_ws):
        shape = list(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else type(latent_avg).__name__
        raise FaceEditError(f"{source}: latent_avg has shape {shape}; expected [{cfg.w_dim}] or "
                            f"[{cfg.num_ws}, {cfg.w_dim}]")
    if not torch.isfinite(latent_avg).all():
        raise FaceEditError(f"{source}: latent_avg holds NaN or infinite values")
    enc = PSPEncoder(cfg, latent_avg, opts)
    load_state_exact(enc.net, enc_sd, source)
    decoder = {k[len("decoder."):]: v for k, v in sd.items() if str(k).startswith("decoder.")}
    return PSPCheckpoint(enc.eval(), decoder, opts)


def load_psp(path: str | os.PathLike) -> PSPCheckpoint:
    """Read a pSp / e4e ``.pt`` with the restricted torch reader and build its encoder (CPU, eval mode)."""
    from faceedit.io.safe_torch import safe_load_torch

    path = Path(path)
    if not path.is_file():
        raise FaceEditError(f"encoder file not found: {path}")
    return read_psp(safe_load_torch(path), str(path))


def save_psp(path: str | os.PathLike, encoder: PSPEncoder, decoder: Mapping[str, torch.Tensor] | None = None,
             opts: Any = None) -> None:
    """Write a checkpoint the way pSp/e4e's training code does: ``torch.save({'state_dict', 'opts',
    'latent_avg'})`` (atomically). ``opts``: a dict or Namespace (default: the encoder's own options)."""
    from faceedit import atomic

    sd = {f"encoder.{k}": v.detach().clone() for k, v in encoder.net.state_dict().items()}
    sd.update({f"decoder.{k}": v for k, v in (decoder or {}).items()})
    if opts is None:
        opts = dict(encoder.opts, encoder_type={"psp": "GradualStyleEncoder", "e4e": "Encoder4Editing"}[encoder.kind],
                    start_from_latent_avg=True)
    with atomic.atomic_path(path) as tmp:
        torch.save({"state_dict": sd, "opts": opts, "latent_avg": encoder.w_avg.detach().clone()}, tmp)
