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
  (LPIPS) or average (unweighted) over layers. Backbones: ``"vgg16"`` (ImageNet VGG16 — the original Oxford
  weights fetched offline by ``faceedit features fetch vgg16``, or a user's torchvision ``vgg16``/``vgg19`` file —
  at the five stages relu1_2 … relu5_3, unweighted), ``"faceapi"`` (face-api's recognition ResNet, once fetched)
  and ``"lpips"`` (VGG16 + LPIPS' ``lin{0..4}.model.1.weight`` from the user's files, which reproduces LPIPS-VGG).
  Every VGG is :class:`faceedit.features.VGG`. Any module with ``extract(x) -> list[Tensor]`` (x in [-1, 1]) can
  serve as a backbone. :func:`resolve_perceptual` picks the loss the commands use by default.
- :class:`PixelDistance` — mean squared error (or L1), the trivial baseline.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError
from faceedit.features.vgg import resize_for

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
#: Channels of LPIPS' linear heads ``lin{k}.model.1.weight`` [1, C_k, 1, 1] on VGG16's five stages.
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
#: The VGG perceptual distance's input side when none is given: images smaller than ``VGG_MIN_SIZE`` px are
#: upsampled to it, larger than ``VGG_MAX_SIZE`` px downsampled to it (NVIDIA's projector reads LPIPS at 256 px),
#: others are read as they are. The minimum was chosen in benchmarks/README.md ("Perceptual loss: VGG16 vs
#: face-api features").
VGG_MIN_SIZE = 64
VGG_MAX_SIZE = 256
#: face-api's recognition ResNet reads faces at this side by default (the scale it was trained at).
FACEAPI_SIZE = 150


def stage_layers(net) -> tuple[str, ...]:
    """The last ReLU of each of a VGG's five blocks: relu1_2 … relu5_3 for VGG16 (LPIPS' taps), relu5_4 for VGG19."""
    last: dict[str, str] = {}
    for name in net.names:  # in network order: a block's later ReLUs replace its earlier ones
        if name.startswith("relu"):
            last[name[4:].split("_")[0]] = name
    return tuple(last.values())


class _VGGBackbone(nn.Module):
    """A :class:`faceedit.features.VGG` read at :func:`stage_layers`, its input resized first: to ``size`` px when
    given (``"native"``: never), else into [:data:`VGG_MIN_SIZE`, :data:`VGG_MAX_SIZE`]."""

    def __init__(self, net, size: int | str | None = None):
        super().__init__()
        if size not in (None, "native") and not 16 <= int(size) <= 1024:
            raise FaceEditError(f"VGG perceptual size must be from 16 to 1024 px, got {size}")
        self.net, self.size, self.layers = net, size, stage_layers(net)

    def side(self, h: int) -> int:
        """The side an image of side ``h`` is read at."""
        if self.size == "native":
            return h
        if self.size is not None:
            return int(self.size)
        return min(max(h, VGG_MIN_SIZE), VGG_MAX_SIZE)

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        if next(self.net.parameters()).device != x.device:
            self.net.to(x.device)
        return self.net.extract(resize_for(x.float(), self.side(x.shape[-1])), self.layers)


class _FaceApiBackbone(nn.Module):
    """face-api's recognition ResNet (dlib's) as a feature extractor on the whole image, resized to ``size``
    (150: the scale it was trained at; larger sizes keep finer detail, the convolutions accept any size)."""

    def __init__(self, cache=None, resize: str = "auto", size: int = FACEAPI_SIZE):
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
    (or ``features``). ``weights``: for vgg16, None (the Oxford VGG16 fetched by ``faceedit features fetch vgg16``)
    or a torchvision ``vgg16`` / ``vgg19`` state dict file; for lpips, a file or list of files holding the
    torchvision VGG16 state dict (or an ``lpips.LPIPS`` state dict, ``net.slice{k}.{i}.*``) and LPIPS'
    ``lin{k}.model.1.weight``. ``lin``: per-layer channel weights [C_k] to use instead (non-negative).
    ``size``: input side — faceapi: default :data:`FACEAPI_SIZE`; VGG: see :class:`_VGGBackbone` (lpips: default
    ``"native"``, as LPIPS itself). ``cache``: the face-api weights folder (faceapi) or the cache root (vgg16).
    """

    def __init__(self, backbone="faceapi", weights=None, cache=None, lin: Sequence[torch.Tensor] | None = None,
                 size: int | str | None = None):
        super().__init__()
        self.lin = None
        if isinstance(backbone, nn.Module):
            self.backbone, self.name = backbone, "perceptual"
        elif backbone == "faceapi":
            if weights is not None:
                raise FaceEditError("the faceapi perceptual backbone takes no weights file (it uses the fetched "
                                    "face-api weights)")
            self.backbone, self.name = _FaceApiBackbone(cache, size=size or FACEAPI_SIZE), "faceapi"
        elif backbone == "vgg16":
            from faceedit.features import load_vgg

            net = load_vgg(cache=cache) if weights is None else _user_vgg(weights)
            self.backbone, self.name = _VGGBackbone(net, size), "vgg16"
        elif backbone == "lpips":
            if weights is None:
                raise FaceEditError("the lpips distance needs weights files: a torchvision VGG16 state dict and "
                                    "LPIPS' lin0..lin4 layers (vgg.pth of the lpips package); none can be "
                                    "downloaded offline — 'vgg16' is the offline LPIPS-style distance")
            net, heads = _user_lpips(weights)
            lin = heads if lin is None else lin
            self.backbone, self.name = _VGGBackbone(net, size or "native"), "lpips"
        else:
            raise FaceEditError(f"unknown perceptual backbone {backbone!r}: use faceapi, vgg16 or lpips")
        if lin is not None:
            ws = [torch.as_tensor(w, dtype=torch.float32).reshape(-1) for w in lin]
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


_SLICE_KEY = re.compile(r"(?:^|\.)slice[1-5]\.(\d+)\.(weight|bias)$")


def _from_lpips_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An ``lpips.LPIPS`` state dict's VGG (``net.slice{k}.{i}.weight``: the slices keep torchvision's indices)
    under torchvision's names (``features.{i}.weight``); other keys unchanged."""
    out = {}
    for k, v in state.items():
        m = _SLICE_KEY.search(k)
        out[f"features.{m[1]}.{m[2]}" if m else k] = v
    return out


def _user_vgg(weights):
    """A user's torchvision ``vgg16`` / ``vgg19`` state dict (one file) → :class:`faceedit.features.VGG`, through
    the features loader (which honours a faceedit VGG file's own input convention)."""
    from faceedit.features import load_vgg

    paths = [weights] if isinstance(weights, (str, os.PathLike)) else list(weights)
    if len(paths) != 1:
        raise FaceEditError(f"the vgg16 distance takes one weights file, got {len(paths)} (two files are for lpips: "
                            "the VGG16 state dict and LPIPS' lin layers)")
    try:
        return load_vgg(paths[0])
    except FaceEditError as exc:
        msg = str(exc)
        raise FaceEditError(msg if str(Path(paths[0]).expanduser()) in msg else f"{paths[0]}: {msg}") from None


def _user_lpips(weights):
    """LPIPS-VGG from a user's files → (VGG16 with LPIPS' input scaling, the five heads as [C_k] tensors)."""
    from faceedit.features import VGG

    source = _describe(weights)
    state = _from_lpips_layout(load_state_files(weights))
    convs = {k.split("features.")[-1].split(".")[0] for k in state if "features." in k and k.endswith(".weight")}
    if len(convs) == 16:
        raise FaceEditError(f"{source}: a VGG19 state dict; LPIPS-VGG is defined on VGG16")
    net = VGG("vgg16", "lpips").load_features(state, source=source)
    heads = []
    for k, c in enumerate(LPIPS_CHANNELS):
        key = next((n for n in state if n.endswith((f"lin{k}.model.1.weight", f"lin{k}.model.0.weight"))), None)
        if key is None:
            raise FaceEditError(f"{source}: no LPIPS layer lin{k}.model.1.weight (LPIPS' vgg.pth holds lin0 … lin4)")
        w = state[key]
        if tuple(w.shape) != (1, c, 1, 1):
            raise FaceEditError(f"{source}: {key} has shape {tuple(w.shape)}, LPIPS-VGG needs (1, {c}, 1, 1)")
        if not torch.isfinite(w).all():
            raise FaceEditError(f"{source}: {key} holds NaN or infinite values")
        heads.append(w.float().reshape(-1))
    return net, heads


# -------------------------------------------------------------------------------------------------- factory
NAMES = ("identity", "identity-cosine", "identity-dlib", "perceptual", "faceapi", "vgg16", "lpips", "mse", "l1")
#: The perceptual loss of inversion, pivotal tuning and encoder training when none is named (``"auto"``), and its
#: fallback when the default's weights are not fetched (benchmarks/README.md, "Perceptual loss: VGG16 vs face-api
#: features").
DEFAULT_PERCEPTUAL = "faceapi"
FALLBACK_PERCEPTUAL = "vgg16"
#: What the commands' ``--perceptual`` takes (``perceptual``: the older name of ``faceapi``).
PERCEPTUAL_LOSSES = ("auto", "vgg16", "faceapi", "perceptual", "lpips", "none")


def _fetched(name: str) -> bool:
    if name == "vgg16":
        from faceedit.features import have_vgg16

        return have_vgg16()
    from faceedit.scorers import fetch

    return fetch.have_weights()


def resolve_perceptual(name: str | None = "auto") -> tuple[str | None, str | None]:
    """A ``--perceptual`` value → (distance name, or None for MSE only; a note for the user, or None).
    ``"auto"``: :data:`DEFAULT_PERCEPTUAL` when its weights are fetched, else :data:`FALLBACK_PERCEPTUAL` (else
    MSE only), with a note that says so and how to fetch."""
    if name in (None, "", "none", "mse"):
        return None, None
    if name not in PERCEPTUAL_LOSSES:
        raise FaceEditError(f"unknown perceptual loss {name!r}: use {', '.join(PERCEPTUAL_LOSSES)}")
    if name != "auto":
        return ("faceapi" if name == "perceptual" else name), None
    if _fetched(DEFAULT_PERCEPTUAL):
        return DEFAULT_PERCEPTUAL, None
    how = {"vgg16": "faceedit features fetch vgg16", "faceapi": "faceedit scorers fetch-faceapi"}
    if _fetched(FALLBACK_PERCEPTUAL):
        return FALLBACK_PERCEPTUAL, (f"perceptual loss on {FALLBACK_PERCEPTUAL} features: the {DEFAULT_PERCEPTUAL} "
                                     f"weights are not fetched ({how[DEFAULT_PERCEPTUAL]})")
    return None, (f"no perceptual loss, MSE only: neither the {DEFAULT_PERCEPTUAL} nor the {FALLBACK_PERCEPTUAL} "
                  f"weights are fetched ({how[DEFAULT_PERCEPTUAL]})")


def get(name: str, weights=None, **kw) -> Distance:
    """A distance by name: ``identity`` (face-api port, Euclidean), ``identity-cosine``, ``identity-dlib``,
    ``perceptual`` / ``faceapi`` (LPIPS-style on face-api's recognition ResNet, offline), ``vgg16`` (LPIPS-style
    on ImageNet VGG16: the fetched Oxford weights, or ``weights``: a torchvision vgg16/vgg19 file), ``lpips``
    (needs ``weights``), ``mse``, ``l1``. ``kw`` goes to the class (e.g. ``cache=``, ``size=``)."""
    if name in ("identity", "identity-cosine", "identity-dlib"):
        if weights is not None:
            raise FaceEditError(f"the {name} distance takes no weights file")
        backend = "dlib" if name == "identity-dlib" else "faceapi"
        metric = "cosine" if name == "identity-cosine" else kw.pop("metric", "euclidean")
        return IdentityDistance(backend=backend, metric=metric, **kw)
    if name in ("perceptual", "faceapi"):
        return PerceptualDistance("faceapi", weights=weights, **kw)
    if name in ("vgg16", "lpips"):
        return PerceptualDistance(name, weights=weights, **kw)
    if name in ("mse", "l1"):
        return PixelDistance(2 if name == "mse" else 1)
    raise FaceEditError(f"unknown distance {name!r}: use one of {', '.join(NAMES)}")
