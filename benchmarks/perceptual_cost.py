"""Benchmark: the time one inversion step costs with each perceptual loss, measured interleaved in one process.

    .venv/bin/python benchmarks/perceptual_cost.py --threads 1 --rounds 5
    .venv/bin/python benchmarks/perceptual_cost.py --perceptual faceapi,vgg16,vgg16@96,vgg16@128,none

On a shared machine the wall-clock columns of ``benchmarks/inversion.py`` drift with the load over a long run; here
each round times a few W+ optimisation steps and a few pivotal-tuning steps (batch ``--batch`` faces of the
model's resolution, from the encoder's guess) for every loss in turn, so that all losses see the same load. Prints
the median seconds per step and face for each loss, its ratio to the first loss, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=".cache/data128", help="data build folder / pack (val split) or image folder")
    ap.add_argument("--model", default="default")
    ap.add_argument("--perceptual", default="faceapi,vgg16", help="comma list: faceapi, vgg16, vgg16@SIZE, none")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5, help="steps timed per round and loss")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not 1 <= args.batch <= 64 or not 1 <= args.steps <= 1000 or not 1 <= args.rounds <= 100:
        sys.exit("error: --batch 1-64, --steps 1-1000, --rounds 1-100")

    import torch

    torch.set_num_threads(args.threads)
    from faceedit import api
    from faceedit.invert import optimize_latents
    from faceedit.invert.encoder import default_encoder
    from faceedit.data.rows import load_eval_faces
    from faceedit.invert.pivotal import tune_synthesis

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from inversion import _losses

    names = [t.strip() for t in args.perceptual.split(",") if t.strip()]
    real = [n for n in names if n != "none"]
    loaded = {**(_losses(",".join(real)) if real else {}), "none": None}
    losses = {n: loaded[n] for n in names}
    if not losses:
        sys.exit("error: --perceptual is empty")
    model = api.load(args.model)
    imgs, what = load_eval_faces(args.data, model.resolution, args.batch)
    x = imgs.float() / 127.5 - 1
    enc, _ = default_encoder(model)
    ws = enc.encode(x, G=model.G) if enc is not None else None
    pivot = ws if ws is not None else model.G.mapping.w_avg[None, None].expand(len(x), model.num_ws, -1)
    load0 = os.getloadavg()[0]
    times: dict[str, dict[str, list[float]]] = {n: {"optimise": [], "tune": []} for n in losses}
    for _ in range(args.rounds):
        for name, d in losses.items():
            t = time.perf_counter()
            optimize_latents(model, x, init_ws=ws, perceptual=d, steps=args.steps, initial_noise_factor=0.0)
            times[name]["optimise"].append((time.perf_counter() - t) / args.steps / len(x))
            t = time.perf_counter()
            tune_synthesis(model, x, pivot, perceptual=d, steps=args.steps)
            times[name]["tune"].append((time.perf_counter() - t) / args.steps / len(x))
    first = names[0]
    med = {n: {k: statistics.median(v) for k, v in t.items()} for n, t in times.items()}
    print(f"{what}; {model.describe()}; batch {len(x)}, {args.threads} thread(s), {args.rounds} rounds × "
          f"{args.steps} steps, load avg {load0:.1f} → {os.getloadavg()[0]:.1f}")
    print("| loss | W+ step, s/face | vs " + first + " | tuning step, s/face | vs " + first + " |")
    print("|---|---|---|---|---|")
    for n, m in med.items():
        print(f"| {n} | {m['optimise']:.3f} | {m['optimise'] / med[first]['optimise']:.2f}× | {m['tune']:.3f} | "
              f"{m['tune'] / med[first]['tune']:.2f}× |")
    print(json.dumps({"bench": "perceptual_cost", "model": model.name, "sha256": model.sha256, "batch": len(x),
                      "threads": args.threads, "rounds": args.rounds, "steps": args.steps,
                      "load_avg": [round(load0, 1), round(os.getloadavg()[0], 1)], "median_s_per_step_face": med}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
