"""The thesis's ch. 5 analyses of a generator: ``faceedit eval ppl`` (perceptual path length in W and Z),
``faceedit eval style-codes`` (linear classification accuracy of attributes from z, w and StyleSpace codes) and
``faceedit decode`` (a face with its styles replaced layer by layer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from faceedit.cli.device_options import DeviceOpt, PrecisionOpt, on_device
from faceedit.cli.options import FACE_HELP, LAYERS, LAYERS_HELP, ModelOpt, OUT, QUIET, TruncOpt, command_group
from faceedit.errors import FaceEditError
from faceedit.threads import set_threads

STYLE_CODE_ATTRS = "Smiling,Male,Young,Eyeglasses,Bangs,Mouth_Slightly_Open,Heavy_Makeup,Wavy_Hair"


def _write_json(path: Optional[Path], record: dict) -> None:
    if path is not None:
        from faceedit.atomic import write_text

        write_text(path, json.dumps(record, indent=1))


def ppl_cmd(
    space: str = typer.Option("w,z", "--space", help="w (lerp of w), z (slerp of z), or both: w,z"),
    n: int = typer.Option(1000, "--n", help="pairs per space (the paper: 100,000)"),
    epsilon: float = typer.Option(1e-4, "--epsilon", help="the step ε along the path"),
    sampling: str = typer.Option("end", "--sampling", help="end (t ∈ {0, 1}) or full (t ~ U(0, 1))"),
    crop: bool = typer.Option(True, "--crop/--no-crop", help="compare the face region only (FFHQ-aligned faces)"),
    distance: str = typer.Option("vgg16", "--distance", help="the image distance: vgg16 (LPIPS-style on ImageNet "
                                 "VGG16, 'faceedit features fetch vgg16') or faceapi"),
    batch: int = typer.Option(16, "--batch", help="pairs per batch"),
    seed: int = typer.Option(0, "--seed", help="sampling seed"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the figures here"),
    quiet: bool = typer.Option(False, *QUIET, help="no progress bar"),
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Perceptual path length (StyleGAN §4.1): mean d(G(p(t)), G(p(t+ε)))/ε² along random paths, in W and/or Z
    (`faceedit eval ppl --space w,z --n 1000`). Lower: a smoother latent space."""
    from faceedit import api
    from faceedit.metrics import distances
    from faceedit.metrics.ppl import PPL_SPACES, SAMPLINGS, perceptual_path_length

    spaces = [s.strip() for s in space.split(",") if s.strip()]
    if not spaces or set(spaces) - set(PPL_SPACES):
        raise FaceEditError(f"--space takes {', '.join(PPL_SPACES)} (or both: w,z), got {space!r}")
    if sampling not in SAMPLINGS:
        raise FaceEditError(f"--sampling must be full or end, got {sampling!r}")
    if distance not in ("vgg16", "faceapi"):
        raise FaceEditError(f"--distance must be vgg16 or faceapi, got {distance!r}")
    if not 0 < epsilon <= 0.1:
        raise FaceEditError("--epsilon must be in (0, 0.1]")
    if not 2 <= n <= 1_000_000:
        raise FaceEditError("--n must be from 2 to 1000000")
    if threads:
        set_threads(threads)
    dist = distances.get(distance)
    m = on_device(api.load(model), device, precision)
    record = {"model": m.name, "distance": distance, "results": {}}
    for s in spaces:
        res = perceptual_path_length(m, dist, s, n=n, epsilon=epsilon, sampling=sampling, crop=crop,
                                     batch_size=batch, seed=seed, progress=not quiet)
        record["results"][s] = res.as_dict()
        print(f"PPL in {s} ({sampling}, ε {epsilon:g}, {n} pairs, {distance}{', face crop' if crop else ''}): "
              f"{res.ppl:.2f} ± {res.sem:.2f} (standard error; median {float(res.as_dict()['median']):.2f})")
    _write_json(json_out, record)


def style_codes_cmd(
    attrs: str = typer.Option(STYLE_CODE_ATTRS, "--attrs", help="classifier attributes, comma-separated"),
    n: int = typer.Option(4000, "--n", help="random faces (the more confident half of each label is used)"),
    seed: int = typer.Option(0, "--seed", help="sampling seed"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the figures here"),
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Linear classification accuracy of attributes from z, w and StyleSpace codes (the thesis's Table 5-2):
    `faceedit eval style-codes --attrs Smiling,Male --n 4000`."""
    from faceedit import api
    from faceedit.metrics.style_codes import CODE_SPACES, code_accuracy

    names = [a.strip() for a in attrs.split(",") if a.strip()]
    if not names or len(names) > 64:
        raise FaceEditError("--attrs: name 1 to 64 attributes")
    if not 20 <= n <= 1_000_000:
        raise FaceEditError("--n must be from 20 to 1000000")
    if threads:
        set_threads(threads)
    m = on_device(api.load(model), device, precision)
    table = code_accuracy(m, names, n=n, seed=seed)
    print("| attribute | " + " | ".join(CODE_SPACES) + " | majority | samples |")
    print("|---|" + "---|" * (len(CODE_SPACES) + 2))
    for attr, row in table.items():
        print(f"| {attr} | " + " | ".join(f"{100 * row[s]:.1f} %" for s in CODE_SPACES)
              + f" | {100 * row['majority']:.1f} % | {row['n']} |")
    _write_json(json_out, {"model": m.name, "n": n, "results": table})


def decode_cmd(
    face: str = typer.Argument(..., help=FACE_HELP),
    layers: str = typer.Option("all", *LAYERS, help="the layers to replace one after the other: " + LAYERS_HELP),
    other: str = typer.Option("average", "--with", help="whose styles replace the face's: 'average' (the average "
                              "face w_avg) or a face"),
    mode: str = typer.Option("cumulative", "--mode", help="cumulative (layers replaced one more per column) or "
                             "single (one layer per column)"),
    out: Path = typer.Option(Path("decode.png"), *OUT, help="output image (a strip)"),
    trunc: TruncOpt = 0.7,
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Layer-wise decoding (the thesis's Fig. 5-4): a face with its styles replaced layer by layer by another
    code's, as a strip (`faceedit decode 12 --layers all -o strip.png`; `--with 7`; `--mode single`)."""
    from faceedit import api
    from faceedit.cli.edit_ops import _save
    from faceedit.edit.mixing import LAYERWISE_MODES, layerwise
    from faceedit.face import resolve_face

    if mode not in LAYERWISE_MODES:
        raise FaceEditError(f"--mode must be {' or '.join(LAYERWISE_MODES)}, got {mode!r}")
    m = on_device(api.load(model), device, precision)
    a = resolve_face(face, m, trunc)
    if other.strip().lower() in ("average", "avg", "mean"):
        b_ws, b_label = m.as_ws(m.G.mapping.w_avg[None]), "the average face"
    else:
        b = resolve_face(other, m, trunc)
        b_ws, b_label = b.ws, b.label
    ws = layerwise(a.ws, b_ws, mode, layers)
    _save(out, a.render(ws, paste=None), cols=min(ws.shape[0], 16))
    print(f"wrote {ws.shape[0]} decodings of {a.label} with {b_label}'s styles ({mode}) to {out}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    group = command_group(app, "eval")
    group.command("ppl")(ppl_cmd)
    group.command("style-codes")(style_codes_cmd)
    app.command("decode")(decode_cmd)
