"""The 19-class face parser (CelebAMask-HQ classes): a small, differentiable U-Net on FFHQ-aligned faces.

    from faceedit.scorers import load_parser
    fp = load_parser()                        # shipped weights (assets/face_parser.safetensors)
    lab = fp.labels(images)                   # images: float [N, 3, H, W] in [-1, 1] → [N, H, W] long class ids
    m = fp.region_mask(images, "hair")        # [N, 1, H, W] soft mask in [0, 1] (sum of the region's class probs)

Classes (CelebAMask-HQ order; "left"/"right" are the subject's): see :data:`CLASSES`. Named regions for edits
and paste-back: see :data:`REGIONS`. The network works at ``size`` px (128 by default): inputs are resized to it
inside and the logits resized back to the input's size (bilinear), so everything stays differentiable.
Trained by :mod:`faceedit.train.parser` (``faceedit train parser``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError
from faceedit.io.registry import ASSETS
from faceedit.io.weights import load_state, read_network, save_network
from faceedit.scorers.inputs import to_model_size
from faceedit.scorers.classifier import ResBlock, conv_bn

CLASSES = ("background", "skin", "nose", "eye_glasses", "left_eye", "right_eye", "left_brow", "right_brow",
           "left_ear", "right_ear", "mouth", "upper_lip", "lower_lip", "hair", "hat", "ear_ring", "neck_lace",
           "neck", "cloth")
# Class ids swapped by a horizontal flip (left ↔ right of the subject).
FLIP_PAIRS = ((4, 5), (6, 7), (8, 9))
REGIONS: dict[str, tuple[int, ...]] = {
    "background": (0,),
    "skin": (1,),
    "nose": (2,),
    "glasses": (3,),
    "eyes": (4, 5),
    "brows": (6, 7),
    "eyebrows": (6, 7),
    "ears": (8, 9),
    "mouth": (10, 11, 12),
    "lips": (11, 12),
    "hair": (13,),
    "hat": (14,),
    "earrings": (15,),
    "necklace": (16,),
    "neck": (17,),
    "cloth": (18,),
    # the whole face (skin and features, no hair/ears/neck): useful for paste-back
    "face": (1, 2, 3, 4, 5, 6, 7, 10, 11, 12),
    # everything that belongs to the person
    "person": tuple(range(1, 19)),
}
# A colour per class for overlays and palette PNGs (CelebAMask-HQ's usual colours).
PALETTE = np.array([
    [0, 0, 0], [204, 0, 0], [76, 153, 0], [204, 204, 0], [51, 51, 255], [204, 0, 204], [0, 255, 255],
    [255, 204, 204], [102, 51, 0], [255, 0, 0], [102, 204, 0], [255, 255, 0], [0, 0, 153], [0, 0, 204],
    [255, 51, 153], [0, 204, 204], [0, 51, 0], [255, 153, 51], [0, 204, 0]], dtype=np.uint8)
KIND = "face_parser"
DEFAULT_WEIGHTS = ASSETS / "face_parser.safetensors"
TRAIN_HINT = "faceedit train parser"


@dataclass
class ParserConfig:
    """``size``: working side in px; ``widths``: channels per U-Net level (level 0 at ``size / stem_stride``, each
    next level half the size); ``bottleneck``: extra residual blocks at the coarsest level; ``stem_stride`` 2 makes
    the network predict at half size and upsample its logits (bilinear) to ``size`` — 4× cheaper."""

    size: int = 128
    widths: tuple[int, ...] = (16, 32, 64, 128)
    bottleneck: int = 1
    stem_stride: int = 2
    num_classes: int = len(CLASSES)
    classes: tuple[str, ...] = CLASSES

    def __post_init__(self):
        self.widths, self.classes = tuple(self.widths), tuple(self.classes)
        if len(self.widths) < 2:
            raise FaceEditError("parser config: at least two levels")
        if self.stem_stride not in (1, 2):
            raise FaceEditError("parser config: stem_stride must be 1 or 2")
        div = self.stem_stride * 2 ** (len(self.widths) - 1)
        if int(self.size) % div:
            raise FaceEditError(f"parser config: size {self.size} must be divisible by {div}")
        if len(self.classes) != self.num_classes:
            raise FaceEditError("parser config: classes and num_classes differ")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ParserConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class ParserNet(nn.Module):
    """Raw U-Net: ``[N, 3, size, size]`` in [-1, 1] → ``[N, num_classes, size, size]`` logits.

    Encoder: a strided stem, then per level a stride-2 conv and a residual block; ``bottleneck`` dilated residual
    blocks at the coarsest level; decoder: bilinear ×2, concatenate the skip, one 3×3 conv per level; 1×1 to the
    classes; logits upsampled to ``size`` when the stem is strided. Dense 3×3 convs throughout (fast on a CPU).
    """

    def __init__(self, cfg: ParserConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        self.stem = conv_bn(3, w[0], cfg.stem_stride)
        self.down = nn.ModuleList(nn.Sequential(conv_bn(w[i], w[i + 1], 2), ResBlock(w[i + 1], w[i + 1]))
                                  for i in range(len(w) - 1))
        self.mid = nn.Sequential(*[ResBlock(w[-1], w[-1], dilation=2) for _ in range(cfg.bottleneck)])
        self.up = nn.ModuleList(conv_bn(w[i + 1] + w[i], w[i]) for i in reversed(range(len(w) - 1)))
        self.out = nn.Conv2d(w[0], cfg.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        y = self.mid(skips.pop())
        for u in self.up:
            s = skips.pop()
            y = u(torch.cat([F.interpolate(y, size=s.shape[-2:], mode="bilinear", align_corners=False), s], 1))
        y = self.out(y)
        if y.shape[-1] != x.shape[-1] or y.shape[-2] != x.shape[-2]:
            y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y


def _region_ids(region: str | int | tuple | list) -> tuple[int, ...]:
    if isinstance(region, int):
        ids = (region,)
    elif isinstance(region, str):
        key = region.lower().replace("-", "_")
        if key in REGIONS:
            ids = REGIONS[key]
        elif key in CLASSES:
            ids = (CLASSES.index(key),)
        else:
            raise FaceEditError(f"unknown face region {region!r}: choose from {', '.join(REGIONS)} "
                                f"or a class name ({', '.join(CLASSES)})")
    else:
        ids = tuple(i for r in region for i in _region_ids(r))
    for i in ids:
        if not 0 <= i < len(CLASSES):
            raise FaceEditError(f"class id {i} out of range 0–{len(CLASSES) - 1}")
    return tuple(sorted(set(ids)))


class FaceParser(nn.Module):
    """A trained :class:`ParserNet` with its card. Differentiable w.r.t. the input.

    ``logits(x)``: ``x`` float ``[N, 3, H, W]`` in [-1, 1] → ``[N, 19, H, W]`` (at the input's size; pass
    ``native=True`` for the network's own size). ``labels(x)`` → ``[N, H, W]`` long. ``probs(x)`` → softmax.
    ``region_mask(x, region)`` → ``[N, 1, H, W]`` soft mask (sum of the region's class probabilities).
    """

    def __init__(self, net: ParserNet, card: dict | None = None):
        super().__init__()
        self.net = net
        self.card = dict(card or {})

    @property
    def cfg(self) -> ParserConfig:
        return self.net.cfg

    @property
    def classes(self) -> list[str]:
        return list(self.net.cfg.classes)

    @property
    def regions(self) -> list[str]:
        return list(REGIONS)

    @property
    def size(self) -> int:
        return self.net.cfg.size

    def logits(self, x: torch.Tensor, native: bool = False) -> torch.Tensor:
        p = next(self.net.parameters())
        out_size = tuple(x.shape[-2:]) if torch.is_tensor(x) else None
        y = self.net(to_model_size(x.to(device=p.device, dtype=p.dtype) if torch.is_tensor(x) else x, self.size))
        if not native and out_size != tuple(y.shape[-2:]):
            y = F.interpolate(y, size=out_size, mode="bilinear", align_corners=False)
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def probs(self, x: torch.Tensor, native: bool = False) -> torch.Tensor:
        return torch.softmax(self.logits(x, native), dim=1)

    def labels(self, x: torch.Tensor, native: bool = False) -> torch.Tensor:
        with torch.no_grad():
            return self.logits(x, native).argmax(1)

    def region_mask(self, x: torch.Tensor, region, native: bool = False) -> torch.Tensor:
        """Soft mask ``[N, 1, H, W]`` in [0, 1] for a named region (``hair``, ``mouth``, ``eyes``, ``brows``,
        ``nose``, ``skin``, ``ears``, ``glasses``, ``neck``, ``cloth``, ``hat``, ``background``, ``face``...),
        a class name, a class id, or a list of these."""
        ids = _region_ids(region)
        return self.probs(x, native)[:, list(ids)].sum(1, keepdim=True)

    def save(self, path: str | Path, card: dict | None = None) -> None:
        save_network(path, self.net, KIND, self.cfg.to_dict(), card if card is not None else self.card)


def load_parser(path: str | Path | None = None, device: str | torch.device = "cpu") -> FaceParser:
    """Load the face parser (default: the shipped weights), in eval mode, parameters frozen."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    meta, sd = read_network(path, KIND, TRAIN_HINT)
    try:
        cfg = ParserConfig.from_dict(meta.get("config") or {})
    except TypeError as exc:
        raise FaceEditError(f"{path}: bad parser config: {exc}") from None
    net = ParserNet(cfg)
    load_state(net, sd, str(path))
    fp = FaceParser(net, meta.get("card") or {})
    fp.eval().requires_grad_(False)
    return fp.to(device)


def colorize(labels: np.ndarray) -> np.ndarray:
    """``H×W`` class ids → ``H×W×3`` uint8 colours (:data:`PALETTE`)."""
    return PALETTE[np.clip(np.asarray(labels), 0, len(PALETTE) - 1)]


def mask_image(labels: np.ndarray):
    """``H×W`` class ids → a palette-mode PIL image (pixel value = class id, coloured in viewers)."""
    from PIL import Image

    im = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
    pal = np.zeros((256, 3), np.uint8)
    pal[:len(PALETTE)] = PALETTE
    im.putpalette(pal.flatten().tolist())
    return im


def overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend the class colours over ``image`` (``H×W×3`` uint8); background left as is."""
    img = np.asarray(image, dtype=np.float32)
    col = colorize(labels).astype(np.float32)
    a = np.where(np.asarray(labels)[..., None] > 0, alpha, 0.0).astype(np.float32)
    return np.clip(img * (1 - a) + col * a + 0.5, 0, 255).astype(np.uint8)


__all__ = ["CLASSES", "FLIP_PAIRS", "PALETTE", "REGIONS", "FaceParser", "ParserConfig", "ParserNet", "colorize",
           "load_parser", "mask_image", "overlay"]
