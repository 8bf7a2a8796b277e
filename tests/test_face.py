"""The face being edited (faceedit.face): one resolver for seeds, latent files and photos; a face is drawn by its
own generator (a pivotal photo's tuned one) with its noise maps everywhere — edit, mix, morph, the web page."""

from __future__ import annotations

import functools
import io
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit import api
from faceedit.cli import main
from faceedit.edit.directions import Direction, DirectionSet
from faceedit.edit.mixing import mix
from faceedit.edit.morph import morph_latents, morph_times
from faceedit.face import face_from_photo, mix_faces, morph_images, resolve_face
from faceedit.invert import encoder as E
from faceedit.invert.optimize import noise_layers
from faceedit.latents import NOISE_PREFIX
from faceedit.media import to_uint8

from _edit_helpers import tiny_model

RES = 32
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    m = api.Model(G=tiny_model(RES).G, name="tiny", sha256="d" * 64)
    for _, layer in noise_layers(m.G):  # the random generator's noise strengths start at 0: make noise visible
        layer.noise_strength.data.fill_(0.5)
    return m


@pytest.fixture(scope="module")
def encoder_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("enc") / "enc.safetensors"
    torch.manual_seed(0)
    E.save_encoder(path, E.Encoder(E.EncoderConfig.for_model(model, stem=8, channels=[8, 16, 16], pyramid=16,
                                                                head_channels=4), model.G.mapping.w_avg), model)
    return path


@pytest.fixture(scope="module")
def photo(model, tmp_path_factory) -> "Path":  # noqa: F821
    """An aligned face image (another generator's drawing, so the inversion has something to tune towards)."""
    other = tiny_model(RES, seed=3)
    img = to_uint8(other.synthesize(other.map(other.z_from_seeds([2]), 0.7)))[0]
    path = tmp_path_factory.mktemp("photo") / "face.png"
    Image.fromarray(np.asarray(Image.fromarray(img).resize((64, 64), Image.LANCZOS))).save(path)
    return path


@pytest.fixture(scope="module")
def tuned_file(model, encoder_file, photo, tmp_path_factory, monkeymodule):
    """A latent file from `faceedit invert --method pivotal`, with noise maps added for its row (a face with both a
    tuned generator and its own noise)."""
    monkeymodule.setattr(api, "load", lambda *a, **k: model)
    lat = tmp_path_factory.mktemp("lat") / "lat.npz"
    assert main(["invert", str(photo), "--aligned", "--method", "pivotal", "--steps", "15", "--encoder",
                 str(encoder_file), "--perceptual", "none", "-o", str(lat), "--quiet"]) == 0
    g = torch.Generator().manual_seed(1)
    with np.load(lat) as z:
        arrays = {k: z[k] for k in z.files}
    for name, layer in noise_layers(model.G):
        arrays[NOISE_PREFIX + name] = torch.randn(1, 1, layer.resolution, layer.resolution, generator=g).numpy()
    np.savez(lat, **arrays)
    return lat


@pytest.fixture(scope="module")
def monkeymodule():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _differs(a: np.ndarray, b: np.ndarray, by: int = 3) -> bool:
    return int(np.abs(a.astype(int) - b.astype(int)).max()) > by


# ------------------------------------------------------------------------------------------------ the type
def test_a_latent_file_brings_its_tuned_generator_and_noise(model, tuned_file):
    face = resolve_face(f"{tuned_file}#0", model)
    assert face.generator is not model and face.generator.sha256 == model.sha256
    assert set(face.noise) == {n for n, _ in noise_layers(model.G)}
    drawn = face.render()[0]
    tuned_only = to_uint8(face.generator.synthesize(face.ws))[0]
    base = to_uint8(model.synthesize(face.ws, noise=face.noise))[0]
    assert _differs(drawn, tuned_only) and _differs(drawn, base)  # both the weights and the noise count
    seed = resolve_face("5", model)
    assert seed.generator is model and seed.noise is None and seed.photo is None and seed.z is not None


def test_mix_and_morph_draw_with_each_face_generator(model, tuned_file):
    face, other = resolve_face(f"{tuned_file}#0", model), resolve_face("5", model)
    mixed = mix_faces(face, other, "fine")
    assert mixed.generator is face.generator and mixed.noise is face.noise
    assert torch.equal(mixed.ws, mix(face.ws, other.ws, "fine"))
    ws = morph_latents(model, face.ws, other.ws, steps=3)
    frames = list(morph_images(face, other, ws, morph_times(3)))
    assert np.abs(frames[0].astype(int) - face.render()[0]).max() <= 1
    assert np.abs(frames[-1].astype(int) - other.render()[0]).max() <= 1
    assert _differs(frames[1], to_uint8(model.synthesize(ws[1:2]))[0])  # blended weights, not the base's


def test_a_photo_face_pastes_the_change_and_comes_back_unedited(model, encoder_file, photo):
    face = face_from_photo(photo, model, method="pivotal", aligned=True, steps=10, encoder=encoder_file,
                           perceptual=None)
    assert face.photo is not None and face.generator is not model and face.label == "face"
    original = _png(photo)
    assert np.array_equal(face.render()[0], original)  # nothing edited: the photo itself, pixel for pixel
    edited = face.render(face.ws + 0.8)[0]
    assert edited.shape == original.shape and _differs(edited, original)
    assert face.frame_pixels() == 64 * 64 and face.frame_pixels(paste=None) == RES * RES


