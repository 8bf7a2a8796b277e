"""The feed-forward style network of Johnson et al. (2016) and a slimmer variant, and their file format.

The network (``TransformNet``) maps an RGB image in [-1, 1], ``[N, 3, H, W]``, to a stylised image of the same
size in [-1, 1]: a wide-kernel stem, two stride-2 convolutions (÷4), residual blocks, two nearest-upsample +
convolution stages (×4; no transposed convolutions, which leave checkerboard artefacts) and a wide-kernel output
convolution with ``tanh``. Every convolution is followed by instance normalisation (affine) and ReLU, except the
output; padding is reflection padding. Any ``H, W`` ≥ :data:`MIN_SIDE` works: the input is reflection-padded to a
multiple of 4 and the output cropped back.

Two shapes (:data:`PRESETS`):

- ``"johnson"``: the paper's network (32/64/128 channels, 9×9 stem and output, 5 residual blocks of full 3×3
  convolutions; 1.68 M parameters).
- ``"slim"``: 16/32/64 channels, 5×5 stem and output, 5 residual blocks whose convolutions are depthwise 3×3 +
  pointwise 1×1, and depthwise-separable upsampling convolutions (≈ 0.06 M parameters, ≈ 10× fewer
  multiply-adds). Measured against ``"johnson"`` in benchmarks/README.md.

File format (a style model): one ``.safetensors`` file with fp16 tensors and, in its metadata under the key
``faceedit``, the JSON ``{"format_version": 1, "kind": "style_network", "config": {...}, "card": {...}}``; the
card (style image name and sha256, loss weights, steps, measured losses, licence …) is also written beside it as
``NAME.json``. :func:`load_style_model` refuses a file whose tensors do not match its own configuration, a file
made for another network size, non-finite weights and anything that is not a style model.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError
from faceedit.io.weights import read_network, save_network

KIND = "style_network"
#: Smallest image side the network accepts (it halves the image twice; instance norm needs > 1 value per channel).
MIN_SIDE = 8


@dataclass(frozen=True)
class NetConfig:
    """Shape of a :class:`TransformNet`. ``channels``: widths at full, ½ and ¼ resolution; ``res_blocks``: number
    of residual blocks at ¼ resolution; ``edge_kernel``: kernel of the stem and of the output convolution;
    ``separable``: depthwise 3×3 + pointwise 1×1 instead of full 3×3 in the residual blocks and upsampling stages."""

    channels: tuple[int, int, int] = (32, 64, 128)
    res_blocks: int = 5
    edge_kernel: int = 9
    separable: bool = False

    def __post_init__(self):
        ch = tuple(int(c) for c in self.channels)
        if len(ch) != 3 or not all(1 <= c <= 1024 for c in ch):
            raise FaceEditError(f"style network channels must be three numbers from 1 to 1024, got {self.channels}")
        if not 0 <= int(self.res_blocks) <= 64:
            raise FaceEditError(f"style network residual blocks must be 0 to 64, got {self.res_blocks}")
        if int(self.edge_kernel) not in (1, 3, 5, 7, 9):
            raise FaceEditError(f"style network edge kernel must be 1, 3, 5, 7 or 9, got {self.edge_kernel}")
        object.__setattr__(self, "channels", ch)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        if not isinstance(d, dict):
            raise FaceEditError("style network config must be a JSON object")
        known = {"channels", "res_blocks", "edge_kernel", "separable"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FaceEditError(f"style network config has unknown keys: {', '.join(unknown[:3])}")
        try:
            return cls(channels=tuple(d.get("channels", (32, 64, 128))), res_blocks=int(d.get("res_blocks", 5)),
                       edge_kernel=int(d.get("edge_kernel", 9)), separable=bool(d.get("separable", False)))
        except (TypeError, ValueError) as exc:
            raise FaceEditError(f"bad style network config: {exc}") from None


PRESETS: dict[str, NetConfig] = {
    "johnson": NetConfig((32, 64, 128), 5, 9, False),
    "slim": NetConfig((16, 32, 64), 5, 5, True),
}


def conv(cin: int, cout: int, k: int, stride: int = 1, separable: bool = False) -> nn.Module:
    """Reflection-padded k×k convolution (stride ``stride``); ``separable``: depthwise k×k then pointwise 1×1."""
    pad = nn.ReflectionPad2d(k // 2) if k > 1 else nn.Identity()
    if separable and k > 1:
        return nn.Sequential(pad, nn.Conv2d(cin, cin, k, stride, groups=cin, bias=False), nn.Conv2d(cin, cout, 1))
    return nn.Sequential(pad, nn.Conv2d(cin, cout, k, stride))


def norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=True)


class ResBlock(nn.Module):
    """x + IN(conv(ReLU(IN(conv(x))))) at constant width (Johnson's block without the final ReLU)."""

    def __init__(self, c: int, separable: bool):
        super().__init__()
        self.body = nn.Sequential(conv(c, c, 3, separable=separable), norm(c), nn.ReLU(inplace=True),
                                  conv(c, c, 3, separable=separable), norm(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Up(nn.Module):
    """Nearest ×2 upsampling, then a 3×3 convolution, instance norm, ReLU."""

    def __init__(self, cin: int, cout: int, separable: bool):
        super().__init__()
        self.body = nn.Sequential(conv(cin, cout, 3, separable=separable), norm(cout), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransformNet(nn.Module):
    """Image → stylised image, ``[N, 3, H, W]`` in [-1, 1] → the same shape in [-1, 1] (see the module doc)."""

    def __init__(self, cfg: NetConfig = PRESETS["slim"]):
        super().__init__()
        self.cfg = cfg
        c1, c2, c3 = cfg.channels
        k = cfg.edge_kernel
        self.down = nn.Sequential(
            conv(3, c1, k), norm(c1), nn.ReLU(inplace=True),
            conv(c1, c2, 3, stride=2), norm(c2), nn.ReLU(inplace=True),
            conv(c2, c3, 3, stride=2), norm(c3), nn.ReLU(inplace=True))
        self.res = nn.Sequential(*[ResBlock(c3, cfg.separable) for _ in range(cfg.res_blocks)])
        self.up = nn.Sequential(Up(c3, c2, cfg.separable), Up(c2, c1, cfg.separable))
        self.out = conv(c1, 3, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or x.ndim != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise FaceEditError(f"style network input must be [N, 3, H, W], got {shape}")
        h, w = x.shape[-2:]
        if min(h, w) < MIN_SIDE:
            raise FaceEditError(f"image too small for the style network: {w}x{h} px (at least {MIN_SIDE} px a side)")
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        y = torch.tanh(self.out(self.up(self.res(self.down(x)))))
        return y[..., :h, :w]

    def multiply_adds(self, h: int = 256, w: int = 256) -> int:
        """Multiply-adds of the convolutions for one ``h×w`` image (a speed measure independent of the CPU)."""
        total = 0
        hooks = []

        def count(m: nn.Conv2d, _inp, out):
            nonlocal total
            total += out.numel() // out.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                hooks.append(m.register_forward_hook(count))
        try:
            with torch.no_grad():
                self(torch.zeros(1, 3, h, w))
        finally:
            for hk in hooks:
                hk.remove()
        return int(total)


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# ------------------------------------------------------------------------------------------------ file format

@dataclass
class StyleModel:
    """A trained style network with its card. ``net`` is in eval mode; ``card`` is the JSON card (see
    :func:`faceedit.stylize.training.make_card`); ``name`` the file's stem."""

    net: TransformNet
    card: dict = field(default_factory=dict)
    name: str = "style"
    path: Path | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net(x)


def save_style_model(path: str | os.PathLike, net: TransformNet, card: dict) -> None:
    """Write ``net`` as fp16 safetensors with its config and ``card`` in the metadata, and the card beside it as
    ``NAME.json``; both atomically."""
    for k, v in net.state_dict().items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise FaceEditError(f"style network weight {k} holds NaN or infinite values (training diverged); "
                                "not saved")
        if v.is_floating_point() and float(v.abs().max()) > 65000:
            raise FaceEditError(f"style network weight {k} is too large for fp16 ({float(v.abs().max()):.3g})")
    save_network(path, net, KIND, net.cfg.to_dict(), card)


def load_style_model(path: str | os.PathLike) -> StyleModel:
    """Read a style model written by :func:`save_style_model`.

    Raises :class:`FaceEditError` (one line) for a missing, corrupt or foreign file, a file whose tensors do not
    fit its configuration (a network of another size: other widths, kernels or number of blocks), or non-finite
    weights.
    """
    from faceedit.limits import regular_file

    path = Path(path)
    if not path.exists():
        raise FaceEditError(f"style model not found: {path} (train one with 'faceedit train style')")
    regular_file(path, "style model")
    meta, sd = read_network(path, KIND, "faceedit train style")
    cfg = NetConfig.from_dict(meta.get("config") or {})
    net = TransformNet(cfg)
    own = net.state_dict()
    for k, v in sd.items():
        if k in own and tuple(v.shape) != tuple(own[k].shape):
            raise FaceEditError(f"{path}: weights are for another network size ({k} is {tuple(v.shape)}, the "
                                f"file's config {cfg.channels} needs {tuple(own[k].shape)})")
    missing, unexpected = sorted(set(own) - set(sd)), sorted(set(sd) - set(own))
    if missing or unexpected:
        first = (missing or unexpected)[0]
        raise FaceEditError(f"{path}: not a style network of this shape ({len(missing)} tensors missing, "
                            f"{len(unexpected)} unexpected; first: {first})")
    for k, v in sd.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise FaceEditError(f"{path}: weight {k} holds NaN or infinite values (corrupt style model)")
    net.load_state_dict(sd)
    net.eval().requires_grad_(False)
    card = meta.get("card") or {}
    if not isinstance(card, dict):
        raise FaceEditError(f"{path}: its card is not a JSON object")
    return StyleModel(net=net, card=card, name=path.name.removesuffix(".safetensors"), path=path)

