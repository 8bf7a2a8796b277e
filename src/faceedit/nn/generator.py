"""StyleGAN2 generator (NVIDIA's config-f and any smaller size): mapping z → w, synthesis w+ / s → image.

Latent spaces:
    z  [N, z_dim]                  Gaussian input.
    w  [N, w_dim]                  output of the mapping MLP.
    w+ [N, num_ws, w_dim]          one w per style input (18 at 1024 px, 14 at 256, 12 at 128).
    s  list of [N, C_i]            StyleSpace: the affine output of every modulated layer, ToRGB included, in
                                   StyleSpace's order (4×4: conv, torgb; then per resolution conv_up, conv, torgb).

Parameter names and shapes are NVIDIA stylegan2-ada-pytorch's, so its state dicts load directly
(minus the ``resample_filter`` buffers, which are constants here).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from faceedit.nn.config import GeneratorConfig
from faceedit.nn.layers import FullyConnectedLayer
from faceedit.nn.ops import (FIR_TAPS, modulated_conv2d, modulated_conv2d_act, modulated_torgb,  # noqa: F401
                             normalize_2nd_moment, upsample2d)

NOISE_MODES = ("random", "const", "none")
FeatureHook = Callable[[str, torch.Tensor], torch.Tensor]


class MappingNetwork(nn.Module):
    """z → w: pixel norm, then ``num_layers`` fully connected lrelu layers with a 0.01 learning-rate multiplier."""

    def __init__(self, z_dim: int, w_dim: int, num_ws: int, num_layers: int = 8, lr_multiplier: float = 0.01,
                 w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, w_dim, num_ws, num_layers
        self.w_avg_beta = w_avg_beta
        features = [z_dim] + [w_dim] * num_layers
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu",
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                update_emas: bool = False) -> torch.Tensor:
        """Returns w+ of shape [N, num_ws, w_dim], truncated towards ``w_avg`` when ``truncation_psi != 1``."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        x = normalize_2nd_moment(z.to(torch.float32))
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        return self.truncate(x, truncation_psi, truncation_cutoff)

    def truncate(self, ws: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """Move w+ towards ``w_avg`` by ``psi`` (1 = unchanged), on the first ``cutoff`` layers (all if None)."""
        if psi == 1:
            return ws
        if cutoff is None:
            return self.w_avg.lerp(ws, psi)
        ws = ws.clone()
        ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], psi)
        return ws


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution (optionally upsampling ×2), noise with learned strength, bias, lrelu, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: int = 1,
                 conv_clamp: float | None = None, kernel_size: int = 3):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = math.sqrt(2.0)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise_mode: str = "random", fused: bool | None = None,
                gain: float = 1.0, noise_map: torch.Tensor | None = None) -> torch.Tensor:
        """``fused``: per-sample weights (None: at batch 1); the result is the same either way.
        ``noise_map``: [N, 1, r, r] or [r, r] used instead of the ``noise_mode`` noise (scaled by the strength)."""
        noise = None
        strength = self.noise_strength
        if strength.ndim:  # per-sample parameters (see faceedit.invert.pivotal)
            strength = strength.reshape(-1, 1, 1, 1)
        if noise_map is not None:
            noise = noise_map * strength
        elif noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device,
                                dtype=torch.float32) * strength
        elif noise_mode == "const":
            noise = self.noise_const * strength
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return modulated_conv2d_act(x, self.weight, style, noise, self.bias, up=self.up, padding=self.padding,
                                    gain=self.act_gain * gain, clamp=clamp, fused=fused, taps=FIR_TAPS)


