"""Benchmark: aligned faces per second (load + detect + 68 landmarks + FFHQ warp) over CelebA photos.

    .venv/bin/python benchmarks/align.py --n 1000 --workers 2 --size 256

Prints a per-stage breakdown measured in one process, then the end-to-end rate with ``--workers`` processes,
and one JSON line with every figure. The 1-minute load average before and after is printed too: on a shared
machine other jobs slow the figure down.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

DEFAULT_SRC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "celeba" / "img_align_celeba"


def _one(job):
    path, size = job
    from faceedit.align import align_face, load_image
    from faceedit.errors import FaceEditError

    c0 = time.process_time()
    try:
        align_face(load_image(path), size=size, name=path)
        ok = 1
    except FaceEditError:
        ok = 0
    return ok, time.process_time() - c0


def _stages(files, size):
    from faceedit.align import align_landmarks, detect_faces, load_image
    from faceedit.align.detect import _boxes, _model

    _model("hog"), _model("landmarks68")
    img = load_image(files[0])  # warm-up: first-call imports (scipy.ndimage) are not per-image costs
    align_landmarks(img, detect_faces(img)[0].landmarks, size)
    t = {"load": 0.0, "detect+landmarks": 0.0, "warp": 0.0}
    detect_only = 0.0
    for f in files:
        t0 = time.perf_counter()
        img = load_image(f)
        t1 = time.perf_counter()
        _boxes(img, "auto")
        t2 = time.perf_counter()
        faces = detect_faces(img)
        t3 = time.perf_counter()
        if faces:
            align_landmarks(img, faces[0].landmarks, size)
        t4 = time.perf_counter()
        t["load"] += t1 - t0
        detect_only += t2 - t1
        t["detect+landmarks"] += t3 - t2
        t["warp"] += t4 - t3
    n = len(files)
    out = {k: 1000 * v / n for k, v in t.items()}
    out["detect (boxes only)"] = 1000 * detect_only / n
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC, help="folder of photos (default: CelebA 178x218)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stage-n", type=int, default=100, help="images for the per-stage breakdown")
    args = ap.parse_args(argv)
    if not args.src.is_dir():
        print(f"error: {args.src} not found", file=sys.stderr)
        return 2
    files = sorted(str(p) for p in args.src.iterdir() if p.suffix.lower() in (".jpg", ".png"))[: args.n]
    load0 = os.getloadavg()[0]
    stages = _stages(files[: args.stage_n], args.size)
    print(f"per image, one process, {args.stage_n} images: " + ", ".join(f"{k} {v:.1f} ms" for k, v in stages.items()))
    jobs = [(f, args.size) for f in files]
    ctx = mp.get_context("spawn")  # fork after dlib has run in this process can deadlock
    t0 = time.perf_counter()
    with ctx.Pool(args.workers, initializer=_one, initargs=((files[0], args.size),)) as pool:
        t0 = time.perf_counter()  # models loaded in every worker by the initializer
        results = list(pool.imap_unordered(_one, jobs, chunksize=8))
    dt = time.perf_counter() - t0
    ok = sum(r[0] for r in results)
    cpu = sum(r[1] for r in results)
    load1 = os.getloadavg()[0]
    rate = len(files) / dt
    res = {"images": len(files), "aligned": ok, "seconds": round(dt, 2), "faces_per_s": round(rate, 2),
           "workers": args.workers, "cpu_ms_per_image": round(1000 * cpu / len(files), 2),
           "faces_per_s_if_cores_were_free": round(args.workers * len(files) / cpu, 2), "size": args.size, "cpu_count": os.cpu_count(), "machine": platform.processor()
           or platform.machine(), "loadavg_before": round(load0, 2), "loadavg_after": round(load1, 2),
           "stages_ms": {k: round(v, 2) for k, v in stages.items()}}
    print(f"{len(files)} images, {ok} aligned at {args.size} px in {dt:.1f} s with {args.workers} workers: "
          f"{rate:.1f} images/s (load average {load0:.1f} -> {load1:.1f}); CPU time {1000 * cpu / len(files):.1f} ms "
          f"per image, i.e. {args.workers * len(files) / cpu:.1f} images/s on {args.workers} otherwise idle cores")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
