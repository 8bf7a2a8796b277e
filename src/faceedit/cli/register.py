"""``faceedit register P Q``: rigid registration of two (partial) point clouds or meshes with HOUV."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from faceedit.threads import set_threads
from faceedit.errors import FaceEditError
from faceedit.cli.options import OUT

#: Points one cloud is registered with at most (a seeded random subset of larger clouds).
MAX_REGISTER_POINTS = 20_000


def register(app: typer.Typer) -> None:
    @app.command("register")
    def register_cmd(
        source: Path = typer.Argument(..., help="cloud P to move (.ply/.obj/.off/.stl/.xyz/.npy)"),
        target: Path = typer.Argument(..., help="cloud Q to move it onto"),
        out: Optional[Path] = typer.Option(None, *OUT, help="write P moved onto Q here (a mesh stays a "
                                           "mesh in .ply/.obj/.off/.stl; points as .ply/.xyz/.npy)"),
        png: Optional[Path] = typer.Option(None, "--png", help="before/after picture of the two clouds (.png)"),
        as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
        settings: str = typer.Option("tuned", "--settings", help="tuned (screening with an FFT translation "
                                     "search, pruning, trimmed ICP; a wider search when --max-angle is over 45), "
                                     "quick (64 screened rotations and ICP, no Adam: for small rotations) or "
                                     "thesis (Adam lr 1e-3, 500 iterations, full hybrid loss)"),
        variant: str = typer.Option("pri", "--variant", help="pri (prior angle sub-spaces) or ori"),
        max_angle: float = typer.Option(180.0, "--max-angle", help="prior: largest rotation angle (degrees)"),
        groups: Optional[int] = typer.Option(None, "--groups", help="groups of variables g (default: the settings')"),
        iterations: Optional[int] = typer.Option(None, "--iterations", help="Adam steps (default: the settings')"),
        points: int = typer.Option(2048, "--points", help="points sampled on a mesh's surface; clouds larger than "
                                   f"this are subsampled (at most {MAX_REGISTER_POINTS})"),
        seed: int = typer.Option(0, "--seed", help="seed of the sampling and of the random groups"),
        threads: int = typer.Option(1, "--threads", help="CPU threads (0 = all)"),
    ) -> None:
        """Find the rotation R and translation t with Q ≈ R·P + t (P and Q may each be partial), print them, and
        optionally write the moved cloud and a before/after picture. `faceedit register a.ply b.ply -o a_on_b.ply
        --png check.png`."""
        import numpy as np

        from faceedit.geometry.clouds import load_cloud, save_cloud
        from faceedit.geometry.houv import SETTINGS, register as houv_register, settings as houv_settings

        if settings not in SETTINGS:
            raise FaceEditError(f"--settings must be one of {', '.join(SETTINGS)}, got {settings!r}")
        if not 3 <= points <= MAX_REGISTER_POINTS:
            raise FaceEditError(f"--points must be from 3 to {MAX_REGISTER_POINTS}, got {points}")
        if not (math.isfinite(max_angle) and 0 < max_angle <= 180):
            raise FaceEditError(f"--max-angle must be in (0, 180], got {max_angle}")
        if threads < 0:
            raise FaceEditError("--threads must be 0 (all cores) or more")
        if png is not None and png.suffix.lower() != ".png":
            raise FaceEditError(f"--png {png}: the picture is written as .png")
        if threads:
            set_threads(threads)
        config = replace(houv_settings(settings, max_angle), variant=variant, seed=seed)
        if groups is not None:
            config = replace(config, groups=groups, keep=min(config.keep, groups),
                             angle_bins=max(1, min(config.angle_bins, groups)),
                             screen=max(config.screen, groups) if config.screen else 0)
        if iterations is not None:
            config = replace(config, iterations=iterations, prune_at=min(config.prune_at, iterations))
        config.check()
        p_file = load_cloud(source, mesh_points=points, seed=seed)
        q_file = load_cloud(target, mesh_points=points, seed=seed + 1)
        rng = np.random.default_rng(seed)

        def cap(x: np.ndarray) -> np.ndarray:
            return x if len(x) <= points else x[np.sort(rng.choice(len(x), points, replace=False))]

        p, q = cap(p_file.points), cap(q_file.points)
        reg = houv_register(p, q, config)
        r, t = reg.rotation[0], reg.translation[0]
        angle = float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))
        result = {"source": str(source), "target": str(target), "points": [len(p), len(q)],
                  "rotation": np.round(r, 8).tolist(), "translation": np.round(t, 8).tolist(),
                  "matrix": np.round(reg.matrix(0), 8).tolist(), "angle_deg": round(angle, 4),
                  "loss": round(float(reg.loss[0]), 6), "seconds": round(reg.seconds, 3),
                  "settings": settings, "variant": variant}
        if out is not None:
            moved = p_file.points @ r.T + t
            save_cloud(out, moved, mesh=p_file.mesh, transform=reg.matrix(0))
            result["out"] = str(out)
        if png is not None:
            from faceedit.geometry.plot import save_before_after

            save_before_after(png, p, q, r, t, title=f"{source.name} onto {target.name}: rotation {angle:.1f}°")
            result["png"] = str(png)
        if as_json:
            print(json.dumps(result))
            return
        print(f"registered {source} ({len(p)} points) onto {target} ({len(q)} points) in {reg.seconds:.2f} s "
              f"(HOUV_{variant}, {settings} settings)")
        print(f"rotation {angle:.3f} deg; R =")
        for row in r:
            print("  " + "  ".join(f"{v:+.6f}" for v in row))
        print("t = " + "  ".join(f"{v:+.6f}" for v in t))
        print(f"loss {reg.loss[0]:.5f} (normalised units)")
        if out is not None:
            print(f"wrote {out}")
        if png is not None:
            print(f"wrote {png}")
