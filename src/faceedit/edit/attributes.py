"""Named attribute scores of face images, for fitting and checking edit directions.

One :class:`AttributeScorer` turns a batch of generated (FFHQ-aligned) images into a score per named attribute,
higher meaning "more of it". Three sources, each used when its weights are present:

* the project's CelebA attribute classifier (``faceedit.scorers.load_classifier``): the 40 CelebA attributes as
  logits, named in lower case (``smiling``, ``male``, ``eyeglasses``, ``young``, ``bangs``, ``black_hair`` …),
  plus ``beard`` (= −``no_beard``);
* face-api.js (``faceedit scorers fetch-faceapi``): the expressions ``happy``, ``sad``, ``angry``, ``surprised``,
  ``neutral``, ``fearful``, ``disgusted`` as log-odds, and ``age`` in years;
* geometry of face-api's 68 landmarks: ``yaw`` and ``pitch`` (approximate degrees, from the nose's position
  between the jaw ends and along the nose-to-chin line), ``mouth_open`` (inner-lip gap / face height) and
  ``eyes_narrowed`` (minus the eye aspect ratio); ``pose_yaw`` and ``pose_pitch`` (degrees, the same landmarks
  registered to a canonical 3D face: :mod:`faceedit.geometry.headpose`, closed-form fit).

Aliases users type are accepted: ``smile``, ``gender``, ``glasses``, ``old``/``age`` … (:func:`canonical`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from faceedit.errors import FaceEditError

EXPRESSION_SCORES = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
LANDMARK_SCORES = ("yaw", "pitch", "mouth_open", "eyes_narrowed")
POSE_SCORES = ("pose_yaw", "pose_pitch")
ALIASES = {
    "smile": "smiling", "gender": "male", "man": "male", "glasses": "eyeglasses", "old": "age", "older": "age",
    "head_yaw": "yaw", "turn": "yaw", "head_pitch": "pitch", "nod": "pitch", "open_mouth": "mouth_open",
    "mouth": "mouth_open", "narrow": "eyes_narrowed", "squint": "eyes_narrowed", "surprise": "surprised",
    "happiness": "happy", "sadness": "sad", "anger": "angry", "blond": "blond_hair", "blonde": "blond_hair",
    "black": "black_hair", "gray": "gray_hair", "grey": "gray_hair", "grey_hair": "gray_hair",
    "brown": "brown_hair", "hat": "wearing_hat", "lipstick": "wearing_lipstick", "makeup": "heavy_makeup",
}
UNITS = {"age": "years", "yaw": "degrees (approx.)", "pitch": "degrees (approx.)", "pose_yaw": "degrees",
         "pose_pitch": "degrees",
         "mouth_open": "inner-lip gap / face height", "eyes_narrowed": "minus eye aspect ratio"}


def canonical(name: str) -> str:
    """A user's attribute name → the score name (lower case, ``-``/space → ``_``, aliases resolved)."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return ALIASES.get(key, key)


def landmark_geometry(lm: torch.Tensor) -> dict[str, torch.Tensor]:
    """68 landmarks ``[N, 68, 2]`` (iBUG order, any scale) → yaw, pitch, mouth_open, eyes_narrowed ``[N]``.

    yaw: asin((a − b) / (a + b)) with a, b the horizontal distances from the nose tip to the two jaw ends (positive
    when the nose moves to the image's right); pitch: the nose-tip's height on the bridge-to-chin line, centred on a
    frontal face's 0.33 (CelebA-HQ mean) and scaled to about ±45° (positive = chin up). Both are monotone proxies, not a 3D fit."""
    lm = lm.float()
    x, y = lm[..., 0], lm[..., 1]
    a = (x[:, 30] - x[:, 0]).clamp_min(1e-3)
    b = (x[:, 16] - x[:, 30]).clamp_min(1e-3)
    yaw = torch.rad2deg(torch.asin(((a - b) / (a + b)).clamp(-1, 1)))
    bridge, tip, chin = lm[:, 27], lm[:, 30], lm[:, 8]
    axis = chin - bridge
    length = axis.norm(dim=1).clamp_min(1e-3)
    t = ((tip - bridge) * axis).sum(1) / length ** 2
    pitch = -(t - 0.33) * 150.0
    gap = ((lm[:, 61] - lm[:, 67]).norm(dim=1) + (lm[:, 62] - lm[:, 66]).norm(dim=1)
           + (lm[:, 63] - lm[:, 65]).norm(dim=1)) / 3
    mouth_open = gap / length

    def ear(i: int) -> torch.Tensor:  # eye aspect ratio of the eye whose landmarks start at i
        p = lm[:, i:i + 6]
        return ((p[:, 1] - p[:, 5]).norm(dim=1) + (p[:, 2] - p[:, 4]).norm(dim=1)) / (
            2 * (p[:, 0] - p[:, 3]).norm(dim=1).clamp_min(1e-3))

    eyes = (ear(36) + ear(42)) / 2
    return {"yaw": yaw, "pitch": pitch, "mouth_open": mouth_open, "eyes_narrowed": -eyes}


