"""The editing commands end to end: mix, morph, crossover, transfer, channels find/edit, local, eval edits."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit import api
from faceedit.cli import main
from faceedit.latents import load_latents

from _edit_helpers import box_mask, tiny_model

RES = 32
BOX = box_mask(RES)


@pytest.fixture()
def tiny(monkeypatch):
    m = tiny_model(RES)
    monkeypatch.setattr(api, "load", lambda *a, **k: m)
    return m


def _img(path):
    return np.asarray(Image.open(path))


def test_mix_and_grid(tiny, tmp_path, capsys):
    out = tmp_path / "mix.png"
    assert main(["mix", "1", "2", "--layers", "fine", "-o", str(out), "--save-latents", str(tmp_path / "m.npz")]) == 0
    assert _img(out).shape == (RES, RES, 3)
    ws, _ = load_latents(tmp_path / "m.npz")
    a = tiny.map(tiny.z_from_seeds([1]), 0.7)[0].numpy()
    b = tiny.map(tiny.z_from_seeds([2]), 0.7)[0].numpy()
    fine = [i for i in range(tiny.num_ws) if i >= 4]  # 32 px: coarse 0-1, middle 2-3, fine 4-7
    assert np.allclose(ws[0, :4], a[:4]) and np.allclose(ws[0, fine], b[fine])
    assert main(["mix", "1", "2", "--strip", "-o", str(tmp_path / "s.png")]) == 0
    assert _img(tmp_path / "s.png").shape == (RES, 3 * RES + 4, 3)
    assert main(["mix", "--rows", "0-1", "--cols", "2-4", "--layers", "0-1", "-o", str(tmp_path / "g.png")]) == 0
    grid = _img(tmp_path / "g.png")  # labelled (faceedit.figure): cells scaled up to 128 px, names around them
    assert grid.shape[0] > 3 * 128 and grid.shape[1] > 4 * 128
    assert "2x3 mixing grid" in capsys.readouterr().out
    assert main(["mix", "1", "-o", str(out)]) == 2
    assert main(["mix", "1", "2", "--layers", "9-12", "-o", str(out)]) == 2
    assert "out of range" in capsys.readouterr().err


def test_morph_crossover_transfer(tiny, tmp_path, capsys):
    gif = tmp_path / "m.gif"
    assert main(["morph", "1", "2", "-o", str(gif), "--frames", "4", "--space", "z", "--bounce"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.size == (RES, RES)
    assert main(["morph", "1", "2", "-o", str(tmp_path / "strip.png"), "--frames", "3"]) == 0
    assert _img(tmp_path / "strip.png").shape == (RES, 3 * RES + 4, 3)
    np.save(tmp_path / "w.npy", tiny.map(tiny.z_from_seeds([5]), 0.7)[0].numpy())
    assert main(["morph", str(tmp_path / "w.npy"), "2", "--space", "z", "-o", str(gif)]) == 2
    assert "seeds" in capsys.readouterr().err
    assert main(["crossover", "1", "2", "--k", "all", "-o", str(tmp_path / "c.png")]) == 0
    assert _img(tmp_path / "c.png").shape[1] == (tiny.num_ws + 1) * RES + 2 * tiny.num_ws
    assert main(["crossover", "1", "2", "--k", "3", "-o", str(tmp_path / "c1.png"),
                 "--save-latents", str(tmp_path / "c.npz")]) == 0
    ws, _ = load_latents(tmp_path / "c.npz")
    assert np.allclose(ws[0, :3], tiny.map(tiny.z_from_seeds([1]), 0.7)[0, :3].numpy())
    assert main(["crossover", "1", "2", "--k", "x", "-o", str(tmp_path / "c1.png")]) == 2
    assert main(["transfer", "3", "--from", "1", "--to", "2", "--strength", "0,1", "-o", str(tmp_path / "t.png"),
                 "--save-latents", str(tmp_path / "t.npz")]) == 0
    ws, _ = load_latents(tmp_path / "t.npz")
    w1, w2, w3 = (tiny.map(tiny.z_from_seeds([s]), 0.7)[0].numpy() for s in (3, 1, 2))
    assert np.allclose(ws[0], w1, atol=1e-6) and np.allclose(ws[1], w1 + (w3 - w2), atol=1e-5)


def test_channels_find_with_a_mask_and_edit(tiny, tmp_path, capsys):
    mask = tmp_path / "mouth.png"
    Image.fromarray((box_mask(128).numpy() * 255).astype(np.uint8)).save(mask)  # any size; resized
    folder = tmp_path / "ch"
    assert main(["channels", "find", "--mask", str(mask), "--samples", "2", "--probes", "1", "--top-k", "2",
                 "--sigma-samples", "100", "--preview-seeds", "0-1", "-o", str(folder)]) == 0
    found = json.loads((folder / "channels.json").read_text())
    assert found["mode"] == "region" and len(found["channels"]) == 2
    rows = (folder / "channels.tsv").read_text().splitlines()
    assert rows[0].startswith("rank\tchannel") and len(rows) == 3
    for cid in found["ids"]:
        layer, ch = cid.split(":")
        assert _img(folder / f"preview_{layer}_{ch}.png").shape == (2 * RES + 2, 3 * RES + 4, 3)
    assert "most responsive layer" in capsys.readouterr().out
    out = tmp_path / "e.png"
    assert main(["channels", "edit", "4", "--channel", "6:3", "--alpha", "-5,0,5", "-o", str(out),
                 "--sigma-samples", "100"]) == 0
    strip = _img(out)
    assert strip.shape == (RES, 3 * RES + 4, 3)
    plain = _img_of(tiny, 4)
    assert np.abs(strip[:, RES + 2:2 * RES + 2].astype(int) - plain.astype(int)).max() <= 2  # α = 0 is the face
    assert main(["channels", "edit", "4", "--from-file", str(folder / "channels.json"), "--top", "1",
                 "-o", str(out), "--sigma-samples", "100"]) == 0
    capsys.readouterr()
    assert main(["channels", "edit", "4", "--channel", "6:501", "-o", str(out)]) == 2
    assert "layer 6 (b16.conv1) has channels 0-31" in capsys.readouterr().err
    assert main(["channels", "edit", "4", "-o", str(out)]) == 2


def _img_of(model, seed):
    from faceedit.media import to_uint8

    return to_uint8(model.synthesize(model.map(model.z_from_seeds([seed]), 0.7)))[0]


def test_local_with_mask_and_diff(tiny, tmp_path, capsys):
    mask = tmp_path / "mouth.png"
    Image.fromarray((BOX.numpy() * 255).astype(np.uint8)).save(mask)
    assert main(["local", "4", "--mask", str(mask), "--samples", "4", "--alpha", "5", "-o", str(tmp_path / "l.png"),
                 "--diff", str(tmp_path / "d.png"), "--table", str(tmp_path / "t.tsv")]) == 0
    out = capsys.readouterr().out
    share = float(out.split("α = 5: ")[1].split("%")[0])
    assert share > 50
    assert _img(tmp_path / "d.png").shape == (RES, RES, 3)
    assert (tmp_path / "t.tsv").read_text().count("\n") == 9
    assert main(["local", "4", "--samples", "4", "-o", str(tmp_path / "l.png")]) == 2
    assert "--region NAME or --mask FILE" in capsys.readouterr().err


def test_missing_parser_and_classifier_fail_clearly(tiny, tmp_path, monkeypatch, capsys):
    from faceedit.scorers import classifier, parser

    monkeypatch.setattr(parser, "DEFAULT_WEIGHTS", tmp_path / "no_parser.safetensors")
    monkeypatch.setattr(classifier, "DEFAULT_WEIGHTS", tmp_path / "no_classifier.safetensors")
    assert main(["channels", "find", "--region", "hair", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "channel finding by region needs the face parser" in err and "no_parser.safetensors" in err
    assert main(["channels", "find", "--attr", "smiling", "-o", str(tmp_path)]) == 2
    assert "channel finding by attribute needs the attribute classifier" in capsys.readouterr().err
    assert main(["eval", "edits", "--attr", "smiling", "--channel", "6:1"]) == 2
    assert "attribute classifier" in capsys.readouterr().err
    assert main(["channels", "find", "--region", "elbow", "-o", str(tmp_path)]) == 2
    assert "unknown region" in capsys.readouterr().err


@pytest.fixture()
def fake_scorers(monkeypatch):
    """Stand-ins for faceedit.scorers with known functions: a 'parser' whose mouth is the box, a 'classifier'
    whose Smiling logit is the box brightness."""
    from faceedit.edit import scoring

    class Parser:
        classes = tuple(range(19))

        def probs(self, images):
            p = torch.zeros(images.shape[0], 19, *images.shape[-2:])
            m = box_mask(images.shape[-1])
            p[:, 11] = m
            p[:, 0] = 1 - m
            return p

    class Clf:
        attributes = ["Smiling", "Bright"]

        def logits(self, images):
            b = box_mask(images.shape[-1]).bool()
            return torch.stack([images[:, :, b].mean((1, 2)), images.mean((1, 2, 3))], 1)

    monkeypatch.setattr(scoring, "load_parser", lambda device="cpu": Parser())
    monkeypatch.setattr(scoring, "load_classifier", lambda device="cpu": Clf())


def test_find_by_region_attr_and_eval_with_scorers(tiny, fake_scorers, tmp_path, capsys):
    assert main(["channels", "find", "--region", "mouth", "--samples", "2", "--probes", "1", "--top-k", "2",
                 "--sigma-samples", "100", "--preview-seeds", "0", "-o", str(tmp_path / "r")]) == 0
    assert json.loads((tmp_path / "r" / "channels.json").read_text())["target"] == "mouth"
    assert main(["channels", "find", "--attr", "smiling", "--samples", "4", "--top-k", "3", "--sigma-samples", "100",
                 "--preview-seeds", "0", "-o", str(tmp_path / "a")]) == 0
    found = json.loads((tmp_path / "a" / "channels.json").read_text())
    assert found["mode"] == "attribute" and found["samples"] == 2
    capsys.readouterr()
    d = np.random.RandomState(0).randn(tiny.w_dim).astype(np.float32)
    np.save(tmp_path / "d.npy", d / np.linalg.norm(d))
    from faceedit.edit.directions import Direction, DirectionSet

    DirectionSet([Direction("smiling", "w", d / np.linalg.norm(d), 0.5, {})]).save(tmp_path / "fitted")
    assert main(["eval", "edits", "--attr", "smiling", "--channel", "6:1", "--channels-file",
                 str(tmp_path / "a" / "channels.json"), "--direction", str(tmp_path / "d.npy"), "--samples", "4",
                 "--attr-direction", "smile", "--directions", str(tmp_path / "fitted"),
                 "--alphas", "5", "--w-alphas", "1", "-o", str(tmp_path / "ad.tsv")]) == 0
    lines = (tmp_path / "ad.tsv").read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("edit\talpha\tAD_t")
    assert any(line.startswith("InterfaceGAN smiling (w)") for line in lines)
    assert "target Smiling" in capsys.readouterr().out


def test_mix_on_the_default_model(tmp_path):
    assert main(["mix", "1", "2", "-o", str(tmp_path / "x.png")]) == 0
    assert _img(tmp_path / "x.png").shape[0] == api.load().resolution


def test_morph_to_mp4(tiny, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "m.mp4"
    assert main(["morph", "1", "2", "-o", str(out), "--frames", "4", "--fps", "8"]) == 0
    assert out.stat().st_size > 0 and out.read_bytes()[4:8] == b"ftyp"
