"""faceedit.geometry: HOUV registration, Chamfer distances, metrics, point-cloud IO, `faceedit register`, bad input.

Small synthetic clouds and few iterations keep these fast (a few seconds in all on one thread)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from faceedit.errors import FaceEditError
from faceedit.geometry.chamfer import chamfer, hybrid_loss, projected_chamfer, trimmed_mean
from faceedit.geometry.clouds import check_cloud, load_cloud, save_cloud
from faceedit.geometry.correlation import best_translations
from faceedit.geometry.houv import (FAST, QUICK, THESIS, WIDE, HOUVConfig, _Variables, register, register_batch,
                                   settings, trimmed_icp, tuned)
from faceedit.geometry.metrics import pair_errors, recall, rotation_error_deg, summarise
from faceedit.geometry.partial import crop_along, make_pair
from faceedit.geometry.rotation import axis_angle_matrix, kabsch, rodrigues

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Small and quick: enough for a 70° turn of an asymmetric 150-point cloud.
SMALL = replace(FAST, groups=8, screen=128, iterations=60, coarse_points=64, prune_at=40, keep=2, icp_iterations=10,
                alpha=0.9)


def asymmetric_cloud(n: int = 150, seed: int = 0) -> np.ndarray:
    """Points on a bent, tapered tube with a knob: no rotational symmetry. ``[n, 3]``."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1, n)
    a = rng.uniform(0, 2 * np.pi, n)
    r = 0.15 + 0.25 * s
    pts = np.stack([1.6 * s - 0.8, 0.5 * s ** 2 + r * np.cos(a), r * np.sin(a)], 1)
    knob = rng.normal(size=(n // 5, 3)) * 0.08 + [0.7, 0.6, 0.0]
    return np.concatenate([pts, knob])


def moved(points: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    return points @ r.T + t


R70 = axis_angle_matrix([1.0, 2.0, -0.5], math.radians(70))
T = np.array([0.3, -0.2, 0.5])


def test_known_rotation_is_recovered():
    p = asymmetric_cloud()
    reg = register(p, moved(p, R70, T), SMALL)
    err = pair_errors(p, reg.rotation[0], reg.translation[0], R70, T)
    assert err.rotation_deg < 2.0 and err.translation < 0.02, err


def test_partial_pairs_follow_the_protocol():
    rng = np.random.default_rng(3)
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3.0]])
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    pair = make_pair(verts, faces, rng, points=256, max_angle_deg=45, noise=0.01)
    assert len(pair.source) == len(pair.target) == round(256 / 1.3)
    assert rotation_error_deg(pair.rotation, np.eye(3)) <= 45 and np.abs(pair.translation).max() <= 0.5
    assert np.linalg.norm(pair.source, axis=1).max() <= 1 + 0.05 * 3 ** 0.5  # unit sphere + clipped noise


@pytest.mark.parametrize("variant", ["ori", "pri"])
def test_unconstrained_variables_always_give_rotations(variant):
    cfg = HOUVConfig(variant=variant, groups=12, angle_bins=3, max_angle_deg=120)
    var = _Variables(cfg, pairs=2, dtype=torch.float64)
    rng = np.random.default_rng(0)
    for scale in (1.0, 1e3, 1e-6):  # wild values of every unconstrained variable
        with torch.no_grad():
            for prm in var.parameters():
                prm.copy_(torch.as_tensor(rng.normal(size=prm.shape) * scale))
        r, t = var()
        eye = torch.eye(3, dtype=torch.float64).expand_as(r)
        assert torch.allclose(r @ r.transpose(-1, -2), eye, atol=1e-9)
        assert torch.allclose(torch.det(r), torch.ones(2, 12, dtype=torch.float64), atol=1e-9)
        assert (t.norm(dim=-1) <= cfg.max_translation + 1e-9).all()
        angle = var.angle()
        assert (angle >= -1e-12).all() and (angle <= math.radians(120) + 1e-9).all()
        if variant == "pri":  # each group stays inside its own prior sub-space
            assert ((angle >= var.lo - 1e-9) & (angle <= var.lo + var.width + 1e-9)).all()


