"""scripts/gpu_train.sh: a chain of time-limited commands, each ending with a checkpoint the next one continues
from (full state on a warm machine, fp16 weights on a fresh one, grown from a smaller model at the start).
Run on CPU with tiny settings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.train.checkpoint import load_checkpoint, read_weights

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_train.sh"
TINY_ARGS = ["--device", "cpu", "--threads", "1", "--batch", "8", "--steps", "2"]


def _data(tmp_path: Path, res: int) -> Path:
    g = torch.Generator().manual_seed(2)
    imgs = torch.nn.functional.interpolate(torch.rand(16, 3, 4, 4, generator=g), size=(res, res), mode="bilinear")
    p = tmp_path / f"data{res}.npy"
    np.save(p, (imgs * 255).round().to(torch.uint8).numpy())
    return p


def _run(env_extra: dict, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, CHANNEL_BASE="256", CHANNEL_MAX="32", Z_DIM="32", W_DIM="32",
               BATCH="8", TRAIN_SECONDS="120", HARD_LIMIT="240", **env_extra)
    r = subprocess.run(["bash", str(SCRIPT), *TINY_ARGS, *extra], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


@pytest.mark.skipif(not SCRIPT.exists(), reason="script missing")
def test_gpu_script_chains_commands(tmp_path):
    # a "CPU model" at 16 px to grow from
    d16, d32 = _data(tmp_path, 16), _data(tmp_path, 32)
    out0 = tmp_path / "out0"
    _run({"DATA": str(d16), "RES": "16", "RUN_DIR": str(tmp_path / "cpu16"), "OUT": str(out0)})
    cpu_model = out0 / "gpu16.safetensors"
    assert cpu_model.is_file()

    # call 1: new 32 px run grown from the 16 px model
    run, out1 = tmp_path / "run32", tmp_path / "out1"
    r = _run({"DATA": str(d32), "RES": "32", "RUN_DIR": str(run), "OUT": str(out1), "INIT": str(cpu_model)})
    assert "grown from" in r.stderr
    copied = re.search(r"copied (\d+) G and (\d+) D tensors", r.stderr)
    assert copied and int(copied.group(1)) >= 20 and int(copied.group(2)) >= 5, r.stderr[-1000:]
    meta, groups = read_weights(out1 / "gpu32.safetensors")
    _, small = read_weights(cpu_model)
    assert meta["g_config"]["resolution"] == 32
    # the 16 px layers came from the small model (then trained 2 steps: close, not equal)
    assert groups["G"]["synthesis.b16.conv1.weight"].shape == small["G"]["synthesis.b16.conv1.weight"].shape
    assert (out1 / "log.jsonl").is_file() and (out1 / "samples.png").is_file()
    assert meta["card"]["kimg"] == pytest.approx(0.016)

    # call 2, same machine (run folder still there): full state
    out2 = tmp_path / "out2"
    r = _run({"DATA": str(d32), "RES": "32", "RUN_DIR": str(run), "OUT": str(out2)})
    assert "resuming full state" in r.stderr
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 4

    # call 3, fresh machine: only the previous call's fp16 weights
    run3, out3 = tmp_path / "run32b", tmp_path / "out3"
    r = _run({"DATA": str(d32), "RES": "32", "RUN_DIR": str(run3), "OUT": str(out3),
              "PREV": str(out2 / "gpu32.safetensors")})
    assert "resuming from weights" in r.stderr
    meta3, _ = read_weights(out3 / "gpu32.safetensors")
    assert meta3["card"]["kimg"] == pytest.approx(0.048)
    assert meta3["card"]["cpu_hours"] > meta["card"]["cpu_hours"]  # carried on and grew
    events = [json.loads(line)["event"] for line in (out3 / "log.jsonl").read_text().splitlines()]
    assert events[-1] == "end"


def test_gpu_script_missing_data(tmp_path):
    env = dict(os.environ, DATA=str(tmp_path / "nope.zip"), OUT=str(tmp_path / "o"), RUN_DIR=str(tmp_path / "r"))
    r = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not found" in r.stderr
