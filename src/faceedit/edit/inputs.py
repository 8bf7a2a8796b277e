"""Turn a face given on the command line (a seed, a latent file or, with the inversion module, a photo) into w+."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceedit.errors import FaceEditError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
LATENT_SUFFIXES = (".npz", ".npy")


@dataclass
class Face:
    """A resolved face: w+ ``ws`` [1, num_ws, w_dim]; ``z`` [1, z_dim] when it came from a seed (for slerp)."""

    ws: torch.Tensor
    z: torch.Tensor | None = None
    label: str = ""


def _seed_of(spec: str) -> int | None:
    m = re.fullmatch(r"(?:seed[:=]?)?([0-9]{1,12})", spec.strip(), flags=re.IGNORECASE)
    return int(m.group(1)) if m else None


def resolve(spec: str | int, model, truncation: float = 0.7, index: int = 0) -> Face:
    """Resolve ``spec`` — ``"seed:12"``, ``"12"``, a latent file (``.npz``/``.npy``; ``path.npz#3`` picks row 3,
    default ``index``) or a photo (needs the inversion module) — into a :class:`Face` for ``model``.
    Seeds are mapped with truncation ψ = ``truncation``; latent files are used as stored."""
    text = str(spec).strip()
    if not text:
        raise FaceEditError("empty face: give a seed (e.g. seed:12) or a latent file (.npz/.npy)")
    if len(text) > 4096 or "\x00" in text:
        raise FaceEditError(f"bad face {text[:40]!r}…: give a seed (12 or seed:12), a latent file or a photo")
    seed = _seed_of(text)
    if seed is not None and not Path(text).exists():
        z = model.z_from_seeds([seed])
        return Face(ws=model.map(z, truncation), z=z, label=f"seed{seed}")
    path_s, _, row = text.partition("#")
    path = Path(path_s)
    if row:
        if not re.fullmatch(r"[0-9]{1,9}", row):
            raise FaceEditError(f"bad row {row!r} in {text}: use file.npz#N")
        index = int(row)
    suffix = path.suffix.lower()
    if suffix in LATENT_SUFFIXES:
        from faceedit.latents import load_latents

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
        return Face(ws=model.as_ws(torch.from_numpy(arr))[:1], label=path.stem + (f"#{index}" if index else ""))
    if suffix in PHOTO_SUFFIXES:
        if not path.is_file():
            raise FaceEditError(f"photo not found: {path}")
        if importlib.util.find_spec("faceedit.invert") is None:
            raise FaceEditError(f"inverting photos needs the inversion module (not installed yet): {path}; "
                                "give a seed or a latent file instead")
        invert = importlib.import_module("faceedit.invert")
        fn = getattr(invert, "invert_photo", None) or getattr(invert, "invert", None)
        if fn is None:
            raise FaceEditError("the inversion module has no invert_photo(); update faceedit")
        ws = fn(path, model)
        ws = getattr(ws, "ws", ws)
        return Face(ws=model.as_ws(ws)[:1], label=path.stem)
    if path.exists():
        raise FaceEditError(f"cannot use {path} as a face: give a seed, a latent file (.npz/.npy) or a photo")
    raise FaceEditError(f"bad face {text!r}: give a seed (12 or seed:12), a latent file (.npz/.npy) or a photo")


def resolve_face(spec: str | int, model, truncation: float = 0.7) -> torch.Tensor:
    """``spec`` → w+ [1, num_ws, w_dim] (see :func:`resolve`)."""
    return resolve(spec, model, truncation).ws
