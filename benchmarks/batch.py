"""Photos per second of ``faceedit batch`` on 1 and 2 local worker processes and on a local Ray instance with 2
workers, on the same photos and settings; Ray's overhead against the local pool.

    .venv/bin/python benchmarks/batch.py --n 24 --methods encoder hybrid:30 --engines local1 local2 ray2

The photos are ``--n`` aligned faces drawn from the embedded generator (seeds 0…n-1), edited with ``smiling=1.5``
(``--aligned``: no detector, so the figures are of inversion, edit, paste and the engines). For each method and
engine the script runs the whole job into a fresh folder and prints: the job's wall time (worker start-up and
model loading included), photos/s over the whole job, and the steady rate (photos/s between the first and the last
result, start-up excluded); ``vs local1``: the ratio to one local worker, ``ray/local``: Ray against the local
pool with the same number of workers. It also prints the 1-minute load average before and after (the machine is
shared). ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


class TimedEngine:
    """An engine wrapper that notes when each result arrives (seconds since the job started)."""

    def __init__(self, engine):
        self.engine = engine
        self.kind = engine.kind
        self.arrivals: list[float] = []

    def describe(self) -> str:
        return self.engine.describe()

    def map(self, factory, tasks):
        t0 = time.perf_counter()
        for out in self.engine.map(factory, tasks):
            self.arrivals.append(time.perf_counter() - t0)
            yield out


def make_faces(folder: Path, n: int) -> None:
    import torch
    from PIL import Image

    from faceedit import api
    from faceedit.media import to_uint8

    m = api.load("default")
    with torch.no_grad():
        imgs = to_uint8(m.synthesize(m.map(m.z_from_seeds(list(range(n))), 0.7)).clamp(-1, 1))
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(imgs):
        Image.fromarray(img).save(folder / f"face{i:04d}.png")


def run_one(method: str, steps: int | None, engine_name: str, faces: Path, out: Path) -> dict:
    from faceedit.batch import LocalPool, PhotoJob, RayPool, collect, run_photo_job

    workers = int(engine_name[-1])
    if engine_name.startswith("ray"):
        engine = RayPool("local", workers=workers, local_cpus=workers)
    else:
        engine = LocalPool(workers=workers)
    job = PhotoJob(method=method, steps=steps, aligned=True, edits=(("smiling", 1.5),), perceptual="perceptual")
    tasks, _ = collect([str(faces)], job)
    timed = TimedEngine(engine)
    t0 = time.perf_counter()
    try:
        if engine_name.startswith("ray"):
            engine.start()  # Ray's own start-up (a local instance) is timed separately
        t_ready = time.perf_counter()
        summary = run_photo_job(job, tasks, str(out), timed, quiet=True)
    finally:
        if engine_name.startswith("ray"):
            engine.close()
    wall = time.perf_counter() - t_ready
    arr = timed.arrivals
    steady = (len(arr) - 1) / (arr[-1] - arr[0]) if len(arr) > 1 and arr[-1] > arr[0] else float("nan")
    return {"method": method + (f":{steps}" if steps is not None else ""), "engine": engine_name,
            "photos": summary.ok, "errors": summary.errors + summary.skipped, "wall_s": wall,
            "ray_start_s": t_ready - t0, "rate": summary.ok / wall, "steady_rate": steady,
            "first_result_s": arr[0] if arr else float("nan"),
            "seconds_per_photo_in_worker": summary.stage_seconds.get("total", 0.0) / max(1, summary.ok)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=24, help="photos")
    ap.add_argument("--methods", nargs="+", default=["encoder", "hybrid:30"], help="METHOD or METHOD:STEPS")
    ap.add_argument("--engines", nargs="+", default=["local1", "local2", "ray2"],
                    choices=["local1", "local2", "ray1", "ray2"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not 2 <= args.n <= 10_000:
        ap.error("--n must be from 2 to 10,000")
    rows = []
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="faceedit-bench-batch-") as tmp:
        faces = Path(tmp) / "faces"
        make_faces(faces, args.n)
        for spec in args.methods:
            method, _, steps = spec.partition(":")
            for eng in args.engines:
                r = run_one(method, int(steps) if steps else None, eng, faces, Path(tmp) / f"out-{method}-{eng}")
                rows.append(r)
                print(f"  {r['method']:<10} {eng:<7} {r['wall_s']:6.1f} s  {r['rate']:.2f} photos/s  steady "
                      f"{r['steady_rate']:.2f}/s", file=sys.stderr, flush=True)
    load1 = os.getloadavg()[0]
    print(f"\n{args.n} aligned 64-px faces, edit smiling=1.5; 1-min load average {load0:.1f} before, {load1:.1f} "
          f"after; {os.cpu_count()} cores")
    print("| method | engine | wall s (start-up incl.) | first result s | photos/s | steady photos/s | "
          "worker s/photo | vs local1 (steady) | ray/local (steady) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = next((b for b in rows if b["method"] == r["method"] and b["engine"] == "local1"), None)
        local = next((b for b in rows if b["method"] == r["method"] and b["engine"] == "local" + r["engine"][-1]),
                     None)
        vs = f"{r['steady_rate'] / base['steady_rate']:.2f}×" if base else "–"
        rl = (f"{r['steady_rate'] / local['steady_rate']:.2f}× (wall {local['wall_s'] / r['wall_s']:.2f}×)"
              if local and r["engine"].startswith("ray") else "–")
        extra = f" (+{r['ray_start_s']:.1f} s Ray start)" if r["engine"].startswith("ray") else ""
        print(f"| {r['method']} | {r['engine']} | {r['wall_s']:.1f}{extra} | {r['first_result_s']:.1f} | "
              f"{r['rate']:.2f} | {r['steady_rate']:.2f} | {r['seconds_per_photo_in_worker']:.2f} | {vs} | {rl} |")
    if args.json is not None:
        from faceedit.atomic import write_json

        write_json(args.json, {"n": args.n, "load": [load0, load1], "rows": rows})


if __name__ == "__main__":
    main()
