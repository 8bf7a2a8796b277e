"""Pivotal tuning: per-sample parameters in the synthesis layers, tuning, storage in latent files, CLI use."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image
from torch.func import functional_call

import faceedit.invert as inv_mod
from faceedit import api
from faceedit.cli import main
from faceedit.errors import FaceEditError
from faceedit.invert import encoder as E
from faceedit.invert import invert_images
from faceedit.invert.pivotal import TunedSynthesis, read_tuned, tune_synthesis
from faceedit.media import to_uint8

from _edit_helpers import tiny_model

RES = 32
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _offsets(S, n: int, scale: float = 0.05, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn((n, *p.shape), generator=g) * scale for k, p in S.named_parameters()}


def _targets(m, seeds=(5, 6)):
    """Faces the generator cannot draw exactly: its own images with a coloured stripe painted over."""
    with torch.no_grad():
        x = m.synthesize(m.map(m.z_from_seeds(list(seeds)), 0.7)).clamp(-1, 1)
    x[:, 0, RES // 3:RES // 2] = 0.8
    return x


def test_per_sample_parameters_equal_one_network_per_image():
    m = tiny_model(RES)
    S = m.G.synthesis
    ws = m.map(m.z_from_seeds([1, 2, 3]), 1.0)
    offs = _offsets(S, 3)
    with torch.no_grad():
        batched = functional_call(S, {k: p + offs[k] for k, p in S.named_parameters()}, (ws,),
                                  {"noise_mode": "const"})
        tuned = TunedSynthesis([{k: v[j] for k, v in offs.items()} for j in range(3)], m.sha256)
        single = torch.cat([tuned.synthesize(m, j, ws[j:j + 1]) for j in range(3)])
        zero = functional_call(S, {k: p + 0 * offs[k] for k, p in S.named_parameters()}, (ws,),
                               {"noise_mode": "const"})
        plain = S(ws, noise_mode="const")
    assert torch.allclose(batched, single, atol=1e-4)
    assert torch.allclose(zero, plain, atol=1e-4)
    assert (batched - plain).abs().max() > 0.05  # the offsets do change the images
    # with autograd on (the training layout), the same function
    with torch.enable_grad():
        again = functional_call(S, {k: p + offs[k] for k, p in S.named_parameters()}, (ws,),
                                {"noise_mode": "const"})
    assert torch.allclose(again.detach(), batched, atol=1e-4)


def test_tuning_reconstructs_better_than_the_pivot_and_leaves_the_model_alone():
    m = tiny_model(RES)
    x = _targets(m)
    pivot = m.G.mapping.w_avg[None, None].expand(2, m.num_ws, -1).clone()
    before = {k: v.clone() for k, v in m.G.state_dict().items()}
    tuned = tune_synthesis(m, x, pivot, steps=40, lr=7e-3, perceptual=None)
    assert all(torch.equal(before[k], v) for k, v in m.G.state_dict().items())
    assert torch.equal(tuned.ws, pivot)  # latent_lr 0: the pivot stays
    with torch.no_grad():
        plain = m.synthesize(pivot)
    rec = torch.cat([tuned.synthesize(m, j, pivot[j:j + 1]) for j in range(2)])
    mse_pivot = (plain - x).square().mean()
    mse_tuned = (rec - x).square().mean()
    assert mse_tuned < 0.5 * mse_pivot
    # photos are tuned independently: tuning photo 1 alone gives its row of the batch
    alone = tune_synthesis(m, x[1:], pivot[1:], steps=40, lr=7e-3, perceptual=None)
    rec1 = alone.synthesize(m, 0, pivot[1:])
    assert torch.allclose(rec1, rec[1:], atol=2e-3)
    # the pivot moves with latent_lr > 0
    moved = tune_synthesis(m, x, pivot, steps=5, lr=7e-3, latent_lr=0.05, perceptual=None)
    assert not torch.allclose(moved.ws, pivot)


def test_arrays_roundtrip_model_view_and_generator_check(tmp_path):
    m = tiny_model(RES)
    m = api.Model(G=m.G, name="tiny", sha256="a" * 64)
    x = _targets(m)
    pivot = m.map(m.z_from_seeds([3, 4]), 0.7)
    tuned = tune_synthesis(m, x, pivot, steps=3, lr=1e-2, perceptual=None)
    path = tmp_path / "t.npz"
    np.savez(path, ws=pivot.numpy(), **tuned.to_arrays())
    back = read_tuned(path)
    assert len(back) == 2 and back.sha256 == m.sha256 and back.steps == 3
    for j in range(2):
        a, b = tuned.synthesize(m, j, pivot[j:j + 1]), back.synthesize(m, j, pivot[j:j + 1])
        assert torch.allclose(a, b, atol=2e-3)  # fp16 offsets
    view = back.model(m, 1)
    assert view.sha256 == m.sha256 and view.name == m.name and view.G.mapping is m.G.mapping
    assert torch.allclose(view.synthesize(pivot[1:]), back.synthesize(m, 1, pivot[1:]))
    assert not torch.allclose(view.synthesize(pivot[1:]), m.synthesize(pivot[1:]))
    other = api.Model(G=m.G, name="other", sha256="c" * 64)
    with pytest.raises(FaceEditError, match="belong to generator"):
        back.model(other, 0)
    with pytest.raises(FaceEditError, match="photo 2"):
        back.model(m, 2)
    narrow = api.Model(G=tiny_model(RES, channel_max=16).G, name="narrow", sha256=m.sha256)
    with pytest.raises(FaceEditError, match="do not fit"):
        back.synthesize(narrow, 0, pivot[:1])
    np.savez(tmp_path / "plain.npz", ws=pivot.numpy())
    assert read_tuned(tmp_path / "plain.npz") is None


def test_pivotal_method_with_and_without_an_encoder(monkeypatch):
    m = tiny_model(RES)
    torch.manual_seed(0)
    enc = E.Encoder(E.EncoderConfig.for_model(m, stem=8, channels=[8, 16, 16], pyramid=16, head_channels=4),
                    m.G.mapping.w_avg)
    x = _targets(m)
    first = invert_images(m, x, method="encoder", encoder=enc)
    inv = invert_images(m, x, method="pivotal", encoder=enc, steps=30, perceptual=None)
    assert inv.method == "pivotal" and inv.tuned is not None and len(inv.tuned) == 2
    assert float(inv.losses["mse"].mean()) < 0.7 * float(first.losses["mse"].mean())
    rec = torch.cat([inv.tuned.synthesize(m, j, inv.ws[j:j + 1]) for j in range(2)])
    assert torch.allclose(rec, inv.reconstruction, atol=1e-5)
    with pytest.raises(FaceEditError, match="noise"):
        invert_images(m, x, method="pivotal", encoder=enc, steps=2, optimize_noise=True)
    # no encoder for this generator: the pivot comes from a (here very short) optimisation, with a note
    monkeypatch.setitem(inv_mod.METHODS, "optimize", dataclasses.replace(inv_mod.METHODS["optimize"], steps=3))
    inv2 = invert_images(m, x[:1], method="pivotal", steps=2, perceptual=None)
    assert inv2.method == "pivotal" and "pivot comes from optimisation" in inv2.notes[0]


def test_cli_invert_pivotal_and_edit_its_latent_file(tmp_path, monkeypatch, capsys):
    """`invert --method pivotal` stores the tuned weights; `edit FILE.npz#N` draws with them."""
    m = api.Model(G=tiny_model(RES).G, name="tiny", sha256="b" * 64)
    monkeypatch.setattr(api, "load", lambda *a, **k: m)
    enc = tmp_path / "enc.safetensors"
    torch.manual_seed(0)
    E.save_encoder(enc, E.Encoder(E.EncoderConfig.for_model(m, stem=8, channels=[8, 16, 16], pyramid=16,
                                                             head_channels=4), m.G.mapping.w_avg), m)
    faces = to_uint8(_targets(m))
    paths = []
    for i, im in enumerate(faces):
        paths.append(tmp_path / f"f{i}.png")
        Image.fromarray(im).save(paths[-1])
    lat = tmp_path / "lat.npz"
    assert main(["invert", *map(str, paths), "--aligned", "--method", "pivotal", "--steps", "20", "--encoder",
                 str(enc), "--perceptual", "none", "--batch", "1", "-o", str(lat), "--previews", "--quiet"]) == 0, \
        capsys.readouterr().err  # two batches of one: their tuned weights are joined
    tuned = read_tuned(lat)
    assert tuned is not None and len(tuned) == 2 and tuned.sha256 == m.sha256
    with np.load(lat) as z:
        assert str(z["method"]) == "pivotal"
    from faceedit.face import resolve_face

    face = resolve_face(f"{lat}#1", m)  # how every command draws a face given as a latent file row
    img = face.render()[0]
    shown = np.asarray(Image.open(tmp_path / "lat_preview" / "f1.png"))
    k = -(-256 // RES)  # the preview's cells: scaled up by k to 256 px, on the bottom edge, 4 px apart
    y0, x1 = shown.shape[0] - 4 - RES * k, 4 + RES * k + 4
    preview = shown[y0:y0 + RES * k:k, x1:x1 + RES * k:k]  # the reconstruction, back at RES px
    plain = to_uint8(m.synthesize(torch.from_numpy(np.load(lat)["ws"][1:2])))[0]
    assert np.abs(img.astype(int) - preview).max() <= 2  # the tuned generator's drawing, as in the preview
    assert np.abs(img.astype(int) - plain).max() > 10  # not the base generator's
