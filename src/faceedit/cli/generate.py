"""``faceedit generate``: faces from seeds, as single images and/or a grid, with their latents."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from faceedit.cli.batch_jobs import RAY_HELP, RESUME_HELP, THREADS_HELP, WORKERS_HELP
from faceedit.cli.device_options import DeviceOpt, PrecisionOpt, on_device
from faceedit.cli.options import OUT, TRUNC, ModelOpt, parse_seeds
from faceedit.errors import FaceEditError


def generate(
    seeds: str = typer.Option("0-7", "--seeds", "-s", help="seeds, e.g. 0-15 or 1,4,7-9"),
    trunc: float = typer.Option(0.7, *TRUNC, help="truncation psi (1 = none, 0 = the average face)"),
    trunc_cutoff: Optional[int] = typer.Option(None, "--trunc-cutoff", help="truncate only the first N w+ layers"),
    out: Optional[Path] = typer.Option(None, *OUT, help="folder for one image per seed (or a file for one seed)"),
    grid: Optional[Path] = typer.Option(None, "--grid", help="write all faces as one grid image (.png/.jpg)"),
    cols: Optional[int] = typer.Option(None, "--cols", help="grid columns (default: near-square)"),
    noise: str = typer.Option("const", "--noise", help="noise mode: const, random or none"),
    save_latents: Optional[Path] = typer.Option(None, "--save-latents", help="write seeds and w+ latents to an .npz"),
    model: ModelOpt = "default",
    batch: int = typer.Option(8, "--batch", help="images per forward pass"),
    image_format: str = typer.Option("png", "--format", help="image format for --out folders: png, jpg or webp"),
    count: Optional[int] = typer.Option(None, "--count", "-n", help="draw seeds --first-seed … +N-1 in shards on "
                                        "worker processes or Ray (any count; resumable; replaces --seeds)"),
    first_seed: int = typer.Option(0, "--first-seed", help="with --count: the first seed"),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="with --count: " + WORKERS_HELP),
    ray: Optional[str] = typer.Option(None, "--ray", help="with --count: " + RAY_HELP),
    threads: int = typer.Option(1, "--threads", help="with --count: " + THREADS_HELP),
    resume: bool = typer.Option(False, "--resume", help="with --count: " + RESUME_HELP),
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Generate faces from seeds: `faceedit generate --seeds 0-15 --trunc 0.7 --grid out.png`. Images are written
    as they are drawn (a batch at a time), so memory does not grow with the number of seeds and an interrupted run
    keeps every image written so far."""
    import contextlib

    from faceedit import api
    from faceedit.latents import LatentWriter
    from faceedit.limits import MAX_GRID_PIXELS, check_pixels, check_truncation
    from faceedit.media import grid_shape, save_image

    if count is not None:
        from faceedit.cli.batch_jobs import generate_count

        if grid is not None or save_latents is not None:
            raise FaceEditError("--count writes images and per-shard latents into --out; leave out --grid and "
                                "--save-latents")
        generate_count(count, first_seed, out or Path("out") / "generate", trunc, trunc_cutoff, noise, model, batch,
                       image_format, workers, ray, threads, resume)
        return
    if (workers, ray, resume) != (None, None, False):
        raise FaceEditError("--workers, --ray and --resume go with --count")
    seed_list = parse_seeds(seeds)
    check_truncation(trunc, "--trunc")
    if batch < 1:
        raise FaceEditError("--batch must be at least 1")
    if image_format not in ("png", "jpg", "webp"):
        raise FaceEditError(f"--format must be png, jpg or webp, got {image_format!r}")
    if out is None and grid is None:
        out = Path("out") / "generate"
    single_file = out is not None and out.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")
    if single_file and len(seed_list) != 1:
        raise FaceEditError(f"--out {out} is a file name but {len(seed_list)} seeds were given; pass a folder")
    m = on_device(api.load(model), device, precision)
    canvas = None
    if grid is not None:
        rows, n_cols = grid_shape(len(seed_list), cols)
        check_pixels(rows * n_cols * m.resolution ** 2, MAX_GRID_PIXELS, f"the grid of {len(seed_list):,} faces",
                     "use fewer seeds, or --out for one image per seed")
        canvas = np.full((rows * m.resolution, n_cols * m.resolution, 3), 255, np.uint8)
    written = []
    done = 0
    with contextlib.ExitStack() as stack:
        latents = None
        if save_latents is not None:
            latents = stack.enter_context(LatentWriter(save_latents, len(seed_list), m.num_ws, m.w_dim, model=m,
                                                       seeds=seed_list))
        parts = m.generate_batches(seed_list, truncation=trunc, truncation_cutoff=trunc_cutoff, noise_mode=noise,
                                   batch_size=batch)
        if len(seed_list) > batch:
            from tqdm import tqdm

            parts = stack.enter_context(tqdm(parts, total=-(-len(seed_list) // batch), desc="generating",
                                             unit="batch", file=sys.stderr))
        for part in parts:
            for seed, img in zip(part.seeds, part.images):
                if out is not None:
                    path = out if single_file else out / f"seed{seed:04d}.{image_format}"
                    written.append(save_image(path, img))
                if canvas is not None:
                    r, c = divmod(done, n_cols)
                    canvas[r * m.resolution:(r + 1) * m.resolution, c * m.resolution:(c + 1) * m.resolution] = img
                done += 1
            if latents is not None:
                latents.write(part.ws)
            written = written[-2:]
    if canvas is not None:
        written.append(save_image(grid, canvas))
    if save_latents is not None:
        written.append(save_latents)
    where = f"{out}/" if out is not None and not single_file else ""
    print(f"wrote {len(seed_list)} face(s) from {m.describe()}" + (f" into {where}" if where else ""))
    for p in written[-2:]:
        print(f"  {p}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
