"""Which VGG16 feature set makes precision/recall see what goes wrong with a generator?

Sets compared against half A of the real faces (identity-disjoint halves of the aligned build's train split,
at the generator's resolution), all with n samples:

- ``real B``      the other real half: the reference (both figures should be high and alike);
- ``blur``        real B with a Gaussian blur (σ = 1 px at 64 px): less realistic → precision should fall;
- ``noise``       real B + Gaussian noise (σ = 0.08): less realistic → precision should fall;
- ``collapsed``   n samples drawn from only 40 real faces (each jittered by ±2 px shifts and flips): realistic
                  but not diverse → recall should fall;
- ``one-sex``     only faces CelebA labels female (from real B's pool): half the distribution → recall should fall,
                  precision stay;
- ``shipped``     samples of a given generator (``--model``; the 146-kimg default that collapsed).

For each configuration (input size × layers × pooling) the script prints precision and recall of every set, and a
separation score: the mean over the degraded sets of the relevant drop from the real-vs-real figure (precision for
blur/noise, recall for collapsed/one-sex, the larger of the two for the generator). The sampling noise of P and R at
n = 1,000 is about ±0.015. Features for one input size are computed once and pooled several ways.

    python benchmarks/realism_features.py --data .cache/data128 --n 1000 --sizes 64,128,224 --threads 1 \
        --model default
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faceedit.data import ImageFolderDataset  # noqa: E402
from faceedit.features import load_vgg, pooled, resize_for  # noqa: E402
from faceedit.metrics.realism import precision_recall  # noqa: E402

LAYER_SETS = {
    "r5_3": ("relu5_3",),
    "r4_3+r5_3": ("relu4_3", "relu5_3"),
    "r3_3..r5_3": ("relu3_3", "relu4_3", "relu5_3"),
}
POOLINGS = ("mean", "max", "meanstd")


def load_sets(args) -> dict[str, torch.Tensor]:
    ds = ImageFolderDataset(args.data, resolution=args.res, split="train")
    rows = ds.records
    rng = np.random.default_rng(0)
    # identity-disjoint halves: split identities, not images
    ids = sorted({r["identity"] for r in rows})
    rng.shuffle(ids)
    half_a = set(ids[: len(ids) // 2])
    idx_a = [i for i, r in enumerate(rows) if r["identity"] in half_a]
    idx_b = [i for i, r in enumerate(rows) if r["identity"] not in half_a]
    rng.shuffle(idx_a)
    rng.shuffle(idx_b)
    n = args.n

    def imgs(idx):
        return torch.stack([ds[i][0] for i in idx])

    real_a, real_b = imgs(idx_a[:n]), imgs(idx_b[:n])
    x = real_b.float() / 127.5 - 1
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    k = (k[:, None] * k[None, :]) / 256  # ≈ Gaussian σ = 1
    blur = F.conv2d(F.pad(x, [2, 2, 2, 2], mode="reflect"), k.expand(3, 1, 5, 5).contiguous(), groups=3)
    g = torch.Generator().manual_seed(1)
    noise = (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    few = real_b[:40].float() / 127.5 - 1
    pick = torch.randint(0, 40, (n,), generator=g)
    col = few[pick]
    shifts = torch.randint(-2, 3, (n, 2), generator=g)
    col = torch.stack([torch.roll(c, (int(s[0]), int(s[1])), dims=(1, 2)) for c, s in zip(col, shifts)])
    flip = torch.rand(n, generator=g) < 0.5
    col[flip] = col[flip].flip(3)
    female = [i for i in idx_b if (rows[i].get("attributes") or {}).get("Male") == 0][:n]
    sets = {"real A": real_a.float() / 127.5 - 1, "real B": x, "blur": blur, "noise": noise, "collapsed": col,
            "one-sex": imgs(female).float() / 127.5 - 1}
    if args.model:
        from faceedit import api

        m = api.load(args.model)
        gen = []
        for i in range(0, n, 50):
            gen.append(torch.from_numpy(m.generate(seeds=range(10_000 + i, 10_000 + min(i + 50, n)),
                                                   truncation=1.0).images).permute(0, 3, 1, 2))
        img = torch.cat(gen).float() / 127.5 - 1
        if img.shape[-1] != args.res:
            img = F.interpolate(img, size=(args.res, args.res), mode="area")
        sets["shipped"] = img
    return sets


def features(net, x: torch.Tensor, size: int, layers: tuple[str, ...], batch: int = 50) -> list[torch.Tensor]:
    out: list[list[torch.Tensor]] = [[] for _ in layers]
    with torch.no_grad():
        for i in range(0, len(x), batch):
            fs = net.extract(resize_for(x[i:i + batch], size), layers)
            for j, f in enumerate(fs):
                out[j].append(f)
    return [torch.cat(o) for o in out]


RELEVANT = {"blur": "p", "noise": "p", "collapsed": "r", "one-sex": "r", "shipped": "pr"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=".cache/data128")
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sizes", default="64,128,224")
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    sets = load_sets(args)
    print(f"sets: {', '.join(f'{k} {len(v)}' for k, v in sets.items())} ({time.time() - t0:.0f} s)", flush=True)
    net = load_vgg()
    all_layers = ("relu3_3", "relu4_3", "relu5_3")
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        t1 = time.time()
        feats = {name: dict(zip(all_layers, features(net, x, size, all_layers))) for name, x in sets.items()}
        t_feat = time.time() - t1
        for lname, layers in LAYER_SETS.items():
            for pool in POOLINGS:
                vec = {name: pooled([f[l] for l in layers], pool).numpy() for name, f in feats.items()}
                ref = vec["real A"]
                res = {}
                for name in sets:
                    if name == "real A":
                        continue
                    res[name] = precision_recall(ref, vec[name], args.k)
                p0, r0 = res["real B"]
                drops = []
                for name, kind in RELEVANT.items():
                    if name not in res:
                        continue
                    p, r = res[name]
                    d = {"p": p0 - p, "r": r0 - r, "pr": max(p0 - p, r0 - r)}[kind]
                    drops.append(d)
                score = float(np.mean(drops))
                rows.append({"size": size, "layers": lname, "pooling": pool, "dim": int(ref.shape[1]),
                             "score": score, "feature_seconds": round(t_feat, 1),
                             **{name: [round(v, 3) for v in pr] for name, pr in res.items()}})
                r = rows[-1]
                print(f"{size:4d} {lname:12s} {pool:8s} score {score:6.3f} | " +
                      " | ".join(f"{k} P{v[0]:.2f} R{v[1]:.2f}" for k, v in res.items()), flush=True)
    rows.sort(key=lambda r: -r["score"])
    print("\n| size | layers | pooling | dim | separation | " + " | ".join(f"{k} P / R" for k in sets if k != "real A")
          + " |")
    print("|---|---|---|---|---|" + "---|" * (len(sets) - 1))
    for r in rows:
        print(f"| {r['size']} | {r['layers']} | {r['pooling']} | {r['dim']} | {r['score']:.3f} | " +
              " | ".join(f"{r[k][0]:.2f} / {r[k][1]:.2f}" for k in sets if k != "real A") + " |")
    print(f"\nbest: size {rows[0]['size']}, layers {rows[0]['layers']}, pooling {rows[0]['pooling']} "
          f"({time.time() - t0:.0f} s in all)")
    if args.json:
        from faceedit.atomic import write_json

        write_json(args.json, rows)


if __name__ == "__main__":
    main()