class ToRGBLayer(nn.Module):
    """Modulated 1×1 convolution without demodulation, then bias and clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.conv_clamp = in_channels, out_channels, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, fused: bool | None = None) -> torch.Tensor:
        # one batched matmul with per-sample [O, I] weights (the same function fused or not)
        return modulated_torgb(x, self.weight, style * self.weight_gain, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: [const | conv0 (up)], conv1, torgb added to the upsampled image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 use_fp16: bool = False, conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.use_fp16 = use_fp16
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def style_layer_names(self) -> list[str]:
        """Names of this block's modulated layers, in StyleSpace order."""
        return (["conv0"] if self.in_channels else []) + ["conv1", "torgb"]

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, styles: list[torch.Tensor],
                noise_mode: str = "random", fused: bool | None = None, feature_hook: FeatureHook | None = None,
                prefix: str = "", dtype: torch.dtype | None = None, channels_last: bool = False,
                noise: dict[str, torch.Tensor] | None = None):
        if dtype is None:
            dtype = torch.float16 if (self.use_fp16 and styles[0].is_cuda) else torch.float32
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        it = iter(styles)
        if self.in_channels == 0 and self.const.ndim == 4:  # per-sample parameters
            x = self.const.to(dtype).contiguous(memory_format=fmt)
        elif self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([styles[0].shape[0], 1, 1, 1])
            x = x.contiguous(memory_format=fmt)
        else:
            x = x.to(dtype=dtype, memory_format=fmt)
            x = self.conv0(x, next(it), noise_mode=noise_mode, fused=fused,
                           noise_map=noise.get(f"{prefix}conv0") if noise else None)
            if feature_hook is not None:
                x = feature_hook(f"{prefix}conv0", x)
        x = self.conv1(x, next(it), noise_mode=noise_mode, fused=fused,
                       noise_map=noise.get(f"{prefix}conv1") if noise else None)
        if feature_hook is not None:
            x = feature_hook(f"{prefix}conv1", x)
        if img is not None:
            img = upsample2d(img, FIR_TAPS)
        y = self.torgb(x, next(it), fused=fused).to(torch.float32)
        img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """w+ (or s) → image [N, img_channels, R, R]."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, conv_clamp: float | None = 256):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        #: the compute dtype of every block when a call gives none (e.g. bfloat16, set by faceedit.device)
        self.compute_dtype: torch.dtype | None = None
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = min(channel_base // (res // 2), channel_max) if res > 4 else 0
            out_ch = min(channel_base // res, channel_max)
            block = SynthesisBlock(in_ch, out_ch, w_dim, res, img_channels, use_fp16=res >= fp16_resolution,
                                   conv_clamp=conv_clamp)
            self.num_ws += block.num_conv
            if res == img_resolution:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def style_layers(self) -> list[tuple[str, int]]:
        """(name, channels) of every modulated layer in StyleSpace order, e.g. ('b4.conv1', 512)."""
        out = []
        for block in self.blocks():
            for name in block.style_layer_names():
                out.append((f"b{block.resolution}.{name}", getattr(block, name).in_channels))
        return out

    def check_ws(self, ws: torch.Tensor) -> None:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"w+ must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")

    def w_to_styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """w+ [N, num_ws, w_dim] → StyleSpace list of [N, C_i] (each ToRGB shares the next conv's w)."""
        self.check_ws(ws)
        ws = ws.to(torch.float32)
        styles, w_idx = [], 0
        for block in self.blocks():
            for j, name in enumerate(block.style_layer_names()):
                styles.append(getattr(block, name).affine(ws[:, w_idx + j]))
            w_idx += block.num_conv
        return styles

    def forward(self, ws: torch.Tensor | None = None, noise_mode: str = "random", styles: list | None = None,
                fused: bool | None = None, feature_hook: FeatureHook | None = None,
                dtype: torch.dtype | None = None, channels_last: bool | None = None,
                noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Synthesise from w+ or, when ``styles`` is given, directly from StyleSpace. Returns float32 images.

        ``noise``: per-layer noise maps by name (``{'b8.conv0': [N, 1, 8, 8], ...}``, e.g. an inversion's optimised
        maps) used instead of ``noise_mode``'s for the layers it names (still scaled by each layer's strength).

        ``feature_hook(name, x) -> x`` may replace each conv layer's output (names like 'b32.conv1'), for local edits.
        Speed options (the function stays the same up to rounding):
        ``fused``: per-sample modulated weights (None: at batch 1, else scale the activations).
        ``dtype``: compute dtype of every block, e.g. ``torch.bfloat16`` (CPU with AVX-512 BF16, GPU) or
        ``torch.float16`` (GPU); None = :attr:`compute_dtype` when set, else float32 except the ``num_fp16_res``
        top blocks on CUDA in float16.
        ``channels_last``: NHWC activations (None: on CPU when autograd is off -- inference; on GPU for 16-bit
        compute).
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        dtype = self.compute_dtype if dtype is None else dtype
        if styles is None:
            if ws is None:
                raise ValueError("give ws or styles")
            styles = self.w_to_styles(ws)
        layers = self.style_layers()
        if len(styles) != len(layers):
            raise ValueError(f"expected {len(layers)} style vectors, got {len(styles)}")
        for s, (name, ch) in zip(styles, layers):
            if s.ndim != 2 or s.shape[1] != ch:
                raise ValueError(f"style for {name} must have shape [N, {ch}], got {list(s.shape)}")
        if channels_last is None:  # oneDNN's backward passes are slower in channels-last: NCHW when training
            dev = styles[0].device.type
            half = dtype in (torch.float16, torch.bfloat16) or torch.is_autocast_enabled(dev)
            channels_last = (dev == "cpu" and not torch.is_grad_enabled()) or half
        x = img = None
        i = 0
        for block in self.blocks():
            n = len(block.style_layer_names())
            x, img = block(x, img, styles[i:i + n], noise_mode=noise_mode, fused=fused, feature_hook=feature_hook,
                           prefix=f"b{block.resolution}.", dtype=dtype, channels_last=channels_last, noise=noise)
            i += n
        return img.contiguous()


class Generator(nn.Module):
    """z → w+ → image. ``G(z, truncation_psi=0.7, noise_mode='const')`` returns [N, 3, R, R] roughly in [-1, 1]."""

    def __init__(self, cfg: GeneratorConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg if cfg is not None else GeneratorConfig(**kwargs)
        self.cfg = cfg
        self.z_dim, self.w_dim, self.img_resolution = cfg.z_dim, cfg.w_dim, cfg.resolution
        self.img_channels = cfg.img_channels
        self.synthesis = SynthesisNetwork(cfg.w_dim, cfg.resolution, cfg.img_channels, cfg.channel_base,
                                          cfg.channel_max, cfg.num_fp16_res, cfg.conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.w_dim, self.num_ws, cfg.mapping_layers, cfg.mapping_lr_mult,
                                      cfg.w_avg_beta)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "random", update_emas: bool = False) -> torch.Tensor:
        ws = self.mapping(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode)

    @property
    def style_layers(self) -> list[tuple[str, int]]:
        return self.synthesis.style_layers()
