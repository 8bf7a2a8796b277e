"""The WGAN-GP option of `train gan` (`--loss wgan-gp`): its losses on known critics, and a tiny training step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from faceedit.train import losses
from faceedit.train.gan import TrainConfig, Trainer


def test_gradient_penalty_of_a_linear_critic_is_its_slope_minus_one_squared():
    a = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(0))
    D = lambda x: (x * a).sum(dim=(1, 2, 3))  # noqa: E731 - the gradient is a everywhere
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    pen = losses.gradient_penalty(D, real, fake)
    assert pen.shape == (5,)
    assert torch.allclose(pen, torch.full((5,), (float(a.norm()) - 1) ** 2), rtol=1e-5)
    unit = a / a.norm()
    assert torch.allclose(losses.gradient_penalty(lambda x: (x * unit).sum(dim=(1, 2, 3)), real, fake),
                          torch.zeros(5), atol=1e-10)


def test_wasserstein_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert losses.g_loss_wgan(fake).item() == pytest.approx(0.5)
    assert losses.d_loss_wgan(real, fake).item() == pytest.approx(-0.5 - 2.0 + losses.WGAN_DRIFT * 5.0)


def test_a_wgan_gp_step_uses_the_penalty_instead_of_r1(tmp_path):
    g = torch.Generator().manual_seed(1)
    imgs = (torch.nn.functional.interpolate(torch.rand(16, 3, 4, 4, generator=g), size=(16, 16)) * 255).to(
        torch.uint8)
    tiny = dict(resolution=16, batch=8, z_dim=32, w_dim=32, channel_base=256, channel_max=32, mapping_layers=2,
                threads=1, progress=False, log_seconds=0.0, r1_interval=2, data="unused")
    from faceedit.train.dataset import sample_batch

    seen = {}
    for loss in ("logistic", "wgan-gp"):
        torch.manual_seed(0)
        tr = Trainer(TrainConfig(run_dir=str(tmp_path / loss), loss=loss, **tiny))
        d0 = [p.detach().clone() for p in tr.D.parameters()]
        steps = [tr.train_step(sample_batch(imgs, 8, True)) for _ in range(2)]
        assert all(math.isfinite(v) for st in steps for v in st.values())
        assert any(not torch.equal(a, b) for a, b in zip(d0, tr.D.parameters()))
        seen[loss] = steps
    assert "r1" in seen["logistic"][0] and "gp" not in seen["logistic"][0]
    assert "gp" in seen["wgan-gp"][0] and "r1" not in seen["wgan-gp"][0] and "gp" not in seen["wgan-gp"][1]
    # the critic's loss is a difference of scores (any sign), not a log-loss (always > 0)
    assert seen["logistic"][0]["loss_D"] > 0


def test_the_cli_refuses_an_unknown_loss(tmp_path, capsys):
    from faceedit.cli import main

    np.save(tmp_path / "d.npy", np.zeros((4, 3, 16, 16), np.uint8))
    assert main(["train", "gan", "--data", str(tmp_path / "d.npy"), "--run-dir", str(tmp_path / "r"),
                 "--loss", "hinge", "--res", "16"]) != 0
    assert "error: --loss must be one of logistic, wgan-gp" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
