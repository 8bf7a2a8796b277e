"""``faceedit score`` (40 CelebA attribute probabilities) and ``faceedit parse`` (19-class face parsing), plus the
``train_classifier`` / ``train_parser`` commands that the ``train`` group attaches as ``faceedit train classifier``
and ``faceedit train parser``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from faceedit.align import align_face, load_image
from faceedit.cli.options import OUT, command_group
from faceedit.errors import FaceEditError

_ALIGNED_HELP = "The image is already an FFHQ-aligned face crop: skip detection and alignment."


def _align(img, path: Path, size: int):
    """(aligned H×W×3 uint8, AlignedFace)."""
    af = align_face(img, size=size, name=str(path))
    return af.image, af


def _tensor(arr):
    import numpy as np
    import torch

    return torch.from_numpy(np.array(arr, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def _check_out(path: Path, what: str) -> None:
    if path.suffix.lower() not in (".png", ".webp", ".bmp", ".tif", ".tiff"):
        raise FaceEditError(f"{what} {path} must be a lossless image (.png, .webp, .bmp, .tif): a class map cannot "
                            "be saved as JPEG" if what == "mask" else f"{what} {path}: use .png, .webp, .bmp or .tif")
    if path.exists() and path.is_dir():
        raise FaceEditError(f"{what} {path} is a folder")


def format_scores(names: list[str], results: list[dict]) -> str:
    """Attributes as rows, images as columns (probabilities, 2 decimals)."""
    heads = [Path(r["image"]).name for r in results]
    heads = [h if len(h) <= 14 else h[:6] + "…" + h[-7:] for h in heads]
    width = max(len(n) for n in names)
    cols = [max(5, len(h)) for h in heads]
    lines = ["  ".join([" " * width] + [h.rjust(c) for h, c in zip(heads, cols)])]
    for n in names:
        lines.append("  ".join([n.ljust(width)] + [f"{r['probabilities'][n]:.2f}".rjust(c)
                                                  for r, c in zip(results, cols)]))
    return "\n".join(lines)


def score_command(
    images: List[Path] = typer.Argument(..., help="Photos (a face is detected and FFHQ-aligned) or aligned crops."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: a list of {image, aligned, probabilities}."),
    aligned: bool = typer.Option(False, "--aligned", help=_ALIGNED_HELP),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Classifier weights (default: the shipped ones)."),
) -> None:
    """Attribute probabilities (the 40 CelebA attributes) for each image, as a table or JSON."""
    import torch

    from faceedit.scorers.classifier import load_classifier

    from faceedit.cli.batch import SKIPPED, FileBatch

    clf = load_classifier(weights)
    results = []
    batch = FileBatch(len(images))

    def one(path: Path) -> dict:
        img = load_image(path)
        was_aligned = False
        if not aligned:
            img, af = _align(img, path, 128)
            was_aligned = af is not None
        with torch.no_grad():
            p = clf.probs(_tensor(img))[0].tolist()
        return {"image": str(path), "aligned": was_aligned,
                "probabilities": {n: round(float(v), 4) for n, v in zip(clf.attributes, p)}}

    for path in images:
        r = batch.run(path, one, path)
        if r is not SKIPPED:
            results.append(r)
            batch.ok()
    batch.finish("no image was scored")
    if as_json:
        print(json.dumps(results, indent=1))
    else:
        print(format_scores(clf.attributes, results))


def _labels_to_photo(labels, af):
    """Nearest-neighbour warp of an aligned-frame class map back into the photo (0 outside the square)."""
    import numpy as np

    s = labels.shape[0]
    t = af.transform.for_size(s)
    h, w = t.photo_shape
    out = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = t.photo_box()
    if x1 <= x0 or y1 <= y0:
        return out
    inv = t.inverse
    xx, yy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    u = np.rint(inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]).astype(np.int64)
    v = np.rint(inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]).astype(np.int64)
    ok = (u >= 0) & (u < s) & (v >= 0) & (v < s)
    out[y0:y1, x0:x1] = np.where(ok, labels[np.clip(v, 0, s - 1), np.clip(u, 0, s - 1)], 0)
    return out


def parse_command(
    image: Path = typer.Argument(..., help="A photo (a face is detected and FFHQ-aligned) or an aligned crop."),
    output: Path = typer.Option(..., *OUT, help="Class map: palette PNG, pixel value = class id."),
    overlay_path: Optional[Path] = typer.Option(None, "--overlay", help="Also write the image with the classes "
                                                                        "coloured over it."),
    aligned: bool = typer.Option(False, "--aligned", help=_ALIGNED_HELP),
    size: int = typer.Option(256, "--size", help="Side of the aligned crop and of the mask (photos only)."),
    frame: str = typer.Option("aligned", "--frame", help="Photos: 'aligned' (mask of the aligned crop) or 'photo' "
                                                         "(mask warped back into the photo's pixels)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Parser weights (default: the shipped ones)."),
) -> None:
    """19-class face parsing (CelebAMask-HQ classes) of one face: a class-map PNG and a coloured overlay."""
    import numpy as np
    import torch
    from PIL import Image

    from faceedit.atomic import atomic_path
    from faceedit.scorers.parser import CLASSES, load_parser, mask_image, overlay

    if frame not in ("aligned", "photo"):
        raise FaceEditError(f"--frame must be 'aligned' or 'photo', got {frame!r}")
    if not 16 <= size <= 2048:
        raise FaceEditError(f"--size must be 16 to 2048, got {size}")
    _check_out(output, "mask")
    if overlay_path is not None:
        _check_out(overlay_path, "overlay")
    fp = load_parser(weights)
    img = load_image(image)
    af = None
    if not aligned:
        img, af = _align(img, image, size)
    with torch.no_grad():
        labels = fp.labels(_tensor(img))[0].numpy().astype(np.uint8)
    base = img
    if frame == "photo" and af is not None:
        labels = _labels_to_photo(labels, af)
        base = load_image(image)
    with atomic_path(output) as tmp:
        mask_image(labels).save(tmp, format=_fmt(output))
    if overlay_path is not None:
        with atomic_path(overlay_path) as tmp:
            Image.fromarray(overlay(base, labels)).save(tmp, format=_fmt(overlay_path))
    present = [f"{CLASSES[i]} {100 * float((labels == i).mean()):.1f}%" for i in np.unique(labels) if i > 0]
    print(f"{output}: {labels.shape[1]}x{labels.shape[0]} class map ({', '.join(present) or 'background only'})")


def _fmt(path: Path) -> str:
    return {".png": "PNG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}[path.suffix.lower()]


# ------------------------------------------------------------------------------------------- training commands

def _run_config(data, out, run_dir, minutes, epochs, batch, lr, threads, seed, bf16, fresh, model, extend):
    from faceedit.train.runner import RunConfig

    for name, v in (("--epochs", epochs), ("--batch", batch), ("--lr", lr)):
        if not v > 0:
            raise FaceEditError(f"{name} must be positive, got {v}")
    if minutes is not None and minutes <= 0:
        raise FaceEditError(f"--minutes must be positive, got {minutes}")
    if extend is not None and extend <= 0:
        raise FaceEditError(f"--extend-minutes must be positive, got {extend}")
    if fresh:
        ck = Path(run_dir) / "checkpoint.pt"
        if ck.is_file():
            ck.unlink()
    return RunConfig(data=str(data), out=str(out) if out else None, run_dir=str(run_dir), minutes=minutes,
                     epochs=epochs, batch=batch, lr=lr, threads=threads, seed=seed, bf16=bf16,
                     extra={"model": model, "extend_minutes": extend})


def train_classifier(
    data: Path = typer.Option(Path(".cache/data128"), "--data", help="Aligned data: a 'faceedit data build' folder, "
                                                                     "manifest or pack (CelebA rows are used)."),
    out: Optional[Path] = typer.Option(None, *OUT, help="Weights file (default: the package's "
                                                                 "assets/attr_classifier.safetensors)."),
    run_dir: Path = typer.Option(Path(".cache/runs/classifier"), "--run-dir", help="Checkpoint, log and cache."),
    minutes: Optional[float] = typer.Option(30.0, "--minutes", help="Wall-clock budget of this run (resume later "
                                                                    "to continue)."),
    epochs: float = typer.Option(12.0, "--epochs", help="Planned length (the schedule is fixed on the first run)."),
    batch: int = typer.Option(64, "--batch"),
    lr: float = typer.Option(2e-3, "--lr"),
    size: int = typer.Option(64, "--size", help="Network input side in px."),
    threads: int = typer.Option(2, "--threads", help="CPU threads (torch.set_num_threads)."),
    seed: int = typer.Option(0, "--seed"),
    bf16: bool = typer.Option(True, "--bf16/--no-bf16", help="bf16 autocast on the CPU."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore an existing checkpoint in --run-dir."),
    extend: Optional[float] = typer.Option(None, "--extend-minutes", help="Resuming: lengthen the plan by this "
                                                                          "much training time (warm restart)."),
) -> None:
    """Train the 40-attribute classifier (resumable), export fp16 weights with a validation card."""
    from faceedit.train.classifier import format_table, train_classifier as run

    if not 32 <= size <= 256:
        raise FaceEditError(f"--size must be 32 to 256, got {size}")
    cfg = _run_config(data, out, run_dir, minutes, epochs, batch, lr, threads, seed, bf16, fresh, {"size": size},
                      extend)
    card = run(cfg, log=lambda m: print(m, file=sys.stderr))
    print(format_table(card["validation"]["per_attribute"]))
    m = card["validation"]["mean"]
    print(f"\nmean over 40 attributes: accuracy {m['accuracy']:.3f}, balanced {m['balanced_accuracy']:.3f}, "
          f"majority baseline {m['majority_accuracy']:.3f} ({card['validation']['n']} val images)")


def train_parser(
    data: Path = typer.Option(Path(".cache/data128"), "--data", help="Aligned data with masks: a 'faceedit data "
                                                                     "build' folder, manifest or pack."),
    raw: Optional[Path] = typer.Option(None, "--raw", help="Use a raw CelebAMask-HQ folder (images/, masks/) "
                                                           "instead of --data."),
    out: Optional[Path] = typer.Option(None, *OUT, help="Weights file (default: the package's "
                                                                 "assets/face_parser.safetensors)."),
    run_dir: Path = typer.Option(Path(".cache/runs/parser"), "--run-dir", help="Checkpoint, log and cache."),
    minutes: Optional[float] = typer.Option(40.0, "--minutes", help="Wall-clock budget of this run."),
    epochs: float = typer.Option(12.0, "--epochs", help="Planned length (the schedule is fixed on the first run)."),
    batch: int = typer.Option(16, "--batch"),
    lr: float = typer.Option(2e-3, "--lr"),
    threads: int = typer.Option(2, "--threads"),
    seed: int = typer.Option(0, "--seed"),
    bf16: bool = typer.Option(True, "--bf16/--no-bf16", help="bf16 autocast on the CPU."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore an existing checkpoint in --run-dir."),
    extend: Optional[float] = typer.Option(None, "--extend-minutes", help="Resuming: lengthen the plan by this "
                                                                          "much training time (warm restart)."),
) -> None:
    """Train the 19-class face parser (resumable), export fp16 weights with per-class validation IoU."""
    from faceedit.train.parser import format_table, train_parser as run

    cfg = _run_config(data, out, run_dir, minutes, epochs, batch, lr, threads, seed, bf16, fresh, {}, extend)
    card = run(cfg, raw=str(raw) if raw else None, log=lambda m: print(m, file=sys.stderr))
    print(format_table(card["validation"]))


def register(app: typer.Typer) -> None:

    app.command("score")(score_command)
    app.command("parse")(parse_command)
    train = command_group(app, "train")
    train.command("classifier")(train_classifier)
    train.command("parser")(train_parser)
