"""Image2StyleGAN++'s masked embedding (invert --mask, inpaint, crossover --mask) and the Z space (inversion in z,
edits along z directions, conditional ones included)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.cli import main
from faceedit.edit.directions import Direction, DirectionSet
from faceedit.errors import FaceEditError
from faceedit.invert.masked import blend, crossover_by_mask, inpaint, psnr_in_mask
from faceedit.invert.optimize import optimize_latents
from faceedit.invert.photos import invert_images
from faceedit.media import to_uint8

from _edit_helpers import box_mask, use_tiny_default

RES = 32
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def tiny(monkeypatch):
    return use_tiny_default(monkeypatch, RES)


def _faces(model, seeds=(3, 4)):
    with torch.no_grad():
        return model.synthesize(model.map(model.z_from_seeds(list(seeds)), 0.7))


def test_pixels_outside_the_mask_do_not_count(tiny):
    x = _faces(tiny)
    mask = box_mask(RES)[None, None]
    scrambled = torch.where(mask.bool(), x, torch.rand_like(x) * 2 - 1)  # garbage outside the mask
    a = optimize_latents(tiny, x, steps=15, mask=mask)
    b = optimize_latents(tiny, scrambled, steps=15, mask=mask)
    assert torch.equal(a.ws, b.ws)
    c = optimize_latents(tiny, scrambled, steps=15)  # without the mask the garbage pulls the code away
    assert not torch.allclose(a.ws, c.ws)
    with pytest.raises(FaceEditError, match="empty"):
        optimize_latents(tiny, x, steps=1, mask=torch.zeros(1, 1, RES, RES))


def test_inpaint_keeps_known_pixels_and_fills_the_hole_better_than_grey(tiny):
    x = _faces(tiny, (5,))
    target_ws = tiny.map(tiny.z_from_seeds([5]), 0.7)
    hole = box_mask(RES)[None, None]
    res = inpaint(tiny, x * (1 - hole), hole, steps=150)
    assert torch.allclose(res.images * (1 - hole), x * (1 - hole), atol=1e-6)  # the known pixels, untouched
    assert res.ws.shape == target_ws.shape
    # the generator knows what belongs in the hole: better than the grey it was given
    assert float(psnr_in_mask(res.images, x, hole)) > float(psnr_in_mask(x * (1 - hole), x, hole)) + 3


def test_crossover_by_mask_takes_each_region_from_its_face(tiny):
    a, b = _faces(tiny, (1,)), _faces(tiny, (2,))
    region = box_mask(RES)[None, None]
    res = crossover_by_mask(tiny, a, b, region, steps=150, init_ws=tiny.map(tiny.z_from_seeds([1]), 0.7))
    inside, outside = region, 1 - region
    err = lambda p, q, m: float(((p - q).square() * m).sum() / m.sum())  # noqa: E731
    assert err(res.images, b, inside) < err(res.images, a, inside)
    assert err(res.images, a, outside) < err(res.images, b, outside)
    with pytest.raises(FaceEditError, match="whole face"):
        crossover_by_mask(tiny, a, b, torch.ones(1, 1, RES, RES), steps=1)


def test_blend_and_psnr_in_mask():
    a, b = torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 4, 4)
    m = torch.zeros(1, 1, 8, 8)
    m[..., :4, :] = 1
    out = blend(a, b, m)
    assert float(out[..., :4, :].min()) == 1.0 and float(out[..., 4:, :].max()) == 0.0
    assert float(psnr_in_mask(out, torch.ones(1, 3, 8, 8), m)) > 90  # identical where it counts
    assert float(psnr_in_mask(out, torch.ones(1, 3, 8, 8), 1 - m)) == pytest.approx(10 * np.log10(4.0), abs=1e-4)


def test_inversion_in_z_maps_its_z_and_w_plus_fits_best(tiny):
    x = _faces(tiny, (6, 7))
    got = {sp: optimize_latents(tiny, x, space=sp, steps=60, perceptual=None) for sp in ("z", "w", "w+")}
    z = got["z"].z
    assert z.shape == (2, tiny.z_dim) and got["w"].z is None
    assert torch.allclose(got["z"].ws, tiny.G.mapping(z).detach(), atol=1e-5)
    mse = {sp: float(r.losses["mse"].mean()) for sp, r in got.items()}
    assert mse["w+"] < mse["z"]  # Image2StyleGAN's finding, on a tiny generator
    with pytest.raises(FaceEditError, match="optimize method only"):
        invert_images(tiny, x, method="hybrid", space="z", perceptual=None)


def _z_directions(model) -> DirectionSet:
    rng = np.random.RandomState(0)
    dirs = []
    for name in ("smiling", "male"):
        v = rng.randn(model.z_dim).astype(np.float32)
        dirs.append(Direction(name=name, space="z", vector=v / np.linalg.norm(v), scale=1.0, meta={}))
        w = rng.randn(model.w_dim).astype(np.float32)
        dirs.append(Direction(name=name, space="w", vector=w / np.linalg.norm(w), scale=1.0, meta={}))
    return DirectionSet(dirs)


def test_z_edits_move_z_and_conditional_ones_leave_the_kept_direction_alone(tiny):
    ds = _z_directions(tiny)
    z = tiny.z_from_seeds([1, 2])
    out = ds.apply_z(z, {"smiling": 2.0})
    assert torch.allclose(out - z, torch.from_numpy(2.0 * ds.get("smiling", "z").vector)[None].expand(2, -1))
    cond = ds.apply_z(z, {"smiling": 2.0}, keep=["male"])
    male = torch.from_numpy(ds.get("male", "z").vector)
    assert abs(float((cond - z)[0] @ male)) < 1e-5  # no movement along the kept attribute
    assert float((cond - z)[0] @ torch.from_numpy(ds.get("smiling", "z").vector)) > 1.0
    with pytest.raises(FaceEditError, match="no edit"):
        ds.apply_z(z, {})


def _save_dirs(ds: DirectionSet, folder: Path) -> Path:
    ds.save(folder)
    return folder


def test_edit_cli_in_z_for_seeds_and_z_inverted_faces(tiny, tmp_path, capsys):
    folder = _save_dirs(_z_directions(tiny), tmp_path / "dirs")
    out, lat = tmp_path / "z.png", tmp_path / "z.npz"
    assert main(["edit", "--seed", "3", "--smiling", "2", "--space", "z", "--directions", str(folder), "--force",
                 "-o", str(out), "--save-latents", str(lat)]) == 0, capsys.readouterr().err
    with np.load(lat) as f:
        ws = torch.from_numpy(f["ws"])
    ds = _z_directions(tiny)
    want = tiny.map(ds.apply_z(tiny.z_from_seeds([3]), {"smiling": 2.0}), 0.7)
    assert torch.allclose(ws, want, atol=1e-5)
    # a face inverted in z keeps its z in the .npz, so it can be edited in z too
    face = tmp_path / "face.png"
    Image.fromarray(to_uint8(_faces(tiny, (9,)))[0]).save(face)
    inv = tmp_path / "inv.npz"
    assert main(["invert", str(face), "--aligned", "--method", "optimize", "--space", "z", "--steps", "5",
                 "--perceptual", "none", "-q", "-o", str(inv)]) == 0, capsys.readouterr().err
    with np.load(inv) as f:
        assert f["z"].shape == (1, tiny.z_dim)
    assert main(["edit", str(inv), "--smiling", "1", "--keep", "male", "--space", "z", "--directions", str(folder),
                 "--force", "-o", str(out)]) == 0, capsys.readouterr().err
    # a w+ latent has no z: a clear error
    assert main(["edit", str(lat), "--smiling", "1", "--space", "z", "--directions", str(folder), "--force",
                 "-o", str(out)]) == 2
    assert "needs the face's z" in capsys.readouterr().err


def test_inpaint_and_crossover_cli(tiny, tmp_path, capsys):
    faces = to_uint8(_faces(tiny, (3, 4)))
    paths = []
    for i, img in enumerate(faces):
        paths.append(tmp_path / f"f{i}.png")
        Image.fromarray(img).save(paths[-1])
    hole = (box_mask(64).numpy() * 255).astype(np.uint8)  # any size: resized to each face
    Image.fromarray(hole).save(tmp_path / "hole.png")
    out = tmp_path / "filled"
    assert main(["inpaint", *map(str, paths), str(tmp_path / "missing.png"), "--mask", str(tmp_path / "hole.png"),
                 "--steps", "5", "--perceptual", "none", "-q", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "skip:" in err and "missing.png" in err
    filled = np.asarray(Image.open(out / "f0.png"))
    near = torch.nn.functional.max_pool2d(box_mask(RES)[None, None], 3, 1, 1)[0, 0]  # the hole's soft edge too
    keep = near.numpy() == 0
    assert np.abs(filled[keep].astype(int) - faces[0][keep].astype(int)).max() <= 1
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "black.png")
    assert main(["inpaint", str(paths[0]), "--mask", str(tmp_path / "black.png"), "-o", str(tmp_path / "x.png")]) == 2
    assert "is empty (no white pixels)" in capsys.readouterr().err
    cross = tmp_path / "cross.png"
    assert main(["crossover", "3", "4", "--mask", str(tmp_path / "hole.png"), "--steps", "3", "-o", str(cross)]) == 0
    assert np.asarray(Image.open(cross)).shape == (RES, RES, 3)
    assert main(["crossover", "3", "4", "--k", "2", "--mask", str(tmp_path / "hole.png"), "-o", str(cross)]) == 2
    assert main(["invert", str(paths[0]), "--aligned", "--mask", str(tmp_path / "hole.png"), "--method", "pivotal",
                 "-o", str(tmp_path / "p.npz"), "-q"]) == 2
    assert "masked inversion works with" in capsys.readouterr().err
