"""``faceedit data build`` and ``faceedit data pack``: aligned training sets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from faceedit.errors import FaceEditError
from faceedit.cli.options import OUT, QUIET


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Build aligned training sets from the raw face folders, and pack them.",
                      no_args_is_help=True, add_completion=False)

    @sub.command("build")
    def build(
        src: Path = typer.Option(Path("../shared/data"), "--src", help="Folder holding celeba/, celebamask-hq/, utkface/."),
        out: Path = typer.Option(..., *OUT, help="Output folder (resumable: done files are skipped)."),
        size: int = typer.Option(128, "--size", help="Output side in pixels (64–1024)."),
        limit: Optional[int] = typer.Option(None, "--limit", help="At most N images per source (quick trials)."),
        workers: int = typer.Option(2, "--workers", help="Worker processes."),
        sources: Optional[str] = typer.Option(None, "--sources",
                                              help="Comma-separated subset of: celebamask-hq, celeba, "
                                                   "celeba-89x109, utkface (default: all, in that order)."),
        val_fraction: float = typer.Option(0.1, "--val-fraction", help="Share of identities in the val split."),
        quiet: bool = typer.Option(False, *QUIET, help="No progress bar."),
    ) -> None:
        """Align the raw folders into one FFHQ-aligned set with a manifest.jsonl and an identity split."""
        from faceedit.data.build import build_dataset
        from faceedit.data.sources import SOURCES

        if not 64 <= size <= 1024:
            raise FaceEditError(f"--size must be from 64 to 1024, got {size}")
        if workers < 1:
            raise FaceEditError(f"--workers must be at least 1, got {workers}")
        if limit is not None and limit < 1:
            raise FaceEditError(f"--limit must be at least 1, got {limit}")
        if not 0.0 <= val_fraction < 1.0:
            raise FaceEditError(f"--val-fraction must be in [0, 1), got {val_fraction}")
        chosen = tuple(s.strip() for s in sources.split(",") if s.strip()) if sources else SOURCES
        s = build_dataset(src, out, size, limit=limit, workers=workers, sources=chosen, val_fraction=val_fraction,
                          progress=not quiet)
        st = s["status"]
        print(f"built {s['images']} aligned {size}-px images in {out} "
              f"({', '.join(f'{k} {v}' for k, v in s['by_source'].items())}); "
              f"{s['val']} in val; no face {st.get('no_face', 0)}, too small {st.get('too_small', 0)}, "
              f"errors {st.get('error', 0)}; {s['seconds_this_run']:.0f} s this run")
        if s["images"] == 0:
            raise typer.Exit(1)

    @sub.command("pack")
    def pack(
        build_dir: Path = typer.Argument(..., help="A folder made by `faceedit data build`."),
        output: Path = typer.Option(..., *OUT, help="Archive to write: .zip or .tar."),
        size: Optional[int] = typer.Option(None, "--size", help="Image side in the archive (default: the build's)."),
        quality: int = typer.Option(90, "--quality", help="Lossy quality 1–100."),
        fmt: str = typer.Option("webp", "--format", help="webp or jpeg."),
        max_mb: Optional[float] = typer.Option(None, "--max-mb", help="Stop adding images at this archive size."),
        max_padding: float = typer.Option(1.0, "--max-padding",
                                          help="Leave out images whose padded share of the square exceeds this."),
        sources: Optional[str] = typer.Option(None, "--sources", help="Comma-separated sources to include, in "
                                                                       "priority order (default: build order)."),
        split: str = typer.Option("all", "--split", help="train, val or all."),
        masks: bool = typer.Option(False, "--masks", help="Also pack the parsing masks (PNG)."),
        quiet: bool = typer.Option(False, *QUIET, help="No progress bar."),
    ) -> None:
        """Write one compact archive (re-encoded images + manifest.jsonl) for the GPU machine."""
        from faceedit.data.pack import pack_dataset

        chosen = tuple(s.strip() for s in sources.split(",") if s.strip()) if sources else None
        s = pack_dataset(build_dir, output, size=size, quality=quality, fmt=fmt, max_mb=max_mb,
                         max_padding=max_padding, sources=chosen, split=split, masks=masks, progress=not quiet)
        print(f"packed {s['images']} images ({s['size']} px, {s['format']} q{s['quality']}) into {output}: "
              f"{s['mb']:.1f} MB, {s['kb_per_image']:.2f} KB/image"
              + (f"; {s['left_out']} left out by --max-mb" if s.get("left_out") else ""))
        if s["images"] == 0:
            print("error: nothing was packed", file=sys.stderr)
            raise typer.Exit(1)

    app.add_typer(sub, name="data")
