"""Benchmark: do attribute edits still work on inverted photos? Hybrid (latent only) against pivotal (latent + the
photo's tuned generator), on the same validation faces.

    .venv/bin/python benchmarks/inversion_edits.py --n 16 --threads 1

Each face is inverted with both methods; then every attribute in ``--attrs`` is edited by ``--amount`` (the shipped
InterfaceGAN directions, ± amount) and drawn with each method's generator (pivotal: the face's tuned one). The
project's attribute classifier scores the images: ``AD_t`` is the mean change of the edited attribute's logit
between −amount and +amount in units of its spread over the unedited reconstructions (larger: the edit shows more),
``AD_o`` the mean absolute change of the other attributes (smaller: more disentangled; the StyleSpace paper's
attribute dependency). Also the reconstruction PSNR of each method, for reference.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=".cache/data128")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--attrs", default="smiling,young,male,eyeglasses,bangs", help="directions that are also "
                    "attributes of the classifier")
    ap.add_argument("--amount", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--latent-lr", type=float, default=None, help="pivotal: the pivot's learning rate (default: "
                    "the method's)")
    ap.add_argument("--steps", type=int, default=None, help="pivotal: tuning steps (default: the method's)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from faceedit import api
    from faceedit.edit.scoring import attribute_index, classifier_logits
    from faceedit.invert import invert_images
    from faceedit.data.rows import load_eval_faces
    from faceedit.metrics import quality

    model = api.load("default")
    imgs, what = load_eval_faces(args.data, model.resolution, args.n, 0)
    x = imgs.float() / 127.5 - 1
    logits, names = classifier_logits()
    holder = type("C", (), {"attributes": names})()
    attrs = [a.strip() for a in args.attrs.split(",") if a.strip()]
    print(f"{what}; {model.describe()}; edits ±{args.amount:g}", file=sys.stderr)
    rows, rec = [], {}
    for method in ("hybrid", "pivotal"):
        kw = {} if method == "hybrid" else {"steps": args.steps, **({} if args.latent_lr is None else
                                                                     {"latent_lr": args.latent_lr})}
        inv = invert_images(model, x, method=method, **kw)
        models = [inv.tuned.model(model, j) if inv.tuned is not None else model for j in range(len(x))]

        def draw(ws):
            with torch.no_grad():
                return torch.cat([models[j].synthesize(ws[j:j + 1]) for j in range(len(x))]).clamp(-1, 1)

        base = draw(inv.ws)
        rec[method] = float(quality.psnr(base, x).mean())
        with torch.no_grad():
            base_logits = logits(base)
        sigma = base_logits.std(0).clamp_min(1e-6)
        for a in attrs:
            t = attribute_index(holder, a)
            with torch.no_grad():
                lo = logits(draw(model.edit(inv.ws, {a: -args.amount})))
                hi = logits(draw(model.edit(inv.ws, {a: args.amount})))
            d = (hi - lo) / sigma / 2  # per unit of ±amount, averaged over both directions
            others = [i for i in range(len(names)) if i != t]
            rows.append({"method": method, "attr": a, "ad_t": float(d[:, t].mean()),
                         "ad_o": float(d[:, others].abs().mean())})
    print(f"| attribute | hybrid AD_t | pivotal AD_t | hybrid AD_o | pivotal AD_o |")
    print("|---|---|---|---|---|")
    by = {(r["method"], r["attr"]): r for r in rows}
    for a in attrs:
        h, p = by[("hybrid", a)], by[("pivotal", a)]
        print(f"| {a} | {h['ad_t']:.2f} | {p['ad_t']:.2f} | {h['ad_o']:.2f} | {p['ad_o']:.2f} |")
    print(f"reconstruction PSNR: hybrid {rec['hybrid']:.2f} dB, pivotal {rec['pivotal']:.2f} dB")
    print(json.dumps({"bench": "inversion_edits", "faces": what, "amount": args.amount, "rows": rows, "psnr": rec}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
