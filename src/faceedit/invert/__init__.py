"""Photos into the generator's latent space: optimisation, an e4e-style encoder, or both.

    from faceedit.invert import invert_photo, invert_images
    inv = invert_photo("me.jpg", model)                 # aligns, inverts (default "hybrid" when possible)
    inv.ws                                              # w+ [1, num_ws, w_dim]
    inv.aligned, inv.original, inv.reconstruction       # AlignedFace, photo uint8, reconstruction uint8
    photo = inv.paste(model.synthesize(edited_ws))      # the edited face back in the photo (feathered)

Methods: ``"optimize"`` (Image2StyleGAN-style optimisation from w_avg, :mod:`faceedit.invert.optimize`),
``"encoder"`` (one pass of the encoder, :mod:`faceedit.invert.encoder`), ``"hybrid"`` (the encoder's guess refined
by a short optimisation), ``"pivotal"`` (the encoder's guess as the pivot, then a short pivotal tuning of the
synthesis weights for each photo, :mod:`faceedit.invert.pivotal`; the result carries the tuned weights in
``.tuned``). Hybrid and pivotal need the shipped encoder (``assets/encoder.safetensors``) trained for this
generator; otherwise hybrid runs as optimisation and pivotal takes an optimised pivot, with a note saying why.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceedit.errors import FaceEditError
from faceedit.invert.encoder import (DEFAULT_ENCODER, Encoder, EncoderConfig, default_encoder, load_encoder,
                                     save_encoder)
from faceedit.invert.optimize import OptimizeConfig, OptimizeResult, optimize_latents, synthesize
from faceedit.invert.pivotal import TuneConfig, TunedSynthesis, tune_synthesis

METHODS = ("hybrid", "pivotal", "encoder", "optimize")
#: Optimisation steps per method when not given (pivotal: tuning steps).
DEFAULT_STEPS = {"optimize": 500, "hybrid": 100, "pivotal": 60, "encoder": 0}
#: Optimisation settings per method (the hybrid refinement starts close: no latent noise, a shorter ramp-up;
#: pivotal: :class:`~faceedit.invert.pivotal.TuneConfig`'s defaults, chosen in benchmarks/README.md).
METHOD_SETTINGS = {"optimize": {"lr": 0.1, "initial_noise_factor": 0.05},
                   "hybrid": {"lr": 0.1, "initial_noise_factor": 0.0, "lr_rampup": 0.02},
                   "pivotal": {}}

_PERCEPTUAL: dict[str, Any] = {}


def get_perceptual(name: str | None = "auto", weights=None):
    """The perceptual loss for a ``--perceptual`` value → (distance or None for MSE only, note or None).
    ``"auto"``: face-api's features when fetched, else VGG16's, with a note
    (:func:`faceedit.metrics.distances.resolve_perceptual`); a loss named explicitly whose weights are missing is
    an error. ``weights``: a torchvision VGG16/VGG19 file (vgg16) or VGG16 + LPIPS files (lpips). Distances
    without a weights file are loaded once per process."""
    from faceedit.metrics import distances

    resolved, note = distances.resolve_perceptual(name)
    if weights is not None:
        if resolved not in ("vgg16", "lpips"):
            raise FaceEditError(f"a perceptual weights file goes with the vgg16 or lpips loss, not {name!r}")
        return distances.get(resolved, weights=weights), note
    if resolved is None:
        return None, note
    if resolved not in _PERCEPTUAL:
        _PERCEPTUAL[resolved] = distances.get(resolved)
    return _PERCEPTUAL[resolved], note


@dataclass
class Inversion:
    """Result of :func:`invert_images`."""

    ws: torch.Tensor  # [N, num_ws, w_dim]
    reconstruction: torch.Tensor  # [N, 3, R, R] in [-1, 1]
    method: str
    seconds: float
    losses: dict[str, torch.Tensor] = field(default_factory=dict)  # name → [N]
    noise: dict[str, torch.Tensor] | None = None
    notes: list[str] = field(default_factory=list)
    tuned: TunedSynthesis | None = None  # pivotal: per-image weight offsets of the synthesis network


def _resolve_encoder(model, method: str, encoder, force: bool) -> tuple[Encoder | None, str | None]:
    from faceedit.invert.psp import PSPEncoder

    if isinstance(encoder, (Encoder, PSPEncoder)):
        return encoder.to(model.device).eval(), None
    if encoder is not None:
        enc, _ = load_encoder(encoder, model, force=force)
        return enc, None
    return default_encoder(model)


def invert_images(model, images, method: str = "hybrid", space: str = "w+", steps: int | None = None,
                  progress=None, encoder=None, force_encoder: bool = False, perceptual: str | Any = "auto",
                  optimize_noise: bool = False, seed: int = 0, encoder_iterations: int | None = None,
                  **opt_kw) -> Inversion:
    """Invert aligned face images ([N, 3, H, W] in [-1, 1], or uint8 [N, 3, H, W] / [N, H, W, 3]; resized to the
    model's resolution).

    ``method``: hybrid | pivotal | encoder | optimize (hybrid falls back to optimize, and pivotal to an optimised
    pivot, with a note, when no encoder fits this generator). ``space``: ``"w+"`` or ``"w"``. ``steps``:
    optimisation steps, for pivotal its tuning steps (default :data:`DEFAULT_STEPS`). ``encoder``: an
    :class:`Encoder`, a file, or None for the shipped one;
    ``encoder_iterations``: refinement iterations of an encoder with a ReStyle refiner (default: its own);
    ``force_encoder``: use it even if made for another generator of the same shape. ``perceptual``: the loss —
    ``"auto"`` (face-api features when fetched, else VGG16, with a note), ``"vgg16"``, ``"faceapi"``, a distance
    module, or None (MSE only); see :func:`get_perceptual`. ``optimize_noise``: also
    optimise the noise maps (returned in ``.noise``; the edit commands use the constant noise). ``progress``: True
    for a progress bar or ``fn(step, steps, losses)``. Other keywords go to
    :class:`~faceedit.invert.optimize.OptimizeConfig`.
    """
    if method not in METHODS:
        raise FaceEditError(f"unknown inversion method {method!r}: use {', '.join(METHODS)}")
    if space not in ("w", "w+"):
        raise FaceEditError(f"latent space must be w or w+, got {space!r}")
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.array(images))
    if x.ndim == 3:
        x = x[None]
    if x.dtype == torch.uint8:
        if x.shape[-1] == 3 and x.shape[1] != 3:
            x = x.permute(0, 3, 1, 2)
        x = x.float() / 127.5 - 1.0
    if x.ndim != 4 or x.shape[1] != 3:
        raise FaceEditError(f"images must be [N, 3, H, W], got {list(x.shape)}")
    from faceedit.invert.optimize import _as_images

    x = _as_images(model, x)
    notes: list[str] = []
    t0 = time.time()
    enc = None
    if method == "pivotal" and optimize_noise:
        raise FaceEditError("pivotal tuning keeps the constant noise: leave out --noise, or use --method hybrid")
    pivot_by_optimisation = False
    if method in ("hybrid", "encoder", "pivotal"):
        enc, why = _resolve_encoder(model, method, encoder, force_encoder)
        if enc is None:
            if method == "encoder":
                raise FaceEditError(f"no encoder for {model.name}: {why}")
            if method == "pivotal":
                notes.append(f"no encoder for this generator: the pivot comes from optimisation ({why})")
                pivot_by_optimisation = True
            else:
                notes.append(f"no encoder for this generator, inverting by optimisation instead ({why})")
                method = "optimize"
    if isinstance(perceptual, str) or perceptual is None:
        dist, note = get_perceptual(perceptual)
        if note and method != "encoder":
            notes.append(note)
    else:
        dist = perceptual
    init = None
    if enc is not None:
        init = enc.encode(x, G=model.G, iterations=encoder_iterations)
        if space == "w":
            init = init.mean(dim=1, keepdim=True).expand(-1, model.num_ws, -1).contiguous()
    n_steps = DEFAULT_STEPS[method] if steps is None else int(steps)
    noise = None
    losses: dict[str, torch.Tensor] = {}
    tuned = None
    if method == "pivotal":
        if pivot_by_optimisation:
            init = optimize_latents(model, x, perceptual=dist, progress=progress, seed=seed, space=space,
                                    steps=DEFAULT_STEPS["optimize"], **METHOD_SETTINGS["optimize"]).ws
        settings = {**METHOD_SETTINGS["pivotal"], **opt_kw}
        if space == "w":  # the pivot stays a w
            settings["latent_lr"] = 0.0
        tuned = tune_synthesis(model, x, init, perceptual=dist, progress=progress, steps=n_steps, **settings)
        ws = tuned.ws
    elif method == "encoder" or n_steps == 0:
        ws = init if init is not None else model.G.mapping.w_avg[None, None].expand(x.shape[0], model.num_ws, -1)
        ws = ws.detach().cpu().contiguous()
    else:
        settings = {**METHOD_SETTINGS[method], **opt_kw}
        res: OptimizeResult = optimize_latents(model, x, init_ws=init, perceptual=dist, progress=progress,
                                               seed=seed, space=space, steps=n_steps,
                                               optimize_noise=optimize_noise, **settings)
        ws, noise, losses = res.ws, res.noise, res.losses
    with torch.no_grad():
        if tuned is not None:
            rec = tuned.synthesize_rows(model, ws).cpu()
        else:
            rec = synthesize(model.G, ws.to(model.device),
                             {k: v.to(model.device) for k, v in noise.items()} if noise else None).cpu()
        if not losses:
            losses = {"mse": (rec - x.cpu()).square().flatten(1).mean(1)}
            if dist is not None:
                losses["perceptual"] = dist(rec.to(x.device), x).reshape(-1).cpu()
    return Inversion(ws=ws, reconstruction=rec, method=method, seconds=time.time() - t0, losses=losses,
                     noise=noise, notes=notes, tuned=tuned)


def aligned_as_face(img: np.ndarray):
    """An already-aligned square image as an :class:`~faceedit.align.AlignedFace` with the identity transform
    (pasting back then replaces the square, feathered at its border)."""
    from faceedit.align import AlignedFace, FaceTransform

    from faceedit.limits import MIN_DETECT_SIDE

    h, w = img.shape[:2]
    if h != w:
        raise FaceEditError(f"an aligned face must be square, got {w}x{h} (align it with 'faceedit align', or "
                            "leave out --aligned)")
    if h < MIN_DETECT_SIDE:
        raise FaceEditError(f"an aligned face of {w}x{h} px is too small (at least {MIN_DETECT_SIDE} px)")
    s = float(h)
    quad = np.array([[-0.5, -0.5], [-0.5, s - 0.5], [s - 0.5, s - 0.5], [s - 0.5, -0.5]])
    t = FaceTransform(quad=quad, size=h, photo_shape=(h, w))
    return AlignedFace(image=img, landmarks=None, transform=t, info={"aligned_input": True})


#: How an edit goes back into the photo (see :meth:`InvertedPhoto.paste`).
PASTE_MODES = ("change", "replace")


@dataclass
class InvertedPhoto:
    """A photo inverted into the generator: ``ws`` [1, num_ws, w_dim]; ``aligned``: the
    :class:`~faceedit.align.AlignedFace` (at the model's resolution); ``original``: the photo (H×W×3 uint8);
    ``reconstruction``: the generator's image of ``ws`` (R×R×3 uint8)."""

    ws: torch.Tensor
    aligned: Any
    original: np.ndarray
    reconstruction: np.ndarray
    method: str
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)
    noise: dict[str, torch.Tensor] | None = None
    notes: list[str] = field(default_factory=list)
    path: str | None = None
    tuned: TunedSynthesis | None = None  # pivotal: the photo's tuned synthesis weights

    def model_for(self, model):
        """The generator to draw this photo's edits with: ``model`` with the photo's tuned synthesis network
        (pivotal), or ``model`` itself."""
        return self.tuned.model(model, 0) if self.tuned is not None else model

    def paste(self, edited_images, feather: float = 0.04, mode: str = "change") -> np.ndarray:
        """Edited aligned image(s) — a generator tensor [3, R, R] / [N, 3, R, R] in [-1, 1] or uint8 R×R×3 /
        [N, R, R, 3] — pasted back into the photo with a feathered face mask. Returns H×W×3 uint8 for one image
        (a batch of one included), [N, H, W, 3] for a batch of several.

        ``mode``: ``"change"`` (default) adds only what the edit changes (edited − :attr:`reconstruction`) to the
        photo's own pixels, keeping its detail and resolution; ``"replace"`` pastes the generator's face itself.
        The edited images must be drawn the way the reconstruction was (same generator, noise maps)."""
        from faceedit.align import paste_back

        if mode not in PASTE_MODES:
            raise FaceEditError(f"unknown paste mode {mode!r}: use {' or '.join(PASTE_MODES)}")
        ref = self.reconstruction if mode == "change" else None
        region = "square" if self.aligned.landmarks is None else "face"
        e = edited_images
        if isinstance(e, torch.Tensor):
            e = e.detach().cpu()
            batch = e.ndim == 4
            items = list(e) if batch else [e]
        else:
            a = np.asarray(e)
            batch = a.ndim == 4
            items = list(a) if batch else [a]
        out = [paste_back(self.original, self.aligned, it, feather=feather, region=region, reference=ref)
               for it in items]
        return np.stack(out) if batch and len(out) > 1 else out[0]


def _load_photo(photo, aligned: bool, size: int, detector: str, face_index: int | None, name: str | None,
                faces: list | None = None):
    from faceedit.align import align_face, load_image

    if isinstance(photo, (str, os.PathLike)):
        name = name or str(photo)
        img = load_image(photo)
    else:
        img = np.asarray(photo)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise FaceEditError(f"expected an H×W×3 uint8 RGB photo, got shape {img.shape} dtype {img.dtype}")
    if aligned:
        af = aligned_as_face(img)
        from PIL import Image

        small = np.asarray(Image.fromarray(img).resize((size, size), Image.LANCZOS)) if img.shape[0] != size else img
        return img, af, small
    af = align_face(img, size=size, face_index=face_index, detector=detector, name=name, faces=faces)
    return img, af, af.image


def prepare_photo(photo, model, aligned: bool = False, detector: str = "auto", face_index: int | None = None,
                  name: str | None = None, faces: list | None = None):
    """Read and align one photo for ``model`` → (photo uint8, AlignedFace, aligned image at the model's size).
    ``faces``: detections made elsewhere (e.g. by :class:`~faceedit.align.isolated.IsolatedDetector`)."""
    return _load_photo(photo, aligned, model.resolution, detector, face_index, name, faces)


def invert_photo(path, model, method: str = "hybrid", aligned: bool = False, detector: str = "auto",
                 face_index: int | None = None, faces: list | None = None, **kw) -> InvertedPhoto:
    """Align the face in ``path`` (a file or an H×W×3 uint8 array; ``aligned=True``: the image already is an
    FFHQ-aligned square) and invert it with :func:`invert_images` (``method`` and ``kw`` pass through).
    Raises :class:`FaceEditError` for unreadable images, no face, several faces only when ``face_index`` is
    out of range (default: the largest face). ``faces``: detections made elsewhere (a server detects in a worker
    process, see :class:`~faceedit.align.isolated.IsolatedDetector`)."""
    img, af, small = prepare_photo(path, model, aligned, detector, face_index, faces=faces)
    inv = invert_images(model, small[None], method=method, **kw)
    from faceedit.media import to_uint8

    return InvertedPhoto(ws=inv.ws[:1], aligned=af, original=img, reconstruction=to_uint8(inv.reconstruction)[0],
                         method=inv.method, seconds=inv.seconds,
                         losses={k: float(v[0]) for k, v in inv.losses.items()}, noise=inv.noise, notes=inv.notes,
                         path=str(path) if isinstance(path, (str, os.PathLike)) else None,
                         tuned=inv.tuned.select([0]) if inv.tuned is not None else None)


__all__ = ["DEFAULT_ENCODER", "DEFAULT_STEPS", "METHODS", "Encoder", "EncoderConfig", "Inversion", "InvertedPhoto",
           "OptimizeConfig", "TuneConfig", "TunedSynthesis", "aligned_as_face", "default_encoder", "invert_images",
           "invert_photo", "load_encoder", "optimize_latents", "prepare_photo", "save_encoder", "synthesize"]
