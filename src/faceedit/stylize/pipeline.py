"""Stylise one image (uint8 ``H×W×3`` in, uint8 out) with either method, with colour preservation and masks.

    from faceedit.stylize import stylize_fast, stylize_image
    out = stylize_fast(img, "starry_night")                       # a shipped network; or a StyleModel / file
    out = stylize_image(img, style_img, method="gatys", size=512)  # optimisation (slow: minutes on a CPU)

The output has the working size: long side ``size`` (fast default: the image's own, at most 1024 px; gatys
default 512 px), aspect kept. ``region``: ``"face"`` or ``"background"`` (the face parser's head mask or its
complement); ``mask``: float [H, W] in [0, 1] or a [1, 1, H, W] tensor (1 = stylise).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from faceedit.errors import FaceEditError
from faceedit.stylize.color import keep_chroma
from faceedit.stylize.images import MAX_SIDE_FAST, check_rgb, resize, to_tensor, to_uint8, working_shape
from faceedit.stylize.johnson import StyleModel
from faceedit.stylize.masks import blend

#: Default long side (px) of the fast method when the image is larger.
FAST_DEFAULT_SIDE = 1024


@dataclass
class Where:
    """Where to stylise: ``mask`` (float [1, 1, H, W], 1 = stylise, any size: resized), or ``region`` 'face' /
    'background' (found with the face parser; ``aligned``: the image is already an FFHQ-aligned face)."""

    mask: torch.Tensor | None = None
    region: str | None = None
    aligned: bool = False
    parser: object = field(default=None, repr=False)

    def resolve(self, img: np.ndarray, name: str = "the image") -> torch.Tensor | None:
        """The mask for ``img`` at its own size, or None (stylise everything)."""
        if self.mask is not None and self.region is not None:
            raise FaceEditError("give a mask or a region (face / background), not both")
        if self.mask is not None:
            m = self.mask if torch.is_tensor(self.mask) else torch.as_tensor(np.asarray(self.mask, np.float32))
            while m.ndim < 4:
                m = m[None]
            return resize(m.float(), img.shape[:2]).clamp(0, 1)
        if self.region is None:
            return None
        if self.region not in ("face", "background"):
            raise FaceEditError(f"unknown region {self.region!r}: use face or background")
        from faceedit.stylize.masks import face_mask

        m = face_mask(img, aligned=self.aligned, parser=self.parser, name=name)
        return m if self.region == "face" else 1 - m


def memory_check(h: int, w: int, model: StyleModel) -> None:
    """Refuse a working size whose activations would not fit the project's memory cap."""
    from faceedit.limits import check_memory

    check_memory(h * w * model.net.cfg.channels[0] * 4 * 4, f"stylising a {w}x{h} image",
                 "use a smaller --size")


def run_network(model: StyleModel, x: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """The network on float [N, 3, H, W] in [-1, 1] (bfloat16 autocast when ``bf16``) → float32, same shape."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and x.device.type == "cpu"):
        return model.net(x).float()


def stylize_fast(img, style: str | os.PathLike | StyleModel, size: int | None = None, preserve_color: bool = False,
                 where: Where | None = None, bf16: bool = False, name: str = "the image") -> np.ndarray:
    """One image through a feed-forward style network. ``img``: uint8 H×W×3 RGB; ``style``: a shipped name, a
    style model file or a loaded :class:`StyleModel`; ``size``: working long side (px); returns uint8 H'×W'×3."""
    from faceedit.stylize.styles import load_style

    img = check_rgb(img, name)
    model = style if isinstance(style, StyleModel) else load_style(style)
    hw = working_shape(*img.shape[:2], size if size is not None else min(max(img.shape[:2]), FAST_DEFAULT_SIDE),
                       MAX_SIDE_FAST)
    memory_check(*hw, model)
    mask = where.resolve(img, name) if where is not None else None
    x = resize(to_tensor(img), hw)
    y = run_network(model, x, bf16)
    if preserve_color:
        y = keep_chroma(y, x)
    if mask is not None:
        y = blend(y, x, mask)
    return to_uint8(y)


def stylize_image(img, style_img=None, method: str = "fast", model: str | os.PathLike | StyleModel | None = None,
                  size: int | None = None, preserve_color: bool = False, where: Where | None = None, gatys=None,
                  vgg=None, progress: bool = False, name: str = "the image") -> np.ndarray:
    """Stylise ``img`` (uint8 H×W×3) by ``method``: 'fast' (``model``) or 'gatys' (``style_img``, uint8 H×W×3;
    ``gatys``: a :class:`~faceedit.stylize.gatys.GatysConfig`, its size replaced by ``size`` when given;
    ``vgg``: default the fetched Oxford VGG16)."""
    if method == "fast":
        if model is None:
            raise FaceEditError("the fast method needs a style network (a shipped name or a file)")
        return stylize_fast(img, model, size, preserve_color, where, name=name)
    if method != "gatys":
        raise FaceEditError(f"unknown method {method!r}: use gatys or fast")
    from dataclasses import replace

    from faceedit.stylize.gatys import GatysConfig, stylize_gatys

    img = check_rgb(img, name)
    if style_img is None:
        raise FaceEditError("the gatys method needs a style image")
    style_img = check_rgb(style_img, "the style image")
    cfg = gatys or GatysConfig()
    if size is not None:
        cfg = replace(cfg, size=int(size))
    if cfg.size > max(img.shape[:2]) * 8:
        raise FaceEditError(f"--size {cfg.size} is more than 8× the image's long side ({max(img.shape[:2])} px)")
    cfg.preserve_color = bool(preserve_color) or cfg.preserve_color
    if vgg is None:
        from faceedit.features import load_vgg

        vgg = load_vgg()
    mask = where.resolve(img, name) if where is not None else None
    result = stylize_gatys(to_tensor(img), to_tensor(style_img), vgg, cfg, mask=mask, progress=progress)
    return to_uint8(result.image)
