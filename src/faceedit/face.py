"""The face being edited: its latent code, the generator that draws it, its noise maps and the photo it came from.

One type for every command and the web page::

    face = resolve_face("me.jpg", model)          # or "seed:12", "12", "faces.npz#3", "me.npz"
    face.ws                                       # w+ [1, num_ws, w_dim]
    face.generator                                # the Model that draws it (a pivotal photo's tuned generator)
    face.noise                                    # its optimised noise maps, or None (the constant noise)
    face.photo                                    # the Photo to paste edits into, or None
    out = face.render(model.edit(face.ws, smiling=2))      # uint8 [1, H, W, 3]: pasted into the photo
    out = face.render(edited_ws, paste=None)               # the aligned face only

A photo is aligned and inverted (pivotal tuning by default: the face gets its own tuned generator); a latent file
written by ``faceedit invert`` brings back that photo's tuned generator and noise maps; a seed is mapped with
truncation ψ and keeps its z (for slerp). Faces made from other faces (:func:`mix_faces`, crossover, transfer)
are drawn by their first face's generator and noise; a morph blends the two faces' generators and noise maps
frame by frame (:func:`morph_images`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.func import functional_call

from faceedit.align.photo import PASTE_MODES, Photo, check_paste_mode
from faceedit.edit.mixing import mix
from faceedit.errors import FaceEditError
from faceedit.invert.photos import invert_photo
from faceedit.invert.methods import PHOTO_METHOD
from faceedit.invert.optimize import noise_layers
from faceedit.invert.pivotal import read_tuned
from faceedit.latents import load_latents, read_noise_maps
from faceedit.limits import check_truncation
from faceedit.media import to_uint8
from faceedit.model import Model, NoiseMaps

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
LATENT_SUFFIXES = (".npz", ".npy")


@dataclass
class Face:
    """A face to edit. ``ws``: w+ [1, num_ws, w_dim]; ``generator``: the :class:`~faceedit.model.Model` that
    draws it; ``noise``: its noise maps (``{'b8.conv0': [1, 1, 8, 8], ...}``) or None for the constant noise;
    ``photo``: the :class:`~faceedit.align.photo.Photo` it came from, or None; ``z`` [1, z_dim]: its z when it
    came from a seed or an inversion in z; ``truncation``: the ψ its z is mapped with (a seed's; 1 for an inverted
    z); ``label``: a short name for messages and files; ``notes``: what the inversion said."""

    ws: torch.Tensor
    generator: Model
    noise: NoiseMaps | None = None
    photo: Photo | None = None
    z: torch.Tensor | None = None
    label: str = ""
    notes: list[str] = field(default_factory=list)
    truncation: float = 1.0

    def synthesize(self, ws: torch.Tensor | None = None, batch_size: int = 8) -> torch.Tensor:
        """Images [n, 3, R, R] in about [-1, 1] of ``ws`` [n, num_ws, w_dim] (default: the face's own code),
        drawn by the face's generator with its noise maps."""
        ws = self.ws if ws is None else ws
        return self.generator.synthesize(ws, noise=self.noise, batch_size=batch_size)

    def render(self, ws: torch.Tensor | None = None, paste: str | None = "change") -> np.ndarray:
        """uint8 images [n, H, W, 3] of ``ws`` (default: the face itself). For a face from a photo they are
        pasted back into it (``paste``: ``"change"`` adds the edit's change to the photo's own pixels,
        ``"replace"`` pastes the generator's face, None keeps the aligned face); other faces come back aligned."""
        images = to_uint8(self.synthesize(ws))
        if self.photo is None or paste is None:
            return images
        check_paste_mode(paste)
        return np.stack([self.photo.paste(img, mode=paste) for img in images])

    def frame_pixels(self, paste: str | None = "change") -> int:
        """Pixels of one image :meth:`render` returns: the photo's size when pasting, else the generator's."""
        if self.photo is not None and paste is not None:
            return self.photo.pixels
        return self.generator.resolution ** 2

    def derive(self, ws: torch.Tensor, label: str = "") -> "Face":
        """A new face with code ``ws`` drawn like this one (same generator and noise), without the photo."""
        return Face(ws=ws, generator=self.generator, noise=self.noise, label=label or self.label)


# ---------------------------------------------------------------------------------------------- resolving
def _seed_of(spec: str) -> int | None:
    m = re.fullmatch(r"(?:seed[:=]?)?([0-9]{1,12})", spec.strip(), flags=re.IGNORECASE)
    return int(m.group(1)) if m else None


def is_photo(spec: str) -> bool:
    """True when ``spec`` names a photo (by its suffix; ``#row`` ignored)."""
    return Path(str(spec).partition("#")[0]).suffix.lower() in PHOTO_SUFFIXES


def resolve_face(spec: str | int, model: Model, truncation: float = 0.7, index: int = 0, *,
                 method: str = PHOTO_METHOD, steps: int | None = None, aligned: bool = False,
                 **invert_options) -> Face:
    """The :class:`Face` ``spec`` names for ``model``: a seed (``"seed:12"``, ``"12"``; mapped with truncation ψ =
    ``truncation``), a latent file (``.npz``/``.npy``; ``path.npz#3`` picks row 3, default ``index``; used as
    stored, with the tuned generator and noise maps ``faceedit invert`` stored beside the code) or a photo
    (aligned unless ``aligned``, and inverted with ``method`` in ``steps``; ``invert_options`` go to
    :func:`~faceedit.invert.invert_photo`: progress, faces, encoder …)."""
    text = str(spec).strip()
    if not text:
        raise FaceEditError("empty face: give a seed (e.g. seed:12) or a latent file (.npz/.npy)")
    if len(text) > 4096 or "\x00" in text:
        raise FaceEditError(f"bad face {text[:40]!r}…: give a seed (12 or seed:12), a latent file or a photo")
    seed = _seed_of(text)
    if seed is not None and not Path(text).exists():
        z = model.z_from_seeds([seed])
        psi = check_truncation(truncation)
        return Face(ws=model.map(z, psi), generator=model, z=z, label=f"seed{seed}", truncation=psi)
    path_s, _, row = text.partition("#")
    path = Path(path_s)
    if row:
        if not re.fullmatch(r"[0-9]{1,9}", row):
            raise FaceEditError(f"bad row {row!r} in {text}: use file.npz#N")
        index = int(row)
    suffix = path.suffix.lower()
    if suffix in LATENT_SUFFIXES:
        return face_from_latents(path, model, index)
    if suffix in PHOTO_SUFFIXES:
        if not path.is_file():
            raise FaceEditError(f"photo not found: {path}")
        return face_from_photo(path, model, method=method, steps=steps, aligned=aligned, **invert_options)
    if path.exists():
        raise FaceEditError(f"cannot use {path} as a face: give a seed, a latent file (.npz/.npy) or a photo")
    raise FaceEditError(f"bad face {text!r}: give a seed (12 or seed:12), a latent file (.npz/.npy) or a photo")


def face_from_latents(path: Path, model: Model, index: int = 0) -> Face:
    """Row ``index`` of a latent file, with the tuned generator and noise maps stored for that row."""
    arr, meta = load_latents(path)
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 3 or (arr.ndim == 2 and arr.shape[-1] == model.w_dim and arr.shape[0] != model.num_ws):
        if not 0 <= index < arr.shape[0]:
            raise FaceEditError(f"{path} holds {arr.shape[0]} latents; row {index} does not exist")
        arr = arr[index]
    if meta.get("w_dim") not in (None, model.w_dim) or meta.get("num_ws") not in (None, model.num_ws):
        raise FaceEditError(f"{path} holds latents for a model with {meta.get('num_ws')} w+ layers of "
                            f"{meta.get('w_dim')}; this model has {model.num_ws} of {model.w_dim}")
    if arr.ndim == 2 and arr.shape[0] == model.num_ws:
        arr = arr[None]  # one w+ code; as_ws would read [num_ws, w_dim] as num_ws separate w vectors
    generator = model
    noise = None
    z = None
    if path.suffix.lower() == ".npz":
        z = read_z(path, index, model.z_dim)
        tuned = read_tuned(path)
        if tuned is not None:  # a latent file from 'faceedit invert --method pivotal'
            generator = tuned.model(model, index)
        maps = read_noise_maps(path)
        if maps is not None:  # a latent file from 'faceedit invert --noise'
            noise = {k: torch.from_numpy(v[index:index + 1]).to(model.device) for k, v in maps.items()}
    return Face(ws=model.as_ws(torch.from_numpy(arr))[:1], generator=generator, noise=noise, z=z,
                label=path.stem + (f"#{index}" if index else ""))


def read_z(path: Path, index: int, z_dim: int) -> torch.Tensor | None:
    """Row ``index`` of the ``z`` array a latent file holds (written by ``faceedit invert --space z``) as
    [1, z_dim], or None when it has none (or one of another width)."""
    from faceedit.limits import check_latents

    with np.load(path, allow_pickle=False) as data:
        if "z" not in data.files:
            return None
        z = np.asarray(data["z"], dtype=np.float32)
    if z.ndim != 2 or z.shape[1] != z_dim or not 0 <= index < z.shape[0]:
        return None
    out = torch.from_numpy(z[index:index + 1].copy())
    check_latents(out, "z")
    return out


def face_from_photo(photo, model: Model, method: str = PHOTO_METHOD, steps: int | None = None,
                    aligned: bool = False, **invert_options) -> Face:
    """A photo (a file or an H×W×3 uint8 array) aligned and inverted into ``model``: the face with the photo's
    tuned generator (pivotal), its noise maps (when the inversion optimised them) and the photo to paste into."""
    kw = dict(invert_options)
    if steps is not None:
        kw["steps"] = steps
    inv = invert_photo(photo, model, method=method, aligned=aligned, **kw)
    label = Path(inv.path).stem if inv.path else "photo"
    return Face(ws=model.as_ws(inv.ws)[:1], generator=inv.model_for(model), noise=inv.noise, photo=inv.photo,
                label=label, notes=list(inv.notes))


def resolve_faces(specs: Sequence[str], model: Model, truncation: float = 0.7, **options) -> list[Face]:
    """:func:`resolve_face` for each spec (``options`` as there)."""
    return [resolve_face(s, model, truncation, **options) for s in specs]


# ---------------------------------------------------------------------------------------------- several faces
def mix_faces(a: Face, b: Face, layers: str | list[int] = "fine") -> Face:
    """Face ``a`` with the w+ entries ``layers`` of face ``b`` (see :func:`faceedit.edit.mix`), drawn like ``a``."""
    return a.derive(mix(a.ws, b.ws, layers), label=f"{a.label}+{b.label}")


def mixing_grid(rows: Sequence[Face], cols: Sequence[Face], layers: str | list[int] = "coarse") -> np.ndarray:
    """The style-mixing figure as uint8 images [(R+1)·(C+1), H, W, 3], row-major with C+1 columns: the column
    faces on top, the row faces on the left, a blank corner; cell (r, c) is row face r with the ``layers`` of
    column face c, drawn like the row face."""
    col_imgs = [c.render(paste=None)[0] for c in cols]
    blank = np.full_like(col_imgs[0], 255)
    out = [blank, *col_imgs]
    for r in rows:
        out.append(r.render(paste=None)[0])
        cells = torch.cat([mix(r.ws, c.ws, layers) for c in cols])
        out.extend(r.render(cells, paste=None))
    return np.stack(out)


def _noise_of(face: Face) -> dict[str, torch.Tensor]:
    """The face's noise map for every noise layer: its own maps, else its generator's constant noise."""
    own = face.noise or {}
    return {name: own[name] if name in own else layer.noise_const[None, None]
            for name, layer in noise_layers(face.generator.G)}


def morph_images(a: Face, b: Face, ws: torch.Tensor, times: Sequence[float]) -> Iterator[np.ndarray]:
    """uint8 frames [H, W, 3] of a morph from ``a`` to ``b``: frame ``i`` draws ``ws[i]`` with the generator
    weights and noise maps blended ``(1 − t)·a + t·b`` at ``t = times[i]`` — so the first frame is ``a`` as
    :meth:`Face.render` draws it and the last is ``b``, tuned generators and noise included."""
    if len(times) != ws.shape[0]:
        raise FaceEditError(f"{ws.shape[0]} morph frames for {len(times)} times")
    ga, gb = a.generator, b.generator
    plain = ga is gb and a.noise is None and b.noise is None
    if plain:
        for i in range(0, ws.shape[0], 8):
            yield from to_uint8(ga.synthesize(ws[i:i + 8]))
        return
    if ga.sha256 != gb.sha256 or ga.resolution != gb.resolution:
        raise FaceEditError("a morph needs two faces of the same generator")
    syn = ga.G.synthesis
    pa, pb = dict(syn.named_parameters()), dict(gb.G.synthesis.named_parameters())
    na, nb = _noise_of(a), _noise_of(b)
    with torch.no_grad():
        for w, t in zip(ws, times):
            t = float(t)
            params = {k: torch.lerp(pa[k], pb[k], t) for k in pa}
            noise = {k: torch.lerp(na[k], nb[k], t) for k in na}
            img = functional_call(syn, params, (ga.as_ws(w[None]),), {"noise_mode": "const", "noise": noise})
            yield to_uint8(img)[0]


__all__ = ["Face", "PASTE_MODES", "PHOTO_METHOD", "Photo", "face_from_latents", "face_from_photo",
           "is_photo", "mix_faces", "mixing_grid", "morph_images", "resolve_face", "resolve_faces"]
