"""Attribute-balanced drawing of the training faces (``train gan --balance``): the weights, the draws, the run's
record of them, and the errors a user gets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.errors import FaceEditError
from faceedit.train import gan
from faceedit.train.checkpoint import load_checkpoint
from faceedit.train.dataset import balance_weights, parse_attribute_list, sample_batch
from faceedit.train.gan import TrainConfig, train

TINY = dict(resolution=16, batch=8, z_dim=32, w_dim=32, channel_base=256, channel_max=32, mapping_layers=2,
            threads=1, progress=False, log_seconds=0.0)


def _rows(n: int, rare: dict[str, int], unlabelled: int = 0) -> list[dict]:
    """n labelled rows; attribute a held by the first rare[a] rows (so holders overlap), then unlabelled rows."""
    rows = [{"attributes": {a: int(i < k) for a, k in rare.items()} | {"Smiling": i % 2}} for i in range(n)]
    return rows + [{"path": f"u{i}"} for i in range(unlabelled)]


def test_weights_raise_rare_attributes_to_the_target_within_the_cap():
    rows = _rows(100, {"Bald": 2, "Eyeglasses": 5, "Smiling": 0}, unlabelled=20)
    rows[60]["attributes"]["Smiling"] = 1
    w, rep = balance_weights(rows, ("Eyeglasses", "Bald"), target=0.1, cap=3.0)
    assert rep["Eyeglasses"]["frequency"] == 0.05 and rep["Eyeglasses"]["factor"] == 2.0
    assert rep["Bald"]["frequency"] == 0.02 and rep["Bald"]["factor"] == 3.0  # 5x wanted, capped at 3
    # rows 0-1 hold both: the larger factor; rows 2-4 Eyeglasses only; the rest (and unlabelled rows) 1
    assert w[:2].tolist() == [3.0, 3.0] and w[2:5].tolist() == [2.0] * 3 and set(w[5:].tolist()) == {1.0}
    total = 6 + 6 + 115
    assert rep["Eyeglasses"]["share_after"] == pytest.approx(12 / total, abs=1e-4)
    assert rep["Bald"]["share_before"] == pytest.approx(2 / 120, abs=1e-4)
    assert rep["Bald"]["share_after"] == pytest.approx(6 / total, abs=1e-4)
    # an attribute already commoner than the target is left alone
    w2, rep2 = balance_weights(_rows(10, {"Male": 5}), ("Male",), target=0.1, cap=3.0)
    assert rep2["Male"]["factor"] == 1.0 and set(w2.tolist()) == {1.0}


def test_weighted_draws_follow_the_weights():
    images = torch.arange(4, dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()
    weights = torch.tensor([1.0, 1.0, 3.0, 0.0], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x = sample_batch(images, 20000, False, g, weights=weights)
    idx = ((x[:, 0, 0, 0] + 1) * 255 / 2).round().long()
    counts = torch.bincount(idx, minlength=4).double() / len(idx)
    assert counts[3] == 0 and counts[2] / counts[0] == pytest.approx(3.0, rel=0.08)
    assert counts[0] == pytest.approx(0.2, abs=0.015)


@pytest.mark.parametrize("attrs,kw,msg", [
    (("Halo",), {}, "unknown attribute"),
    (("Bald",), {}, "no training face holds Bald"),
    (("Eyeglasses",), {"target": 1.5}, "balance-target"),
    (("Eyeglasses",), {"cap": 0.5}, "balance-cap"),
])
def test_bad_balance_settings_are_user_errors(attrs, kw, msg):
    rows = _rows(10, {"Eyeglasses": 1, "Bald": 0})
    with pytest.raises(FaceEditError, match=msg):
        balance_weights(rows, attrs, **{"target": 0.1, "cap": 3.0, **kw})
    with pytest.raises(FaceEditError, match="no row of the data's manifest"):
        balance_weights([{"path": "a"}], ("Eyeglasses",), 0.1, 3.0)
    with pytest.raises(FaceEditError, match="no manifest"):
        balance_weights(None, ("Eyeglasses",), 0.1, 3.0)
    assert parse_attribute_list(" Bald, Eyeglasses,,Bald ") == ("Bald", "Eyeglasses")


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """A build-like folder of 24 tiny faces; 3 wear 'Eyeglasses' (a dark band), 2 rows are held out."""
    root = tmp_path_factory.mktemp("build")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        img = rng.integers(90, 200, (16, 16, 3)).astype(np.uint8)
        glasses = int(i < 3)
        if glasses:
            img[5:8] = 10
        Image.fromarray(img).save(root / "images" / f"{i:02d}.png")
        rows.append({"path": f"images/{i:02d}.png", "source": "celeba", "identity": f"celeba:{i}",
                     "split": "val" if i >= 22 else "train", "attributes": {"Eyeglasses": glasses, "Male": i % 2}})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_a_run_draws_with_the_weights_and_records_each_change(build, tmp_path, monkeypatch):
    seen: list[torch.Tensor | None] = []

    def spy(images, batch, mirror, generator=None, device="cpu", weights=None):
        seen.append(weights)
        return sample_batch(images, batch, mirror, generator, device, weights)

    monkeypatch.setattr(gan, "sample_batch", spy)
    run = tmp_path / "run"
    logs: list[str] = []
    cfg = dict(data=str(build), run_dir=str(run), max_steps=2, balance="Eyeglasses", balance_target=0.5,
               balance_cap=2.5, **TINY)
    train(TrainConfig(**cfg), log=logs.append)
    assert any(line.startswith("balance: Eyeglasses 13.6% -> 28.3% of draws") for line in logs), logs
    w = seen[-1]
    assert w is not None and w.shape == (22,) and w[:3].tolist() == [2.5] * 3 and set(w[3:].tolist()) == {1.0}
    info = load_checkpoint(run / "checkpoint.pt")["data_info"]
    assert [(h["from_kimg"], h["attributes"]["Eyeglasses"]["factor"]) for h in info["balance"]] == [(0.0, 2.5)]
    train(TrainConfig(**cfg), log=logs.append)  # the same setting: no new entry
    assert len(load_checkpoint(run / "checkpoint.pt")["data_info"]["balance"]) == 1
    seen.clear()
    train(TrainConfig(**{**cfg, "balance": ""}), log=logs.append)  # switched off: uniform draws, recorded
    assert seen and all(s is None for s in seen)
    hist = load_checkpoint(run / "checkpoint.pt")["data_info"]["balance"]
    assert hist[-1] == {"off": True, "from_kimg": 0.032} and len(hist) == 2


def test_cli_balance_without_labels_is_a_one_line_error(tmp_path, capsys):
    from faceedit.cli import main

    arr = np.zeros((4, 3, 16, 16), np.uint8)
    np.save(tmp_path / "faces.npy", arr)
    rc = main(["train", "gan", "--data", str(tmp_path / "faces.npy"), "--run-dir", str(tmp_path / "r"), "--res", "16",
               "--balance", "Eyeglasses", "-q", "--steps", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("error: --balance needs a build folder") and "Traceback" not in "".join(err)
