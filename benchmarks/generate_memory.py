"""Peak memory of ``faceedit generate`` (streaming: each batch written before the next is drawn) against the
in-memory baseline (``Model.generate`` over all seeds, then writing the images), for a small and a large seed
count, each run in a fresh process (peak resident set size from ``getrusage``).

    .venv/bin/python benchmarks/generate_memory.py --seeds 100,2000 --batch 16

Prints one row per run and, per mode, the growth of the peak from the small to the large seed count.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(1)
mode, n, batch, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t = time.perf_counter()
if mode == "streaming":
    from faceedit.cli import main
    assert main(["generate", "--seeds", f"0-{n - 1}", "--batch", str(batch), "-o", out,
                 "--save-latents", out + "/latents.npz"]) == 0
else:  # the baseline: every image in memory, written at the end
    import numpy as np
    import faceedit
    from faceedit.latents import save_latents
    from faceedit.media import save_image
    m = faceedit.load()
    g = m.generate(seeds=range(n), batch_size=batch)
    for s, img in zip(range(n), g.images):
        save_image(f"{out}/seed{s:04d}.png", img)
    save_latents(out + "/latents.npz", g.ws.numpy(), model=m, seeds=np.arange(n))
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - t}))
"""


def run(mode: str, n: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
        r = subprocess.run([sys.executable, "-c", CHILD, mode, str(n), str(batch), tmp], env=env,
                           capture_output=True, text=True, check=True)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["files"] = len(list(Path(tmp).glob("seed*.png")))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="100,2000", help="two seed counts, small,large")
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    small, large = (int(x) for x in args.seeds.split(","))
    print(f"{'mode':<10} {'seeds':>6} {'peak MiB':>9} {'seconds':>8} {'files':>6}")
    peaks = {}
    for mode in ("in-memory", "streaming"):
        for n in (small, large):
            res = run(mode, n, args.batch)
            peaks[mode, n] = res["peak_mib"]
            print(f"{mode:<10} {n:>6} {res['peak_mib']:>9.1f} {res['seconds']:>8.1f} {res['files']:>6}", flush=True)
    for mode in ("in-memory", "streaming"):
        grow = peaks[mode, large] - peaks[mode, small]
        print(f"{mode}: peak grows by {grow:+.1f} MiB from {small} to {large} seeds "
              f"({grow / (large - small) * 1024:+.1f} KiB per seed)")


if __name__ == "__main__":
    main()
