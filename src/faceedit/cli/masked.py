"""``faceedit inpaint``: fill a hole in aligned faces from the generator (Image2StyleGAN++'s masked embedding).

The masked forms of ``invert`` (``--mask``) and ``crossover`` (``--mask``) live with those commands; all read
their mask with :func:`faceedit.invert.masked.read_mask`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from faceedit.cli.device_options import DeviceOpt, PrecisionOpt, on_device
from faceedit.cli.options import ModelOpt, OUT, QUIET
from faceedit.errors import FaceEditError
from faceedit.threads import set_threads

MASK_STEPS_HELP = "optimisation steps of the masked inversion (default 300)"


def inpaint_cmd(
    images: List[Path] = typer.Argument(..., help="aligned face images (e.g. from 'faceedit align'); photos: "
                                                  "align them first"),
    mask: Path = typer.Option(..., "--mask", help="the hole: an image, white where pixels are missing (resized to "
                                                  "each face)"),
    out: Path = typer.Option(..., *OUT, help="output image for one face, or a folder for several"),
    steps: int = typer.Option(300, "--steps", help=MASK_STEPS_HELP),
    perceptual: str = typer.Option("auto", "--perceptual", help="perceptual loss on the known pixels: auto "
                                   "(as for invert), vgg16 (Image2StyleGAN's), faceapi, none"),
    save_latents: Optional[Path] = typer.Option(None, "--save-latents", help="write the w+ codes (.npz)"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads"),
    quiet: bool = typer.Option(False, *QUIET, help="no progress bar"),
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Inpaint: invert only the known pixels of each face, then fill the hole with the generator's image
    (`faceedit inpaint face.png --mask hole.png -o filled.png`). The known pixels are kept as they are."""
    import torch

    from faceedit import api
    from faceedit.align import load_image
    from faceedit.cli.batch import SKIPPED, FileBatch
    from faceedit.cli.edit_ops import _check_image_out, _save_latents
    from faceedit.invert import get_perceptual
    from faceedit.invert.masked import inpaint, read_mask
    from faceedit.media import save_image, to_uint8

    several = len(images) > 1
    if not several:
        _check_image_out(out)
    if threads:
        set_threads(threads)
    read_mask(mask, 64)  # a bad mask fails before the model loads
    dist, note = get_perceptual(perceptual)
    if note:
        print(f"note: {note}", file=sys.stderr)
    m = on_device(api.load(model), device, precision)
    batch = FileBatch(len(images))
    all_ws = []
    for path in images:
        def one(p: Path):
            img = load_image(p)
            if img.shape[0] != img.shape[1]:
                raise FaceEditError(f"an aligned face must be square, got {img.shape[1]}x{img.shape[0]} (align "
                                    "it with 'faceedit align')")
            hole = read_mask(mask, img.shape[0])
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
            return inpaint(m, x, hole, steps=steps, perceptual=dist, progress=not quiet)

        res = batch.run(path, one, path)
        if res is SKIPPED:
            continue
        batch.ok()
        target = out / f"{path.stem}.png" if several else out
        save_image(target, to_uint8(res.images.clamp(-1, 1))[0])
        all_ws.append(res.ws)
        print(f"inpainted {path} → {target} (known-pixel MSE {float(res.losses['mse'][0]):.4f})")
    batch.finish("no face was inpainted")
    if all_ws:
        _save_latents(save_latents, torch.cat(all_ws), m)


def register(app: typer.Typer) -> None:
    app.command("inpaint")(inpaint_cmd)
