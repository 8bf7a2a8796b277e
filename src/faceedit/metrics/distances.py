"""Image distances behind one interface: ``d = get(name); d(a, b) -> [N]``.

Every :class:`Distance` takes two image batches ``[N, 3, H, W]`` in [-1, 1] (generator convention; a batch of 1
broadcasts against N) and returns one value per pair. They are differentiable with respect to both images unless
``differentiable`` is False (the dlib identity backend).

- :class:`IdentityDistance` — face identity from a 128-d descriptor of dlib's face recognition ResNet.
  ``backend="faceapi"``: the PyTorch port (face-api's copy of dlib's network, differentiable: an identity loss);
  ``backend="dlib"``: dlib itself (``dlib.face_recognition_model_v1`` with face-recognition-models'
  ``dlib_face_recognition_resnet_model_v1.dat``, on a face found by dlib's detector + 5-point landmarks, numpy
  path, not differentiable). ``metric="euclidean"`` (dlib's own: the same person below
  :data:`SAME_PERSON_THRESHOLD` = 0.6) or ``"cosine"`` (1 - cosine similarity, in [0, 2]).
- :class:`PerceptualDistance` — LPIPS-style: per layer, unit-normalise the features along channels, square the
  difference, weight the channels (LPIPS' learned ``lin`` layers, or plain sum), average over space; then sum
  (LPIPS) or average (unweighted) over layers. Backbones: ``"faceapi"`` (offline default: face-api's recognition
  ResNet, real trained weights once fetched), ``"vgg16"`` (a torchvision-format VGG16 state dict supplied by the
  user, unweighted) and ``"lpips"`` (VGG16 + LPIPS' ``lin{0..4}.model.1.weight``, which reproduces LPIPS-VGG).
  Any module with ``features(x) -> list[Tensor]`` (x in [-1, 1]) can serve as a backbone, e.g. the project's own
  classifier later.
- :class:`PixelDistance` — mean squared error (or L1), the trivial baseline.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError

#: dlib's threshold on the Euclidean descriptor distance: below it, the same person.
SAME_PERSON_THRESHOLD = 0.6


def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise FaceEditError(f"distance input {name} must be a float tensor [N, 3, H, W] in [-1, 1], got {shape}")
    if a.shape[2:] != b.shape[2:]:
        raise FaceEditError(f"distance inputs differ in size: {tuple(a.shape[2:])} vs {tuple(b.shape[2:])}")
    if a.shape[0] != b.shape[0]:
        if a.shape[0] == 1:
            a = a.expand(b.shape[0], -1, -1, -1)
        elif b.shape[0] == 1:
            b = b.expand(a.shape[0], -1, -1, -1)
        else:
            raise FaceEditError(f"distance inputs differ in batch size: {a.shape[0]} vs {b.shape[0]}")
    return a, b


class Distance(nn.Module):
    """``d(a, b) -> [N]`` for image batches in [-1, 1]; 0 for identical images, larger = more different."""

    name = "distance"
    differentiable = True

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a, b = _pair(a, b)
        return self.distance(a, b)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_target(self, b: torch.Tensor):
        """``fn(a) -> [N]`` = ``self(a, b)`` for a fixed target ``b`` (optimisation loops call it every step);
        distances with a feature network compute the target's features once."""
        b = b.detach()
        return lambda a: self(a, b)


class PixelDistance(Distance):
    """Mean squared (``p=2``) or absolute (``p=1``) pixel difference per image."""

    def __init__(self, p: int = 2):
        super().__init__()
        if p not in (1, 2):
            raise FaceEditError(f"pixel distance p must be 1 or 2, got {p}")
        self.p = p
        self.name = "mse" if p == 2 else "l1"

    def distance(self, a, b):
        d = (a - b).abs()
        return (d if self.p == 1 else d.square()).flatten(1).mean(1)


# -------------------------------------------------------------------------------------------------- identity
def _descriptor_distance(da: torch.Tensor, db: torch.Tensor, metric: str) -> torch.Tensor:
    if metric == "euclidean":
        return (da - db).square().sum(1).clamp_min(1e-12).sqrt()
    return 1.0 - F.cosine_similarity(da, db, dim=1, eps=1e-8)


