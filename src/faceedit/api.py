"""The Python API: the few calls a user scripts against. The CLI and the web app call only these.

    import faceedit
    model = faceedit.load()                       # embedded default; or a registry name, or a checkpoint path
    out = model.generate(seeds=range(8), truncation=0.7)
    out.images                                    # uint8 [N, H, W, 3]
    out.ws                                        # w+ latents [N, num_ws, w_dim] (torch.float32)
    img = model.synthesize(out.ws[:1])            # w+ → image tensor in [-1, 1]
    smiling = model.edit(out.ws, smiling=2, keep=["male"])          # attribute edits
    face = faceedit.resolve_face("me.jpg", model)                   # a seed, a latent file or a photo
    photo = face.render(model.edit(face.ws, smiling=1.5))[0]        # the edit pasted back into the photo

:class:`Model` is :class:`faceedit.model.Model` (the core type every layer takes) with the attribute edits of
:mod:`faceedit.edit.directions` added; :class:`~faceedit.face.Face` is the face being edited.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import torch

from faceedit import model as core
from faceedit.edit.directions import DirectionSet, load_directions
from faceedit.face import Face, Photo, resolve_face
from faceedit.model import Generated


@dataclasses.dataclass
class Model(core.Model):
    """A loaded generator (see :class:`faceedit.model.Model`) with its attribute directions."""

    def directions(self, folder: str | Path | None = None) -> DirectionSet:
        """The attribute directions fitted for this model (shipped for the default; else ``faceedit directions
        fit``'s cache folder, or ``folder``)."""
        if folder is not None:
            return load_directions(self, folder)
        if self.__dict__.get("_directions") is None:  # loaded once per model
            self._directions = load_directions(self)
        return self._directions

    def edit(self, ws: torch.Tensor, amounts: dict[str, float] | None = None, keep: Sequence[str] = (),
             layers: str | Sequence[int] | None = None, **attributes: float) -> torch.Tensor:
        """w+ edited along attribute directions: ``model.edit(ws, smiling=2, age=-1, keep=["male"])``; amounts in
        standard deviations of the latent distribution along each direction."""
        return self.directions().apply(self.as_ws(ws), {**(amounts or {}), **attributes}, keep=keep, layers=layers)


def load(model: str | Path | None = "default", device: str | torch.device = "cpu",
         with_discriminator: bool = False) -> Model:
    """Load a generator: ``"default"`` (the embedded model), a registry name (after ``faceedit models fetch``),
    or a checkpoint path in any supported format (NVIDIA .pkl, TF .pkl, rosinality .pt, faceedit .safetensors).
    ``with_discriminator`` also loads D (and the training copy of G) when the file has them."""
    m = core.load(model, device=device, with_discriminator=with_discriminator)
    return Model(**{f.name: getattr(m, f.name) for f in dataclasses.fields(m)})


__all__ = ["Face", "Generated", "Model", "Photo", "load", "resolve_face"]
