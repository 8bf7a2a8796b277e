"""Model fetch against a local HTTP server: resume, checksum, interruption, offline; registry sanity."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
from pathlib import Path

import pytest
import torch

from _io_helpers import tiny_nets
from faceedit.cli import main
from faceedit.errors import FaceEditError
from faceedit.io import load_checkpoint, save_native
from faceedit.io import registry as reg
from faceedit.io.fetch import download, fetch_model


class _Server:
    """Serves ``files`` (path → bytes) with HTTP Range support; can cut a response short or ignore Range."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[tuple[str, str | None]] = []
        self.cut_after: int | None = None  # close the connection after this many body bytes
        self.honour_range = True
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m and server.honour_range:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:
                    self.wfile.write(body[:server.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def payload():
    return bytes(range(256)) * 4096 + b"tail"  # ~1 MB, several chunks


@pytest.fixture()
def server(payload):
    s = _Server({"/model.bin": payload})
    yield s
    s.close()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_download_complete_and_verified(tmp_path, server, payload):
    dest = tmp_path / "m.bin"
    digest = download(f"{server.base}/model.bin", dest, sha256=_sha(payload), progress=False)
    assert digest == _sha(payload) and dest.read_bytes() == payload
    assert not (tmp_path / "m.bin.part").exists()


def test_resume_from_partial(tmp_path, server, payload):
    dest = tmp_path / "m.bin"
    (tmp_path / "m.bin.part").write_bytes(payload[:300_000])
    download(f"{server.base}/model.bin", dest, sha256=_sha(payload), progress=False, log=lambda m: None)
    assert dest.read_bytes() == payload
    assert server.requests[-1] == ("/model.bin", "bytes=300000-")


def test_interrupted_then_resumed(tmp_path, server, payload):
    dest = tmp_path / "m.bin"
    server.cut_after = 400_000
    with pytest.raises(FaceEditError, match="run the command again to resume") as e:
        download(f"{server.base}/model.bin", dest, sha256=_sha(payload), progress=False)
    assert "\n" not in str(e.value)
    part = tmp_path / "m.bin.part"
    assert part.stat().st_size == 400_000 and not dest.exists()
    server.cut_after = None
    download(f"{server.base}/model.bin", dest, sha256=_sha(payload), progress=False, log=lambda m: None)
    assert dest.read_bytes() == payload and not part.exists()
    assert server.requests[-1][1] == "bytes=400000-"


def test_server_without_range_restarts(tmp_path, server, payload):
    server.honour_range = False
    (tmp_path / "m.bin.part").write_bytes(b"x" * 1000)
    download(f"{server.base}/model.bin", tmp_path / "m.bin", sha256=_sha(payload), progress=False)
    assert (tmp_path / "m.bin").read_bytes() == payload


def test_complete_part_gets_416_and_is_kept(tmp_path, server, payload):
    (tmp_path / "m.bin.part").write_bytes(payload)
    download(f"{server.base}/model.bin", tmp_path / "m.bin", sha256=_sha(payload), progress=False)
    assert (tmp_path / "m.bin").read_bytes() == payload


def test_checksum_mismatch(tmp_path, server, payload):
    dest = tmp_path / "m.bin"
    with pytest.raises(FaceEditError, match="checksum mismatch") as e:
        download(f"{server.base}/model.bin", dest, sha256="0" * 64, progress=False)
    assert _sha(payload) in str(e.value)
    assert not dest.exists() and not (tmp_path / "m.bin.part").exists()


def test_http_error_and_unreachable(tmp_path, server):
    with pytest.raises(FaceEditError, match="HTTP 404"):
        download(f"{server.base}/missing.bin", tmp_path / "x", progress=False)
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FaceEditError, match=r"^cannot download x: no network connection \(") as e:
        download(f"http://127.0.0.1:{port}/x", tmp_path / "x", progress=False, timeout=5)
    assert "\n" not in str(e.value)
    with pytest.raises(FaceEditError, match="no network connection"):
        download("http://faceedit-test.invalid/x", tmp_path / "y", progress=False, timeout=5)


def test_fetch_model_into_cache_then_load(tmp_path, monkeypatch):
    G_ema, _, _ = tiny_nets(seed=3)
    ckpt_path = save_native(tmp_path / "src.safetensors", G_ema, dtype=torch.float32)
    data = ckpt_path.read_bytes()
    s = _Server({"/tiny.safetensors": data})
    try:
        entry = reg.ModelEntry(name="tiny-test", description="test", url=f"{s.base}/tiny.safetensors",
                               sha256=_sha(data), size=len(data), format="native", resolution=32, licence="test",
                               filename="tiny.safetensors")
        unverified = reg.ModelEntry(name="tiny-unverified", description="test", url=f"{s.base}/missing",
                                    sha256=None, size=None, format="native", resolution=32, licence="test",
                                    filename="tiny.safetensors",
                                    mirrors=(reg.Mirror(f"{s.base}/tiny.safetensors", None),))
        monkeypatch.setitem(reg.REGISTRY, "tiny-test", entry)
        monkeypatch.setitem(reg.REGISTRY, "tiny-unverified", unverified)
        cache = tmp_path / "cache"
        with pytest.raises(FaceEditError, match="faceedit models fetch tiny-test"):
            load_checkpoint("tiny-test", cache_dir=cache)
        assert main(["models", "fetch", "tiny-test", "--cache", str(cache), "--quiet"]) == 0
        assert (cache / "tiny-test" / "tiny.safetensors").read_bytes() == data
        ck = load_checkpoint("tiny-test", cache_dir=cache)
        assert ck.sha256 == _sha(data) and ck.resolution == 32
        monkeypatch.setenv("FACEEDIT_CACHE", str(cache))
        logs: list[str] = []
        p = fetch_model("tiny-test", progress=False, log=logs.append)  # already there
        assert p == cache / "tiny-test" / "tiny.safetensors" and "already downloaded" in logs[-1]
        logs.clear()
        p2 = fetch_model("tiny-unverified", progress=False, log=logs.append)  # primary 404 → mirror
        assert p2.read_bytes() == data
        assert any(f"sha256 {_sha(data)} (not verified" in m for m in logs)
    finally:
        s.close()


def test_registry_entries_are_well_formed():
    need = {"ffhq-1024-pt", "ffhq-1024-tf", "ffhq-512", "ffhq-256", "ffhq-1024-rosinality"}
    assert need <= set(reg.REGISTRY)
    for e in reg.REGISTRY.values():
        assert e.url and e.url.startswith("https://")
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256)
        assert e.resolution in (256, 512, 1024) and e.licence and e.filename
        assert e.format in ("nvidia-pkl", "tf-pkl", "rosinality", "native", "psp")
        for m in e.mirrors:
            assert m.url.startswith("https://") and (m.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", m.sha256))
    assert reg.REGISTRY["ffhq-1024-tf"].format == "tf-pkl"
    assert reg.REGISTRY["ffhq-1024-rosinality"].format == "rosinality"


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEEDIT_CACHE", str(tmp_path / "c"))
    assert reg.default_cache_dir() == tmp_path / "c"
    assert reg.model_path("ffhq-256") == tmp_path / "c" / "ffhq-256" / "stylegan2-ffhq-256x256.pkl"
    monkeypatch.delenv("FACEEDIT_CACHE")
    assert reg.default_cache_dir() == Path.home() / ".cache" / "faceedit"


def test_registry_config_is_checked_on_load(tmp_path, monkeypatch):
    G_ema, _, _ = tiny_nets(seed=4)
    cache = tmp_path / "cache"
    dest = reg.model_path("ffhq-256", cache)
    dest.parent.mkdir(parents=True)
    save_native(dest, G_ema, dtype=torch.float32)  # a 32-px file where the 256-px model should be
    with pytest.raises(FaceEditError, match=r"has resolution=32, but the registry expects 256"):
        load_checkpoint("ffhq-256", cache_dir=cache)


def test_offline_fetch_says_where_to_put_the_file_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:  # a port with nothing listening: as good as offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = reg.ModelEntry(name="tiny-offline", description="test", url=f"http://127.0.0.1:{port}/t.pkl",
                           sha256=None, size=None, format="nvidia-pkl", resolution=32, licence="test",
                           filename="t.pkl")
    monkeypatch.setitem(reg.REGISTRY, "tiny-offline", entry)
    cache = tmp_path / "cache"
    assert main(["models", "fetch", "tiny-offline", "--cache", str(cache), "--quiet"]) != 0
    err = capsys.readouterr().err
    dest = cache / "tiny-offline" / "t.pkl"
    assert err.startswith("error: cannot download tiny-offline: no network connection")
    assert f"download {entry.url} by hand and put it at {dest}" in err and err.count("\n") == 1
    assert not (cache / "tiny-offline").exists()


