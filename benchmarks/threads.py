"""CPU threads on a busy machine: an inversion-like workload (generator forward + backward through w+, Adam steps)
timed with torch's own default (one thread per core), with one thread and with faceedit's default
(:func:`faceedit.threads.default_threads`: the cores the recent load leaves free).

    python benchmarks/threads.py [--steps 30] [--repeats 2] [--model default]

All runs are in this process, one after the other, on the same model and latent (interleaved: one, all, faceedit,
one, all, faceedit … so that a change of the machine's load hits every setting alike). It prints the load average
and core count it saw, the seconds per run of each setting and the ratios against torch's default.
"""

from __future__ import annotations

import argparse
import os
import time


def run(model, w0, steps: int, threads: int) -> float:
    """Seconds for ``steps`` optimisation steps of w+ towards a fixed target image on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    target = model.synthesize(w0.flip(1)).detach()
    w = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=0.01)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss = (model.G.synthesis(w, noise_mode="const") - target).square().mean()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default="default")
    args = ap.parse_args()

    import torch

    from faceedit.model import load
    from faceedit.threads import default_threads, load_average, usable_cores

    torch_default = torch.get_num_threads()
    cores, load_avg = usable_cores(), load_average()
    ours = default_threads()
    model = load(args.model)
    w0 = model.as_ws(model.map(model.z_from_seeds([1]), 0.7))
    settings = {"torch default": torch_default, "one thread": 1, "faceedit default": ours}
    times: dict[str, list[float]] = {k: [] for k in settings}
    run(model, w0, 2, 1)  # warm-up
    for _ in range(args.repeats):
        for name, n in settings.items():
            times[name].append(run(model, w0, args.steps, n))
    print(f"machine: {cores} usable cores, 1-min load average {load_avg if load_avg is None else round(load_avg, 2)} at the "
          f"start, {os.getloadavg()[0]:.2f} at the end; {args.steps} steps of {args.model} per run")
    base = min(times["torch default"])
    print(f"{'setting':18s} {'threads':>7s} {'best s':>8s} {'all runs s':>20s} {'speed vs torch':>15s}")
    for name, n in settings.items():
        best = min(times[name])
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"{name:18s} {n:7d} {best:8.2f} {runs:>20s} {base / best:14.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
