"""Images of a folder → thumbnails for DERC's own autoencoder, or features from the project's face networks.

- :func:`list_images` — image files under a folder (recursive, sorted, hidden files skipped), capped in number.
- :func:`read_images` — decode each file (one unreadable file is reported as ``skip: FILE: reason`` and the rest go
  on), centre-crop to a square and resize: ``uint8 [N, 3, size, size]`` thumbnails, plus, when asked,
  float network inputs ``[N, 3, net_size, net_size]`` in [-1, 1] handed batch by batch to a feature function.
- :func:`identity_features` — the 128-d dlib-compatible identity descriptors of face-api's recognition ResNet
  (:class:`faceedit.metrics.distances.IdentityDistance`; needs ``faceedit scorers fetch-faceapi``).
- :func:`attribute_features` — the 192-d pooled features before the last layer of the project's 40-attribute
  classifier (:func:`faceedit.scorers.load_classifier`).

Faces are expected FFHQ-aligned (``faceedit align``); ``box=None`` reads tight face crops for identity features.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from faceedit.errors import FaceEditError

#: Hard caps on what a user may ask for.
MAX_IMAGES = 20_000
MAX_SIZE = 128
MIN_SIZE = 16
#: Input side of the feature networks (face-api resizes to 150 inside; the classifier to 64).
NET_SIZE = 128
FEATURE_SOURCES = ("derc", "identity", "attributes")


def list_images(folder: str | os.PathLike, max_images: int = 2000) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, hidden names skipped); raises for a missing or empty
    folder and for more files than ``max_images`` (a cap: at most :data:`MAX_IMAGES`)."""
    from faceedit.align.image import is_image_name

    folder = Path(folder)
    if not folder.exists():
        raise FaceEditError(f"no such folder: {folder}")
    if not folder.is_dir():
        raise FaceEditError(f"{folder} is not a folder")
    if not 1 <= max_images <= MAX_IMAGES:
        raise FaceEditError(f"--max-images must be 1–{MAX_IMAGES}, got {max_images}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p)
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise FaceEditError(f"no images in {folder} (looked for {', '.join(_suffixes())})")
    if len(files) > max_images:
        raise FaceEditError(f"{folder} holds {len(files)} images, over the cap of {max_images}: "
                            "raise --max-images or cluster a smaller folder")
    return files


def _suffixes() -> tuple[str, ...]:
    from faceedit.align.image import IMAGE_SUFFIXES

    return IMAGE_SUFFIXES


def square(arr: np.ndarray, size: int) -> np.ndarray:
    """H×W×3 uint8 → centre square resized to ``size``² (antialiased) → 3×size×size uint8."""
    from PIL import Image

    h, w = arr.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    im = Image.fromarray(arr[top:top + s, left:left + s])
    if s != size:
        im = im.resize((size, size), Image.BICUBIC if s < size else Image.LANCZOS)
    return np.ascontiguousarray(np.asarray(im).transpose(2, 0, 1))


@dataclass
class ImageSet:
    """``paths`` [N] of the images read, ``thumbs`` uint8 [N, 3, size, size], ``features`` [N, D] or None,
    ``skipped`` [(path, reason)]."""

    paths: list[Path]
    thumbs: torch.Tensor
    features: torch.Tensor | None = None
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def read_images(paths: list[Path], size: int = 64, feature_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
                batch: int = 32, progress: bool = True, warn=None) -> ImageSet:
    """Decode ``paths`` into an :class:`ImageSet`. ``feature_fn([B, 3, NET_SIZE, NET_SIZE] in [-1, 1]) -> [B, D]``
    is called on batches of ``batch`` images when given. Unreadable files are reported through ``warn``
    (default: ``skip: FILE: reason`` on stderr) and left out."""
    from tqdm import tqdm

    from faceedit.align.image import load_image

    if not MIN_SIZE <= size <= MAX_SIZE:
        raise FaceEditError(f"--size must be {MIN_SIZE}–{MAX_SIZE}, got {size}")
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    kept, thumbs, feats, skipped = [], [], [], []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if pending:
            x = torch.from_numpy(np.stack(pending)).float() / 127.5 - 1.0
            with torch.no_grad():
                feats.append(feature_fn(x).float().cpu())
            pending.clear()

    for path in tqdm(paths, desc="reading images", unit="img", disable=not progress, leave=False):
        try:
            arr = load_image(path)
        except FaceEditError as exc:
            reason = _reason(str(exc), path)
            skipped.append((path, reason))
            warn(f"skip: {path}: {reason}")
            continue
        kept.append(path)
        thumbs.append(square(arr, size))
        if feature_fn is not None:
            pending.append(square(arr, NET_SIZE))
            if len(pending) >= batch:
                flush()
    if feature_fn is not None:
        flush()
    if not kept:
        raise FaceEditError(f"none of the {len(paths)} images could be read")
    return ImageSet(kept, torch.from_numpy(np.stack(thumbs)), torch.cat(feats) if feats else None, skipped)


def _reason(message: str, path: Path) -> str:
    """The loader's message without the file name it repeats (the skip line names the file already)."""
    for form in (f": {path}", f"{path}: ", f" {path}"):
        message = message.replace(form, "")
    return message.strip() or "unreadable"


def identity_features(cache=None, box="ffhq") -> Callable[[torch.Tensor], torch.Tensor]:
    """A feature function: images [B, 3, H, W] in [-1, 1] → [B, 128] identity descriptors (face-api's port of
    dlib's ResNet; ``box``: ``"ffhq"`` for FFHQ-aligned faces, None for tight face crops)."""
    from faceedit.metrics.distances import IdentityDistance

    dist = IdentityDistance(backend="faceapi", cache=cache, box=box)
    return dist.descriptors


def attribute_features(path=None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A feature function: images [B, 3, H, W] in [-1, 1] → [B, C] the attribute classifier's pooled features
    (the input of its last linear layer; C = 192 for the shipped classifier)."""
    from faceedit.scorers import load_classifier
    from faceedit.scorers.inputs import to_model_size

    clf = load_classifier(path)
    net = clf.net

    def fn(x: torch.Tensor) -> torch.Tensor:
        h = net.blocks(net.stem(to_model_size(x, clf.size)))
        return h.mean(dim=(2, 3))

    return fn


def feature_function(source: str, cache=None, box="ffhq") -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The feature function of a source name (``derc``: None, the autoencoder works on the thumbnails)."""
    if source not in FEATURE_SOURCES:
        raise FaceEditError(f"unknown feature source {source!r}: use {', '.join(FEATURE_SOURCES)}")
    if source == "identity":
        return identity_features(cache, box)
    if source == "attributes":
        return attribute_features()
    return None


__all__ = ["FEATURE_SOURCES", "ImageSet", "MAX_IMAGES", "attribute_features", "feature_function",
           "identity_features", "list_images", "read_images", "square"]
