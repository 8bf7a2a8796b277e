"""Malicious pickles are refused before anything runs; bad inputs give one-line errors; CLI exit codes."""

from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import subprocess

import pytest
import torch

from _io_helpers import tiny_nets, write_nvidia_pkl, write_rosinality_pt, write_tf_pkl
from faceedit.cli import main
from faceedit.errors import FaceEditError
from faceedit.io import (UnsafePickleError, check_latent_shape, load_checkpoint, resolve_model, safe_load,
                         save_native)
from faceedit.nn import GeneratorConfig


@pytest.fixture(scope="module")
def nets():
    return tiny_nets(seed=2)


class _System:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _Eval:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return (builtins.eval, (self.code,))


class _Popen:
    def __init__(self, args):
        self.args = args

    def __reduce__(self):
        return (subprocess.Popen, (self.args,))


def _one_line(msg: str) -> None:
    assert msg and "\n" not in msg


@pytest.mark.parametrize("make", ["system", "eval", "popen", "nested"])
def test_malicious_pickle_refused_and_nothing_runs(tmp_path, make):
    marker = tmp_path / "pwned"
    payload = {
        "system": lambda: _System(f"touch {marker}"),
        "eval": lambda: _Eval(f"__import__('pathlib').Path({str(marker)!r}).touch()"),
        "popen": lambda: _Popen(["touch", str(marker)]),
        # hidden inside an NVIDIA-looking dict, after harmless content
        "nested": lambda: {"G_ema": None, "training_set_kwargs": {"x": [1, 2, _System(f"touch {marker}")]}},
    }[make]()
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(UnsafePickleError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    _one_line(msg)
    assert msg.startswith(f"refusing to load {path}: the pickle asks to run ")
    assert "which is not allowed" in msg
    assert not marker.exists()
    # the CLI says the same in one line with exit status 2
    assert main(["models", "info", str(path)]) == 2
    assert not marker.exists()


def test_names_the_refused_callable():
    with pytest.raises(UnsafePickleError, match=r"builtins\.eval"):
        safe_load(io.BytesIO(pickle.dumps(_Eval("1+1"))), "x.pkl")
    with pytest.raises(UnsafePickleError, match=r"subprocess\.Popen"):
        safe_load(io.BytesIO(pickle.dumps(_Popen(["true"]))), "x.pkl")


def test_malicious_torch_zip_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "latent_avg": _System(f"touch {marker}")}, path)
    with pytest.raises(FaceEditError, match="refusing to load"):
        load_checkpoint(path)
    assert not marker.exists()


def test_persistent_source_code_is_never_executed(tmp_path, nets):
    marker = tmp_path / "ran"
    src = f"import os\nos.system('touch {marker}')\n"
    write_nvidia_pkl(tmp_path / "n.pkl", *nets, module_src=src)
    ckpt = load_checkpoint(tmp_path / "n.pkl")
    assert ckpt.source_format == "nvidia-pkl" and not marker.exists()


def _truncate(path, frac=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * frac)])


def test_truncated_files(tmp_path, nets):
    G_ema, G, D = nets
    write_nvidia_pkl(tmp_path / "a.pkl", G_ema, G, D)
    write_tf_pkl(tmp_path / "b.pkl", G_ema, G, D)
    write_rosinality_pt(tmp_path / "c.pt", G_ema, G, D)
    save_native(tmp_path / "d.safetensors", G_ema, D=D, G=G)
    for name in ("a.pkl", "b.pkl", "c.pt", "d.safetensors"):
        p = tmp_path / name
        _truncate(p)
        with pytest.raises(FaceEditError) as e:
            load_checkpoint(p)
        _one_line(str(e.value))
        assert str(p) in str(e.value)
        assert "truncated" in str(e.value) or "corrupt" in str(e.value) or "not a readable" in str(e.value)


