"""faceedit generate, the Python API's generate/synthesize, latent files and media writers."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import faceedit
from faceedit import api
from faceedit.cli import main
from faceedit.cli.options import parse_seeds
from faceedit.errors import FaceEditError
from faceedit.latents import load_latents
from faceedit.media import make_grid, save_animation, save_image

from _edit_helpers import random_model


@pytest.fixture(scope="module")
def model():
    return random_model()


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("1,4,7-9") == [1, 4, 7, 8, 9]
    for bad in ["", "a", "5-a", "9-2", "-3", "4294967296"]:
        with pytest.raises(FaceEditError):
            parse_seeds(bad)


def test_seeds_are_deterministic_and_match_numpy(model):
    z = model.z_from_seeds([3, 3, 4])
    assert torch.equal(z[0], z[1]) and not torch.equal(z[0], z[2])
    ref = np.random.RandomState(4).randn(model.z_dim)
    assert np.allclose(z[2].numpy(), ref, atol=1e-6)


def test_generate_shapes_truncation_and_noise(model):
    a = model.generate(seeds=[1, 2], truncation=0.7)
    b = model.generate(seeds=[1, 2], truncation=0.7)
    assert a.images.shape == (2, 64, 64, 3) and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images)  # const noise → deterministic
    assert a.ws.shape == (2, model.num_ws, model.w_dim)
    zero = model.generate(seeds=[1, 2], truncation=0.0)
    assert torch.allclose(zero.ws[0], model.G.mapping.w_avg.expand_as(zero.ws[0]))
    # w+ in gives the same picture as seeds in
    again = model.generate(ws=a.ws, truncation=1.0)
    assert np.array_equal(again.images, a.images)
    # batching does not change results
    batched = model.synthesize(a.ws, batch_size=1)
    assert torch.allclose(batched, model.synthesize(a.ws, batch_size=8), atol=1e-5)


def test_styles_path_matches_ws_path(model):
    ws = model.generate(seeds=[5]).ws
    styles = model.to_styles(ws)
    assert len(styles) == len(model.style_layers)
    assert torch.allclose(model.synthesize(styles=styles), model.synthesize(ws), atol=1e-5)


def test_wrong_latent_shape_is_a_clear_error(model):
    with pytest.raises(FaceEditError, match="latent has shape"):
        model.as_ws(torch.zeros(1, 3, 7))
    with pytest.raises(FaceEditError, match="z must have shape"):
        model.map(torch.zeros(2, model.z_dim + 1))
    with pytest.raises(FaceEditError, match="exactly one"):
        model.generate(seeds=[1], ws=torch.zeros(1, model.w_dim))


def test_public_api_load_default():
    m = faceedit.load()
    assert m.generate(seeds=[0]).images.shape[1:] == (m.resolution, m.resolution, 3)


def test_cli_generate_folder_grid_and_latents(tmp_path, capsys):
    rc = main(["generate", "--seeds", "0-5", "--trunc", "0.5", "-o", str(tmp_path / "faces"),
               "--grid", str(tmp_path / "grid.png"), "--cols", "3", "--save-latents", str(tmp_path / "w.npz")])
    assert rc == 0
    files = sorted(p.name for p in (tmp_path / "faces").iterdir())
    assert files == [f"seed{s:04d}.png" for s in range(6)]
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    one = np.asarray(Image.open(tmp_path / "faces" / "seed0004.png"))
    h = one.shape[0]
    assert grid.shape == (2 * h, 3 * h, 3)
    assert np.array_equal(grid[h:, h:2 * h], one)  # seed 4 sits at row 1, column 1
    ws, meta = load_latents(tmp_path / "w.npz")
    assert ws.shape[0] == 6 and meta["num_ws"] == ws.shape[1]
    # regenerating from the saved latents gives the same image
    m = api.load()
    img = m.generate(ws=torch.from_numpy(ws[4:5]), truncation=1.0).images[0]
    assert np.abs(img.astype(int) - one).max() <= 1  # float rounding across batch sizes


@pytest.mark.parametrize("args, message", [
    (["generate", "--seeds", "x"], "bad seed list"),
    (["generate", "--noise", "loud", "-o", "OUT"], "noise mode"),
    (["generate", "--seeds", "0-1", "-o", "OUT/one.png"], "is a file name"),
    (["generate", "--nope"], "No such option"),
    (["generate", "--model", "no/such/file.pkl", "-o", "OUT"], "no/such/file.pkl"),
])
def test_cli_bad_input_one_line_nonzero(tmp_path, capsys, args, message):
    args = [a.replace("OUT", str(tmp_path / "o")) for a in args]
    rc = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert err and err[-1].startswith("error: ") and message in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_media_writers_are_atomic_and_valid(tmp_path):
    frames = [np.full((8, 8, 3), i * 20, np.uint8) for i in range(5)]
    save_animation(tmp_path / "a.gif", frames, fps=10)
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 5
    save_image(tmp_path / "g.jpg", make_grid(np.stack(frames), cols=5, pad=2))
    assert Image.open(tmp_path / "g.jpg").size == (5 * 8 + 4 * 2, 8)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    with pytest.raises(FaceEditError):
        save_image(tmp_path / "x.bmpx", frames[0])


def test_write_json_is_atomic_and_keeps_the_old_file_on_failure(tmp_path):
    from faceedit.atomic import write_json

    target = tmp_path / "figures.json"
    write_json(target, {"recall": 0.5, "rows": [1, 2]})
    assert json.loads(target.read_text()) == {"recall": 0.5, "rows": [1, 2]} and target.read_text().endswith("\n")
    with pytest.raises(TypeError):  # not JSON: nothing is written, the old file stays whole
        write_json(target, {"bad": object()})
    assert json.loads(target.read_text())["recall"] == 0.5
    assert not [p for p in tmp_path.iterdir() if p.name != "figures.json"]
