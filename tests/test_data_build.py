"""`faceedit data build` / `pack` and the dataset readers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.align import have_dlib
from faceedit.cli import main
from faceedit.data import ImageFolderDataset, PackDataset, list_items, read_manifest, val_split
from faceedit.errors import FaceEditError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(
    not (have_dlib() and (DATA / "celeba").is_dir() and (DATA / "celebamask-hq").is_dir()),
    reason=f"needs dlib (pip install 'faceedit[align]') and the face folders under {DATA} (../shared/data)")


def test_identity_split_is_deterministic_and_about_ten_percent():
    ids = [f"celeba:{i}" for i in range(5000)]
    splits = [val_split(i) for i in ids]
    assert splits == [val_split(i) for i in ids]
    frac = splits.count("val") / len(ids)
    assert 0.08 < frac < 0.12
    assert val_split("x", 0.0) == "train"


def test_sources_and_labels_from_file_names(tmp_path):
    src = tmp_path / "src"
    (src / "celeba" / "img_align_celeba").mkdir(parents=True)
    (src / "celeba" / "img_align_celeba_89x109").mkdir(parents=True)
    (src / "celebamask-hq" / "images").mkdir(parents=True)
    (src / "celebamask-hq" / "masks").mkdir(parents=True)
    (src / "utkface").mkdir()
    for name in ("000001.jpg", "000002.jpg"):
        (src / "celeba" / "img_align_celeba" / name).write_bytes(b"x")
    for name in ("000002.jpg", "000003.jpg"):  # 000002 is also in the big folder: skipped
        (src / "celeba" / "img_align_celeba_89x109" / name).write_bytes(b"x")
    (src / "celeba" / "identity_CelebA.txt").write_text("000001.jpg 7\n000002.jpg 7\n000003.jpg 9\n")
    (src / "celeba" / "list_attr_celeba.txt").write_text(
        "3\nSmiling Male\n000001.jpg  1 -1\n000002.jpg -1  1\n000003.jpg  1  1\n")
    (src / "celebamask-hq" / "images" / "00000.jpg").write_bytes(b"x")
    (src / "celebamask-hq" / "masks" / "00000.png").write_bytes(b"x")
    (src / "utkface" / "34_1_2_20170116174525125.jpg").write_bytes(b"x")
    (src / "utkface" / "61_3_20170109150557335.jpg").write_bytes(b"x")  # malformed: no race
    items, notes = list_items(src)
    keys = [it.key for it in items]
    assert keys == ["celebamask-hq/00000", "celeba/000001", "celeba/000002", "celeba-89x109/000003",
                    "utkface/34_1_2_20170116174525125"]
    by = {it.key: it for it in items}
    assert by["celebamask-hq/00000"].mask.endswith("masks/00000.png")
    assert by["celeba/000001"].identity == by["celeba/000002"].identity == "celeba:7"
    assert by["celeba/000001"].labels["attributes"] == {"Smiling": 1, "Male": 0}
    assert by["celeba-89x109/000003"].labels["attributes"] == {"Smiling": 1, "Male": 1}
    assert by["utkface/34_1_2_20170116174525125"].labels == {"age": 34, "gender": 1, "race": 2}
    assert notes["celeba-89x109 duplicates skipped"] == 1 and notes["utkface unparsable names skipped"] == 1
    with pytest.raises(FaceEditError, match="unknown source"):
        list_items(src, ("flickr",))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not (have_dlib() and (DATA / "celeba").is_dir() and (DATA / "celebamask-hq").is_dir()):
        pytest.skip(f"needs dlib and the face folders under {DATA}")
    out = tmp_path_factory.mktemp("build") / "b64"
    rc = main(["data", "build", "--src", str(DATA), "--out", str(out), "--size", "64", "--limit", "3",
               "--workers", "1", "--quiet"])
    assert rc == 0
    return out


@needs_data
def test_build_writes_aligned_images_masks_and_manifest(built):
    rows = read_manifest(built)
    sources = {r["source"] for r in rows}
    assert {"celebamask-hq", "celeba", "celeba-89x109"} <= sources
    assert len(rows) >= 9
    for r in rows:
        im = Image.open(built / r["path"])
        assert im.size == (64, 64) and im.mode == "RGB"
        assert r["split"] in ("train", "val") and r["split"] == val_split(r["identity"])
        assert 0.0 <= r["padding"] <= 1.0
        if r["source"] == "celebamask-hq":
            m = Image.open(built / r["mask"])
            assert m.size == (64, 64)
            labels = np.asarray(m)
            assert labels.max() <= 18 and (labels == 1).mean() > 0.1  # skin present
        if r["source"].startswith("celeba") and r["source"] != "celebamask-hq":
            assert len(r["attributes"]) == 40 and r["identity"].startswith("celeba:")
            assert set(r["attributes"].values()) <= {0, 1}
        if r["source"] == "utkface":
            assert 0 <= r["age"] <= 130 and r["gender"] in (0, 1) and 0 <= r["race"] <= 4
    # identity-disjoint: one split per identity
    per = {}
    for r in rows:
        per.setdefault(r["identity"], set()).add(r["split"])
    assert all(len(s) == 1 for s in per.values())


@needs_data
def test_build_resumes_without_redoing_work(built, capsys):
    before = {p: p.stat().st_mtime_ns for p in (built / "images").rglob("*.png")}
    rc = main(["data", "build", "--src", str(DATA), "--out", str(built), "--size", "64", "--limit", "3",
               "--workers", "1", "--quiet"])
    assert rc == 0
    assert "0 to align" in capsys.readouterr().err
    after = {p: p.stat().st_mtime_ns for p in (built / "images").rglob("*.png")}
    assert before == after
    assert main(["data", "build", "--src", str(DATA), "--out", str(built), "--size", "128", "--limit", "1",
                 "--quiet"]) == 2  # another size into the same folder is refused


@needs_data
def test_pack_and_read_back(built, tmp_path, capsys):
    z = tmp_path / "p.zip"
    rc = main(["data", "pack", str(built), "-o", str(z), "--size", "64", "--quality", "85", "--masks", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    n = len(read_manifest(built))
    assert f"packed {n} images" in out and "webp q85" in out
    with zipfile.ZipFile(z) as zf:
        names = zf.namelist()
        assert "manifest.jsonl" in names and sum(x.endswith(".webp") for x in names) == n
        assert any(x.startswith("masks/") for x in names)
    ds = PackDataset(z, resolution=32, split="all")
    assert len(ds) == n
    img, idx = ds[0]
    assert img.shape == (3, 32, 32) and img.dtype == torch.uint8 and idx == 0
    # the decoded image is the build's image (lossy, so within tolerance)
    ref = np.asarray(Image.open(built / read_manifest(built)[0]["path"]).resize((32, 32), Image.LANCZOS))
    assert np.abs(img.permute(1, 2, 0).numpy().astype(int) - ref.astype(int)).mean() < 6
    fds = PackDataset(z, resolution=64, split="all", normalize=True)
    x, _ = fds[1]
    assert x.dtype == torch.float32 and -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    train, val = PackDataset(z, split="train"), PackDataset(z, split="val")
    assert len(train) + len(val) == n
    assert {r["identity"] for r in train.records}.isdisjoint({r["identity"] for r in val.records})
    # DataLoader with worker processes (each opens its own archive handle)
    dl = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batch, idx = next(iter(dl))
    assert batch.shape == (4, 3, 32, 32) and idx.tolist() == [0, 1, 2, 3]
    assert ds.labels("Smiling").shape == (n,)


@needs_data
def test_pack_tar_jpeg_max_mb_and_folder_reader(built, tmp_path, capsys):
    t = tmp_path / "p.tar"
    assert main(["data", "pack", str(built), "-o", str(t), "--format", "jpeg", "--quality", "90", "--quiet"]) == 0
    ds = PackDataset(t, split="all")
    assert len(ds) == len(read_manifest(built)) and ds[0][0].shape == (3, 64, 64)
    capsys.readouterr()
    small = tmp_path / "small.zip"
    assert main(["data", "pack", str(built), "-o", str(small), "--max-mb", "0.012", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "left out by --max-mb" in out
    assert small.stat().st_size <= 12_000
    assert 0 < len(PackDataset(small, split="all")) < len(ds)
    only = tmp_path / "cm.zip"
    assert main(["data", "pack", str(built), "-o", str(only), "--sources", "celebamask-hq", "--quiet"]) == 0
    assert {r["source"] for r in PackDataset(only, split="all").records} == {"celebamask-hq"}
    assert main(["data", "pack", str(built), "-o", str(tmp_path / "x.rar"), "--quiet"]) == 2
    assert "must end in .zip or .tar" in capsys.readouterr().err
    fd = ImageFolderDataset(built, resolution=48, split="all")
    assert len(fd) == len(ds) and fd[0][0].shape == (3, 48, 48)
    raw = ImageFolderDataset(built / "images")  # a plain folder: no manifest
    assert len(raw) == len(ds)
    few = ImageFolderDataset(built / "manifest.jsonl", split="all", max_padding=0.0)
    assert all(r["padding"] == 0.0 for r in few.records)


def test_pack_refuses_a_folder_without_manifest(tmp_path, capsys):
    assert main(["data", "pack", str(tmp_path), "-o", str(tmp_path / "p.zip")]) == 2
    assert "no manifest.jsonl" in capsys.readouterr().err
    with pytest.raises(FaceEditError, match="split must be"):
        ImageFolderDataset(tmp_path, split="test")
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"path": "a.png"}) + "\nnot json\n")
    with pytest.raises(FaceEditError, match="line 2"):
        ImageFolderDataset(tmp_path)
