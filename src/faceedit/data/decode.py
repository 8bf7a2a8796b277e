"""Decoding one image for training and evaluation: RGB, the centre square, resized with Lanczos (after an integer
box reduction when the image is 4× or more larger). Every loader of :mod:`faceedit.data` decodes through here."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from faceedit.align.image import is_image_name
from faceedit.errors import FaceEditError


def decode_image(data: bytes | Path, size: int | None = None, what: str = "image") -> np.ndarray:
    """An encoded image (bytes or a file) → uint8 H×W×3 RGB; with ``size``, its centre square resized to
    ``size``² (Lanczos, after an integer box reduction when it is at least 4× larger)."""
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        img = img.convert("RGB")
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for bad files
        raise FaceEditError(f"cannot read {what}: {exc}") from None
    if size is not None:
        w, h = img.size
        if w != h:
            s = min(w, h)
            img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        if img.size != (size, size):
            factor = img.size[0] // (2 * size)
            if factor > 1:  # fast integer pre-reduction, then Lanczos
                img = img.reduce(factor)
            img = img.resize((size, size), Image.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def list_images(folder: Path) -> list[Path]:
    """The image files below ``folder``, sorted (hidden files and temporaries left out)."""
    return sorted(p for p in folder.rglob("*") if is_image_name(p) and p.is_file() and not p.name.startswith("."))


def list_images(folder: Path) -> list[Path]:
    """The image files below ``folder``, sorted (hidden files and temporaries left out)."""
    return sorted(p for p in folder.rglob("*") if is_image_name(p) and p.is_file() and not p.name.startswith("."))