def test_models_list_shows_size_sha256_licence_and_place(tmp_path, monkeypatch, capsys):
    import json

    from faceedit.io.model_files import estimated_size

    cache = tmp_path / "cache"
    data = b"x" * 4096
    entry = reg.ModelEntry(name="tiny-here", description="test", url="https://example.invalid/t.pkl",
                           sha256=_sha(data), size=None, format="native", resolution=32, licence="a test licence",
                           filename="t.bin")
    monkeypatch.setitem(reg.REGISTRY, "tiny-here", entry)
    (cache / "tiny-here").mkdir(parents=True)
    (cache / "tiny-here" / "t.bin").write_bytes(data)
    assert main(["models", "list", "--cache", str(cache), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    here = rows["tiny-here"]
    assert here["size"] == 4096 and here["size_source"] == "file" and here["sha256"] == _sha(data)
    assert here["sha256_source"] == "of the file, matches the published one"
    assert here["path"] == str(cache / "tiny-here" / "t.bin") and here["licence"] == "a test licence"
    assert rows["default"]["sha256"] and rows["default"]["size"] > 1e6 and rows["default"]["status"] == "embedded"
    # every registry entry has a size, except encoders whose architecture does not tell
    for name, row in rows.items():
        assert row["licence"] and row["path"]
        if row["format"] != "psp" and name in ("ffhq-1024-pt", "ffhq-1024-tf", "ffhq-1024-rosinality"):
            assert row["size"] and row["size"] > 3e8, name
    assert rows["ffhq-1024-rosinality"]["size"] == 381462551  # published beats estimated
    # the estimate is the float32 parameters of G, D and G_ema: within 10 % of the one published config-f size
    assert abs(estimated_size(reg.REGISTRY["ffhq-1024-rosinality"]) / 381462551 - 1) < 0.1
    # the digest is remembered beside the file and refreshed when the file changes
    side = cache / "tiny-here" / "t.bin.sha256"
    assert side.read_text().split()[0] == _sha(data)
    (cache / "tiny-here" / "t.bin").write_bytes(b"y" * 10)
    assert main(["models", "list", "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert f"{_sha(b'y' * 10)} (of the file, DIFFERS" in out and "licence  a test licence" in out
    assert f"cache: {cache}" in out and "goes to " in out
