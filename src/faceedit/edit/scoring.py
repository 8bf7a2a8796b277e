"""Bridges to the project's face parser and attribute classifier (``faceedit.scorers``), and mask files.

Channel finding, local edits and AD take plain callables; these helpers build them from the project's models,
and fail with one clear line when their weights are missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from faceedit.edit.stylespace import segment_region
from faceedit.errors import FaceEditError
from faceedit.scorers.classifier import AttributeClassifier, load_classifier
from faceedit.scorers.parser import REGIONS, load_parser


def region_classes(name: str) -> tuple[int, ...]:
    """The face parser's class ids of the region ``name`` (see :data:`faceedit.scorers.parser.REGIONS`)."""
    key = name.strip().lower()
    if key not in REGIONS:
        raise FaceEditError(f"unknown region {name!r}: use one of {', '.join(sorted(REGIONS))}")
    return REGIONS[key]


def load_mask(path: str | Path, resolution: int | None = None) -> torch.Tensor:
    """A mask image (white = region; grey values give soft masks, alpha used when present) → [H, W] in [0, 1],
    resized to ``resolution`` when given. The mask is in the aligned-face frame of the generator's images."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FaceEditError(f"mask file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                a = np.asarray(im.convert("RGBA"))[..., 3]
                g = np.asarray(im.convert("L"))
                arr = g if a.min() == 255 else a
            else:
                arr = np.asarray(im.convert("L"))
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for bad files
        raise FaceEditError(f"cannot read mask {path}: {exc}") from exc
    if arr.shape[0] != arr.shape[1]:
        raise FaceEditError(f"mask {path} is {arr.shape[1]}x{arr.shape[0]}; it must be square (aligned-face frame)")
    m = torch.from_numpy(arr.astype(np.float32) / 255.0)
    if resolution is not None and m.shape[0] != resolution:
        m = torch.nn.functional.interpolate(m[None, None], size=(resolution, resolution), mode="bilinear",
                                            align_corners=False, antialias=m.shape[0] > resolution)[0, 0]
    if float(m.max()) <= 0:
        raise FaceEditError(f"mask {path} is empty (no white pixels)")
    return m.clamp(0, 1)


def parser_region(name: str, device: str | torch.device = "cpu") -> Callable[[torch.Tensor], torch.Tensor]:
    """``images -> [N, H, W]`` soft mask of region ``name`` from the project's face parser."""
    classes = region_classes(name)
    try:
        parser = load_parser(device=device)
    except FaceEditError as exc:
        raise FaceEditError(f"channel finding by region needs the face parser (or use --mask FILE): {exc}") from exc
    return segment_region(parser.probs, classes)


def _classifier(device) -> AttributeClassifier:
    try:
        return load_classifier(device=device)
    except FaceEditError as exc:
        raise FaceEditError(f"needs the attribute classifier ({exc})") from exc


def attribute_index(clf, name: str) -> int:
    names = list(clf.attributes)
    low = {n.lower(): i for i, n in enumerate(names)}
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in low:
        raise FaceEditError(f"unknown attribute {name!r}: use one of {', '.join(names)}")
    return low[key]


def classifier_score(name: str, device: str | torch.device = "cpu") -> Callable[[torch.Tensor], torch.Tensor]:
    """``images -> [N]``: the project's classifier logit for attribute ``name`` (differentiable)."""
    try:
        clf = _classifier(device)
    except FaceEditError as exc:
        raise FaceEditError(f"channel finding by attribute {exc}") from None
    i = attribute_index(clf, name)
    return lambda images: clf.logits(images)[:, i]


def classifier_logits(device: str | torch.device = "cpu"):
    """(``images -> [N, A]`` logits, attribute names) from the project's classifier."""
    try:
        clf = _classifier(device)
    except FaceEditError as exc:
        raise FaceEditError(f"attribute dependency {exc}") from None
    return clf.logits, list(clf.attributes)
