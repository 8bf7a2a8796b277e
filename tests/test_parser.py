"""The face parser: a tiny U-Net learns a square class through the real training code, flip handling, region
masks, save/load, CLI exit codes and errors, and the shipped weights' mIoU on held-out CelebAMask-HQ masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.cli import main
from faceedit.errors import FaceEditError
from faceedit.scorers.parser import (CLASSES, DEFAULT_WEIGHTS, REGIONS, FaceParser, ParserConfig, ParserNet,
                                     load_parser, mask_image)
from faceedit.train.runner import RunConfig
from faceedit.train.parser import confusion, flip_labels, iou_from_confusion, train_parser

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TINY = {"size": 32, "widths": [8, 16, 32], "bottleneck": 1, "stem_stride": 1}
# Measured on the shipped weights (see the card): mIoU of the 12 first held-out CelebAMask-HQ images used below.
SHIPPED_MIOU_FLOOR = 0.6  # measured 0.608 (2026-11-25, shipped weights, CPU; 0.4825 before the longer training)


def make_square_set(root: Path, n_train: int = 96, n_val: int = 24, size: int = 32, seed: int = 0) -> Path:
    """Noise images with a bright square (class 13, 'hair') and a dark bar (class 1, 'skin'); masks beside."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = []
    for i in range(n_train + n_val):
        img = rng.integers(70, 150, (size, size, 3)).astype(np.uint8)
        m = np.zeros((size, size), np.uint8)
        y, x = rng.integers(2, size - 14, 2)
        img[y:y + 12, x:x + 12] = 235
        m[y:y + 12, x:x + 12] = 13
        by = int(rng.integers(0, size - 4))
        img[by:by + 4, :] = 15
        m[by:by + 4, :] = 1
        Image.fromarray(img).save(root / f"images/{i:04d}.png")
        Image.fromarray(m).save(root / f"masks/{i:04d}.png")
        rows.append({"path": f"images/{i:04d}.png", "mask": f"masks/{i:04d}.png", "source": "celebamask-hq",
                     "size": size, "identity": f"celebamask-hq:{i}", "split": "train" if i < n_train else "val"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parser")
    data = make_square_set(tmp / "data")
    out = tmp / "tiny.safetensors"
    cfg = RunConfig(data=str(data), out=str(out), run_dir=str(tmp / "run"), minutes=None, epochs=10, batch=16,
                    lr=1e-2, bf16=False, log_every=5, extra={"model": TINY})
    card = train_parser(cfg, log=lambda m: None)
    return card, out, data


def test_tiny_parser_learns_square(trained):
    card, _, _ = trained
    iou = card["validation"]["per_class_iou"]
    assert iou["hair"] >= 0.7, iou
    assert iou["skin"] >= 0.6, iou
    assert iou["background"] >= 0.8, iou
    assert iou["nose"] is None  # absent from the data: not counted in the mean
    assert card["validation"]["miou"] >= 0.7


def test_flip_labels_swaps_left_right():
    m = torch.tensor([[0, 4, 5, 6, 7, 8, 9, 13]])
    assert flip_labels(m).tolist() == [[0, 5, 4, 7, 6, 9, 8, 13]]


def test_iou_from_confusion():
    t = torch.tensor([0, 0, 1, 1, 2])
    p = torch.tensor([0, 1, 1, 1, 0])
    ev = iou_from_confusion(confusion(p, t, 3), ["a", "b", "c"])
    assert ev["per_class_iou"] == {"a": pytest.approx(1 / 3, abs=1e-4), "b": pytest.approx(2 / 3, abs=1e-4),
                                   "c": 0.0}
    assert ev["miou"] == pytest.approx(1 / 3, abs=1e-4)


def test_region_masks_and_shapes():
    torch.manual_seed(0)
    fp = FaceParser(ParserNet(ParserConfig(**TINY))).eval()
    x = torch.rand(2, 3, 48, 48) * 2 - 1
    probs = fp.probs(x)
    assert probs.shape == (2, 19, 48, 48) and fp.labels(x).shape == (2, 48, 48)
    assert fp.labels(x).dtype == torch.long
    assert fp.logits(x, native=True).shape[-1] == 32
    for name, ids in REGIONS.items():
        m = fp.region_mask(x, name)
        assert m.shape == (2, 1, 48, 48)
        torch.testing.assert_close(m, probs[:, list(ids)].sum(1, keepdim=True))
    torch.testing.assert_close(fp.region_mask(x, "mouth"), probs[:, 10:13].sum(1, keepdim=True))
    torch.testing.assert_close(fp.region_mask(x, ["eyes", "nose"]), probs[:, [2, 4, 5]].sum(1, keepdim=True))
    with torch.no_grad():
        total = fp.region_mask(x, "person") + fp.region_mask(x, "background")
    assert float(total.min()) == pytest.approx(1, abs=1e-5)
    with pytest.raises(FaceEditError, match="unknown face region"):
        fp.region_mask(x, "beard")
    xg = x.clone().requires_grad_(True)
    fp.requires_grad_(False)
    fp.region_mask(xg, "hair").sum().backward()
    assert xg.grad.abs().sum() > 0


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(1)
    net = ParserNet(ParserConfig(**TINY)).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    ref = FaceParser(net).logits(x)
    p = tmp_path / "p.safetensors"
    FaceParser(net, {"who": "test"}).save(p)
    fp = load_parser(p)
    assert fp.cfg.widths == (8, 16, 32) and fp.card["who"] == "test" and fp.classes == list(CLASSES)
    torch.testing.assert_close(fp.logits(x), ref, atol=3e-2, rtol=3e-2)
    with pytest.raises(FaceEditError, match="faceedit train parser"):
        load_parser(tmp_path / "missing.safetensors")
    from faceedit.scorers.classifier import AttributeClassifier, AttributeNet, ClassifierConfig
    q = tmp_path / "c.safetensors"
    AttributeClassifier(AttributeNet(ClassifierConfig(size=32, widths=(8,), depths=(1,)))).save(q)
    with pytest.raises(FaceEditError, match="not a face_parser"):
        load_parser(q)


def test_cli_parse(trained, tmp_path, capsys):
    _, out, data = trained
    img = data / "images/0100.png"
    mask, ov = tmp_path / "m.png", tmp_path / "o.png"
    rc = main(["parse", str(img), "-o", str(mask), "--overlay", str(ov), "--aligned", "--weights", str(out)])
    assert rc == 0, capsys.readouterr().err
    m = Image.open(mask)
    assert m.mode == "P" and m.size == (32, 32)
    arr = np.asarray(m)
    assert arr.max() < 19
    truth = np.asarray(Image.open(data / "masks/0100.png"))
    assert (arr == truth).mean() > 0.8
    assert Image.open(ov).size == (32, 32)
    assert "class map" in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [
    (["-o", "{tmp}/m.jpg"], "lossless"),
    (["-o", "{tmp}/m.png", "--frame", "sideways"], "--frame"),
    (["-o", "{tmp}/m.png", "--size", "5"], "--size"),
])
def test_cli_parse_bad_flags(trained, tmp_path, capsys, args, needle):
    img = trained[2] / "images/0001.png"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    rc = main(["parse", str(img), *args, "--weights", str(trained[1])])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and needle in err and "\n" not in err


def test_cli_parse_bad_image(trained, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    rc = main(["parse", str(bad), "-o", str(tmp_path / "m.png"), "--aligned", "--weights", str(trained[1])])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "broken.jpg" in err and "\n" not in err
    assert not (tmp_path / "m.png").exists()
    rc = main(["parse", str(tmp_path / "absent.png"), "-o", str(tmp_path / "m.png"), "--aligned",
               "--weights", str(tmp_path / "none.safetensors")])
    assert rc == 2 and "faceedit train parser" in capsys.readouterr().err


def test_train_parser_command_on_a_test_app(tmp_path):
    import typer
    from typer.testing import CliRunner

    from faceedit.cli.faces import train_parser as cmd

    app = typer.Typer()
    app.command("parser")(cmd)
    app.command("other")(lambda: None)
    data = make_square_set(tmp_path / "data", n_train=16, n_val=8, size=64)
    out = tmp_path / "p.safetensors"
    res = CliRunner().invoke(app, ["parser", "--data", str(data), "--out", str(out), "--run-dir",
                                   str(tmp_path / "run"), "--epochs", "1", "--batch", "8", "--no-bf16"])
    assert res.exit_code == 0, res.output
    assert "mIoU" in res.stdout and "| hair |" in res.stdout
    assert json.loads(out.with_suffix(".json").read_text())["validation"]["n"] == 8


def test_mask_image_palette():
    lab = np.arange(19, dtype=np.uint8).reshape(1, 19)
    im = mask_image(lab)
    assert im.mode == "P" and np.array_equal(np.asarray(im), lab)
    assert im.getpalette()[13 * 3:13 * 3 + 3] == [0, 0, 204]


# ------------------------------------------------------------------------------------------- shipped weights

def _val_celebamask(n: int) -> list[str]:
    from faceedit.data.sources import val_split

    d = SHARED / "celebamask-hq" / "images"
    stems = [p.stem for p in sorted(d.iterdir()) if val_split(f"celebamask-hq:{p.stem}") == "val"]
    return stems[:n]


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped parser weights not trained yet")
def test_shipped_parser_miou():
    if not (SHARED / "celebamask-hq" / "masks").is_dir():
        pytest.skip(f"CelebAMask-HQ not found under {SHARED}")
    fp = load_parser()
    k = len(CLASSES)
    cm = np.zeros((k, k), np.int64)
    for stem in _val_celebamask(12):
        img = Image.open(SHARED / f"celebamask-hq/images/{stem}.jpg").convert("RGB").resize((128, 128), Image.LANCZOS)
        m = np.asarray(Image.open(SHARED / f"celebamask-hq/masks/{stem}.png").resize((128, 128), Image.NEAREST))
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
        cm += confusion(fp.labels(x), torch.from_numpy(m.copy()), k)
    ev = iou_from_confusion(cm, list(CLASSES))
    assert ev["miou"] >= SHIPPED_MIOU_FLOOR - 0.05, ev
    for name in ("background", "skin", "hair"):
        assert ev["per_class_iou"][name] >= 0.6, (name, ev["per_class_iou"])


def test_cli_parse_photo_frame(trained, tmp_path, capsys):
    from faceedit.align import have_dlib

    photo = SHARED / "celebamask-hq/images/00003.jpg"
    if not have_dlib() or not photo.is_file():
        pytest.skip("needs dlib and ../shared/data")
    rc = main(["parse", str(photo), "-o", str(tmp_path / "m.png"), "--frame", "photo", "--size", "64",
               "--overlay", str(tmp_path / "o.png"), "--weights", str(trained[1])])
    assert rc == 0, capsys.readouterr().err
    assert Image.open(tmp_path / "m.png").size == Image.open(photo).size == Image.open(tmp_path / "o.png").size
    rc = main(["parse", str(photo), "-o", str(tmp_path / "a.png"), "--size", "64", "--weights", str(trained[1])])
    assert rc == 0 and Image.open(tmp_path / "a.png").size == (64, 64)