class _DlibIdentity:
    """dlib's descriptor on uint8 images: HOG detector (upsampled once), 5-point landmarks, aligned 150 px chip."""

    def __init__(self):
        try:
            import dlib
        except ImportError:
            raise FaceEditError("the dlib identity backend needs dlib: pip install 'faceedit[align]'") from None
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.origin:
            raise FaceEditError("the dlib identity backend needs face-recognition-models: pip install 'faceedit[align]'")
        models = Path(spec.origin).parent / "models"
        rec = models / "dlib_face_recognition_resnet_model_v1.dat"
        sp5 = models / "shape_predictor_5_face_landmarks.dat"
        for p in (rec, sp5):
            if not p.is_file():
                raise FaceEditError(f"dlib model file missing: {p} (reinstall face-recognition-models==0.3.0)")
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(sp5))
        self.net = dlib.face_recognition_model_v1(str(rec))

    def __call__(self, img: np.ndarray) -> np.ndarray:
        """``img``: H×W×3 uint8 RGB → [128] float64. Without a detected face, the whole image is the face box."""
        from faceedit.limits import check_detectable

        check_detectable(img.shape[0], img.shape[1])  # dlib corrupts memory on tiny images
        dets = self.detector(img, 1)
        h, w = img.shape[:2]
        if len(dets):
            rect = max(dets, key=lambda r: r.width() * r.height())
        else:
            rect = self.dlib.rectangle(0, 0, w - 1, h - 1)
        shape = self.predictor(img, rect)
        return np.asarray(self.net.compute_face_descriptor(img, shape, 0), dtype=np.float64)