@dataclass
class AttributeScorer:
    """``scorer(images [N, 3, H, W] in [-1, 1]) -> float32 [N, len(names)]``; ``names`` in column order.

    Build it with :meth:`load` (the project's models) or directly from callables (tests, custom scorers):
    each source is ``(names, fn)`` with ``fn(images) -> [N, len(names)]``."""

    sources: list[tuple[tuple[str, ...], Callable[[torch.Tensor], torch.Tensor]]]
    notes: list[str] = field(default_factory=list)
    batch_size: int = 64

    @property
    def names(self) -> list[str]:
        return [n for names, _ in self.sources for n in names]

    def index(self, name: str) -> int:
        key = canonical(name)
        names = self.names
        if key not in names:
            raise FaceEditError(f"no score for attribute {name!r}: available: {', '.join(names)}"
                                + (f" ({'; '.join(self.notes)})" if self.notes else ""))
        return names.index(key)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for i in range(0, images.shape[0], self.batch_size):
            part = images[i:i + self.batch_size].float()
            out.append(torch.cat([fn(part).float().cpu() for _, fn in self.sources], dim=1))
        if not out:
            return torch.zeros(0, len(self.names))
        return torch.cat(out)

    @classmethod
    def load(cls, device: str | torch.device = "cpu", use: Sequence[str] = ("classifier", "faceapi"),
             required: bool = True) -> "AttributeScorer":
        """The project's scorers that are present: the attribute classifier and face-api (expressions, age,
        landmark geometry). Missing ones are noted in ``notes``; with none at all, raise (when ``required``)."""
        sources: list = []
        notes: list[str] = []
        if "classifier" in use:
            try:
                from faceedit.scorers import load_classifier

                clf = load_classifier(device=device)
                names = tuple(a.lower() for a in clf.attributes)
                beard = names.index("no_beard") if "no_beard" in names else None

                def classify(img, clf=clf, beard=beard):
                    logits = clf.logits(img.to(device))
                    if beard is None:
                        return logits
                    return torch.cat([logits, -logits[:, beard:beard + 1]], dim=1)

                sources.append((names + (("beard",) if beard is not None else ()), classify))
            except FaceEditError as exc:
                notes.append(f"attribute classifier unavailable: {exc}")
        if "faceapi" in use:
            try:
                from faceedit.geometry.headpose import pose_scores
                from faceedit.scorers import load_faceapi
                from faceedit.scorers.faceapi import FEATURE_SIZE

                fa = load_faceapi(device=device)

                def faceapi_scores(img, fa=fa):
                    x = fa.preprocess(img.to(device), FEATURE_SIZE)
                    p = torch.softmax(fa.expression_net(x).float(), dim=1).clamp(1e-6, 1 - 1e-6)
                    expr = torch.log(p) - torch.log1p(-p)
                    age, _ = fa.age_gender_net(x)
                    lm = fa.landmark_net(x).float().reshape(-1, 68, 2)
                    geo = landmark_geometry(lm)
                    pose = pose_scores(lm.cpu())
                    return torch.cat([expr, age.float().reshape(-1, 1)]
                                     + [geo[k][:, None] for k in LANDMARK_SCORES]
                                     + [v.to(expr.device)[:, None] for v in pose], dim=1)

                sources.append((EXPRESSION_SCORES + ("age",) + LANDMARK_SCORES + POSE_SCORES, faceapi_scores))
            except FaceEditError as exc:
                notes.append(f"face-api scorers unavailable (expressions, age, yaw/pitch): {exc}")
        if not sources and required:
            raise FaceEditError("no attribute scorer available: " + "; ".join(notes))
        return cls(sources=sources, notes=notes)


def score_summary(scores: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Mean and std of each score column (for cards and reports)."""
    return {n: {"mean": float(np.mean(scores[:, i])), "std": float(np.std(scores[:, i]))}
            for i, n in enumerate(names)}

