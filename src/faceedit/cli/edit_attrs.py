"""``faceedit edit`` and ``faceedit animate``: move faces along attribute directions.

Faces are seeds, latent files or photos (photos are aligned, inverted, edited and pasted back; ``--crop`` keeps
the aligned face only). Amounts are given as options named after the attribute: ``--smiling 2 --age -1.5``
(units: standard deviations of the latent distribution along the direction; see ``faceedit directions list``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import typer

from faceedit.cli.device_options import DeviceOpt, PrecisionOpt, on_device
from faceedit.cli.edit_ops import _load
from faceedit.cli.options import FACE_HELP, LAYERS, LAYERS_HELP, ModelOpt, OUT, QUIET, ThreadsOpt, TruncOpt
from faceedit.cli.progress import Progress, resolve_shown
from faceedit.figure import labelled_grid
from faceedit.errors import FaceEditError
from faceedit.invert.methods import PHOTO_METHOD, get_method, methods_help, steps_help
from faceedit.limits import MAX_ANIMATION_PIXELS, MAX_FRAMES, check_pixels
from faceedit.threads import set_threads

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
PHOTO_METHOD_HELP = f"photo inversion (default {PHOTO_METHOD}): {methods_help()}"
PHOTO_STEPS_HELP = f"photo inversion: optimisation steps, tuning steps for pivotal ({steps_help()})"
MAX_AMOUNT = 50.0
#: Faces in one edit or animation.
MAX_FACES = 64


def parse_amounts(args: List[str], edits: List[str]) -> dict[str, float]:
    """``['--smiling', '2', '--age=-1.5']`` and ``['smiling=2']`` → ``{'smiling': 2.0, 'age': -1.5}``."""
    from faceedit.edit.attributes import canonical

    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("--") or len(a) < 3:
            raise FaceEditError(f"unexpected argument {a!r}: give attribute amounts as --NAME VALUE, e.g. --smiling 2")
        if "=" in a:
            k, v = a[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise FaceEditError(f"{a} needs an amount, e.g. {a} 1.5")
            k, v = a[2:], args[i + 1]
            i += 2
        pairs.append((k, v))
    for e in edits:
        if "=" not in e:
            raise FaceEditError(f"--edit {e!r}: use NAME=AMOUNT, e.g. --edit smiling=2")
        pairs.append(tuple(e.split("=", 1)))  # type: ignore[arg-type]
    out: dict[str, float] = {}
    for k, v in pairs:
        try:
            x = float(v)
        except ValueError:
            raise FaceEditError(f"--{k} {v!r}: the amount must be a number, e.g. --{k} 1.5") from None
        if not np.isfinite(x) or abs(x) > MAX_AMOUNT:
            raise FaceEditError(f"--{k} {v}: use an amount between -{MAX_AMOUNT:g} and {MAX_AMOUNT:g}")
        out[canonical(k)] = out.get(canonical(k), 0.0) + x
    return out


def split_amount_args(tokens: List[str]) -> tuple[list[str], list[str]]:
    """Separate ``--NAME VALUE`` / ``--NAME=VALUE`` pairs (unknown options, which click hands over mixed with the
    positional faces) from the faces."""
    faces, extra = [], []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.startswith("--"):
            extra.append(t)
            if "=" not in t and i + 1 < len(tokens):
                extra.append(tokens[i + 1])
                i += 1
        else:
            faces.append(t)
        i += 1
    return faces, extra


def _generators(model: str, device: str, precision: str, method: str):
    """``(m, art, method)``: the model to draw with; for an adapted generator (``faceedit adapt``) also its source
    G_A, which inverts the faces (same latent space), and the inversion method for it (else None, ``method``)."""
    from faceedit.adapt.faces import art_method, art_source

    m = on_device(_load(model), device, precision)
    art = art_source(m)
    if art is not None:
        method, note = art_method(method)
        if note:
            print(f"note: {note}", file=sys.stderr)
    return m, art, method


def _subjects(faces: List[str], seed: Optional[str], latent: Optional[Path], m, trunc: float,
              method: str, aligned: bool = False, steps: Optional[int] = None, paste: str = "change",
              progress: Progress | None = None, art=None):
    """The faces to edit (:class:`~faceedit.face.Face`, at most :data:`MAX_FACES`): seeds, seed ranges, latent
    files and photos; photos are aligned and inverted with ``method`` (their notes go to stderr, their stages to
    ``progress``). ``art``: the source generator of an adapted ``m``: faces are resolved with it and drawn by
    ``m``."""
    from faceedit.adapt.faces import drawn_by
    from faceedit.align.photo import check_paste_mode
    from faceedit.cli.options import parse_seeds

    specs: list[str] = []
    if seed is not None:
        specs += [str(s) for s in parse_seeds(seed, MAX_FACES)]
    if latent is not None:
        specs.append(str(latent))
    for f in faces:
        try:
            specs += [str(s) for s in parse_seeds(f, MAX_FACES)]
        except FaceEditError as exc:
            if "too many" in str(exc):
                raise FaceEditError(f"{f[:40]}: edit at most {MAX_FACES} faces at a time") from None
            specs += [p for p in f.split(",") if p.strip()][:MAX_FACES + 1] if not Path(f).exists() else [f]
        if len(specs) > MAX_FACES:
            break
    if not specs:
        raise FaceEditError("no face given: a seed (--seed 3), a latent file (--latent f.npz) or a photo")
    if len(specs) > MAX_FACES:
        raise FaceEditError(f"more than {MAX_FACES} faces: edit at most {MAX_FACES} at a time")
    if steps is not None and not 1 <= steps <= 10000:
        raise FaceEditError("--steps must be between 1 and 10000")
    check_paste_mode(paste)
    get_method(method)
    out = []
    for spec in specs:
        face = resolve_shown(spec, art or m, trunc, progress or Progress(quiet=True), method=method, aligned=aligned,
                             steps=steps)
        for note in face.notes:
            print(f"note: {note}", file=sys.stderr)
        out.append(face if art is None else drawn_by(face, m))
    return out


PASTE_HELP = ("photos: 'change' adds the edit's change to the photo's own pixels (keeps its detail); 'replace' "
              "pastes the generator's face")


def _directions(m, folder: Optional[Path], force: bool):
    from faceedit.edit.directions import load_directions

    return load_directions(m, folder, check=not force)


def _tile(rows: list[list[np.ndarray]]) -> np.ndarray:
    from faceedit.media import make_grid

    h = max(im.shape[0] for r in rows for im in r)
    w = max(im.shape[1] for r in rows for im in r)
    cells = []
    for r in rows:
        for im in r:
            pad = np.full((h, w, 3), 255, np.uint8)
            pad[:im.shape[0], :im.shape[1]] = im
            cells.append(pad)
    return make_grid(np.stack(cells), cols=len(rows[0]), pad=2)


def edit_cmd(
    ctx: typer.Context,
    faces: List[str] = typer.Argument(None, help=FACE_HELP + "; several, or seed ranges like 0-3"),
    seed: Optional[str] = typer.Option(None, "--seed", "-s", help="seed(s) of the face(s): 3 or 0-7"),
    latent: Optional[Path] = typer.Option(None, "--latent", help="latent file (.npz/.npy)"),
    edit: List[str] = typer.Option([], "--edit", "-e", help="NAME=AMOUNT (same as --NAME AMOUNT); repeatable"),
    keep: str = typer.Option("", "--keep", "-k", help="attributes to hold fixed (conditional editing), e.g. male,age"),
    layers: Optional[str] = typer.Option(None, *LAYERS, help=LAYERS_HELP),
    space: str = typer.Option("w", "--space", help="w: the w / w+ directions; z: directions fitted in z "
                              "('directions fit --space z'), for seeds and faces inverted with '--space z'"),
    out: Path = typer.Option(Path("edited.png"), *OUT, help="output image (.png/.jpg/.webp)"),
    grid: bool = typer.Option(False, "--grid", help="a row per face and attribute, columns from -amount to +amount"),
    columns: int = typer.Option(5, "--columns", help="columns of --grid"),
    compare: bool = typer.Option(False, "--compare", help="show the original beside each edit (an adapted --model: "
                                 "the source and the adapted generator's reconstructions)"),
    crop: bool = typer.Option(False, "--crop", help="photos: write the aligned face only (no paste-back)"),
    paste: str = typer.Option("change", "--paste", help=PASTE_HELP),
    method: str = typer.Option(PHOTO_METHOD, "--method", help=PHOTO_METHOD_HELP),
    steps: Optional[int] = typer.Option(None, "--steps", help=PHOTO_STEPS_HELP),
    aligned: bool = typer.Option(False, "--aligned", help="photos are already FFHQ-aligned squares (no detection)"),
    save_latents: Optional[Path] = typer.Option(None, "--save-latents", help="also write the edited w+ (.npz)"),
    directions: Optional[Path] = typer.Option(None, "--directions", help="folder of directions (default: shipped "
                                              "or fitted for this model)"),
    force: bool = typer.Option(False, "--force", help="use directions fitted on another model"),
    trunc: TruncOpt = 0.7,
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    quiet: bool = typer.Option(False, *QUIET, help="no progress on stderr (it shows only on a terminal)"),
) -> None:
    """Edit attributes: `faceedit edit --seed 3 --smiling 2 --age -1.5 --keep male -o out.png`;
    `faceedit edit photo.jpg --smiling 1.5 -o out.jpg` (aligns, inverts, edits, pastes back);
    `faceedit edit 0-3 --smiling 3 --age 3 --grid -o grid.png`. Attributes: `faceedit directions list`."""
    import torch

    from faceedit.adapt.faces import reconstructions
    from faceedit.cli.edit_ops import _check_image_out, _save_latents
    from faceedit.media import save_image

    if threads is not None:
        set_threads(threads)
    faces, extra = split_amount_args(list(faces or []) + list(ctx.args))
    amounts = parse_amounts(extra, edit)
    if not amounts:
        raise FaceEditError("no edit given: add an attribute and an amount, e.g. --smiling 2 "
                            "(see 'faceedit directions list')")
    _check_image_out(out)
    if not 2 <= columns <= 15:
        raise FaceEditError("--columns must be between 2 and 15")
    if space not in ("w", "z"):
        raise FaceEditError(f"--space must be w or z, got {space!r}")
    if space == "z" and layers is not None:
        raise FaceEditError("--layers edits w+ layers; a z edit moves the whole code (leave out --layers)")
    m, art, method = _generators(model, device, precision, method)
    dirs = _directions(art or m, directions, force)
    for name in list(amounts) + [k for k in keep.split(",") if k.strip()]:
        dirs.get(name, "z" if space == "z" else None)
    keep_list = [k.strip() for k in keep.split(",") if k.strip()]
    progress = Progress(quiet)
    subjects = _subjects(faces, seed, latent, m, trunc, method, aligned, steps, paste, progress, art)
    how = None if crop else paste

    def edited(face, amounts_: dict[str, float]) -> torch.Tensor:
        if space == "w":
            return dirs.apply(face.ws, amounts_, keep_list, layers)
        if face.z is None:
            raise FaceEditError(f"{face.label}: a z edit needs the face's z: give a seed, or a latent file from "
                                "'faceedit invert --space z'")
        return m.map(dirs.apply_z(face.z, amounts_, keep_list), face.truncation)

    progress.stage("rendering" + (" and pasting into the photo" if any(f.photo is not None for f in subjects)
                                  and how else ""))
    rows: list[list[np.ndarray]] = []
    row_labels: list[str] = []
    edited_ws = []
    for face in subjects:
        if grid:
            for name, amount in amounts.items():
                steps = np.linspace(-abs(amount), abs(amount), columns)
                ws = torch.cat([edited(face, {name: float(t)}) for t in steps])
                rows.append(list(face.render(ws, paste=how)))
                row_labels.append(f"{face.label}: {name}")
                edited_ws.append(ws)
        else:
            ws = edited(face, amounts)
            edited_ws.append(ws)
            row = list(face.render(ws, paste=how))
            if art is not None:  # G_A's and G_B's reconstructions, as tall as the edits
                first = reconstructions(face, m, art, side=row[0].shape[0])
            else:
                first = list(face.render(paste=how))
            rows.append((first + row) if compare else row)
            row_labels.append(face.label)
    what = ", ".join(f"{k} {v:+g}" for k, v in amounts.items())
    if len(rows) == 1 and len(rows[0]) == 1:
        save_image(out, rows[0][0])
    elif not grid and not compare:
        save_image(out, _tile([[r[0] for r in rows]]))
    elif grid:  # a labelled figure: face and attribute on the left, the amount over each column
        spans = {abs(v) for v in amounts.values()}
        if len(spans) == 1:
            span = spans.pop()
            cols = [f"{t:+.1f}" for t in np.linspace(-span, span, columns)]
            header = "amount (standard deviations along the direction)"
        else:  # each row has its own range: the columns are fractions of it, the rows say the range
            cols = [f"{t:+.2g}" for t in np.linspace(-1, 1, columns)]
            row_labels = [f"{lab} (±{abs(amounts[lab.rsplit(': ', 1)[1]]):g})" for lab in row_labels]
            header = "amount, as a fraction of each row's (±A on the left)"
        held = f", {', '.join(keep_list)} held fixed" if keep_list else ""
        save_image(out, labelled_grid(rows, rows=row_labels, cols=cols, col_title=header + held))
    else:
        save_image(out, _tile(rows))
    _save_latents(save_latents, torch.cat(edited_ws), m)
    extra = f" keeping {', '.join(keep_list)} fixed" if keep_list else ""
    print(f"edited {len(subjects)} face(s) ({what}{extra}) → {out}")


def animate_cmd(
    faces: List[str] = typer.Argument(None, help=FACE_HELP + "; several are tiled side by side"),
    attr: str = typer.Option(..., "--attr", "-a", help="attribute(s) to sweep, comma-separated (in sequence, or "
                             "together with --combine)"),
    value_range: Tuple[float, float] = typer.Option((-3.0, 3.0), "--range", help="start and end amount"),
    frames: int = typer.Option(48, "--frames", "-n", help="frames per sweep"),
    fps: float = typer.Option(24.0, "--fps", help="frames per second"),
    combine: bool = typer.Option(False, "--combine", help="move all attributes at once instead of in turn"),
    pingpong: bool = typer.Option(False, "--pingpong", help="go back to the start too (seamless loop)"),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="show the original beside each animated face"),
    seed: Optional[str] = typer.Option(None, "--seed", "-s", help="seed(s): 3 or 0-3"),
    latent: Optional[Path] = typer.Option(None, "--latent", help="latent file (.npz/.npy)"),
    keep: str = typer.Option("", "--keep", "-k", help="attributes to hold fixed"),
    layers: Optional[str] = typer.Option(None, *LAYERS, help=LAYERS_HELP),
    out: Path = typer.Option(Path("edit.gif"), *OUT, help=".gif or .mp4"),
    crop: bool = typer.Option(False, "--crop", help="photos: animate the aligned face only (no paste-back)"),
    paste: str = typer.Option("change", "--paste", help=PASTE_HELP),
    method: str = typer.Option(PHOTO_METHOD, "--method", help=PHOTO_METHOD_HELP),
    steps: Optional[int] = typer.Option(None, "--steps", help=PHOTO_STEPS_HELP),
    aligned: bool = typer.Option(False, "--aligned", help="photos are already FFHQ-aligned squares"),
    directions: Optional[Path] = typer.Option(None, "--directions", help="folder of directions"),
    force: bool = typer.Option(False, "--force", help="use directions fitted on another model"),
    trunc: TruncOpt = 0.7,
    model: ModelOpt = "default",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    quiet: bool = typer.Option(False, *QUIET, help="no progress on stderr (it shows only on a terminal)"),
) -> None:
    """Animate an edit: `faceedit animate --seed 3 --attr smiling --range -3 3 --frames 48 -o smile.gif`;
    `--attr smiling,age` plays one sweep after the other (`--combine`: together); `--pingpong` loops back."""
    from faceedit.media import ANIMATION_SUFFIXES, save_animation

    if threads is not None:
        set_threads(threads)
    if out.suffix.lower() not in ANIMATION_SUFFIXES:
        raise FaceEditError(f"--out {out}: use .gif or .mp4")
    if fps <= 0 or fps > 120:
        raise FaceEditError("--fps must be in (0, 120]")
    lo, hi = value_range
    if not all(np.isfinite([lo, hi])) or max(abs(lo), abs(hi)) > MAX_AMOUNT:
        raise FaceEditError(f"--range: use amounts between -{MAX_AMOUNT:g} and {MAX_AMOUNT:g}")
    names = [a.strip() for a in attr.split(",") if a.strip()]
    keep_list = [k.strip() for k in keep.split(",") if k.strip()]
    if not names or len(names) > 64:
        raise FaceEditError("--attr: name 1 to 64 attributes")
    if frames < 2:
        raise FaceEditError("--frames must be at least 2")
    total = frames * (1 if combine else len(names)) * (2 if pingpong else 1)
    if total > MAX_FRAMES:
        raise FaceEditError(f"the animation would have {total:,} frames; at most {MAX_FRAMES:,} (fewer --frames or "
                            "attributes)")
    m, art, method = _generators(model, device, precision, method)
    dirs = _directions(art or m, directions, force)
    for name in names + keep_list:
        dirs.get(name)
    progress = Progress(quiet)
    subjects = _subjects(faces or [], seed, latent, m, trunc, method, aligned, steps, paste, progress, art)
    how = None if crop else paste
    per_frame = sum(f.frame_pixels(how) for f in subjects) * (2 if side_by_side else 1)
    check_pixels(total * per_frame, MAX_ANIMATION_PIXELS, "the animation", "fewer frames or faces, or --crop")
    seqs = [dirs.sweep(f.ws, names, lo, hi, frames, combine=combine, pingpong=pingpong, keep=keep_list,
                       layers=layers) for f in subjects]
    originals = [f.render(paste=how)[0] for f in subjects] if side_by_side else None
    out_frames = []
    n_frames = seqs[0].shape[0]
    for t in range(n_frames):
        progress.step("rendering frames", t, n_frames)
        cells = []
        for k, face in enumerate(subjects):
            img = face.render(seqs[k][t], paste=how)[0]
            cells += [originals[k], img] if originals else [img]
        out_frames.append(cells[0] if len(cells) == 1 else _tile([cells]))
    progress.step("rendering frames", n_frames, n_frames)
    progress.stage(f"writing {out.name}")
    save_animation(out, out_frames, fps=fps)
    print(f"wrote a {len(out_frames)}-frame animation of {', '.join(names)} ({lo:+g} → {hi:+g}) to {out}")


def register(app: typer.Typer) -> None:
    app.command("edit", context_settings=EXTRA)(edit_cmd)
    app.command("animate")(animate_cmd)

