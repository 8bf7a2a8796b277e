"""The attribute classifier: a tiny model learns a trivially learnable attribute through the real training code,
save/load round trip, gradients, CLI exit codes and errors, and the shipped weights against the majority baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.cli import main
from faceedit.errors import FaceEditError
from faceedit.scorers.classifier import (CELEBA_ATTRIBUTES, DEFAULT_WEIGHTS, AttributeClassifier, AttributeNet,
                                         ClassifierConfig, load_classifier)
from faceedit.train.classifier import train_classifier
from faceedit.train.runner import RunConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TINY = {"size": 32, "stem": 8, "widths": [16, 32], "depths": [1, 1], "dropout": 0.0,
        "attributes": ["Patch", "Noise"]}


def make_patch_set(root: Path, n_train: int = 160, n_val: int = 48, size: int = 48, seed: int = 0) -> Path:
    """A build-like folder: noisy grey images, half with a red square somewhere ('Patch'); 'Noise' is random."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(n_train + n_val):
        img = rng.integers(60, 160, (size, size, 3)).astype(np.uint8)
        patch = int(rng.random() < 0.5)
        if patch:
            y, x = rng.integers(6, size - 18, 2)
            img[y:y + 12, x:x + 12] = [230, 20, 20]
        p = f"images/{i:04d}.png"
        Image.fromarray(img).save(root / p)
        rows.append({"path": p, "source": "celeba", "size": size, "identity": f"celeba:{i}",
                     "split": "train" if i < n_train else "val",
                     "attributes": {"Patch": patch, "Noise": int(rng.random() < 0.3)}})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(card, weights path, data folder, run dir) of a tiny classifier trained on the patch set."""
    tmp = tmp_path_factory.mktemp("clf")
    data = make_patch_set(tmp / "data")
    out = tmp / "tiny.safetensors"
    cfg = RunConfig(data=str(data), out=str(out), run_dir=str(tmp / "run"), minutes=None, epochs=8, batch=16,
                    lr=5e-3, bf16=False, log_every=5, extra={"model": TINY})
    card = train_classifier(cfg, log=lambda m: None)
    return card, out, data, tmp / "run"


def test_tiny_classifier_learns_patch(trained):
    card, out, _, run = trained
    per = card["validation"]["per_attribute"]
    assert per["Patch"]["accuracy"] >= 0.9, per["Patch"]
    assert per["Patch"]["balanced_accuracy"] >= 0.9
    assert per["Patch"]["accuracy"] > per["Patch"]["majority_accuracy"] + 0.25
    assert card["training"]["complete"] is True
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log and {"step", "loss", "lr", "img_per_s"} <= set(log[0])
    assert log[-1]["loss"] < log[0]["loss"]


def test_resume_continues_the_plan(trained):
    card, out, data, run = trained
    st = torch.load(run / "checkpoint.pt", weights_only=True)
    assert st["step"] == st["total_steps"] == card["training"]["steps"]
    msgs = []
    cfg = RunConfig(data=str(data), out=str(out), run_dir=str(run), minutes=None, epochs=8, batch=16, lr=5e-3,
                    bf16=False, extra={"model": TINY})
    card2 = train_classifier(cfg, log=msgs.append)
    assert any("resuming" in m for m in msgs)
    assert card2["training"]["steps"] == card["training"]["steps"]  # plan already done: no extra steps
    assert card2["validation"]["mean"] == card["validation"]["mean"]
    cfg.extra = {"model": TINY, "extend_minutes": 0.03}  # a warm restart: ~2 s more training
    card3 = train_classifier(cfg, log=msgs.append)
    assert any("plan extended" in m for m in msgs)
    assert card3["training"]["steps"] > card["training"]["steps"] and card3["training"]["complete"] is True


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    net = AttributeNet(ClassifierConfig(**TINY)).eval()
    x = torch.rand(3, 3, 40, 40) * 2 - 1
    ref = AttributeClassifier(net).logits(x)
    p = tmp_path / "w.safetensors"
    AttributeClassifier(net, {"note": "x"}).save(p)
    clf = load_classifier(p)
    assert clf.attributes == ["Patch", "Noise"] and clf.size == 32
    assert clf.card["note"] == "x"
    assert json.loads(p.with_suffix(".json").read_text())["config"]["widths"] == [16, 32]
    torch.testing.assert_close(clf.logits(x), ref, atol=2e-2, rtol=2e-2)
    from safetensors import safe_open
    with safe_open(str(p), "pt") as f:
        assert json.loads(f.metadata()["faceedit"])["kind"] == "attr_classifier"
        assert all(f.get_tensor(k).dtype in (torch.float16, torch.int64) for k in f.keys())
    assert clf.index("patch") == 0
    with pytest.raises(FaceEditError, match="unknown attribute"):
        clf.index("Smile")


def test_differentiable_and_frozen(trained):
    clf = load_classifier(trained[1])
    assert not any(p.requires_grad for p in clf.parameters())
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    clf.probs(x)[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_missing_weights_and_bad_inputs(tmp_path):
    with pytest.raises(FaceEditError, match="faceedit train classifier") as e:
        load_classifier(tmp_path / "none.safetensors")
    assert "none.safetensors" in str(e.value)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(FaceEditError, match="cannot read"):
        load_classifier(bad)
    clf = AttributeClassifier(AttributeNet(ClassifierConfig(**TINY)))
    with pytest.raises(FaceEditError, match=r"\[N, 3, H, W\]"):
        clf.logits(torch.zeros(3, 32, 32))


def test_cli_score(trained, tmp_path, capsys):
    _, out, data, _ = trained
    imgs = sorted((data / "images").glob("*.png"))[:2]
    capsys.readouterr()
    rc = main(["score", *map(str, imgs), "--aligned", "--weights", str(out), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(res) == 2
    assert set(res[0]["probabilities"]) == {"Patch", "Noise"} and res[0]["aligned"] is False
    assert all(0 <= v <= 1 for r in res for v in r["probabilities"].values())
    rc = main(["score", str(imgs[0]), "--aligned", "--weights", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "Patch" in text and imgs[0].name in text


@pytest.mark.parametrize("content", [b"", b"this is not an image"])
def test_cli_score_bad_image(trained, tmp_path, capsys, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    rc = main(["score", str(bad), "--aligned", "--weights", str(trained[1])])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "bad.png" in err and "\n" not in err


def test_cli_score_missing(tmp_path, capsys):
    rc = main(["score", str(tmp_path / "nope.png"), "--aligned", "--weights", str(tmp_path / "w.safetensors")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "faceedit train classifier" in err and "\n" not in err


def test_train_command_on_a_test_app(tmp_path):
    import typer
    from typer.testing import CliRunner

    from faceedit.cli.faces import train_classifier as cmd

    app = typer.Typer()
    app.command("classifier")(cmd)
    app.command("other")(lambda: None)  # keep typer in sub-command mode
    data = make_patch_set(tmp_path / "data", n_train=32, n_val=16)
    (data / "manifest.jsonl").write_text("".join(  # the real 40 attribute names
        json.dumps({**r, "attributes": {a: r["attributes"]["Patch"] if a == "Eyeglasses" else 0
                                        for a in CELEBA_ATTRIBUTES}}) + "\n"
        for r in map(json.loads, (data / "manifest.jsonl").read_text().splitlines())))
    out = tmp_path / "w.safetensors"
    res = CliRunner().invoke(app, ["classifier", "--data", str(data), "--out", str(out), "--run-dir",
                                   str(tmp_path / "run"), "--epochs", "1", "--batch", "16", "--size", "48",
                                   "--no-bf16"])
    assert res.exit_code == 0, res.output
    assert "| Eyeglasses |" in res.stdout and "majority baseline" in res.stdout
    assert load_classifier(out).size == 48
    res = CliRunner().invoke(app, ["classifier", "--data", str(tmp_path / "missing")])
    assert res.exit_code != 0 and isinstance(res.exception, FaceEditError)


# ------------------------------------------------------------------------------------------- shipped weights

def _val_celeba(n: int) -> list[tuple[Path, dict]]:
    from faceedit.data.sources import _read_celeba_labels, val_split

    root = SHARED / "celeba"
    ident, attrs, _ = _read_celeba_labels(root)
    out = []
    for p in sorted((root / "img_align_celeba").iterdir()):
        if p.name in ident and val_split(f"celeba:{ident[p.name]}") == "val" and p.name in attrs:
            out.append((p, attrs[p.name]))
            if len(out) >= n:
                break
    return out


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped classifier weights not trained yet")
def test_shipped_classifier_beats_majority():
    if not (SHARED / "celeba" / "list_attr_celeba.txt").is_file():
        pytest.skip(f"CelebA not found under {SHARED}")
    from faceedit.align import align_face, have_dlib, load_image

    if not have_dlib():
        pytest.skip("dlib not installed (needed to align the CelebA photos)")
    clf = load_classifier()
    prior = {a: v["positive_rate_train"] for a, v in clf.card["validation"]["per_attribute"].items()}
    xs, ys = [], []
    for p, lab in _val_celeba(48):
        try:
            af = align_face(load_image(p), size=128)
        except FaceEditError:
            continue
        xs.append(torch.from_numpy(af.image.copy()).permute(2, 0, 1).float() / 127.5 - 1)
        ys.append([lab[a] for a in clf.attributes])
    assert len(xs) >= 30
    with torch.no_grad():
        pred = (clf.probs(torch.stack(xs)) >= 0.5).numpy()
    y = np.array(ys, bool)
    acc = (pred == y).mean()
    majority = (y == np.array([prior[a] >= 0.5 for a in clf.attributes])).mean()
    assert acc > majority + 0.02, (acc, majority)
    # the easiest attributes are learnt well
    for a in ("Male", "Smiling", "Eyeglasses"):
        j = clf.index(a)
        assert (pred[:, j] == y[:, j]).mean() >= 0.75, a


def test_repo_weights_are_small():
    for p in (DEFAULT_WEIGHTS,):
        if p.is_file():
            assert p.stat().st_size < 3 * 2 ** 20


def test_cli_score_aligns_photos(trained, tmp_path, capsys):
    from faceedit.align import have_dlib

    photo = SHARED / "celebamask-hq/images/00003.jpg"
    if not have_dlib() or not photo.is_file():
        pytest.skip("needs dlib and ../shared/data")
    rc = main(["score", str(photo), "--json", "--weights", str(trained[1])])
    assert rc == 0 and json.loads(capsys.readouterr().out)[0]["aligned"] is True
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 96, 3)).astype(np.uint8)).save(noise)
    rc = main(["score", str(noise), "--weights", str(trained[1])])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "no face" in err and "noise.png" in err
