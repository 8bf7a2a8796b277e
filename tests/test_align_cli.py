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


@needs_faces
def test_max_yaw_keeps_only_near_frontal_faces(tmp_path, capsys):
    """Two faces turned differently in one photo: a limit between their |yaw| keeps one and reports the other on
    one line; bad limits are one-line errors."""
    from faceedit.align import detect_faces, load_image
    from faceedit.geometry.headpose import estimate_pose

    a, b = np.asarray(Image.open(CMHQ)), np.asarray(Image.open(CELEBA))
    canvas = np.full((256, 256 + 40 + b.shape[1], 3), 128, np.uint8)
    canvas[:, :256] = a
    canvas[19:19 + b.shape[0], 296:296 + b.shape[1]] = b
    Image.fromarray(canvas).save(tmp_path / "two.png")
    Image.fromarray(b).save(tmp_path / "one.png")
    faces = detect_faces(load_image(tmp_path / "two.png"))
    assert len(faces) == 2
    yaws = [abs(p.yaw) for p in estimate_pose([f.landmarks for f in faces], method="kabsch")]
    if abs(yaws[0] - yaws[1]) < 4:
        pytest.skip(f"the two faces are turned alike (|yaw| {yaws}); nothing to tell apart")
    turned = int(np.argmax(yaws))
    limit = round(float(np.mean(yaws)), 1)
    out = tmp_path / "out"
    rc = main(["align", str(tmp_path / "two.png"), "-o", str(out), "--all-faces", "--size", "64", "--quiet",
               "--max-yaw", str(limit), "--pose", "--pose-method", "kabsch"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert [p.name for p in out.glob("*.png")] == [f"two_face{1 - turned}.png"]  # named by detection index
    skips = [line for line in cap.err.splitlines() if line.startswith("skip:")]
    assert len(skips) == 1 and skips[0].startswith(f"skip: {tmp_path / 'two.png'} face {turned}: yaw "), skips
    assert skips[0].endswith(f"{limit:g}°") and ("> " in skips[0] or "< -" in skips[0])
    assert f"face {1 - turned}: yaw" in cap.out and "off pose 1 face(s)" in cap.out

    # no face within the limits anywhere: nothing written, a failure; no limit: both faces
    rc = main(["align", str(tmp_path / "two.png"), str(tmp_path / "one.png"), "-o", str(tmp_path / "none"),
               "--quiet", "--max-yaw", str(round(min(yaws) / 2, 1)), "--size", "64"])
    cap = capsys.readouterr()
    assert rc != 0 and "no face was aligned" in cap.err and "no face within the pose limits" in cap.err
    assert len([line for line in cap.err.splitlines() if line.startswith("skip:")]) == 2  # one per file's face
    assert not list((tmp_path / "none").glob("*.png"))
    rc = main(["align", str(tmp_path / "two.png"), "--pose", "--quiet", "--all-faces", "--max-yaw", "90",
               "--max-pitch", "90", "--pose-method", "kabsch"])
    assert rc == 0 and capsys.readouterr().out.count("two.png face") == 2


@pytest.mark.parametrize("flag,value", [("--max-yaw", "-1"), ("--max-yaw", "90.5"), ("--max-pitch", "1e9"),
                                        ("--max-yaw", "nan"), ("--max-pitch", "inf"), ("--max-yaw", "ten")])
def test_bad_pose_limits_are_one_line_errors(tmp_path, capsys, flag, value):
    Image.fromarray(np.full((80, 80, 3), 30, np.uint8)).save(tmp_path / "x.png")
    assert main(["align", str(tmp_path / "x.png"), "-o", str(tmp_path / "o"), flag, value]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and flag in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_pose_limits_check_and_reason():
    from types import SimpleNamespace

    from faceedit.errors import FaceEditError
    from faceedit.geometry.pose_limits import PoseLimits, check_limit

    limits = PoseLimits.from_options(max_yaw=20, max_pitch=None)
    assert limits.active and not PoseLimits().active
    assert limits.miss(SimpleNamespace(yaw=19.9, pitch=80.0)) is None
    assert limits.miss(SimpleNamespace(yaw=34.12, pitch=0.0)) == "yaw 34.1° > 20°"
    assert limits.miss(SimpleNamespace(yaw=-34.12, pitch=0.0)) == "yaw -34.1° < -20°"
    both = PoseLimits.from_options(10, 5).miss(SimpleNamespace(yaw=12.0, pitch=-6.0))
    assert both == "yaw 12.0° > 10°, pitch -6.0° < -5°"
    assert check_limit(0, "--max-yaw") == 0.0 and check_limit(90, "--max-yaw") == 90.0
    for bad in (-0.1, 90.01, float("nan"), float("inf"), "x", [1]):
        with pytest.raises(FaceEditError, match="--max-pitch must be"):
            check_limit(bad, "--max-pitch")
