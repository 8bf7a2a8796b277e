"""Colour preservation for style transfer (Gatys et al. 2017, "luminance-only transfer").

The style is transferred to the luminance (Y of YIQ) only; the result keeps the content's chroma (I, Q). For the
optimisation the content and the style are both turned into luminance images (the style's luminance matched to
the content's mean and standard deviation first); for a feed-forward network the network's output luminance is
combined with the content's chroma. Images: RGB in [-1, 1], ``[N, 3, H, W]``.
"""

from __future__ import annotations

import torch

# NTSC YIQ (rows: Y, I, Q) for RGB in [0, 1]; the same matrix works on [-1, 1] up to the offset of Y.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114],
                         [0.595716, -0.274453, -0.321263],
                         [0.211456, -0.522591, 0.311135]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """``[N, 3, H, W]`` RGB → YIQ (same value range convention)."""
    return torch.einsum("ij,njhw->nihw", _RGB2YIQ.to(x), x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _YIQ2RGB.to(x), x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """The luminance of ``x`` as a gray RGB image ``[N, 3, H, W]``."""
    return rgb_to_yiq(x)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """``style``'s luminance image with its mean and standard deviation matched to ``content``'s luminance."""
    ys, yc = rgb_to_yiq(style)[:, :1], rgb_to_yiq(content)[:, :1]
    ys = (ys - ys.mean()) / (ys.std() + 1e-6) * yc.std() + yc.mean()
    return ys.clamp(-1, 1).expand(-1, 3, -1, -1).contiguous()


def keep_chroma(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The luminance of ``stylised`` with the chroma (I, Q) of ``content`` (same size), clipped to [-1, 1]."""
    y = rgb_to_yiq(stylised)[:, :1]
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(-1, 1)
