"""InterfaceGAN directions: SVM fitting, conditional projection, edits, sweeps, files, and the CLI
(fit / list / report / edit / animate) on a tiny generator with image-statistics scorers."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit import api
from faceedit.cli import main
from faceedit.edit import attributes, directions
from faceedit.edit.attributes import AttributeScorer, landmark_geometry
from faceedit.edit.directions import Direction, DirectionSet, fit_boundary, orthogonalise
from faceedit.errors import FaceEditError

from _edit_helpers import tiny_model

RES = 32


def stats_scorer() -> AttributeScorer:
    """Scores a tiny generator visibly controls: overall brightness, red minus blue, top minus bottom brightness."""

    def fn(img):
        return torch.stack([img.mean((1, 2, 3)), (img[:, 0] - img[:, 2]).mean((1, 2)),
                            img[:, :, :RES // 2].mean((1, 2, 3)) - img[:, :, RES // 2:].mean((1, 2, 3))], 1)

    return AttributeScorer(sources=[(("brightness", "redness", "top_light"), fn)])


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(RES)


@pytest.fixture(scope="module")
def fitted(tiny):
    samples = directions.sample_scores(tiny, stats_scorer(), 1200, seed=1, batch_size=200)
    found = directions.fit_directions(samples, ["brightness", "redness", "top_light"], ["w", "z"], ratio=0.1)
    return samples, DirectionSet(found)


def test_fit_boundary_recovers_a_planted_direction():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 24))
    true = rng.standard_normal(24)
    true /= np.linalg.norm(true)
    b = fit_boundary(x, x @ true + 0.1 * rng.standard_normal(4000), ratio=0.05)
    assert float(b.normal @ true) > 0.9
    assert b.val_accuracy > 0.95 and b.all_accuracy > 0.85
    assert b.n_train == 2 * 140 and b.n_val == 2 * 60
    # a score unrelated to x: chance level on all samples
    b0 = fit_boundary(x, rng.standard_normal(4000), ratio=0.05)
    assert b0.all_accuracy < 0.6


def test_fit_boundary_rejects_bad_input():
    x = np.zeros((100, 4))
    with pytest.raises(FaceEditError, match="too few samples"):
        fit_boundary(x, np.arange(100.0), ratio=0.02)
    with pytest.raises(FaceEditError, match="constant"):
        fit_boundary(np.random.rand(1000, 4), np.ones(1000), ratio=0.1)


def test_orthogonalise_keeps_conditions_fixed():
    rng = np.random.default_rng(1)
    v, a, b = (rng.standard_normal(16) for _ in range(3))
    r = orthogonalise(v, [a, b])
    assert abs(np.linalg.norm(r) - 1) < 1e-5
    assert abs(r @ a) < 1e-4 and abs(r @ b) < 1e-4
    assert r @ v > 0
    with pytest.raises(FaceEditError, match="span"):
        orthogonalise(a + 2 * b, [a, b])


def test_fitted_directions_move_their_scores(tiny, fitted):
    samples, ds = fitted
    assert ds.names == ["brightness", "redness", "top_light"]
    scorer = stats_scorer()
    ws = tiny.map(torch.randn(16, tiny.z_dim, generator=torch.Generator().manual_seed(5)))
    base = scorer(tiny.synthesize(ws))
    for i, name in enumerate(ds.names):
        d = ds.get(name)
        assert d.space == "w" and d.meta["val_accuracy"] > 0.8, (name, d.meta)
        assert abs(float(np.std(samples.w @ d.vector)) - d.scale) < 1e-4
        up = scorer(tiny.synthesize(ds.apply(ws, {name: 2.0})))
        assert (up[:, i] - base[:, i]).mean() > 0.5 * base[:, i].std(), name
    # one unit moves the latent by `scale` along the unit direction, on every w+ layer
    d = ds.get("brightness")
    delta = (ds.apply(ws, {"brightness": 1.5}) - ws)[0].numpy()
    assert np.allclose(delta @ d.vector, 1.5 * d.scale, atol=1e-4)


def test_conditional_edit_and_layers(tiny, fitted):
    _, ds = fitted
    ws = tiny.map(torch.randn(2, tiny.z_dim, generator=torch.Generator().manual_seed(2)))
    delta = (ds.apply(ws, {"redness": 1.0}, keep=["brightness", "top_light"]) - ws)[0].numpy()
    for k in ("brightness", "top_light"):
        assert abs(delta[0] @ ds.get(k).vector) < 1e-4
    part = ds.apply(ws, {"redness": 2.0}, layers="0-2") - ws
    assert part[:, 3:].abs().max() == 0 and part[:, :3].abs().min() > 0 or part[:, :3].abs().max() > 0
    assert part[:, 3:].abs().max() == 0
    with pytest.raises(FaceEditError, match="available: brightness"):
        ds.apply(ws, {"frown": 1})
    with pytest.raises(FaceEditError, match="in z"):
        DirectionSet([ds.get("redness", "z")]).apply(ws, {"redness": 1})


def test_sweep_frames(tiny, fitted):
    _, ds = fitted
    ws = tiny.map(torch.randn(3, tiny.z_dim))
    seq = ds.sweep(ws, ["brightness", "redness"], -2, 2, frames=5, pingpong=True)
    assert seq.shape == (2 * (5 + 3), 3, tiny.num_ws, tiny.w_dim)
    assert torch.allclose(seq[2], ws, atol=1e-6)  # the middle of a symmetric sweep is the original
    both = ds.sweep(ws, ["brightness", "redness"], 0, 1, frames=2, combine=True)
    assert both.shape[0] == 2 and torch.allclose(both[1], ds.apply(ws, {"brightness": 1, "redness": 1}), atol=1e-5)


def test_wplus_per_layer_directions(tiny):
    samples = directions.sample_scores(tiny, stats_scorer(), 600, seed=3, batch_size=200, mixing=True)
    assert samples.ws.shape == (600, tiny.num_ws, tiny.w_dim)
    assert not np.allclose(samples.ws[:, 0], samples.ws[:, -1])  # style-mixed: the entries differ
    (d,) = directions.fit_directions(samples, ["brightness"], ["wplus"], ratio=0.1)
    assert d.vector.shape == (tiny.num_ws, tiny.w_dim) and len(d.meta["layer_val_accuracy"]) == tiny.num_ws
    assert abs(np.linalg.norm(d.vector) - 1) < 1e-5


def test_files_roundtrip_and_model_check(tiny, fitted, tmp_path):
    _, ds = fitted
    ds.save(tmp_path / "d")
    assert sorted(p.name for p in (tmp_path / "d").glob("brightness.*")) == [
        "brightness.w.json", "brightness.w.npy", "brightness.z.json", "brightness.z.npy"]
    meta = json.loads((tmp_path / "d" / "brightness.w.json").read_text())
    assert meta["attribute"] == "brightness" and meta["n_samples"] == 1200 and "val_accuracy" in meta
    back = directions.read_folder(tmp_path / "d")
    assert np.allclose(back.get("redness").vector, ds.get("redness").vector)
    other = api.Model(G=tiny.G, name="other", sha256="f" * 64)
    (tmp_path / "d2").mkdir()
    for d in ds.by_key.values():
        Direction(d.name, d.space, d.vector, d.scale, dict(d.meta, model_sha256="a" * 64)).save(tmp_path / "d2")
    with pytest.raises(FaceEditError, match="another model"):
        directions.load_directions(other, tmp_path / "d2")
    assert len(directions.load_directions(other, tmp_path / "d2", check=False)) == len(ds)
    samples_path = tmp_path / "s.npz"
    fitted[0].save(samples_path)
    again = directions.Samples.load(samples_path)
    assert again.names == fitted[0].names and np.allclose(again.scores, fitted[0].scores)


def test_landmark_geometry_signs():
    # a crude frontal face: jaw from x=0 to 1, nose tip in the middle, chin below
    lm = torch.zeros(1, 68, 2)
    lm[0, :17, 0] = torch.linspace(0, 1, 17)
    lm[0, :17, 1] = 0.5
    lm[0, 8] = torch.tensor([0.5, 1.0])
    lm[0, 27] = torch.tensor([0.5, 0.3])
    lm[0, 30] = torch.tensor([0.5, 0.3 + 0.33 * 0.7])
    for i, (x, y) in zip(range(36, 48), [(0.2, 0.3), (0.25, 0.28), (0.3, 0.28), (0.35, 0.3), (0.3, 0.32),
                                          (0.25, 0.32)] * 2):
        lm[0, i] = torch.tensor([x + (0.4 if i >= 42 else 0), y])
    g = landmark_geometry(lm)
    assert abs(float(g["yaw"])) < 1e-3 and abs(float(g["pitch"])) < 1e-3
    turned = lm.clone()
    turned[0, 30, 0] = 0.7
    assert float(landmark_geometry(turned)["yaw"]) > 20
    up = lm.clone()
    up[0, 30, 1] = 0.4
    assert float(landmark_geometry(up)["pitch"]) > 5
    lm[0, 61:64, 1], lm[0, 65:68, 1] = 0.8, 0.9
    assert float(landmark_geometry(lm)["mouth_open"]) > 0.1


def test_aliases():
    assert attributes.canonical("Smile") == "smiling" and attributes.canonical("gender") == "male"
    assert attributes.canonical("grey hair") == "gray_hair" and attributes.canonical("Mouth-Open") == "mouth_open"


# ---------------------------------------------------------------------------------------------------- CLI
@pytest.fixture()
def cli_model(tiny, monkeypatch):
    m = api.Model(G=tiny.G, name="tiny", sha256="b" * 64)
    monkeypatch.setattr(api, "load", lambda *a, **k: m)
    monkeypatch.setattr(AttributeScorer, "load", classmethod(lambda cls, **k: stats_scorer()))
    monkeypatch.setenv("FACEEDIT_CACHE", "/nonexistent-cache-for-tests")
    return m


def _mean(path):
    return np.asarray(Image.open(path), dtype=np.float64).mean()


def test_cli_fit_list_edit_animate_report(cli_model, tmp_path, capsys):
    d = tmp_path / "dirs"
    assert main(["directions", "fit", "--attr", "brightness,redness,top_light", "--samples", "800", "--ratio",
                 "0.1", "--batch", "200", "-o", str(d), "--samples-file", str(tmp_path / "s.npz")]) == 0
    out = capsys.readouterr().out
    assert "samples/s" in out and "brightness" in out and (d / "brightness.w.npy").is_file()
    assert main(["directions", "list", str(d)]) == 0
    assert "redness" in capsys.readouterr().out
    # reuse of the samples file: no new sampling
    assert main(["directions", "fit", "--attr", "brightness", "--space", "z", "-o", str(d), "--ratio", "0.1",
                 "--samples-file", str(tmp_path / "s.npz")]) == 0
    assert "reusing 800" in capsys.readouterr().out

    lo, hi = tmp_path / "lo.png", tmp_path / "hi.png"
    assert main(["edit", "--seed", "4", "--brightness", "-3", "--directions", str(d), "-o", str(lo)]) == 0
    assert main(["edit", "4", "--brightness=3", "--keep", "redness", "--directions", str(d), "-o", str(hi)]) == 0
    assert _mean(hi) > _mean(lo) + 3
    grid = tmp_path / "grid.png"
    assert main(["edit", "1,2", "--brightness", "3", "--redness", "2", "--grid", "--columns", "4",
                 "--directions", str(d), "-o", str(grid), "--save-latents", str(tmp_path / "e.npz")]) == 0
    w, h = Image.open(grid).size  # labelled: 4 rows (2 faces × 2 attributes) of 4 cells scaled up to 128 px
    assert w > 4 * 128 and h > 4 * 128
    assert main(["edit", "--latent", str(tmp_path / "e.npz") + "#1", "--edit", "redness=1", "--compare",
                 "--directions", str(d), "-o", str(tmp_path / "c.png")]) == 0
    assert Image.open(tmp_path / "c.png").size == (2 * RES + 2, RES)

    gif = tmp_path / "a.gif"
    assert main(["animate", "--seed", "3", "--attr", "brightness,redness", "--range", "-2", "2", "--frames", "6",
                 "--pingpong", "--side-by-side", "--directions", str(d), "-o", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 2 * (6 + 4) and im.size == (2 * RES + 2, RES)
        im.seek(0)
        first = np.asarray(im.convert("RGB"), dtype=float)[:, RES + 2:].mean()
        im.seek(5)
        last = np.asarray(im.convert("RGB"), dtype=float)[:, RES + 2:].mean()
    assert last > first + 3

    png = tmp_path / "report.png"
    assert main(["directions", "report", str(d), "-o", str(png), "--samples-file", str(tmp_path / "s.npz"),
                 "--edit-samples", "16"]) == 0
    out = capsys.readouterr().out
    assert "| brightness | w |" in out and png.is_file()
    assert main(["directions", "report", str(d), "-o", str(png), "--edit-samples", "8", "--json",
                 "--save-json", str(tmp_path / "r.json")]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert json.loads((tmp_path / "r.json").read_text())["names"] == rep["names"]
    names = rep["names"]
    eff = np.array(rep["effect"])
    assert eff[names.index("brightness"), names.index("brightness")] > 0.3
    assert np.allclose(np.diag(np.array(rep["cosine"])), 1, atol=1e-5)


def test_cli_errors(cli_model, tmp_path, capsys):
    def err(args):
        code = main(args)
        msg = capsys.readouterr().err.strip()
        assert code != 0 and msg.startswith("error:") and "\n" not in msg, msg
        return msg

    assert "no directions fitted" in err(["edit", "--seed", "1", "--smiling", "1", "-o", str(tmp_path / "x.png")])
    d = tmp_path / "d"
    directions.DirectionSet([Direction("brightness", "w", np.ones(cli_model.w_dim, np.float32), 1.0,
                                       {"model_sha256": "b" * 64})]).save(d)
    args = ["--directions", str(d), "-o", str(tmp_path / "x.png")]
    assert "no edit given" in err(["edit", "--seed", "1"] + args)
    assert "available: brightness" in err(["edit", "--seed", "1", "--frown", "2"] + args)
    assert "must be a number" in err(["edit", "--seed", "1", "--brightness", "lots"] + args)
    assert "between" in err(["edit", "--seed", "1", "--brightness", "1e9"] + args)
    assert "no face given" in err(["edit", "--brightness", "1"] + args)
    assert ".png" in err(["edit", "--seed", "1", "--brightness", "1", "--directions", str(d), "-o",
                          str(tmp_path / "x.txt")])
    assert "use .gif or .mp4" in err(["animate", "--seed", "1", "--attr", "brightness", "--directions", str(d),
                                      "-o", str(tmp_path / "x.png")])
    assert "frames" in err(["animate", "--seed", "1", "--attr", "brightness", "--frames", "1", "--directions",
                            str(d), "-o", str(tmp_path / "x.gif")])
    assert "no score for attribute" in err(["directions", "fit", "--attr", "smiling", "--samples", "100",
                                            "-o", str(tmp_path / "f")])
    assert "--space" in err(["directions", "fit", "--attr", "brightness", "--space", "q", "-o", str(tmp_path / "f")])
    other = tmp_path / "o"
    directions.DirectionSet([Direction("brightness", "w", np.ones(cli_model.w_dim, np.float32), 1.0,
                                       {"model_sha256": "c" * 64})]).save(other)
    assert "another model" in err(["edit", "--seed", "1", "--brightness", "1", "--directions", str(other),
                                   "-o", str(tmp_path / "x.png")])
    assert main(["edit", "--seed", "1", "--brightness", "1", "--directions", str(other), "--force",
                 "-o", str(tmp_path / "x.png")]) == 0


def test_model_edit_api(tiny, fitted, tmp_path):
    _, ds = fitted
    m = api.Model(G=tiny.G, name="tiny", sha256="b" * 64)
    ds.save(tmp_path / "d")
    assert m.directions(tmp_path / "d").names == ds.names
    m._directions = ds
    ws = m.generate(seeds=[1, 2]).ws
    out = m.edit(ws, brightness=1.0, keep=["redness"], layers="coarse")
    assert torch.allclose(out, ds.apply(ws, {"brightness": 1.0}, ["redness"], "coarse"))
    assert torch.allclose(m.edit(ws, {"brightness": 0.5}, redness=1.0), ds.apply(ws, {"brightness": 0.5, "redness": 1}))


def test_cli_edit_photo_pastes_back(cli_model, tmp_path, capsys, monkeypatch):
    """A photo (here an already-aligned square, twice the model's size) is inverted, edited and pasted back:
    the output has the photo's size, and the edit changes it."""
    from faceedit.media import save_image, to_uint8

    d = tmp_path / "dirs"
    assert main(["directions", "fit", "--attr", "brightness", "--samples", "400", "--ratio", "0.1", "-o", str(d)]) == 0
    img = to_uint8(cli_model.synthesize(cli_model.map(cli_model.z_from_seeds([9]), 0.7)))[0]
    photo = tmp_path / "photo.png"
    save_image(photo, np.asarray(Image.fromarray(img).resize((2 * RES, 2 * RES))))
    outs = {}
    for amount in ("-3", "3"):
        outs[amount] = tmp_path / f"e{amount}.png"
        assert main(["edit", str(photo), "--aligned", "--method", "optimize", "--steps", "5", "--brightness", amount,
                     "--directions", str(d), "-o", str(outs[amount])]) == 0
        assert Image.open(outs[amount]).size == (2 * RES, 2 * RES)
    assert _mean(outs["3"]) > _mean(outs["-3"]) + 2
    crop = tmp_path / "crop.png"
    assert main(["edit", str(photo), "--aligned", "--method", "optimize", "--steps", "5", "--brightness", "1",
                 "--crop", "--directions", str(d), "-o", str(crop)]) == 0
    assert Image.open(crop).size == (RES, RES)
    # the photo's own detail: with no edit, 'change' (the default) gives back the photo's pixels exactly, while
    # 'replace' pastes the generator's low-resolution face; a real edit changes both alike
    detail = np.asarray(Image.open(photo), float)
    got = {}
    for paste in ("change", "replace"):
        for amount in ("0", "3"):
            got[paste, amount] = tmp_path / f"p_{paste}{amount}.png"
            assert main(["edit", str(photo), "--aligned", "--method", "optimize", "--steps", "5", "--brightness",
                         amount, "--paste", paste, "--directions", str(d), "-o", str(got[paste, amount])]) == 0
    diff = {k: np.abs(np.asarray(Image.open(v), float) - detail).mean() for k, v in got.items()}
    assert diff["change", "0"] < 0.5 < diff["replace", "0"]
    assert _mean(got["change", "3"]) > _mean(got["change", "0"]) + 2
    assert main(["edit", str(photo), "--aligned", "--paste", "blend", "--brightness", "1", "--directions", str(d),
                 "-o", str(crop)]) != 0
    code = main(["edit", str(tmp_path / "missing.jpg"), "--brightness", "1", "--directions", str(d), "-o",
                 str(crop)])
    assert code != 0 and "photo not found" in capsys.readouterr().err
    # the default method, pivotal (here without an encoder: the pivot comes from a short optimisation), draws
    # the photo closer than the optimisation alone
    import faceedit.invert as inv_mod

    monkeypatch.setitem(inv_mod.METHODS, "optimize", dataclasses.replace(inv_mod.METHODS["optimize"], steps=5))
    crops = {}
    for method in ("optimize", "pivotal"):
        crops[method] = tmp_path / f"{method}.png"
        args = ["--method", "optimize", "--steps", "5"] if method == "optimize" else ["--steps", "30"]
        assert main(["edit", str(photo), "--aligned", *args, "--brightness", "0", "--crop", "--directions", str(d),
                     "-o", str(crops[method])]) == 0
    assert "pivot comes from optimisation" in capsys.readouterr().err
    err = {k: np.square(np.asarray(Image.open(v), float) - img).mean() for k, v in crops.items()}
    assert err["pivotal"] < 0.7 * err["optimize"]


SHIPPED = ("smiling", "age", "male", "eyeglasses", "yaw", "pitch", "mouth_open", "eyes_narrowed", "bangs", "beard",
           "black_hair", "blond_hair", "gray_hair", "happy", "sad", "angry", "surprised")


def test_shipped_directions_belong_to_the_default_generator_and_work():
    """The directions in assets/ were fitted on the shipped generator (same sha256), each with its measured accuracy,
    and moving along the smile and gender directions moves the project's classifier the same way."""
    from faceedit.scorers import load_classifier

    m = api.load()
    ds = m.directions()
    assert ds.folder == directions.SHIPPED_DIR
    for name in SHIPPED:
        d = ds.get(name)
        assert d.meta["model_sha256"] == m.sha256, name
        assert d.meta["val_accuracy"] >= 0.8 and d.meta["n_samples"] >= 10000, (name, d.meta)
    clf = load_classifier()
    ws = m.generate(seeds=range(8)).ws
    for attr, column in (("smiling", "Smiling"), ("male", "Male")):
        i = clf.attributes.index(column)
        up = clf.logits(m.synthesize(m.edit(ws, {attr: 4.0})))[:, i]
        down = clf.logits(m.synthesize(m.edit(ws, {attr: -4.0})))[:, i]
        assert float((up - down).mean()) > 1.0, attr
