"""Issue 19, item 3: no file the project reads can run code. A pickle whose ``__reduce__`` calls ``os.system``
(creating a marker file) is fed to every entry point that reads a checkpoint; the marker must never appear and the
command must fail with one ``error:`` line. A source scan keeps unrestricted loaders out of ``src/``."""

from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one thread beats two that wait on 2 cores

SRC = Path(__file__).resolve().parents[1] / "src" / "faceedit"


class Payload:
    """Unpickling this runs ``touch MARKER`` (if the loader lets it)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)

def _torch_file(path: Path, marker: Path, **extra) -> Path:
    """A torch.save zip whose dict looks like a training checkpoint and holds the payload."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": Payload(marker), "opt": {}, "step": 1, "total_steps": 10, "gen": torch.zeros(1),
             "config": {"extra": {"encoder_run": {}, "generator": {}}}, "format": "faceedit-train-checkpoint",
             "version": 1, **extra}
    torch.save(state, path)
    return path


def _raw_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps({"G_ema": Payload(marker)}, protocol=4))
    return path


def _check_refused(argv: list[str], marker: Path, capsys) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert not marker.exists(), f"{argv[:2]}: the payload ran"
    assert rc != 0, argv
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error:"), err
    assert len([ln for ln in lines if ln.startswith("error:")]) == 1 and "Traceback" not in err, err
    return lines[-1]


def _manifest_set(root: Path, attrs: bool, masks: bool, n: int = 24, size: int = 48) -> Path:
    """A tiny 'data build'-like folder (images, optional masks, manifest with the 40 CelebA attributes)."""
    from faceedit.scorers.classifier import CELEBA_ATTRIBUTES

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    if masks:
        (root / "masks").mkdir()
    rows = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3)).astype(np.uint8)).save(root / f"images/{i}.png")
        row = {"path": f"images/{i}.png", "source": "celeba" if attrs else "celebamask-hq", "size": size,
               "identity": f"x:{i}", "split": "train" if i < n * 2 // 3 else "val"}
        if attrs:
            row["attributes"] = {a: int(rng.random() < 0.5) for a in CELEBA_ATTRIBUTES}
        if masks:
            m = np.zeros((size, size), np.uint8)
            m[8:20, 8:20] = 13
            Image.fromarray(m).save(root / f"masks/{i}.png")
            row["mask"] = f"masks/{i}.png"
        rows.append(row)
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_training_checkpoints_never_run_code(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    run = tmp_path / "run"
    _torch_file(run / "checkpoint.pt", marker)
    out = tmp_path / "out.safetensors"
    cases = [
        ["train", "export-encoder", str(run), "-o", str(out), "--no-eval"],
        ["train", "encoder", "--run-dir", str(run), "--resume", "--data", "none", "--time-budget", "1m"],
        ["train", "export", str(run), "-o", str(out)],
        ["train", "classifier", "--data", str(_manifest_set(tmp_path / "clf", attrs=True, masks=False)),
         "--run-dir", str(run), "--epochs", "1", "--batch", "8", "--size", "48", "--no-bf16", "--threads", "1"],
        ["train", "parser", "--data", str(_manifest_set(tmp_path / "par", attrs=False, masks=True)),
         "--run-dir", str(run), "--epochs", "1", "--batch", "8", "--no-bf16", "--threads", "1"],
    ]
    for argv in cases:
        line = _check_refused(argv, marker, capsys)
        assert "checkpoint" in line, (argv[:2], line)
    assert not out.exists()


def test_model_files_never_run_code(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    pt = _torch_file(tmp_path / "evil.pt", marker)
    pkl = _raw_pickle(tmp_path / "evil.pkl", marker)
    for f in (pt, pkl):
        for argv in (["models", "info", str(f)], ["generate", "--model", str(f), "--seeds", "0", "-o",
                                                  str(tmp_path / "g.png")],
                     ["models", "convert", str(f), str(tmp_path / "c.safetensors"), "--to", "safetensors"]):
            _check_refused(argv, marker, capsys)


def test_restricted_loaders_directly(tmp_path):
    """The shared loaders refuse the payload with FaceEditError (no other exception, no code run)."""
    from faceedit.errors import FaceEditError
    from faceedit.io.safe_pickle import safe_load
    from faceedit.train.checkpoint import load_checkpoint, read_state

    marker = tmp_path / "PWNED"
    pt = _torch_file(tmp_path / "evil.pt", marker)
    for fn in (read_state, load_checkpoint):
        with pytest.raises(FaceEditError, match="could run code|cannot read"):
            fn(pt)
    with pytest.raises(FaceEditError):
        safe_load(_raw_pickle(tmp_path / "evil.pkl", marker))
    assert not marker.exists()


def test_no_unrestricted_loader_in_src():
    """Only faceedit/io/safe_pickle.py may unpickle, and every torch.load is weights_only=True."""
    bad = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(SRC).as_posix()
        for pattern in (r"weights_only\s*=\s*False", r"allow_pickle\s*=\s*True", r"\bpickle\.loads?\(",
                        r"\bdill\.", r"\bjoblib\.load", r"\bmarshal\.loads?", r"torch\.jit\.load"):
            for m in re.finditer(pattern, text):
                if rel == "io/safe_pickle.py" and "pickle" in pattern:
                    continue
                bad.append(f"{rel}: {m.group(0)}")
        for m in re.finditer(r"torch\.load\(", text):
            depth, end = 1, m.end()
            while depth and end < len(text):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            if "weights_only=True" not in text[m.end():end]:
                bad.append(f"{rel}: torch.load without weights_only=True")
    assert not bad, bad
