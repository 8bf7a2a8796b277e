"""``faceedit generate``: faces from seeds, as single images and/or a grid, with their latents."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from faceedit.cli.options import MODEL_HELP, parse_seeds
from faceedit.errors import FaceEditError


def generate(
    seeds: str = typer.Option("0-7", "--seeds", "-s", help="seeds, e.g. 0-15 or 1,4,7-9"),
    trunc: float = typer.Option(0.7, "--trunc", "-t", help="truncation psi (1 = none, 0 = the average face)"),
    trunc_cutoff: Optional[int] = typer.Option(None, "--trunc-cutoff", help="truncate only the first N w+ layers"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="folder for one image per seed (or a file for one seed)"),
    grid: Optional[Path] = typer.Option(None, "--grid", help="write all faces as one grid image (.png/.jpg)"),
    cols: Optional[int] = typer.Option(None, "--cols", help="grid columns (default: near-square)"),
    noise: str = typer.Option("const", "--noise", help="noise mode: const, random or none"),
    save_latents: Optional[Path] = typer.Option(None, "--save-latents", help="write seeds and w+ latents to an .npz"),
    model: str = typer.Option("default", "--model", "-m", help=MODEL_HELP),
    batch: int = typer.Option(8, "--batch", help="images per forward pass"),
    image_format: str = typer.Option("png", "--format", help="image format for --out folders: png, jpg or webp"),
) -> None:
    """Generate faces from seeds: `faceedit generate --seeds 0-15 --trunc 0.7 --grid out.png`."""
    from faceedit import api
    from faceedit.media import make_grid, save_image

    seed_list = parse_seeds(seeds)
    if batch < 1:
        raise FaceEditError("--batch must be at least 1")
    if image_format not in ("png", "jpg", "webp"):
        raise FaceEditError(f"--format must be png, jpg or webp, got {image_format!r}")
    if out is None and grid is None:
        out = Path("out") / "generate"
    m = api.load(model)
    if m.placeholder:
        print(f"note: {api.PLACEHOLDER_NOTE}", file=sys.stderr)
    result = m.generate(seeds=seed_list, truncation=trunc, truncation_cutoff=trunc_cutoff, noise_mode=noise,
                        batch_size=batch, progress=len(seed_list) > batch)
    written = []
    if out is not None:
        single_file = out.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")
        if single_file and len(seed_list) != 1:
            raise FaceEditError(f"--out {out} is a file name but {len(seed_list)} seeds were given; pass a folder")
        for seed, img in zip(seed_list, result.images):
            path = out if single_file else out / f"seed{seed:04d}.{image_format}"
            written.append(save_image(path, img))
    if grid is not None:
        written.append(save_image(grid, make_grid(result.images, cols=cols)))
    if save_latents is not None:
        import numpy as np

        from faceedit.latents import save_latents as _save

        written.append(_save(save_latents, ws=result.ws.numpy(), seeds=np.asarray(seed_list), model=m))
    where = f"{out}/" if out is not None and len(written) > 1 and not out.suffix else ""
    print(f"wrote {len(seed_list)} face(s) from {m.describe()}" + (f" into {where}" if where else ""))
    for p in written[-2:] if len(written) > 2 else written:
        print(f"  {p}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
