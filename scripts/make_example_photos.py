"""Make the web page's example photos (src/faceedit/web/static/examples/*.jpg).

    PYTHONPATH=src .venv/bin/python scripts/make_example_photos.py [--seeds 3,21,42] [-o DIR]

Each is a face of the embedded default generator, upscaled, tilted a little and pasted with a soft oval mask into
a synthetic background (a colour gradient with blurred discs), 320×256 px JPEG. They are the project's own
output, so the page can ship them with no licence question (the CelebA/CelebAMask-HQ photos in ../shared/data are
research-only and stay out of the repository), and they exercise the whole photo path: face detection,
alignment, inversion and pasting back. The script checks that a face is found in each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, FACE = 320, 256, 176


def example_photo(face: np.ndarray, seed: int) -> np.ndarray:
    """``face`` (uint8 S×S×3) in a synthetic HEIGHT×WIDTH scene drawn from ``seed`` (uint8 HEIGHT×WIDTH×3)."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    top, bottom = rng.integers(60, 220, 3), rng.integers(30, 200, 3)
    t = np.linspace(0.0, 1.0, HEIGHT)[:, None, None]
    scene = Image.fromarray(((top * (1 - t) + bottom * t) * np.ones((HEIGHT, WIDTH, 3))).astype(np.uint8))
    draw = ImageDraw.Draw(scene)
    for _ in range(6):
        x, y, r = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)), int(rng.integers(20, 70))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(40, 240, 3)))
    scene = scene.filter(ImageFilter.GaussianBlur(6))
    big = Image.fromarray(face).resize((FACE, FACE), Image.LANCZOS)
    big = big.rotate(float(rng.uniform(-8, 8)), resample=Image.BICUBIC, fillcolor=(128, 128, 128))
    mask = Image.new("L", (FACE, FACE), 0)
    ImageDraw.Draw(mask).ellipse([10, 4, FACE - 10, FACE], fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(8))
    scene.paste(big, (int(rng.integers(40, WIDTH - FACE - 40)), HEIGHT - FACE - 10), mask)
    return np.asarray(scene)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="3,21,42")
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "src" / "faceedit" / "web" / "static" / "examples")
    args = ap.parse_args()

    import torch
    from PIL import Image

    from faceedit.align.detect import detect_faces
    from faceedit.atomic import atomic_path
    from faceedit.model import load

    torch.set_num_threads(1)
    model = load("default")
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        photo = example_photo(model.generate(seeds=[seed], truncation=0.6).images[0], seed)
        if len(detect_faces(photo)) != 1:
            print(f"skip: seed {seed}: the detector does not find exactly one face", file=sys.stderr)
            continue
        path = args.out / f"photo{seed}.jpg"
        with atomic_path(path) as tmp:
            Image.fromarray(photo).save(tmp, format="JPEG", quality=88)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