_DLIB: _DlibIdentity | None = None


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] → [N, H, W, 3] uint8 (rounded, clipped)."""
    x = ((img.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


class IdentityDistance(Distance):
    """Distance between dlib-compatible 128-d face descriptors (see the module docstring).

    ``backend``: ``"faceapi"`` (differentiable port; needs the fetched weights) or ``"dlib"`` (dlib itself;
    not differentiable). ``metric``: ``"euclidean"`` (dlib's; same person < 0.6) or ``"cosine"`` (1 - cos).
    ``cache``: face-api weights folder (see :func:`faceedit.scorers.load_faceapi`); ``**faceapi_kw``: ``box``
    (default ``"ffhq"``: the face region of FFHQ-aligned images; ``None`` for tight face crops), ``resize``, passed
    to :meth:`FaceApi.identity`. The dlib backend finds the face itself (HOG detector, 5 landmarks, dlib's chip).
    """

    def __init__(self, backend: str = "faceapi", metric: str = "euclidean", cache=None, **faceapi_kw):
        super().__init__()
        if backend not in ("faceapi", "dlib"):
            raise FaceEditError(f"unknown identity backend {backend!r}: use faceapi or dlib")
        if metric not in ("euclidean", "cosine"):
            raise FaceEditError(f"unknown identity metric {metric!r}: use euclidean or cosine")
        self.backend, self.metric, self.faceapi_kw = backend, metric, faceapi_kw
        self.name = "identity" if backend == "faceapi" else "identity-dlib"
        self.differentiable = backend == "faceapi"
        if backend == "faceapi":
            from faceedit.scorers import load_faceapi

            self.api = load_faceapi(cache)
        else:
            global _DLIB
            if _DLIB is None:
                _DLIB = _DlibIdentity()
            self._dlib = _DLIB

    def descriptors(self, img: torch.Tensor) -> torch.Tensor:
        """[N, 128] descriptors of ``img`` in [-1, 1]."""
        if self.backend == "faceapi":
            dtype = next(self.api.parameters()).dtype
            return self.api.identity(img.to(dtype), **self.faceapi_kw)
        arr = to_uint8(img)
        return torch.from_numpy(np.stack([self._dlib(x) for x in arr])).to(img.device, img.dtype)

    def distance(self, a, b):
        if self.backend == "faceapi":
            same_device = next(self.api.parameters()).device
            if same_device != a.device:
                self.api.to(a.device)
        d = _descriptor_distance(self.descriptors(a), self.descriptors(b), self.metric)
        return d.to(a.dtype)


# ------------------------------------------------------------------------------------------------ perceptual
#: torchvision's VGG16 ``features`` configuration (numbers: conv 3×3 output channels + ReLU; "M": 2×2 max pool).
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
#: Indices in ``features`` of the ReLUs LPIPS reads (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3).
VGG16_LPIPS_TAPS = (3, 8, 15, 22, 29)
#: LPIPS' input scaling (images in [-1, 1]): ``(x - shift) / scale``.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


class VGG16Features(nn.Module):
    """VGG16's convolutional part with torchvision's parameter names (``features.{i}.weight`` / ``.bias``).

    :meth:`features` takes images in [-1, 1], applies LPIPS' input scaling and returns the activations at
    :data:`VGG16_LPIPS_TAPS` ([N, 64|128|256|512|512, H/2^k, W/2^k]).
    """

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT)[None, :, None, None], persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE)[None, :, None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.extract(x)

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        out = []
        last = VGG16_LPIPS_TAPS[-1]
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG16_LPIPS_TAPS:
                out.append(x)
            if i == last:
                break
        return out

    def load_torchvision(self, state: dict[str, torch.Tensor], source: str = "weights") -> "VGG16Features":
        """Load a torchvision VGG16 state dict (``features.*``; ``classifier.*`` and any prefix before
        ``features.`` are ignored)."""
        own = self.features.state_dict()
        picked = {}
        for k, v in state.items():
            if "features." in k:
                sub = k[k.index("features.") + len("features."):]
                if sub in own:
                    picked[sub] = v
        for k, v in picked.items():
            if tuple(v.shape) != tuple(own[k].shape):
                raise FaceEditError(f"{source}: features.{k} has shape {tuple(v.shape)}, VGG16 needs {tuple(own[k].shape)}")
        missing = sorted(set(own) - set(picked), key=lambda s: (int(s.split(".")[0]), s))
        if missing:
            raise FaceEditError(f"{source}: not a torchvision VGG16 state dict (missing features.{missing[0]}"
                                f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''})")
        self.features.load_state_dict({k: v.float() for k, v in picked.items()})
        return self


class _FaceApiBackbone(nn.Module):
    """face-api's recognition ResNet (dlib's) as a feature extractor on the whole image, resized to ``size``
    (150: the scale it was trained at; larger sizes keep finer detail, the convolutions accept any size)."""

    def __init__(self, cache=None, resize: str = "auto", size: int = 150):
        super().__init__()
        from faceedit.scorers import load_faceapi

        if not 64 <= int(size) <= 1024:
            raise FaceEditError(f"perceptual size must be from 64 to 1024, got {size}")
        self.api = load_faceapi(cache)
        self.resize, self.size = resize, int(size)

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        net = self.api.recognition_net
        dtype = next(net.parameters()).dtype
        if next(net.parameters()).device != x.device:
            self.api.to(x.device)
        inp = self.api.preprocess(x.to(dtype), self.size, resize=self.resize, box=None)
        return net.features(inp, upto=net.FEATURE_LAYERS[-1])


def _normalise(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return f / (f.square().sum(1, keepdim=True).sqrt() + eps)


class PerceptualDistance(Distance):
    """LPIPS-style distance on a backbone's feature maps (see the module docstring).

    ``backbone``: ``"faceapi"`` | ``"vgg16"`` | ``"lpips"`` or a module with ``extract(x) -> list[Tensor]``
    (or ``features``). ``weights``: for vgg16/lpips, a file (or list of files: .pt/.pth/.safetensors) holding the
    torchvision VGG16 state dict and, for lpips, the ``lin{k}.model.1.weight`` tensors. ``lin``: per-layer channel
    weights [C_k] to use instead (non-negative). ``size``: input side for the faceapi backbone (default 150).
    """

    def __init__(self, backbone="faceapi", weights=None, cache=None, lin: Sequence[torch.Tensor] | None = None,
                 size: int = 150):
        super().__init__()
        self.lin = None
        if isinstance(backbone, nn.Module):
            self.backbone, self.name = backbone, "perceptual"
        elif backbone == "faceapi":
            if weights is not None:
                raise FaceEditError("the faceapi perceptual backbone takes no weights file (it uses the fetched "
                                    "face-api weights)")
            self.backbone, self.name = _FaceApiBackbone(cache, size=size), "perceptual"
        elif backbone in ("vgg16", "lpips"):
            if weights is None:
                raise FaceEditError(f"the {backbone} distance needs a weights file: a torchvision VGG16 state dict"
                                    f"{' with the LPIPS lin0..lin4 layers' if backbone == 'lpips' else ''} "
                                    "(none can be downloaded offline)")
            state = load_state_files(weights)
            if backbone == "lpips":
                lin = []
                for k in range(len(VGG16_LPIPS_TAPS)):
                    key = next((n for n in state if n.endswith(f"lin{k}.model.1.weight")), None)
                    if key is None:
                        raise FaceEditError(f"{_describe(weights)}: no LPIPS layer lin{k}.model.1.weight")
                    lin.append(state[key])
            self.backbone = VGG16Features().load_torchvision(state, source=_describe(weights))
            self.name = backbone
        else:
            raise FaceEditError(f"unknown perceptual backbone {backbone!r}: use faceapi, vgg16 or lpips")
        if lin is not None:
            ws = []
            for k, w in enumerate(lin):
                w = torch.as_tensor(w, dtype=torch.float32).reshape(-1)
                ws.append(w)
            self.lin = nn.ParameterList([nn.Parameter(w, requires_grad=False) for w in ws])
        self.backbone.requires_grad_(False)
        self.backbone.eval()

    def _extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        fn = getattr(self.backbone, "extract", None) or getattr(self.backbone, "features")
        return fn(x)

    def distance(self, a, b):
        return self._compare(self._extract(a), [_normalise(y) for y in self._extract(b)], a.dtype)

    def to_target(self, b: torch.Tensor):
        _pair(b, b)
        with torch.no_grad():
            fb = [_normalise(y) for y in self._extract(b.detach())]

        def against_target(a: torch.Tensor) -> torch.Tensor:
            a, _ = _pair(a, b)  # the same checks and broadcasting as distance(); fb broadcasts from batch 1
            return self._compare(self._extract(a), fb, a.dtype)

        return against_target

    def _compare(self, fa: list[torch.Tensor], fb_normalised: list[torch.Tensor], dtype) -> torch.Tensor:
        if self.lin is not None and len(self.lin) != len(fa):
            raise FaceEditError(f"{len(self.lin)} lin layers for {len(fa)} feature layers")
        total = 0.0
        for k, (x, y) in enumerate(zip(fa, fb_normalised)):
            diff = (_normalise(x) - y).square()
            if self.lin is not None:
                w = self.lin[k].to(diff)
                if w.numel() != diff.shape[1]:
                    raise FaceEditError(f"lin{k} has {w.numel()} weights for {diff.shape[1]} channels")
                per_pixel = (diff * w[None, :, None, None]).sum(1)
            else:
                per_pixel = diff.sum(1)
            total = total + per_pixel.mean(dim=(1, 2))
        if self.lin is None:
            total = total / len(fa)
        return total.to(dtype)


# ---------------------------------------------------------------------------------------------------- files
def _describe(weights) -> str:
    if isinstance(weights, (str, os.PathLike)):
        return str(weights)
    return " + ".join(str(w) for w in weights)


def load_state_files(weights) -> dict[str, torch.Tensor]:
    """Merge the tensors of one or more state-dict files (.pt/.pth/.bin via ``torch.load(weights_only=True)``,
    or .safetensors); a nested ``{"state_dict": ...}`` is unwrapped."""
    paths = [weights] if isinstance(weights, (str, os.PathLike)) else list(weights)
    merged: dict[str, torch.Tensor] = {}
    for p in paths:
        p = Path(p).expanduser()
        if not p.is_file():
            raise FaceEditError(f"weights file not found: {p}")
        try:
            if p.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(p))
            else:
                state = torch.load(str(p), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's
            raise FaceEditError(f"cannot read weights file {p}: {' '.join(str(exc).split())[:200]}") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise FaceEditError(f"{p}: expected a state dict (a mapping of names to tensors)")
        merged.update({str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)})
    return merged


# -------------------------------------------------------------------------------------------------- factory
NAMES = ("identity", "identity-cosine", "identity-dlib", "perceptual", "vgg16", "lpips", "mse", "l1")


def get(name: str, weights=None, **kw) -> Distance:
    """A distance by name: ``identity`` (face-api port, Euclidean), ``identity-cosine``, ``identity-dlib``,
    ``perceptual`` (LPIPS-style on face-api's recognition ResNet, offline), ``vgg16`` / ``lpips`` (need
    ``weights``), ``mse``, ``l1``. ``kw`` goes to the class (e.g. ``cache=``)."""
    if name in ("identity", "identity-cosine", "identity-dlib"):
        if weights is not None:
            raise FaceEditError(f"the {name} distance takes no weights file")
        backend = "dlib" if name == "identity-dlib" else "faceapi"
        metric = "cosine" if name == "identity-cosine" else kw.pop("metric", "euclidean")
        return IdentityDistance(backend=backend, metric=metric, **kw)
    if name == "perceptual":
        return PerceptualDistance("faceapi", weights=weights, **kw)
    if name in ("vgg16", "lpips"):
        return PerceptualDistance(name, weights=weights, **kw)
    if name in ("mse", "l1"):
        return PixelDistance(2 if name == "mse" else 1)
    raise FaceEditError(f"unknown distance {name!r}: use one of {', '.join(NAMES)}")
