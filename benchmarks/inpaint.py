"""Benchmark: inpainting held-back faces by masked inversion (Image2StyleGAN++) against two baselines, in one run.

    .venv/bin/python benchmarks/inpaint.py --data .cache/data128 --n 8 --steps 200 --threads 1

Takes ``--n`` faces of the identity-disjoint validation split (a ``faceedit data build`` folder, or a folder of
aligned images), cuts synthetic holes into them (``--holes``: ``mouth`` — a box over the mouth, ``eye`` — a box
over the left eye, ``random`` — a box of a quarter of the image at a seeded random place) and fills each hole with:

* ``masked`` — masked W+ inversion of the known pixels only (MSE + perceptual loss over the mask), the generator's
  image pasted into the hole (:func:`faceedit.invert.masked.inpaint`);
* ``unmasked`` — the same inversion of the whole holed image (the hole painted mid-grey), its image pasted in;
* ``diffusion`` — a classical fill: the hole solved for the Laplace equation from its border (Jacobi iterations;
  OpenCV and scikit-image are not installed here).

Prints PSNR inside the hole against the original face (dB; the figure that matters), PSNR over the whole image,
seconds per face, the ratio of each method's hole error (MSE) to the masked inversion's, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

HOLES = ("mouth", "eye", "random")


def hole_masks(kind: str, n: int, size: int, seed: int = 0):
    """[n, 1, size, size] float masks, 1 inside the hole. Boxes in fractions of the aligned face (FFHQ layout)."""
    import numpy as np
    import torch

    m = torch.zeros(n, 1, size, size)
    rng = np.random.RandomState(seed)
    for i in range(n):
        if kind == "mouth":
            box = (0.62, 0.84, 0.30, 0.70)
        elif kind == "eye":
            box = (0.36, 0.52, 0.22, 0.48)
        else:
            y, x = rng.uniform(0.15, 0.35), rng.uniform(0.15, 0.35)
            box = (y + 0.0, y + 0.5, x, x + 0.5)
        y0, y1, x0, x1 = (int(round(b * size)) for b in box)
        m[i, :, y0:y1, x0:x1] = 1
    return m


def diffusion_fill(images, holes, iterations: int = 500):
    """Harmonic inpainting: pixels in ``holes`` (1) repeatedly set to the mean of their 4 neighbours, the known
    pixels fixed; starts from the mean known colour. ``images`` [N, 3, H, W] in [-1, 1]."""
    import torch
    import torch.nn.functional as F

    known = 1 - holes
    mean = (images * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1)
    x = images * known + mean * holes
    kernel = torch.tensor([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]]).expand(3, 1, 3, 3).contiguous()
    for _ in range(iterations):
        avg = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
        x = images * known + avg * holes
    return x


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=".cache/data128", help="data build folder (val split) or image folder")
    ap.add_argument("--model", default="default")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--holes", default=",".join(HOLES))
    ap.add_argument("--perceptual", default="vgg16", help="the inversions' perceptual loss (vgg16, faceapi, none)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    kinds = [h.strip() for h in args.holes.split(",") if h.strip()]
    if not kinds or set(kinds) - set(HOLES):
        sys.exit(f"error: --holes takes {', '.join(HOLES)}")

    import torch

    torch.set_num_threads(args.threads)
    from faceedit import api
    from faceedit.data.rows import load_eval_faces
    from faceedit.invert import get_perceptual
    from faceedit.invert.masked import blend, inpaint, psnr_in_mask

    model = api.load(args.model)
    imgs, what = load_eval_faces(args.data, model.resolution, args.n, args.seed)
    x = imgs.float() / 127.5 - 1
    n, size = x.shape[0], x.shape[-1]
    dist, _ = get_perceptual(args.perceptual)
    load0 = os.getloadavg()[0]
    print(f"{what}; {model.describe()}; {args.steps} steps, perceptual {args.perceptual}; {args.threads} thread(s), "
          f"{platform.machine()}, load avg {load0:.1f}", file=sys.stderr)
    t_start = time.time()
    rows: dict[str, dict] = {}
    for kind in kinds:
        holes = hole_masks(kind, n, size, args.seed)
        holed = x * (1 - holes)
        out = {}
        t0 = time.time()
        out["masked"] = inpaint(model, holed, holes, steps=args.steps, perceptual=dist).images
        out["masked_s"] = (time.time() - t0) / n
        t0 = time.time()
        everything = torch.zeros_like(holes)
        res = inpaint(model, holed, everything, steps=args.steps, perceptual=dist)  # no hole: all pixels count
        out["unmasked"] = blend(x * (1 - holes), res.generated, holes)
        out["unmasked_s"] = (time.time() - t0) / n
        t0 = time.time()
        out["diffusion"] = diffusion_fill(holed, holes)
        out["diffusion_s"] = (time.time() - t0) / n
        for method in ("masked", "unmasked", "diffusion"):
            hole_psnr = psnr_in_mask(out[method], x, holes)
            whole = psnr_in_mask(out[method], x, torch.ones_like(holes))
            rows[f"{kind}/{method}"] = {"hole": kind, "method": method, "psnr_hole": float(hole_psnr.mean()),
                                        "psnr_image": float(whole.mean()),
                                        "mse_hole": float((4.0 / 10 ** (hole_psnr / 10)).mean()),
                                        "seconds_per_face": out[f"{method}_s"]}
        print(f"inpaint: {kind} holes done", file=sys.stderr)
    print("| hole | method | PSNR in hole dB | PSNR image dB | hole MSE vs masked | s/face |")
    print("|---|---|---|---|---|---|")
    for r in rows.values():
        ref = rows[f"{r['hole']}/masked"]["mse_hole"]
        r["mse_vs_masked"] = r["mse_hole"] / ref
        print(f"| {r['hole']} | {r['method']} | {r['psnr_hole']:.2f} | {r['psnr_image']:.2f} | "
              f"{r['mse_vs_masked']:.2f}× | {r['seconds_per_face']:.2f} |")
    rec = {"bench": "inpaint", "faces": what, "model": model.name, "steps": args.steps,
           "perceptual": args.perceptual, "threads": args.threads,
           "load_avg": [round(load0, 1), round(os.getloadavg()[0], 1)], "wall_s": round(time.time() - t_start, 1),
           "results": rows}
    print(json.dumps(rec))
    if args.json:
        from faceedit.atomic import write_json

        write_json(args.json, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
