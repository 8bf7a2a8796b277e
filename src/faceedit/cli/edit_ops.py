"""Editing commands: ``faceedit mix``, ``morph``, ``crossover``, ``transfer``, ``channels find|edit``, ``local``
and ``eval edits``.

Faces are given as a seed (``12`` or ``seed:12``, mapped with ``--trunc``), a latent file (``.npz``/``.npy``,
``file.npz#3`` for row 3) or a photo (aligned and inverted); each is a :class:`~faceedit.face.Face`, drawn by its
own generator (a pivotal photo's tuned one) with its noise maps.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from faceedit.cli.device_options import DeviceOpt, PrecisionOpt, on_device
from faceedit.cli.progress import Progress, resolve_shown
from faceedit.cli.options import (FACE_HELP, LAYERS, LAYERS_HELP, ModelOpt, OUT, SaveLatentsOpt, TRUNC, TRUNC_HELP,
                                  TruncOpt, command_group, parse_seeds)
from faceedit.errors import FaceEditError
from faceedit.limits import (MAX_ANIMATION_PIXELS, MAX_FRAMES, check_float, check_memory, check_pixels,
                             check_truncation)



# ---- helpers ------------------------------------------------------------------------------------------------
def _load(model: str):
    from faceedit import api

    return api.load(model)


def _faces(text: str, m, trunc: float, max_count: int = 400):
    """A seed list ('0-3,7') or comma-separated face specs → list of :class:`~faceedit.face.Face` (at most
    ``max_count``)."""
    from faceedit.face import resolve_face

    try:
        seeds = parse_seeds(text, max_count)
    except FaceEditError as exc:
        if "too many" in str(exc):
            raise
        parts = [part for part in text.split(",") if part.strip()]
        if len(parts) > max_count:
            raise FaceEditError(f"too many faces in {text[:60]!r} (at most {max_count})") from None
        return [resolve_shown(part, m, trunc, Progress()) for part in parts]
    return [resolve_face(str(s), m, trunc) for s in seeds]


#: Largest |strength| of an edit in a number list (σ of a channel, λ of a transfer).
MAX_STRENGTH = 1000.0


def _floats(text: str, what: str) -> list[float]:
    """A comma-separated list of at most 1000 finite strengths within ±:data:`MAX_STRENGTH`."""
    from faceedit.limits import parse_floats

    return parse_floats(text, what, -MAX_STRENGTH, MAX_STRENGTH)


def _check_image_out(out: Path) -> None:
    from faceedit.media import IMAGE_SUFFIXES

    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise FaceEditError(f"--out {out}: use an image file name ending in .png, .jpg or .webp")


def _save(out: Path, images, cols: int | None = None) -> Path:
    from faceedit.media import make_grid, save_image

    _check_image_out(out)
    if len(images) == 1:
        return save_image(out, images[0])
    return save_image(out, make_grid(images, cols=cols or len(images), pad=2))


def _save_latents(path: Optional[Path], ws, m) -> None:
    if path is not None:
        from faceedit.latents import save_latents

        save_latents(path, ws.detach().cpu().numpy(), model=m)
        print(f"  latents: {path}")


# ---- mix ----------------------------------------------------------------------------------------------------
def mix_cmd(
    face_a: Optional[str] = typer.Argument(None, help="face A (kept): " + FACE_HELP),
    face_b: Optional[str] = typer.Argument(None, help="face B (gives the chosen layers)"),
    layers: str = typer.Option("fine", *LAYERS, help=LAYERS_HELP),
    out: Path = typer.Option(Path("mix.png"), *OUT, help="output image (.png/.jpg/.webp)"),
    rows: Optional[str] = typer.Option(None, "--rows", help="mixing grid: row faces (seeds like 0-3, or specs)"),
    cols: Optional[str] = typer.Option(None, "--cols", help="mixing grid: column faces giving the layers"),
    strip: bool = typer.Option(False, "--strip", help="write A | B | result side by side"),
    trunc: TruncOpt = 0.7,
    save_latents: Optional[Path] = typer.Option(None, "--save-latents", help="write the mixed w+ to an .npz"),
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Style mixing: face A with the LAYERS of face B (`faceedit mix 1 2 --layers fine -o out.png`), or the
    classic grid (`faceedit mix --rows 0-3 --cols 4-7 --layers coarse -o grid.png`)."""
    from faceedit.edit.layers import parse_layers
    from faceedit.face import mix_faces, mixing_grid
    from faceedit.figure import labelled_grid
    from faceedit.media import save_image

    _check_image_out(out)
    grid_mode = rows is not None or cols is not None
    if grid_mode and (rows is None or cols is None or face_a or face_b):
        raise FaceEditError("a mixing grid needs --rows and --cols (and no faces A B)")
    if not grid_mode and (face_a is None or face_b is None):
        raise FaceEditError("give two faces A B (or --rows and --cols for a grid)")
    m = on_device(_load(model), device, precision)
    idx = parse_layers(layers, m.num_ws)
    if grid_mode:
        row_faces, col_faces = _faces(rows, m, trunc, 400), _faces(cols, m, trunc, 400)
        if len(row_faces) * len(col_faces) > 400:
            raise FaceEditError("the grid would have more than 400 cells; use fewer rows or columns")
        grid = mixing_grid(row_faces, col_faces, idx)
        n = len(col_faces) + 1
        cells = [list(grid[r * n:(r + 1) * n]) for r in range(len(row_faces) + 1)]
        save_image(out, labelled_grid(cells, rows=["", *(f.label for f in row_faces)],
                                      cols=["", *(f.label for f in col_faces)],
                                      title=f"each row face with w+ layers {_fmt(idx)} ({layers}) of the column face"))
        print(f"wrote a {len(row_faces)}x{len(col_faces)} mixing grid (w+ layers {_fmt(idx)} from the columns) "
              f"to {out}")
        return
    a, b = (resolve_shown(x, m, trunc, Progress()) for x in (face_a, face_b))
    mixed = mix_faces(a, b, idx)
    imgs = [f.render(paste=None)[0] for f in ((a, b, mixed) if strip else (mixed,))]
    _save(out, imgs)
    print(f"wrote {a.label} with w+ layers {_fmt(idx)} from {b.label} to {out}")
    _save_latents(save_latents, mixed.ws, m)


