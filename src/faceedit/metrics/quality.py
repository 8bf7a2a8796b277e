"""Pixel-level reconstruction quality: MSE, PSNR and SSIM per image.

Inputs are image batches ``[N, 3, H, W]`` in [-1, 1] (generator convention); they are mapped to [0, 1] first, so
MSE is in [0, 1]² units and PSNR is ``10·log10(1 / MSE)`` dB. SSIM (Wang et al. 2004): a Gaussian window
(11×11, σ 1.5) for the local means, variances and covariance, constants ``C1 = (0.01)²``, ``C2 = (0.03)²``
(data range 1), computed per channel on the valid area (no padding) and averaged.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from faceedit.errors import FaceEditError


def _unit(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape or a.ndim != 4:
        raise FaceEditError(f"quality metrics need two equal [N, C, H, W] batches, got {list(a.shape)} and "
                            f"{list(b.shape)}")
    return ((a.float() + 1) / 2).clamp(0, 1), ((b.float() + 1) / 2).clamp(0, 1)


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[N] mean squared error on [0, 1] pixels."""
    x, y = _unit(a, b)
    return (x - y).square().flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor, max_db: float = 100.0) -> torch.Tensor:
    """[N] peak signal-to-noise ratio in dB (data range 1), capped at ``max_db`` for identical images."""
    m = mse(a, b)
    return (10 * torch.log10(1.0 / m.clamp_min(10 ** (-max_db / 10)))).clamp(max=max_db)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 1-D Gaussian [size]."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma * sigma))
    return (g / g.sum()).float()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    k = g.to(x)
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03) -> torch.Tensor:
    """[N] structural similarity (1 = identical). Images smaller than the window use a window of their size."""
    x, y = _unit(a, b)
    win = min(window, x.shape[-1], x.shape[-2])
    if win < window:
        sigma = sigma * win / window
    g = gaussian_window(win, sigma)
    c1, c2 = k1 ** 2, k2 ** 2
    mx, my = _blur(x, g), _blur(y, g)
    sxx = _blur(x * x, g) - mx.square()
    syy = _blur(y * y, g) - my.square()
    sxy = _blur(x * y, g) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx.square() + my.square() + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


def all_metrics(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    """{'mse', 'psnr', 'ssim'} per image."""
    return {"mse": mse(a, b), "psnr": psnr(a, b), "ssim": ssim(a, b)}


__all__ = ["all_metrics", "gaussian_window", "mse", "psnr", "ssim"]
