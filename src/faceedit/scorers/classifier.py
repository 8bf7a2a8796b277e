"""The 40-attribute CelebA classifier: a compact, differentiable CNN on FFHQ-aligned faces.

    from faceedit.scorers import load_classifier
    clf = load_classifier()                 # shipped weights (assets/attr_classifier.safetensors)
    p = clf.probs(images)                   # images: float [N, 3, H, W] in [-1, 1] (any H, W) → [N, 40]
    p[:, clf.index("Smiling")]

The network (:class:`AttributeNet`) is a small ResNet (dense 3×3 convs, BatchNorm) at ``size`` px (64 by default),
under 1 M parameters, 40 logits (one per attribute, multi-label, sigmoid). Inputs are resized
inside (antialiased bilinear), so the generator's output can be fed directly, and gradients flow to the input
(the loaded model's own parameters are frozen).
Trained by :mod:`faceedit.train.classifier` (``faceedit train classifier``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from faceedit.errors import FaceEditError
from faceedit.io.registry import ASSETS
from faceedit.io.weights import load_state, read_network, save_network
from faceedit.scorers.inputs import to_model_size

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young",
)
KIND = "attr_classifier"
DEFAULT_WEIGHTS = ASSETS / "attr_classifier.safetensors"
TRAIN_HINT = "faceedit train classifier"


@dataclass
class ClassifierConfig:
    """``size``: input side in px; ``stem``: channels of the first (stride-2) conv; ``widths``/``depths``: per
    stage, residual blocks of two dense 3×3 convs (each stage starts with a stride-2 block; dense convs at low
    resolution run far better on a CPU than depthwise ones); ``dropout`` before the final linear layer."""

    size: int = 64
    stem: int = 24
    widths: tuple[int, ...] = (32, 64, 128, 192)
    depths: tuple[int, ...] = (1, 1, 1, 1)
    dropout: float = 0.2
    attributes: tuple[str, ...] = CELEBA_ATTRIBUTES

    def __post_init__(self):
        self.widths, self.depths, self.attributes = tuple(self.widths), tuple(self.depths), tuple(self.attributes)
        if len(self.widths) != len(self.depths) or not self.widths:
            raise FaceEditError("classifier config: widths and depths must have the same non-zero length")
        if not 16 <= int(self.size) <= 512:
            raise FaceEditError(f"classifier config: size must be 16–512, got {self.size}")
        if not self.attributes:
            raise FaceEditError("classifier config: no attributes")

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def conv_bn(cin: int, cout: int, stride: int = 1, relu: bool = True, dilation: int = 1) -> nn.Sequential:
    """3×3 conv (no bias) → BatchNorm (→ ReLU)."""
    layers = [nn.Conv2d(cin, cout, 3, stride, dilation, dilation=dilation, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """conv3×3 (stride s) → BN → ReLU → conv3×3 → BN, plus the input (1×1 strided projection when shapes
    differ), → ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, stride)
        self.conv2 = conv_bn(cout, cout, relu=False, dilation=dilation)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return torch.relu(y + (x if self.proj is None else self.proj(x)))


class AttributeNet(nn.Module):
    """Raw network: ``[N, 3, size, size]`` in [-1, 1] → ``[N, len(attributes)]`` logits."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg = cfg
        self.stem = conv_bn(3, cfg.stem, 2)
        blocks, c = [], cfg.stem
        for w, d in zip(cfg.widths, cfg.depths):
            for i in range(d):
                blocks.append(ResBlock(c, w, 2 if i == 0 else 1))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(c, len(cfg.attributes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(self.drop(x.mean(dim=(2, 3))))


class AttributeClassifier(nn.Module):
    """A trained :class:`AttributeNet` with its attribute names and card. Differentiable w.r.t. the input.

    ``logits(x)`` / ``probs(x)``: ``x`` float ``[N, 3, H, W]`` in [-1, 1], any size (resized inside) →
    ``[N, A]``. ``attributes``: the names, in output order. ``card``: training facts and validation figures.
    """

    def __init__(self, net: AttributeNet, card: dict | None = None):
        super().__init__()
        self.net = net
        self.card = dict(card or {})

    @property
    def cfg(self) -> ClassifierConfig:
        return self.net.cfg

    @property
    def attributes(self) -> list[str]:
        return list(self.net.cfg.attributes)

    @property
    def size(self) -> int:
        return self.net.cfg.size

    def index(self, name: str) -> int:
        """Output column of attribute ``name`` (case-insensitive; raises FaceEditError listing the names)."""
        low = {a.lower(): i for i, a in enumerate(self.attributes)}
        if name.lower() not in low:
            raise FaceEditError(f"unknown attribute {name!r}: choose from {', '.join(self.attributes)}")
        return low[name.lower()]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        p = next(self.net.parameters())
        x = to_model_size(x.to(device=p.device, dtype=p.dtype), self.size)
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    @torch.no_grad()
    def score(self, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """Probabilities for a large batch, in chunks, without gradients → ``[N, A]`` on the CPU."""
        return torch.cat([self.probs(x[i:i + batch]).float().cpu() for i in range(0, len(x), batch)]) \
            if len(x) else torch.zeros(0, len(self.attributes))

    def save(self, path: str | Path, card: dict | None = None) -> None:
        """fp16 safetensors (config + card in the metadata) plus ``<path>.json`` with the card."""
        save_network(path, self.net, KIND, self.cfg.to_dict(), card if card is not None else self.card)


def load_classifier(path: str | Path | None = None, device: str | torch.device = "cpu") -> AttributeClassifier:
    """Load the attribute classifier (default: the shipped weights), in eval mode, parameters frozen."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    meta, sd = read_network(path, KIND, TRAIN_HINT)
    try:
        cfg = ClassifierConfig.from_dict(meta.get("config") or {})
    except TypeError as exc:
        raise FaceEditError(f"{path}: bad classifier config: {exc}") from None
    net = AttributeNet(cfg)
    load_state(net, sd, str(path))
    clf = AttributeClassifier(net, meta.get("card") or {})
    clf.eval().requires_grad_(False)
    return clf.to(device)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["CELEBA_ATTRIBUTES", "AttributeClassifier", "AttributeNet", "ClassifierConfig", "load_classifier"]
