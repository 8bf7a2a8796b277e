"""REST API of the web app (faceedit.web) on a tiny random generator, through FastAPI's TestClient."""

import functools
import io
import os
import threading
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from PIL import Image  # noqa: E402

from _edit_helpers import photo_face, tiny_model  # noqa: E402
from faceedit.edit.directions import Direction, DirectionSet  # noqa: E402
from faceedit.errors import FaceEditError  # noqa: E402
from faceedit.media import to_uint8  # noqa: E402
from faceedit.web import create_app  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx vs httpx2
    from fastapi.testclient import TestClient as _TestClient

# the app answers only for the address it listens on (DNS-rebinding guard): talk to it as 127.0.0.1
TestClient = functools.partial(_TestClient, base_url="http://127.0.0.1")


def make_directions(model, names=("smiling", "age", "male"), seed=0):
    rng = np.random.default_rng(seed)
    dirs = []
    for name in names:
        v = rng.standard_normal(model.w_dim).astype(np.float32)
        dirs.append(Direction(name, "w", v / np.linalg.norm(v), scale=1.0, meta={"val_accuracy": 0.9}))
    return DirectionSet(dirs)


def png(size=(48, 36), color=(200, 120, 90)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def fake_inverter(path, model, progress=None, **_kw):
    """Stands for face_from_photo: reports progress, returns a face pasted into the photo's corner."""
    if progress is not None:
        for i in range(1, 5):
            progress(i, 4, {})
    return photo_face(model, path, ["fake inversion"])


@pytest.fixture(scope="module")
def model():
    return tiny_model(32)


@pytest.fixture()
def client(model):
    app = create_app(model, make_directions(model), fake_inverter)
    with TestClient(app) as c:
        yield c


def new_face(client, seed=1, truncation=0.7):
    r = client.post("/api/generate", json={"seed": seed, "truncation": truncation})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def edit(client, sid, **body):
    return client.post(f"/api/sessions/{sid}/edit", json=body)


def decode(r):
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(r.content)))


def assert_error(r, status, words=""):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and "\n" not in body["error"], body
    assert words.lower() in body["error"].lower(), body


def upload_done(client, data, **params):
    r = client.post("/api/upload", files={"file": ("face.png", data, "image/png")}, params=params)
    assert r.status_code == 202, r.text
    job = r.json()
    for _ in range(200):
        if job["state"] not in ("queued", "running"):
            break
        time.sleep(0.02)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


# ------------------------------------------------------------------------------------------------- faces
def test_generate_gives_a_session_and_its_image(client, model):
    sid = new_face(client, seed=3)
    info = client.get(f"/api/sessions/{sid}").json()
    assert info["source"] == "seed" and info["seed"] == 3 and info["image"].endswith("/image.png")
    img = decode(client.get(info["image"]))
    assert img.shape == (model.resolution, model.resolution, 3)
    again = decode(client.get(f"/api/sessions/{new_face(client, seed=3)}/image.png"))
    assert np.array_equal(img, again)
    other = decode(client.get(f"/api/sessions/{new_face(client, seed=4)}/image.png"))
    assert not np.array_equal(img, other)


def test_bad_generate_requests(client):
    assert_error(client.post("/api/generate", json={"seed": -1}), 422, "seed")
    assert_error(client.post("/api/generate", json={"seed": 1, "truncation": 9}), 422, "truncation")
    assert_error(client.post("/api/generate", content=b"{not json", headers={"content-type": "application/json"}),
                 422, "invalid request")


# ------------------------------------------------------------------------------------------------- edits
def test_edit_changes_the_image_and_zero_does_not(client):
    sid = new_face(client)
    base = decode(edit(client, sid))
    assert np.array_equal(base, decode(edit(client, sid, amounts={"smiling": 0})))
    smiling = decode(edit(client, sid, amounts={"smiling": 3}))
    assert np.abs(smiling.astype(int) - base).mean() > 1
    both = decode(edit(client, sid, amounts={"smiling": 3, "age": -2}))
    assert not np.array_equal(both, smiling)


