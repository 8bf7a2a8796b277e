"""faceedit.device: one place decides the device and precision; the fitting path scores at the scorer's size.

Tests marked ``gpu`` run only where CUDA is available (``bash scripts/gpu_check.sh`` on a GPU machine)."""

import pytest
import torch

from _edit_helpers import tiny_model
from faceedit import device
from faceedit.edit.attributes import AttributeScorer
from faceedit.edit.directions import images_for_scoring, sample_scores
from faceedit.errors import FaceEditError

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def test_auto_is_the_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "_mps_available", lambda: False)
    assert device.resolve_device("auto") == torch.device("cpu")
    assert device.resolve("auto", "auto") == device.Compute(torch.device("cpu"), "fp32")
    assert device.resolve("cpu", "bf16").synthesis_dtype == torch.bfloat16


def test_auto_picks_the_gpu_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert device.resolve_device("auto") == torch.device("cuda", 0)
    assert device.resolve_device("cuda:1") == torch.device("cuda", 1)
    assert device.resolve_precision("auto", torch.device("cuda", 0)) == "fp16"
    with pytest.raises(FaceEditError, match="2 CUDA GPU\\(s\\), numbered 0-1"):
        device.resolve_device("cuda:2")


@pytest.mark.parametrize("spec,match", [("cuda", "no CUDA GPU is available"), ("cuda:0", "no CUDA GPU"),
                                        ("gpu", "bad --device"), ("cpu:0", "bad --device"),
                                        ("cuda:x", "bad --device"), ("", "bad --device")])
def test_bad_or_absent_devices_are_one_line_errors(monkeypatch, spec, match):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(FaceEditError, match=match) as err:
        device.resolve_device(spec)
    assert "\n" not in str(err.value)


def test_precisions():
    cpu = torch.device("cpu")
    assert device.resolve_precision("auto", cpu) == "fp32"
    assert device.resolve_precision("BF16", cpu) == "bf16"
    with pytest.raises(FaceEditError, match="fp16 needs a CUDA GPU"):
        device.resolve_precision("fp16", cpu)
    with pytest.raises(FaceEditError, match="bad --precision"):
        device.resolve_precision("int8", cpu)


def test_fp16_recipe_marks_the_top_four_resolutions_and_clamps_them():
    m = tiny_model(64)  # blocks 4 … 64
    for block in m.G.synthesis.blocks():
        for layer in (block.conv1, block.torgb):
            layer.conv_clamp = None  # as a rosinality or TF file loads
    device.Compute(torch.device("cpu"), "fp16").prepare_generator(m.G)
    flags = {b.resolution: b.use_fp16 for b in m.G.synthesis.blocks()}
    assert flags == {4: False, 8: True, 16: True, 32: True, 64: True}
    assert m.G.synthesis.b64.conv1.conv_clamp == 256 and m.G.synthesis.b4.conv1.conv_clamp is None
    device.Compute(torch.device("cpu"), "fp32").prepare_generator(m.G)
    assert not any(b.use_fp16 for b in m.G.synthesis.blocks())


def test_bf16_synthesis_is_close_to_fp32(one_torch_thread):
    m = tiny_model(32)
    ws = m.map(torch.randn(4, m.z_dim, generator=torch.Generator().manual_seed(0)))
    ref = images_for_scoring(m, ws, None)
    bf = images_for_scoring(m, ws, None, torch.bfloat16)
    assert bf.dtype == torch.float32 and bf.shape == ref.shape
    diff = (bf - ref).abs()
    assert 0 < float(diff.max()) < 0.1 and float(diff.mean()) < 0.02


def test_fitting_scores_at_the_scorers_input_size(one_torch_thread):
    """Images reach the scorer at its input size (not the model's resolution), equal to the full image reduced."""
    m = tiny_model(64)
    seen = []

    def mean_colour(img):
        seen.append(tuple(img.shape[-2:]))
        return img.mean(dim=(2, 3))

    scorer = AttributeScorer([(("red", "green", "blue"), mean_colour)], input_size=16)
    data = sample_scores(m, scorer, 12, seed=3, batch_size=5)
    assert set(seen) == {(16, 16)} and data.scores.shape == (12, 3)
    ws = m.map(torch.from_numpy(data.z))
    full = m.synthesize(ws, noise_mode="const")
    small = torch.nn.functional.interpolate(full, size=(16, 16), mode="bilinear", antialias=True)
    assert torch.allclose(torch.from_numpy(data.scores), small.mean(dim=(2, 3)), atol=1e-5)
    # an antialiased reduction nearly keeps the mean colour of the full-size image (edges differ a little)
    assert torch.allclose(torch.from_numpy(data.scores), full.mean(dim=(2, 3)), atol=0.03)
    scorer.input_size = None
    seen.clear()
    sample_scores(m, scorer, 4, seed=3, batch_size=4)
    assert seen == [(64, 64)]


