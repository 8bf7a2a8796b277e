"""Benchmark: the thesis's ch. 6 comparison — InterfaceGAN, StyleSpace and the thesis's layer-filtered channels (and
its unfiltered ablation) on the same attributes and faces, by Attribute Dependency, in one run.

    .venv/bin/python benchmarks/stylespace_ad.py --attrs Smiling,Male,Young --faces 64 --threads 1

For each attribute (the project's classifier): channels are found on ``--search-samples`` random faces by
``thesis`` (mean gradient over the positive half, layer filter, top ``--k``), ``unfiltered`` (the same gradients,
top k over all layers: Fig. 6-5's ablation) and ``stylespace`` (the StyleSpace paper's θ = |μᵖ − μ|/σᵖ over the
top 10 % of ``--stat-samples`` faces, top k over all layers; k = 1 is the paper's single-channel edit), each with
``--ks`` channels; InterfaceGAN is the fitted W direction (shipped for the default, or ``--directions``). Every
edit is applied at several strengths (``--alphas`` in σ of each channel for channel edits, ``--w-alphas`` units
for InterfaceGAN) to the same ``--faces`` other random faces; the classifier reads every image. Per edit: AD_t
(mean target change, σ of its logit), AD_o (mean |change| of the other attributes, σ), the thesis's AD =
|AD_t|/AD_o, and — the fair comparison — AD_o and AD interpolated at a matched target change AD_t = ``--match``.
Diagnostics: where each method's channels lie and how much of its criterion the k channels hold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


def matched(points: list[tuple[float, float]], target: float) -> tuple[float, float] | None:
    """(AD_o, AD) at AD_t = ``target`` by linear interpolation along the strengths (points: (AD_t, AD_o) in order
    of strength, from 0), or None when no strength reaches it."""
    pts = [(0.0, 0.0)] + points
    for (t0, o0), (t1, o1) in zip(pts, pts[1:]):
        if (t0 - target) * (t1 - target) <= 0 and t1 != t0:
            f = (target - t0) / (t1 - t0)
            ad_o = o0 + f * (o1 - o0)
            return ad_o, abs(target) / max(ad_o, 1e-12)
    return None


def prefix(direction, k: int):
    """The first ``k`` channels of a ranked :class:`StyleDirection`, weights renormalised to unit length."""
    import numpy as np

    from faceedit.edit.stylespace import StyleDirection

    w = np.asarray(direction.weights[:k], dtype=np.float64)
    return StyleDirection(list(direction.channels[:k]), [float(x) for x in w / (np.linalg.norm(w) or 1.0)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--attrs", default="Smiling,Male,Young")
    ap.add_argument("--faces", type=int, default=64, help="faces the edits are measured on")
    ap.add_argument("--search-samples", type=int, default=256, help="faces for the gradient searches")
    ap.add_argument("--stat-samples", type=int, default=2000, help="faces for StyleSpace's statistics")
    ap.add_argument("--ks", default="1,5,20", help="channels per edit; a comma list adds rows per k (the first k of "
                    "each ranking, found with the largest k)")
    ap.add_argument("--real", default=None, help="a data build folder: also compare the spread of the classifier's "
                    "logits over generated and real (validation) faces")
    ap.add_argument("--alphas", default="2,5,10,20", help="channel edit strengths (σ of each channel)")
    ap.add_argument("--w-alphas", default="0.5,1,2,3", help="InterfaceGAN strengths (units)")
    ap.add_argument("--match", type=float, default=1.0, help="the AD_t at which edits are compared")
    ap.add_argument("--directions", default=None, help="InterfaceGAN directions folder (default: shipped/fitted)")
    ap.add_argument("--trunc", type=float, default=0.7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from faceedit import api
    from faceedit.edit.ad import dependency, logits_of
    from faceedit.edit.channel_detection import detect_channels
    from faceedit.edit.directions import load_directions
    from faceedit.edit.scoring import classifier_logits, classifier_score
    from faceedit.edit.stylespace import apply_direction, style_stats

    model = api.load(args.model)
    load0 = os.getloadavg()[0]
    t_start = time.time()
    ks = sorted({int(k) for k in args.ks.split(",")})
    alphas = [float(a) for a in args.alphas.split(",")]
    w_alphas = [float(a) for a in args.w_alphas.split(",")]
    attrs = [a.strip() for a in args.attrs.split(",") if a.strip()]
    logits_fn, names = classifier_logits(model.device)
    lower = [n.lower() for n in names]
    dirs = load_directions(model, args.directions)
    stats = style_stats(model, 1000, truncation=args.trunc)
    sample = lambda n, seed: model.map(torch.from_numpy(  # noqa: E731
        np.random.RandomState(seed).randn(n, model.z_dim)).float(), args.trunc)
    search_ws, stat_ws = sample(args.search_samples, args.seed + 1), sample(args.stat_samples, args.seed + 2)
    eval_ws = sample(args.faces, args.seed + 3)
    base = logits_of(model, model.synthesize(eval_ws), logits_fn)
    sigma = base.std(0)
    channels = sum(c for _, c in model.style_layers)
    print(f"{model.describe()}; {len(model.style_layers)} StyleSpace layers, {channels} channels; "
          f"{args.threads} thread(s), {platform.machine()}, load avg {load0:.1f}", file=sys.stderr)
    results: dict[str, dict] = {}
    for attr in attrs:
        target = lower.index(attr.lower())
        score = classifier_score(names[target], model.device)
        edits = {}
        info = {}
        for method in ("thesis", "unfiltered", "stylespace"):
            ws = stat_ws if method == "stylespace" else search_ws
            ranked, det = detect_channels(method, model, ws, score, max(ks), stats)
            for k in ks:
                direction = prefix(ranked, k)
                name = method if len(ks) == 1 else f"{method} k={k}"
                edits[name] = (direction, alphas)
                info[name] = {"channels": [str(c) for c in direction.channels], "layers": det.layers[:k],
                              "top_share": det.top_share if k == max(ks) else None}
        edits["interfacegan"] = (None, w_alphas)
        info["interfacegan"] = {"direction": f"{attr.lower()} (w)"}
        for method, (direction, strengths) in edits.items():
            points, rows = [], []
            for a in strengths:
                if direction is None:
                    edited = model.synthesize(dirs.apply(eval_ws, {attr.lower(): a}))
                else:
                    edited = model.synthesize(styles=apply_direction(model.to_styles(eval_ws), direction, a, stats))
                r = dependency(base, logits_of(model, edited, logits_fn), target, sigma, method, a)
                points.append((r.ad_t, r.ad_o))
                rows.append({"alpha": a, "ad_t": r.ad_t, "ad_o": r.ad_o, "ratio": r.ratio, "ad": r.ad})
            m = matched(points, args.match)
            results[f"{attr}/{method}"] = {"attribute": attr, "method": method, "strengths": rows,
                                           "matched_ad_o": None if m is None else m[0],
                                           "matched_ad": None if m is None else m[1], **info[method]}
        print(f"stylespace_ad: {attr} done", file=sys.stderr)

    print(f"\nMatched comparison at AD_t = {args.match:g} σ ({args.faces} faces; AD_o over the other "
          f"{len(names) - 1} classifier attributes; AD = |AD_t|/AD_o, higher is more disentangled):")
    print("| attribute | method | AD_o at match | AD at match | max AD_t reached | channels (layers) | top-k share |")
    print("|---|---|---|---|---|---|---|")
    for r in results.values():
        top = max(s["ad_t"] for s in r["strengths"])
        mo = "–" if r["matched_ad_o"] is None else f"{r['matched_ad_o']:.3f}"
        ma = "–" if r["matched_ad"] is None else f"{r['matched_ad']:.2f}"
        where = r.get("direction") or ", ".join(r["channels"])
        share = f"{100 * r['top_share']:.1f} %" if r.get("top_share") is not None else "–"
        print(f"| {r['attribute']} | {r['method']} | {mo} | {ma} | {top:+.2f} | {where} | {share} |")
    print("\nAt each strength (the small run compared channel α 5 and 10 with InterfaceGAN 1–3 units, unmatched):")
    print("| attribute | method | strength | AD_t | AD_o | AD_o/AD_t | AD (thesis) |")
    print("|---|---|---|---|---|---|---|")
    for r in results.values():
        for s in r["strengths"]:
            print(f"| {r['attribute']} | {r['method']} | {s['alpha']:g} | {s['ad_t']:+.3f} | {s['ad_o']:.3f} | "
                  f"{s['ratio']:.3f} | {s['ad']:.2f} |")
    spread = None
    if args.real:
        from faceedit.data.rows import load_eval_faces

        real, what = load_eval_faces(args.real, model.resolution, args.faces, args.seed)
        real_sigma = logits_of(model, real.float() / 127.5 - 1, logits_fn).std(0)
        spread = {"faces": what, "median_sigma_ratio": float((sigma / real_sigma.clamp_min(1e-6)).median()),
                  "per_attribute": {a: float(sigma[lower.index(a.lower())] / real_sigma[lower.index(a.lower())])
                                    for a in attrs}}
        print(f"\nSpread of the classifier's logits, generated / real ({what}): median over the {len(names)} "
              f"attributes {spread['median_sigma_ratio']:.2f}; "
              + ", ".join(f"{a} {v:.2f}" for a, v in spread["per_attribute"].items()))
    rec = {"bench": "stylespace_ad", "model": model.name, "faces": args.faces, "ks": ks, "match": args.match,
           "logit_spread": spread,
           "style_layers": len(model.style_layers), "style_channels": channels, "threads": args.threads,
           "load_avg": [round(load0, 1), round(os.getloadavg()[0], 1)], "wall_s": round(time.time() - t_start, 1),
           "results": results}
    print(json.dumps(rec))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rec, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
