"""Benchmark: encoder + short refinement against 1000-step W+ optimisation, and the perceptual losses against each
other, on the same faces, in one run.

    .venv/bin/python benchmarks/inversion.py --data .cache/data128 --n 16 --threads 1
    .venv/bin/python benchmarks/inversion.py --encoder runs/enc.safetensors --hybrid-steps 100 --opt-steps 1000
    .venv/bin/python benchmarks/inversion.py --n 16 --threads 1 --perceptual faceapi,vgg16 --opt-steps 500,1000 \\
        --hybrid-steps 100 --pivotal-steps 60 --no-short
    .venv/bin/python benchmarks/inversion.py --n 8 --perceptual vgg16@64,vgg16@128 --methods hybrid \\
        --hybrid-steps 27,100                       # the VGG's input side: quality per second

Inverts ``--n`` aligned validation faces (a ``faceedit data build`` folder / pack: its identity-disjoint val split;
or a folder of aligned images) with: ``optimize`` (W+ optimisation from w_avg, ``--opt-steps``; the longest run of
the first loss is the reference), ``encoder`` (the encoder: one pass, plus its ReStyle iterations when it has a
refiner — then the first pass alone is shown too), ``hybrid`` (encoder + ``--hybrid-steps`` of optimisation),
``pivotal`` (the encoder's pivot + ``--pivotal-steps`` of pivotal tuning of the generator's weights) and, to show
what the encoder adds, ``--hybrid-steps`` of plain optimisation from w_avg (``--no-short`` leaves it out) — once per
perceptual loss in ``--perceptual`` (``faceapi``, ``vgg16``, ``vgg16@SIZE``: VGG16 reading the images at SIZE px).
Prints the figures side by side — MSE, PSNR, SSIM on [0, 1] pixels, both perceptual distances (face-api features
and VGG16, so that neither loss is judged by its own metric alone), the identity distance, seconds per image — the
time ratio against the reference, which refinements reach the reference's quality, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

METHODS = ("optimize", "encoder", "hybrid", "pivotal")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=".cache/data128", help="data build folder / pack (val split) or image folder")
    ap.add_argument("--model", default="default")
    ap.add_argument("--encoder", default=None, help="encoder file (default: the shipped one)")
    ap.add_argument("--force-encoder", action="store_true")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--perceptual", default="faceapi", help="comma list of perceptual losses to compare: faceapi, "
                    "vgg16, vgg16@SIZE (VGG16 on images resized to SIZE px); the first one's rows come first")
    ap.add_argument("--methods", default=",".join(METHODS), help="which methods get rows (comma list)")
    ap.add_argument("--opt-steps", default="1000", help="steps of W+ optimisation; a comma list adds a row per count")
    ap.add_argument("--hybrid-steps", default="100", help="refinement steps of hybrid; a comma list (e.g. "
                    "100,200,300) adds a row per count; the fastest row matching the reference is reported")
    ap.add_argument("--pivotal-steps", default="60", help="tuning steps of pivotal; a comma list adds a row per "
                    "count ('' leaves pivotal out)")
    ap.add_argument("--no-short", action="store_true", help="leave out the plain optimisation at the hybrid's steps")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--progress", action="store_true", help="a progress bar per inversion")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from faceedit import api
    from faceedit.data.rows import load_eval_faces
    from faceedit.invert import evaluate_methods
    from faceedit.metrics.inversion import format_table

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or set(methods) - set(METHODS):
        sys.exit(f"error: --methods takes {', '.join(METHODS)}")
    opt = _counts(args.opt_steps, "--opt-steps") if "optimize" in methods else []
    hybrid = _counts(args.hybrid_steps, "--hybrid-steps") if "hybrid" in methods else []
    pivotal = _counts(args.pivotal_steps, "--pivotal-steps", allow_empty=True) if "pivotal" in methods else []
    losses = _losses(args.perceptual)
    model = api.load(args.model)
    imgs, what = load_eval_faces(args.data, model.resolution, args.n, args.seed)
    load0 = os.getloadavg()[0]
    print(f"{what}; {model.describe()}; {args.threads} thread(s), {platform.machine()}, load avg {load0:.1f}; "
          f"losses {', '.join(losses)}", file=sys.stderr)
    t0 = time.time()
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    common = dict(batch=args.batch, encoder=args.encoder, force_encoder=args.force_encoder, log=log,
                  progress=args.progress or None)

    def run(method: str, steps: int | None, loss, **kw) -> dict:
        return evaluate_methods(model, imgs, [method], steps={method: steps} if steps is not None else None,
                                perceptual=loss, **common, **kw)[method]

    res: dict[str, dict] = {}
    suffix = (lambda name: "") if len(losses) == 1 else (lambda name: f" · {name}")  # noqa: E731
    for name, loss in losses.items():
        s = suffix(name)
        for c in sorted(opt, reverse=True):
            res[f"optimize ({c} steps){s}"] = run("optimize", c, loss)
        if "encoder" in methods and not any(k.startswith("encoder") for k in res):
            res["encoder"] = run("encoder", None, loss)
            enc = _encoder(model, args)
            if enc is not None and enc.refiner is not None:  # what the ReStyle iterations add to the first pass
                res["encoder (first pass only)"] = run("encoder", None, loss, encoder_iterations=0)
                res["encoder"]["iterations"] = enc.cfg.refine_iterations
        for c in hybrid:
            res[f"hybrid ({c} steps){s}"] = run("hybrid", c, loss)
        for c in pivotal:
            res[f"pivotal ({c} steps){s}"] = run("pivotal", c, loss)
        if hybrid and opt and not args.no_short and hybrid[0] not in opt:
            res[f"optimize ({hybrid[0]} steps){s}"] = run("optimize", hybrid[0], loss)
    ref_name = next((k for k in res if k.startswith("optimize")), next(iter(res)))
    ref = res[ref_name]
    for r in res.values():
        r["time_vs_reference"] = r["seconds_per_image"] / ref["seconds_per_image"]
    print(format_table(res, markdown=True))
    print(f"\nreference: {ref_name}")
    matched = None
    figures = [k for k in ("mse", "perceptual", "vgg16", "identity", "psnr", "ssim") if k in ref]
    for name, r in res.items():
        if name == ref_name:
            continue
        if r.get("ran_as"):
            print(f"{name}: no encoder for this generator; ran as {r['ran_as']}")
            continue
        better = [k for k in ("mse", "perceptual", "vgg16", "identity") if k in r and r[k] <= ref[k]] + \
                 [k for k in ("psnr", "ssim") if k in r and r[k] >= ref[k]]
        print(f"{name}: {r['time_vs_reference']:.3f}× the time of the reference; as good or better on "
              f"{', '.join(better) or 'nothing'}")
        if name.split(" (")[0] in ("hybrid", "pivotal") and len(better) == len(figures) and \
                (matched is None or r["time_vs_reference"] < matched[1]):
            matched = (name, r["time_vs_reference"])
    print(f"fastest refinement that matches the reference on every figure: {matched[0]}, {matched[1]:.3f}× its time"
          if matched else "no refinement matches the reference on every figure")
    rec = {"bench": "inversion", "reference": ref_name, "matched": matched, "faces": what, "model": model.name,
           "sha256": model.sha256, "losses": list(losses), "threads": args.threads,
           "load_avg": [round(load0, 1), round(os.getloadavg()[0], 1)], "wall_s": round(time.time() - t0, 1),
           "results": res}
    print(json.dumps(rec))
    if args.json:
        from faceedit.atomic import write_json

        write_json(args.json, rec)
    return 0


def _losses(text: str) -> dict:
    """``faceapi,vgg16,vgg16@128`` → {name: distance}, loaded before any inversion (a missing weight fails
    early)."""
    from faceedit.errors import FaceEditError
    from faceedit.metrics import distances

    out = {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        name, _, size = item.partition("@")
        try:
            out[item] = distances.get(name, **({"size": int(size)} if size else {}))
        except (FaceEditError, ValueError) as exc:
            sys.exit(f"error: perceptual loss {item!r}: {exc}")
    if not out:
        sys.exit("error: --perceptual is empty")
    return out


def _counts(text: str, flag: str, allow_empty: bool = False) -> list[int]:
    try:
        counts = [int(c) for c in str(text).split(",") if c.strip()]
    except ValueError:
        sys.exit(f"error: bad {flag} {text!r}: use e.g. 100 or 100,200,300")
    if (not counts and not allow_empty) or (counts and min(counts) < 0):
        sys.exit(f"error: {flag} needs step counts >= 0")
    return counts


def _encoder(model, args):
    from faceedit.errors import FaceEditError
    from faceedit.invert.encoder import default_encoder, load_encoder

    try:
        return load_encoder(args.encoder, model, force=args.force_encoder)[0] if args.encoder else \
            default_encoder(model)[0]
    except FaceEditError:
        return None


if __name__ == "__main__":
    sys.exit(main())