def test_not_a_checkpoint(tmp_path):
    cases = {
        "random.pkl": os.urandom(4096),
        "card.json": json.dumps({"g_config": {"resolution": 256}}).encode(),
        "empty.pt": b"",
        "text.safetensors": b"hello, not a model\n",
        "plain.pkl": pickle.dumps({"weights": [1, 2, 3]}),
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(FaceEditError) as e:
            load_checkpoint(p)
        msg = str(e.value)
        _one_line(msg)
        assert name in msg
    with pytest.raises(FaceEditError, match="JSON"):
        load_checkpoint(tmp_path / "card.json")
    with pytest.raises(FaceEditError, match="empty"):
        load_checkpoint(tmp_path / "empty.pt")
    with pytest.raises(FaceEditError, match="not an NVIDIA StyleGAN2 network pickle"):
        load_checkpoint(tmp_path / "plain.pkl")
    torch.save({"model": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(FaceEditError, match="not a StyleGAN2 checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_unknown_name_and_missing_path(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEEDIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FaceEditError, match="unknown model name 'ffhq-2048'"):
        resolve_model("ffhq-2048")
    with pytest.raises(FaceEditError, match="checkpoint not found"):
        resolve_model(str(tmp_path / "nope.pkl"))
    with pytest.raises(FaceEditError, match="faceedit models fetch ffhq-256"):
        resolve_model("ffhq-256")


def test_default_model_resolves_to_assets_or_clear_error():
    try:
        p = resolve_model("default")
    except FaceEditError as e:
        assert "embedded default model is missing" in str(e)
    else:
        assert p.name == "default_generator.safetensors" and p.is_file()


def test_wrong_latent_shape():
    cfg = GeneratorConfig(resolution=256)
    check_latent_shape(torch.zeros(2, 14, 512), cfg, "w+")
    check_latent_shape(torch.zeros(3, 512), cfg, "z")
    with pytest.raises(FaceEditError, match=r"\[N, 14, 512\]"):
        check_latent_shape(torch.zeros(2, 18, 512), cfg, "w+", source="ws.npy")


def test_cli_models(tmp_path, nets, capsys, monkeypatch):
    monkeypatch.setenv("FACEEDIT_CACHE", str(tmp_path / "cache"))
    G_ema, G, D = nets
    src = tmp_path / "src.pkl"
    write_nvidia_pkl(src, G_ema, G, D)
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("ffhq-1024-pt", "ffhq-1024-tf", "ffhq-512", "ffhq-256", "ffhq-1024-rosinality", "default"):
        assert name in out
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} >= {"ffhq-1024-pt", "ffhq-1024-rosinality"}
    assert main(["models", "info", str(src), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "nvidia-pkl" and info["resolution"] == 32 and info["num_ws"] == 8
    assert set(info["params"]) == {"G_ema", "G", "D"} and len(info["sha256"]) == 64
    assert main(["models", "convert", str(src), str(tmp_path / "r.pt"), "--to", "rosinality"]) == 0
    assert main(["models", "convert", str(tmp_path / "r.pt"), str(tmp_path / "n.safetensors"), "--to",
                 "safetensors", "--fp32"]) == 0
    assert main(["models", "convert", str(tmp_path / "n.safetensors"), str(tmp_path / "r2.pt"), "--to",
                 "rosinality"]) == 0
    capsys.readouterr()
    z = torch.randn(2, 32)
    with torch.no_grad():
        ref = G_ema(z, noise_mode="const")
        for name in ("r.pt", "n.safetensors", "r2.pt"):
            c = load_checkpoint(tmp_path / name)
            assert c.D is not None and c.G is not None
            assert (c.G_ema(z, noise_mode="const") - ref).abs().max() <= 1e-5
    assert main(["models", "convert", str(src), str(tmp_path / "h.safetensors"), "--to", "safetensors",
                 "--g-ema-only"]) == 0
    assert load_checkpoint(tmp_path / "h.safetensors").D is None
    capsys.readouterr()
    # errors: one line on stderr, exit status 2
    assert main(["models", "convert", str(src), str(tmp_path / "x.bin"), "--to", "onnx"]) == 2
    assert main(["models", "info", "ffhq-9000"]) == 2
    assert main(["models", "fetch", "nonexistent-model"]) == 2
    (tmp_path / "junk.pkl").write_bytes(os.urandom(100))
    assert main(["models", "info", str(tmp_path / "junk.pkl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
    assert not (tmp_path / "x.bin").exists()
