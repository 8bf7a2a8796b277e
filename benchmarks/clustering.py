"""Benchmark: clustering digits and faces without labels — k-means, DEC and DERC in one run, with the thesis's
figures beside ours and the CPU time of every stage.

    .venv/bin/python benchmarks/clustering.py --threads 1 --json runs/clustering.json
    .venv/bin/python benchmarks/clustering.py --part mnist --compare-tsne      # + openTSNE vs scikit-learn t-SNE
    .venv/bin/python benchmarks/clustering.py --part faces --people 20

(a) ``mnist``: the MNIST test set (10,000 digits, ../shared/data/mnist_test): k-means on pixels (scikit-learn,
10 starts); the convolutional autoencoder (thesis Table 4-2) pretrained once; DEC (Xie et al. 2016) from that
autoencoder; DERC (rounds of t-SNE → Gaussian mixture → probabilistic triplet + 0.7 × reconstruction training)
from the same autoencoder. ``--compare-tsne`` also times openTSNE against scikit-learn's Barnes-Hut t-SNE on the
pretrained embeddings (10,000 points) and clusters both.
(b) ``faces``: CelebA people with identity labels from an aligned build (``faceedit data build``; manifest rows of
source celeba / celeba-89x109, ``identity`` = celeba:<id>): ``--people`` identities × all their images. k-means on
pixels, on face-api identity descriptors and on attribute-classifier features; t-SNE + mixture on identity
descriptors alone; DEC and DERC on DERC's own autoencoder; DERC started from identity descriptors.
Prints each table (NMI and ACC in %, CPU seconds) and one JSON line per part.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

#: The thesis's MNIST-test figures (NMI, ACC in %).
THESIS_MNIST = {"k-means (pixels)": (50.1, 54.7), "DEC": (82.7, 85.9), "DERC": (92.3, 97.2)}
#: The thesis's face figure (FRGC, 20 people): DERC NMI 66.7, ACC 51.3.
THESIS_FACES = {"DERC (own autoencoder)": (66.7, 51.3)}


def scores(labels: np.ndarray, truth: np.ndarray) -> dict:
    from faceedit.cluster.metrics import cluster_accuracy, nmi

    return {"nmi": round(100 * nmi(labels, truth), 2), "acc": round(100 * cluster_accuracy(labels, truth), 2)}


def timed(fn):
    """Run ``fn()``; return (result, CPU seconds, wall seconds)."""
    c, w = time.process_time(), time.monotonic()
    out = fn()
    return out, time.process_time() - c, time.monotonic() - w


def kmeans_row(name: str, x: np.ndarray, k: int, truth: np.ndarray, seed: int) -> dict:
    from sklearn.cluster import KMeans

    km, cpu, wall = timed(lambda: KMeans(k, n_init=10, random_state=seed).fit(x))
    return dict(method=name, **scores(km.labels_, truth), cpu_s=round(cpu, 1), wall_s=round(wall, 1))


def stage_rows(stages, prefix: str) -> list[dict]:
    return [{"stage": f"{prefix}{s.name}", "cpu_s": round(s.cpu_s, 1), "wall_s": round(s.wall_s, 1), **s.info}
            for s in stages]


def print_table(title: str, rows: list[dict], thesis: dict) -> None:
    print(f"\n{title}")
    print(f"| method | NMI | ACC | thesis NMI | thesis ACC | CPU s | wall s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        t = thesis.get(r["method"], ("", ""))
        print(f"| {r['method']} | {r['nmi']:.1f} | {r['acc']:.1f} | {t[0]} | {t[1]} | {r['cpu_s']:.0f} | "
              f"{r['wall_s']:.0f} |")


def print_stages(stages: list[dict]) -> None:
    print("\n| stage | CPU s | wall s | info |")
    print("|---|---|---|---|")
    for s in stages:
        info = ", ".join(f"{k} {v}" for k, v in s.items() if k not in ("stage", "cpu_s", "wall_s"))
        print(f"| {s['stage']} | {s['cpu_s']:.1f} | {s['wall_s']:.1f} | {info} |")


def derc_pipeline(model, data, truth, k: int, args, prefix: str, rows: list, stages: list, name: str,
                  dec_name: str | None = None, **cfg_kw):
    """Pretrain ``model`` (DERC stage 1), optionally run DEC from a copy of it, then DERC's rounds. Appends the
    table rows and stage timings; returns the DERC result."""
    from faceedit.cluster.dec import run_dec
    from faceedit.cluster.derc import Derc, DercConfig
    from faceedit.cluster.training import Budget

    evaluate = lambda labels: scores(labels, truth)  # noqa: E731
    cfg = DercConfig(k=k, seed=args.seed, threads=args.threads, carry_mixture=args.carry_mixtures, **cfg_kw)
    derc = Derc(model, data, cfg, progress=not args.quiet, log=lambda m: print(m, file=sys.stderr, flush=True))
    pre = []
    derc.pretrain(Budget(), pre)
    stages += stage_rows(pre, prefix)
    pre_cpu, pre_wall = sum(s.cpu_s for s in pre), sum(s.wall_s for s in pre)
    if dec_name is not None:
        dec = run_dec(copy.deepcopy(model), data, k, batch_size=256, seed=args.seed, progress=not args.quiet,
                      evaluate=evaluate)
        stages += stage_rows(dec.stages, prefix)
        rows.append(dict(method=dec_name, **scores(dec.labels, truth),
                         cpu_s=round(pre_cpu + sum(s.cpu_s for s in dec.stages), 1),
                         wall_s=round(pre_wall + sum(s.wall_s for s in dec.stages), 1)))
        print(f"{dec_name}: {rows[-1]}", file=sys.stderr, flush=True)
    res = derc.run(evaluate=evaluate)
    stages += stage_rows(res.stages, prefix)
    rows.append(dict(method=name, **scores(res.labels, truth),
                     cpu_s=round(pre_cpu + sum(s.cpu_s for s in res.stages), 1),
                     wall_s=round(pre_wall + sum(s.wall_s for s in res.stages), 1)))
    print(f"{name}: {rows[-1]}", file=sys.stderr, flush=True)
    return res


# ------------------------------------------------------------------------------------------------------ MNIST
def run_mnist(args) -> dict:
    import torch

    from faceedit.cluster.idx import load_mnist
    from faceedit.cluster.model import AutoencoderConfig, ConvAutoencoder

    images, truth = load_mnist(args.mnist)
    if args.n:
        images, truth = images[:args.n], truth[:args.n]
    wall0 = time.monotonic()
    cpu0 = time.process_time()
    rows, stages = [], []
    rows.append(kmeans_row("k-means (pixels)", images.reshape(len(images), -1).astype(np.float32) / 255.0, 10, truth,
                           args.seed))
    print(f"k-means: {rows[-1]}", file=sys.stderr, flush=True)
    torch.manual_seed(args.seed)
    model = ConvAutoencoder(AutoencoderConfig(channels=1, size=28, widths=tuple(args.widths), d_z=10))
    data = torch.from_numpy(images[:, None].copy())
    res = derc_pipeline(model, data, truth, 10, args, "", rows, stages, "DERC", "DEC",
                        pretrain_epochs=args.pretrain_epochs, rounds=args.rounds, round_epochs=args.round_epochs,
                        batch_size=args.batch, alpha=args.alpha, margin=args.margin, lr=args.lr,
                        finetune_lr=args.finetune_lr)
    out = {"part": "mnist", "n": len(images), "rows": rows, "stages": stages,
           "total_cpu_s": round(time.process_time() - cpu0, 1), "total_wall_s": round(time.monotonic() - wall0, 1)}
    print_table(f"MNIST test set, {len(images)} digits, k = 10", rows, THESIS_MNIST)
    print_stages(stages)
    print(f"\ntotal: {out['total_cpu_s']:.0f} CPU s, {out['total_wall_s']:.0f} s wall")
    if args.out_dir:
        from faceedit.cluster.sheet import contact_sheet, save_png, tsne_scatter

        save_png(Path(args.out_dir) / "mnist_sheet.png", contact_sheet(images[:, None], res.labels, res.proba, 12))
        tsne_scatter(Path(args.out_dir) / "mnist_tsne.png", res.points, res.labels, "MNIST test, DERC", truth=truth)
    if args.compare_tsne:
        out["tsne"] = compare_tsne(res.features, truth, args)
    return out


def compare_tsne(features: np.ndarray, truth: np.ndarray, args) -> list[dict]:
    """openTSNE (FFT) against scikit-learn (Barnes-Hut) on the same features: CPU time and the clusters' quality."""
    from faceedit.cluster.embed import fit_mixture, tsne

    rows = []
    for backend in ("opentsne", "sklearn"):
        points, cpu, wall = timed(lambda: tsne(features, seed=args.seed, threads=args.threads, backend=backend))
        mix = fit_mixture(points, 10, seed=args.seed)
        rows.append(dict(backend=backend, n=len(features), cpu_s=round(cpu, 1), wall_s=round(wall, 1),
                         **scores(mix.labels, truth)))
        print(f"t-SNE {backend}: {rows[-1]}", file=sys.stderr, flush=True)
    print("\n| t-SNE backend | points | CPU s | wall s | NMI | ACC |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['n']} | {r['cpu_s']} | {r['wall_s']} | {r['nmi']} | {r['acc']} |")
    print(f"openTSNE uses {rows[0]['cpu_s'] / rows[1]['cpu_s']:.2f}× the CPU time of scikit-learn")
    return rows


