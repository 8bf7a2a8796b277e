"""rosinality/stylegan2-pytorch checkpoints (``.pt``: ``g_ema``, ``latent_avg``, optional ``g`` and ``d``),
the format pSp, e4e, ReStyle and HyperStyle use. Read with ``torch.load(weights_only=True)``; written with
``torch.save`` (zip format) by :func:`save_rosinality`."""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

import torch

from faceedit import atomic
from faceedit.errors import FaceEditError
from faceedit.io.convert import (ours_to_rosinality, rosinality_discriminator_buffers,
                                 rosinality_discriminator_rules, rosinality_generator_buffers,
                                 rosinality_generator_rules, rosinality_to_ours)
from faceedit.io.parts import CheckpointParts, StateDict
from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig


def is_rosinality(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("g_ema"), dict)


def _naming_g(sd: Mapping[str, torch.Tensor], source: str) -> GeneratorConfig:
    n_up = len({m.group(1) for k in sd for m in [re.match(r"to_rgbs\.(\d+)\.", k)] if m})
    n_mlp = len({m.group(1) for k in sd for m in [re.match(r"style\.(\d+)\.weight$", k)] if m})
    if "input.input" not in sd or n_mlp == 0:
        raise FaceEditError(f"{source}: 'g_ema' is not a rosinality StyleGAN2 generator (no input.input / style.*)")
    return GeneratorConfig(resolution=4 * 2 ** n_up, mapping_layers=n_mlp)


def _naming_d(sd: Mapping[str, torch.Tensor], source: str) -> DiscriminatorConfig:
    n = len({m.group(1) for k in sd for m in [re.match(r"convs\.(\d+)\.conv1\.0\.weight$", k)] if m})
    if "convs.0.0.weight" not in sd:
        raise FaceEditError(f"{source}: 'd' is not a rosinality StyleGAN2 discriminator (no convs.0.0.weight)")
    return DiscriminatorConfig(resolution=4 * 2 ** n)


def generator_from_rosinality(sd: Mapping[str, torch.Tensor], latent_avg: torch.Tensor | None,
                              source: str) -> StateDict:
    out = rosinality_to_ours(sd, rosinality_generator_rules(_naming_g(sd, source)), "generator", source)
    w_dim = out["synthesis.b4.conv1.affine.weight"].shape[1]
    if latent_avg is None:
        latent_avg = torch.zeros(w_dim)
    latent_avg = latent_avg.detach().to(torch.float32).reshape(-1)
    if latent_avg.numel() != w_dim:
        raise FaceEditError(f"{source}: latent_avg has {latent_avg.numel()} values, expected w_dim = {w_dim}")
    out["mapping.w_avg"] = latent_avg
    return out


def read_rosinality(data: dict, source: str) -> CheckpointParts:
    latent_avg = data.get("latent_avg")
    if latent_avg is not None and not isinstance(latent_avg, torch.Tensor):
        raise FaceEditError(f"{source}: 'latent_avg' is not a tensor")
    g_ema = generator_from_rosinality(data["g_ema"], latent_avg, source)
    g = generator_from_rosinality(data["g"], latent_avg, source) if isinstance(data.get("g"), dict) else None
    d = None
    if isinstance(data.get("d"), dict):
        d = rosinality_to_ours(data["d"], rosinality_discriminator_rules(_naming_d(data["d"], source)),
                               "discriminator", source)
    meta = {"keys": sorted(str(k) for k in data)}
    # rosinality's networks have no clamp; its FFHQ weights come from NVIDIA's TF config-f (mapping lr 0.01).
    return CheckpointParts("rosinality", g_ema, g, d, g_hints={"conv_clamp": None},
                           d_hints={"conv_clamp": None}, meta=meta)


def is_psp_generator(data: Any) -> bool:
    """A pSp / e4e checkpoint (``state_dict`` with ``decoder.*``): it carries its rosinality generator."""
    sd = data.get("state_dict") if isinstance(data, dict) else None
    return isinstance(sd, dict) and "decoder.input.input" in sd


def read_psp_generator(data: dict, source: str) -> CheckpointParts:
    """The generator inside a pSp / e4e checkpoint (``decoder.*``, rosinality names; its ``latent_avg`` row 0 as
    w_avg: pSp/e4e store it repeated per w+ entry)."""
    sd = data["state_dict"]
    avg = data.get("latent_avg")
    avg = avg.reshape(-1, avg.shape[-1])[0] if isinstance(avg, torch.Tensor) and avg.ndim >= 1 else None
    g_ema = {k[len("decoder."):]: v for k, v in sd.items() if str(k).startswith("decoder.")}
    return read_rosinality({"g_ema": g_ema, "latent_avg": avg}, source)


def rosinality_state(G_ema: Generator, D: Discriminator | None = None, G: Generator | None = None) -> dict:
    """The checkpoint dict rosinality's code reads: g_ema, latent_avg, and g / d when given."""
    cfg = G_ema.cfg
    rules = rosinality_generator_rules(cfg)
    bufs = rosinality_generator_buffers(cfg)
    sd = G_ema.state_dict()
    ckpt: dict[str, Any] = {"g_ema": ours_to_rosinality(sd, rules, bufs),
                            "latent_avg": sd["mapping.w_avg"].detach().to(torch.float32).clone()}
    if G is not None:
        ckpt["g"] = ours_to_rosinality(G.state_dict(), rules, {k: v.clone() for k, v in bufs.items()})
    if D is not None:
        ckpt["d"] = ours_to_rosinality(D.state_dict(), rosinality_discriminator_rules(D.cfg),
                                       rosinality_discriminator_buffers(D.cfg))
    return ckpt


def save_rosinality(path: str | os.PathLike, G_ema: Generator, D: Discriminator | None = None,
                    G: Generator | None = None) -> None:
    """Write a rosinality ``.pt`` (fp32, torch zip format) atomically."""
    ckpt = rosinality_state(G_ema, D, G)
    with atomic.atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
