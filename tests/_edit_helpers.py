"""Shared tiny generators for the edit tests (random weights, fixed seeds)."""

import torch

from faceedit import api
from faceedit.nn import Generator, GeneratorConfig


def tiny_model(resolution: int = 32, seed: int = 0, channel_max: int = 32) -> api.Model:
    torch.manual_seed(seed)
    cfg = GeneratorConfig(z_dim=32, w_dim=32, resolution=resolution, channel_base=512, channel_max=channel_max,
                          mapping_layers=2)
    return api.Model(G=Generator(cfg).eval(), name=f"tiny{resolution}")


def box_mask(res: int, top: float = 0.6, bottom: float = 0.85, left: float = 0.3, right: float = 0.7) -> torch.Tensor:
    """A 'mouth box' in the lower middle of the frame, [res, res] of 0/1."""
    m = torch.zeros(res, res)
    m[int(top * res):int(bottom * res), int(left * res):int(right * res)] = 1
    return m
