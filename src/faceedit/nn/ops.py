"""Low-level StyleGAN2 operations in pure PyTorch (no compiled extension).

Shapes are NCHW. Filters are 1-D taps applied separably along both axes (StyleGAN2 only uses the separable
[1, 3, 3, 1] filter); the 2-D filter is their outer product, normalised to sum 1, as in NVIDIA's ``setup_filter``.

Semantics follow NVIDIA's ``upfirdn2d`` exactly: upsample by inserting ``up - 1`` zeros after each sample, pad
(negative padding crops), convolve with the filter (a true convolution: the filter is flipped), then keep every
``down``-th sample. Instead of one 2-D depthwise convolution we run two short 1-D passes built from strided slices,
computing only the samples that are kept.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

FIR_TAPS = (1.0, 3.0, 3.0, 1.0)


def normalized_taps(taps: Sequence[float] = FIR_TAPS) -> tuple[float, ...]:
    """1-D taps normalised so that the separable 2-D filter sums to 1."""
    s = float(sum(taps))
    return tuple(float(t) / s for t in taps)


def _fir_axis(x: torch.Tensor, dim: int, taps: Sequence[float], up: int, down: int, pad0: int, pad1: int,
              gain: float) -> torch.Tensor:
    """Upsample / pad / convolve / downsample along one spatial axis (``dim`` is 2 or 3)."""
    if up > 1:
        shape = list(x.shape)
        x = x.unsqueeze(dim + 1)
        pad = [0, 0] * (x.ndim - dim - 2) + [0, up - 1]
        x = F.pad(x, pad)
        shape[dim] *= up
        x = x.reshape(shape)
    if pad0 != 0 or pad1 != 0:
        pad = [0, 0] * (x.ndim - dim - 1) + [pad0, pad1]
        x = F.pad(x, pad) if min(pad0, pad1) >= 0 else _pad_or_crop(x, dim, pad0, pad1)
    k = len(taps)
    n_out = (x.shape[dim] - k) // down + 1
    if n_out <= 0:
        raise ValueError(f"upfirdn2d: input too small along dim {dim}")
    out = None
    for i, t in enumerate(reversed(taps)):  # true convolution: flip the filter
        if t == 0:
            continue
        sl = x.narrow(dim, i, (n_out - 1) * down + 1)
        if down > 1:
            index = [slice(None)] * x.ndim
            index[dim] = slice(None, None, down)
            sl = sl[tuple(index)]
        term = sl * (t * gain)
        out = term if out is None else out.add_(term)
    return out


def _pad_or_crop(x: torch.Tensor, dim: int, pad0: int, pad1: int) -> torch.Tensor:
    if pad0 < 0:
        x = x.narrow(dim, -pad0, x.shape[dim] + pad0)
        pad0 = 0
    if pad1 < 0:
        x = x.narrow(dim, 0, x.shape[dim] + pad1)
        pad1 = 0
    if pad0 or pad1:
        x = F.pad(x, [0, 0] * (x.ndim - dim - 1) + [pad0, pad1])
    return x


def upfirdn2d(x: torch.Tensor, taps: Sequence[float] = FIR_TAPS, up: int = 1, down: int = 1,
              padding: Sequence[int] = (0, 0, 0, 0), gain: float = 1.0, normalize: bool = True) -> torch.Tensor:
    """NVIDIA-compatible upfirdn2d with a separable filter.

    Args:
        x: [N, C, H, W].
        taps: 1-D filter taps (normalised to sum 1 when ``normalize``).
        up, down: integer up/down-sampling factors (same for both axes).
        padding: (x0, x1, y0, y1), applied after upsampling; negative values crop.
        gain: overall gain of the 2-D filter (split evenly between the two passes).
    """
    if normalize:
        taps = normalized_taps(taps)
    px0, px1, py0, py1 = padding
    g = math.sqrt(gain)
    x = _fir_axis(x, 3, taps, up, down, px0, px1, g)
    x = _fir_axis(x, 2, taps, up, down, py0, py1, g)
    return x


def upsample2d(x: torch.Tensor, taps: Sequence[float] = FIR_TAPS, factor: int = 2) -> torch.Tensor:
    """Upsample by ``factor`` with the FIR filter (NVIDIA's ``upsample2d``)."""
    k = len(taps)
    p0 = (k + factor - 1) // 2
    p1 = (k - factor) // 2
    return upfirdn2d(x, taps, up=factor, padding=(p0, p1, p0, p1), gain=factor * factor)


def downsample2d(x: torch.Tensor, taps: Sequence[float] = FIR_TAPS, factor: int = 2) -> torch.Tensor:
    """Downsample by ``factor`` with the FIR filter (NVIDIA's ``downsample2d``)."""
    k = len(taps)
    p0 = (k - factor + 1) // 2
    p1 = (k - factor) // 2
    return upfirdn2d(x, taps, down=factor, padding=(p0, p1, p0, p1))


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None, dim: int = 1) -> torch.Tensor:
    """Bias, then activation ('linear' or 'lrelu' with slope 0.2), then gain, then clamp to [-clamp, clamp].

    ``gain`` defaults to the activation's own gain (1 for linear, sqrt(2) for lrelu), as in NVIDIA's ``bias_act``.
    """
    if gain is None:
        gain = math.sqrt(2.0) if act == "lrelu" else 1.0
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.reshape(shape)
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}")
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def _conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: int = 0, groups: int = 1,
          transpose: bool = False) -> torch.Tensor:
    """Convolution (cross-correlation, as torch does) or its transpose; ``w`` is [out, in/groups, kh, kw]."""
    if not transpose:
        return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)
    # conv_transpose2d wants [in, out/groups, kh, kw]
    if groups == 1:
        wt = w.transpose(0, 1)
    else:
        o, i, kh, kw = w.shape
        wt = w.reshape(groups, o // groups, i, kh, kw).transpose(1, 2).reshape(groups * i, o // groups, kh, kw)
    return F.conv_transpose2d(x, wt, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, taps: Sequence[float] = FIR_TAPS, up: int = 1, down: int = 1,
                    padding: int = 0, groups: int = 1) -> torch.Tensor:
    """2-D convolution with optional FIR up- or down-sampling (NVIDIA's ``conv2d_resample``).

    ``w`` is [out, in/groups, kh, kw] and is applied as a cross-correlation, and for ``up > 1`` as the weight of a
    transposed convolution, unflipped: what NVIDIA's layers compute (their ``flip_weight`` flags cancel out).
    Only ``up`` or ``down`` may exceed 1.
    """
    assert not (up > 1 and down > 1)
    kh, kw = w.shape[2], w.shape[3]
    k = len(taps)
    px0 = px1 = py0 = py1 = padding
    if up > 1:
        px0 += (k + up - 1) // 2
        px1 += (k - up) // 2
        py0, py1 = px0, px1
    if down > 1:
        px0 += (k - down + 1) // 2
        px1 += (k - down) // 2
        py0, py1 = px0, px1

    if kw == 1 and kh == 1 and down > 1:  # 1x1 conv: downsample first (cheaper), then convolve
        x = upfirdn2d(x, taps, down=down, padding=(px0, px1, py0, py1))
        return _conv(x, w, groups=groups)
    if down > 1:  # FIR, then strided convolution
        x = upfirdn2d(x, taps, padding=(px0, px1, py0, py1))
        return _conv(x, w, stride=down, groups=groups)
    if up > 1:  # transposed strided convolution, then FIR
        px0 -= kw - 1
        px1 -= kw - up
        pxt = max(min(-px0, -px1), 0)
        x = _conv(x, w, stride=up, padding=pxt, groups=groups, transpose=True)
        p0, p1 = px0 + pxt, px1 + pxt
        return upfirdn2d(x, taps, padding=(p0, p1, p0, p1), gain=up * up)
    if px0 == px1:
        return _conv(x, w, padding=px0, groups=groups)
    x = upfirdn2d(x, (1.0,), padding=(px0, px1, py0, py1), normalize=False)
    return _conv(x, w, groups=groups)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, padding: int = 0, demodulate: bool = True,
                     taps: Sequence[float] = FIR_TAPS, fused: bool = False) -> torch.Tensor:
    """StyleGAN2 modulated convolution.

    Args:
        x: [N, I, H, W] input features.
        weight: [O, I, kh, kw] (already scaled by the equalised-lr gain if any).
        styles: [N, I] per-sample input-channel scales.
        noise: optional tensor broadcastable to the output, added after (de)modulation.
        fused: use one grouped convolution with per-sample weights (good for batch 1 on GPU); otherwise scale the
            input, run one shared convolution for the whole batch and scale the output (fast on CPU and in
            training). Both compute the same function.
    Returns:
        [N, O, H*up, W*up].
    """
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:  # pre-normalise to avoid fp16 overflow
        weight = weight * (1 / math.sqrt(i * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    dcoefs = None
    if demodulate:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, kh, kw]
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), taps, up=up, padding=padding)
        if dcoefs is not None and noise is not None:
            x = torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(n, -1, 1, 1))
        elif dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        elif noise is not None:
            x = x + noise.to(x.dtype)
        return x
    if dcoefs is None:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    else:
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, i, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), taps, up=up, padding=padding, groups=n)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm: x / sqrt(mean(x^2) + eps) along ``dim``."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
