"""Where to stylise: a user's mask image, or the face region found by the project's face parser.

A mask is float ``[1, 1, H, W]`` in [0, 1] at the photo's size (1 = stylise). ``--face-only`` finds the largest
face (dlib), aligns it (FFHQ recipe), parses the aligned face into the 19 CelebAMask-HQ classes, keeps the head
(skin, brows, eyes, nose, mouth, lips, ears, hair, glasses), warps that mask back into the photo and feathers it;
``--background-only`` is its complement. ``aligned=True`` parses the image directly (an already FFHQ-aligned face,
e.g. a generated one).
"""

from __future__ import annotations

import numpy as np
import torch

from faceedit.errors import FaceEditError

#: Parser classes that make up the head for --face-only.
HEAD_CLASSES = ("skin", "nose", "eye_glasses", "left_eye", "right_eye", "left_brow", "right_brow", "left_ear",
                "right_ear", "mouth", "upper_lip", "lower_lip", "hair")
#: Feather width of the face mask, as a fraction of the aligned square's side.
FEATHER = 0.02
REGIONS = ("face", "background")


def mask_from_file(path, hw: tuple[int, int]) -> torch.Tensor:
    """A mask image (any mode; gray level / 255, alpha used when present) resized to ``hw`` → [1, 1, H, W]."""
    from PIL import Image

    from faceedit.align.image import load_image
    from faceedit.limits import regular_file

    regular_file(path, "mask image")
    try:
        with Image.open(path) as im:
            has_alpha = im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info)
            if has_alpha:
                a = np.asarray(im.convert("RGBA"))[..., 3].astype(np.float32) / 255.0
            else:
                a = None
    except Exception:  # noqa: BLE001 - load_image below gives the one-line reason
        a = None
    if a is None:
        a = load_image(path).astype(np.float32).mean(axis=2) / 255.0
    m = torch.from_numpy(np.ascontiguousarray(a))[None, None]
    if tuple(m.shape[-2:]) != tuple(hw):
        m = torch.nn.functional.interpolate(m, size=hw, mode="bilinear", align_corners=False)
    return m.clamp(0, 1)


def head_labels_mask(labels: np.ndarray) -> np.ndarray:
    """float32 mask of the head classes in a parser label map ``[S, S]`` (class ids)."""
    from faceedit.scorers.parser import CLASSES

    ids = [CLASSES.index(c) for c in HEAD_CLASSES]
    return np.isin(labels, ids).astype(np.float32)


def face_mask(img: np.ndarray, aligned: bool = False, parser=None, name: str = "the image") -> torch.Tensor:
    """Soft head mask [1, 1, H, W] of the largest face of ``img`` (H×W×3 uint8), from the face parser."""
    from scipy.ndimage import gaussian_filter

    from faceedit.scorers import load_parser
    from faceedit.stylize.images import to_tensor

    fp = parser or load_parser()
    h, w = img.shape[:2]
    if aligned:
        with torch.no_grad():
            lab = fp.labels(to_tensor(img))[0].numpy()
        m = gaussian_filter(head_labels_mask(lab), FEATHER * max(h, w) / 2)
        return torch.from_numpy(m.astype(np.float32))[None, None].clamp(0, 1)
    from faceedit.align import align_face

    af = align_face(img, size=256, name=name)
    with torch.no_grad():
        lab = fp.labels(to_tensor(af.image))[0].numpy()
    s = lab.shape[0]
    m = gaussian_filter(head_labels_mask(lab), FEATHER * s / 2)
    vals, valid = af.transform.unwarp(m)
    x0, y0, x1, y1 = af.transform.for_size(s).photo_box()
    out = np.zeros((h, w), np.float32)
    out[y0:y1, x0:x1] = vals * valid
    if out.max() <= 0:
        raise FaceEditError(f"the face parser found no face region in {name}")
    return torch.from_numpy(out)[None, None].clamp(0, 1)


def blend(stylised: torch.Tensor, content: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mask · stylised + (1 − mask) · content`` with the mask resized to the images' size."""
    if tuple(mask.shape[-2:]) != tuple(stylised.shape[-2:]):
        mask = torch.nn.functional.interpolate(mask, size=tuple(stylised.shape[-2:]), mode="bilinear",
                                               align_corners=False)
    mask = mask.clamp(0, 1).to(stylised.dtype)
    return mask * stylised + (1 - mask) * content