def test_batched_equals_one_at_a_time():
    clouds = [asymmetric_cloud(120, seed=s) for s in range(3)]
    clouds[1] = clouds[1][:100]  # different sizes: padded and masked in the batch
    truths = [(axis_angle_matrix(np.random.default_rng(s).normal(size=3), 0.5 + s), T * s) for s in range(3)]
    targets = [moved(c, r, t) for c, (r, t) in zip(clouds, truths)]
    cfg = replace(SMALL, iterations=30, prune_at=20)
    batch = register_batch(clouds, targets, cfg, dtype=torch.float64)
    for i in range(3):
        one = register_batch([clouds[i]], [targets[i]], cfg, dtype=torch.float64)
        assert np.allclose(batch.rotation[i], one.rotation[0], atol=1e-6)
        assert np.allclose(batch.translation[i], one.translation[0], atol=1e-6)


def test_fft_search_finds_the_translation_of_each_rotation():
    p = asymmetric_cloud(300)
    p = (p - p.mean(0)) / np.linalg.norm(p - p.mean(0), axis=1).max() * 0.8
    t = np.array([0.31, -0.22, 0.4])
    q = torch.as_tensor(moved(p, R70, t))
    others = [axis_angle_matrix(np.random.default_rng(s).normal(size=3), 1.0 + 0.2 * s) for s in range(5)]
    rotations = torch.as_tensor(np.stack([R70] + others))
    shifts, heights = best_translations(torch.as_tensor(p), q, rotations, grid=32)
    cell = 3.0 / 32
    assert np.abs(shifts[0].numpy() - t).max() <= cell  # to one grid cell
    assert heights.argmax() == 0 and heights[0] > 0.5 * len(p)  # the true rotation overlaps the most
    with pytest.raises(FaceEditError, match="translation grid"):
        best_translations(torch.as_tensor(p), q, rotations, grid=4)


def test_translation_search_registers_far_apart_partial_views():
    """Two opposite 77 % caps of a shape turned by 150°: their centroids are apart, so groups that start at the
    centroid offset land in a flipped pose; starting each screened group at its FFT-correlation translation finds
    the true one."""
    d = np.array([1.0, 0.3, 0.2]) / np.linalg.norm([1.0, 0.3, 0.2])
    src = crop_along(asymmetric_cloud(400, seed=1), d, 0.77)
    r = axis_angle_matrix([0.3, -1.0, 0.6], math.radians(150))
    dst = moved(crop_along(asymmetric_cloud(400, seed=2), -d, 0.77), r, T)
    cfg = replace(SMALL, max_angle_deg=180, screen=512, groups=16, keep=4, translation_grid=24)
    found = register(src, dst, cfg)
    assert pair_errors(src, found.rotation[0], found.translation[0], r, T).rotation_deg < 12
    blind = register(src, dst, replace(cfg, translation_grid=0))
    assert pair_errors(src, blind.rotation[0], blind.translation[0], r, T).rotation_deg > 30


def test_tuned_settings_and_their_checks():
    assert tuned(45) == replace(FAST, max_angle_deg=45) and FAST.translation_grid > 0
    assert tuned(180) == replace(WIDE, max_angle_deg=180) and WIDE.screen > FAST.screen
    assert tuned(90) == replace(WIDE, max_angle_deg=90) and tuned(45.0) == replace(FAST, max_angle_deg=45.0)
    # without screening (e.g. `register --groups 512` lifts groups to the screen size) every group is searched
    p = asymmetric_cloud()
    unscreened = register(p, moved(p, R70, T), replace(SMALL, screen=0, translation_grid=24))
    assert pair_errors(p, unscreened.rotation[0], unscreened.translation[0], R70, T).rotation_deg < 2.0
    with pytest.raises(FaceEditError, match="translation_grid must be"):
        replace(FAST, translation_grid=500).check()
    assert settings("tuned", 45) == tuned(45) and settings("thesis", 90) == replace(THESIS, max_angle_deg=90)
    assert settings("quick", 45) == replace(QUICK, max_angle_deg=45)
    with pytest.raises(FaceEditError, match="settings must be one of"):
        settings("fastest")


def test_quick_setting_screens_on_coarse_points_without_adam_steps():
    """QUICK: no Adam steps, the screen on a 64-point subset, then ICP; a 40° turn of the asymmetric tube."""
    p = asymmetric_cloud(400)
    r40 = axis_angle_matrix([1.0, -0.5, 0.3], math.radians(40))
    reg = register(p, moved(p, r40, T), replace(QUICK, max_angle_deg=45))
    assert QUICK.iterations == 0 and QUICK.coarse_points < 400
    assert pair_errors(p, reg.rotation[0], reg.translation[0], r40, T).rotation_deg < 1.0


