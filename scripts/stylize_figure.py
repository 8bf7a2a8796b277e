"""The README's style transfer figure: photos (rows) × styles, fast networks then Gatys (columns).

    PYTHONPATH=src .venv/bin/python scripts/stylize_figure.py --photos A.jpg B.jpg -o docs/stylize_grid.jpg

Each photo is centre-cropped square and resized to ``--size`` px; the fast columns use the shipped networks, the
Gatys columns optimise at the same size with the default settings (``--steps`` evaluations) against the painting
each network was trained on. ``--gatys-cache DIR`` keeps each Gatys cell as a PNG (reused when present), and
``--gatys-only --paintings NAME=FILE …`` fills that cache before any network exists. A label strip names each
column.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from faceedit.align.image import load_image
from faceedit.media import save_image
from faceedit.stylize import list_styles, load_style, stylize_fast, stylize_image
from faceedit.stylize.gatys import GatysConfig
from faceedit.stylize.training import square_crop

PAINTINGS = Path("../shared/data/style_paintings")


def label(text: str, width: int, height: int = 18) -> np.ndarray:
    """A white strip ``height`` × ``width`` px with ``text`` in black (uint8 RGB)."""
    im = Image.new("RGB", (width, height), (255, 255, 255))
    ImageDraw.Draw(im).text((4, 3), text, fill=(0, 0, 0))
    return np.asarray(im)


def gatys_cell(img: np.ndarray, photo: str, name: str, painting: Path, args, vgg_box: list) -> np.ndarray:
    """The Gatys result for one photo × painting (from the cache when there)."""
    cached = Path(args.gatys_cache) / f"{Path(photo).stem}-{name}-{args.size}-{args.steps}.png" \
        if args.gatys_cache else None
    if cached is not None and cached.is_file():
        return np.asarray(Image.open(cached).convert("RGB"))
    if not vgg_box:
        from faceedit.features import load_vgg

        vgg_box.append(load_vgg())
    out = stylize_image(img, load_image(painting), "gatys", size=args.size, gatys=GatysConfig(steps=args.steps),
                        vgg=vgg_box[0])
    print(f"{Path(photo).name} × {name}: gatys done", flush=True)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        save_image(cached, out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", nargs="+", required=True)
    ap.add_argument("-o", "--output", default="docs/stylize_grid.jpg")
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quality", type=int, default=82)
    ap.add_argument("--paintings", nargs="*", default=[], help="NAME=FILE pairs (default: the shipped networks' "
                                                                "paintings in ../shared/data/style_paintings).")
    ap.add_argument("--gatys-cache", help="Folder for the Gatys cells.")
    ap.add_argument("--gatys-only", action="store_true", help="Only compute the Gatys cells (into --gatys-cache).")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.paintings:
        pairs = [p.split("=", 1) for p in args.paintings]
        styles = [(n, Path(f)) for n, f in pairs]
    else:
        styles = [(st["name"], PAINTINGS / st["style_file"]) for st in list_styles()]
    s = args.size
    vgg_box: list = []
    rows = []
    for p in args.photos:
        img = square_crop(load_image(p), s)
        gatys = [gatys_cell(img, p, name, painting, args, vgg_box) for name, painting in styles]
        if not args.gatys_only:
            fast = [stylize_fast(img, load_style(name), size=s) for name, _ in styles]
            rows.append(np.concatenate([img] + fast + gatys, 1))
    if args.gatys_only:
        return
    heads = [label("photo", s)] + [label(f"fast: {n}", s) for n, _ in styles] + \
        [label(f"gatys: {n}", s) for n, _ in styles]
    save_image(args.output, np.concatenate([np.concatenate(heads, 1)] + rows, 0), quality=args.quality)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