def test_keep_and_layers_are_applied(client):
    sid = new_face(client)
    plain = decode(edit(client, sid, amounts={"smiling": 3}))
    kept = decode(edit(client, sid, amounts={"smiling": 3}, keep=["male", "age"]))
    fine = decode(edit(client, sid, amounts={"smiling": 3}, layers="fine"))
    coarse = decode(edit(client, sid, amounts={"smiling": 3}, layers="0-2"))
    assert not np.array_equal(plain, kept)
    assert not np.array_equal(plain, fine) and not np.array_equal(fine, coarse)
    # the query form of the same edit gives the same image
    q = decode(client.get(f"/api/sessions/{sid}/image.png",
                          params={"edit": "smiling:3", "keep": "male,age"}))
    assert np.array_equal(q, kept)


def test_bad_edits_are_one_line_422(client):
    sid = new_face(client)
    assert_error(edit(client, sid, amounts={"wings": 1}), 422, "wings")
    assert_error(edit(client, sid, amounts={"smiling": 1}, layers="40-50"), 422, "")
    assert_error(edit(client, sid, amounts={"smiling": 1}, keep=["nope"]), 422, "nope")
    assert_error(edit(client, sid, amounts={"smiling": 99}), 422, "between")
    assert_error(client.get(f"/api/sessions/{sid}/image.png", params={"edit": "smiling"}), 422, "attribute:amount")


def test_stale_requests_are_dropped(client):
    sid = new_face(client)
    assert edit(client, sid, amounts={"smiling": 1}, seq=5).status_code == 200
    assert_error(edit(client, sid, amounts={"smiling": 2}, seq=4), 409, "newer")
    assert edit(client, sid, amounts={"smiling": 2}, seq=6).status_code == 200


def test_style_picker_applies_a_shipped_style_network(client, tmp_path, monkeypatch):
    import torch

    from faceedit.stylize import styles
    from faceedit.stylize.johnson import PRESETS, TransformNet, save_style_model

    monkeypatch.setattr(styles, "STYLES_DIR", tmp_path)
    torch.manual_seed(0)
    save_style_model(tmp_path / "stripes.safetensors", TransformNet(PRESETS["slim"]),
                     {"style": {"title": "Stripes", "artist": "a test"}})
    assert client.get("/api/info").json()["styles"] == [{"name": "stripes", "title": "Stripes", "artist": "a test"}]
    sid = new_face(client)
    base = decode(edit(client, sid))
    styled = decode(edit(client, sid, style="stripes"))
    assert styled.shape == base.shape and np.abs(styled.astype(int) - base).mean() > 5
    assert np.array_equal(base, decode(edit(client, sid)))  # the unstyled preview is not replaced in the cache
    assert_error(edit(client, sid, style="nope"), 422, "unknown style")
    assert_error(edit(client, sid, style="../x"), 422, "style")


def test_art_generators_adapted_from_the_served_model_are_styles():
    """The shipped art generators adapted from the served model appear as 'art:NAME' styles and redraw the same
    latent with G_B; with another served model (the tiny one of the other tests) none appear."""
    from faceedit.adapt.faces import drawn_by
    from faceedit.model import load

    model = load("default")
    with TestClient(create_app(model, None, fake_inverter)) as c:
        names = [s["name"] for s in c.get("/api/info").json()["styles"]]
        assert {"art:mona_lisa", "art:pearl_earring", "art:van_gogh"} <= set(names)
        sid = new_face(c, seed=3)
        base = decode(edit(c, sid))
        art = decode(edit(c, sid, style="art:mona_lisa"))
        face = c.app.state.faceedit.session(sid).face
        assert art.shape == base.shape and np.abs(art.astype(int) - base).mean() > 3
        want = drawn_by(face, load("mona_lisa")).render(face.ws)[0]
        assert np.abs(want.astype(int) - art).max() <= 1
        assert_error(edit(c, sid, style="art:nope"), 422, "unknown style")


