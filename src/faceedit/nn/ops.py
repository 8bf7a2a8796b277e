"""Low-level StyleGAN2 operations in pure PyTorch (no compiled extension).

Shapes are NCHW (any memory format: channels-last tensors stay channels-last). Filters are 1-D taps whose outer
product, normalised to sum 1, is the 2-D filter, as in NVIDIA's ``setup_filter`` (StyleGAN2 only uses [1, 3, 3, 1]).

Semantics follow NVIDIA's ``upfirdn2d`` exactly: upsample by inserting ``up - 1`` zeros after each sample, pad
(negative padding crops), convolve with the filter (a true convolution: the filter is flipped), then keep every
``down``-th sample. Implementation: one depthwise convolution with the 2-D filter -- ``conv2d`` with
``stride=down`` (only the kept samples are computed), or for ``up > 1`` a depthwise ``conv_transpose2d`` with
``stride=up``, which is zero insertion and convolution in one op. oneDNN (CPU) and cuDNN run these fast, above all
in channels-last and reduced precision.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

FIR_TAPS = (1.0, 3.0, 3.0, 1.0)
_KERNELS: dict[tuple, torch.Tensor] = {}


def normalized_taps(taps: Sequence[float] = FIR_TAPS) -> tuple[float, ...]:
    """1-D taps normalised so that the separable 2-D filter sums to 1."""
    s = float(sum(taps))
    return tuple(float(t) / s for t in taps)


def fir_kernel(taps: Sequence[float], gain: float, normalize: bool, channels: int, dtype: torch.dtype,
               device: torch.device, flip: bool = True) -> torch.Tensor:
    """Depthwise weight [channels, 1, k, k]: the 2-D filter times ``gain`` (flipped for ``conv2d``). Cached."""
    key = (tuple(float(t) for t in taps), float(gain), normalize, channels, dtype, device, flip)
    k = _KERNELS.get(key)
    if k is None:
        t = torch.tensor([float(v) for v in taps], dtype=torch.float64)
        f = torch.outer(t, t)
        if normalize:
            f = f / f.sum()
        f = f * gain
        if flip:
            f = f.flip([0, 1])
        k = f.to(dtype=dtype, device=device).expand(channels, 1, *f.shape).contiguous()
        if len(_KERNELS) > 512:
            _KERNELS.clear()
        _KERNELS[key] = k
    return k


def _pad_or_crop(x: torch.Tensor, px0: int, px1: int, py0: int, py1: int) -> torch.Tensor:
    """Pad with zeros (positive) or crop (negative) each side of the two spatial axes."""
    if min(px0, px1, py0, py1) < 0:
        h, w = x.shape[2], x.shape[3]
        x = x[:, :, max(-py0, 0):h - max(-py1, 0), max(-px0, 0):w - max(-px1, 0)]
        px0, px1, py0, py1 = max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)
    if px0 or px1 or py0 or py1:
        x = F.pad(x, [px0, px1, py0, py1])
    return x


def _conv_dtype(x: torch.Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def upfirdn2d(x: torch.Tensor, taps: Sequence[float] = FIR_TAPS, up: int = 1, down: int = 1,
              padding: Sequence[int] = (0, 0, 0, 0), gain: float = 1.0, normalize: bool = True) -> torch.Tensor:
    """NVIDIA-compatible upfirdn2d with a separable filter.

    Args:
        x: [N, C, H, W].
        taps: 1-D filter taps (normalised so the 2-D filter sums to 1 when ``normalize``).
        up, down: integer up/down-sampling factors (same for both axes).
        padding: (x0, x1, y0, y1), applied after upsampling; negative values crop.
        gain: overall gain of the 2-D filter.
    Returns:
        [N, C, (H*up + y0 + y1 - k) // down + 1, (W*up + x0 + x1 - k) // down + 1].
    """
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d expects [N, C, H, W], got {list(x.shape)}")
    c = x.shape[1]
    k = len(taps)
    px0, px1, py0, py1 = (int(p) for p in padding)
    dtype = _conv_dtype(x)
    if up > 1:
        # conv_transpose2d(stride=up) = zero insertion to (H-1)*up+1 samples, padding k-1 on each side, true
        # convolution. We want H*up samples (up-1 trailing zeros) padded by (p0, p1): adjust by pad/crop after.
        a0, a1 = px0 - (k - 1), px1 + up - 1 - (k - 1)
        b0, b1 = py0 - (k - 1), py1 + up - 1 - (k - 1)
        f = fir_kernel(taps, gain, normalize, c, dtype, x.device, flip=False)
        if a0 == a1 == b0 == b1 and a0 <= 0:
            x = F.conv_transpose2d(x, f, stride=up, padding=-a0, groups=c)
        else:
            x = _pad_or_crop(F.conv_transpose2d(x, f, stride=up, groups=c), a0, a1, b0, b1)
        return x[:, :, ::down, ::down] if down > 1 else x
    f = fir_kernel(taps, gain, normalize, c, dtype, x.device)
    if px0 == px1 == py0 == py1 and px0 >= 0:
        return F.conv2d(x, f, stride=down, padding=px0, groups=c)
    return F.conv2d(_pad_or_crop(x, px0, px1, py0, py1), f, stride=down, groups=c)


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


def _can_overwrite(x: torch.Tensor) -> bool:
    """True when ``x`` (a fresh intermediate) may be modified in place: autograd does not track it."""
    return not (x.requires_grad and torch.is_grad_enabled())


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None, dim: int = 1, inplace: bool = False) -> torch.Tensor:
    """Bias, then activation ('linear' or 'lrelu' with slope 0.2), then gain, then clamp to [-clamp, clamp].

    ``gain`` defaults to the activation's own gain (1 for linear, sqrt(2) for lrelu), as in NVIDIA's ``bias_act``.
    ``inplace``: ``x`` is a temporary the caller does not need; it is overwritten when autograd allows.
    """
    if gain is None:
        gain = math.sqrt(2.0) if act == "lrelu" else 1.0
    if act not in ("linear", "lrelu"):
        raise ValueError(f"unknown activation {act!r}")
    shape = [1] * x.ndim
    shape[dim] = -1
    if inplace and _can_overwrite(x):
        if b is not None:
            x.add_(b.to(x.dtype).reshape(shape))
        if act == "lrelu":
            F.leaky_relu_(x, 0.2)
        if gain != 1:
            x.mul_(gain)
        if clamp is not None and clamp >= 0:
            x.clamp_(-clamp, clamp)
        return x
    if b is not None:
        x = x + b.to(x.dtype).reshape(shape)
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def _conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: int = 0, groups: int = 1,
          transpose: bool = False, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Convolution (cross-correlation, as torch does) or its transpose; ``w`` is [out, in/groups, kh, kw]."""
    if not transpose:
        return F.conv2d(x, w, bias, stride=stride, padding=padding, groups=groups)
    # conv_transpose2d wants [in, out/groups, kh, kw]
    if groups == 1:
        wt = w.transpose(0, 1)
    else:
        o, i, kh, kw = w.shape
        wt = w.reshape(groups, o // groups, i, kh, kw).transpose(1, 2).reshape(groups * i, o // groups, kh, kw)
    return F.conv_transpose2d(x, wt, bias, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, taps: Sequence[float] = FIR_TAPS, up: int = 1, down: int = 1,
                    padding: int = 0, groups: int = 1, bias: torch.Tensor | None = None) -> torch.Tensor:
    """2-D convolution with optional FIR up- or down-sampling (NVIDIA's ``conv2d_resample``).

    ``w`` is [out, in/groups, kh, kw] and is applied as a cross-correlation, and for ``up > 1`` as the weight of a
    transposed convolution, unflipped: what NVIDIA's layers compute (their ``flip_weight`` flags cancel out).
    Only ``up`` or ``down`` may exceed 1. ``bias`` ([out], optional) is added to the result (inside the
    convolution where the order allows).
    """
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample: only one of up and down may exceed 1")
    kh, kw = w.shape[2], w.shape[3]
    k = len(taps)
    px0 = px1 = padding
    if up > 1:
        px0 += (k + up - 1) // 2
        px1 += (k - up) // 2
    if down > 1:
        px0 += (k - down + 1) // 2
        px1 += (k - down) // 2

    if kw == 1 and kh == 1 and down > 1:  # 1x1 conv: downsample first (cheaper), then convolve
        x = upfirdn2d(x, taps, down=down, padding=(px0, px1, px0, px1))
        return _conv(x, w, groups=groups, bias=bias)
    if down > 1:  # FIR, then strided convolution
        x = upfirdn2d(x, taps, padding=(px0, px1, px0, px1))
        return _conv(x, w, stride=down, groups=groups, bias=bias)
    if up > 1:  # transposed strided convolution, then FIR
        px0 -= kw - 1
        px1 -= kw - up
        pxt = max(min(-px0, -px1), 0)
        x = _conv(x, w, stride=up, padding=pxt, groups=groups, transpose=True)
        p0, p1 = px0 + pxt, px1 + pxt
        x = upfirdn2d(x, taps, padding=(p0, p1, p0, p1), gain=up * up)
        if bias is not None:
            x = x + bias.to(x.dtype).reshape(1, -1, 1, 1)
        return x
    if px0 == px1:
        return _conv(x, w, padding=px0, groups=groups, bias=bias)
    x = _pad_or_crop(x, px0, px1, px0, px1)
    return _conv(x, w, groups=groups, bias=bias)


def demodulation_coefficients(weight: torch.Tensor, styles: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """[N, O] = 1 / sqrt(sum_{i,k} (weight[o,i,k] * styles[n,i])^2 + eps), as ``styles^2 @ sum_k weight^2``.

    The same value NVIDIA computes from the [N, O, I, kh, kw] per-sample weights, without building them.
    """
    dt = torch.promote_types(torch.promote_types(weight.dtype, styles.dtype), torch.float32)
    wsq = weight.to(dt).square().sum(dim=[-2, -1])  # [O, I], or [N, O, I] for per-sample weights
    if wsq.ndim == 3:
        return (torch.bmm(wsq, styles.to(dt).square().unsqueeze(2)).squeeze(2) + eps).rsqrt()
    return (styles.to(dt).square() @ wsq.t() + eps).rsqrt()


def _fp16_prenormalize(weight: torch.Tensor, styles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """NVIDIA's overflow guard for fp16 activations: scale weight and styles to unit max (demod undoes it)."""
    i, kh, kw = weight.shape[-3:]
    weight = weight * (1 / math.sqrt(i * kh * kw) / weight.norm(float("inf"), dim=[-3, -2, -1], keepdim=True))
    styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    return weight, styles


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, padding: int = 0, demodulate: bool = True,
                     taps: Sequence[float] = FIR_TAPS, fused: bool = False) -> torch.Tensor:
    """StyleGAN2 modulated convolution.

    Args:
        x: [N, I, H, W] input features.
        weight: [O, I, kh, kw] (already scaled by the equalised-lr gain if any).
        styles: [N, I] per-sample input-channel scales.
        noise: optional tensor broadcastable to the output, added after (de)modulation.
        fused: fold the styles (and demodulation) into per-sample weights and run one grouped convolution
            (best at batch 1); otherwise scale the input, run one shared convolution for the whole batch and
            scale the output. Both compute the same function.
    Returns:
        [N, O, H*up, W*up].
    """
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        weight, styles = _fp16_prenormalize(weight, styles)
    dcoefs = demodulation_coefficients(weight, styles) if demodulate else None  # [N, O]
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
    w = _per_sample_weights(weight, styles, dcoefs)  # [N*O, I, kh, kw]
    x = _grouped_conv(x, w.to(x.dtype), n, taps, up, padding)
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def _per_sample_weights(weight: torch.Tensor, styles: torch.Tensor, dcoefs: torch.Tensor | None,
                        gain: float = 1.0) -> torch.Tensor:
    n = styles.shape[0]
    o, i, kh, kw = weight.shape[-4:]
    w = (weight if weight.ndim == 5 else weight.unsqueeze(0)) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, kh, kw]
    if dcoefs is not None:
        w = w * (dcoefs * gain).reshape(n, -1, 1, 1, 1) if gain != 1 else w * dcoefs.reshape(n, -1, 1, 1, 1)
    elif gain != 1:
        w = w * gain
    return w.reshape(n * o, i, kh, kw)


def _grouped_conv(x: torch.Tensor, w: torch.Tensor, n: int, taps, up: int, padding: int,
                  bias: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample weights [N*O, I, kh, kw] applied to x [N, I, H, W] (a plain convolution when N == 1); ``bias``
    [O], or [N, O] per sample."""
    if bias is not None:
        bias = bias.reshape(-1) if bias.ndim == 2 else bias.repeat(n)
    if n == 1:
        return conv2d_resample(x, w, taps, up=up, padding=padding, bias=bias)
    x = x.reshape(1, -1, *x.shape[2:])  # a copy when x is channels-last
    x = conv2d_resample(x, w, taps, up=up, padding=padding, groups=n, bias=bias)
    return x.reshape(n, -1, *x.shape[2:])


def modulated_conv2d_act(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                         noise: torch.Tensor | None, bias: torch.Tensor, up: int = 1, padding: int = 1,
                         gain: float = math.sqrt(2.0), clamp: float | None = None,
                         fused: bool | None = None, taps: Sequence[float] = FIR_TAPS) -> torch.Tensor:
    """One StyleGAN2 synthesis layer after the affine: demodulated conv, + noise, + bias, lrelu × gain, clamp.

    Equals ``bias_act(modulated_conv2d(x, weight, styles, noise, ...), bias, 'lrelu', gain, clamp)`` with fewer
    passes over memory: the activation gain is folded into the demodulation coefficients (lrelu is positively
    homogeneous), the bias goes into the convolution where it can, and temporaries are overwritten in place
    when autograd does not need them. ``fused=None`` picks per-sample weights at batch 1. ``weight`` may be
    [N, O, I, kh, kw] and ``bias`` [N, O]: parameters of their own per sample (then always fused).
    """
    n = x.shape[0]
    if fused is None or weight.ndim == 5:
        fused = n == 1 or weight.ndim == 5
    if x.dtype == torch.float16:
        weight, styles = _fp16_prenormalize(weight, styles)
    dcoefs = demodulation_coefficients(weight, styles)  # [N, O] fp32
    dt = x.dtype
    if fused:
        w = _per_sample_weights(weight, styles, dcoefs, gain).to(_conv_dtype(x))
        y = _grouped_conv(x, w, n, taps, up, padding, bias=(bias * gain).to(w.dtype))
        dt = y.dtype
        inplace = _can_overwrite(y)
        if noise is not None:
            noise = (noise * gain).to(dt)
            y = y.add_(noise) if inplace else y + noise
    else:
        x = x * styles.to(dt).reshape(n, -1, 1, 1)
        y = conv2d_resample(x, weight.to(dt), taps, up=up, padding=padding)
        dt = y.dtype
        inplace = _can_overwrite(y)
        nb = (bias * gain).reshape(1, -1, 1, 1)
        if noise is not None:
            nb = nb + noise * gain
        nb, d = nb.to(dt), (dcoefs * gain).to(dt).reshape(n, -1, 1, 1)
        if inplace and not torch.compiler.is_compiling():  # dynamo cannot trace out= on channels-last tensors
            y = torch.addcmul(nb, y, d, out=y)
        else:
            y = torch.addcmul(nb, y, d)
        inplace = inplace or _can_overwrite(y)
    if inplace:
        F.leaky_relu_(y, 0.2)
        if clamp is not None and clamp >= 0:
            y.clamp_(-clamp, clamp)
        return y
    y = F.leaky_relu(y, 0.2)
    if clamp is not None and clamp >= 0:
        y = y.clamp(-clamp, clamp)
    return y


def modulated_torgb(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, bias: torch.Tensor,
                    clamp: float | None = None) -> torch.Tensor:
    """ToRGB: modulated 1x1 convolution without demodulation, + bias, clamp; as one batched matmul.

    ``styles`` [N, I] must already include the layer's weight gain. Returns [N, O, H, W] in ``x``'s memory format.
    """
    n, i, h, w_ = x.shape
    o = weight.shape[-4]  # [O, I, 1, 1], or [N, O, I, 1, 1] per sample (bias then [N, O])
    dt = _conv_dtype(x)
    wn = (weight.reshape(-1, o, i) * styles.reshape(n, 1, i)).to(dt)  # [N, O, I]
    xx = x.to(dt)
    b = bias.to(dt).reshape(-1, o)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        xv = xx.permute(0, 2, 3, 1).reshape(n, h * w_, i)  # a view for channels-last
        y = torch.baddbmm(b.unsqueeze(1), xv, wn.transpose(1, 2))  # [N, HW, O]
        y = y.reshape(n, h, w_, o).permute(0, 3, 1, 2)
    else:
        y = torch.baddbmm(b.unsqueeze(2), wn, xx.reshape(n, i, h * w_)).reshape(n, o, h, w_)
    if clamp is not None and clamp >= 0:
        y = y.clamp_(-clamp, clamp) if _can_overwrite(y) else y.clamp(-clamp, clamp)
    return y


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm: x / sqrt(mean(x^2) + eps) along ``dim``."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
