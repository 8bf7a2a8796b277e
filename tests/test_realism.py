"""Realism metrics: Fréchet distance, KID, the real-vs-real floor, and `faceedit eval realism`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from faceedit.metrics.realism import frechet_distance, kernel_inception_distance, realism_report


def test_frechet_distance_known_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 4))
    b = rng.normal(size=(4000, 4)) + np.array([2.0, 0, 0, 0])
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, b) == pytest.approx(4.0, rel=0.1)  # |Δμ|² with equal covariances
    c = rng.normal(size=(4000, 4)) * 2  # Σ = 4I vs I: Tr(I + 4I − 2·2I) = 4 for D=4
    assert frechet_distance(a, c) == pytest.approx(4.0, rel=0.15)


def test_kid_zero_for_same_distribution_positive_for_shift():
    rng = np.random.default_rng(1)
    a, a2 = rng.normal(size=(600, 8)), rng.normal(size=(600, 8))
    b = rng.normal(size=(600, 8)) + 1.0
    same, _ = kernel_inception_distance(a, a2, subsets=10, subset_size=300)
    diff, _ = kernel_inception_distance(a, b, subsets=10, subset_size=300)
    assert abs(same) < 0.05 < diff


def test_report_floor_below_fake_distance():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(400, 6))
    fake = rng.normal(size=(200, 6)) * 1.5 + 0.5
    rep = realism_report(fake, real)
    assert rep["n"] == 200 and rep["fd_floor"] < rep["fd"] and rep["kid_floor"] < rep["kid"]


def test_cli_eval_realism_with_discriminator_features(tmp_path):
    from faceedit.cli import main
    from faceedit.train.export import export_run
    from faceedit.train.gan import TrainConfig, train

    g = torch.Generator().manual_seed(3)
    imgs = torch.nn.functional.interpolate(torch.rand(48, 3, 4, 4, generator=g), size=(16, 16), mode="bilinear")
    data = tmp_path / "real.npy"
    np.save(data, (imgs * 255).round().to(torch.uint8).numpy())
    cfg = TrainConfig(data=str(data), run_dir=str(tmp_path / "run"), resolution=16, batch=8, z_dim=32, w_dim=32,
                      channel_base=256, channel_max=32, mapping_layers=2, max_steps=1, progress=False, threads=1)
    train(cfg, log=lambda *a: None)
    w = tmp_path / "w.safetensors"
    export_run(tmp_path / "run", w)
    out = tmp_path / "r.json"
    rc = main(["eval", "realism", "--model", str(w), "--real", str(data), "--n", "20", "--features", "disc",
               "--json", str(out)])
    assert rc == 0
    rep = json.loads(out.read_text())
    assert rep["n"] == 20 and np.isfinite(rep["fd"]) and rep["fd"] >= 0 and rep["features"] == "disc"
    assert main(["eval", "realism", "--model", str(w), "--real", str(data), "--features", "bogus"]) == 2
    # on a run folder the figure becomes a milestone of the exported card
    assert main(["eval", "realism", "--model", str(tmp_path / "run"), "--real", str(data), "--n", "20",
                 "--features", "disc"]) == 0
    card = export_run(tmp_path / "run", tmp_path / "w2.safetensors")
    assert len(card["milestones"]) == 1 and card["milestones"][0]["kimg"] == pytest.approx(0.008)


def test_eval_faces_on_the_default_generator(tmp_path, capsys):
    """The shipped generator's faces are found by dlib (the issue's target is >= 90 % at ψ 0.7)."""
    pytest.importorskip("dlib")
    from faceedit.cli import main

    out = tmp_path / "faces.json"
    assert main(["eval", "faces", "--seeds", "0-7", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["n"] == 8 and rep["face_rate"] >= 0.75
    assert "face rate:" in capsys.readouterr().out


def test_frechet_distance_fewer_samples_than_features_matches_the_covariance_formula():
    """With N < D the distance is computed from the [Na, Nb] cross-Gram matrix; it equals the D×D formula."""
    import scipy.linalg

    rng = np.random.default_rng(4)
    a = rng.normal(size=(30, 50))
    b = rng.normal(size=(25, 50)) * 1.3 + 0.2
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-9)
