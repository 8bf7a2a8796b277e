"""Benchmark: encoder + short refinement against 1000-step W+ optimisation, on the same faces, in one run.

    .venv/bin/python benchmarks/inversion.py --data .cache/data128 --n 16 --threads 1
    .venv/bin/python benchmarks/inversion.py --encoder runs/enc.safetensors --hybrid-steps 100 --opt-steps 1000

Inverts ``--n`` aligned validation faces (a ``faceedit data build`` folder / pack: its identity-disjoint val split;
or a folder of aligned images) with: ``optimize`` (W+ optimisation from w_avg, ``--opt-steps``, the reference),
``encoder`` (the encoder: one pass, plus its ReStyle iterations when it has a refiner — then the first pass alone
is shown too), ``hybrid`` (encoder + ``--hybrid-steps`` of optimisation), ``pivotal`` (the encoder's pivot +
``--pivotal-steps`` of pivotal tuning of the generator's weights) and, to show what the encoder adds,
``--hybrid-steps`` of plain optimisation from w_avg. Prints the figures
side by side — MSE, PSNR, SSIM on [0, 1] pixels, the perceptual and identity distances, seconds per image — the
time ratio against the reference, whether hybrid reaches the reference's quality, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=".cache/data128", help="data build folder / pack (val split) or image folder")
    ap.add_argument("--model", default="default")
    ap.add_argument("--encoder", default=None, help="encoder file (default: the shipped one)")
    ap.add_argument("--force-encoder", action="store_true")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--opt-steps", type=int, default=1000)
    ap.add_argument("--hybrid-steps", default="100", help="refinement steps of hybrid; a comma list (e.g. "
                    "100,200,300) adds a row per count; the fastest row matching the reference is reported")
    ap.add_argument("--pivotal-steps", default="60", help="tuning steps of pivotal; a comma list adds a row per "
                    "count ('' leaves pivotal out)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from faceedit import api
    from faceedit.data.rows import load_eval_faces
    from faceedit.invert import evaluate_methods
    from faceedit.metrics.inversion import format_table

    model = api.load(args.model)
    imgs, what = load_eval_faces(args.data, model.resolution, args.n, args.seed)
    load0 = os.getloadavg()[0]
    print(f"{what}; {model.describe()}; {args.threads} thread(s), {platform.machine()}, load avg {load0:.1f}",
          file=sys.stderr)
    t0 = time.time()
    counts = _counts(args.hybrid_steps, "--hybrid-steps")
    pivotal = _counts(args.pivotal_steps, "--pivotal-steps", allow_empty=True)
    if not counts:
        sys.exit("error: --hybrid-steps needs step counts >= 0")
    args.hybrid_steps = counts[0]
    steps = {"optimize": args.opt_steps, "hybrid": args.hybrid_steps}
    res = evaluate_methods(model, imgs, ["optimize", "encoder", "hybrid"], steps=steps, batch=args.batch,
                           encoder=args.encoder, force_encoder=args.force_encoder,
                           log=lambda m: print(m, file=sys.stderr))
    # what the encoder adds: the hybrid's step count of plain optimisation from the average face
    short = evaluate_methods(model, imgs, ["optimize"], steps={"optimize": args.hybrid_steps}, batch=args.batch,
                             log=lambda m: print(m, file=sys.stderr))["optimize"]
    for c in counts[1:]:
        res[f"hybrid ({c} steps)"] = evaluate_methods(model, imgs, ["hybrid"], steps={"hybrid": c}, batch=args.batch,
                                                      encoder=args.encoder, force_encoder=args.force_encoder,
                                                      log=lambda m: print(m, file=sys.stderr))["hybrid"]
    for c in pivotal:
        res[f"pivotal ({c} steps)"] = evaluate_methods(model, imgs, ["pivotal"], steps={"pivotal": c},
                                                       batch=args.batch, encoder=args.encoder,
                                                       force_encoder=args.force_encoder,
                                                       log=lambda m: print(m, file=sys.stderr))["pivotal"]
    res[f"optimize ({args.hybrid_steps} steps)"] = short
    enc = _encoder(model, args)
    if enc is not None and enc.refiner is not None:  # what the ReStyle iterations add to the first pass
        first = evaluate_methods(model, imgs, ["encoder"], batch=args.batch, encoder=args.encoder,
                                 force_encoder=args.force_encoder, encoder_iterations=0,
                                 log=lambda m: print(m, file=sys.stderr))["encoder"]
        res["encoder (first pass only)"] = first
        res["encoder"]["iterations"] = res["hybrid"]["iterations"] = enc.cfg.refine_iterations
    ref = res["optimize"]
    for name, r in res.items():
        r["time_vs_optimize"] = r["seconds_per_image"] / ref["seconds_per_image"]
    print(format_table(res, markdown=True))
    print()
    matched = None
    refined = ["hybrid"] + [f"hybrid ({c} steps)" for c in counts[1:]] + [f"pivotal ({c} steps)" for c in pivotal]
    for name in ["encoder"] + refined:
        r = res[name]
        if r.get("ran_as"):
            print(f"{name}: no encoder for this generator; ran as {r['ran_as']}")
            continue
        better = [k for k in ("mse", "perceptual", "identity") if k in r and r[k] <= ref[k]] + \
                 [k for k in ("psnr", "ssim") if k in r and r[k] >= ref[k]]
        print(f"{name}: {r['time_vs_optimize']:.3f}× the time of {args.opt_steps}-step W+ optimisation; "
              f"as good or better on {', '.join(better) or 'nothing'}")
        figures = [k for k in ("mse", "perceptual", "identity", "psnr", "ssim") if k in ref]
        if name != "encoder" and len(better) == len(figures) and (matched is None or
                                                                  r["time_vs_optimize"] < matched[1]):
            matched = (name, r["time_vs_optimize"])
    if len(refined) > 1 or matched:
        print(f"fastest refinement that matches the reference on every figure: {matched[0]}, "
              f"{matched[1]:.3f}× its time" if matched else "no refinement matches the reference on every figure")
    rec = {"bench": "inversion", "matched": matched, "faces": what, "model": model.name, "sha256": model.sha256,
           "threads": args.threads, "load_avg": [round(load0, 1), round(os.getloadavg()[0], 1)],
           "wall_s": round(time.time() - t0, 1), "results": res}
    print(json.dumps(rec))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rec, f, indent=1)
    return 0


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