# ------------------------------------------------------------------------------------------------ the CLI
def test_cli_edit_mix_and_morph_draw_the_tuned_face(model, tuned_file, tmp_path, monkeypatch):
    monkeypatch.setattr(api, "load", lambda *a, **k: model)
    face, other = resolve_face(f"{tuned_file}#0", model), resolve_face("5", model)
    rng = np.random.default_rng(0)
    v = rng.standard_normal(model.w_dim).astype(np.float32)
    dirs = DirectionSet([Direction("smiling", "w", v / np.linalg.norm(v), 1.0, {})])
    dirs.save(tmp_path / "dirs")

    assert main(["edit", f"{tuned_file}#0", "--smiling", "2", "--directions", str(tmp_path / "dirs"), "-o",
                 str(tmp_path / "e.png")]) == 0
    assert np.array_equal(_png(tmp_path / "e.png"), face.render(dirs.apply(face.ws, {"smiling": 2.0}))[0])

    assert main(["mix", f"{tuned_file}#0", "5", "--layers", "fine", "-o", str(tmp_path / "m.png")]) == 0
    want = face.render(mix(face.ws, other.ws, "fine"))[0]
    assert np.array_equal(_png(tmp_path / "m.png"), want)
    assert _differs(want, to_uint8(model.synthesize(mix(face.ws, other.ws, "fine")))[0])

    assert main(["crossover", f"{tuned_file}#0", "5", "--k", "4", "-o", str(tmp_path / "c.png")]) == 0
    from faceedit.edit.mixing import crossover

    assert np.array_equal(_png(tmp_path / "c.png"), face.render(crossover(face.ws, other.ws, 4))[0])

    assert main(["morph", f"{tuned_file}#0", "5", "--frames", "3", "-o", str(tmp_path / "strip.png")]) == 0
    strip = _png(tmp_path / "strip.png")  # 3 frames side by side, 2 px apart
    first, last = strip[:, :RES], strip[:, -RES:]
    assert np.abs(first.astype(int) - face.render()[0]).max() <= 1
    assert np.abs(last.astype(int) - other.render()[0]).max() <= 1


# ------------------------------------------------------------------------------------------------ the web page
def test_web_draws_uploads_with_their_tuned_generator_and_noise(model, encoder_file, photo):
    pytest.importorskip("fastapi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient as _TestClient
    from faceedit.web import create_app

    made = []

    def inverter(path, m, progress=None, aligned=False, **_kw):
        """pivotal (a tuned generator) for the first upload, optimisation with noise maps for the second"""
        kw = ({"method": "pivotal", "steps": 10, "encoder": encoder_file} if not made else
              {"method": "optimize", "steps": 3, "optimize_noise": True})
        made.append(face_from_photo(path, m, aligned=True, perceptual=None, **kw))
        return made[-1]

    dirs = DirectionSet([Direction("smiling", "w", np.eye(model.w_dim, dtype=np.float32)[0], 1.0, {})])
    client = functools.partial(_TestClient, base_url="http://127.0.0.1")
    with client(create_app(model, dirs, inverter)) as c:
        sessions = []
        for _ in range(2):
            r = c.post("/api/upload", files={"file": ("face.png", photo.read_bytes(), "image/png")},
                       params={"aligned": "true"})
            job = r.json()
            while job["state"] in ("queued", "running"):
                time.sleep(0.05)
                job = c.get(f"/api/jobs/{job['id']}").json()
            assert job["state"] == "done", job
            sessions.append(job["session"])
        tuned, noisy = made
        assert tuned.generator is not model and noisy.noise is not None
        for sid, face in zip(sessions, made):
            got = _png(io.BytesIO(c.get(f"/api/sessions/{sid}/image.png").content))
            assert np.array_equal(got, face.render(paste=None)[0])
            back = _png(io.BytesIO(c.get(f"/api/sessions/{sid}/image.png", params={"view": "photo"}).content))
            assert np.array_equal(back, _png(photo))  # drawn like the reconstruction: the photo comes back
            edited = _png(io.BytesIO(c.get(f"/api/sessions/{sid}/image.png", params={"edit": "smiling:3"}).content))
            assert np.array_equal(edited, face.render(dirs.apply(face.ws, {"smiling": 3.0}), paste=None)[0])
        seed = c.post("/api/generate", json={"seed": 5}).json()["id"]
        mixed = c.post("/api/mix", json={"a": sessions[0], "b": seed, "layers": "fine"}).json()["id"]
        got = _png(io.BytesIO(c.get(f"/api/sessions/{mixed}/image.png").content))
        other = resolve_face("5", model)
        assert np.array_equal(got, tuned.render(mix(tuned.ws, other.ws, "fine"), paste=None)[0])
        r = c.post("/api/morph", json={"a": sessions[1], "b": seed, "frames": 3})
        assert r.status_code == 200, r.text
        with Image.open(io.BytesIO(r.content)) as gif:
            first = np.asarray(gif.convert("RGB"), dtype=int)
        drawn, plain = noisy.render(paste=None)[0], to_uint8(model.synthesize(noisy.ws))[0]
        assert np.abs(first - drawn).mean() < np.abs(first - plain).mean()  # the noise maps are in the morph