# ------------------------------------------------------------------------------------------------------ faces
def pick_people(data_dir: Path, people: int, seed: int, min_images: int = 20) -> tuple[list[Path], np.ndarray]:
    """``people`` CelebA identities with at least ``min_images`` aligned images each (seeded choice): all their
    images and an identity index per image."""
    groups: dict[str, list[Path]] = {}
    with open(data_dir / "manifest.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("source") in ("celeba", "celeba-89x109") and str(row.get("identity", "")).startswith("celeba:"):
                groups.setdefault(row["identity"], []).append(data_dir / row["path"])
    names = sorted(n for n, files in groups.items() if len(files) >= min_images)
    if len(names) < people:
        raise SystemExit(f"only {len(names)} identities with >= {min_images} images in {data_dir}")
    chosen = sorted(np.random.default_rng(seed).choice(names, people, replace=False))
    paths, truth = [], []
    for i, name in enumerate(chosen):
        paths += sorted(groups[name])
        truth += [i] * len(groups[name])
    return paths, np.array(truth)


def run_faces(args) -> dict:
    import torch

    from faceedit.cluster.features import attribute_features, identity_features, read_images
    from faceedit.cluster.embed import fit_mixture, tsne
    from faceedit.cluster.model import AutoencoderConfig, ConvAutoencoder, FeatureAutoencoder

    paths, truth = pick_people(Path(args.faces), args.people, args.seed)
    k = args.people
    wall0, cpu0 = time.monotonic(), time.process_time()
    ident_fn, attr_fn = identity_features(), attribute_features()
    both = lambda x: torch.cat([ident_fn(x), attr_fn(x)], 1)  # noqa: E731
    imgs, cpu, wall = timed(lambda: read_images(paths, size=args.face_size, feature_fn=both, progress=not args.quiet))
    ident, attr = imgs.features[:, :128].numpy(), imgs.features[:, 128:].numpy()
    stages = [{"stage": "read + identity + attribute features", "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
               "images": len(paths)}]
    rows = []
    thumbs = imgs.thumbs
    rows.append(kmeans_row("k-means (pixels)", thumbs.flatten(1).float().numpy() / 255.0, k, truth, args.seed))
    rows.append(kmeans_row("k-means (identity descriptors)", ident, k, truth, args.seed))
    rows.append(kmeans_row("k-means (attribute features)", attr, k, truth, args.seed))

    def tsne_gmm(x):
        return fit_mixture(tsne(x, seed=args.seed, threads=args.threads), k, seed=args.seed).labels

    for name, x in (("t-SNE + GMM (identity descriptors)", ident), ("t-SNE + GMM (attribute features)", attr)):
        labels, cpu, wall = timed(lambda: tsne_gmm(x))
        rows.append(dict(method=name, **scores(labels, truth), cpu_s=round(cpu, 1), wall_s=round(wall, 1)))
    torch.manual_seed(args.seed)
    face_model = ConvAutoencoder(AutoencoderConfig(channels=3, size=args.face_size, widths=tuple(args.widths),
                                                   d_z=args.face_dz))
    res_own = derc_pipeline(face_model, thumbs, truth, k, args, "faces/own: ", rows, stages,
                            "DERC (own autoencoder)", "DEC (own autoencoder)",
                            pretrain_epochs=args.face_epochs, rounds=args.rounds, round_epochs=args.face_round_epochs,
                            batch_size=64, alpha=args.alpha, margin=args.margin, lr=args.lr,
                            finetune_lr=args.finetune_lr)
    results = {"own": res_own}
    for name, x in (("identity", ident), ("attributes", attr)):
        feats = torch.from_numpy((x - x.mean(0)) / (x.std(0) + 1e-6)).float()
        torch.manual_seed(args.seed)
        results[name] = derc_pipeline(FeatureAutoencoder(feats.shape[1], d_z=args.face_dz, hidden=256), feats, truth,
                                      k, args, f"faces/{name}: ", rows, stages, f"DERC from {name.rstrip('s')} features", None,
                                      pretrain_epochs=args.feature_epochs, rounds=args.rounds,
                                      round_epochs=args.face_round_epochs, batch_size=64, alpha=args.alpha,
                                      margin=args.margin, lr=args.lr, finetune_lr=args.finetune_lr)
    out = {"part": "faces", "people": k, "images": len(paths), "rows": rows, "stages": stages,
           "total_cpu_s": round(time.process_time() - cpu0, 1), "total_wall_s": round(time.monotonic() - wall0, 1)}
    print_table(f"CelebA, {k} people, {len(paths)} aligned faces ({args.face_size} px), k = {k}", rows, THESIS_FACES)
    print_stages(stages)
    print(f"\ntotal: {out['total_cpu_s']:.0f} CPU s, {out['total_wall_s']:.0f} s wall")
    if args.out_dir:
        from faceedit.cluster.sheet import contact_sheet, save_png, tsne_scatter

        for name, res in results.items():
            save_png(Path(args.out_dir) / f"faces_{name}_sheet.png",
                     contact_sheet(thumbs.numpy(), res.labels, res.proba, 10))
            tsne_scatter(Path(args.out_dir) / f"faces_{name}_tsne.png", res.points, res.labels,
                         f"{k} CelebA people, DERC ({name})", truth=truth)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("all", "mnist", "faces"), default="all")
    ap.add_argument("--mnist", default=str(HERE.parent.parent / "shared" / "data" / "mnist_test"))
    ap.add_argument("--faces", default=".cache/data128", help="an aligned build with manifest.jsonl")
    ap.add_argument("--n", type=int, default=0, help="use only the first N digits (0: all 10,000)")
    ap.add_argument("--widths", type=lambda s: [int(v) for v in s.split(",")], default=[8, 16, 16, 32, 32, 32],
                    help="the six conv widths of the autoencoders")
    ap.add_argument("--pretrain-epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=2e-3, help="autoencoder pretraining learning rate (Adam)")
    ap.add_argument("--finetune-lr", type=float, default=1e-3, help="DERC rounds' learning rate (Adam)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--round-epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--alpha", type=float, default=0.7)
    ap.add_argument("--margin", type=float, default=0.5)
    ap.add_argument("--compare-tsne", action="store_true")
    ap.add_argument("--carry-mixtures", action="store_true", help="also start each DERC round's mixture from the "
                    "previous round's clusters (default: a fresh fit every round)")
    ap.add_argument("--people", type=int, default=20)
    ap.add_argument("--face-size", type=int, default=64)
    ap.add_argument("--face-dz", type=int, default=32)
    ap.add_argument("--face-epochs", type=int, default=60)
    ap.add_argument("--face-round-epochs", type=int, default=4)
    ap.add_argument("--feature-epochs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=None, help="write contact sheets and t-SNE scatters here")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    print(f"# {platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} thread(s), "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    if args.part in ("all", "mnist"):
        results.append(run_mnist(args))
        print(json.dumps(results[-1]), flush=True)
    if args.part in ("all", "faces"):
        results.append(run_faces(args))
        print(json.dumps(results[-1]), flush=True)
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        from faceedit.atomic import write_json

        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
