"""`faceedit train plot RUN`: progress plots read from a real (tiny) training run's folder."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from faceedit.cli import main
from faceedit.train.gan import TrainConfig, train
from faceedit.train.plot import _series, panel_titles, progress_figure, read_jsonl

TINY = dict(resolution=16, batch=8, z_dim=32, w_dim=32, channel_base=256, channel_max=32, mapping_layers=2,
            threads=1, progress=False, log_seconds=0.0)


def _tiny_run(tmp_path, steps=4):
    g = torch.Generator().manual_seed(1)
    imgs = torch.nn.functional.interpolate(torch.rand(32, 3, 4, 4, generator=g), size=(16, 16), mode="bilinear")
    data = tmp_path / "tiny.npy"
    np.save(data, (imgs * 255).round().to(torch.uint8).numpy())
    run = tmp_path / "run"
    train(TrainConfig(data=str(data), run_dir=str(run), max_steps=steps, **TINY), log=lambda *a: None)
    return run


def test_plot_of_a_real_run_with_and_without_realism(tmp_path, capsys):
    run = _tiny_run(tmp_path)
    records = [r for r in read_jsonl(run / "log.jsonl") if r.get("event") == "progress"]
    x, y = _series(records, "loss_G")
    assert len(x) >= 2 and np.all(np.diff(x) >= 0) and np.isfinite(y).all()
    assert "realism" not in panel_titles(run)
    assert main(["train", "plot", str(run)]) == 0
    first = np.asarray(Image.open(run / "progress.png").convert("RGB"))
    assert f"wrote {run / 'progress.png'}" in capsys.readouterr().err
    assert first.shape[0] > 300 and first.shape[1] > 1000
    assert (first < 80).all(-1).sum() > 500  # axes, labels, titles
    # realism milestones (as `eval realism --model RUN` appends them) add a panel: the picture grows
    with open(run / "realism.jsonl", "w") as f:
        for kimg, fd in ((0.01, 9.0), (0.02, 7.5), (0.03, 6.0)):
            f.write(json.dumps({"kimg": kimg, "fd": fd, "kid": fd / 100, "precision": 0.1 * fd}) + "\n")
        f.write("{broken line\n")
    titles = panel_titles(run)
    assert titles[0] == "losses" and titles[-1] == "realism" and "speed" in titles
    second = progress_figure(run)
    assert not np.array_equal(second, first)
    assert main(["train", "plot", str(run), "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").is_file()


def test_plot_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "plot", str(tmp_path / "nothing")]) != 0
    assert "run folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", "plot", str(tmp_path / "empty")]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no training progress" in err and err.count("\n") == 1
    run = tmp_path / "run2"
    run.mkdir()
    (run / "log.jsonl").write_text('{"event": "progress", "kimg": 0.1, "loss_G": 1.0}\n')
    assert main(["train", "plot", str(run), "-o", str(tmp_path / "x.jpg")]) != 0
    assert ".png" in capsys.readouterr().err
