"""Issue 19 on the command line: tiny images never reach dlib (item 1), every user size is capped before use
(item 2), NaN / inf / absurd values are refused in and out (item 4), one bad file never stops a batch (item 5),
temporary files of killed writers and FIFOs break nothing (item 7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import click
import numpy as np
import pytest
import torch
import typer
from PIL import Image, PngImagePlugin

from faceedit import api
from faceedit.cli import app, guard_options, main
from faceedit.errors import FaceEditError

from _edit_helpers import random_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one thread beats two that wait on 2 cores


def one_error_line(capsys) -> str:
    """The command's stderr must be exactly one ``error:`` line."""
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def tiny_images(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, size in (("thin.png", (2, 300)), ("dot.png", (1, 1))):
        Image.new("RGB", size, (120, 100, 90)).save(folder / name)
        out.append(folder / name)
    return out


@pytest.fixture(scope="module")
def default_model():
    return api.load("default")


@pytest.fixture(scope="module")
def face_png(default_model, tmp_path_factory) -> Path:
    """A generated face at 256 px (dlib finds it), as a photo would come."""
    path = tmp_path_factory.mktemp("face") / "face.png"
    Image.fromarray(default_model.generate(seeds=[3]).images[0]).resize((256, 256), Image.LANCZOS).save(path)
    return path


def needs_dlib():
    from faceedit.align import have_dlib

    if not have_dlib():
        pytest.skip("dlib not installed")


# ------------------------------------------------------------------------------------------ item 1: tiny images
def test_tiny_images_give_one_error_line_in_every_command(tmp_path, capsys):
    needs_dlib()
    for img in tiny_images(tmp_path):
        for argv in (["align", str(img), "-o", str(tmp_path / "out"), "--quiet"],
                     ["score", str(img)],
                     ["edit", str(img), "--smiling", "1", "-o", str(tmp_path / "e.png")],
                     ["invert", str(img), "-o", str(tmp_path / "i.npz"), "--quiet"],
                     ["parse", str(img), "-o", str(tmp_path / "m.png")]):
            assert main(argv) == 2, argv
            line = one_error_line(capsys)
            assert "too small for face detection" in line and "at least 32 px" in line, (argv, line)


def test_tiny_images_cannot_crash_the_process(tmp_path):
    """In a separate process (a native crash would kill it): exit 2 with the reason, no abort or signal."""
    needs_dlib()
    tiny_images(tmp_path / "in")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    r = subprocess.run([sys.executable, "-m", "faceedit", "align", str(tmp_path / "in"), "-o", str(tmp_path / "o"),
                        "--quiet"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.count("too small for face detection") == 3  # two skip lines and the final reason
    assert r.stderr.strip().splitlines()[-1].startswith("error: no face was aligned")


def test_detector_refuses_tiny_and_degenerate_inputs_before_dlib():
    from faceedit.align.detect import detect_faces

    for shape in ((1, 1, 3), (300, 2, 3), (31, 500, 3)):
        with pytest.raises(FaceEditError, match="too small for face detection"):
            detect_faces(np.zeros(shape, np.uint8))


# ------------------------------------------------------------------------------------------ item 2: caps
def test_every_number_option_of_every_command_is_bounded():
    """Walk the whole command tree: each whole-number option has a range, each float option refuses NaN/inf."""
    command = guard_options(typer.main.get_command(app))
    unbounded = []

    def walk(cmd, path):
        for p in cmd.params:
            types = p.type.types if isinstance(p.type, click.Tuple) else [p.type]
            for t in types:
                if isinstance(t, click.types.IntParamType) and not (isinstance(t, click.IntRange) and
                                                                     t.max is not None):
                    unbounded.append(f"{path} {p.opts}")
                if isinstance(t, click.types.FloatParamType):
                    unbounded.append(f"{path} {p.opts} (float without the finite check)")
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(command, "faceedit")
    assert not unbounded, unbounded


@pytest.mark.parametrize("argv, words", [
    (["mix", "1", "2", "--layers", "0-999999999", "-o", "OUT/m.png"], "out of range"),
    (["edit", "--seed", "1", "--smiling", "1", "--layers", "0-999999999", "-o", "OUT/e.png"], "out of range"),
    (["generate", "--seeds", "0-999999999", "-o", "OUT"], "too many values"),
    (["generate", "--seeds", "0-99999", "--grid", "OUT/g.png"], "over the cap"),
    (["mix", "--rows", "0-999999999", "--cols", "1", "-o", "OUT/m.png"], "too many"),
    (["edit", "0-999999999", "--smiling", "1", "-o", "OUT/e.png"], "at most 64"),
    (["animate", "--seed", "1", "--attr", "smiling,age,male", "--frames", "2000", "-o", "OUT/a.gif"], "frames"),
    (["morph", "1", "2", "--frames", "100000", "-o", "OUT/m.gif"], "1<=x<=2000"),
    (["channels", "edit", "1", "--channel", "0:0", "--alpha", ",".join(["1"] * 5000), "-o", "OUT/c.png"],
     "too many values"),
    (["transfer", "1", "--from", "2", "--to", "3", "--strength", "1e300", "-o", "OUT/t.png"], "at most 1000"),
    (["eval", "realism", "--n", "999999999", "--real", "OUT"], "1<=x<=2000000"),
    (["directions", "fit", "--samples", "2000000", "--space", "wplus", "--attr", "smiling"], "GiB"),
    (["train", "encoder", "--time-budget", "99999d", "--run-dir", "OUT/r"], "at most"),
    (["train", "encoder", "--time-budget", "1..2h", "--run-dir", "OUT/r"], "bad --time-budget"),
    (["generate", "--seeds", "0", "--batch", "100000", "-o", "OUT"], "1<=x<=4096"),
])
def test_user_sizes_are_refused_before_anything_is_built(tmp_path, capsys, argv, words):
    argv = [a.replace("OUT", str(tmp_path)) for a in argv]
    tracemalloc.start()
    try:
        rc = main(argv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    line = one_error_line(capsys)
    assert rc == 2 and words in line, (argv, line)
    assert peak < 64 * 2 ** 20, f"{argv[:2]} allocated {peak / 2 ** 20:.0f} MiB before refusing"


def test_ranges_are_checked_from_their_ends():
    """A range far beyond the cap is refused without being built (a 20-million range would take ~1 GiB)."""
    from faceedit.cli.options import parse_seeds
    from faceedit.edit.layers import parse_layers

    tracemalloc.start()
    try:
        for call in (lambda: parse_layers("0-20000000", 18), lambda: parse_layers("3,5-20000000", 18),
                     lambda: parse_seeds("0-20000000"), lambda: parse_seeds("1,2," * 60000)):
            with pytest.raises(FaceEditError):
                call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2 ** 20


# ------------------------------------------------------------------------------------------ item 4: NaN and inf
@pytest.mark.parametrize("value, words", [("nan", "finite"), ("inf", "finite"), ("-inf", "finite"),
                                          ("1e30", "at most 10")])
def test_bad_truncation_is_refused(tmp_path, capsys, value, words):
    assert main(["generate", "--seeds", "0", "--trunc", value, "-o", str(tmp_path / "g.png")]) == 2
    assert words in one_error_line(capsys)
    assert not (tmp_path / "g.png").exists()
    with pytest.raises(FaceEditError):
        random_model().generate(seeds=[0], truncation=float(value))


@pytest.mark.parametrize("fill, words", [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"),
                                         (1e30, "beyond ±1000")])
def test_bad_latent_files_are_refused(tmp_path, capsys, fill, words):
    ws = np.zeros((2, 10, 256), np.float32)
    ws[1, 3, 7] = fill
    np.savez(tmp_path / "bad.npz", ws=ws)
    np.save(tmp_path / "bad.npy", ws[1])
    for argv in (["mix", str(tmp_path / "bad.npz"), "1", "-o", str(tmp_path / "m.png")],
                 ["mix", str(tmp_path / "bad.npy"), "1", "-o", str(tmp_path / "m.png")],
                 ["edit", "--latent", str(tmp_path / "bad.npz"), "--smiling", "1", "-o", str(tmp_path / "e.png")],
                 ["morph", f"{tmp_path / 'bad.npz'}#1", "2", "-o", str(tmp_path / "m.gif")]):
        assert main(argv) == 2, argv
        line = one_error_line(capsys)
        assert words in line and "bad.np" in line, line
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.gif"))


def test_a_generator_with_nan_weights_is_refused(tmp_path, capsys):
    from faceedit.io.native import save_native

    m = random_model()
    with torch.no_grad():
        m.G.synthesis.b8.conv1.weight[0, 0, 0, 0] = float("nan")
    save_native(tmp_path / "nan.safetensors", m.G, dtype=torch.float32)
    assert main(["generate", "--model", str(tmp_path / "nan.safetensors"), "--seeds", "0", "-o",
                 str(tmp_path / "g.png")]) == 2
    assert "NaN" in one_error_line(capsys) and not (tmp_path / "g.png").exists()
    # built in Python without the load check: the output check stops the black image
    with pytest.raises(FaceEditError, match="NaN or infinite pixels"):
        m.generate(seeds=[0])
    m.G.synthesis.b8.conv1.weight.data.fill_(float("inf"))
    with pytest.raises(FaceEditError, match="NaN or infinite pixels"):
        m.synthesize(m.map(m.z_from_seeds([1])))


# ------------------------------------------------------------------------------------------ item 5: batches
def _bad_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    info = PngImagePlugin.PngInfo()
    info.add_text("junk", "A" * (50 * 2 ** 20), zip=True)  # 50 MB of text, ~50 KB on disk
    Image.new("RGB", (64, 64), (90, 80, 70)).save(folder / "text_chunk.png", pnginfo=info)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    return sorted(folder.iterdir())


def _skips(err: str) -> dict[str, str]:
    out = {}
    for line in err.splitlines():
        if line.startswith("skip: "):
            path, _, reason = line[6:].partition(": ")
            assert reason and "\n" not in reason
            out[Path(path).name] = reason
    return out


def test_align_skips_bad_files_and_goes_on(tmp_path, face_png, capsys):
    needs_dlib()
    src = tmp_path / "in"
    _bad_files(src)
    (src / "face.png").write_bytes(face_png.read_bytes())
    assert main(["align", str(src), "-o", str(tmp_path / "out"), "--size", "64", "--quiet"]) == 0
    cap = capsys.readouterr()
    skips = _skips(cap.err)
    assert set(skips) == {"dot.png", "text_chunk.png", "broken.jpg"}, cap.err
    assert "too small" in skips["dot.png"] and "text chunk" in skips["text_chunk.png"]
    assert "aligned 1 of 4" in cap.out and (tmp_path / "out" / "face.png").is_file()
    # nothing usable: the last line gives the real reason
    (src / "face.png").unlink()
    assert main(["align", str(src), "-o", str(tmp_path / "out2"), "--quiet"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: no face was aligned: all 3 files were skipped (first: broken.jpg: not an image")


def test_score_and_invert_skip_bad_files(tmp_path, face_png, default_model, capsys):
    _bad_files(tmp_path / "in")
    small = tmp_path / "in" / "aligned.png"
    Image.fromarray(default_model.generate(seeds=[4]).images[0]).save(small)
    bad = [tmp_path / "in" / n for n in ("dot.png", "text_chunk.png", "broken.jpg")]
    assert main(["score", "--aligned", "--json", *map(str, bad[1:]), str(small)]) == 0
    cap = capsys.readouterr()
    assert set(_skips(cap.err)) == {"text_chunk.png", "broken.jpg"} and '"aligned.png"' not in cap.out
    assert cap.out.count('"image"') == 1
    out = tmp_path / "lat.npz"
    assert main(["invert", "--aligned", "--method", "encoder", "--quiet", *map(str, bad), str(small), "-o",
                 str(out)]) == 0
    assert set(_skips(capsys.readouterr().err)) == {"dot.png", "text_chunk.png", "broken.jpg"}
    assert np.load(out)["ws"].shape[0] == 1
    assert main(["invert", "--aligned", "--method", "encoder", "--quiet", *map(str, bad), "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: no photo was inverted: all 3")


# ------------------------------------------------------------------------------------------ item 7: leftovers
def test_leftover_temp_files_do_not_break_training_data_or_folder_scans(tmp_path, capsys):
    from faceedit.align.image import is_image_name
    from faceedit.data.images import list_images, load_images

    data = tmp_path / "data"
    data.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(data / f"seed{i:04d}.webp")
    (data / ".seed0004.webp.tmp.k2j3h4.webp").write_bytes(b"RIFF\x00\x00")  # a writer killed mid-file
    (data / ".checkpoint.pt.tmp.ab12cd.pt").write_bytes(b"PK\x03\x04")
    assert [p.name for p in list_images(data)] == [f"seed{i:04d}.webp" for i in range(4)]
    assert load_images(data, 16).shape == (4, 3, 16, 16)
    assert not is_image_name(".seed0004.webp.tmp.k2j3h4.webp") and is_image_name("seed0004.webp")
    from faceedit.edit.directions import Direction, read_folder

    dirs = tmp_path / "dirs"
    Direction("smiling", "w", np.ones(8, np.float32) / 8 ** 0.5, scale=1.0).save(dirs)
    (dirs / ".age.npy.tmp.x1y2z3.npy").write_bytes(b"\x93NUMPY broken")  # a directions save killed midway
    assert read_folder(dirs).names == ["smiling"]
    rc = main(["train", "gan", "--data", str(data), "--res", "16", "--batch", "4", "--z-dim", "16", "--w-dim",
               "16", "--channel-base", "128", "--channel-max", "16", "--threads", "1", "--steps", "1",
               "--run-dir", str(tmp_path / "run"), "--no-progress", "--precision", "fp32"])
    assert rc == 0, capsys.readouterr().err


def test_fifos_never_hang(tmp_path, capsys):
    """Opening a FIFO blocks until a writer comes: every command refuses it instead (an alarm fails the test)."""
    for name in ("pipe.pkl", "pipe.npz", "pipe.png"):
        os.mkfifo(tmp_path / name)
    pkl, npz, png = (str(tmp_path / n) for n in ("pipe.pkl", "pipe.npz", "pipe.png"))
    cases = [["models", "info", pkl], ["generate", "--model", pkl, "--seeds", "0", "-o", str(tmp_path / "g")],
             ["mix", npz, "1", "-o", str(tmp_path / "m.png")], ["score", png, "--aligned"],
             ["invert", png, "--aligned", "-o", str(tmp_path / "l.npz")],
             ["edit", "--latent", npz, "--smiling", "1", "-o", str(tmp_path / "e.png")]]

    def hung(*_):
        raise TimeoutError("a command blocked on a FIFO")

    old = signal.signal(signal.SIGALRM, hung)
    try:
        for argv in cases:
            signal.alarm(60)
            assert main(argv) == 2, argv
            signal.alarm(0)
            assert "not a regular file" in one_error_line(capsys), argv
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
