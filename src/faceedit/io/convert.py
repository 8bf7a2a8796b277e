"""State-dict conversions between checkpoint formats, and config inference from tensor shapes.

Our networks use NVIDIA stylegan2-ada-pytorch's parameter names and layouts (see :mod:`faceedit.nn`), so NVIDIA
PyTorch pickles need only the ``resample_filter`` buffers dropped. This module maps the other two layouts:

* NVIDIA's TensorFlow StyleGAN2 variables (``mapping/Dense0/weight``, ``synthesis/64x64/Conv0_up/weight``, ...),
  one direction (TF → ours), following the conventions of NVIDIA's own ``legacy.py``: dense weights are [in, out]
  (transposed), conv weights [kh, kw, in, out], the up-sampling conv weight is spatially flipped, and TF's style
  bias excludes the +1 that our affine layers store in their bias.
* rosinality/stylegan2-pytorch ``g_ema`` / ``d`` state dicts, both directions: modulated weights [1, O, I, k, k],
  noise strengths [1], activation biases on ``activate.bias``, noise buffers ``noises.noise_{i}`` [1, 1, r, r],
  ToRGB biases [1, 3, 1, 1], and the blur-kernel buffers its modules register (written on export, ignored on
  import). Its up-sampling conv (transposed, unflipped weight, then blur) computes what ours does with the same
  weight, so those weights map unchanged (tests check this numerically).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping

import numpy as np
import torch

from faceedit.errors import FaceEditError
from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

StateDict = dict[str, torch.Tensor]

# --------------------------------------------------------------------------------------------------------------
# Config inference


def _blocks(sd: Mapping[str, Any], pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for k in sd for m in [re.match(pattern, k)] if m})


def _fit_channel_base(channels: dict[int, int], hint_base: int | None, hint_max: int | None) -> tuple[int, int]:
    """Find (channel_base, channel_max) with ``min(base // r, max) == channels[r]`` for every resolution r."""
    cmax = max(channels.values())
    candidates = []
    if hint_base and (hint_max or cmax) == cmax:
        candidates.append(int(hint_base))
    for r, c in channels.items():
        if c < cmax:
            candidates.append(c * r)
    candidates.append(cmax * max(channels))
    for base in candidates:
        if all(min(base // r, cmax) == c for r, c in channels.items()):
            return base, cmax
    raise FaceEditError("the checkpoint's channel counts per resolution do not follow min(channel_base // r, "
                        f"channel_max) ({dict(sorted(channels.items()))}); it is not a StyleGAN2 this loader knows")


def infer_g_config(sd: Mapping[str, torch.Tensor], hints: Mapping[str, Any] | None = None) -> GeneratorConfig:
    """GeneratorConfig from a state dict with our (NVIDIA) names; ``hints`` fill what shapes cannot tell."""
    hints = dict(hints or {})
    res = _blocks(sd, r"synthesis\.b(\d+)\.")
    fcs = _blocks(sd, r"mapping\.fc(\d+)\.weight")
    if not res or "synthesis.b4.const" not in sd or not fcs:
        raise FaceEditError("no StyleGAN2 generator tensors found (expected synthesis.b4.const, mapping.fc0 ...)")
    channels = {r: int(sd[f"synthesis.b{r}.conv1.weight"].shape[0]) for r in res
                if f"synthesis.b{r}.conv1.weight" in sd}
    if len(channels) != len(res):
        raise FaceEditError("incomplete generator: a synthesis block has no conv1 weight")
    base, cmax = _fit_channel_base(channels, hints.get("channel_base"), hints.get("channel_max"))
    w_dim = int(sd["synthesis.b4.conv1.affine.weight"].shape[1])
    z_dim = int(sd["mapping.fc0.weight"].shape[1])
    img_channels = int(sd[f"synthesis.b{max(res)}.torgb.weight"].shape[0])
    kwargs = dict(z_dim=z_dim, w_dim=w_dim, resolution=max(res), img_channels=img_channels, channel_base=base,
                  channel_max=cmax, mapping_layers=len(fcs))
    for key in ("mapping_lr_mult", "conv_clamp", "num_fp16_res", "w_avg_beta"):
        if key in hints:
            kwargs[key] = hints[key]
    return GeneratorConfig(**kwargs)


def infer_d_config(sd: Mapping[str, torch.Tensor], hints: Mapping[str, Any] | None = None) -> DiscriminatorConfig:
    """DiscriminatorConfig from a state dict with our (NVIDIA) names."""
    hints = dict(hints or {})
    res = _blocks(sd, r"b(\d+)\.conv0\.weight")
    if not res or "b4.out.weight" not in sd:
        raise FaceEditError("no StyleGAN2 discriminator tensors found (expected b4.out, b<R>.fromrgb ...)")
    top = max(res)
    if f"b{top}.fromrgb.weight" not in sd:
        raise FaceEditError(f"discriminator has no b{top}.fromrgb layer (not the 'resnet' architecture)")
    channels = {r: int(sd[f"b{r}.conv0.weight"].shape[0]) for r in res}
    channels[4] = int(sd["b4.conv.weight"].shape[0])
    base, cmax = _fit_channel_base(channels, hints.get("channel_base"), hints.get("channel_max"))
    mbstd_c = int(sd["b4.conv.weight"].shape[1]) - channels[4]
    kwargs = dict(resolution=top, img_channels=int(sd[f"b{top}.fromrgb.weight"].shape[1]), channel_base=base,
                  channel_max=cmax, mbstd_num_channels=mbstd_c)
    for key in ("mbstd_group_size", "conv_clamp", "num_fp16_res"):
        if key in hints:
            kwargs[key] = hints[key]
    return DiscriminatorConfig(**kwargs)


def check_config_matches(given: GeneratorConfig, inferred: GeneratorConfig, source: str) -> None:
    """Raise when an explicit config contradicts the checkpoint's shapes, naming both values."""
    for field, label in (("resolution", "px"), ("z_dim", "z_dim"), ("w_dim", "w_dim"),
                         ("img_channels", "image channels"), ("mapping_layers", "mapping layers")):
        a, b = getattr(inferred, field), getattr(given, field)
        if a != b:
            what = f"a {a}-px generator" if field == "resolution" else f"{label} = {a}"
            raise FaceEditError(f"{source} holds {what} but the given config says {field}={b}")
    for r in inferred.block_resolutions:
        if inferred.channels(r) != given.channels(r):
            raise FaceEditError(f"{source} has {inferred.channels(r)} channels at {r} px but the given config "
                                f"(channel_base={given.channel_base}, channel_max={given.channel_max}) gives "
                                f"{given.channels(r)}")


# --------------------------------------------------------------------------------------------------------------
# Building networks


def _load_into(module: torch.nn.Module, sd: Mapping[str, torch.Tensor], what: str, source: str) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
        raise FaceEditError(f"{source}: {what} does not match a StyleGAN2 {what}: " + "; ".join(parts))
    for k, v in own.items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise FaceEditError(f"{source}: {what} tensor {k} has shape {list(sd[k].shape)}, expected {list(v.shape)}")
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(sd[k].to(torch.float32))


def _empty(factory: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """Build a network without spending time on random initialisation (every tensor is overwritten after)."""
    with torch.device("meta"):
        m = factory()
    state = m.state_dict()
    if any(name not in state for name, _ in m.named_buffers()):  # non-persistent buffers need real init
        return factory()
    return m.to_empty(device="cpu")


def build_generator(sd: Mapping[str, torch.Tensor], cfg: GeneratorConfig, source: str = "checkpoint") -> Generator:
    """A float32 Generator in eval mode holding ``sd`` (our names), checked key by key and shape by shape."""
    G = _empty(lambda: Generator(cfg))
    _load_into(G, sd, "generator", source)
    return G.eval().requires_grad_(False)


def build_discriminator(sd: Mapping[str, torch.Tensor], cfg: DiscriminatorConfig,
                        source: str = "checkpoint") -> Discriminator:
    D = _empty(lambda: Discriminator(cfg))
    _load_into(D, sd, "discriminator", source)
    return D.eval().requires_grad_(False)


def meta_state_shapes(module_factory: Callable[[], torch.nn.Module]) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a network's state dict without allocating its weights (built on the meta device)."""
    with torch.device("meta"):
        m = module_factory()
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}


# --------------------------------------------------------------------------------------------------------------
# NVIDIA PyTorch: drop the resample filters


def strip_nvidia_extras(sd: Mapping[str, torch.Tensor]) -> StateDict:
    return {k: v for k, v in sd.items() if not k.endswith(".resample_filter")}


# --------------------------------------------------------------------------------------------------------------
# TensorFlow (NVIDIA StyleGAN2 tflib) → ours


def _np(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _conv_tf(w: Any, flip: bool = False) -> np.ndarray:
    w = _np(w)
    if flip:
        w = w[::-1, ::-1]
    return w.transpose(3, 2, 0, 1)


def tf_generator_rules(cfg: GeneratorConfig) -> dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    """For each tensor of our generator: (TF variable name, TF value → our value)."""
    rules: dict[str, tuple[str, Callable]] = {"mapping.w_avg": ("dlatent_avg", _np)}
    for i in range(cfg.mapping_layers):
        rules[f"mapping.fc{i}.weight"] = (f"mapping/Dense{i}/weight", lambda v: _np(v).T)
        rules[f"mapping.fc{i}.bias"] = (f"mapping/Dense{i}/bias", _np)
    for r in cfg.block_resolutions:
        log2 = int(math.log2(r))
        layers = {"conv1": ("Conv" if r == 4 else "Conv1", 2 * log2 - 4)}
        if r > 4:
            layers["conv0"] = ("Conv0_up", 2 * log2 - 5)
        else:
            rules["synthesis.b4.const"] = ("synthesis/4x4/Const/const", lambda v: _np(v)[0])
        for ours, (tf, noise_idx) in layers.items():
            p, q = f"synthesis.b{r}.{ours}", f"synthesis/{r}x{r}/{tf}"
            flip = ours == "conv0"
            rules[f"{p}.weight"] = (f"{q}/weight", lambda v, flip=flip: _conv_tf(v, flip))
            rules[f"{p}.bias"] = (f"{q}/bias", _np)
            rules[f"{p}.noise_strength"] = (f"{q}/noise_strength", _np)
            rules[f"{p}.noise_const"] = (f"synthesis/noise{noise_idx}", lambda v: _np(v)[0, 0])
            rules[f"{p}.affine.weight"] = (f"{q}/mod_weight", lambda v: _np(v).T)
            rules[f"{p}.affine.bias"] = (f"{q}/mod_bias", lambda v: _np(v) + 1)
        p, q = f"synthesis.b{r}.torgb", f"synthesis/{r}x{r}/ToRGB"
        rules[f"{p}.weight"] = (f"{q}/weight", _conv_tf)
        rules[f"{p}.bias"] = (f"{q}/bias", _np)
        rules[f"{p}.affine.weight"] = (f"{q}/mod_weight", lambda v: _np(v).T)
        rules[f"{p}.affine.bias"] = (f"{q}/mod_bias", lambda v: _np(v) + 1)
    return rules


def tf_discriminator_rules(cfg: DiscriminatorConfig) -> dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    R = cfg.resolution
    rules: dict[str, tuple[str, Callable]] = {
        f"b{R}.fromrgb.weight": (f"{R}x{R}/FromRGB/weight", _conv_tf),
        f"b{R}.fromrgb.bias": (f"{R}x{R}/FromRGB/bias", _np),
        "b4.conv.weight": ("4x4/Conv/weight", _conv_tf),
        "b4.conv.bias": ("4x4/Conv/bias", _np),
        "b4.fc.weight": ("4x4/Dense0/weight", lambda v: _np(v).T),
        "b4.fc.bias": ("4x4/Dense0/bias", _np),
        "b4.out.weight": ("Output/weight", lambda v: _np(v).T),
        "b4.out.bias": ("Output/bias", _np),
    }
    r = R
    while r > 4:
        for ours, tf in (("conv0", "Conv0"), ("conv1", "Conv1_down")):
            rules[f"b{r}.{ours}.weight"] = (f"{r}x{r}/{tf}/weight", _conv_tf)
            rules[f"b{r}.{ours}.bias"] = (f"{r}x{r}/{tf}/bias", _np)
        rules[f"b{r}.skip.weight"] = (f"{r}x{r}/Skip/weight", _conv_tf)
        r //= 2
    return rules


_TF_IGNORED = re.compile(r"(^|/)lod$")


def tf_to_ours(tf_vars: Mapping[str, Any], rules: Mapping[str, tuple[str, Callable]], what: str,
               source: str) -> StateDict:
    out = {}
    for ours, (tf_name, fn) in rules.items():
        if tf_name not in tf_vars:
            raise FaceEditError(f"{source}: TensorFlow {what} has no variable {tf_name}")
        out[ours] = torch.from_numpy(np.array(fn(tf_vars[tf_name]), dtype=np.float32, order="C"))
    used = {tf for tf, _ in rules.values()}
    extra = [k for k in tf_vars if k not in used and not _TF_IGNORED.search(k)]
    if extra:
        raise FaceEditError(f"{source}: TensorFlow {what} has variables this StyleGAN2 layout does not use "
                            f"(first: {extra[0]}); only config-f style 'skip' generators and 'resnet' "
                            "discriminators are supported")
    return out


def _tf_hints(static_kwargs: Mapping[str, Any], what: str, architecture: str) -> tuple[dict, dict[str, Any]]:
    """Checks and config hints shared by TF generators and discriminators: (kwargs, hints)."""
    kw = dict(static_kwargs or {})
    if kw.get("label_size", 0):
        raise FaceEditError(f"conditional (label_size > 0) TensorFlow {what}s are not supported")
    arch = kw.get("architecture", architecture)
    if arch != architecture:
        raise FaceEditError(f"TensorFlow {what} architecture {arch!r} is not supported (only {architecture!r})")
    hints: dict[str, Any] = {"conv_clamp": kw.get("conv_clamp"), "num_fp16_res": int(kw.get("num_fp16_res", 0) or 0)}
    if kw.get("fmap_base") is not None:
        hints["channel_base"] = int(kw["fmap_base"]) * 2
    if kw.get("fmap_max") is not None:
        hints["channel_max"] = int(kw["fmap_max"])
    return kw, hints


def tf_g_hints(static_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    kw, hints = _tf_hints(static_kwargs, "generator", "skip")
    if kw.get("mapping_lrmul") is not None:
        hints["mapping_lr_mult"] = float(kw["mapping_lrmul"])
    if "w_avg_beta" in kw:
        hints["w_avg_beta"] = float(kw["w_avg_beta"]) if kw["w_avg_beta"] is not None else 1.0
    return hints


def tf_d_hints(static_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    kw, hints = _tf_hints(static_kwargs, "discriminator", "resnet")
    if kw.get("mbstd_group_size") is not None:
        hints["mbstd_group_size"] = int(kw["mbstd_group_size"])
    return hints


# --------------------------------------------------------------------------------------------------------------
# rosinality ↔ ours


def _blur_kernel(scale: float) -> torch.Tensor:
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = k[None, :] * k[:, None]
    return k / k.sum() * scale


def rosinality_generator_rules(cfg: GeneratorConfig) -> list[tuple[str, str, Callable, Callable]]:
    """(our name, rosinality name, ours → rosinality, rosinality → ours) for every generator tensor.

    ``mapping.w_avg`` is not here: rosinality keeps it as the checkpoint's top-level ``latent_avg``.
    """
    ident = (lambda t: t, lambda t: t)
    add0 = (lambda t: t.unsqueeze(0), lambda t: t.squeeze(0))
    scalar = (lambda t: t.reshape(1), lambda t: t.reshape(()))
    noise = (lambda t: t.reshape(1, 1, *t.shape), lambda t: t.reshape(t.shape[-2:]))
    rgb_bias = (lambda t: t.reshape(1, -1, 1, 1), lambda t: t.reshape(-1))
    rules = []
    for i in range(cfg.mapping_layers):
        for p in ("weight", "bias"):
            rules.append((f"mapping.fc{i}.{p}", f"style.{i + 1}.{p}", *ident))
    rules.append(("synthesis.b4.const", "input.input", *add0))

    def styled(ours: str, ros: str, noise_idx: int) -> None:
        rules.append((f"{ours}.weight", f"{ros}.conv.weight", *add0))
        rules.append((f"{ours}.affine.weight", f"{ros}.conv.modulation.weight", *ident))
        rules.append((f"{ours}.affine.bias", f"{ros}.conv.modulation.bias", *ident))
        rules.append((f"{ours}.noise_strength", f"{ros}.noise.weight", *scalar))
        rules.append((f"{ours}.bias", f"{ros}.activate.bias", *ident))
        rules.append((f"{ours}.noise_const", f"noises.noise_{noise_idx}", *noise))

    def torgb(ours: str, ros: str) -> None:
        rules.append((f"{ours}.weight", f"{ros}.conv.weight", *add0))
        rules.append((f"{ours}.affine.weight", f"{ros}.conv.modulation.weight", *ident))
        rules.append((f"{ours}.affine.bias", f"{ros}.conv.modulation.bias", *ident))
        rules.append((f"{ours}.bias", f"{ros}.bias", *rgb_bias))

    styled("synthesis.b4.conv1", "conv1", 0)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for j, r in enumerate(cfg.block_resolutions[1:]):
        styled(f"synthesis.b{r}.conv0", f"convs.{2 * j}", 2 * j + 1)
        styled(f"synthesis.b{r}.conv1", f"convs.{2 * j + 1}", 2 * j + 2)
        torgb(f"synthesis.b{r}.torgb", f"to_rgbs.{j}")
    return rules


def rosinality_generator_buffers(cfg: GeneratorConfig) -> StateDict:
    """The constant blur-kernel buffers rosinality's Generator registers (part of its state dict)."""
    out = {}
    for j, _ in enumerate(cfg.block_resolutions[1:]):
        out[f"convs.{2 * j}.conv.blur.kernel"] = _blur_kernel(4.0)
        out[f"to_rgbs.{j}.upsample.kernel"] = _blur_kernel(4.0)
    return out


def rosinality_discriminator_rules(cfg: DiscriminatorConfig) -> list[tuple[str, str, Callable, Callable]]:
    ident = (lambda t: t, lambda t: t)
    R = cfg.resolution
    rules = [(f"b{R}.fromrgb.weight", "convs.0.0.weight", *ident), (f"b{R}.fromrgb.bias", "convs.0.1.bias", *ident)]
    r, i = R, 1
    while r > 4:
        rules += [(f"b{r}.conv0.weight", f"convs.{i}.conv1.0.weight", *ident),
                  (f"b{r}.conv0.bias", f"convs.{i}.conv1.1.bias", *ident),
                  (f"b{r}.conv1.weight", f"convs.{i}.conv2.1.weight", *ident),
                  (f"b{r}.conv1.bias", f"convs.{i}.conv2.2.bias", *ident),
                  (f"b{r}.skip.weight", f"convs.{i}.skip.1.weight", *ident)]
        r, i = r // 2, i + 1
    rules += [("b4.conv.weight", "final_conv.0.weight", *ident), ("b4.conv.bias", "final_conv.1.bias", *ident),
              ("b4.fc.weight", "final_linear.0.weight", *ident), ("b4.fc.bias", "final_linear.0.bias", *ident),
              ("b4.out.weight", "final_linear.1.weight", *ident), ("b4.out.bias", "final_linear.1.bias", *ident)]
    return rules


def rosinality_discriminator_buffers(cfg: DiscriminatorConfig) -> StateDict:
    out = {}
    r, i = cfg.resolution, 1
    while r > 4:
        out[f"convs.{i}.conv2.0.kernel"] = _blur_kernel(1.0)
        out[f"convs.{i}.skip.0.kernel"] = _blur_kernel(1.0)
        r, i = r // 2, i + 1
    return out


def ours_to_rosinality(sd: Mapping[str, torch.Tensor], rules: list, buffers: StateDict) -> StateDict:
    out = {ros: fwd(sd[ours].detach().to(torch.float32).contiguous()).contiguous()
           for ours, ros, fwd, _ in rules}
    out.update(buffers)
    return out


_ROS_BUFFER = re.compile(r"\.kernel$")


def rosinality_to_ours(sd: Mapping[str, torch.Tensor], rules: list, what: str, source: str) -> StateDict:
    out = {}
    for ours, ros, _, back in rules:
        if ros not in sd:
            raise FaceEditError(f"{source}: rosinality {what} has no tensor {ros}")
        out[ours] = back(sd[ros].detach().to(torch.float32))
    used = {ros for _, ros, _, _ in rules}
    extra = [k for k in sd if k not in used and not _ROS_BUFFER.search(k)]
    if extra:
        raise FaceEditError(f"{source}: rosinality {what} has tensors this StyleGAN2 layout does not use "
                            f"(first: {extra[0]})")
    return out
