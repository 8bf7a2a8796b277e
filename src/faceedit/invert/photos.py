"""Inverting images and photos: :func:`invert_images` (aligned images → latents, by a method of
:data:`~faceedit.invert.methods.METHODS`), :func:`invert_photo` (align a photo, invert it: an
:class:`InvertedPhoto`), and :func:`evaluate_methods` (the figures of ``faceedit eval inversion``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from faceedit.align import AlignedFace, FaceTransform, align_face, load_image
from faceedit.align.photo import Photo
from faceedit.errors import FaceEditError
from faceedit.invert.encoder import (DEFAULT_ENCODER, Encoder, EncoderConfig, default_encoder, load_encoder,
                                     save_encoder)
from faceedit.invert.methods import DEFAULT_METHOD, METHODS, InversionJob, Method, get_method
from faceedit.invert.optimize import OptimizeConfig, as_images, optimize_latents, synthesize
from faceedit.invert.pivotal import TuneConfig, TunedSynthesis
from faceedit.limits import MIN_DETECT_SIDE
from faceedit.media import to_uint8
from faceedit.metrics import distances
from faceedit.metrics.inversion import InversionFigures
from faceedit.model import Model, NoiseMaps

_PERCEPTUAL: dict[str, Any] = {}


def get_perceptual(name: str | None = "auto", weights=None):
    """The perceptual loss for a ``--perceptual`` value → (distance or None for MSE only, note or None).
    ``"auto"``: face-api's features when fetched, else VGG16's, with a note
    (:func:`faceedit.metrics.distances.resolve_perceptual`); a loss named explicitly whose weights are missing is
    an error. ``weights``: a torchvision VGG16/VGG19 file (vgg16) or VGG16 + LPIPS files (lpips). Distances
    without a weights file are loaded once per process."""
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
    noise: NoiseMaps | None = None
    notes: list[str] = field(default_factory=list)
    tuned: TunedSynthesis | None = None  # pivotal: per-image weight offsets of the synthesis network
    z: torch.Tensor | None = None  # [N, z_dim] when inverted in z (ws = mapping(z))


def _resolve_encoder(model: Model, encoder, force: bool) -> tuple[Encoder | None, str | None]:
    from faceedit.invert.psp import PSPEncoder

    if isinstance(encoder, (Encoder, PSPEncoder)):
        return encoder.to(model.device).eval(), None
    if encoder is not None:
        enc, _ = load_encoder(encoder, model, force=force)
        return enc, None
    return default_encoder(model)


def _as_batch(images) -> torch.Tensor:
    """[N, 3, H, W] float in [-1, 1] from a float tensor, or uint8 [N, 3, H, W] / [N, H, W, 3] (or one image)."""
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.array(images))
    if x.ndim == 3:
        x = x[None]
    if x.dtype == torch.uint8:
        if x.shape[-1] == 3 and x.shape[1] != 3:
            x = x.permute(0, 3, 1, 2)
        x = x.float() / 127.5 - 1.0
    if x.ndim != 4 or x.shape[1] != 3:
        raise FaceEditError(f"images must be [N, 3, H, W], got {list(x.shape)}")
    return x


def invert_images(model: Model, images, method: str = DEFAULT_METHOD, space: str = "w+", steps: int | None = None,
                  progress=None, encoder=None, force_encoder: bool = False, perceptual: str | Any = "auto",
                  optimize_noise: bool = False, seed: int = 0, encoder_iterations: int | None = None,
                  mask=None, second=None, **opt_kw) -> Inversion:
    """Invert aligned face images ([N, 3, H, W] in [-1, 1], or uint8 [N, 3, H, W] / [N, H, W, 3]; resized to the
    model's resolution).

    ``method``: a name in :data:`~faceedit.invert.methods.METHODS` (hybrid falls back to optimize, and pivotal to
    an optimised pivot, with a note, when no encoder fits this generator). ``space``: ``"w+"``, ``"w"`` or ``"z"``
(z: optimize only). ``mask``: only these pixels count ([N or 1, 1, H, W] or [H, W] in [0, 1]; Image2StyleGAN++'s
local embedding, for inpainting); ``second``: (images, mask), a second masked target (crossover by mask);
both for optimize and hybrid.
    ``steps``: optimisation steps, for pivotal its tuning steps (default: the method's). ``encoder``: an
    :class:`Encoder`, a file, or None for the shipped one;
    ``encoder_iterations``: refinement iterations of an encoder with a ReStyle refiner (default: its own);
    ``force_encoder``: use it even if made for another generator of the same shape. ``perceptual``: the loss —
    ``"auto"`` (face-api features when fetched, else VGG16, with a note), ``"vgg16"``, ``"faceapi"``, a distance
    module, or None (MSE only); see :func:`get_perceptual`. ``optimize_noise``: also optimise the noise maps (returned in ``.noise``; faces drawn from the result use them). ``progress``: True
    for a progress bar or ``fn(step, steps, losses)``. Other keywords go to the method's optimiser
    (:class:`~faceedit.invert.optimize.OptimizeConfig`, :class:`~faceedit.invert.pivotal.TuneConfig`).
    """
    spec: Method = get_method(method)
    if space not in ("w", "w+", "z"):
        raise FaceEditError(f"latent space must be w, w+ or z, got {space!r}")
    if space == "z" and method != "optimize":
        raise FaceEditError("inversion in z works with the optimize method only (an encoder guesses w+, which "
                            "has no z)")
    if (mask is not None or second is not None) and not spec.masks:
        masked = ", ".join(m.name for m in METHODS.values() if m.masks)
        raise FaceEditError(f"masked inversion works with {masked}, not {method}")
    x = as_images(model, _as_batch(images))
    if second is not None:
        second = (as_images(model, _as_batch(second[0])), second[1])
    t0 = time.time()
    enc, why = (None, None)
    if spec.encoder != "none":
        enc, why = _resolve_encoder(model, encoder, force_encoder)
    if isinstance(perceptual, str) or perceptual is None:
        dist, note = get_perceptual(perceptual)
    else:
        dist, note = perceptual, None
    notes = [note] if note and spec.encoder != "needs" else []
    init = None
    if enc is not None:
        init = enc.encode(x, G=model.G, iterations=encoder_iterations)
        if space == "w":
            init = init.mean(dim=1, keepdim=True).expand(-1, model.num_ws, -1).contiguous()
    job = InversionJob(model=model, images=x, init=init, encoder_note=why, steps=steps, space=space,
                       perceptual=dist, progress=progress, seed=seed, optimize_noise=optimize_noise,
                       settings=dict(opt_kw), notes=notes, mask=mask, second=second)
    res = spec.run(job)
    losses = res.losses
    with torch.no_grad():
        if res.tuned is not None:
            rec = res.tuned.synthesize_rows(model, res.ws).cpu()
        else:
            noise = {k: v.to(model.device) for k, v in res.noise.items()} if res.noise else None
            rec = synthesize(model.G, res.ws.to(model.device), noise).cpu()
        if not losses:
            losses = {"mse": (rec - x.cpu()).square().flatten(1).mean(1)}
            if dist is not None:
                losses["perceptual"] = dist(rec.to(x.device), x).reshape(-1).cpu()
    return Inversion(ws=res.ws, reconstruction=rec, method=res.ran_as or method, seconds=time.time() - t0,
                     losses=losses, noise=res.noise, notes=job.notes, tuned=res.tuned, z=res.z)


def evaluate_methods(model: Model, images: torch.Tensor, methods: list[str], steps: dict[str, int] | None = None,
                     batch: int = 8, encoder=None, force_encoder: bool = False, space: str = "w+",
                     metrics: tuple[str, ...] = ("perceptual", "vgg16", "identity"),
                     log: Callable[[str], None] = print, progress=None, encoder_iterations: int | None = None,
                     perceptual: Any = "auto") -> dict[str, Any]:
    """Invert ``images`` (uint8 [N, 3, R, R]) with each of ``methods`` (``steps``: per method, default the
    method's) in batches of ``batch``; per method the mean of every figure of
    :class:`~faceedit.metrics.inversion.InversionFigures`, the steps, the method that ran (``ran_as`` when it
    differs) and the inversion's notes. ``metrics``: distance names (:func:`faceedit.metrics.distances.get`; those
    that cannot load are left out with a log line). ``encoder_iterations``: refinement iterations of an encoder
    with a ReStyle refiner (default: its own). ``perceptual``: the inversions' perceptual loss (see
    :func:`invert_images`)."""
    dists = {}
    for name in metrics:
        try:
            dists[name] = distances.get(name)
        except FaceEditError as exc:
            log(f"eval inversion: no {name} figure ({exc})")
    x = images.float() / 127.5 - 1
    out: dict[str, Any] = {}
    for method in methods:
        figures = InversionFigures(dists)
        used, notes = method, []
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            t0 = time.time()
            inv = invert_images(model, xb, method=method, space=space, steps=(steps or {}).get(method),
                                encoder=encoder, force_encoder=force_encoder, progress=progress,
                                encoder_iterations=encoder_iterations, perceptual=perceptual)
            figures.add(inv.reconstruction, xb, time.time() - t0)
            used, notes = inv.method, inv.notes
        res = figures.summary()
        given = (steps or {}).get(method)
        res["steps"] = int(given if given is not None else METHODS[used].steps)
        if used != method:
            res["ran_as"] = used
        if notes:
            res["notes"] = notes
        out[method] = res
        log(f"eval inversion: {method} done ({res['seconds_per_image']:.2f} s/image)")
    return out


def aligned_as_face(img: np.ndarray) -> AlignedFace:
    """An already-aligned square image as an :class:`~faceedit.align.AlignedFace` with the identity transform
    (pasting back then replaces the square, feathered at its border)."""
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


@dataclass
class InvertedPhoto:
    """A photo inverted into the generator: ``ws`` [1, num_ws, w_dim]; ``photo``: the
    :class:`~faceedit.align.photo.Photo` (the photo, its alignment and the generator's reconstruction) that edits
    are pasted into; ``noise``: the optimised noise maps (``--noise``), ``tuned``: the photo's tuned synthesis
    weights (pivotal), else None. :func:`faceedit.face.face_from_photo` turns it into the face to edit."""

    ws: torch.Tensor
    photo: Photo
    method: str
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)
    noise: dict[str, torch.Tensor] | None = None
    notes: list[str] = field(default_factory=list)
    path: str | None = None
    tuned: TunedSynthesis | None = None

    @property
    def original(self) -> np.ndarray:
        """The photo, H×W×3 uint8."""
        return self.photo.original

    @property
    def aligned(self) -> AlignedFace:
        """The :class:`~faceedit.align.AlignedFace` at the model's resolution."""
        return self.photo.aligned

    @property
    def reconstruction(self) -> np.ndarray:
        """The generator's image of ``ws`` (R×R×3 uint8), drawn with the tuned weights and noise maps."""
        return self.photo.reconstruction

    @classmethod
    def of(cls, inv: Inversion, original: np.ndarray, aligned: AlignedFace, path: str | None = None
           ) -> "InvertedPhoto":
        """The first photo of an :class:`Inversion` of ``aligned``'s image, cut from ``original`` (H×W×3 uint8)."""
        photo = Photo(original=original, aligned=aligned, reconstruction=to_uint8(inv.reconstruction)[0])
        return cls(ws=inv.ws[:1], photo=photo, method=inv.method, seconds=inv.seconds,
                   losses={k: float(v[0]) for k, v in inv.losses.items()}, noise=inv.noise, notes=inv.notes,
                   path=path, tuned=inv.tuned.select([0]) if inv.tuned is not None else None)

    def model_for(self, model: Model) -> Model:
        """The generator to draw this photo's edits with: ``model`` with the photo's tuned synthesis network
        (pivotal), or ``model`` itself."""
        return self.tuned.model(model, 0) if self.tuned is not None else model

    def paste(self, edited_images, feather: float = 0.04, mode: str = "change") -> np.ndarray:
        """Edited aligned image(s) pasted back into the photo (see :meth:`faceedit.align.photo.Photo.paste`);
        they must be drawn the way the reconstruction was (same generator, noise maps)."""
        return self.photo.paste(edited_images, mode=mode, feather=feather)


def _load_photo(photo, aligned: bool, size: int, detector: str, face_index: int | None, name: str | None,
                faces: list | None = None):
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


def prepare_photo(photo, model: Model, aligned: bool = False, detector: str = "auto", face_index: int | None = None,
                  name: str | None = None, faces: list | None = None):
    """Read and align one photo for ``model`` → (photo uint8, AlignedFace, aligned image at the model's size).
    ``faces``: detections made elsewhere (e.g. by :class:`~faceedit.align.isolated.IsolatedDetector`)."""
    return _load_photo(photo, aligned, model.resolution, detector, face_index, name, faces)


def invert_photo(path, model: Model, method: str = DEFAULT_METHOD, aligned: bool = False, detector: str = "auto",
                 face_index: int | None = None, faces: list | None = None, **kw) -> InvertedPhoto:
    """Align the face in ``path`` (a file or an H×W×3 uint8 array; ``aligned=True``: the image already is an
    FFHQ-aligned square) and invert it with :func:`invert_images` (``method`` and ``kw`` pass through).
    Raises :class:`FaceEditError` for unreadable images, no face, several faces only when ``face_index`` is
    out of range (default: the largest face). ``faces``: detections made elsewhere (a server detects in a worker
    process, see :class:`~faceedit.align.isolated.IsolatedDetector`)."""
    img, af, small = prepare_photo(path, model, aligned, detector, face_index, faces=faces)
    inv = invert_images(model, small[None], method=method, **kw)
    return InvertedPhoto.of(inv, img, af, str(path) if isinstance(path, (str, os.PathLike)) else None)


__all__ = ["Inversion", "InvertedPhoto", "aligned_as_face", "evaluate_methods", "get_perceptual", "invert_images",
           "invert_photo", "prepare_photo"]
