"""Issue 19, items 1 and 8 on the web server: tiny uploads are refused before detection and a crash of the native
detector fails one job, never the server; Host header (DNS rebinding), cross-origin refusal, the optional access
token, per-client session limits and the body cap."""

from __future__ import annotations

import functools
import io
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from PIL import Image  # noqa: E402

from _edit_helpers import photo_face, tiny_model  # noqa: E402
from faceedit.errors import FaceEditError  # noqa: E402
from faceedit.web import create_app  # noqa: E402
from faceedit.web.security import HostPolicy  # noqa: E402
from faceedit.web.server import background_server  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one thread beats two that wait on 2 cores

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient as _TestClient

TestClient = functools.partial(_TestClient, base_url="http://127.0.0.1")


def png(size, color=(200, 120, 90)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def inverter_taking_faces(path, model, faces=None, progress=None, **_kw):
    """Like face_from_photo: uses the faces detected elsewhere, and fails as it would when there are none."""
    if faces is not None and not faces:
        raise FaceEditError(f"no face found in {path}")
    return photo_face(model, path)


@pytest.fixture(scope="module")
def model():
    return tiny_model(32)


def wait_job(client, job: dict, seconds: float = 120.0) -> dict:
    deadline = time.monotonic() + seconds
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


def upload(client, data: bytes, name: str = "face.png"):
    return client.post("/api/upload", files={"file": (name, data, "image/png")})


# ------------------------------------------------------------------------------------------ item 1: tiny images
def test_tiny_uploads_are_refused_and_the_server_keeps_answering(model):
    """2×300 and 1×1 PNGs crashed dlib (the second upload killed the server): now 422 before detection, twice."""
    app = create_app(model, False, inverter_taking_faces)
    with background_server(app) as url, httpx.Client(base_url=url, timeout=60) as c:
        for _ in range(2):
            for size in ((2, 300), (1, 1), (300, 2), (31, 400)):
                r = upload(c, png(size))
                assert r.status_code == 422, (size, r.text)
                assert "too small for face detection" in r.json()["error"] and "32 px" in r.json()["error"]
            assert c.get("/api/info").status_code == 200
            assert c.post("/api/generate", json={"seed": 1}).status_code == 201
        r = c.post("/api/upload", params={"aligned": "true"}, files={"file": ("a.png", png((24, 24)), "image/png")})
        assert r.status_code == 422 and "too small" in r.json()["error"]  # aligned crops too


def test_a_crash_of_the_detector_fails_one_job_and_the_server_goes_on(model):
    """The detector's worker process dies with SIGSEGV (as dlib did): the job reports it, the server answers, and
    the next detection runs in a fresh worker."""
    from faceedit.align.isolated import IsolatedDetector

    from _crash_helpers import CRASH_SIZE, segfault_on_crash_size

    det = IsolatedDetector(worker=segfault_on_crash_size, timeout_s=120)
    app = create_app(model, False, inverter_taking_faces, detector=det)
    with background_server(app) as url, httpx.Client(base_url=url, timeout=60) as c:
        for _ in range(2):
            r = upload(c, png(CRASH_SIZE))
            assert r.status_code == 202, r.text
            job = wait_job(c, r.json())
            assert job["state"] == "error" and "crashed" in job["error"] and "\n" not in job["error"], job
            assert c.get("/api/info").status_code == 200
            assert c.post("/api/generate", json={"seed": 2}).status_code == 201
        assert det.crashes == 2
        # the next image runs in a fresh worker
        job = wait_job(c, upload(c, png((64, 64))).json())
        assert job["state"] == "error" and job["error"] == "no face found in the uploaded image", job


def test_uploads_are_detected_in_a_worker_process_end_to_end(tmp_path):
    """With faceedit's own inverter the server detects faces in an IsolatedDetector (the same faces and landmarks
    as detect_faces in this process), and the photo still inverts."""
    from faceedit import api
    from faceedit.align import detect_faces, have_dlib, load_image
    if not have_dlib():
        pytest.skip("dlib not installed")
    m = api.load("default")
    face = Image.fromarray(m.generate(seeds=[3]).images[0]).resize((256, 256), Image.LANCZOS)
    buf = io.BytesIO()
    face.save(buf, format="PNG")
    app = create_app(m, False, invert_options={"method": "encoder"})
    det = app.state.faceedit.detector
    assert det is not None
    (tmp_path / "face.png").write_bytes(buf.getvalue())
    far, near = det.detect(tmp_path / "face.png"), detect_faces(load_image(tmp_path / "face.png"))
    assert len(far) == len(near) >= 1 and np.allclose(far[0].landmarks, near[0].landmarks)
    with TestClient(app) as c:
        for data in (buf.getvalue(), png((2, 300))):
            r = upload(c, data)
            if r.status_code == 202:
                job = wait_job(c, r.json())
                assert job["state"] == "done", job
            else:
                assert r.status_code == 422 and "too small" in r.json()["error"]
        assert c.get("/api/info").status_code == 200


# ------------------------------------------------------------------------------------ item 8: request guard
def test_host_header_must_name_the_server(model):
    app = create_app(model, False, False)
    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        port = url.rsplit(":", 1)[1]
        assert c.get("/api/info").status_code == 200
        for evil in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "localhost.evil.example"):
            r = c.get("/api/info", headers={"Host": evil})
            assert r.status_code == 421 and "Host" in r.json()["error"], (evil, r.text)
        assert c.get("/", headers={"Host": f"localhost:{port}"}).status_code == 200
        assert c.get("/", headers={"Host": f"[::1]:{port}"}).status_code == 200


