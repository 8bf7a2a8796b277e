"""Layer names, face resolution, style mixing, crossover, expression transfer, the mixing grid and morphing."""

import numpy as np
import pytest
import torch

from faceedit.edit import (crossover, expression_transfer, group_range, mix, mixing_grid, morph_latents,
                           parse_channel, parse_layers, slerp, w_index_of_style_layer)
from faceedit.edit.morph import morph_times
from faceedit.errors import FaceEditError
from faceedit.face import resolve_face
from faceedit.latents import save_latents
from faceedit.media import to_uint8
from faceedit.nn import Generator, GeneratorConfig

from _edit_helpers import tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model(64)  # 10 w+ entries


@pytest.fixture(scope="module")
def faces(model):
    return model.map(model.z_from_seeds([1, 2, 3]), 0.7)


def test_layer_groups_follow_resolution():
    # w+ index i drives about 2**(i//2 + 2) px: coarse 4-8 px, middle 16-32 px, fine 64 px and up
    for num_ws in (10, 12, 14, 18):  # 64, 128, 256, 1024 px
        assert list(group_range("coarse", num_ws)) == [0, 1, 2, 3]
        assert list(group_range("middle", num_ws)) == [4, 5, 6, 7]
        assert list(group_range("fine", num_ws)) == list(range(8, num_ws))
        res = [2 ** (i // 2 + 2) for i in group_range("fine", num_ws)]
        assert min(res) == 64
    for num_ws in (6, 8):  # below 64 px: proportional split, all non-empty, covering every entry
        groups = [list(group_range(g, num_ws)) for g in ("coarse", "middle", "fine")]
        assert all(groups) and sum(groups, []) == list(range(num_ws))


def test_parse_layers():
    assert parse_layers("fine", 18) == list(range(8, 18))
    assert parse_layers("4-7", 18) == [4, 5, 6, 7]
    assert parse_layers("0-3,10-", 14) == [0, 1, 2, 3, 10, 11, 12, 13]
    assert parse_layers("coarse,9", 12) == [0, 1, 2, 3, 9]
    assert parse_layers("all", 10) == list(range(10))
    for bad in ["", "7-3", "x", "0-18", "huge"]:
        with pytest.raises(FaceEditError):
            parse_layers(bad, 18)


def test_published_channel_ids_index_all_stylespace_layers():
    # Layer names do not depend on width: a 1024-px config with tiny channels has the real 26-layer list.
    G = Generator(GeneratorConfig(z_dim=8, w_dim=8, resolution=1024, channel_base=1024, channel_max=2,
                                  mapping_layers=1))
    layers = G.style_layers
    assert len(layers) == 26 and G.num_ws == 18
    names = [n for n, _ in layers]
    assert names[parse_channel("6:1", layers).layer] == "b16.conv1"   # 6:501 smile
    assert names[parse_channel("9:1", layers).layer] == "b32.conv1"   # 9:6 gender
    assert names[parse_channel("15:1", layers).layer] == "b128.conv1"  # 15:45 lipstick
    assert parse_channel("b16.conv1:1", layers).layer == 6
    # each ToRGB shares the next conv's w+ entry; the last ToRGB has the last entry
    assert [w_index_of_style_layer(layers, i) for i in range(4)] == [0, 1, 1, 2]
    assert w_index_of_style_layer(layers, 25) == 17
    for bad in ["6", "26:0", "6:2", "x:1", "6:a"]:
        with pytest.raises(FaceEditError):
            parse_channel(bad, layers)


def test_mix_fine_keeps_coarse_and_middle(model, faces):
    a, b = faces[:1], faces[1:2]
    out = mix(a, b, "fine")
    assert torch.equal(out[:, :8], a[:, :8]) and torch.equal(out[:, 8:], b[:, 8:])
    # in StyleSpace: every layer fed by a coarse/middle entry is A's, every fine one B's
    sa, sb, so = model.to_styles(a), model.to_styles(b), model.to_styles(out)
    for i in range(len(so)):
        src = sa if w_index_of_style_layer(model.style_layers, i) < 8 else sb
        assert torch.allclose(so[i], src[i])
    assert not torch.equal(out, a) and torch.equal(a, faces[:1])  # inputs untouched
    # coarse mixing takes B's first four entries
    assert torch.equal(mix(a, b, "coarse")[:, :4], b[:, :4])
    assert torch.equal(mix(a, b, "0-3,8-")[:, 4:8], a[:, 4:8])


def test_crossover(faces):
    a, b = faces[:1], faces[1:2]
    for k in (0, 3, 10):
        out = crossover(a, b, k)
        assert torch.equal(out[:, :k], a[:, :k]) and torch.equal(out[:, k:], b[:, k:])
    assert torch.equal(crossover(a, b, 0), b) and torch.equal(crossover(a, b, 10), a)
    with pytest.raises(FaceEditError):
        crossover(a, b, 11)


def test_expression_transfer(faces):
    t, f, s = faces[:1], faces[1:2], faces[2:3]
    out = expression_transfer(t, f, s, 0.5, "middle")
    assert torch.allclose(out[:, 4:8] - t[:, 4:8], 0.5 * (s[:, 4:8] - f[:, 4:8]), atol=1e-6)
    assert torch.equal(out[:, :4], t[:, :4]) and torch.equal(out[:, 8:], t[:, 8:])
    assert torch.equal(expression_transfer(t, f, s, 0.0), t)
    # moving the 'from' face by the full difference lands on the 'to' face
    assert torch.allclose(expression_transfer(f, f, s, 1.0), s, atol=1e-6)


def _same(a, b):  # uint8 images equal up to batch-dependent float rounding
    return a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 2


def test_mixing_grid_layout(model, faces):
    rows, cols = faces[:2], faces[1:3]
    grid = mixing_grid(model, rows, cols, "coarse")
    assert grid.shape == (9, 64, 64, 3)
    assert (grid[0] == 255).all()
    assert _same(grid[1:3], to_uint8(model.synthesize(cols)))
    assert _same(grid[3], to_uint8(model.synthesize(rows[:1]))[0])
    cell = to_uint8(model.synthesize(mix(rows[0:1], cols[1:2], "coarse")))[0]
    assert _same(grid[5], cell)  # row 0, column 1: row face 0 with column face 1's coarse layers
    assert not _same(grid[5], grid[3]) and not _same(grid[5], grid[2])


def test_morph_w_and_z(model, faces):
    a, b = faces[:1], faces[1:2]
    ws = morph_latents(model, a, b, steps=5)
    assert ws.shape == (5, 10, 32)
    assert torch.allclose(ws[0], a[0]) and torch.allclose(ws[-1], b[0])
    d = [float((w - a[0]).norm()) for w in ws]
    assert all(x < y for x, y in zip(d, d[1:]))
    assert torch.allclose(ws[2], (a[0] + b[0]) / 2, atol=1e-6)
    za, zb = model.z_from_seeds([1]), model.z_from_seeds([2])
    wz = morph_latents(model, space="z", z_a=za, z_b=zb, steps=4, truncation=0.7)
    assert torch.allclose(wz[0], a[0], atol=1e-5) and torch.allclose(wz[-1], b[0], atol=1e-5)
    with pytest.raises(FaceEditError):
        morph_latents(model, a, b, space="z")  # no z for these
    t = morph_times(5, ease=True)
    assert t[0] == 0 and t[-1] == 1 and np.all(np.diff(t) > 0)


def test_slerp_stays_on_the_sphere():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 64, generator=g), torch.randn(1, 64, generator=g)
    b = b / b.norm() * a.norm()
    for t in (0.0, 0.3, 0.5, 1.0):
        assert torch.allclose(slerp(a, b, t).norm(), a.norm(), rtol=1e-5)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    mid = slerp(a, b, 0.5)
    assert torch.allclose((mid - a).norm(), (mid - b).norm(), rtol=1e-4)


def test_resolve_faces(model, tmp_path):
    w12 = model.map(model.z_from_seeds([12]), 0.7)
    for spec in ("12", "seed:12", "SEED12", 12):
        assert torch.allclose(resolve_face(spec, model).ws, w12)
    f = resolve_face("seed:12", model, truncation=1.0)
    assert f.z is not None and torch.allclose(f.ws, model.map(model.z_from_seeds([12]), 1.0))
    ws = model.map(model.z_from_seeds([4, 5]), 0.7)
    path = save_latents(tmp_path / "l.npz", ws.numpy(), model=model)
    assert torch.allclose(resolve_face(str(path), model).ws, ws[:1])
    assert torch.allclose(resolve_face(f"{path}#1", model).ws, ws[1:2])
    assert resolve_face(str(path), model).z is None
    np.save(tmp_path / "w.npy", ws[0, 0].numpy())  # a single w → broadcast to w+
    assert torch.allclose(resolve_face(str(tmp_path / "w.npy"), model).ws, ws[:1, :1].expand(1, 10, 32))
    photo = tmp_path / "me.jpg"
    photo.write_bytes(b"x")
    with pytest.raises(FaceEditError, match="not an image"):  # photos go through faceedit.invert.invert_photo
        resolve_face(str(photo), model)
    bad = save_latents(tmp_path / "bad.npz", np.zeros((1, 12, 32), np.float32))
    for spec in (str(bad), f"{path}#7", "nothing.txt", str(tmp_path / "missing.npz")):
        with pytest.raises(FaceEditError):
            resolve_face(spec, model)
