"""Attribute-direction speed on the embedded default model: samples scored per second while fitting (and where
the time goes), and milliseconds per edited frame (apply an edit to w+ and synthesise one image).

    python benchmarks/directions.py [--samples 512] [--batch 64] [--frames 48] [--threads N]
    python benchmarks/directions.py --big [--samples 4] [--batch 4] [--device auto] [--threads 1]

``--big``: fitting throughput for a 1024-px config-f generator (random weights: the speed does not depend on the
weights) with the project's scorers, three ways in one process on the same latents: the old path (full 1024-px
images back on the CPU, each scorer resizing them), the fitting path (synthesis on the device, reduced there to
the scorers' input size) in float32, and the same in bfloat16 (CPU) or NVIDIA's fp16 recipe (CUDA). Prints
samples per wall second and per CPU second of this process (on a shared machine the CPU-second figure is what
one free core gives), and the hours 20,000 samples would take.

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
    ap.add_argument("--big", action="store_true", help="1024-px config-f fitting throughput (see the docstring)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.big:
        big(args)
        return

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


def big(args) -> None:
    from faceedit import api, device
    from faceedit.edit.attributes import AttributeScorer
    from faceedit.edit.directions import sample_scores
    from faceedit.nn import Generator, GeneratorConfig

    compute = device.resolve(args.device, "auto")
    torch.manual_seed(0)
    m = api.Model(G=Generator(GeneratorConfig()).eval(), name="config-f-1024-random")
    m.G.to(compute.device)
    scorer = AttributeScorer.load(device=compute.device)
    print(f"model: 1024-px config-f (random weights), {compute.describe()}; scorers: {len(scorer.names)} scores "
          f"({'; '.join(scorer.notes) or 'classifier + face-api'}), input size {scorer.input_size} px")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    n, b = args.samples, args.batch

    def old_path() -> None:  # what sample_scores did before: full-size images to the CPU, scorers resize
        gen = torch.Generator().manual_seed(0)
        for i in range(0, n, b):
            ws = m.map(torch.randn(min(b, n - i), m.z_dim, generator=gen))
            scorer(m.synthesize(ws, batch_size=b))

    low = device.Compute(compute.device, "bf16" if compute.device.type == "cpu" else "fp16")
    runs = [("old: full-size images to the CPU, fp32", old_path, None),
            ("fitting path, fp32", lambda: sample_scores(m, scorer, n, batch_size=b), "fp32"),
            (f"fitting path, {low.describe().split(', ', 1)[1]}",
             lambda: sample_scores(m, scorer, n, batch_size=b, dtype=low.synthesis_dtype), low.precision)]
    ws_fixed = m.map(torch.randn(n, m.z_dim, generator=torch.Generator().manual_seed(0)))

    def synthesis_only(dtype):  # the synthesis alone, to show its share of a sample's cost
        def run() -> None:
            with torch.no_grad():
                for i in range(0, n, b):
                    m.G.synthesis(ws_fixed[i:i + b], noise_mode="const", dtype=dtype)
        return run

    runs += [("synthesis only, fp32", synthesis_only(None), "fp32"),
             (f"synthesis only, {low.precision}", synthesis_only(low.synthesis_dtype), low.precision)]
    sample_scores(m, scorer, 2, batch_size=2)  # warm-up
    base = None
    print(f"\n{'path':<58} {'samples/s':>10} {'samples/cpu-s':>14} {'20k samples':>12}  vs old")
    for label, fn, precision in runs:
        device.Compute(compute.device, precision or "fp32").prepare_generator(m.G)
        if compute.device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if compute.device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rate = n / wall
        base = base or rate
        print(f"{label:<58} {rate:>10.3f} {n / cpu:>14.3f} {20000 / rate / 3600:>10.2f} h  {rate / base:.2f}x")


if __name__ == "__main__":
    main()
