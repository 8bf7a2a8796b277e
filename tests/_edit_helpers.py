"""Shared tiny generators for the edit tests (random weights, fixed seeds), and a stand-in photo face."""

import numpy as np
import torch

from faceedit import api
from faceedit.face import Face
from faceedit.nn import Generator, GeneratorConfig


def tiny_model(resolution: int = 32, seed: int = 0, channel_max: int = 32) -> api.Model:
    torch.manual_seed(seed)
    cfg = GeneratorConfig(z_dim=32, w_dim=32, resolution=resolution, channel_base=512, channel_max=channel_max,
                          mapping_layers=2)
    return api.Model(G=Generator(cfg).eval(), name=f"tiny{resolution}")


def use_tiny_default(monkeypatch, resolution: int = 32) -> api.Model:
    """Make ``api.load`` (what every command loads) return a tiny random generator; returns it."""
    m = tiny_model(resolution)
    monkeypatch.setattr(api, "load", lambda *a, **k: m)
    return m


def random_model() -> api.Model:
    """A 64-px generator with random weights (seed 0): z and w of 128, two mapping layers."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=128, w_dim=128, resolution=64, channel_base=4096, channel_max=128, mapping_layers=2)
    return api.Model(G=Generator(cfg).eval(), name="random64")


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


class CornerPhoto:
    """Stands for a :class:`~faceedit.align.photo.Photo` in web tests: an edit is pasted into the photo's top-left
    corner (the rest of the photo stays as it was)."""

    def __init__(self, original: np.ndarray):
        self.original = original

    @property
    def pixels(self) -> int:
        return int(self.original.shape[0] * self.original.shape[1])

    def paste(self, image, mode: str = "change") -> np.ndarray:
        out = self.original.copy()
        e = np.asarray(image)
        out[:e.shape[0], :e.shape[1]] = e[:out.shape[0], :out.shape[1]]
        return out


def photo_face(model: api.Model, path, notes=(), generator=None, noise=None) -> Face:
    """What an inverter returns for the uploaded photo at ``path``: seed 7's code, drawn by ``generator`` (default
    ``model``), pasted into the photo's corner."""
    from PIL import Image

    original = np.asarray(Image.open(path).convert("RGB"))
    return Face(ws=model.map(model.z_from_seeds([7]), 0.7), generator=generator or model, noise=noise,
                photo=CornerPhoto(original), label="photo", notes=list(notes))
