"""Art faces for an adapted generator G_B: invert with the source generator G_A (its encoder + refinement),
draw with G_B. They share the latent space, so the code and the attribute directions carry over.

    G_B = load("art.safetensors"); G_A = art_source(G_B)
    face = resolve_face("art.jpg", G_A, method="hybrid")     # inverted under G_A
    art = drawn_by(face, G_B)                                # the same code, drawn in the art style
    row = reconstructions(face, G_B)                         # [G_A's, G_B's] reconstructions, aligned
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from faceedit.adapt.source import adapted_card, source_model
from faceedit.face import Face
from faceedit.model import Model

#: How photos are inverted for an adapted generator: pivotal tuning would tune G_A, which G_B cannot use.
ART_METHOD = "hybrid"


def art_source(model: Model) -> Model | None:
    """G_A when ``model`` is an adapted generator (checked against its card), else None."""
    return source_model(model) if adapted_card(model) is not None else None


def art_method(method: str) -> tuple[str, str | None]:
    """The inversion method for art faces and a note when it differs from the one asked for."""
    if method == "pivotal":
        return ART_METHOD, ("adapted generator: the art face is inverted with hybrid (encoder + refinement) on the "
                            "source generator; pivotal tuning would not carry over to the adapted one")
    return method, None


def drawn_by(face: Face, model: Model) -> Face:
    """``face`` (inverted under G_A) drawn by ``model`` (G_B); a G_A-tuned generator is dropped."""
    return replace(face, generator=model, notes=list(face.notes))


def reconstructions(face: Face, adapted: Model, source: Model, side: int | None = None) -> list[np.ndarray]:
    """The face's code drawn by G_A and by G_B: two uint8 [R, R, 3] images (aligned, not pasted), resized to
    ``side`` px when given (to stand beside edits pasted into a large painting)."""
    images = [replace(face, generator=source).render(paste=None)[0],
              replace(face, generator=adapted).render(paste=None)[0]]
    if side is None or side == images[0].shape[0]:
        return images
    from PIL import Image

    return [np.asarray(Image.fromarray(im).resize((side, side), Image.LANCZOS)) for im in images]


__all__ = ["ART_METHOD", "art_method", "art_source", "drawn_by", "reconstructions"]
