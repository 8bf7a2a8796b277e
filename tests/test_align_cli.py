"""`faceedit align`: batches of files and folders, odd inputs, summary and exit status."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceedit.align import have_dlib
from faceedit.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CELEBA = DATA / "celeba" / "img_align_celeba" / "000002.jpg"
CMHQ = DATA / "celebamask-hq" / "images" / "00000.jpg"

needs_faces = pytest.mark.skipif(
    not (have_dlib() and CELEBA.is_file() and CMHQ.is_file()),
    reason=f"needs dlib (pip install 'faceedit[align]') and face photos under {DATA} (../shared/data)")


def _odd_folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    Image.open(CELEBA).save(d / "face.jpg", quality=95)
    Image.open(CMHQ).convert("CMYK").save(d / "sub" / "cmyk_face.jpg", quality=95)
    (d / "empty.jpg").write_bytes(b"")
    (d / "noise.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    Image.fromarray(np.full((120, 120, 3), 30, np.uint8)).save(d / "blank.png")
    (d / "readme.txt").write_text("not an image")
    return d


@needs_faces
def test_batch_with_odd_files_never_stops(tmp_path, capsys):
    d = _odd_folder(tmp_path)
    out = tmp_path / "out"
    rc = main(["align", str(d), "-o", str(out), "--size", "64", "--quiet", "--save-transform"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["face.png", "sub/cmyk_face.png"]
    assert Image.open(out / "face.png").size == (64, 64)
    meta = json.loads((out / "face.json").read_text())
    assert len(meta["transform"]["matrix"]) == 3 and len(meta["landmarks_aligned"]) == 68
    assert "aligned 2 of 5 image(s)" in cap.out
    assert "no face 1" in cap.out and "unreadable 2" in cap.out and "1 non-image file(s) in folders ignored" in cap.out
    assert "empty file" in cap.err and "not an image" in cap.err and "no face found in" in cap.err
    assert "Traceback" not in cap.err


@needs_faces
def test_nothing_aligned_is_a_failure(tmp_path, capsys):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((100, 100, 3), 30, np.uint8)).save(blank)
    txt = tmp_path / "notes.txt"
    txt.write_text("x")
    rc = main(["align", str(blank), str(txt), "-o", str(tmp_path / "out"), "--quiet"])
    cap = capsys.readouterr()
    assert rc != 0
    assert "aligned 0 of 2" in cap.out and "no face was aligned" in cap.err


@needs_faces
def test_all_faces_writes_each(tmp_path, capsys):
    a, b = np.asarray(Image.open(CMHQ)), np.asarray(Image.open(CELEBA))
    canvas = np.full((256, 256 + 40 + b.shape[1], 3), 128, np.uint8)
    canvas[:, :256] = a
    canvas[19:19 + b.shape[0], 296:296 + b.shape[1]] = b
    Image.fromarray(canvas).save(tmp_path / "two.png")
    out = tmp_path / "out"
    assert main(["align", str(tmp_path / "two.png"), "-o", str(out), "--all-faces", "--size", "64", "--quiet"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["two_face0.png", "two_face1.png"]
    assert "(2 face(s))" in capsys.readouterr().out
    out2 = tmp_path / "out2"
    assert main(["align", str(tmp_path / "two.png"), "-o", str(out2), "--size", "64", "--quiet"]) == 0
    assert [p.name for p in out2.glob("*.png")] == ["two.png"]


def test_bad_flags_are_one_line_errors(tmp_path, capsys):
    assert main(["align", str(tmp_path), "-o", str(tmp_path / "o"), "--size", "32"]) == 2
    assert "--size must be from 64 to 1024" in capsys.readouterr().err
    assert main(["align", str(tmp_path), "-o", str(tmp_path / "o"), "--detector", "magic"]) == 2
    assert "--detector" in capsys.readouterr().err
    if have_dlib():
        assert main(["align", str(tmp_path), "-o", str(tmp_path / "o")]) == 2  # empty folder
        assert "no image files found" in capsys.readouterr().err
