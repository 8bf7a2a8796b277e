"""3D head pose from 68 landmarks (faceedit.geometry.headpose): HOUV against the closed-form (Kabsch) fit.

1. Known poses: the canonical face's 68 landmarks turned to a grid of (yaw, pitch, roll), projected by a
   perspective camera 60 cm away (no image rendering), with Gaussian pixel noise; the pose is estimated from the
   2D points. Mean absolute error per angle, share of faces within 5° on every angle, time per face.
2. The yaw edit: faces of the default model edited along its shipped ``yaw`` direction by A = −3 … 3 (what
   ``faceedit edit --seed N --yaw A`` draws), upscaled to 256 px, dlib landmarks, yaw estimated; is it monotonic
   in A? (Spearman ρ per seed, and the share of seeds whose estimates strictly increase.)

    .venv/bin/python benchmarks/headpose.py --seeds 0-11 --threads 1
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np
import torch

from faceedit.geometry.headpose import estimate_pose, matrix_from_euler, project


def known_poses(noise_px: float, seed: int = 0, step: int = 1) -> None:
    """Estimate the poses of the grid (every ``step``-th pose of it) from projected landmarks; print a row per
    method and number of rounds."""
    rng = np.random.default_rng(seed)
    grid = list(itertools.product((-60, -45, -30, -15, 0, 15, 30, 45, 60), (-30, -15, 0, 15, 30), (-20, 0, 20)))
    grid = grid[::step]
    # face about 160 px wide (10 px per cm): noise in pixels
    lms = np.stack([project(matrix_from_euler(*a), scale=10.0) + rng.normal(scale=noise_px, size=(68, 2))
                    if noise_px else project(matrix_from_euler(*a), scale=10.0) for a in grid])
    truth = np.array(grid, dtype=float)
    for method, rounds in (("kabsch", 1), ("kabsch", 6), ("houv", 1), ("houv", 6)):
        t0 = time.perf_counter()
        poses = estimate_pose(lms, method=method, rounds=rounds)
        dt = (time.perf_counter() - t0) / len(grid)
        est = np.array([[p.yaw, p.pitch, p.roll] for p in poses])
        err = np.abs(est - truth)
        within = float((err.max(1) < 5).mean())
        print(f"{method:<7} {rounds:>6} {noise_px:>5.1f} {err[:, 0].mean():7.2f} {err[:, 1].mean():7.2f} "
              f"{err[:, 2].mean():7.2f} {err.max():7.1f} {100 * within:8.0f}% {1000 * dt:9.1f}", flush=True)


def yaw_edit(seeds: list[int], amounts: list[float]) -> None:
    from PIL import Image

    import faceedit
    from faceedit.align import detect_faces, have_dlib
    from faceedit.edit.attributes import landmark_geometry
    from faceedit.media import to_uint8

    if not have_dlib():
        print("yaw edit: dlib missing, skipped")
        return
    model = faceedit.load("default")
    ws = model.map(model.z_from_seeds(seeds), 0.7)
    table = {m: np.full((len(seeds), len(amounts)), np.nan) for m in ("houv", "kabsch", "landmark yaw")}
    for j, a in enumerate(amounts):
        images = to_uint8(model.synthesize(model.edit(ws, yaw=a)))
        for i, img in enumerate(images):
            big = np.asarray(Image.fromarray(img).resize((256, 256), Image.BICUBIC))
            faces = detect_faces(big)
            if not faces:
                continue
            lm = faces[0].landmarks
            for m in ("houv", "kabsch"):
                table[m][i, j] = estimate_pose(lm, method=m)[0].yaw
            table["landmark yaw"][i, j] = float(landmark_geometry(torch.tensor(lm[None]))["yaw"][0])
    print(f"\nyaw edit, default model, seeds {seeds[0]}-{seeds[-1]}, amounts {amounts}")
    print(f"{'estimator':<14} {'faces found':>11} {'mean yaw per amount (deg)':<60} {'Spearman':>8} {'monotone':>8}")
    for m, t in table.items():
        found = int(np.isfinite(t).sum())
        means = " ".join(f"{v:6.1f}" for v in np.nanmean(t, 0))
        rhos, mono = [], 0
        for row in t:
            ok = np.isfinite(row)
            if ok.sum() >= 3:
                r = np.argsort(np.argsort(row[ok]))
                x = np.argsort(np.argsort(np.array(amounts)[ok]))
                rhos.append(float(np.corrcoef(r, x)[0, 1]))
                mono += bool(np.all(np.diff(row[ok]) > 0))
        print(f"{m:<14} {found:>5}/{t.size:<5} {means:<60} {np.mean(rhos):8.3f} {mono:>4}/{len(rhos)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0-11")
    ap.add_argument("--amounts", default="-3,-2,-1,0,1,2,3")
    ap.add_argument("--noise", default="0,1", help="pixel noise σ values for the known-pose grid")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-edit", action="store_true")
    ap.add_argument("--grid-step", type=int, default=1, help="use every N-th pose of the known-pose grid (smoke runs)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from faceedit.cli.options import parse_seeds

    if not 1 <= args.grid_step <= 135:
        sys.exit("error: --grid-step must be from 1 to 135")
    every = f" (every {args.grid_step}th)" if args.grid_step > 1 else ""
    print(f"known poses: 9 yaw x 5 pitch x 3 roll = 135 faces{every}, perspective camera at 60 cm, 10 px/cm")
    print(f"{'method':<7} {'rounds':>6} {'noise':>5} {'yaw MAE':>7} {'pitch':>7} {'roll':>7} {'max':>7} "
          f"{'all < 5°':>9} {'ms/face':>9}")
    for noise in (float(x) for x in args.noise.split(",")):
        known_poses(noise, step=args.grid_step)
    if not args.skip_edit:
        yaw_edit(parse_seeds(args.seeds), [float(a) for a in args.amounts.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
