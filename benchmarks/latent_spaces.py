"""Benchmark: Z, W and W+ against each other — inversion quality (Image2StyleGAN's comparison) and attribute edits
with directions fitted in Z and in W (InterfaceGAN), on the same faces, in one run.

    .venv/bin/python benchmarks/latent_spaces.py --data .cache/data128 --n 8 --steps 300 \\
        --directions dirs/ --threads 1            # dirs/: 'faceedit directions fit --space w,z' of the same samples

Part 1 (``--parts invert``): ``--n`` validation faces (identity-disjoint split of a ``faceedit data build``
folder, or a folder of aligned images) inverted by optimisation in Z (z → mapping → every layer), W (one w for every
layer) and W+ (one w per layer), the same ``--steps``, loss and schedule; PSNR, SSIM, VGG16 perceptual distance,
seconds per face.

Part 2 (``--parts edit``): ``--faces`` random faces (seeds, ψ = ``--trunc``) edited by ``--amount`` units along
each attribute's direction fitted in W and in Z (from the same scored samples: ``--directions`` holds both, or
``--fit-samples`` draws and scores that many here), and conditionally (the other edited attributes held fixed by
projecting their normals out, in the same space). The project's attribute classifier reads every image; per edit
AD_t (target change in σ of its logit), AD_o (mean |change| of the other 39 attributes in σ) and the thesis's AD
= |AD_t| / AD_o (higher: more disentangled), and the mean |change| (σ) of the other edited attributes (the ones
the conditional edit holds fixed), with and without conditioning.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

SPACES = ("z", "w", "w+")


def invert_part(model, imgs, steps: int, dist, metrics: dict) -> dict:
    """Inversion figures per space (same images, steps and loss)."""
    from faceedit.invert.optimize import optimize_latents
    from faceedit.metrics.inversion import InversionFigures

    x = imgs.float() / 127.5 - 1
    out = {}
    for space in SPACES:
        figures = InversionFigures(metrics)
        t0 = time.time()
        res = optimize_latents(model, x, space=space, steps=steps, perceptual=dist)
        figures.add(model.synthesize(res.ws), x, time.time() - t0)
        out[space] = figures.summary()
        print(f"latent_spaces: inversion in {space} done", file=sys.stderr)
    return out


def fit_here(model, attrs: list[str], n: int, seed: int):
    """Directions in W and Z fitted from the same ``n`` scored samples (classifier attributes only)."""
    from faceedit.edit.attributes import AttributeScorer
    from faceedit.edit.directions import DirectionSet, fit_directions, sample_scores

    scorer = AttributeScorer.load(model.device, use=("classifier",))
    samples = sample_scores(model, scorer, n, seed=seed)
    return DirectionSet(fit_directions(samples, attrs, spaces=("w", "z"), ratio=0.1, model=model))


def edit_part(model, dirs, attrs: list[str], faces: int, amount: float, trunc: float, seed: int) -> dict:
    """AD per attribute, space and conditioning (see the module doc)."""
    import numpy as np
    import torch

    from faceedit.edit.ad import dependency, logits_of
    from faceedit.edit.scoring import classifier_logits

    logits, names = classifier_logits(model.device)
    lower = [n.lower() for n in names]
    z = torch.from_numpy(np.random.RandomState(seed).randn(faces, model.z_dim)).float()
    ws = model.map(z, trunc)
    base = logits_of(model, model.synthesize(ws), logits)
    sigma = base.std(0)
    out = {}
    for attr in attrs:
        target = lower.index(attr)
        keep = [a for a in attrs if a != attr]
        for space in ("w", "z"):
            for cond in (False, True):
                k = keep if cond else []
                if space == "w":
                    edited = dirs.apply(ws, {attr: amount}, k)
                else:
                    edited = model.map(dirs.apply_z(z, {attr: amount}, k), trunc)
                after = logits_of(model, model.synthesize(edited), logits)
                held = [lower.index(a) for a in keep]
                r = dependency(base, after, target, sigma, f"{attr} {space}{' | ' + ','.join(k) if k else ''}",
                               amount)
                d = (after - base) / sigma.clamp_min(1e-6)
                out[f"{attr}/{space}/{'cond' if cond else 'plain'}"] = {
                    "attribute": attr, "space": space, "conditional": cond, "ad_t": r.ad_t, "ad_o": r.ad_o,
                    "ad": r.ad, "held_change": float(d[:, held].abs().mean()) if held else None}
        print(f"latent_spaces: edits of {attr} done", file=sys.stderr)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=".cache/data128")
    ap.add_argument("--model", default="default")
    ap.add_argument("--parts", default="invert,edit")
    ap.add_argument("--n", type=int, default=8, help="faces to invert")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--perceptual", default="vgg16", help="the inversions' loss: vgg16, faceapi, none")
    ap.add_argument("--directions", default=None, help="a folder with w and z directions of the same samples")
    ap.add_argument("--fit-samples", type=int, default=2000, help="without --directions: samples to fit them from")
    ap.add_argument("--attrs", default="smiling,male,young,eyeglasses")
    ap.add_argument("--faces", type=int, default=64, help="random faces to edit")
    ap.add_argument("--amount", type=float, default=2.0)
    ap.add_argument("--trunc", type=float, default=0.7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - {"invert", "edit"}:
        sys.exit("error: --parts takes invert, edit")

    import torch

    torch.set_num_threads(args.threads)
    from faceedit import api
    from faceedit.data.rows import load_eval_faces
    from faceedit.invert import get_perceptual
    from faceedit.metrics import distances

    model = api.load(args.model)
    load0 = os.getloadavg()[0]
    t_start = time.time()
    rec: dict = {"bench": "latent_spaces", "model": model.name, "threads": args.threads}
    print(f"{model.describe()}; {args.threads} thread(s), {platform.machine()}, load avg {load0:.1f}",
          file=sys.stderr)
    if "invert" in parts:
        imgs, what = load_eval_faces(args.data, model.resolution, args.n, args.seed)
        dist, _ = get_perceptual(args.perceptual)
        metrics = {"vgg16": dist} if args.perceptual == "vgg16" and dist is not None else {}
        if not metrics:
            try:
                metrics = {"vgg16": distances.get("vgg16")}
            except Exception as exc:  # noqa: BLE001 - the figure is left out, the rest runs
                print(f"latent_spaces: no VGG16 figure ({exc})", file=sys.stderr)
        inv = invert_part(model, imgs, args.steps, dist, metrics)
        rec.update(faces=what, steps=args.steps, perceptual=args.perceptual, inversion=inv)
        print(f"\nInversion of {what}, {args.steps} steps, loss MSE + {args.perceptual}:")
        print("| space | PSNR dB | SSIM | VGG16 perceptual | s/face | MSE vs W+ |")
        print("|---|---|---|---|---|---|")
        for space, r in inv.items():
            print(f"| {space} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r.get('vgg16', float('nan')):.4f} | "
                  f"{r['seconds_per_image']:.2f} | {r['mse'] / inv['w+']['mse']:.2f}× |")
    if "edit" in parts:
        from faceedit.edit.directions import read_folder

        attrs = [a.strip().lower() for a in args.attrs.split(",") if a.strip()]
        dirs = read_folder(args.directions) if args.directions else fit_here(model, attrs, args.fit_samples,
                                                                            args.seed)
        edits = edit_part(model, dirs, attrs, args.faces, args.amount, args.trunc, args.seed + 1)
        rec.update(edit_faces=args.faces, amount=args.amount, edits=edits)
        print(f"\nEdits of {args.faces} random faces (ψ {args.trunc}) by {args.amount:g} units; AD_t, AD_o in σ of "
              "the classifier's logits; AD = |AD_t|/AD_o; 'held' = mean |change| (σ) of the other listed attributes (held fixed when conditional):")
        print("| attribute | space | conditional | AD_t | AD_o | AD (thesis) | held |")
        print("|---|---|---|---|---|---|---|")
        for r in edits.values():
            held = "–" if r["held_change"] is None else f"{r['held_change']:.3f}"
            print(f"| {r['attribute']} | {r['space']} | {'yes' if r['conditional'] else 'no'} | {r['ad_t']:+.3f} | "
                  f"{r['ad_o']:.3f} | {r['ad']:.2f} | {held} |")
    rec.update(load_avg=[round(load0, 1), round(os.getloadavg()[0], 1)], wall_s=round(time.time() - t_start, 1))
    print(json.dumps(rec))
    if args.json:
        from faceedit.atomic import write_json

        write_json(args.json, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