def test_attributes_and_info(client):
    attrs = client.get("/api/attributes").json()
    assert attrs["available"] and {a["attribute"] for a in attrs["attributes"]} == {"smiling", "age", "male"}
    assert all(a["val_accuracy"] == 0.9 for a in attrs["attributes"])
    info = client.get("/api/info").json()
    assert info["features"]["edit"]["available"] and info["features"]["upload"]["available"]
    assert info["limits"]["upload_bytes"] == 20 * 1024 * 1024


def test_attributes_have_human_labels_groups_and_reliability(client):
    attrs = client.get("/api/attributes").json()
    groups = [g["id"] for g in attrs["groups"]]
    assert groups[:5] == ["expression", "age_gender", "pose", "hair", "accessories"]
    rows = {a["attribute"]: a for a in attrs["attributes"]}
    assert rows["smiling"]["label"] == "Smile" and rows["smiling"]["group"] == "expression"
    assert rows["male"]["group"] == rows["age"]["group"] == "age_gender"
    # in page order: by group (expression before age & gender), whatever the fitted set's order
    assert [a["attribute"] for a in attrs["attributes"]] == ["smiling", "age", "male"]
    assert rows["smiling"]["reliability"] == "good" and "90 of 100" in rows["smiling"]["reliability_note"]


def test_labels_cover_unknown_attributes_and_every_accuracy():
    from faceedit.web.labels import attribute_group, attribute_label, reliability

    assert attribute_label("double_chin") == "Double chin" and attribute_group("double_chin") == "other"
    assert [reliability(a)[0] for a in (1.0, 0.95, 0.93, 0.85, 0.5, 0.0)] == [
        "reliable", "reliable", "good", "fair", "rough", "rough"]
    assert reliability(None) is None


