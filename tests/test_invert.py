"""Inversion: optimisation, the encoder (files, training, resume), the invert / eval inversion commands and
paste-back — on tiny random generators (CPU, seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit import api
from faceedit.cli import main
from faceedit.errors import FaceEditError
from faceedit.invert import encoder as E
from faceedit.invert import invert_images, invert_photo
from faceedit.invert.optimize import noise_layers, noise_regularisation, optimize_latents, synthesize
from faceedit.latents import load_latents
from faceedit.media import to_uint8

from _edit_helpers import tiny_model
from _vgg_helpers import random_vgg_state

RES = 32
TINY_ENCODER = {"stem": 8, "channels": [8, 16, 16], "pyramid": 16, "head_channels": 4}
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CELEBA = DATA / "celeba" / "img_align_celeba" / "000002.jpg"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def tiny(monkeypatch):
    m = tiny_model(RES)
    monkeypatch.setattr(api, "load", lambda *a, **k: m)
    return m


def _targets(model, seeds=(3, 4)):
    with torch.no_grad():
        ws = model.map(model.z_from_seeds(list(seeds)), 1.0)
        return ws, synthesize(model.G, ws)


def _tiny_encoder(model) -> E.Encoder:
    torch.manual_seed(0)
    cfg = E.EncoderConfig.for_model(model, **TINY_ENCODER)
    return E.Encoder(cfg, model.G.mapping.w_avg)


def _save_pngs(folder: Path, images: np.ndarray) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, im in enumerate(images):
        p = folder / f"face{i:02d}.png"
        Image.fromarray(im).save(p)
        out.append(p)
    return out


def _training_setup(model, tmp_path, run: str, seeds, **cfg_kw):
    """Aligned training faces rendered by ``model`` in tmp_path/faces, and a small CPU training config."""
    from faceedit.train.encoder import EncoderTrainConfig

    with torch.no_grad():
        faces = to_uint8(model.synthesize(model.map(model.z_from_seeds(seeds), 0.7)).clamp(-1, 1))
    _save_pngs(tmp_path / "faces", faces)
    cfg = EncoderTrainConfig(run_dir=str(tmp_path / run), data=str(tmp_path / "faces"), time_budget=None, batch=8,
                             lr=2e-3, perceptual_weight=0, identity_weight=0, val_n=2, log_every=10, **cfg_kw)
    return faces, tmp_path / run, cfg


# ---------------------------------------------------------------------------------------------- optimisation
def test_optimisation_recovers_a_known_w_much_better_than_w_avg():
    m = tiny_model(RES)
    with torch.no_grad():  # a trained generator tracks the mean w; a random one needs it set
        m.G.mapping.w_avg.copy_(m.G.mapping(torch.randn(2000, m.z_dim))[:, 0].mean(0))
    ws, img = _targets(m, (3, 6))
    res = optimize_latents(m, img, space="w", steps=300, lr=0.1, perceptual=None)
    w_avg = m.G.mapping.w_avg
    start = (synthesize(m.G, w_avg[None, None].expand(2, m.num_ws, -1)) - img).square().flatten(1).mean(1)
    assert res.ws.shape == (2, m.num_ws, m.w_dim)
    assert torch.all(res.losses["mse"] < 0.01 * start)
    assert res.history[-1]["loss"] < 0.1 * res.history[0]["loss"]
    err = (res.ws[:, 0] - ws[:, 0]).norm(dim=1)
    base = (w_avg - ws[:, 0]).norm(dim=1)
    assert torch.all(err < 0.2 * base), (err, base)


def test_w_plus_and_noise_maps():
    m = tiny_model(RES)
    _, img = _targets(m, (5,))
    for layer in (lyr for _, lyr in noise_layers(m.G)):
        layer.noise_strength.data.fill_(0.3)
    res = optimize_latents(m, img, space="w+", steps=20, optimize_noise=True, perceptual=None)
    names = [n for n, _ in noise_layers(m.G)]
    assert set(res.noise) == set(names) and res.noise["b8.conv0"].shape == (1, 1, 8, 8)
    for v in res.noise.values():  # renormalised after every step
        assert abs(float(v.mean())) < 1e-4 and abs(float(v.square().mean()) - 1) < 1e-3
    assert "noise_reg" in res.history[-1]
    white = {k: torch.randn(1, 1, 32, 32) for k in ("a",)}
    smooth = {"a": torch.ones(1, 1, 32, 32)}
    assert noise_regularisation(smooth) > 100 * noise_regularisation(white)
    # the maps reach the synthesis through the forward call (the module's buffers stay as they were)
    const = synthesize(m.G, res.ws)
    zero = synthesize(m.G, res.ws, {k: torch.zeros_like(v) for k, v in res.noise.items()})
    assert torch.allclose(zero, m.G.synthesis(res.ws, noise_mode="none"), atol=1e-5)
    assert not torch.allclose(synthesize(m.G, res.ws, res.noise), const, atol=1e-3)
    assert torch.allclose(const, m.G.synthesis(res.ws, noise_mode="const"))


# ---------------------------------------------------------------------------------------------- encoder files
def test_encoder_save_load_roundtrip_and_generator_check(tmp_path):
    m = tiny_model(RES)
    m.sha256 = "a" * 64
    enc = _tiny_encoder(m)
    x = torch.rand(3, 3, RES, RES) * 2 - 1
    ws = enc.encode(x)
    assert ws.shape == (3, m.num_ws, m.w_dim)
    path = E.save_encoder(tmp_path / "enc.safetensors", enc, m, card={"note": "test"})
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["generator"]["sha256"] == "a" * 64 and card["kind"] == "encoder"
    enc2, card2 = E.load_encoder(path, m)
    assert card2["note"] == "test"
    assert torch.allclose(enc2.encode(x), ws, atol=2e-2)
    other = tiny_model(RES, seed=1)
    other.sha256 = "b" * 64
    with pytest.raises(FaceEditError, match="trained for generator .* retrain"):
        E.load_encoder(path, other)
    E.load_encoder(path, other, force=True)  # same shapes: allowed when forced
    wider = api.Model(G=tiny_model(RES).G, name="x", sha256="c" * 64)
    wider.G.synthesis.w_dim = 16  # fake another shape
    wider.G.w_dim = 16
    with pytest.raises(FaceEditError, match="w\\+ layers of"):
        E.load_encoder(path, wider, force=True)
    with pytest.raises(FaceEditError, match="not found"):
        E.load_encoder(tmp_path / "missing.safetensors", m)
    # the default config for the 64-px default generator stays small (< 5 MB in fp16)
    big = E.Encoder(E.EncoderConfig(resolution=64, w_dim=256, num_ws=10, generator_resolution=64))
    assert E.num_parameters(big) * 2 < 5e6
    assert E.layer_levels(1024, 18) == [0] * 3 + [1] * 4 + [2] * 11


def test_encoder_and_hybrid_methods(tmp_path):
    m = tiny_model(RES)
    enc = _tiny_encoder(m)
    _, img = _targets(m)
    inv_e = invert_images(m, img, method="encoder", encoder=enc)
    assert inv_e.method == "encoder" and inv_e.ws.shape == (2, m.num_ws, m.w_dim)
    inv_h = invert_images(m, img, method="hybrid", encoder=enc, steps=40, perceptual=None)
    assert inv_h.method == "hybrid"
    assert float(inv_h.losses["mse"].mean()) < float(inv_e.losses["mse"].mean())
    with pytest.raises(FaceEditError, match="no encoder"):
        invert_images(m, img, method="encoder")  # no shipped encoder for a random generator


# ---------------------------------------------------------------------------------------------- training
def test_encoder_training_reduces_loss_and_resumes(tmp_path):
    from faceedit.train.encoder import export_encoder, train_encoder

    m = tiny_model(RES)
    m.sha256 = "d" * 64
    faces, run, cfg = _training_setup(m, tmp_path, "run", range(100, 112), steps=60,
                                      encoder=E.EncoderConfig.for_model(m, **TINY_ENCODER).to_dict())
    out = train_encoder(cfg, model=m, log=lambda *a: None)
    assert out["steps"] == 60 and out["complete"]
    logs = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert np.mean([r["loss"] for r in logs[-2:]]) < 0.8 * logs[0]["loss"]
    assert logs[0]["stage"] < m.num_ws - 1 == logs[-1]["stage"]  # deltas opened progressively
    with pytest.raises(FaceEditError, match="--resume"):
        train_encoder(cfg, model=m, log=lambda *a: None)
    cfg.extend_minutes = 0.02
    out2 = train_encoder(cfg, model=m, resume=True, log=lambda *a: None)
    assert out2["steps"] > 60
    other = tiny_model(RES)
    other.sha256 = "e" * 64
    with pytest.raises(FaceEditError, match="generator"):
        train_encoder(cfg, model=other, resume=True, log=lambda *a: None)
    card = export_encoder(run, tmp_path / "enc.safetensors", model=m, log=lambda *a: None)
    assert card["training"]["steps"] == out2["steps"] and "research-only" in card["licence"]
    assert card["generator"]["sha256"] == "d" * 64 and card["validation"]["generated"]["n"] > 0
    # forced: fine-tune for a re-exported generator of the same shape; the run then belongs to it
    with torch.no_grad():
        other.G.mapping.w_avg.add_(0.5)
    cfg.force = True
    train_encoder(cfg, model=other, resume=True, log=lambda *a: None)
    card2 = export_encoder(run, tmp_path / "enc2.safetensors", model=other, log=lambda *a: None)
    assert card2["generator"]["sha256"] == "e" * 64
    enc2, _ = E.load_encoder(tmp_path / "enc2.safetensors", other)
    assert torch.allclose(enc2.w_avg, other.G.mapping.w_avg, atol=1e-2)
    enc, _ = E.load_encoder(tmp_path / "enc.safetensors", m)
    assert enc.encode(torch.from_numpy(faces[:2]).permute(0, 3, 1, 2)).shape == (2, m.num_ws, m.w_dim)


def test_restyle_refiner_starts_as_identity_and_learns_to_correct(tmp_path, monkeypatch, capsys):
    from faceedit.train.encoder import export_encoder, train_encoder

    m = tiny_model(RES)
    m.sha256 = "f" * 64
    base = _tiny_encoder(m)
    base_file = E.save_encoder(tmp_path / "base.safetensors", base, m)
    _, run, cfg = _training_setup(m, tmp_path, "refine", range(200, 212), steps=40, refine_from=str(base_file),
                                  refine_iterations=2)
    out = train_encoder(cfg, model=m, log=lambda *a: None)
    assert out["steps"] == 40
    logs = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert np.mean([r["loss"] for r in logs[-2:]]) < 0.9 * logs[0]["loss"]
    card = export_encoder(run, tmp_path / "restyle.safetensors", model=m, log=lambda *a: None)
    assert card["training"]["refiner"]["iterations"] == 2 and "ReStyle" in card["architecture"]
    enc, _ = E.load_encoder(tmp_path / "restyle.safetensors", m)
    assert enc.refiner is not None and enc.cfg.refine_iterations == 2
    base16, _ = E.load_encoder(base_file, m)
    ws_true, img = _targets(m, seeds=(21, 22, 23, 24))
    # the first pass is the frozen base encoder; the iterations move the guess towards the target
    assert torch.allclose(enc.encode(img, iterations=0), base16.encode(img), atol=1e-4)
    assert torch.allclose(enc.encode(img), base16.encode(img), atol=1e-4)  # no generator: first pass only
    ws1 = enc.encode(img, G=m.G)
    assert not torch.allclose(ws1, base16.encode(img), atol=1e-3)

    def err(ws):
        return float((synthesize(m.G, ws) - img).square().mean())

    assert err(ws1) < err(base16.encode(img))
    inv = invert_images(m, img, method="encoder", encoder=enc, perceptual=None)
    assert torch.allclose(inv.ws, ws1, atol=1e-5)
    # a fresh refiner is the identity map on top of the base pass
    fresh = E.Encoder(E.EncoderConfig.for_model(m, refiner=True, **TINY_ENCODER), m.G.mapping.w_avg)
    fresh.load_state_dict({k: v for k, v in base.state_dict().items()}, strict=False)
    fresh.init_refiner_from_base()
    assert torch.allclose(fresh.encode(img, G=m.G), base.encode(img), atol=1e-6)
    with pytest.raises(FaceEditError, match="no refiner"):
        base.refine(img, ws1, img)
    # the commands take the iterations: 0 is the first pass alone
    monkeypatch.setattr(api, "load", lambda *a, **k: m)
    figures = []
    for extra in (["--encoder-iterations", "0"], []):
        js = tmp_path / f"eval{len(extra)}.json"
        rc = main(["eval", "inversion", str(tmp_path / "faces"), "--methods", "encoder", "--n", "4", "--metrics",
                   "none", "--encoder", str(tmp_path / "restyle.safetensors"), "--json", str(js), *extra])
        assert rc == 0, capsys.readouterr().err
        figures.append(json.loads(js.read_text())["results"]["encoder"]["mse"])
    assert figures[1] < figures[0]


# ---------------------------------------------------------------------------------------------- CLI
def test_invert_cli_writes_latents_and_previews(tiny, tmp_path, capsys):
    faces = to_uint8(tiny.synthesize(tiny.map(tiny.z_from_seeds([7, 8]), 0.7)).clamp(-1, 1))
    paths = _save_pngs(tmp_path / "in", faces)
    out = tmp_path / "lat.npz"
    rc = main(["invert", *map(str, paths), "--aligned", "-o", str(out), "--method", "optimize", "--steps", "10",
               "--perceptual", "none", "--previews", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    ws, meta = load_latents(out)
    assert ws.shape == (2, tiny.num_ws, tiny.w_dim) and meta["num_ws"] == tiny.num_ws
    with np.load(out) as z:
        assert list(z["paths"]) == [str(p) for p in paths] and str(z["method"]) == "optimize"
    prev = np.asarray(Image.open(tmp_path / "lat_preview" / "face00.png"))
    # readable: the aligned input and the reconstruction scaled up (whole factor) to 256 px, labelled above
    k = -(-256 // RES)
    side = RES * k
    assert prev.shape[0] > side and prev.shape[1] >= 2 * side
    y0 = prev.shape[0] - 4 - side  # the cells sit on the bottom edge, 4 px in (faceedit.figure)
    assert np.array_equal(prev[y0:y0 + side:k, 4:4 + side:k], faces[0])
    assert not np.array_equal(prev[:y0 - 2], np.full_like(prev[:y0 - 2], 255))  # the labels
    # the hybrid default without an encoder for this generator falls back with a note
    rc = main(["invert", str(paths[0]), "--aligned", "-o", str(out), "--steps", "3", "--perceptual", "none",
               "--space", "w", "--quiet"])
    assert rc == 0 and "by optimisation instead" in capsys.readouterr().err
    ws, _ = load_latents(out)
    assert np.allclose(ws[0, 0], ws[0, -1])  # space w: one w for every layer
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    capsys.readouterr()
    assert main(["invert", str(bad), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert main(["invert", str(paths[0]), "-o", str(tmp_path / "x.txt")]) == 2
    assert main(["invert", str(paths[0]), "-o", str(out), "--method", "magic"]) == 2


def test_invert_cli_no_face(tiny, tmp_path, capsys):
    from faceedit.align import have_dlib

    if not have_dlib():
        pytest.skip("dlib not installed")
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((120, 160, 3), 200, np.uint8)).save(blank)
    assert main(["invert", str(blank), "-o", str(tmp_path / "l.npz"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: no face found in {blank}"


def test_eval_inversion_prints_the_table(tiny, tmp_path, capsys):
    faces = to_uint8(tiny.synthesize(tiny.map(tiny.z_from_seeds([1, 2, 3]), 0.7)).clamp(-1, 1))
    _save_pngs(tmp_path / "val", faces)
    encf = E.save_encoder(tmp_path / "enc.safetensors", _tiny_encoder(tiny), tiny)
    js = tmp_path / "eval.json"
    rc = main(["eval", "inversion", str(tmp_path / "val"), "--methods", "encoder,optimize,hybrid,pivotal", "--n", "2",
               "--steps", "optimize=8,hybrid=4,pivotal=5", "--metrics", "none", "--encoder", str(encf), "--json",
               str(js)])
    assert rc == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    for word in ("method", "MSE", "PSNR dB", "SSIM", "s/image", "encoder", "optimize", "hybrid", "pivotal"):
        assert word in out
    res = json.loads(js.read_text())["results"]
    assert res["optimize"]["n"] == 2 and res["optimize"]["steps"] == 8 and 0 < res["hybrid"]["ssim"] <= 1
    assert res["pivotal"]["steps"] == 5 and res["pivotal"]["mse"] < res["encoder"]["mse"]
    assert main(["eval", "inversion", str(tmp_path / "val"), "--steps", "optimize"]) == 2


# ---------------------------------------------------------------------------------------------- photos
@pytest.mark.skipif(not CELEBA.is_file(), reason=f"face photo not found: {CELEBA}")
def test_photo_paste_back_keeps_far_pixels(tiny, monkeypatch):
    from faceedit.align import have_dlib

    if not have_dlib():
        pytest.skip("dlib not installed")
    face = np.asarray(Image.open(CELEBA).convert("RGB"))
    rng = np.random.RandomState(0)
    photo = rng.randint(0, 255, (420, 400, 3)).astype(np.uint8)
    photo[100:100 + face.shape[0], 110:110 + face.shape[1]] = face
    inv = invert_photo(photo, tiny, method="optimize", steps=3, perceptual=None)
    assert inv.ws.shape == (1, tiny.num_ws, tiny.w_dim) and inv.reconstruction.shape == (RES, RES, 3)
    assert inv.aligned.image.shape == (RES, RES, 3) and inv.original is photo
    edited = tiny.synthesize(inv.ws + 0.5)
    out = inv.paste(edited)
    assert out.shape == photo.shape
    x0, y0, x1, y1 = inv.aligned.transform.photo_box()
    far = np.ones(photo.shape[:2], bool)
    far[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] = False
    assert far.mean() > 0.3
    assert np.array_equal(out[far], photo[far])
    assert np.abs(out.astype(int) - photo).max() > 0  # the face did change
    batch = inv.paste(torch.cat([edited, edited]))
    assert batch.shape == (2, *photo.shape)
    # resolve_face() inverts photos through invert_photo
    from faceedit.face import resolve_face
    from faceedit.invert import photos

    monkeypatch.setattr(photos, "get_perceptual", lambda name="perceptual": (None, None))
    p = Path(__file__).parent / "_tmp_face.png"
    try:
        Image.fromarray(photo).save(p)
        face = resolve_face(str(p), tiny, method="optimize", steps=2)
    finally:
        p.unlink(missing_ok=True)
    assert face.ws.shape == (1, tiny.num_ws, tiny.w_dim) and face.photo.original.shape == photo.shape


def test_aligned_input_paste_and_quality_metrics(tiny):
    from faceedit.metrics import quality

    img = to_uint8(tiny.synthesize(tiny.map(tiny.z_from_seeds([9]), 0.7)).clamp(-1, 1))[0]
    big = np.asarray(Image.fromarray(img).resize((64, 64)))
    inv = invert_photo(big, tiny, aligned=True, method="optimize", steps=2, perceptual=None)
    assert inv.aligned.landmarks is None and inv.paste(inv.reconstruction).shape == big.shape
    with pytest.raises(FaceEditError, match="square"):
        invert_photo(big[:, :40], tiny, aligned=True, method="optimize", steps=1, perceptual=None)
    # SSIM against a direct float64 evaluation of the formula at every valid window position
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(a.shape, generator=g)).clamp(-1, 1)
    x, y = ((a.double() + 1) / 2), ((b.double() + 1) / 2)
    w1 = quality.gaussian_window(11, 1.5).double()
    w = w1[:, None] * w1[None, :]
    vals = []
    for c in range(3):
        for i in range(16 - 10):
            for j in range(16 - 10):
                px, py = x[0, c, i:i + 11, j:j + 11], y[0, c, i:i + 11, j:j + 11]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * px * px).sum() - mx ** 2, (w * py * py).sum() - my ** 2
                cxy = (w * px * py).sum() - mx * my
                vals.append(((2 * mx * my + 1e-4) * (2 * cxy + 9e-4)) / ((mx ** 2 + my ** 2 + 1e-4) * (vx + vy + 9e-4)))
    assert abs(float(quality.ssim(a, b)) - float(torch.stack(vals).mean())) < 1e-5
    assert float(quality.ssim(a, a)) == pytest.approx(1.0)
    assert float(quality.psnr(a, b)) == pytest.approx(float(10 * torch.log10(1 / ((x - y) ** 2).mean())), rel=1e-4)


# ---------------------------------------------------------------------------------------------- perceptual loss
def _random_vgg16_file(path: Path) -> Path:
    torch.save(random_vgg_state("vgg16"), path)
    return path


def test_invert_cli_takes_a_vgg16_file_and_checks_the_perceptual_options(tiny, tmp_path, capsys):
    faces = to_uint8(tiny.synthesize(tiny.map(tiny.z_from_seeds([7]), 0.7)).clamp(-1, 1))
    paths = _save_pngs(tmp_path / "in", faces)
    vgg = _random_vgg16_file(tmp_path / "vgg16.pth")
    out = tmp_path / "lat.npz"
    rc = main(["invert", str(paths[0]), "--aligned", "-o", str(out), "--method", "optimize", "--steps", "3",
               "--perceptual", "vgg16", "--perceptual-weights", str(vgg), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    with np.load(out) as z:
        assert z["perceptual"].shape == (1,) and z["perceptual"][0] > 0
    for args, match in ((["--perceptual", "alexnet"], "--perceptual must be one of"),
                        (["--perceptual", "faceapi", "--perceptual-weights", str(vgg)], "goes with --perceptual vgg16"),
                        (["--perceptual", "lpips"], "lpips distance needs weights files"),
                        (["--perceptual", "vgg16", "--perceptual-weights", str(tmp_path / "absent.pth")], "not found")):
        capsys.readouterr()
        assert main(["invert", str(paths[0]), "--aligned", "-o", str(out), "--quiet", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and match in err and "\n" not in err, err


def test_encoder_training_fixes_its_perceptual_loss_at_the_start(tmp_path, monkeypatch):
    from faceedit.metrics import distances
    from faceedit.train.encoder import train_encoder

    m = tiny_model(RES)
    m.sha256 = "c" * 64
    vgg = _random_vgg16_file(tmp_path / "vgg16.pth")
    _, run, cfg = _training_setup(m, tmp_path, "vggrun", range(300, 304), steps=2, perceptual="vgg16",
                                  perceptual_weights=[str(vgg)],
                                  encoder=E.EncoderConfig.for_model(m, **TINY_ENCODER).to_dict())
    cfg.perceptual_weight, cfg.log_every = 0.8, 1
    lines = []
    train_encoder(cfg, model=m, log=lines.append)
    logs = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert "perceptual" in logs[-1] and logs[-1]["perceptual"] > 0
    assert any("perceptual (vgg16)" in line for line in lines)
    # auto is resolved once, at the start: nothing fetched → MSE only, and a resume keeps that
    monkeypatch.setattr(distances, "_fetched", lambda name: False)
    _, run2, cfg2 = _training_setup(m, tmp_path, "autorun", range(300, 304), steps=2,
                                    encoder=E.EncoderConfig.for_model(m, **TINY_ENCODER).to_dict())
    cfg2.perceptual_weight, cfg2.log_every = 0.8, 1
    lines.clear()
    train_encoder(cfg2, model=m, log=lines.append)
    assert any("MSE only" in line for line in lines) and cfg2.perceptual == "none"
    logs = [json.loads(x) for x in (run2 / "log.jsonl").read_text().splitlines()]
    assert "perceptual" not in logs[-1]
    monkeypatch.setattr(distances, "_fetched", lambda name: True)
    cfg2.extend_minutes = 0.01
    cfg2.perceptual = "auto"
    train_encoder(cfg2, model=m, resume=True, log=lines.append)
    logs = [json.loads(x) for x in (run2 / "log.jsonl").read_text().splitlines()]
    assert "perceptual" not in logs[-1]
