"""Issue 19, item 6: ``faceedit generate`` writes each batch as it is drawn — images held at once do not grow with
the seed count, files appear while the command runs, a kill keeps every image written, and the streamed latents
file equals the API's latents."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit import api, media
from faceedit.cli import main
from faceedit.latents import LatentWriter, load_latents

sys.path.insert(0, str(Path(__file__).parent))
from _image_helpers import assert_same_drawing  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one thread beats two that wait on 2 cores


def test_images_held_do_not_grow_with_the_seed_count(tmp_path, monkeypatch):
    drawn: list[weakref.ref] = []
    writes: list[tuple[int, int, int]] = []  # (images alive, synthesis calls so far, files on disk) per write
    out = tmp_path / "faces"
    real_synthesize, real_save = api.Model.synthesize, media.save_image

    def synthesize(self, *args, **kwargs):
        images = real_synthesize(self, *args, **kwargs)
        drawn.append(weakref.ref(images))
        return images

    def save_image(path, image, *args, **kwargs):
        alive = sum(r().shape[0] for r in drawn if r() is not None)
        writes.append((alive, len(drawn), len(list(out.glob("seed*.png")))))
        return real_save(path, image, *args, **kwargs)

    monkeypatch.setattr(api.Model, "synthesize", synthesize)
    monkeypatch.setattr(media, "save_image", save_image)
    assert main(["generate", "--seeds", "0-47", "--batch", "4", "-o", str(out), "--grid", str(tmp_path / "g.png"),
                 "--save-latents", str(tmp_path / "l.npz")]) == 0
    assert len(drawn) == 12 and len(writes) == 49  # 48 faces and the grid
    assert max(alive for alive, _, _ in writes[:-1]) <= 4, writes  # never more than one batch of images
    assert writes[0][1] == 1  # the first file is written after the first batch, not after all of them
    assert [files for _, _, files in writes[:-1]] == list(range(48))  # files appear one by one while it runs
    lat, meta = load_latents(tmp_path / "l.npz")
    m = api.load("default")
    ref = m.generate(seeds=range(48))
    assert lat.shape == (48, m.num_ws, m.w_dim) and np.allclose(lat, ref.ws.numpy(), atol=1e-4)
    assert list(np.load(tmp_path / "l.npz")["seeds"]) == list(range(48)) and meta["model_sha256"] == m.sha256
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    r = m.resolution
    assert grid.shape == (7 * r, 7 * r, 3)
    assert_same_drawing(grid[r:2 * r, 2 * r:3 * r], ref.images[9])  # seed 9: row 1, column 2


def test_a_kill_keeps_what_was_written(tmp_path):
    out, lat = tmp_path / "faces", tmp_path / "faces.npz"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "faceedit", "generate", "--seeds", "0-5000", "--batch", "2",
                             "-o", str(out), "--save-latents", str(lat)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("seed*.png"))) < 6 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    files = sorted(out.glob("seed*.png"))
    assert len(files) >= 6, "no images appeared before the kill"
    for f in files:  # every visible file is a whole image
        with Image.open(f) as im:
            im.load()
    assert not lat.exists()  # the latents file appears only whole; its hidden temporary is ignored by scans
    assert all(p.name.startswith(".") for p in tmp_path.iterdir() if p.is_file())


def test_latent_writer_refuses_a_short_or_wrong_file(tmp_path):
    from faceedit.errors import FaceEditError

    with pytest.raises(FaceEditError, match="2 of 3"):
        with LatentWriter(tmp_path / "a.npz", 3, 2, 4) as w:
            w.write(torch.zeros(2, 2, 4))
    with pytest.raises(FaceEditError, match="do not fit"):
        with LatentWriter(tmp_path / "b.npz", 3, 2, 4) as w:
            w.write(np.zeros((1, 3, 4), np.float32))
    assert not list(tmp_path.iterdir())  # neither file, nor a temporary
