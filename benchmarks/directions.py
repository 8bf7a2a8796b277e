"""Attribute-direction speed on the embedded default model: samples scored per second while fitting (and where
the time goes), and milliseconds per edited frame (apply an edit to w+ and synthesise one image).

    python benchmarks/directions.py [--samples 512] [--batch 64] [--frames 48] [--threads N]

"edited frame" is what `faceedit animate` and the web page's sliders do per frame. The baseline in the same run is
re-mapping the seed and synthesising without the edit (the floor any edit pays); an edit should add < 1 ms to it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch


def _timed(fn, repeats: int = 1) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import faceedit
    from faceedit.edit.attributes import AttributeScorer
    from faceedit.edit.directions import Direction, DirectionSet, sample_scores

    m = faceedit.load()
    scorer = AttributeScorer.load()
    print(f"model: {m.describe()}; scorers: {len(scorer.names)} scores "
          f"({'; '.join(scorer.notes) or 'classifier + face-api'})")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}")

    z = torch.randn(args.batch, m.z_dim)
    ws = m.map(z)
    t_syn = _timed(lambda: m.synthesize(ws, batch_size=args.batch), 2) / args.batch
    imgs = m.synthesize(ws, batch_size=args.batch)
    parts = []
    for names, fn in scorer.sources:
        t = _timed(lambda fn=fn: fn(imgs), 2) / args.batch
        parts.append((f"{names[0]}… ({len(names)} scores)", t))
    data = sample_scores(m, scorer, args.samples, batch_size=args.batch)
    rate = args.samples / data.seconds
    print(f"\nfitting throughput: {rate:.1f} samples/s end to end ({args.samples} samples, batch {args.batch})")
    print(f"  synthesis {1000 * t_syn:.2f} ms/sample")
    for label, t in parts:
        print(f"  scorer {label}: {1000 * t:.2f} ms/sample")

    d = Direction("bench", "w", torch.randn(m.w_dim).numpy(), 1.0)
    ds = DirectionSet([d])
    w1 = m.map(m.z_from_seeds([1]), 0.7)
    frames = ds.sweep(w1, ["bench"], -3, 3, args.frames)
    t_base = _timed(lambda: m.synthesize(m.map(m.z_from_seeds([1]), 0.7)), args.frames)
    t_edit = _timed(lambda: [m.synthesize(ds.apply(w1, {"bench": 1.5})) for _ in range(args.frames)]) / args.frames
    t_anim = _timed(lambda: [m.synthesize(f) for f in frames]) / len(frames)
    print(f"\nper edited frame ({m.resolution} px, one image): {1000 * t_edit:.2f} ms "
          f"(baseline seed → image without edit: {1000 * t_base:.2f} ms; ratio {t_edit / t_base:.2f}×); "
          f"animation frames from a precomputed sweep: {1000 * t_anim:.2f} ms")


if __name__ == "__main__":
    main()