def test_host_policy_for_each_kind_of_listen_address():
    loop = HostPolicy("127.0.0.1")
    assert loop.allows("127.0.0.1:7860") and loop.allows("localhost") and loop.allows("[::1]:80")
    assert not loop.allows("192.168.1.5") and not loop.allows("attacker.example") and not loop.allows("")
    lan = HostPolicy("192.168.1.5", allowed=["faces.example.org"])
    assert lan.allows("192.168.1.5:7860") and lan.allows("FACES.example.org.:7860")
    assert not lan.allows("127.0.0.1") and not lan.allows("other.example")
    anyip = HostPolicy("0.0.0.0")
    assert anyip.allows("10.0.0.7:7860") and anyip.allows("[fe80::1]:7860") and anyip.allows("localhost")
    assert not anyip.allows("rebind.attacker.example:7860")


def test_cross_origin_state_changes_are_refused(model):
    with TestClient(create_app(model, False, False)) as c:
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Origin": "http://127.0.0.1:9999"}, {"Sec-Fetch-Site": "cross-site"}):
            r = c.post("/api/generate", json={"seed": 1}, headers=headers)
            assert r.status_code == 403 and "cross-origin" in r.json()["error"], (headers, r.text)
        sid = c.post("/api/generate", json={"seed": 1}, headers={"Origin": "http://127.0.0.1"}).json()["id"]
        assert c.post("/api/generate", json={"seed": 2}).status_code == 201  # scripts send no Origin
        assert c.delete(f"/api/sessions/{sid}", headers={"Origin": "http://evil.example"}).status_code == 403
        assert c.get(f"/api/sessions/{sid}", headers={"Origin": "http://evil.example"}).status_code == 200
        assert c.delete(f"/api/sessions/{sid}", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 204


def test_access_token(model):
    token = "s3cret-T0ken"
    with TestClient(create_app(model, False, False, token=token), follow_redirects=False) as c:
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"X-Faceedit-Token": token[:-1]}):
            r = c.get("/api/info", headers=headers)
            assert r.status_code == 401 and "token" in r.json()["error"], headers
        assert c.get("/").status_code == 401 and c.post("/api/generate", json={"seed": 1}).status_code == 401
        assert c.get("/api/info", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert c.post("/api/generate", json={"seed": 1}, headers={"X-Faceedit-Token": token}).status_code == 201
        assert c.get("/?token=nope").status_code == 401
        r = c.get(f"/?token={token}")
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert c.get("/api/info").status_code == 200  # the cookie now travels with every request
        assert c.get("/").status_code == 200


def test_serve_reads_the_token_from_the_environment(monkeypatch):
    pytest.importorskip("uvicorn")
    import uvicorn

    from faceedit.cli import main

    got = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: got.update(app=app, **kw))
    monkeypatch.setenv("FACEEDIT_TOKEN", "from-the-env-123")
    assert main(["serve", "--port", "7999"]) == 0
    with TestClient(got["app"]) as c:
        assert c.get("/api/info").status_code == 401
        assert c.get("/api/info", headers={"Authorization": "Bearer from-the-env-123"}).status_code == 200
    monkeypatch.delenv("FACEEDIT_TOKEN")
    assert main(["serve", "--token", "short"]) == 2


def test_one_client_cannot_evict_another_clients_sessions(model):
    app = create_app(model, False, False, max_sessions=8, max_client_sessions=4)
    with TestClient(app, client=("10.0.0.1", 1000)) as alice:
        bob = TestClient(app, client=("10.0.0.2", 1000))
        mine = [alice.post("/api/generate", json={"seed": s}).json()["id"] for s in range(3)]
        flood = [bob.post("/api/generate", json={"seed": s}).json()["id"] for s in range(40)]
        assert all(alice.get(f"/api/sessions/{sid}").status_code == 200 for sid in mine)
        assert [bob.get(f"/api/sessions/{sid}").status_code for sid in flood[-4:]] == [200] * 4
        assert bob.get(f"/api/sessions/{flood[-5]}").status_code == 404
        store = app.state.faceedit.sessions
        assert store.count("10.0.0.2") == 4 and store.count("10.0.0.1") == 3


def test_request_bodies_and_fields_are_capped(model):
    with TestClient(create_app(model, False, False)) as c:
        sid = c.post("/api/generate", json={"seed": 1}).json()["id"]
        big = {"amounts": {f"a{i}": 1.0 for i in range(40000)}}
        r = c.post(f"/api/sessions/{sid}/edit", json=big)
        assert r.status_code == 413 and "too large" in r.json()["error"]
        chunked = iter([b'{"amounts": {', b'"a": 1, ' * 40000, b'"b": 1}}'])  # no Content-Length
        r = c.post(f"/api/sessions/{sid}/edit", content=chunked, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "too large" in r.json()["error"]
        r = c.post(f"/api/sessions/{sid}/edit", content=b'{"amounts": {"smiling": NaN}}',
                   headers={"content-type": "application/json"})
        assert r.status_code == 422
        r = c.post(f"/api/sessions/{sid}/edit", json={"layers": "0-999999999"})
        assert r.status_code == 422 and "out of range" in r.json()["error"]
        r = c.post("/api/mix", json={"a": sid, "b": sid, "layers": "0-999999999"})
        assert r.status_code == 422 and "out of range" in r.json()["error"]
        assert c.get(f"/api/sessions/{sid}/image.png", params={"layers": "0-99999999999"}).status_code == 422
