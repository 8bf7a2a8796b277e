"""The shipped style networks (``src/faceedit/assets/styles/*.safetensors``) and finding a network by name, file
or style image.

    list_styles()                      # [{"name", "title", "artist", "licence", "path", ...}], sorted by name
    load_style("starry_night")         # a StyleModel (cached per file)
    load_style("my_style.safetensors") # any style model file
    find_for_style_image("painting.jpg")   # the shipped network trained on exactly that image (sha256), or None
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from faceedit.errors import FaceEditError
from faceedit.stylize.johnson import KIND, StyleModel, load_style_model

STYLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "styles"
_CACHE: dict[tuple[str, float], StyleModel] = {}


def _read_card(path: Path) -> dict[str, Any] | None:
    """The card in a style model's metadata (no tensors read), or None when it is not a style model."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("faceedit") or "{}")
    except Exception:  # noqa: BLE001 - unreadable files are simply not listed
        return None
    if meta.get("kind") != KIND:
        return None
    card = meta.get("card")
    return card if isinstance(card, dict) else {}


def list_styles(folder: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The style networks in ``folder`` (default: the shipped ones): one dict per network with ``name`` (the file
    stem, what :func:`load_style` takes), ``title``, ``artist``, ``style_file``, ``style_sha256``, ``licence``
    (weights and painting), ``training_size``, ``parameters``, ``bytes`` and ``path``."""
    folder = Path(folder) if folder is not None else STYLES_DIR
    out = []
    if not folder.is_dir():
        return out
    for p in sorted(folder.glob("*.safetensors")):
        card = _read_card(p)
        if card is None:
            continue
        style = card.get("style") or {}
        out.append({"name": p.name.removesuffix(".safetensors"), "title": style.get("title", ""),
                    "artist": style.get("artist", ""), "style_file": style.get("file", ""),
                    "style_sha256": style.get("sha256", ""), "licence": card.get("licence", {}),
                    "training_size": (card.get("training") or {}).get("size"),
                    "parameters": (card.get("architecture") or {}).get("parameters"),
                    "bytes": p.stat().st_size, "path": str(p)})
    return out


def style_path(name: str | os.PathLike) -> Path:
    """The file of a style network: a shipped name (``starry_night``) or a path to a ``.safetensors`` file."""
    text = str(name)
    p = Path(text).expanduser()
    if text.endswith(".safetensors") or os.sep in text or p.is_file():
        if not p.is_file():
            raise FaceEditError(f"style model not found: {p}")
        return p
    shipped = STYLES_DIR / f"{text}.safetensors"
    if shipped.is_file():
        return shipped
    names = [s["name"] for s in list_styles()]
    raise FaceEditError(f"unknown style {text!r}: use one of {', '.join(names) or '(none shipped)'} or a "
                        ".safetensors file from 'faceedit train style'")


def load_style(name: str | os.PathLike) -> StyleModel:
    """A style network by shipped name or file path (loaded once per file and modification time)."""
    p = style_path(name)
    key = (str(p.resolve()), p.stat().st_mtime)
    if key not in _CACHE:
        _CACHE[key] = load_style_model(p)
    return _CACHE[key]


def find_for_style_image(image: str | os.PathLike, folder: str | os.PathLike | None = None) -> str | None:
    """The name of a network in ``folder`` (default: shipped) trained on exactly this image file (same sha256)."""
    from faceedit.stylize.training import file_sha256

    sha = file_sha256(image)
    for s in list_styles(folder):
        if s["style_sha256"] == sha:
            return s["path"] if folder is not None else s["name"]
    return None