def test_trimmed_icp_on_padded_batches():
    """Two pairs of different sizes in one padded batch: each converges from 8° off to its own truth; the
    padding (masked-out rows) is never matched."""
    clouds = [asymmetric_cloud(150, seed=3), asymmetric_cloud(90, seed=4)]
    truth = [axis_angle_matrix([0, 0, 1], math.radians(20)), axis_angle_matrix([1, 0, 0], math.radians(-15))]
    n = max(len(c) for c in clouds)
    p = torch.zeros(2, n, 3, dtype=torch.float64)
    q = torch.full((2, n, 3), 100.0, dtype=torch.float64)  # padding far away: a match to it would ruin the fit
    mask = torch.zeros(2, n, dtype=torch.bool)
    for i, (c, r) in enumerate(zip(clouds, truth)):
        p[i, :len(c)] = torch.as_tensor(c)
        q[i, :len(c)] = torch.as_tensor(c @ r.T)
        mask[i, :len(c)] = True
    start = torch.as_tensor(np.stack([r @ axis_angle_matrix([0, 1, 0], math.radians(8)) for r in truth]))
    r, t = trimmed_icp(p, q, mask, mask, start, torch.zeros(2, 3, dtype=torch.float64), 30, 0.9)
    for i in range(2):
        assert rotation_error_deg(r[i].numpy(), truth[i]) < 0.5 and float(t[i].norm()) < 0.01


def test_metrics_on_known_cases():
    rz = axis_angle_matrix([0, 0, 1], math.radians(30))
    assert rotation_error_deg(rz, np.eye(3)) == pytest.approx(30.0)
    assert rotation_error_deg(rz, rz) == pytest.approx(0.0, abs=1e-6)
    assert rotation_error_deg(axis_angle_matrix([1, 1, 0], math.pi), np.eye(3)) == pytest.approx(180.0)
    p = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 2.0, 0]])
    e = pair_errors(p, np.eye(3), [0.3, 0.4, 0.0], np.eye(3), [0, 0, 0])
    assert e.translation == pytest.approx(0.5) and e.rmse == pytest.approx(0.5) and e.mse == pytest.approx(0.25)
    e = pair_errors(p, rz, [0, 0, 0], np.eye(3), [0, 0, 0])  # |R p − p| = 2 |p| sin 15°
    expect = np.mean((2 * np.linalg.norm(p, axis=1) * math.sin(math.radians(15))) ** 2)
    assert e.mse == pytest.approx(expect)
    assert recall(np.array([0.1, 0.19, 0.2, 0.5])) == 0.5
    s = summarise([e, e], [1.0, 3.0])
    assert s["pairs"] == 2 and s["seconds_per_pair"] == 2.0 and s["rot_median_deg"] == pytest.approx(30.0)


def test_symmetry_aware_metric_forgives_only_symmetries():
    """A torus turned half a turn about a diameter is the same shape placed the same way (within 5° up to
    symmetry, though 180° off); the asymmetric tube turned 30° is not; the truth itself is exact."""
    a = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    u, v = np.meshgrid(a, a[::2])
    torus = np.stack([(0.7 + 0.25 * np.cos(v)) * np.cos(u), (0.7 + 0.25 * np.cos(v)) * np.sin(u),
                      0.25 * np.sin(v)], -1).reshape(-1, 3)
    flip = axis_angle_matrix([1, 0, 0], math.pi)
    t = np.array([0.2, 0.0, -0.1])
    e = pair_errors(torus[:50], flip, t, np.eye(3), t, shape=torus)
    assert e.rotation_deg == pytest.approx(180.0) and e.rmse > 0.5
    assert e.shape_cd < 1e-6 and e.within_up_to_symmetry
    tube = asymmetric_cloud()
    r30 = axis_angle_matrix([0, 1, 1], math.radians(30))
    e = pair_errors(tube, r30, t, np.eye(3), t, shape=tube)
    assert e.shape_cd > e.shape_tolerance > 0 and e.within_up_to_symmetry is False
    exact = pair_errors(tube, r30, t, r30, t, shape=tube)
    assert exact.shape_cd == pytest.approx(0.0, abs=1e-6) and exact.within_up_to_symmetry
    three = axis_angle_matrix([0, 1, 1], math.radians(3))  # smaller than the 5° tolerance
    assert pair_errors(tube, three, t, np.eye(3), t, shape=tube).within_up_to_symmetry
    s = summarise([e, exact])
    assert s["within_up_to_symmetry"] == 0.5
    assert "within_up_to_symmetry" not in summarise([pair_errors(tube, r30, t, r30, t)])
    with pytest.raises(FaceEditError, match="shape must"):
        pair_errors(tube, r30, t, r30, t, shape=np.zeros((0, 3)))


