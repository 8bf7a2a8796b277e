"""face-api.js networks (npm ``@vladmandic/face-api@1.7.15``, MIT) as differentiable PyTorch modules.

Four networks, each read from its tfjs weights (see :mod:`faceedit.scorers.tfjs`; fetched by
:mod:`faceedit.scorers.fetch`), parameter names = the tfjs names with ``/`` → ``.``:

- ``face_expression_model``: :class:`FaceProcessorNet` — a "dense" feature extractor (4 blocks of
  depthwise-separable 3×3 convs whose outputs are summed, DenseNet-like; 112×112 → 7×7×256, then 7×7 average
  pool) and a 256 → 7 linear layer; softmax over :data:`EXPRESSIONS`.
- ``face_landmark_68_model``: the same architecture (its own weights) with a 256 → 136 head: 68 ``(x, y)``
  positions relative to the padded square input.
- ``age_gender_model``: :class:`AgeGenderNet` — a tiny Xception (entry flow, 2 middle blocks, exit flow;
  112×112 → 7×7×512, 7×7 average pool) with two heads: age in years (regression) and gender logits
  (index 0 = male, 1 = female).
- ``face_recognition_model``: :class:`FaceRecognitionNet` — dlib's ``dlib_face_recognition_resnet_model_v1``
  (a ResNet-34-like net with 29 conv layers, "scale" layers after each conv, 150×150 input) → 128-d descriptor.

Preprocessing is face-api's (``NetInput.toBatchTensor`` + ``normalize``): RGB pixels in [0, 255], zero-padded to a
square (centred), resized to 112 or 150 with TF's legacy bilinear resize (no half-pixel centres, no antialias),
minus the mean RGB ``(122.782, 117.001, 104.298)``, divided by 255. Convolutions use TF's "SAME" padding (extra
pixel at the bottom/right for stride 2), reproduced exactly.

Public entry: :func:`load_faceapi` → :class:`FaceApi`, whose methods take generator-style images ``[N, 3, H, W]``
in [-1, 1] and are differentiable with respect to them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError
from faceedit.scorers.fetch import missing_files, not_found_message, resolve_dir
from faceedit.scorers.tfjs import read_tfjs_weights

#: face-api's mean RGB (pixels in [0, 255]), subtracted before dividing by 255.
MEAN_RGB = (122.782, 117.001, 104.298)
#: The order of :meth:`FaceApi.expressions`' columns (face-api's ``FACE_EXPRESSION_LABELS``).
EXPRESSIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
FEATURE_SIZE = 112
RECOGNITION_SIZE = 150
#: dlib's / face-api's usual threshold: two faces are the same person when the Euclidean distance of their
#: descriptors is below this.
SAME_PERSON_THRESHOLD = 0.6
#: Where dlib's 150-px face chip (5-point alignment, padding 0.25) falls in an FFHQ-aligned image, as
#: ``(x0, y0, x1, y1)`` relative to the image: the mean over 39 CelebA-HQ images (std ≈ 0.015; rotation ≈ 0.01
#: rad). The default crop of every scorer (``box="ffhq"``): generator outputs are FFHQ-aligned. On it the port's
#: descriptor is within 0.04 of dlib's own (different faces: ≈ 0.85).
FFHQ_FACE_BOX = (0.157, 0.268, 0.852, 0.963)


# --------------------------------------------------------------------------------------------------- TF ops
def tf_same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Pad ``x`` [N, C, H, W] as TensorFlow's ``'same'`` does for a ``kernel``×``kernel`` window with ``stride``
    (total ``max((ceil(n/s)-1)*s + k - n, 0)``, the odd pixel after)."""
    pads = []
    for n in (x.shape[3], x.shape[2]):  # F.pad order: last dim first
        out = -(-n // stride)
        total = max((out - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    if not any(pads):
        return x
    return F.pad(x, pads, value=value)


def resize_bilinear_tf(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """TF's legacy ``resizeBilinear(alignCorners=false, halfPixelCenters=false)`` on [N, C, H, W]:
    source coordinate ``dst * in/out`` (no half-pixel shift). Differentiable."""
    oh, ow = (size, size) if isinstance(size, int) else size
    h, w = x.shape[-2:]
    if (h, w) == (oh, ow):
        return x

    def taps(n_in: int, n_out: int):
        src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
        lo = src.floor().clamp(min=0)
        frac = (src - lo).to(device=x.device, dtype=x.dtype)
        hi = src.ceil().clamp(max=n_in - 1).long().to(x.device)
        return lo.long().to(x.device), hi, frac

    r0, r1, rf = taps(h, oh)
    c0, c1, cf = taps(w, ow)
    left, right = x.index_select(3, c0), x.index_select(3, c1)
    x = left + (right - left) * cf
    top, bottom = x.index_select(2, r0), x.index_select(2, r1)
    return top + (bottom - top) * rf[:, None]


def pad_to_square(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """face-api's ``padToSquare(img, isCenterImage=true)`` on [N, C, H, W] (zeros; ``round(diff/2)`` after, the rest
    before). Returns the padded tensor and the ``(left, top)`` padding."""
    h, w = x.shape[-2:]
    if h == w:
        return x, 0, 0
    diff = abs(h - w)
    after = int(math.floor(diff * 0.5 + 0.5))  # JavaScript's Math.round
    before = diff - after
    if h > w:
        return F.pad(x, [before, after, 0, 0]), before, 0
    return F.pad(x, [0, 0, before, after]), 0, before


# ----------------------------------------------------------------------------------------------- layers
class Conv(nn.Module):
    """Plain conv + bias; ``filters`` [out, in, k, k] (tfjs ``filters`` [k, k, in, out])."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: str = "same"):
        super().__init__()
        self.filters = nn.Parameter(torch.zeros(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            x = tf_same_pad(x, self.kernel, self.stride)
        return F.conv2d(x, self.filters, self.bias, stride=self.stride)


class SeparableConv(nn.Module):
    """TF ``separableConv2d`` (3×3 depthwise with stride, 'same'; then 1×1 pointwise) + bias."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.depthwise_filter = nn.Parameter(torch.zeros(cin, 1, 3, 3))
        self.pointwise_filter = nn.Parameter(torch.zeros(cout, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(tf_same_pad(x, 3, self.stride), self.depthwise_filter, stride=self.stride, groups=x.shape[1])
        return F.conv2d(x, self.pointwise_filter, self.bias)


class Dense(nn.Module):
    """``x @ weights + bias`` with ``weights`` [in, out] (TF layout)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(cin, cout))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weights + self.bias


class DenseBlock4(nn.Module):
    """face-api ``denseBlock4``: conv0 (stride 2; a plain conv in the first block), conv1..3 separable; each
    conv sees the ReLU of the sum of all previous outputs; returns ReLU of the sum of all four."""

    def __init__(self, cin: int, cout: int, first: bool = False):
        super().__init__()
        self.conv0 = Conv(cin, cout, 3, 2) if first else SeparableConv(cin, cout, 2)
        self.conv1 = SeparableConv(cout, cout)
        self.conv2 = SeparableConv(cout, cout)
        self.conv3 = SeparableConv(cout, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = F.relu(self.conv0(x))
        out2 = self.conv1(out1)
        out3 = self.conv2(F.relu(out1 + out2))
        out4 = self.conv3(F.relu(out1 + (out2 + out3)))
        return F.relu(out1 + (out2 + (out3 + out4)))


# ------------------------------------------------------------------------------------------------- nets
class FaceProcessorNet(nn.Module):
    """face-api ``FaceFeatureExtractor`` (dense0..3: 3→32→64→128→256 channels, 112 → 7 px) + ``fc`` head.

    Input: normalised [N, 3, 112, 112]; output: head logits [N, ``outputs``] (7 expressions or 136 landmarks).
    """

    def __init__(self, outputs: int):
        super().__init__()
        self.dense0 = DenseBlock4(3, 32, first=True)
        self.dense1 = DenseBlock4(32, 64)
        self.dense2 = DenseBlock4(64, 128)
        self.dense3 = DenseBlock4(128, 256)
        self.fc = Dense(256, outputs)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four blocks' outputs (56, 28, 14, 7 px for a 112 input)."""
        feats = []
        for block in (self.dense0, self.dense1, self.dense2, self.dense3):
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)[-1]
        x = F.avg_pool2d(x, 7, 2)
        return self.fc(x.flatten(1))


class ReductionBlock(nn.Module):
    def __init__(self, cin: int, cout: int, activate_input: bool = True):
        super().__init__()
        self.separable_conv0 = SeparableConv(cin, cout)
        self.separable_conv1 = SeparableConv(cout, cout)
        self.expansion_conv = Conv(cin, cout, 1, 2)
        self.activate_input = activate_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(x) if self.activate_input else x
        out = self.separable_conv0(out)
        out = self.separable_conv1(F.relu(out))
        out = F.max_pool2d(tf_same_pad(out, 3, 2, value=-math.inf), 3, 2)
        return out + self.expansion_conv(x)


class MainBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.separable_conv0 = SeparableConv(channels, channels)
        self.separable_conv1 = SeparableConv(channels, channels)
        self.separable_conv2 = SeparableConv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.separable_conv0(F.relu(x))
        out = self.separable_conv1(F.relu(out))
        out = self.separable_conv2(F.relu(out))
        return out + x


class AgeGenderNet(nn.Module):
    """face-api ``TinyXception(2)`` (112 → 7 px, 512 channels) + 7×7 average pool + heads ``fc.age`` (1) and
    ``fc.gender`` (2 logits: male, female). Input: normalised [N, 3, 112, 112]; output: ``(age [N], logits [N, 2])``.
    """

    def __init__(self, main_blocks: int = 2):
        super().__init__()
        self.entry_flow = nn.ModuleDict({
            "conv_in": Conv(3, 32, 3, 2),
            "reduction_block_0": ReductionBlock(32, 64, activate_input=False),
            "reduction_block_1": ReductionBlock(64, 128),
        })
        self.middle_flow = nn.ModuleDict({f"main_block_{i}": MainBlock(128) for i in range(main_blocks)})
        self.exit_flow = nn.ModuleDict({
            "reduction_block": ReductionBlock(128, 256),
            "separable_conv": SeparableConv(256, 512),
        })
        self.fc = nn.ModuleDict({"age": Dense(512, 1), "gender": Dense(512, 2)})

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        e = self.entry_flow
        x = F.relu(e["conv_in"](x))
        f0 = e["reduction_block_0"](x)
        x = e["reduction_block_1"](f0)
        for block in self.middle_flow.values():
            x = block(x)
        f1 = x
        x = self.exit_flow["reduction_block"](x)
        x = F.relu(self.exit_flow["separable_conv"](x))
        return [f0, f1, x]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.avg_pool2d(self.features(x)[-1], 7, 2).flatten(1)
        return self.fc["age"](x)[:, 0], self.fc["gender"](x)


class Scale(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.weights = nn.Parameter(torch.ones(channels))
        self.biases = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights[:, None, None] + self.biases[:, None, None]


class ConvLayer(nn.Module):
    """conv (+bias) → scale (→ ReLU by the caller)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: str = "same"):
        super().__init__()
        self.conv = Conv(cin, cout, kernel, stride, padding)
        self.scale = Scale(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(self.conv(x))


class Residual(nn.Module):
    """dlib residual unit; ``down``: the first conv is 3×3 stride 2 'valid', the shortcut a 2×2 average pool,
    zero-padded in channels (and by one row/column of the main path when the sizes differ, as face-api does)."""

    def __init__(self, cin: int, cout: int, down: bool = False):
        super().__init__()
        self.conv1 = ConvLayer(cin, cout, 3, 2, "valid") if down else ConvLayer(cin, cout, 3)
        self.conv2 = ConvLayer(cout, cout, 3)
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(x)))
        if not self.down:
            return F.relu(out + x)
        pooled = F.avg_pool2d(x, 2, 2)
        if pooled.shape[-2:] != out.shape[-2:]:
            out = F.pad(out, [0, 1, 0, 1])
        if pooled.shape[1] != out.shape[1]:
            pooled = F.pad(pooled, [0, 0, 0, 0, 0, out.shape[1] - pooled.shape[1]])
        return F.relu(pooled + out)


class FaceRecognitionNet(nn.Module):
    """dlib's face recognition ResNet as face-api runs it. Input: normalised [N, 3, 150, 150]; output [N, 128]."""

    _LAYOUT = (("conv32_1", 32, 32, False), ("conv32_2", 32, 32, False), ("conv32_3", 32, 32, False),
               ("conv64_down", 32, 64, True), ("conv64_1", 64, 64, False), ("conv64_2", 64, 64, False),
               ("conv64_3", 64, 64, False),
               ("conv128_down", 64, 128, True), ("conv128_1", 128, 128, False), ("conv128_2", 128, 128, False),
               ("conv256_down", 128, 256, True), ("conv256_1", 256, 256, False), ("conv256_2", 256, 256, False),
               ("conv256_down_out", 256, 256, True))
    #: Units whose outputs :meth:`features` returns (35, 17, 8, 4 px for a 150 input).
    FEATURE_LAYERS = ("conv32_3", "conv64_3", "conv128_2", "conv256_2")

    def __init__(self):
        super().__init__()
        self.conv32_down = ConvLayer(3, 32, 7, 2, "valid")
        for name, cin, cout, down in self._LAYOUT:
            self.add_module(name, Residual(cin, cout, down))
        self.fc = nn.Parameter(torch.zeros(256, 128))

    def features(self, x: torch.Tensor, upto: str | None = None) -> list[torch.Tensor]:
        x = F.relu(self.conv32_down(x))
        x = F.max_pool2d(x, 3, 2)
        feats = []
        for name, *_ in self._LAYOUT:
            x = getattr(self, name)(x)
            if name in self.FEATURE_LAYERS:
                feats.append(x)
                if name == upto:
                    return feats
        feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)[-1]
        return x.mean(dim=(2, 3)) @ self.fc


# ------------------------------------------------------------------------------------------------ loading
def tfjs_to_torch(name: str, value: np.ndarray) -> torch.Tensor:
    """One tfjs weight in the layout of the modules above (4-D filters → [out, in, kh, kw])."""
    leaf = name.rsplit("/", 1)[-1]
    if value.ndim == 4:
        if leaf == "depthwise_filter":
            kh, kw, c, m = value.shape
            value = value.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
        else:
            value = value.transpose(3, 2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))


def load_tfjs_module(module: nn.Module, directory: str | os.PathLike, model: str) -> nn.Module:
    """Fill ``module``'s parameters from ``<directory>/<model>-weights_manifest.json`` (names must match exactly)."""
    weights = read_tfjs_weights(directory, model)
    state = {name.replace("/", "."): tfjs_to_torch(name, v) for name, v in weights.items()}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}")
        if bad:
            parts.append(f"shape mismatch {[(k, tuple(state[k].shape)) for k in bad[:3]]}")
        raise FaceEditError(f"{directory}/{model}: weights do not fit the face-api network ({'; '.join(parts)})")
    module.load_state_dict(state)
    return module


# ------------------------------------------------------------------------------------------------ facade
class AgeGender(NamedTuple):
    age: torch.Tensor  #: [N] years
    p_male: torch.Tensor  #: [N] probability of "male" (p_female = 1 - p_male)


class FaceApi(nn.Module):
    """The four face-api scorers, frozen, in eval mode. Every method takes ``img`` [N, 3, H, W] float in [-1, 1]
    (RGB, generator convention), any size, and is differentiable with respect to it.

    ``box``: the crop applied first, ``(x0, y0, x1, y1)`` relative to the image, ``"ffhq"`` (default:
    :data:`FFHQ_FACE_BOX`, the face of an FFHQ-aligned image such as a generator output) or ``None`` (the whole
    image, as face-api does with the crop it is given; use it for images that are already tight face crops). ``resize``: ``"faceapi"`` (TF's
    legacy bilinear, exactly what face-api does on a tensor), ``"antialias"`` (bilinear with antialiasing: better
    when shrinking a large image, e.g. 1024 → 112) or ``"auto"`` (``"faceapi"`` unless the image is more than twice
    the network's input size).
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        super().__init__()
        self.expression_net = FaceProcessorNet(len(EXPRESSIONS))
        self.landmark_net = FaceProcessorNet(136)
        self.age_gender_net = AgeGenderNet()
        self.recognition_net = FaceRecognitionNet()
        self.directory = Path(directory) if directory is not None else None
        if directory is not None:
            load_tfjs_module(self.expression_net, directory, "face_expression_model")
            load_tfjs_module(self.landmark_net, directory, "face_landmark_68_model")
            load_tfjs_module(self.age_gender_net, directory, "age_gender_model")
            load_tfjs_module(self.recognition_net, directory, "face_recognition_model")
        self.requires_grad_(False)
        self.eval()

    # -- preprocessing
    @staticmethod
    def _check(img: torch.Tensor) -> torch.Tensor:
        if not isinstance(img, torch.Tensor) or img.ndim != 4 or img.shape[1] != 3 or not img.is_floating_point():
            shape = tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__
            raise FaceEditError(f"face-api scorers expect a float tensor [N, 3, H, W] in [-1, 1], got {shape}")
        return img

    @staticmethod
    def _crop(img: torch.Tensor, box) -> tuple[torch.Tensor, float, float]:
        if box is None:
            return img, 0.0, 0.0
        if isinstance(box, str):
            if box != "ffhq":
                raise FaceEditError(f"unknown box {box!r}: use 'ffhq', None or (x0, y0, x1, y1)")
            box = FFHQ_FACE_BOX
        h, w = img.shape[-2:]
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise FaceEditError(f"box must be (x0, y0, x1, y1) with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got {box}")
        l, t = int(round(x0 * w)), int(round(y0 * h))
        r, b = max(int(round(x1 * w)), l + 1), max(int(round(y1 * h)), t + 1)
        return img[:, :, t:b, l:r], float(l), float(t)

    def preprocess(self, img: torch.Tensor, size: int, resize: str = "auto", box="ffhq") -> torch.Tensor:
        """[-1, 1] images → the normalised [N, 3, size, size] input face-api builds (see the module docstring)."""
        img = self._check(img)
        if resize not in ("auto", "faceapi", "antialias"):
            raise FaceEditError(f"unknown resize mode {resize!r}: use auto, faceapi or antialias")
        img, _, _ = self._crop(img, box)
        dtype = next(self.parameters()).dtype
        x = (img.to(dtype) + 1.0) * 127.5
        x, _, _ = pad_to_square(x)
        side = x.shape[-1]
        if resize == "antialias" or (resize == "auto" and side > 2 * size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        else:
            x = resize_bilinear_tf(x, size)
        mean = torch.tensor(MEAN_RGB, dtype=x.dtype, device=x.device)[:, None, None]
        return (x - mean) / 255.0

    # -- scorers
    def expression_logits(self, img: torch.Tensor, **kw) -> torch.Tensor:
        """[N, 7] logits in :data:`EXPRESSIONS` order (softmax gives :meth:`expressions`)."""
        return self.expression_net(self.preprocess(img, FEATURE_SIZE, **kw))

    def expressions(self, img: torch.Tensor, **kw) -> torch.Tensor:
        """[N, 7] probabilities: neutral, happy, sad, angry, fearful, disgusted, surprised."""
        return torch.softmax(self.expression_logits(img, **kw), dim=1)

    def expression(self, img: torch.Tensor, name: str, **kw) -> torch.Tensor:
        """[N] probability of one expression (e.g. ``"happy"``): a differentiable score for expression edits."""
        if name not in EXPRESSIONS:
            raise FaceEditError(f"unknown expression {name!r}: use one of {', '.join(EXPRESSIONS)}")
        return self.expressions(img, **kw)[:, EXPRESSIONS.index(name)]

    def age_gender(self, img: torch.Tensor, **kw) -> AgeGender:
        """``(age [N] in years, p_male [N])``."""
        age, logits = self.age_gender_net(self.preprocess(img, FEATURE_SIZE, **kw))
        return AgeGender(age, torch.softmax(logits, dim=1)[:, 0])

    def landmarks(self, img: torch.Tensor, relative: bool = False, box="ffhq", **kw) -> torch.Tensor:
        """[N, 68, 2] ``(x, y)`` in pixels of ``img`` (face-api's positions: relative × width/height, iBUG-300W
        order); ``relative=True``: divided by the width and height of ``img`` (or of the box when one is given)."""
        img = self._check(img)
        crop, left, top = self._crop(img, box)
        h, w = crop.shape[-2:]
        out = self.landmark_net(self.preprocess(crop, FEATURE_SIZE, box=None, **kw)).reshape(-1, 68, 2)
        side = max(h, w)
        pad_x = (h - w) / 2 if w < h else 0.0  # face-api's postProcess uses the exact half
        pad_y = (w - h) / 2 if h < w else 0.0
        x = out[..., 0] * side - pad_x
        y = out[..., 1] * side - pad_y
        if relative:
            return torch.stack([x / w, y / h], dim=-1)
        return torch.stack([x + left, y + top], dim=-1)

    def identity(self, img: torch.Tensor, **kw) -> torch.Tensor:
        """[N, 128] face descriptor (dlib-compatible; same person when the Euclidean distance < 0.6)."""
        return self.recognition_net(self.preprocess(img, RECOGNITION_SIZE, **kw))

    def forward(self, img: torch.Tensor, **kw) -> dict[str, torch.Tensor]:
        """All scores at once: ``expressions``, ``age``, ``p_male``, ``landmarks``, ``identity``."""
        ag = self.age_gender(img, **kw)
        return {"expressions": self.expressions(img, **kw), "age": ag.age, "p_male": ag.p_male,
                "landmarks": self.landmarks(img, **kw), "identity": self.identity(img, **kw)}


_CACHE: dict[str, FaceApi] = {}


def load_faceapi(cache: str | os.PathLike | None = None, *, device: str | torch.device = "cpu",
                 reuse: bool = True) -> FaceApi:
    """Load the face-api scorers from the fetched weights.

    ``cache``: the weights folder, or a cache root holding ``face-api-1.7.15/`` (default ``$FACEEDIT_CACHE`` or
    ``~/.cache/faceedit``). Raises :class:`FaceEditError` naming the fetch command when the weights are absent.
    ``reuse``: return the instance already loaded from the same folder in this process.
    """
    directory = resolve_dir(cache)
    if missing_files(directory):
        raise FaceEditError(not_found_message(directory))
    key = f"{directory.resolve()}|{torch.device(device)}"
    if reuse and key in _CACHE:
        return _CACHE[key]
    api = FaceApi(directory).to(device)
    if reuse:
        _CACHE[key] = api
    return api