def _fmt(idx: list[int]) -> str:
    parts, start = [], None
    for i, v in enumerate(idx):
        if start is None:
            start = v
        if i + 1 == len(idx) or idx[i + 1] != v + 1:
            parts.append(f"{start}" if start == v else f"{start}-{v}")
            start = None
    return ",".join(parts)


# ---- morph --------------------------------------------------------------------------------------------------
def morph_cmd(
    face_a: str = typer.Argument(..., help="start face: " + FACE_HELP),
    face_b: str = typer.Argument(..., help="end face"),
    out: Path = typer.Option(Path("morph.gif"), *OUT, help=".gif, .mp4 (needs imageio-ffmpeg) or "
                             ".png (a strip of the frames)"),
    frames: int = typer.Option(30, "--frames", "-n", help="frames from A to B, both included"),
    fps: float = typer.Option(15.0, "--fps", help="frames per second of the animation"),
    space: str = typer.Option("w", "--space", help="w: lerp in w/w+; z: slerp in z (faces given as seeds only)"),
    ease: bool = typer.Option(False, "--ease", help="ease in and out (smooth-step timing)"),
    bounce: bool = typer.Option(False, "--bounce", help="play back from B to A too (seamless loop)"),
    trunc: float = typer.Option(0.7, *TRUNC, help=TRUNC_HELP + "; also applied to z-morph frames"),
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Morph between two faces: `faceedit morph 1 2 -o morph.gif --frames 30 --space z`. Each frame is drawn with
    the two faces' generators and noise maps blended like their codes (a pivotal photo keeps its tuned generator)."""
    from faceedit.edit.morph import morph_latents, morph_times
    from faceedit.face import morph_images
    from faceedit.media import ANIMATION_SUFFIXES, IMAGE_SUFFIXES, make_grid, save_animation, save_image

    suffix = out.suffix.lower()
    if suffix not in ANIMATION_SUFFIXES and suffix not in IMAGE_SUFFIXES:
        raise FaceEditError(f"--out {out}: use .gif, .mp4 or an image (.png) for a strip of frames")
    check_float(fps, "--fps", 0.0, 120.0, lo_open=True)
    if not 2 <= frames <= MAX_FRAMES:
        raise FaceEditError(f"--frames must be between 2 and {MAX_FRAMES}")
    m = on_device(_load(model), device, precision)
    check_pixels((2 * frames if bounce else frames) * m.resolution ** 2, MAX_ANIMATION_PIXELS, "the morph",
                 "fewer --frames")
    a, b = (resolve_shown(x, m, trunc, Progress()) for x in (face_a, face_b))
    ws = morph_latents(m, a.ws, b.ws, steps=frames, space=space, z_a=a.z, z_b=b.z, truncation=trunc, ease=ease)
    from tqdm import tqdm

    imgs = list(tqdm(morph_images(a, b, ws, morph_times(frames, ease)), total=frames, desc="morph frames",
                     unit="frame", disable=frames <= 8))
    if bounce:
        imgs = imgs + imgs[-2:0:-1]
    if suffix in ANIMATION_SUFFIXES:
        save_animation(out, imgs, fps=fps)
    else:
        save_image(out, make_grid(imgs, cols=min(len(imgs), 10), pad=2))
    print(f"wrote a {len(imgs)}-frame morph ({space} space) from {a.label} to {b.label} to {out}")


# ---- crossover ----------------------------------------------------------------------------------------------
def crossover_cmd(
    face_a: str = typer.Argument(..., help="face giving the first k w+ layers: " + FACE_HELP),
    face_b: str = typer.Argument(..., help="face giving the rest"),
    k: str = typer.Option(..., "--k", help="crossover point (0 to num_ws), or 'all' for a strip of every k"),
    out: Path = typer.Option(Path("crossover.png"), *OUT, help="output image"),
    trunc: TruncOpt = 0.7,
    save_latents: SaveLatentsOpt = None,
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Crossover: the first k w+ layers from A, the rest from B (`faceedit crossover 1 2 --k 6 -o out.png`)."""
    import torch

    from faceedit.edit.mixing import crossover

    _check_image_out(out)
    m = on_device(_load(model), device, precision)
    if k.strip().lower() == "all":
        ks = list(range(m.num_ws + 1))
    else:
        try:
            ks = [int(k)]
        except ValueError:
            raise FaceEditError(f"--k must be a number 0-{m.num_ws} or 'all', got {k!r}") from None
    a, b = (resolve_shown(x, m, trunc, Progress()) for x in (face_a, face_b))
    ws = torch.cat([crossover(a.ws, b.ws, kk) for kk in ks])
    _save(out, a.render(ws, paste=None), cols=min(len(ks), 10))
    print(f"wrote crossover of {a.label} (first {k} layers) and {b.label} to {out}")
    _save_latents(save_latents, ws, m)


# ---- transfer -----------------------------------------------------------------------------------------------
def transfer_cmd(
    target: str = typer.Argument(..., help="the face to change: " + FACE_HELP),
    from_face: str = typer.Option(..., "--from", help="someone else's face before (e.g. neutral)"),
    to_face: str = typer.Option(..., "--to", help="the same person after (e.g. smiling)"),
    strength: str = typer.Option("1", "--strength", help="λ, or a list like 0,0.5,1,1.5 for a strip"),
    layers: str = typer.Option("all", *LAYERS, help=LAYERS_HELP),
    out: Path = typer.Option(Path("transfer.png"), *OUT, help="output image"),
    trunc: TruncOpt = 0.7,
    save_latents: SaveLatentsOpt = None,
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Expression transfer w1 + λ(w3 − w2): `faceedit transfer me.npz --from neutral.npz --to smile.npz`."""
    import torch

    from faceedit.edit.mixing import expression_transfer

    _check_image_out(out)
    lambdas = _floats(strength, "--strength")
    m = on_device(_load(model), device, precision)
    t, f, s = (resolve_shown(x, m, trunc, Progress()) for x in (target, from_face, to_face))
    ws = torch.cat([expression_transfer(t.ws, f.ws, s.ws, lam, layers) for lam in lambdas])
    _save(out, t.render(ws, paste=None), cols=min(len(lambdas), 10))
    print(f"wrote {t.label} + λ·({s.label} − {f.label}) for λ = {', '.join(f'{x:g}' for x in lambdas)} to {out}")
    _save_latents(save_latents, ws, m)


# ---- channels -----------------------------------------------------------------------------------------------
channels_app = typer.Typer(help="StyleSpace channels: find the channels of a region or attribute, edit channels.",
                           no_args_is_help=True, add_completion=False)


def _sample_ws(m, samples: int, seed: int, trunc: float):
    import numpy as np
    import torch

    if samples < 2:
        raise FaceEditError("--samples must be at least 2")
    check_memory(samples * (m.z_dim + m.num_ws * m.w_dim) * 4, f"--samples {samples:,}", "use fewer samples")
    check_truncation(trunc, "--trunc")
    z = torch.from_numpy(np.random.RandomState(seed).randn(samples, m.z_dim)).float().to(m.device)
    return m.map(z, trunc)


def _region_source(m, region: Optional[str], mask: Optional[Path], what: str):
    """(fixed mask tensor or None, region fn or None, label)."""
    from faceedit.edit.scoring import load_mask, parser_region, region_classes

    if (region is None) == (mask is None):
        raise FaceEditError(f"{what}: give exactly one of --region NAME or --mask FILE")
    if mask is not None:
        return load_mask(mask, m.resolution), None, f"mask {mask.name}"
    region_classes(region)  # validate the name before loading anything
    return None, parser_region(region, m.device), region


@channels_app.command("find")
def channels_find(
    region: Optional[str] = typer.Option(None, "--region", help="face-parser region: hair, mouth, eyes, nose, "
                                         "brows, skin, ears, lips, neck, … (needs the face parser)"),
    attr: Optional[str] = typer.Option(None, "--attr", help="classifier attribute, e.g. smiling (needs the "
                                       "attribute classifier)"),
    mask: Optional[Path] = typer.Option(None, "--mask", help="a fixed region: PNG mask in the aligned frame "
                                        "(white = region)"),
    out: Path = typer.Option(Path("channels"), *OUT, help="folder for channels.tsv, channels.json and "
                             "one preview sheet per channel"),
    top_k: int = typer.Option(5, "--top-k", help="channels to keep from the most responsive layer"),
    samples: int = typer.Option(32, "--samples", help="random faces to average over"),
    seed: int = typer.Option(0, "--seed", help="random seed of the samples"),
    trunc: float = typer.Option(0.7, *TRUNC, help="truncation ψ of the samples"),
    positive_fraction: float = typer.Option(0.5, "--positive-fraction", help="attribute mode: share of samples "
                                            "(highest logits) used as positives"),
    layers: Optional[str] = typer.Option(None, "--style-layers", help="restrict the search to these StyleSpace "
                                         "layers (e.g. 6,9 or 5-12)"),
    include_torgb: bool = typer.Option(False, "--include-torgb", help="search ToRGB layers too"),
    probes: int = typer.Option(2, "--probes", help="region mode: random probes per sample"),
    sigma_samples: int = typer.Option(1000, "--sigma-samples", help="samples for channel σ"),
    preview: str = typer.Option("0-3", "--preview-seeds", help="seeds shown in the preview sheets"),
    alpha: float = typer.Option(10.0, "--alpha", help="preview edit strength in σ (sheets show −α, 0, +α)"),
    batch: int = typer.Option(4, "--batch", help="faces per forward/backward pass"),
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Find the StyleSpace channels controlling a region (--region/--mask) or an attribute (--attr)."""
    from faceedit.atomic import write_text
    from faceedit.edit.layers import parse_layers
    from faceedit.edit.stylespace import (StyleDirection, find_channels_attribute, find_channels_region,
                                          preview_sheet, style_stats)
    from faceedit.face import resolve_face
    from faceedit.media import save_image

    if sum(x is not None for x in (region, attr, mask)) != 1:
        raise FaceEditError("give exactly one of --region, --attr or --mask")
    if top_k < 1 or batch < 1 or probes < 1:
        raise FaceEditError("--top-k, --batch and --probes must be at least 1")
    check_float(positive_fraction, "--positive-fraction", 0.0, 1.0, lo_open=True)
    check_float(alpha, "--alpha", -MAX_STRENGTH, MAX_STRENGTH)
    m = on_device(_load(model), device, precision)
    style_layers = parse_layers(layers, len(m.style_layers)) if layers else None
    if attr is not None:
        from faceedit.edit.scoring import classifier_score

        score = classifier_score(attr, m.device)
    else:
        fixed, region_fn, label = _region_source(m, region, mask, "channel finding by region")
    ws = _sample_ws(m, samples, seed, trunc)
    stats = style_stats(m, sigma_samples, truncation=trunc)
    if attr is not None:
        res = find_channels_attribute(m, ws, score, k=top_k, stats=stats, positive_fraction=positive_fraction,
                                      include_torgb=include_torgb, layers=style_layers, target=attr,
                                      batch_size=batch, progress=True)
    else:
        res = find_channels_region(m, ws, mask=fixed, region=region_fn, k=top_k, stats=stats, probes=probes,
                                   include_torgb=include_torgb, layers=style_layers, target=label,
                                   batch_size=batch, progress=True)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "channels.tsv", res.table(stats))
    write_text(out / "channels.json", res.to_json())
    import torch

    pw = torch.cat([resolve_face(str(s), m, trunc).ws for s in parse_seeds(preview, 64)])
    alphas = [-alpha, 0.0, alpha]
    for cid, sign in zip(res.ids, res.weights):
        sheet = preview_sheet(m, pw, StyleDirection.single(cid, 1.0 if sign >= 0 else -1.0), alphas, stats)
        save_image(out / f"preview_{cid.layer}_{cid.channel}.png", sheet)
    save_image(out / "preview_all.png", preview_sheet(m, pw, res.direction(), alphas, stats))
    print(f"most responsive layer: {res.layer} ({res.layer_name}); top {len(res.channels)} channels "
          f"for {res.target} over {res.samples} samples:")
    sys.stdout.write(res.table(stats))
    print(f"wrote {out}/channels.tsv, channels.json and {len(res.channels) + 1} preview sheets "
          f"(columns: α = {-alpha:g}, 0, {alpha:g} σ)")


@channels_app.command("edit")
def channels_edit(
    face: str = typer.Argument(..., help=FACE_HELP),
    channel: Optional[List[str]] = typer.Option(None, "--channel", "-c", help="layer:channel in StyleSpace order "
                                                "(ToRGB layers counted; e.g. 6:501 smile on FFHQ-1024); "
                                                "repeat for several; prefix '-' to invert"),
    from_file: Optional[Path] = typer.Option(None, "--from-file", help="channels.json from 'channels find': "
                                             "edit along its normalised multi-channel direction"),
    top: Optional[int] = typer.Option(None, "--top", help="with --from-file: use only the best N channels"),
    alpha: str = typer.Option("5", "--alpha", help="strength in σ, or a list like -10,0,10 for a strip"),
    out: Path = typer.Option(Path("channels_edit.png"), *OUT, help="output image"),
    trunc: float = typer.Option(0.7, *TRUNC, help=TRUNC_HELP + " (and of the σ samples)"),
    sigma_samples: int = typer.Option(1000, "--sigma-samples", help="samples for channel σ"),
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Edit StyleSpace channels: s + α·σ·e (`faceedit channels edit 12 --channel 6:501 --alpha 5`)."""
    from faceedit.edit.layers import parse_channel
    from faceedit.edit.stylespace import StyleDirection, edit_images, read_channels_json, style_stats
    from faceedit.media import to_uint8

    _check_image_out(out)
    if bool(channel) == (from_file is not None):
        raise FaceEditError("give --channel L:C (one or more) or --from-file channels.json")
    alphas = _floats(alpha, "--alpha")
    m = on_device(_load(model), device, precision)
    if from_file is not None:
        if not from_file.is_file():
            raise FaceEditError(f"channel file not found: {from_file}")
        try:
            direction = read_channels_json(from_file.read_text(), top)
        except (ValueError, TypeError, KeyError) as exc:
            raise FaceEditError(f"{from_file} is not a channels.json from 'faceedit channels find' ({exc})") from None
        for cid in direction.channels:
            parse_channel(str(cid), m.style_layers)
    else:
        ids, signs = [], []
        for c in channel:
            neg = c.strip().startswith("-")
            ids.append(parse_channel(c.strip().lstrip("-"), m.style_layers))
            signs.append(-1.0 if neg else 1.0)
        direction = StyleDirection(ids, signs)
    f = resolve_shown(face, m, trunc, Progress())
    stats = style_stats(m, sigma_samples, truncation=trunc)
    imgs = to_uint8(edit_images(f.generator, f.ws, direction, alphas, stats, noise=f.noise))
    _save(out, imgs, cols=min(len(alphas), 10))
    print(f"wrote {f.label} edited along {direction} at α = {', '.join(f'{a:g}' for a in alphas)} σ to {out}")


# ---- local --------------------------------------------------------------------------------------------------
def local_cmd(
    face: str = typer.Argument(..., help=FACE_HELP),
    region: Optional[str] = typer.Option(None, "--region", help="face-parser region (needs the face parser)"),
    mask: Optional[Path] = typer.Option(None, "--mask", help="PNG mask in the aligned frame (white = region)"),
    attr: Optional[str] = typer.Option(None, "--attr", help="use only samples positive for this attribute "
                                       "(needs the attribute classifier)"),
    layer: Optional[str] = typer.Option(None, "--layer", help="feature layer, e.g. b32.conv1 (default: 32 px "
                                        "conv1, or R/2 below 64 px)"),
    top_k: int = typer.Option(8, "--top-k", help="channels to change"),
    alpha: str = typer.Option("5", "--alpha", help="strength in σ of each channel's activation, or a list"),
    samples: int = typer.Option(32, "--samples", help="random faces used to score the channels"),
    seed: int = typer.Option(0, "--seed", help="random seed of the samples"),
    out: Path = typer.Option(Path("local.png"), *OUT, help="output image"),
    diff: Optional[Path] = typer.Option(None, "--diff", help="write a heat map of the pixel change"),
    table: Optional[Path] = typer.Option(None, "--table", help="write the chosen channels as a TSV"),
    trunc: float = typer.Option(0.7, *TRUNC, help=TRUNC_HELP + " (and of the samples)"),
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Local edit: raise the region's most active feature channels inside the region only (ATMGAN-style)."""
    import torch

    from faceedit.atomic import write_text
    from faceedit.edit.local import change_share, diff_heatmap, local_edit, score_local_channels
    from faceedit.edit.stylespace import region_masks
    from faceedit.media import make_grid, save_image, to_uint8

    _check_image_out(out)
    if diff is not None:
        _check_image_out(diff)
    alphas = _floats(alpha, "--alpha")
    m = on_device(_load(model), device, precision)
    fixed, region_fn, label = _region_source(m, region, mask, "a local edit")
    positives = None
    if attr is not None:
        from faceedit.edit.scoring import classifier_score

        positives = classifier_score(attr, m.device)
    f = resolve_shown(face, m, trunc, Progress())
    ws = _sample_ws(m, samples, seed, trunc)
    chans = score_local_channels(m, ws, mask=fixed, region=region_fn, layer=layer, k=top_k, positives=positives)
    before = f.synthesize()
    M = region_masks(before, fixed, region_fn)
    edited = torch.cat([local_edit(f.generator, f.ws, chans, a, mask=M[0, 0], noise=f.noise) for a in alphas])
    _save(out, to_uint8(edited), cols=min(len(alphas), 10))
    shares = change_share(before.expand_as(edited), edited, M[0, 0])
    if diff is not None:
        heat = diff_heatmap(before.expand_as(edited), edited, M[0, 0])
        save_image(diff, heat[0] if len(heat) == 1 else make_grid(heat, cols=min(len(alphas), 10), pad=2))
    if table is not None:
        write_text(table, chans.table())
    area = float(M.mean())
    print(f"changed {len(chans.channels)} channels of {chans.layer} ({', '.join(map(str, chans.channels))}) inside "
          f"{label} (scored over {chans.samples} samples) of {f.label}; wrote {out}" + (f" and {diff}" if diff else ""))
    for a, s in zip(alphas, shares.tolist()):
        print(f"  α = {a:g}: {100 * s:.1f}% of the pixel change is inside the region ({100 * area:.1f}% of the image)")


# ---- eval edits ---------------------------------------------------------------------------------------------
def eval_edits(
    attr: str = typer.Option(..., "--attr", help="target attribute of the edits (classifier name, e.g. smiling)"),
    channel: Optional[List[str]] = typer.Option(None, "--channel", "-c", help="StyleSpace channel edit L:C "
                                                "(repeatable; each is one edit)"),
    channels_file: Optional[List[Path]] = typer.Option(None, "--channels-file", help="channels.json "
                                                       "(multi-channel edit; repeatable)"),
    direction: Optional[List[Path]] = typer.Option(None, "--direction", help="w / w+ direction .npy/.npz "
                                                   "(e.g. InterfaceGAN; repeatable)"),
    attr_direction: Optional[List[str]] = typer.Option(None, "--attr-direction", "-d", help="a fitted attribute "
                                                       "direction by name (see 'faceedit directions list'), in its "
                                                       "units; repeatable"),
    directions_dir: Optional[Path] = typer.Option(None, "--directions", help="folder of fitted directions"),
    alphas: str = typer.Option("5,10", "--alphas", help="channel edit strengths in σ"),
    w_alphas: str = typer.Option("1,2,3", "--w-alphas", help="strengths for w directions"),
    samples: int = typer.Option(64, "--samples", help="random faces"),
    seed: int = typer.Option(1000, "--seed", help="random seed of the samples"),
    trunc: float = typer.Option(0.7, *TRUNC, help="truncation ψ of the samples"),
    out: Optional[Path] = typer.Option(None, *OUT, help="write the table as TSV"),
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Attribute Dependency (AD_t, AD_o, AD_o/|AD_t|) of channel edits and w directions, side by side."""
    from faceedit.atomic import write_text
    from faceedit.edit.ad import ad_table, channel_edit, compare_edits, load_w_direction, w_direction_edit
    from faceedit.edit.layers import parse_channel
    from faceedit.edit.scoring import attribute_index, classifier_logits
    from faceedit.edit.stylespace import StyleDirection, read_channels_json, style_stats

    if not (channel or channels_file or direction or attr_direction):
        raise FaceEditError("give at least one edit: --channel L:C, --channels-file FILE, --direction FILE or "
                            "--attr-direction NAME")
    a_ch, a_w = _floats(alphas, "--alphas"), _floats(w_alphas, "--w-alphas")
    m = on_device(_load(model), device, precision)
    logits, names = classifier_logits(m.device)
    target = attribute_index(type("C", (), {"attributes": names})(), attr)
    stats = style_stats(m, 1000, truncation=trunc)
    ws = _sample_ws(m, samples, seed, trunc)
    ch_edits, w_edits = {}, {}
    for c in channel or []:
        neg = c.strip().startswith("-")
        d = StyleDirection.single(parse_channel(c.strip().lstrip("-"), m.style_layers), -1.0 if neg else 1.0)
        ch_edits[f"channel {c}"] = channel_edit(m, d, stats)
    for p in channels_file or []:
        if not p.is_file():
            raise FaceEditError(f"channel file not found: {p}")
        ch_edits[f"channels {p.name}"] = channel_edit(m, read_channels_json(p.read_text()), stats)
    for p in direction or []:
        w_edits[f"direction {p.name}"] = w_direction_edit(m, load_w_direction(p))
    if attr_direction:
        from faceedit.edit.directions import load_directions

        fitted = load_directions(m, directions_dir)
        for name in attr_direction:
            d = fitted.get(name)
            w_edits[f"InterfaceGAN {d.name} ({d.space})"] = w_direction_edit(m, d.vector * d.scale)
    results = []
    if ch_edits:
        results += compare_edits(m, ws, ch_edits, a_ch, logits, target)
    if w_edits:
        results += compare_edits(m, ws, w_edits, a_w, logits, target)
    text = ad_table(results)
    sys.stdout.write(f"# target {names[target]}, {samples} samples; AD_t = mean Δlogit_t/σ_t, AD_o = mean |Δlogit_i|"
                     f"/σ_i over the other {len(names) - 1} attributes, ratio = AD_o/|AD_t| (lower: more "
                     "disentangled)\n" + text)
    if out is not None:
        write_text(out, text)



def register(app: typer.Typer) -> None:
    app.command("mix")(mix_cmd)
    app.command("morph")(morph_cmd)
    app.command("crossover")(crossover_cmd)
    app.command("transfer")(transfer_cmd)
    app.command("local")(local_cmd)
    app.add_typer(channels_app, name="channels")
    group = command_group(app, "eval")
    group.command("edits")(eval_edits)