def test_chamfer_variants():
    p = torch.tensor([[0.0, 0, 0], [1, 0, 0], [5, 0, 0]])
    q = torch.tensor([[0.0, 0.1, 0], [1, 0.1, 0]])
    # p→q: 0.1, 0.1, √(16+0.01); q→p: 0.1, 0.1
    far = math.sqrt(16.01)
    assert float(chamfer(p, q)) == pytest.approx((0.2 + far) / 3 + 0.1, rel=1e-5)
    # local: keep the 2/3 closest matches of p (ceil(0.6 · 3) = 2) and ceil(0.6 · 2) = 2 of q
    assert float(chamfer(p, q, alpha=0.6)) == pytest.approx(0.1 + 0.1, rel=1e-5)
    # projected on yz the x offsets vanish: p → (0,0) x3, q → (0.1, 0) x2
    assert float(projected_chamfer(p, q, "yz")) == pytest.approx(0.2, rel=1e-5)
    assert float(projected_chamfer(p, q, "xz")) == pytest.approx(4 / 3, rel=1e-5)  # x-z: (0,0),(1,0),(5,0)
    loss = hybrid_loss(p, q, alpha=0.6, beta=0.5, gamma=1.0)
    expect = 0.2 + 0.5 * (float(projected_chamfer(p, q, "xy")) + 0.2) + 4 / 3
    assert float(loss) == pytest.approx(expect, rel=1e-5)
    # masks: a padded point never counts
    mask_p = torch.tensor([True, True, False])
    assert float(chamfer(p, q, mask_p=mask_p)) == pytest.approx(0.2, rel=1e-5)
    assert float(trimmed_mean(torch.tensor([3.0, 1.0, 2.0, 9.0]), None, 0.5)) == pytest.approx(1.5)


def test_gradient_flows_through_the_hybrid_loss():
    p = torch.randn(2, 5, 30, 3, dtype=torch.float64, requires_grad=True)
    q = torch.randn(2, 1, 40, 3, dtype=torch.float64)
    hybrid_loss(p, q).sum().backward()
    assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_kabsch_recovers_a_similarity():
    p = torch.randn(4, 20, 3, dtype=torch.float64)
    r = rodrigues(torch.nn.functional.normalize(torch.randn(4, 3, dtype=torch.float64), dim=-1),
                  torch.rand(4, dtype=torch.float64) * 3)
    q = 2.5 * p @ r.transpose(-1, -2) + torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    r2, t2, s2 = kabsch(p, q, scale=True)
    assert torch.allclose(r2, r, atol=1e-9) and torch.allclose(s2, torch.full((4,), 2.5, dtype=torch.float64))


# ---- IO, CLI and bad input --------------------------------------------------------------------------------------

def test_cloud_files_round_trip(tmp_path):
    p = asymmetric_cloud(50)
    for suffix in (".xyz", ".npy", ".ply"):
        save_cloud(tmp_path / f"c{suffix}", p)
        back = load_cloud(tmp_path / f"c{suffix}").points
        assert np.allclose(back, p, atol=1e-5), suffix


