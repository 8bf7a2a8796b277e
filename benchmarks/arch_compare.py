"""Choose the default generator's architecture by measurement: short training runs of equal wall-clock budget,
one after the other on the same machine, each scored with `faceedit eval realism` (FD in face-api features against
the real-vs-real floor). Prints a markdown table: realism reached per budget, kimg, images/s, parameters.

    python benchmarks/arch_compare.py --budget 20m --threads 2 [--configs base,wide,deep-map,res32,small-d]
        [--data ../shared/data/celebamask-hq/images] [--out runs/arch] [--n 250]

Run it on a quiet machine (nothing else using the cores), so that the budgets buy the same compute. A config whose
run folder already exists is resumed up to the budget (so an interrupted comparison can be continued); delete
--out to start over. Budgets of 20-30 minutes rank the configurations for the early phase of training only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# name → train gan flags (all at batch 32, z/w 256, the shipped default's training settings otherwise)
CONFIGS = {
    "base": ["--res", "64", "--channel-base", "2048", "--channel-max", "128", "--mapping-layers", "2"],
    "wide": ["--res", "64", "--channel-base", "4096", "--channel-max", "192", "--mapping-layers", "2"],
    "narrow": ["--res", "64", "--channel-base", "1024", "--channel-max", "96", "--mapping-layers", "2"],
    "deep-map": ["--res", "64", "--channel-base", "2048", "--channel-max", "128", "--mapping-layers", "4"],
    "small-d": ["--res", "64", "--channel-base", "2048", "--channel-max", "128", "--mapping-layers", "2",
                "--d-channel-base", "1024", "--d-channel-max", "96"],
    # the same as base with another seed: how far two runs of one config differ (run-to-run noise)
    "base-seed1": ["--res", "64", "--channel-base", "2048", "--channel-max", "128", "--mapping-layers", "2",
                   "--seed", "1"],
    "res32": ["--res", "32", "--channel-base", "2048", "--channel-max", "128", "--mapping-layers", "2"],
}
#: The batch and latent sizes of every config above.
COMMON = ["--batch", "32", "--z-dim", "256", "--w-dim", "256"]
#: --smoke: a tiny network for a few seconds, scored in its own discriminator's features (no weights to fetch).
SMOKE = ["--res", "16", "--batch", "4", "--z-dim", "16", "--w-dim", "16", "--channel-base", "128", "--channel-max",
         "32", "--mapping-layers", "1"]


def _faceedit() -> list[str]:
    return [sys.executable, "-m", "faceedit"]


def run_config(name: str, args) -> dict:
    run = Path(args.out) / name
    rep_path = run / "realism_compare.json"
    if args.report_only:
        if not rep_path.is_file():
            sys.exit(f"error: {name} has no figures yet ({rep_path}); run it without --report-only")
        return summarise(name, run, json.loads(rep_path.read_text()))
    cmd = _faceedit() + ["train", "gan", "--data", args.data, "--run-dir", str(run), "--time-budget", args.budget,
                         "--threads", str(args.threads), "--no-progress", "--checkpoint-minutes", "5",
                         "--sample-minutes", "60"]
    cmd += SMOKE if args.smoke else COMMON + CONFIGS[name]
    if args.data_limit:
        cmd += ["--data-limit", str(args.data_limit)]
    subprocess.run(cmd, check=True)
    subprocess.run(_faceedit() + ["eval", "realism", "--model", str(run), "--real", args.data, "--n", str(args.n),
                                 "--features", args.features, "--json", str(rep_path)], check=True)
    return summarise(name, run, json.loads(rep_path.read_text()))


def summarise(name: str, run: Path, rep: dict) -> dict:
    """One table row from a finished run folder and its realism figures."""
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    last = log[-1] if log else {}
    from faceedit.train.checkpoint import load_checkpoint

    state = load_checkpoint(run / "checkpoint.pt")  # the restricted loader: a checkpoint never runs code
    g_params = sum(v.numel() for v in state["G_ema"].values()) / 1e6
    d_params = sum(v.numel() for v in state["D"].values()) / 1e6
    flags = " ".join(SMOKE if name == "smoke" else CONFIGS[name])
    return {"config": name, "flags": flags, "kimg": state["cur_nimg"] / 1000, "img_s": last.get("img_per_s"),
            "G_M": g_params, "D_M": d_params,
            "fd": rep["fd"], "floor": rep["fd_floor"], "ratio": rep["fd"] / rep["fd_floor"], "kid": rep["kid"],
            "res": rep["resolution"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", default="20m", help="wall-clock budget per config (e.g. 20m)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--configs", default="base,wide,narrow,deep-map,small-d,res32")
    ap.add_argument("--data", default="../shared/data/celebamask-hq/images")
    ap.add_argument("--data-limit", type=int, default=0, help="use only the first N images (smoke tests)")
    ap.add_argument("--out", default="runs/arch")
    ap.add_argument("--n", type=int, default=250, help="samples per set for the realism figure")
    ap.add_argument("--report-only", action="store_true", help="print the table from the runs and figures already "
                    "in --out (no training, no evaluation)")
    ap.add_argument("--features", default="faceapi", help="features of the realism figure (eval realism --features)")
    ap.add_argument("--smoke", action="store_true", help="one tiny network for 3 s, n=12, D features (tests)")
    args = ap.parse_args()
    if args.smoke:
        args.configs, args.budget, args.n, args.features = "smoke", "3s", 12, "disc"
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONFIGS and not (args.smoke and c == "smoke")]
    if unknown:
        sys.exit(f"error: unknown config(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    rows = [run_config(n, args) for n in names]
    print(f"\nequal budgets of {args.budget} wall, {args.threads} thread(s); realism n={args.n} "
          "(FD in face-api features; ratio = FD / real-vs-real floor; lower is better)\n")
    print("| config | res | G (M) | D (M) | kimg | img/s | FD | floor | FD/floor | KID |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["ratio"]):
        print(f"| {r['config']} | {r['res']} | {r['G_M']:.2f} | {r['D_M']:.2f} | {r['kimg']:.1f} | "
              f"{r['img_s'] or 0:.1f} | {r['fd']:.2f} | {r['floor']:.2f} | {r['ratio']:.2f} | {r['kid']:.4f} |")
    print("\n(res32 is scored at 32 px against 32-px reals: compare it with care)")


if __name__ == "__main__":
    main()
