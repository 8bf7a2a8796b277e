"""The photo a face came from, and how an edit goes back into it.

    photo = Photo(original, aligned, reconstruction)    # photo H×W×3 uint8, AlignedFace, generator's R×R×3 uint8
    out = photo.paste(edited)                          # H×W×3 uint8: the edit's change on the photo's own pixels
    out = photo.paste(edited, mode="replace")          # the generator's face pasted in instead

``reconstruction`` is the generator's image of the unedited face, drawn the way every edit of it is drawn (same
generator weights and noise maps): ``mode="change"`` adds ``edited − reconstruction`` to the photo, so where an
edit changes nothing the photo comes back pixel for pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from faceedit.align.ffhq import AlignedFace, paste_back
from faceedit.errors import FaceEditError

#: How an edit goes back into the photo: its change on the photo's pixels, or the generator's face itself.
PASTE_MODES = ("change", "replace")


def check_paste_mode(mode: str) -> str:
    """``mode`` when it is one of :data:`PASTE_MODES`, else a one-line error."""
    if mode not in PASTE_MODES:
        raise FaceEditError(f"unknown paste mode {mode!r}: use {' or '.join(PASTE_MODES)}")
    return mode


@dataclass
class Photo:
    """``original``: the photo (H×W×3 uint8); ``aligned``: its :class:`~faceedit.align.AlignedFace` (identity
    transform for an already-aligned square); ``reconstruction``: the generator's image of the unedited face
    (R×R×3 uint8)."""

    original: np.ndarray
    aligned: AlignedFace
    reconstruction: np.ndarray

    @property
    def pixels(self) -> int:
        """Pixels of the photo (of one frame of an edit pasted into it)."""
        return int(self.original.shape[0]) * int(self.original.shape[1])

    def paste(self, edited_images, mode: str = "change", feather: float = 0.04) -> np.ndarray:
        """Edited aligned image(s) — a generator tensor [3, R, R] / [N, 3, R, R] in [-1, 1] or uint8 R×R×3 /
        [N, R, R, 3] — pasted back into the photo with a feathered face mask. Returns H×W×3 uint8 for one image
        (a batch of one included), [N, H, W, 3] for a batch of several.

        ``mode``: ``"change"`` (default) adds only what the edit changes (edited − :attr:`reconstruction`) to the
        photo's own pixels, keeping its detail and resolution; ``"replace"`` pastes the generator's face itself."""
        reference = self.reconstruction if check_paste_mode(mode) == "change" else None
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
        out = [paste_back(self.original, self.aligned, it, feather=feather, region=region, reference=reference)
               for it in items]
        return np.stack(out) if batch and len(out) > 1 else out[0]


__all__ = ["PASTE_MODES", "Photo", "check_paste_mode"]
