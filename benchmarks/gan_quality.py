"""Quality of GAN runs over training time: precision, recall (VGG16 features, k = 3) and identity diversity of
every snapshot of one or more run folders (``train gan --snapshot-kimg N``), against the real faces the runs
trained on, with the real-vs-real reference at the same n. Results are cached per snapshot in
``RUN/quality.jsonl`` (a re-run only measures new snapshots); prints a table per run and draws recall, precision and
identity diversity over kimg and over CPU-hours into one PNG.

    python benchmarks/gan_quality.py runs/cmp_base runs/cmp_projected --real .cache/data128 --n 1000 \
        --threads 1 --png runs/cmp_quality.png

``--every K`` measures only every K-th snapshot (plus the last one); ``--models a.safetensors …`` measures weight
files too (e.g. the shipped default) as single points.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faceedit.metrics import realism as R  # noqa: E402
from faceedit.nn import Generator, GeneratorConfig  # noqa: E402
from faceedit.train.checkpoint import load_into, read_weights  # noqa: E402
from faceedit.data.images import load_images  # noqa: E402


def load_g(path: Path) -> tuple[Generator, dict]:
    meta, groups = read_weights(path)
    G = Generator(GeneratorConfig.from_dict(meta["g_config"])).eval()
    load_into(G, groups["G_ema"], "G_ema")
    return G, meta.get("card", {})


def generate(G: Generator, n: int, seed: int = 123) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for i in range(0, n, 50):
            z = torch.randn(min(50, n - i), G.z_dim, generator=g)
            out.append(G(z, truncation_psi=1.0, noise_mode="random").clamp(-1, 1))
    return torch.cat(out)


def measure(G, card, real_u8, real_feats, net, n, k) -> dict:
    t0 = time.time()
    fake = generate(G, n)
    ff = R.extract(net, fake, batch=50)
    rep = R.precision_recall_report(ff, real_feats, k=k)
    rep.update(R.identity_diversity(fake, real_u8, n=min(n, 1000)))
    rep.update({"kimg": float(card.get("kimg", 0.0)), "cpu_hours": float(card.get("cpu_hours", 0.0)),
                "seconds": round(time.time() - t0, 1)})
    return rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--models", nargs="*", type=Path, default=[])
    ap.add_argument("--real", default=".cache/data128")
    ap.add_argument("--split", default="train")
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--png", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = R.VGGFeatures()
    cache = Path(".cache") / f"quality_real_{args.split}_{args.res}_{args.n}_{R.VGG_SIZE}_{'+'.join(R.VGG_LAYERS)}.npz"
    real_u8 = load_images(args.real, args.res, split=args.split)
    perm = torch.randperm(len(real_u8), generator=torch.Generator().manual_seed(0))[:2 * args.n]
    real_u8 = real_u8[perm]
    if cache.is_file():
        real_feats = np.load(cache)["feats"]
    else:
        real_feats = R.extract(net, real_u8, batch=50)
        cache.parent.mkdir(exist_ok=True)
        np.savez(cache, feats=real_feats)
    series: dict[str, list[dict]] = {}
    for run in args.runs:
        qpath = run / "quality.jsonl"
        done = {}
        if qpath.is_file():
            for line in qpath.read_text().splitlines():
                r = json.loads(line)
                if r.get("n_pr") == args.n:
                    done[r["snapshot"]] = r
        snaps = sorted((run / "snapshots").glob("kimg*.safetensors"))
        chosen = snaps[::args.every] + ([snaps[-1]] if snaps and snaps[-1] not in snaps[::args.every] else [])
        for s in chosen:
            if s.name in done:
                continue
            G, card = load_g(s)
            rep = measure(G, card, real_u8, real_feats, net, args.n, args.k)
            rep["snapshot"] = s.name
            done[s.name] = rep
            with open(qpath, "a") as f:
                f.write(json.dumps(rep) + "\n")
            print(f"{run.name} {s.name}: kimg {rep['kimg']:.0f} cpu-h {rep['cpu_hours']:.2f} P {rep['precision']:.3f} "
                  f"R {rep['recall']:.3f} (real {rep['precision_real']:.3f}/{rep['recall_real']:.3f}) "
                  f"ID-div {rep['identity_diversity']:.3f} ({100 * rep['identity_diversity_ratio']:.0f}%)", flush=True)
        series[run.name] = sorted(done.values(), key=lambda r: r["kimg"])
    for m in args.models:
        G, card = load_g(m)
        rep = measure(G, card, real_u8, real_feats, net, args.n, args.k)
        rep["snapshot"] = m.name
        series[m.name] = [rep]
    for name, rows in series.items():
        print(f"\n{name}\n| kimg | CPU-h | precision (×real) | recall (×real) | identity diversity (% of real) |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['kimg']:.0f} | {r['cpu_hours']:.2f} | {r['precision']:.3f} ({r['precision_ratio']:.2f}×) | "
                  f"{r['recall']:.3f} ({r['recall_ratio']:.2f}×) | {r['identity_diversity']:.3f} "
                  f"({100 * r['identity_diversity_ratio']:.0f}%) |")
    if args.png and series:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 3, figsize=(13, 7))
        for name, rows in series.items():
            if len(rows) < 2:
                continue
            for col, (key, label) in enumerate((("precision_ratio", "precision / real"),
                                                ("recall_ratio", "recall / real"),
                                                ("identity_diversity_ratio", "identity diversity / real"))):
                for row, xkey in enumerate(("kimg", "cpu_hours")):
                    ax = axes[row, col]
                    ax.plot([r[xkey] for r in rows], [r[key] for r in rows], marker="o", ms=3, label=name)
                    ax.set_xlabel("kimg" if xkey == "kimg" else "CPU hours")
                    ax.set_ylabel(label)
                    ax.grid(alpha=0.3)
        targets = {0: 0.85, 1: 0.6, 2: 0.9}
        for col, t in targets.items():
            for row in range(2):
                axes[row, col].axhline(t, color="gray", ls="--", lw=1)
        axes[0, 0].legend(fontsize=8)
        fig.suptitle(f"GAN quality over training (n={args.n}, VGG16 k={args.k}; dashed: targets)")
        fig.tight_layout()
        args.png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.png, dpi=90)
        print(f"\nplot: {args.png}")


if __name__ == "__main__":
    main()
