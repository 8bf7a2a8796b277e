"""Adapted generators (G_B) as model files: their card's ``adapted`` section, and the source generator (G_A) it
names, which inverts art faces for G_B (they share the latent space).

The card (``model.card["card"]["adapted"]``) records ``source`` (``name``: a registry name, ``default`` or a path;
``sha256`` of its file), ``target`` (file name, sha256), the method, the embedding, the losses and the settings.
"""

from __future__ import annotations

from typing import Any

from faceedit.errors import FaceEditError
from faceedit.io.registry import ART_ASSETS as SHIPPED_DIR, shipped_art_names as shipped_names
from faceedit.model import Model, load

REMAKE_HINT = "remake it with 'faceedit adapt' (the shipped ones: bash scripts/make_art_generators.sh)"


def adapted_card(model: Model) -> dict[str, Any] | None:
    """The ``adapted`` section of ``model``'s card, or None for a generator that was not adapted."""
    card = (model.card or {}).get("card") or {}
    section = card.get("adapted") if isinstance(card, dict) else None
    return section if isinstance(section, dict) else None


def require_adapted(model: Model) -> dict[str, Any]:
    """The ``adapted`` card section; a one-line error for a generator that was not made by ``faceedit adapt``."""
    section = adapted_card(model)
    if section is None:
        raise FaceEditError(f"{model.name} is not an adapted generator (made by 'faceedit adapt'); give one of "
                            f"those, e.g. {', '.join(shipped_names()) or 'art_generator.safetensors'}")
    return section


def source_model(model: Model, device=None) -> Model:
    """G_A, the generator ``model`` was adapted from, checked against the card's sha256 and shapes."""
    src = require_adapted(model).get("source") or {}
    name = src.get("name")
    if not name:
        raise FaceEditError(f"{model.name}: its card names no source generator; {REMAKE_HINT}")
    try:
        source = load(name, device=device or model.device)
    except FaceEditError as exc:
        raise FaceEditError(f"{model.name} was adapted from {name}, which cannot be loaded ({exc})") from None
    want = src.get("sha256")
    if want and source.sha256 and want != source.sha256:
        raise FaceEditError(f"{model.name} was adapted from {name} with sha256 {want[:12]}…, but {name} is now "
                            f"{source.sha256[:12]}… (the generator was replaced); {REMAKE_HINT}")
    check_same_shape(source, model)
    return source


def check_same_shape(source: Model, adapted: Model) -> None:
    """Refuse a pair of generators with another resolution or latent shape."""
    if (source.resolution, source.num_ws, source.w_dim) != (adapted.resolution, adapted.num_ws, adapted.w_dim):
        raise FaceEditError(f"{adapted.name} ({adapted.resolution} px, {adapted.num_ws}×{adapted.w_dim} w+) does "
                            f"not match its source {source.name} ({source.resolution} px, {source.num_ws}×"
                            f"{source.w_dim}); {REMAKE_HINT}")


__all__ = ["SHIPPED_DIR", "adapted_card", "check_same_shape", "require_adapted", "shipped_names", "source_model"]
