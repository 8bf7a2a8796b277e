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


def plant_local_channel(model: api.Model, mask: torch.Tensor, res: int = 16, channel: int = 7,
                        height: float = 3.0) -> int:
    """Hand-build a channel that lives only inside ``mask``: zero the weights and bias of output ``channel`` of
    ``b{res}.conv0`` and give that layer a constant noise map equal to ``height`` inside the (resized) mask and 0
    outside, so the channel's activation is the mask itself. Its StyleSpace control is input ``channel`` of
    ``b{res}.conv1``; returns that StyleSpace layer index."""
    layer = getattr(model.G.synthesis, f"b{res}").conv0
    m = torch.nn.functional.interpolate(mask[None, None].float(), size=(res, res), mode="area")[0, 0]
    with torch.no_grad():
        layer.weight[channel] = 0
        layer.bias[channel] = 0
        layer.noise_const.copy_((m > 0.5).float() * height)
        layer.noise_strength.fill_(1.0)
    return [n for n, _ in model.style_layers].index(f"b{res}.conv1")
