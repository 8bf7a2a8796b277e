"""Progress of long commands: stage names on stderr when it is a terminal, nothing in a pipe or with --quiet."""

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios

import numpy as np
from PIL import Image

from faceedit.cli.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stages_and_steps_only_on_a_terminal():
    tty = FakeTerminal()
    p = Progress(stream=tty)
    p.stage("aligning")
    for i in range(1, 4):
        p.step("inverting", i, 3)
    p.stage("rendering")
    text = tty.getvalue()
    assert "aligning …\n" in text and "inverting: 3/3\n" in text and text.rstrip().endswith("rendering …")
    assert text.index("aligning") < text.index("inverting: 3/3") < text.index("rendering")
    pipe = io.StringIO()
    q = Progress(stream=pipe)
    q.stage("aligning")
    q.step("inverting", 3, 3)
    assert pipe.getvalue() == ""
    quiet = FakeTerminal()
    Progress(quiet=True, stream=quiet).stage("aligning")
    assert quiet.getvalue() == ""


def _run(args, cwd, terminal: bool) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal (``terminal``) or a pipe; returns (status, stderr)."""
    env = dict(os.environ, FACEEDIT_THREADS="1")
    env.pop("TQDM_DISABLE", None)  # an in-process CLI call of an earlier test may have set it for this process
    cmd = [sys.executable, "-m", "faceedit", *args]
    if not terminal:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
        return r.returncode, r.stderr
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 0 columns: tqdm draws nothing
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=child, env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def test_photo_edit_shows_its_stages_on_a_terminal_only(tmp_path):
    from faceedit import api
    from faceedit.media import save_image

    model = api.load("default")
    save_image(tmp_path / "face.png", model.generate(seeds=[5]).images[0])
    args = ["edit", "face.png", "--aligned", "--steps", "3", "--smiling", "1", "-o", "out.png"]
    rc, err = _run(args, tmp_path, terminal=True)
    assert rc == 0, err
    for stage in ("inverting face.png (", "inverting steps: 3/3", "rendering"):
        assert stage in err, err
    assert err.index("inverting face.png") < err.index("rendering")
    rc, err = _run(args, tmp_path, terminal=False)
    assert rc == 0 and "inverting" not in err and "rendering" not in err, err
    rc, err = _run(args + ["--quiet"], tmp_path, terminal=True)
    assert rc == 0 and "inverting" not in err, err
    rc, err = _run(["--quiet", *args], tmp_path, terminal=True)
    assert rc == 0 and "inverting" not in err, err
    assert np.asarray(Image.open(tmp_path / "out.png")).shape[2] == 3


def test_animate_and_invert_show_stages(tmp_path):
    rc, err = _run(["animate", "--seed", "1", "--attr", "smiling", "--frames", "4", "-o", "a.gif"], tmp_path, True)
    assert rc == 0 and "rendering frames: 4/4" in err and "writing a.gif" in err, err
    from faceedit import api
    from faceedit.media import save_image

    save_image(tmp_path / "p.png", api.load("default").generate(seeds=[2]).images[0])
    rc, err = _run(["invert", "p.png", "--aligned", "--steps", "2", "-o", "p.npz"], tmp_path, True)
    assert rc == 0 and "reading 1 photo(s)" in err and "inverting p.png (" in err and "writing p.npz" in err, err


def test_tqdm_bars_only_on_a_terminal(tmp_path):
    args = ["generate", "--seeds", "0-31", "-o", "out"]
    rc, err = _run(args, tmp_path, terminal=False)
    assert rc == 0 and "%|" not in err, err
    rc, err = _run(args, tmp_path, terminal=True)
    assert rc == 0 and "generating" in err and "%|" in err, err
    rc, err = _run(["--quiet", *args], tmp_path, terminal=True)
    assert rc == 0 and "%|" not in err, err
