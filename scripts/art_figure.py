"""The README figure of the art adaptation: the same seeds under the default generator G_A and each shipped
adapted G_B (top), then each G_B's own portrait inverted with G_A and edited with G_B (bottom: the painting
aligned, G_A's and G_B's reconstructions, G_B with a smile, G_B older).

    PYTHONPATH=src python scripts/art_figure.py -o docs/art_adaptation.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ART = Path("/work/shared/data/art_portraits")


def up(img: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((side, side), Image.LANCZOS))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--out", default="docs/art_adaptation.jpg")
    ap.add_argument("--seeds", default="0,2,4,5,6,9")
    ap.add_argument("--side", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--smile", type=float, default=3.0)
    ap.add_argument("--age", type=float, default=3.0)
    ap.add_argument("--art", default=str(ART))
    args = ap.parse_args()
    torch.set_num_threads(1)
    from faceedit.adapt.faces import drawn_by, reconstructions
    from faceedit.align import align_face
    from faceedit.adapt.source import SHIPPED_DIR, require_adapted, shipped_names, source_model
    from faceedit.edit.directions import load_directions
    from faceedit.face import resolve_face
    from faceedit.figure import labelled_grid
    from faceedit.media import save_image, to_uint8
    from faceedit.model import load

    adapted = [load(str(SHIPPED_DIR / f"{n}.safetensors")) for n in shipped_names()]
    G_A = source_model(adapted[0])
    seeds = [int(s) for s in args.seeds.split(",")]
    ws = G_A.map(G_A.z_from_seeds(seeds), 0.7)
    names = shipped_names()
    top = [[up(im, args.side) for im in to_uint8(m.synthesize(ws))] for m in [G_A, *adapted]]
    dirs = load_directions(G_A)
    bottom = []
    for G_B in adapted:
        target = Path(args.art) / require_adapted(G_B)["target"]["file"]
        face = resolve_face(str(target), G_A, method="hybrid", steps=args.steps)
        art = drawn_by(face, G_B)
        row = [align_face(str(target), size=args.side).image]  # the painting, aligned at the figure's size
        row += reconstructions(face, G_B, G_A)
        row.append(art.render(dirs.apply(art.ws, {"smiling": args.smile}), paste=None)[0])
        row.append(art.render(dirs.apply(art.ws, {"age": args.age}), paste=None)[0])
        bottom.append([up(im, args.side) for im in row])
    upper = labelled_grid(top, rows=["default (G_A)", *names], cols=[f"seed {s}" for s in seeds],
                          title="the same latent codes (truncation 0.7) drawn by the default and by each adapted generator",
                          min_cell=args.side)
    lower = labelled_grid(bottom, rows=names, cols=["painting", "G_A", "G_B", f"smile {args.smile:+g}",
                                                    f"age {args.age:+g}"],
                          title="each painting inverted with G_A, drawn and edited with its G_B", min_cell=args.side)
    width = max(upper.shape[1], lower.shape[1])
    pad = lambda im: np.pad(im, ((0, 0), (0, width - im.shape[1]), (0, 0)), constant_values=255)  # noqa: E731
    save_image(args.out, np.concatenate([pad(upper), np.full((12, width, 3), 255, np.uint8), pad(lower)]))
    print(f"wrote {args.out}: rows G_A, {', '.join(names)}; then per portrait: painting, G_A, G_B, "
          f"smile {args.smile:+g}, age {args.age:+g}")


if __name__ == "__main__":
    main()
