"""Benchmark: latency of the web API's edit requests under a burst of concurrent clients (loopback only).

    .venv/bin/python benchmarks/serve_load.py --requests 50 --concurrency 50 --threads 1

Starts the app in this process (uvicorn in a thread, 127.0.0.1, a free port) on the default model, creates a few
faces, times ``--serial`` edits one at a time (the live-preview case), then fires ``--requests`` edit requests
with at most ``--concurrency`` in flight (httpx async), each with a different amount, and prints p50/p99 latency
and throughput, plus how many the bounded queue refused (503). Bounded: at most 1,000 requests and
``--max-seconds`` of wall time. The 1-minute load average is printed: other jobs on the machine slow it down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time

import numpy as np


def directions_for(model):
    """The directions fitted for the model, else random unit vectors (same cost per request)."""
    from faceedit.edit.directions import Direction, DirectionSet, load_directions
    from faceedit.errors import FaceEditError

    try:
        return load_directions(model), "fitted"
    except FaceEditError:
        rng = np.random.default_rng(0)
        dirs = []
        for name in ("smiling", "age", "male"):
            v = rng.standard_normal(model.w_dim).astype(np.float32)
            dirs.append(Direction(name, "w", v / np.linalg.norm(v), scale=1.0))
        return DirectionSet(dirs), "random (no fitted directions for this model yet)"


def percentile(xs, q):
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


async def burst(url, sessions, attrs, n, concurrency, max_seconds):
    import httpx

    sem = asyncio.Semaphore(concurrency)
    lat, codes = [], {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=max_seconds) as client:
        async def one(i):
            sid = sessions[i % len(sessions)]
            amounts = {attrs[i % len(attrs)]: round(-3 + 6 * (i % 13) / 12, 2)}
            async with sem:
                t0 = time.perf_counter()
                r = await client.post(f"/api/sessions/{sid}/edit", json={"amounts": amounts})
                dt = time.perf_counter() - t0
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            if r.status_code == 200:
                lat.append(dt)

        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), max_seconds)
        wall = time.perf_counter() - t0
    return lat, codes, wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--queue", type=int, default=64, help="the server's bounded queue (renders queued at once)")
    ap.add_argument("--workers", type=int, default=1, help="the server's render threads")
    ap.add_argument("--serial", type=int, default=20, help="edits timed one at a time first")
    ap.add_argument("--faces", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--max-seconds", type=float, default=120.0)
    args = ap.parse_args()
    if not 1 <= args.requests <= 1000 or not 1 <= args.concurrency <= 200:
        ap.error("--requests must be 1-1000 and --concurrency 1-200")

    import httpx
    import torch

    from faceedit import api
    from faceedit.web import create_app
    from faceedit.web.server import background_server

    torch.set_num_threads(args.threads)
    model = api.load(args.model)
    directions, kind = directions_for(model)
    app = create_app(model, directions, False, max_pending=args.queue, render_workers=args.workers)
    attrs = directions.names
    load0 = os.getloadavg()[0]
    with background_server(app, "127.0.0.1") as url:
        with httpx.Client(base_url=url, timeout=30) as c:
            sessions = [c.post("/api/generate", json={"seed": s}).json()["id"] for s in range(args.faces)]
            serial = []
            for i in range(args.serial + 3):
                t0 = time.perf_counter()
                r = c.post(f"/api/sessions/{sessions[i % len(sessions)]}/edit",
                           json={"amounts": {attrs[0]: 0.5 * (i % 7) - 1.5}})
                r.raise_for_status()
                if i >= 3:  # warm-up
                    serial.append(time.perf_counter() - t0)
        lat, codes, wall = asyncio.run(burst(url, sessions, attrs, args.requests, args.concurrency,
                                             args.max_seconds))
    load1 = os.getloadavg()[0]
    ok = codes.get(200, 0)
    res = {
        "model": model.describe(), "directions": kind, "torch_threads": args.threads, "workers": args.workers,
        "serial_p50_ms": 1000 * percentile(serial, 50), "serial_p99_ms": 1000 * percentile(serial, 99),
        "requests": args.requests, "concurrency": args.concurrency, "queue": args.queue, "codes": codes,
        "burst_p50_ms": 1000 * percentile(lat, 50), "burst_p99_ms": 1000 * percentile(lat, 99),
        "burst_max_ms": 1000 * max(lat) if lat else float("nan"), "wall_s": wall,
        "throughput_rps": ok / wall if wall else float("nan"),
        "load_avg_1min": [round(load0, 2), round(load1, 2)], "cpus": os.cpu_count(), "machine": platform.machine(),
    }
    print(f"model: {res['model']}; directions: {kind}; torch threads {args.threads}; "
          f"load average {load0:.2f} → {load1:.2f} on {os.cpu_count()} CPUs")
    print(f"one at a time ({len(serial)} edits): p50 {res['serial_p50_ms']:.1f} ms, p99 {res['serial_p99_ms']:.1f} ms")
    print(f"burst of {args.requests} edits, {args.concurrency} concurrent (queue {args.queue}, {args.workers} render "
          f"threads): {ok} ok, "
          f"{codes.get(503, 0)} refused (503); p50 {res['burst_p50_ms']:.1f} ms, p99 {res['burst_p99_ms']:.1f} ms, "
          f"max {res['burst_max_ms']:.1f} ms; {res['throughput_rps']:.1f} requests/s over {wall:.2f} s")
    print(json.dumps(res))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
