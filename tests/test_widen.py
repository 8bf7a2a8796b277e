"""Widening a trained generator / discriminator (faceedit.nn.widen, ``train gan --init-from`` with more channels):
the wider networks compute the same function, then train their new channels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceedit.errors import FaceEditError
from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
from faceedit.nn.widen import widen_into

NARROW = dict(resolution=16, z_dim=32, w_dim=32, channel_base=128, channel_max=32, mapping_layers=2)


def _perturbed(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter moved off its initial value (biases, noise strengths and all), as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return module


def _gd(seed: int = 0, **kw):
    torch.manual_seed(seed)
    g = Generator(GeneratorConfig(**{**NARROW, **kw}))
    d = Discriminator(DiscriminatorConfig(**{k: v for k, v in {**NARROW, **kw}.items()
                                             if k in ("resolution", "channel_base", "channel_max")}))
    return g, d


def test_a_widened_generator_and_discriminator_compute_the_same_function():
    g0, d0 = _gd(0)
    _perturbed(g0, 1), _perturbed(d0, 2)
    g1, d1 = _gd(3, channel_base=256)  # 32/16/8 → 32/32/16 channels at 4/8/16 px
    assert sum(p.numel() for p in g1.parameters()) > 1.5 * sum(p.numel() for p in g0.parameters())
    copied, widened = widen_into(g1, g0.state_dict(), "G")
    assert widened >= 8 and copied >= 6
    assert widen_into(d1, d0.state_dict(), "D")[1] >= 4
    z = torch.randn(8, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        a, b = g0(z, noise_mode="const"), g1(z, noise_mode="const")
        assert a.abs().mean() > 0.1
        assert (a - b).abs().max() < 1e-4 * a.abs().max()
        img = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(5))
        da, db = d0(img), d1(img)
        assert (da - db).abs().max() < 1e-4 * da.abs().max().clamp_min(1)
    # the new channels are computed (fresh weights) but read by nothing yet
    assert g1.synthesis.b16.conv1.weight[8:].abs().sum() > 0
    assert g1.synthesis.b16.torgb.weight[:, 8:].abs().sum() == 0
    # and training moves the zero columns: the new channels get a gradient through them
    loss = g1(z, noise_mode="random").square().mean()
    loss.backward()
    assert g1.synthesis.b16.torgb.weight.grad[:, 8:].abs().sum() > 0


def test_widening_refuses_narrower_networks_and_a_new_discriminator_width_at_4px():
    g0, d0 = _gd(0, channel_base=256)
    g1, _ = _gd(1)
    with pytest.raises(FaceEditError, match="only be widened"):
        widen_into(g1, g0.state_dict(), "G")
    _, d_small = _gd(0, channel_max=16)
    _, d_big = _gd(0, channel_max=32)
    with pytest.raises(FaceEditError, match="4-px width"):
        widen_into(d_big, d_small.state_dict(), "D")


def test_train_gan_init_from_widens_a_trained_run(tmp_path):
    from faceedit.train.export import export_run
    from faceedit.train.checkpoint import read_weights
    from faceedit.train.gan import TrainConfig, Trainer, train

    arr = (np.random.default_rng(0).random((16, 3, 16, 16)) * 255).astype(np.uint8)
    data = tmp_path / "d.npy"
    np.save(data, arr)
    tiny = dict(resolution=16, batch=8, z_dim=32, w_dim=32, channel_max=32, mapping_layers=2, threads=1,
                progress=False, log_seconds=0.0)
    train(TrainConfig(data=str(data), run_dir=str(tmp_path / "a"), channel_base=128, max_steps=2, **tiny),
          log=lambda *a: None)
    weights = tmp_path / "a.safetensors"
    export_run(tmp_path / "a", weights)
    meta, groups = read_weights(weights)
    narrow = Generator(GeneratorConfig.from_dict(meta["g_config"]))
    narrow.load_state_dict(groups["G_ema"])
    lines = []
    tr = Trainer(TrainConfig(data=str(data), run_dir=str(tmp_path / "b"), channel_base=256,
                             init_from=str(weights), **tiny), log=lines.append)
    assert tr.G_ema.synthesis.b16.conv1.weight.shape[0] == 16
    z = torch.randn(4, 32)
    with torch.no_grad():
        a, b = narrow(z, noise_mode="const"), tr.G_ema(z, noise_mode="const")
    assert (a - b).abs().max() < 1e-3 * a.abs().max()
    assert any("widened" in line for line in lines)
    # the inherited training counts for the EMA: no new ramp-up, so G_ema moves a little towards G, not onto it
    # (without it, 8 images into a fresh count would make G_ema a copy of G)
    before = tr.G_ema.synthesis.b16.conv1.weight.detach().clone()
    tr.totals["init"]["kimg"] = 1000.0
    with torch.no_grad():
        tr.G.synthesis.b16.conv1.weight.add_(1.0)
    tr._finish_step()
    moved = (tr.G_ema.synthesis.b16.conv1.weight - before).mean()
    assert 0 < moved < 0.01
    s = train(TrainConfig(data=str(data), run_dir=str(tmp_path / "b2"), channel_base=256, init_from=str(weights),
                          max_steps=1, **tiny), log=lambda *a: None)
    card = export_run(tmp_path / "b2", tmp_path / "b2.safetensors")
    assert card["init_from"]["kimg"] == pytest.approx(0.016) and card["init_from"]["from"] == "a.safetensors"
    assert card["g_config"]["channel_base"] == 256 and s["kimg"] == pytest.approx(0.008)
    # a run folder's checkpoint keeps where it came from
    again = Trainer(TrainConfig(data=str(data), run_dir=str(tmp_path / "b2"), channel_base=256, **tiny),
                    log=lambda *a: None)
    assert again.totals["init"]["from"] == "a.safetensors" and again.step == 1
