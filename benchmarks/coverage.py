"""Which real faces a generator covers, and which it misses (issue #18: where recall is lost).

Recall (Kynkäänniemi et al. 2019, VGG16 features as ``eval realism --features vgg16``, k = 3) is the share of real
faces that fall inside the generated samples' k-NN manifold. This script breaks it down:

1. **recall per CelebA attribute**: the real faces of half A (the aligned build's train split) that carry an
   attribute (official CelebA labels in the manifest), and the share of them the generated manifold covers, next to
   the share that the manifold of an identity-disjoint real half B of the same size covers (the real-vs-real
   reference for that group). A ratio well below the overall one marks a group the generator under-covers;
2. **attribute frequencies**: the shipped attribute classifier on the generated samples and on half A (the share
   with probability > 0.5): which kinds of faces the generator draws too rarely;
3. **a picture** of the real faces farthest outside the generated manifold, each beside its nearest sample.

    python benchmarks/coverage.py --models src/faceedit/assets/default_generator.safetensors \\
        --real .cache/data128 --n 2000 --threads 1 --png runs/coverage.png
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faceedit.data.datasets import ImageFolderDataset  # noqa: E402
from faceedit.errors import FaceEditError  # noqa: E402
from faceedit.limits import check_int, regular_file  # noqa: E402
from faceedit.metrics import realism as R  # noqa: E402
from gan_quality import generate, load_g  # noqa: E402


def identity_disjoint_halves(records: list[dict], n: int, seed: int) -> tuple[list[int], list[int]]:
    """Two lists of n record indices with no identity in both (whole identities are dealt to A, then to B)."""
    by_id: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_id[str(r.get("identity", i))].append(i)
    ids = sorted(by_id)
    rng = np.random.default_rng(seed)
    rng.shuffle(ids)
    a: list[int] = []
    b: list[int] = []
    for ident in ids:
        if len(a) < n:
            a.extend(by_id[ident])
        elif len(b) < n:
            b.extend(by_id[ident])
        else:
            break
    if len(b) < n:
        raise FaceEditError(f"the split holds {len(records)} faces: too few for two halves of {n}; lower --n")
    return a[:n], b[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", type=Path, required=True, help="generator weights (.safetensors)")
    ap.add_argument("--real", default=".cache/data128", help="an aligned build folder (faceedit data build)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-group", type=int, default=40, help="report attributes held by at least this many faces")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--png", type=Path, default=None, help="the real faces the last model misses most")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    try:
        n = check_int(args.n, "--n", 10, 20000)
        torch.set_num_threads(check_int(args.threads, "--threads", 1, 64))
        for m in args.models:  # before the minutes spent on the real faces' features
            regular_file(m, "generator weights file")
        run(args, n)
    except FaceEditError as exc:
        sys.exit(f"error: {exc}")


def run(args, n: int) -> None:
    ds = ImageFolderDataset(args.real, resolution=args.res, split=args.split)
    ia, ib = identity_disjoint_halves(ds.records, n, args.seed)
    real_a = torch.stack([ds[i][0] for i in ia])
    real_b = torch.stack([ds[i][0] for i in ib])
    net = R.VGGFeatures()
    fa = torch.as_tensor(R.extract(net, real_a, batch=50), dtype=torch.float64)
    fb = torch.as_tensor(R.extract(net, real_b, batch=50), dtype=torch.float64)
    in_b, _, _ = R.manifold_coverage(fa, fb, R.kth_nn_radii(fb, args.k))
    from faceedit.scorers import load_classifier

    clf = load_classifier()
    p_real = (clf.score(real_a.float() / 127.5 - 1) > 0.5).float().mean(0).numpy()

    records_a = [ds.records[i] for i in ia]
    labelled = np.array(["attributes" in r for r in records_a])
    attrs = clf.attributes
    label = {a: np.array([(r.get("attributes") or {}).get(a, -1) for r in records_a]) for a in attrs}
    groups = {"all": np.ones(n, bool), "CelebA (labelled)": labelled, "CelebAMask-HQ": ~labelled}
    for a in attrs:
        pos, neg = label[a] == 1, label[a] == 0
        if pos.sum() >= args.min_group:
            groups[a] = pos
        if pos.sum() > neg.sum() >= args.min_group:  # the rarer side of a majority label: "not Young", "not No_Beard"
            groups[f"not {a}"] = neg

    results = {"n": n, "k": args.k, "models": {}}
    missed_pairs = None
    for m in args.models:
        G, card = load_g(m)
        torch.manual_seed(args.seed)  # the noise inputs (noise_mode="random") draw from the global generator
        fake = generate(G, n)
        ff = torch.as_tensor(R.extract(net, fake, batch=50), dtype=torch.float64)
        in_f, ratio, nearest = R.manifold_coverage(fa, ff, R.kth_nn_radii(ff, args.k))
        p_fake = (clf.score(fake) > 0.5).float().mean(0).numpy()
        rows = {}
        for g, mask in groups.items():
            mask_t = torch.as_tensor(mask)
            r_gen, r_real = in_f[mask_t].double().mean().item(), in_b[mask_t].double().mean().item()
            rows[g] = {"count": int(mask.sum()), "recall": r_gen, "recall_real": r_real,
                       "ratio": r_gen / max(r_real, 1e-12)}
        freq = {a: {"real": float(p_real[i]), "generated": float(p_fake[i])} for i, a in enumerate(attrs)}
        results["models"][m.name] = {"kimg": card.get("kimg"), "groups": rows, "frequency": freq}
        order = np.argsort(-ratio.numpy())[:12]
        missed_pairs = [(real_a[i], fake[nearest[i]], float(ratio[i])) for i in order]
        print_report(m.name, card, rows, freq)
    if len(args.models) > 1:
        print_summary(results["models"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    if args.png and missed_pairs:
        from faceedit.figure import labelled_grid
        from faceedit.media import save_image, to_uint8

        reals = to_uint8(torch.stack([r for r, _, _ in missed_pairs]).float() / 127.5 - 1)  # exact for uint8
        cells = [list(reals), list(to_uint8(torch.stack([f for _, f, _ in missed_pairs])))]
        grid = labelled_grid(cells, rows=["real", "nearest sample"],
                             cols=[f"{q:.2f}" for _, _, q in missed_pairs], min_cell=96,
                             title=f"{args.models[-1].name}: the real faces farthest outside the generated manifold",
                             col_title="distance to the nearest sample / its k-NN radius")
        args.png.parent.mkdir(parents=True, exist_ok=True)
        save_image(args.png, grid)
        print(f"\npicture: {args.png}")


def print_report(name: str, card: dict, rows: dict, freq: dict) -> None:
    overall = rows["all"]["ratio"]
    print(f"\n## {name} ({card.get('kimg', 0):.0f} kimg)\n")
    print("| faces of half A | count | recall (generated) | recall (real half B) | ratio | ratio / overall |")
    print("|---|---|---|---|---|---|")
    fixed = ["all", "CelebA (labelled)", "CelebAMask-HQ"]
    rest = sorted((g for g in rows if g not in fixed), key=lambda g: rows[g]["ratio"])
    for g in fixed + rest:
        r = rows[g]
        print(f"| {g} | {r['count']} | {r['recall']:.3f} | {r['recall_real']:.3f} | {r['ratio']:.2f} | "
              f"{r['ratio'] / max(overall, 1e-12):.2f} |")
    print("\n| attribute (classifier p > 0.5) | real | generated | generated / real |")
    print("|---|---|---|---|")
    for a in sorted(freq, key=lambda a: freq[a]["generated"] / max(freq[a]["real"], 1e-6)):
        f = freq[a]
        if f["real"] >= 0.02:
            print(f"| {a} | {100 * f['real']:.1f} % | {100 * f['generated']:.1f} % | "
                  f"{f['generated'] / f['real']:.2f} |")


def print_summary(models: dict) -> None:
    """One table over all models: overall recall ratio, then per group the recall ratio relative to the overall
    one, and per attribute the generated / real frequency (the groups and attributes furthest below 1 in the
    last model first)."""
    names = list(models)
    last = models[names[-1]]
    head = " | ".join(f"{models[m]['kimg'] or 0:.0f} kimg" for m in names)
    print(f"\n| recall of the group / overall recall | {head} |")
    print("|---|" + "---|" * len(names))
    print("| overall recall (× real-vs-real) | " + " | ".join(
        f"{models[m]['groups']['all']['ratio']:.2f}" for m in names) + " |")
    groups = sorted((g for g in last["groups"] if g != "all"),
                    key=lambda g: last["groups"][g]["ratio"] / max(last["groups"]["all"]["ratio"], 1e-12))
    for g in groups:
        cells = []
        for m in names:
            rows = models[m]["groups"]
            cells.append(f"{rows[g]['ratio'] / max(rows['all']['ratio'], 1e-12):.2f}" if g in rows else "–")
        print(f"| {g} ({last['groups'][g]['count']}) | " + " | ".join(cells) + " |")
    print(f"\n| generated / real frequency (classifier) | {head} |")
    print("|---|" + "---|" * len(names))
    freq = last["frequency"]
    for a in sorted(freq, key=lambda a: freq[a]["generated"] / max(freq[a]["real"], 1e-6)):
        if freq[a]["real"] < 0.02:
            continue
        cells = [f"{models[m]['frequency'][a]['generated'] / max(freq[a]['real'], 1e-6):.2f}" for m in names]
        print(f"| {a} ({100 * freq[a]['real']:.1f} % real) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
