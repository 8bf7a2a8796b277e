"""The README's style transfer figure: photos (rows) × shipped styles, fast networks then Gatys (columns).

    PYTHONPATH=src .venv/bin/python scripts/stylize_figure.py --photos A.jpg B.jpg -o docs/stylize_grid.jpg

Each photo is centre-cropped square and resized to ``--size`` px; the Gatys columns optimise at the same size with
the default settings (``--steps`` evaluations); a label strip names each column.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from faceedit.align.image import load_image
from faceedit.features import load_vgg
from faceedit.media import save_image
from faceedit.stylize import list_styles, load_style, stylize_fast, stylize_image
from faceedit.stylize.gatys import GatysConfig
from faceedit.stylize.training import square_crop

PAINTINGS = Path("../shared/data/style_paintings")


def label(text: str, width: int, height: int = 18) -> np.ndarray:
    im = Image.new("RGB", (width, height), (255, 255, 255))
    ImageDraw.Draw(im).text((4, 3), text, fill=(0, 0, 0))
    return np.asarray(im)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", nargs="+", required=True)
    ap.add_argument("-o", "--output", default="docs/stylize_grid.jpg")
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quality", type=int, default=82)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    styles = list_styles()
    vgg = load_vgg()
    s = args.size
    heads = [label("photo", s)] + [label(f"fast: {st['name']}", s) for st in styles] + \
        [label(f"gatys: {st['name']}", s) for st in styles]
    rows = [np.concatenate(heads, 1)]
    for p in args.photos:
        img = square_crop(load_image(p), s)
        cells = [img] + [stylize_fast(img, load_style(st["name"]), size=s) for st in styles]
        for st in styles:
            painting = load_image(PAINTINGS / st["style_file"])
            cells.append(stylize_image(img, painting, "gatys", size=s, gatys=GatysConfig(steps=args.steps), vgg=vgg))
            print(f"{Path(p).name} × {st['name']}: gatys done", flush=True)
        rows.append(np.concatenate(cells, 1))
    save_image(args.output, np.concatenate(rows, 0), quality=args.quality)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
