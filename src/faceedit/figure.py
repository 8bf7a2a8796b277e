"""Pictures people look at rather than read: images scaled up to a readable size (whole-number factors, nearest
neighbour, so pixels stay honest) and grids with their rows and columns labelled in a real font.

    grid = labelled_grid([[a0, a1, a2], [b0, b1, b2]], rows=["seed 3", "seed 4"], cols=["-3", "0", "+3"],
                         title="smiling", col_title="amount")
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: Cells are scaled up (by a whole factor) until their shorter side is at least this many pixels.
MIN_CELL = 128
PAD = 4
WHITE = (255, 255, 255)
INK = (29, 35, 42)


def upscale(img: np.ndarray, min_side: int = MIN_CELL) -> np.ndarray:
    """``img`` (uint8 H×W×3) repeated by the smallest whole factor that makes its shorter side ≥ ``min_side``."""
    k = max(1, -(-int(min_side) // max(1, min(img.shape[:2]))))
    return img if k == 1 else np.repeat(np.repeat(img, k, axis=0), k, axis=1)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # a scalable font (Pillow ≥ 10.1 with FreeType)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _text_size(font, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text or " ")
    return right - left, bottom - top


def labelled_grid(cells: Sequence[Sequence[np.ndarray]], rows: Sequence[str] | None = None,
                  cols: Sequence[str] | None = None, title: str | None = None, col_title: str | None = None,
                  min_cell: int = MIN_CELL, font_size: int = 15) -> np.ndarray:
    """``cells[r][c]`` (uint8 H×W×3; smaller ones are padded with white) as one uint8 image on white: cells
    scaled up by one whole factor until the smallest reaches ``min_cell``,
    ``cols`` written above the columns (under ``col_title``, e.g. the amount), ``rows`` left of the rows,
    ``title`` on top."""
    from PIL import Image, ImageDraw

    smallest = min(min(np.shape(c)[:2]) for row in cells for c in row)
    k = max(1, -(-int(min_cell) // max(1, smallest)))  # one factor for all: cells keep their relative sizes
    grid = [[upscale(np.asarray(c, dtype=np.uint8), k * min(np.shape(c)[:2])) for c in row] for row in cells]
    n_rows, n_cols = len(grid), max(len(r) for r in grid)
    h, w = max(c.shape[0] for r in grid for c in r), max(c.shape[1] for r in grid for c in r)
    font, small = _font(font_size), _font(max(10, font_size - 2))
    line = _text_size(font, "Ag")[1] + 6
    left = (max(_text_size(font, t)[0] for t in rows) + 3 * PAD) if rows else 0
    top = (line if title else 0) + (line if col_title else 0) + (line if cols else 0)
    width, height = left + n_cols * (w + PAD) + PAD, top + n_rows * (h + PAD) + PAD
    canvas = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(canvas)
    y = 2
    if title:
        draw.text((left + PAD, y), title, fill=INK, font=font)
        y += line
    if col_title:
        draw.text((left + PAD, y), col_title, fill=(95, 105, 115), font=small)
        y += line
    if cols:
        for c, text in enumerate(cols):
            tw = _text_size(font, text)[0]
            draw.text((left + PAD + c * (w + PAD) + (w - tw) // 2, y), text, fill=INK, font=font)
    for r, row in enumerate(grid):
        y0 = top + PAD + r * (h + PAD)
        if rows:
            th = _text_size(font, rows[r])[1]
            draw.text((PAD, y0 + (h - th) // 2), rows[r], fill=INK, font=font)
        for c, img in enumerate(row):
            canvas.paste(Image.fromarray(img), (left + PAD + c * (w + PAD), y0))
    return np.asarray(canvas)


def readable_pair(a: np.ndarray, b: np.ndarray, label_a: str, label_b: str, min_side: int = 256) -> np.ndarray:
    """Two images side by side at a readable size (shorter side ≥ ``min_side``) with a label over each."""
    return labelled_grid([[a, b]], cols=[label_a, label_b], min_cell=min_side)