@pytest.mark.gpu
@needs_cuda
def test_cuda_fp16_generation_matches_fp32():
    m = tiny_model(64)
    c = device.resolve("auto", "auto")
    assert c.device.type == "cuda" and c.precision == "fp16"
    ws = m.map(torch.randn(8, m.z_dim))
    ref = images_for_scoring(m, ws, None).cpu()
    c.prepare_generator(m.G)
    half = images_for_scoring(m, ws.cuda(), None, c.synthesis_dtype).cpu()
    assert torch.isfinite(half).all() and float((half - ref).abs().max()) < 0.05


@pytest.mark.gpu
@needs_cuda
def test_cuda_bf16_sampling_runs_on_the_gpu():
    m = tiny_model(64)
    c = device.resolve("cuda", "bf16")
    c.prepare_generator(m.G)
    scorer = AttributeScorer([(("mean",), lambda img: (img.mean(dim=(1, 2, 3))[:, None], img.device)[0])],
                             input_size=32)
    data = sample_scores(m, scorer, 16, batch_size=8, dtype=c.synthesis_dtype)
    assert data.scores.shape == (16, 1) and m.device.type == "cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU answer")
def test_gpu_check_script_says_why_without_a_gpu(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"
    r = subprocess.run(["bash", str(script)], env={**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: no CUDA GPU") and r.stderr.count("\n") == 1


def test_directions_fit_takes_device_and_precision(tmp_path, capsys, monkeypatch):
    """`directions fit --device cpu --precision bf16` fits; `--device cuda` without a GPU is one error line."""
    from faceedit.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["directions", "fit", "--attr", "smiling", "--samples", "64", "--batch", "32", "--ratio", "0.2",
            "--threads", "1", "-o", str(tmp_path / "d")]
    assert main(args + ["--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device cuda: no CUDA GPU") and "Traceback" not in err
    assert main(args + ["--device", "cpu", "--precision", "bf16"]) == 0
    assert "cpu, bfloat16" in capsys.readouterr().err
    assert (tmp_path / "d" / "smiling.w.npy").is_file()


NETWORK_COMMANDS = [["generate"], ["invert"], ["eval", "inversion"], ["eval", "faces"], ["eval", "edits"],
                    ["serve"], ["edit"], ["animate"], ["directions", "fit"], ["mix"], ["morph"], ["crossover"],
                    ["transfer"], ["channels", "find"], ["channels", "edit"], ["local"]]


@pytest.mark.parametrize("cmd", NETWORK_COMMANDS)
def test_network_commands_take_device_and_precision(cmd, capsys):
    from faceedit.cli import main

    assert main([*cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--device" in out and "--precision" in out


def test_generate_on_a_missing_gpu_and_in_bf16(tmp_path, capsys, monkeypatch):
    import numpy as np
    from PIL import Image

    from faceedit.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["generate", "--seeds", "3", "-o", str(tmp_path / "x.png"), "--device", "cuda:0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device cuda:0: no CUDA GPU") and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()
    assert main(["generate", "--seeds", "3", "-o", str(tmp_path / "a.png"), "--device", "cpu"]) == 0
    assert main(["generate", "--seeds", "3", "-o", str(tmp_path / "b.png"), "--precision", "bf16"]) == 0
    assert "bfloat16" in capsys.readouterr().err
    a = np.asarray(Image.open(tmp_path / "a.png"), dtype=np.float32)
    b = np.asarray(Image.open(tmp_path / "b.png"), dtype=np.float32)
    diff = np.abs(a - b)
    assert 0 < diff.mean() < 4 and diff.max() < 64  # the same face, bf16 rounding only
