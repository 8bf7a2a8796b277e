"""faceedit directions import: InterfaceGAN .npy, e4e .pt, GANSpace .npz, StyleSpace channel lists."""

import json
import os

import numpy as np
import pytest
import torch

from _edit_helpers import tiny_model
from faceedit.cli import main
from faceedit.edit.direction_import import import_direction, import_file, read_channel_list
from faceedit.edit.directions import DirectionSet, read_folder
from faceedit.edit.stylespace import read_channels_json
from faceedit.errors import FaceEditError


@pytest.fixture(scope="module")
def model():
    return tiny_model(32)


def _ws(model, n=3):
    return model.map(torch.randn(n, model.z_dim, generator=torch.Generator().manual_seed(5)))


def test_interfacegan_boundary_applies_to_every_layer(tmp_path, model):
    rng = np.random.RandomState(0)
    v = rng.randn(1, 32)  # InterfaceGAN saves (1, w_dim); not necessarily unit norm here
    np.save(tmp_path / "smile_boundary.npy", v)
    d = import_direction(tmp_path / "smile_boundary.npy", "smiling", model, units="raw")
    assert d.space == "w" and d.vector.shape == (32,) and np.isclose(np.linalg.norm(d.vector), 1)
    ws = _ws(model)
    edited = DirectionSet([d]).apply(ws, {"smiling": 2.0})
    expected = ws + 2.0 * torch.from_numpy(v.astype(np.float32))[None]  # raw units: w + α·boundary, all layers
    assert torch.allclose(edited, expected, atol=1e-5)


def test_sigma_units_are_the_std_of_the_models_projections(tmp_path, model):
    v = np.zeros((1, 32))
    v[0, 3] = 1.0
    np.save(tmp_path / "b.npy", v)
    d = import_direction(tmp_path / "b.npy", "age", model)
    w = model.map(torch.randn(10_000, 32, generator=torch.Generator().manual_seed(0)))[:, 0]
    assert d.scale == pytest.approx(float(w[:, 3].std()), rel=1e-4)
    assert d.meta["model_sha256"] == model.sha256 and d.meta["format"] == "interfacegan"


def test_e4e_pt_tensor_equals_the_npy_import(tmp_path, model):
    v = np.random.RandomState(1).randn(1, 32).astype(np.float32)
    np.save(tmp_path / "age.npy", v)
    torch.save(torch.from_numpy(v), tmp_path / "age.pt")
    a = import_direction(tmp_path / "age.npy", "age", model, units="raw")
    b = import_direction(tmp_path / "age.pt", "age", model, units="raw")
    assert np.allclose(a.vector, b.vector) and a.scale == pytest.approx(b.scale)


def test_wrong_width_and_layer_count_are_clear_errors(tmp_path, model):
    np.save(tmp_path / "wide.npy", np.ones((1, 512)))
    with pytest.raises(FaceEditError, match="width 512; model tiny32 has w_dim 32"):
        import_direction(tmp_path / "wide.npy", "smiling", model)
    np.save(tmp_path / "layers.npy", np.ones((18, 32)))
    with pytest.raises(FaceEditError, match="18 w\\+ layers; model tiny32 has 8"):
        import_direction(tmp_path / "layers.npy", "smiling", model)
    np.save(tmp_path / "zero.npy", np.zeros((1, 32)))
    with pytest.raises(FaceEditError, match="zero or not finite"):
        import_direction(tmp_path / "zero.npy", "smiling", model)


def test_ganspace_component_on_some_layers(tmp_path, model):
    rng = np.random.RandomState(2)
    comp = rng.randn(5, 1, 32)
    comp /= np.linalg.norm(comp, axis=-1, keepdims=True)
    std = np.array([3.0, 2.0, 1.5, 1.0, 0.5])
    np.savez(tmp_path / "ganspace.npz", lat_comp=comp, lat_stdev=std, lat_mean=np.zeros((1, 32)),
             act_comp=np.zeros((5, 1, 8)))
    d = import_direction(tmp_path / "ganspace.npz", "pose", model, component=2, layers="0-3", units="raw")
    assert d.space == "wplus" and d.vector.shape == (model.num_ws, 32)
    ws = _ws(model)
    edited = DirectionSet([d]).apply(ws, {"pose": 2.0})
    delta = (edited - ws)[0]
    want = torch.from_numpy((2.0 * std[2] * comp[2, 0]).astype(np.float32))  # GANSpace: w += s·σ·comp
    assert torch.allclose(delta[:4], want.expand(4, -1), atol=1e-5)
    assert torch.equal(delta[4:], torch.zeros_like(delta[4:]))
    with pytest.raises(FaceEditError, match="choose one with --component \\(0-4\\)"):
        import_direction(tmp_path / "ganspace.npz", "pose", model)
    with pytest.raises(FaceEditError, match="--component 9 is out of range"):
        import_direction(tmp_path / "ganspace.npz", "pose", model, component=9)
    np.savez(tmp_path / "other.npz", x=np.ones(3))
    with pytest.raises(FaceEditError, match="not a GANSpace component file"):
        import_direction(tmp_path / "other.npz", "pose", model, component=0)


def test_stylespace_channel_list(tmp_path, model):
    layers = model.style_layers
    (tmp_path / "smile.txt").write_text("# StyleSpace: smile\n6_3\n-2:1 0.5\n")
    sd = read_channel_list(tmp_path / "smile.txt", layers)
    assert [str(c) for c in sd.channels] == ["6:3", "2:1"]
    assert np.allclose(sd.weights, np.array([1.0, -0.5]) / np.linalg.norm([1.0, 0.5]))
    written, _ = import_file(tmp_path / "smile.txt", "smile", model, out=tmp_path / "d")
    back = read_channels_json(written.read_text())
    assert back.channels == sd.channels and np.allclose(back.weights, sd.weights)
    (tmp_path / "bad.txt").write_text("6_3\nsmile please\n")
    with pytest.raises(FaceEditError, match="bad.txt:2"):
        read_channel_list(tmp_path / "bad.txt", layers)
    (tmp_path / "far.txt").write_text("99_3\n")
    with pytest.raises(FaceEditError, match="StyleSpace layers 0-"):
        read_channel_list(tmp_path / "far.txt", layers)


def test_pt_with_code_is_refused(tmp_path, model):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"direction": torch.ones(1, 32), "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(FaceEditError, match="not allowed"):
        import_direction(tmp_path / "evil.pt", "age", model)
    assert not marker.exists()


def test_cli_import_then_edit(tmp_path, capsys):
    """The default model (w_dim 256): import a boundary, list it, edit with it; a wrong width is one error line."""
    np.save(tmp_path / "b.npy", np.random.RandomState(3).randn(1, 256))
    d = tmp_path / "dirs"
    assert main(["directions", "import", str(tmp_path / "b.npy"), "--attr", "glow", "-o", str(d)]) == 0
    assert (d / "glow.w.npy").is_file() and json.loads((d / "glow.w.json").read_text())["format"] == "interfacegan"
    assert read_folder(d).get("glow").vector.shape == (256,)
    assert main(["edit", "--seed", "4", "--glow", "2", "--directions", str(d), "-o", str(tmp_path / "e.png")]) == 0
    assert (tmp_path / "e.png").is_file()
    np.save(tmp_path / "wide.npy", np.ones((1, 512)))
    capsys.readouterr()
    assert main(["directions", "import", str(tmp_path / "wide.npy"), "--attr", "glow", "-o", str(d)]) != 0
    err = capsys.readouterr().err
    assert "error:" in err and "width 512" in err and "Traceback" not in err
