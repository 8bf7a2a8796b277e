"""Labelled figures (faceedit.figure) and the commands that write them: edit grids, mixing grids."""

import numpy as np
from PIL import Image

from faceedit.figure import labelled_grid, readable_pair, upscale


def _cells(rows, cols, size=16):
    rng = np.random.default_rng(0)
    return [[rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(cols)] for _ in range(rows)]


def _find(big: np.ndarray, small: np.ndarray, tol: int = 0) -> tuple[int, int] | None:
    """Top-left corner of ``small`` inside ``big`` (every pixel within ``tol`` levels), or None."""
    h, w = small.shape[:2]
    big_i, small_i = big.astype(np.int16), small.astype(np.int16)
    span = big_i[: big.shape[0] - h + 1, : big.shape[1] - w + 1]
    hit = np.ones(span.shape[:2], bool)
    for y, x in ((0, 0), (h // 2, w // 2), (h - 1, w - 1), (h // 3, 2 * w // 3)):  # quick filter first
        probe = big_i[y: y + span.shape[0], x: x + span.shape[1]]
        hit &= (np.abs(probe - small_i[y, x]) <= tol).all(-1)
    for y, x in zip(*np.nonzero(hit)):
        if np.abs(big_i[y:y + h, x:x + w] - small_i).max() <= tol:
            return int(y), int(x)
    return None


def test_upscale_is_a_whole_factor_of_nearest_neighbours():
    img = _cells(1, 1, 10)[0][0]
    big = upscale(img, 64)
    assert big.shape == (70, 70, 3) and np.array_equal(big[::7, ::7], img)
    assert upscale(img, 8) is img


def test_grid_places_every_cell_in_order_with_labels_left_and_above():
    cells = _cells(2, 3)
    plain = labelled_grid(cells, min_cell=64)
    out = labelled_grid(cells, rows=["seed 1: smiling", "seed 2: age"], cols=["-3", "0", "+3"],
                        title="a title", col_title="amount", min_cell=64)
    where = [[_find(out, upscale(c, 64)) for c in row] for row in cells]
    assert all(w is not None for row in where for w in row)
    assert [w[1] for w in where[0]] == sorted(w[1] for w in where[0]) and where[0][0][0] < where[1][0][0]
    assert where[0][0][1] > 30 and where[0][0][0] > 30  # room for the row labels and the headers
    assert out.shape[0] > plain.shape[0] and out.shape[1] > plain.shape[1]
    left, top = out[:, : where[0][0][1] - 2], out[: where[0][0][0] - 2]
    assert (left < 128).any() and (top < 128).any()  # dark text in both margins
    # cells of different sizes are padded, one scale factor for all
    mixed = labelled_grid([[cells[0][0], np.zeros((24, 16, 3), np.uint8)]], min_cell=32)
    assert _find(mixed, upscale(np.zeros((24, 16, 3), np.uint8), 32)) is not None


def test_readable_pair_is_at_least_256_px():
    a, b = _cells(1, 2, 64)[0]
    pair = readable_pair(a, b, "photo", "reconstruction")
    assert _find(pair, upscale(a, 256)) is not None and _find(pair, upscale(b, 256)) is not None


def test_edit_grid_and_mixing_grid_are_labelled(tmp_path):
    from faceedit import api
    from faceedit.cli import main

    out = tmp_path / "grid.png"
    assert main(["edit", "0-1", "--smiling", "3", "--grid", "--columns", "3", "-o", str(out)]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    model = api.load("default")
    face1 = model.generate(seeds=[1]).images[0]
    at = _find(img, upscale(face1, 128), tol=2)  # rendered in a batch of 3: ±1 level
    assert at is not None, "the middle column (amount 0) of seed 1 is the unedited face"
    assert at[1] > 60  # row labels on the left
    assert img.shape[0] > 2 * 128 and img.shape[1] > 3 * 128
    out = tmp_path / "mix.png"
    assert main(["mix", "--rows", "0-1", "--cols", "2-3", "--layers", "coarse", "-o", str(out)]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    at = _find(img, upscale(model.generate(seeds=[2]).images[0], 128), tol=2)
    assert at is not None and at[0] > 20  # the column face, under its label


def test_directions_heat_map_has_colour_bars_and_names():
    from faceedit.edit.direction_report import DirectionReport, report_figure

    names = ["smiling", "age", "male"]
    cos = np.array([[1.0, 0.2, -0.9], [0.2, 1.0, 0.1], [-0.9, 0.1, 1.0]])
    effect = np.array([[0.5, 0.0, -0.1], [0.1, 0.4, 0.0], [0.0, 0.0, 0.6]])
    img = report_figure(DirectionReport(names, cos, effect, rows=[], corr_generated=cos))
    assert img.ndim == 3 and img.shape[2] == 3 and img.shape[0] > 400 and img.shape[1] > 800

    def has(colour, tol=12):
        return bool((np.abs(img.astype(int) - colour).max(-1) <= tol).any())

    # both ends of the diverging map (matplotlib's RdBu_r) appear: cells at ±1 and the colour bars' ends
    assert has((103, 0, 31)) and has((5, 48, 97))
    assert (img < 60).all(-1).sum() > 500  # dark text: titles, names, ticks