def test_mesh_is_sampled_and_moved_as_a_mesh(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    box = trimesh.creation.box(extents=(1.0, 2.0, 3.0))
    box.export(tmp_path / "box.off")
    loaded = load_cloud(tmp_path / "box.off", mesh_points=500)
    assert loaded.points.shape == (500, 3) and loaded.mesh is not None
    assert np.abs(loaded.points).max(0) == pytest.approx([0.5, 1.0, 1.5], abs=1e-9)
    m = np.eye(4)
    m[:3, 3] = [10, 0, 0]
    save_cloud(tmp_path / "moved.stl", loaded.points, mesh=loaded.mesh, transform=m)
    again = trimesh.load(tmp_path / "moved.stl")
    assert again.bounds[0, 0] == pytest.approx(9.5)


def test_register_cli_round_trip(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from PIL import Image

    from faceedit.cli import main

    p = asymmetric_cloud()
    np.savetxt(tmp_path / "p.xyz", p)
    np.save(tmp_path / "q.npy", moved(p, R70, T))
    rc = main(["register", str(tmp_path / "p.xyz"), str(tmp_path / "q.npy"), "--json", "-o", str(tmp_path / "a.xyz"),
               "--png", str(tmp_path / "ba.png"), "--groups", "8", "--iterations", "60"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    out = json.loads(cap.out)
    assert rotation_error_deg(np.array(out["rotation"]), R70) < 2.0
    assert np.allclose(np.loadtxt(tmp_path / "a.xyz"), moved(p, R70, T), atol=0.02)
    assert np.array(out["matrix"]).shape == (4, 4) and out["angle_deg"] == pytest.approx(70, abs=2)
    with Image.open(tmp_path / "ba.png") as im:
        assert im.size[0] > 400 and im.getextrema() != ((255, 255),) * 3


def test_icp_without_scipy_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "scipy.spatial", None)  # import fails as if scipy were not installed
    p = asymmetric_cloud(60)
    with pytest.raises(FaceEditError, match=r"needs scipy: pip install 'faceedit\[geometry\]'"):
        register(p, moved(p, R70, T), replace(QUICK, screen=8))


def test_register_cli_settings(tmp_path, capsys):
    from faceedit.cli import main

    p = asymmetric_cloud(300)
    r30 = axis_angle_matrix([0.2, 1.0, 0.1], math.radians(30))
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "q.npy", moved(p, r30, T))
    rc = main(["register", str(tmp_path / "p.npy"), str(tmp_path / "q.npy"), "--settings", "quick", "--max-angle", "45",
               "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    out = json.loads(cap.out)
    assert out["settings"] == "quick" and rotation_error_deg(np.array(out["rotation"]), r30) < 1.0
    rc = main(["register", str(tmp_path / "p.npy"), str(tmp_path / "q.npy"), "--settings", "quick", "--groups", "2",
               "--max-angle", "45"])  # fewer groups than the setting's angle sub-spaces: the sub-spaces follow
    assert rc == 0, capsys.readouterr().err
    rc = main(["register", str(tmp_path / "p.npy"), str(tmp_path / "q.npy"), "--settings", "fastest"])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().count("\n") == 0 and "--settings must be one of tuned, quick, thesis" in err


@pytest.mark.parametrize("name,content,message", [
    ("empty.xyz", "", "empty"),
    ("nan.xyz", "0 0 0\n1 nan 0\n0 1 0\n", "NaN"),
    ("one.xyz", "1 2 3\n", "1 point"),
    ("words.xyz", "a b c\n", "not numbers"),
    ("broken.ply", "ply\nformat ascii 1.0\nelement vertex 9\nproperty float x\nend_header\n1\n", "cannot read"),
    ("same.xyz", "1 1 1\n1 1 1\n1 1 1\n", "coincide"),
    ("points.abc", "1 2 3\n", "unknown point-cloud format"),
])
def test_bad_clouds_fail_with_one_line(tmp_path, capsys, name, content, message):
    from faceedit.cli import main

    f = tmp_path / name
    f.write_text(content)
    good = tmp_path / "good.xyz"
    np.savetxt(good, asymmetric_cloud(20))
    with pytest.raises(FaceEditError, match=message):
        load_cloud(f)
    rc = main(["register", str(f), str(good)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_bad_arrays_and_sizes():
    with pytest.raises(FaceEditError, match="empty"):
        check_cloud(np.zeros((0, 3)))
    with pytest.raises(FaceEditError, match=r"\[N, 3\]"):
        check_cloud(np.zeros((5, 2)))
    with pytest.raises(FaceEditError, match="NaN"):
        register(np.array([[0, 0, 0], [1, 0, 0], [0, np.nan, 0], [0, 0, 1.0]]), asymmetric_cloud(10), SMALL)
    with pytest.raises(FaceEditError, match="mismatched sizes"):
        register_batch([asymmetric_cloud(10), asymmetric_cloud(10)], [asymmetric_cloud(10)], SMALL)
    with pytest.raises(FaceEditError, match="mismatched sizes"):
        register(asymmetric_cloud(10), asymmetric_cloud(12), replace(SMALL, loss="matched"))
    with pytest.raises(FaceEditError, match="groups"):
        register(asymmetric_cloud(10), asymmetric_cloud(10), SMALL, groups=0)
    with pytest.raises(FaceEditError, match="unknown HOUV setting"):
        register(asymmetric_cloud(10), asymmetric_cloud(10), SMALL, colour=1)
