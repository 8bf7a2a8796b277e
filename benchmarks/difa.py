"""One-shot art adaptation (faceedit.adapt): DIFA against a NADA-style baseline (the directional loss only), same
source generator, target, steps, seeds and embedding, one after the other in this process.

Per target and method: adaptation time (steps, wall and CPU seconds); **identity kept**: the project identity
distance (face-api's copy of dlib's ResNet, Euclidean; same person < 0.6) between G_A(w) and G_B(w) over
``--seeds`` latents; **style reached**: the VGG16 Gram distance of G_B's samples to the target (relu1_2 … relu4_3,
images at 128 px) over G_A's samples' (lower: closer to the painting's statistics); **diversity kept**: the mean
pairwise identity distance of G_B's samples over G_A's. ``--stages`` also runs DIFA with other VGG16 global
stages (``relu3_3+relu4_3``, …) on the first target, to choose the embedding's default. ``--models`` measures
ready adapted files instead of training (the shipped ones: ``src/faceedit/assets/art/*.safetensors``).

    .venv/bin/python benchmarks/difa.py --threads 1 --time-budget 150 --seeds 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
ART = Path("/work/shared/data/art_portraits")
TARGETS = ("mona_lisa.jpg", "van_gogh_self_portrait_1889.jpg", "girl_with_a_pearl_earring.jpg")
GRAM_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def gram_distance(vgg, images: torch.Tensor, target: torch.Tensor, side: int = 128) -> np.ndarray:
    """Per image: Σ over GRAM_LAYERS of the mean squared difference of Gram matrices to the target's."""
    from faceedit.features import gram, resize_for

    with torch.no_grad():
        ft = vgg.extract(resize_for(target, side), GRAM_LAYERS)
        out = []
        for i in range(0, len(images), 16):
            fx = vgg.extract(resize_for(images[i:i + 16], side), GRAM_LAYERS)
            out.append(sum((gram(a) - gram(b)).pow(2).mean(dim=(1, 2)) for a, b in zip(fx, ft)))
    return torch.cat(out).numpy()


def measure(G_A, G_B, target: torch.Tensor, seeds: int, vgg) -> dict:
    """Identity kept, style reached and diversity kept of G_B against G_A on ``seeds`` latents (ψ 0.7)."""
    from faceedit.metrics.distances import IdentityDistance
    from faceedit.metrics.realism import identity_descriptors, mean_pairwise_distance

    ws = G_A.map(G_A.z_from_seeds(range(seeds)), 0.7)
    a, b = G_A.synthesize(ws).clamp(-1, 1), G_B.synthesize(ws).clamp(-1, 1)
    ident = IdentityDistance("faceapi")
    with torch.no_grad():
        d = torch.cat([ident.distance(a[i:i + 32], b[i:i + 32]) for i in range(0, seeds, 32)]).numpy()
    ga, gb = gram_distance(vgg, a, target), gram_distance(vgg, b, target)
    div_a, div_b = mean_pairwise_distance(identity_descriptors(a)), mean_pairwise_distance(identity_descriptors(b))
    return {"identity_distance": float(d.mean()), "identity_same_person": float((d < 0.6).mean()),
            "gram_source": float(ga.mean()), "gram_adapted": float(gb.mean()),
            "style_ratio": float(gb.mean() / max(ga.mean(), 1e-12)),
            "diversity_source": div_a, "diversity_adapted": div_b, "diversity_ratio": div_b / max(div_a, 1e-12)}


def target_tensor(path: Path, model, aligned: bool) -> torch.Tensor:
    from faceedit.adapt.training import load_target

    return load_target(path, model, aligned=aligned, invert_steps=0).image


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", nargs="*", default=None, help="art images (default: three of ../shared/data/"
                                                                "art_portraits)")
    ap.add_argument("--models", nargs="*", default=None, help="measure these adapted files instead of training")
    ap.add_argument("--methods", default="difa,nada")
    ap.add_argument("--stages", default="", help="extra DIFA runs on the first target with these VGG global stage "
                                                 "sets, e.g. 'relu3_3+relu4_3;relu5_3'")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--time-budget", type=float, default=None, help="seconds per adaptation")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--invert-steps", type=int, default=100)
    ap.add_argument("--source-samples", type=int, default=64)
    ap.add_argument("--aligned", action="store_true", help="the targets are aligned faces already")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out-dir", default="runs/bench-difa")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT / "src"))
    from faceedit.adapt.source import require_adapted, source_model
    from faceedit.adapt.training import AdaptConfig, adapt
    from faceedit.features import load_vgg
    from faceedit.model import load

    vgg = load_vgg()
    rows = []
    if args.models:
        for path in args.models:
            G_B = load(path)
            a = require_adapted(G_B)
            G_A = source_model(G_B)
            tgt = ART / a["target"]["file"]
            rep = measure(G_A, G_B, target_tensor(tgt, G_A, args.aligned), args.seeds, vgg)
            rows.append({"target": a["target"]["file"], "method": f"{a['method']} ({Path(path).stem})",
                         **a["training"], **rep})
            print(json.dumps(rows[-1]), flush=True)
    else:
        targets = [Path(t) for t in (args.targets or [ART / t for t in TARGETS])]
        runs = [(t, m, None) for t in targets for m in args.methods.split(",") if m]
        runs += [(targets[0], "difa", tuple(s.split("+"))) for s in args.stages.split(";") if s.strip()]
        G_A = load("default")
        out = Path(args.out_dir)
        for tgt, method, stages in runs:
            name = f"{tgt.stem}-{method}" + ("-" + "+".join(stages) if stages else "")
            cfg = AdaptConfig(target=str(tgt), out=str(out / f"{name}.safetensors"), run_dir=str(out / f"run-{name}"),
                              method=method, iterations=args.iterations, time_budget=args.time_budget,
                              batch=args.batch, invert_steps=args.invert_steps, source_samples=args.source_samples,
                              aligned=args.aligned, threads=args.threads, progress=False)
            if stages:
                cfg.vgg_global = stages
            if Path(cfg.run_dir).exists():
                import shutil

                shutil.rmtree(cfg.run_dir)
            t0 = time.time()
            card = adapt(cfg, log=lambda s: None)
            wall = time.time() - t0
            G_B = load(cfg.out)
            rep = measure(G_A, G_B, target_tensor(tgt, G_A, args.aligned), args.seeds, vgg)
            tr = card["adapted"]["training"]
            rows.append({"target": tgt.name, "method": method, "stages": "+".join(cfg.vgg_global),
                         "steps": tr["steps"], "train_seconds": tr["train_seconds"], "cpu_seconds": tr["cpu_seconds"],
                         "wall_with_setup": round(wall, 1), **rep})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| target | method | VGG global stages | steps | adaptation s (CPU s) | identity kept: distance G_A(w)↔G_B(w) "
          "(same person) | style reached: Gram distance to the target, G_B / G_A | diversity kept: G_B / G_A |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['target']} | {r['method']} | {r.get('stages', '-')} | {r.get('steps', '?')} | "
              f"{r.get('train_seconds', 0):.0f} ({r.get('cpu_seconds', 0):.0f}) | {r['identity_distance']:.3f} "
              f"({100 * r['identity_same_person']:.0f} %) | {r['style_ratio']:.2f}× | "
              f"{100 * r['diversity_ratio']:.0f} % |")
    if args.json:
        from faceedit.atomic import write_json

        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