def test_examples_favicon_and_example_photos(client):
    ex = client.get("/api/examples").json()
    assert len(ex["seeds"]) >= 4 and len(ex["photos"]) >= 1
    thumb = client.get(ex["seeds"][0]["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    model = client.app.state.faceedit.model
    seed = ex["seeds"][0]["seed"]
    assert np.array_equal(decode(thumb), model.generate(seeds=[seed], truncation=0.7).images[0])
    assert client.get(ex["seeds"][0]["thumbnail"]).content == thumb.content  # cached, same bytes
    assert_error(client.get("/api/examples/seed/123456.png"), 404, "example seed")
    photo = client.get(ex["photos"][0]["url"])
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(photo.content)).size == (320, 256)
    assert client.get("/static/examples/../app.py").status_code == 404
    assert client.get("/static/examples/nothing.jpg").status_code == 404
    for url in ("/favicon.ico", "/static/favicon.svg"):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml") and b"<svg" in r.content
    assert 'rel="icon"' in client.get("/").text


def test_mix_preview_for_the_gallery_is_the_mix_without_a_session(client):
    a, b = new_face(client, 1), new_face(client, 2)
    store = client.app.state.faceedit.sessions
    n_sessions = len(store._items)
    r = client.get(f"/api/sessions/{a}/mix/2.png?layers=coarse&truncation=0.7")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    mixed = client.post("/api/mix", json={"a": a, "b": b, "layers": "coarse"}).json()["id"]
    assert np.array_equal(decode(r), decode(edit(client, mixed)))
    assert client.get(f"/api/sessions/{a}/mix/2.png?layers=coarse&truncation=0.7").content == r.content
    other = client.get(f"/api/sessions/{a}/mix/2.png?layers=fine&truncation=0.7")
    assert not np.array_equal(decode(other), decode(r))
    assert len(store._items) == n_sessions + 1  # the previews made no session, only the explicit mix did
    for bad in ("truncation=nan", "truncation=2", "layers=40-50"):
        assert client.get(f"/api/sessions/{a}/mix/2.png?{bad}").status_code == 422, bad
    assert client.get(f"/api/sessions/{a}/mix/-1.png").status_code == 422
    assert client.get("/api/sessions/" + "0" * 32 + "/mix/2.png").status_code == 404


def test_missing_directions_grey_out_edits(model):
    with TestClient(create_app(model, directions=False, inverter=False)) as c:
        info = c.get("/api/info").json()
        assert not info["features"]["edit"]["available"] and info["features"]["edit"]["reason"]
        assert not info["features"]["upload"]["available"] and info["features"]["upload"]["reason"]
        assert c.get("/api/attributes").json()["attributes"] == []
        sid = new_face(c)
        decode(edit(c, sid))  # the unedited face still renders
        assert_error(edit(c, sid, amounts={"smiling": 1}), 422, "unavailable")
        assert_error(c.post("/api/upload", files={"file": ("a.png", png(), "image/png")}), 501, "switched off")


# ------------------------------------------------------------------------------------------------- sessions
def test_sessions_are_evicted_lru_and_by_age(model):
    app = create_app(model, make_directions(model), False, max_sessions=2, max_age_s=100)
    store = app.state.faceedit.sessions
    now = [0.0]
    store.clock = lambda: now[0]
    with TestClient(app) as c:
        a, b = new_face(c, 1), new_face(c, 2)
        assert c.get(f"/api/sessions/{a}").status_code == 200  # a is now the most recent
        cid = new_face(c, 3)
        assert_error(c.get(f"/api/sessions/{b}"), 404, "no such session")
        assert c.get(f"/api/sessions/{a}").status_code == 200
        now[0] = 50
        assert c.get(f"/api/sessions/{cid}").status_code == 200
        now[0] = 120  # a idle for 120 s, c for 70 s
        assert_error(c.get(f"/api/sessions/{a}/image.png"), 404, "expired")
        assert c.get(f"/api/sessions/{cid}").status_code == 200
        assert c.delete(f"/api/sessions/{cid}").status_code == 204
        assert c.get(f"/api/sessions/{cid}").status_code == 404
        assert store.evicted == 2


def test_photo_sessions_are_capped(model):
    app = create_app(model, make_directions(model), fake_inverter)
    app.state.faceedit.sessions.max_photos = 2
    with TestClient(app) as c:
        seed_face = new_face(c)
        photos = [upload_done(c, png())["session"] for _ in range(3)]
        assert c.get(f"/api/sessions/{photos[0]}").status_code == 404
        assert all(c.get(f"/api/sessions/{sid}").status_code == 200 for sid in [seed_face, *photos[1:]])


# ------------------------------------------------------------------------------------------------- uploads
def test_upload_inverts_in_the_background(client, model):
    job = upload_done(client, png((48, 40)))
    assert job["state"] == "done" and job["progress"] == 1.0, job
    info = client.get(f"/api/sessions/{job['session']}").json()
    assert info["source"] == "photo" and info["has_photo"] and info["note"] == "fake inversion"
    face = decode(client.get(info["image"]))
    assert face.shape == (model.resolution, model.resolution, 3)
    photo = decode(client.get(info["image"], params={"view": "photo", "edit": "smiling:2"}))
    assert photo.shape == (40, 48, 3)
    assert np.all(photo[35:, 40:] == (200, 120, 90))  # outside the pasted face: the photo itself
    assert_error(client.get(f"/api/sessions/{new_face(client)}/image.png", params={"view": "photo"}), 422, "photo")


def test_a_photo_draws_with_its_own_generator_and_noise(client, model):
    """A photo's face brings its own generator (a pivotal photo's tuned one) and noise maps: the session's images
    and edits are drawn by them, seeds by the model."""
    import torch

    from faceedit.invert.optimize import noise_layers

    own = tiny_model(32, seed=5)  # stands for the photo's tuned generator
    noise = {name: torch.randn(1, 1, layer.resolution, layer.resolution) for name, layer in noise_layers(own.G)}
    for _, layer in noise_layers(own.G):
        layer.noise_strength.data.fill_(0.5)
    faces = []

    def inverter(path, model, progress=None, **kw):
        faces.append(photo_face(model, path, generator=own, noise=noise))
        return faces[-1]

    client.app.state.faceedit.inverter = inverter
    info = client.get(f"/api/sessions/{upload_done(client, png((48, 40)))['session']}").json()
    face = faces[0]
    assert np.array_equal(decode(client.get(info["image"])), face.render(paste=None)[0])
    edited = client.app.state.faceedit.directions.apply(face.ws, {"smiling": 2.0})
    got = decode(client.get(info["image"], params={"edit": "smiling:2"}))
    assert np.array_equal(got, face.render(edited, paste=None)[0])
    without_noise = to_uint8(own.synthesize(edited))[0]
    assert np.abs(got.astype(int) - without_noise).max() > 0  # the noise maps are drawn
    base = to_uint8(model.synthesize(edited))[0]
    assert np.abs(got.astype(int) - base).max() > 10  # not the model's drawing
    seed = decode(client.get(f"/api/sessions/{new_face(client, seed=7)}/image.png"))
    assert np.array_equal(seed, to_uint8(model.synthesize(face.ws))[0])  # seeds: the model


def test_upload_raw_body_and_aligned_flag(client):
    seen = {}

    def inverter(path, model, aligned=False, **kw):
        seen["aligned"] = aligned
        return photo_face(model, path)

    client.app.state.faceedit.inverter = inverter
    r = client.post("/api/upload", content=png(), headers={"content-type": "image/png"}, params={"aligned": "true"})
    assert r.status_code == 202, r.text
    for _ in range(200):
        job = client.get(f"/api/jobs/{r.json()['id']}").json()
        if job["state"] == "done":
            break
        time.sleep(0.02)
    assert job["state"] == "done" and seen["aligned"] is True


def test_upload_limits(model):
    app = create_app(model, make_directions(model), fake_inverter, max_upload_bytes=4000, max_pixels=10_000)
    with TestClient(app) as c:
        big = np.random.default_rng(0).integers(0, 255, (60, 60, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(big).save(buf, format="PNG")
        assert len(buf.getvalue()) > 4000
        assert_error(c.post("/api/upload", files={"file": ("a.png", buf.getvalue(), "image/png")}), 413, "too large")
        assert_error(c.post("/api/upload", content=buf.getvalue(), headers={"content-type": "image/png"}), 413,
                     "too large")
        assert_error(c.post("/api/upload", files={"file": ("a.png", png((200, 100)), "image/png")}), 413, "pixels")
        # the type comes from the content, not the name or the declared type
        for data in (b"GIF89a" + b"\0" * 50, b"%PDF-1.4 hello", b"<svg></svg>"):
            assert_error(c.post("/api/upload", files={"file": ("a.jpg", data, "image/jpeg")}), 415, "JPEG, PNG or WebP")
        assert_error(c.post("/api/upload", files={"file": ("a.jpg", b"\xff\xd8\xff\xe0garbage", "image/jpeg")}),
                     422, "corrupt")
        assert_error(c.post("/api/upload", files={"other": ("a.png", png(), "image/png")}), 422, "'file'")
        assert_error(c.post("/api/upload", content=b"", headers={"content-type": "image/png"}), 422, "empty")


def test_no_face_is_a_clear_job_error(model):
    def no_face(path, model, **kw):
        raise FaceEditError(f"no face found in {path}")

    with TestClient(create_app(model, make_directions(model), no_face)) as c:
        job = upload_done(c, png())
        assert job["state"] == "error" and job["error"] == "no face found in the uploaded image", job
        assert job["session"] is None


# ------------------------------------------------------------------------------------------------- limits
def test_full_queue_answers_503_with_retry_after(model):
    app = create_app(model, make_directions(model), fake_inverter, max_pending=1)
    with TestClient(app) as c:
        sid = new_face(c)
        with app.state.faceedit.render.slot():
            r = edit(c, sid, amounts={"smiling": 1})
            assert_error(r, 503, "busy")
            assert r.headers["retry-after"] == "1"
            assert_error(c.post("/api/generate", json={"seed": 2}), 503, "busy")
        assert edit(c, sid, amounts={"smiling": 1}).status_code == 200


def test_inversion_jobs_are_bounded(model):
    release = threading.Event()

    def slow(path, model, **kw):
        release.wait(10)
        return photo_face(model, path)

    app = create_app(model, make_directions(model), slow, max_invert_jobs=1)
    with TestClient(app) as c:
        first = c.post("/api/upload", files={"file": ("a.png", png(), "image/png")})
        assert first.status_code == 202
        r = c.post("/api/upload", files={"file": ("b.png", png(), "image/png")})
        assert_error(r, 503, "busy")
        assert int(r.headers["retry-after"]) >= 1
        release.set()


def test_nothing_from_a_request_names_a_path(client):
    for url in ("/static/../app.py", "/static/..%2Fapp.py", "/static/%2e%2e%2f__init__.py", "/static/index.html",
                "/static/sessions.py", "/api/sessions/..%2F..%2Fetc%2Fpasswd", "/api/sessions/../../etc/passwd",
                "/api/jobs/..%2Fx"):
        r = client.get(url)
        assert r.status_code == 404, (url, r.status_code)
        assert "root:" not in r.text and "import" not in r.text
    assert client.get("/static/app.js").status_code == 200
    tmp = client.app.state.faceedit.tmp
    job = upload_done(client, png())
    assert job["state"] == "done"
    r = client.post("/api/upload", files={"file": ("../../../../tmp/evil.png", png(), "image/png")})
    assert r.status_code == 202
    assert not os.path.exists("/tmp/evil.png")
    assert all(len(p.stem) == 32 for p in tmp.iterdir())  # only random names, in the app's own folder


def test_openapi_and_pages(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/generate", "/api/upload", "/api/jobs/{job_id}", "/api/sessions/{sid}/edit",
                 "/api/sessions/{sid}/image.png", "/api/sessions/{sid}/animate", "/api/mix", "/api/morph",
                 "/api/attributes", "/api/info"):
        assert path in spec["paths"], path
    assert "multipart/form-data" in spec["paths"]["/api/upload"]["post"]["requestBody"]["content"]
    for page in ("/", "/docs"):
        r = client.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "http://" not in r.text and "https://" not in r.text  # no CDN
    assert "/static/app.js" in client.get("/").text


# ------------------------------------------------------------------------------------------------- mix, morph
def test_mix_morph_and_animate(client):
    a, b = new_face(client, 1), new_face(client, 2)
    r = client.post("/api/mix", json={"a": a, "b": b, "layers": "fine"})
    assert r.status_code == 201, r.text
    mixed = r.json()
    assert mixed["source"] == "mix" and mixed["parents"] == [a, b]
    ia, im = decode(client.get(f"/api/sessions/{a}/image.png")), decode(client.get(mixed["image"]))
    assert not np.array_equal(ia, im)
    assert_error(client.post("/api/mix", json={"a": a, "b": b, "layers": "nonsense"}), 422, "")

    r = client.post("/api/morph", json={"a": a, "b": b, "frames": 5})
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif" and r.content[:6] == b"GIF89a"
    assert Image.open(io.BytesIO(r.content)).n_frames == 5

    r = client.post(f"/api/sessions/{a}/animate", json={"amounts": {"smiling": 2}, "frames": 4, "pingpong": True})
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).n_frames == 6
    r = client.post(f"/api/sessions/{a}/animate", json={"attributes": ["smiling", "age"], "frames": 3,
                                                       "pingpong": False, "keep": ["male"]})
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).n_frames == 6
    assert_error(client.post(f"/api/sessions/{a}/animate", json={"frames": 3}), 422, "nothing to animate")
    assert_error(client.post(f"/api/sessions/{a}/animate", json={"attributes": ["smiling"] * 8, "frames": 120}),
                 422, "too many frames")
    if client.get("/api/info").json()["features"]["mp4"]["available"]:
        r = client.post(f"/api/sessions/{a}/animate", json={"amounts": {"age": 1}, "frames": 3, "format": "mp4"})
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4" and b"ftyp" in r.content[:16]


def test_serve_command_is_registered():
    from faceedit.cli import serve as serve_cli
    from faceedit.cli import main

    assert main(["serve", "--help"]) == 0
    assert serve_cli._loopback("127.0.0.1") and serve_cli._loopback("::1") and serve_cli._loopback("localhost")
    assert not serve_cli._loopback("0.0.0.0")
    assert main(["serve", "--port", "0"]) == 2
