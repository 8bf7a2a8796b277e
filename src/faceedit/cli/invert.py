"""``faceedit invert`` (photos → latents + previews), ``faceedit eval inversion``, ``faceedit train encoder`` and
``faceedit train export-encoder``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from faceedit.threads import set_threads
from faceedit.cli.device_options import DeviceOpt, PrecisionOpt, on_device
from faceedit.cli.options import ModelOpt, OUT, QUIET, command_group
from faceedit.cli.progress import Progress
from faceedit.errors import FaceEditError
from faceedit.invert.methods import DEFAULT_METHOD, METHODS, get_method, methods_help, steps_help

METHOD_HELP = methods_help()


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _check_method(method: str) -> str:
    return get_method(method, "--method").name


PERCEPTUAL_HELP = ("Perceptual loss: auto (faceapi when its weights are fetched, else vgg16, with a note), vgg16 "
                   "(LPIPS-style on ImageNet VGG16: the weights from 'faceedit features fetch vgg16', or a torchvision "
                   "file via --perceptual-weights), faceapi (face-api's recognition ResNet), lpips (needs "
                   "--perceptual-weights), none.")
WEIGHTS_HELP = ("A torchvision vgg16/vgg19 state dict for --perceptual vgg16; for lpips the VGG16 file and LPIPS' "
                "vgg.pth (repeat the option), or one lpips.LPIPS state dict.")


def _check_perceptual(name: str, weights: Optional[List[Path]]) -> None:
    from faceedit.metrics.distances import PERCEPTUAL_LOSSES

    if name not in PERCEPTUAL_LOSSES:
        raise FaceEditError(f"--perceptual must be one of {', '.join(PERCEPTUAL_LOSSES)}, got {name!r}")
    if weights and name not in ("vgg16", "lpips"):
        raise FaceEditError("--perceptual-weights goes with --perceptual vgg16 or lpips")


def _perceptual_loss(name: str, weights: Optional[List[Path]]):
    """``--perceptual`` / ``--perceptual-weights`` → (distance or None, note or None); checked before any work."""
    from faceedit.invert import get_perceptual

    _check_perceptual(name, weights)
    files = None if not weights else (weights[0] if len(weights) == 1 else list(weights))
    return get_perceptual(name, weights=files)


def _check_space(space: str) -> str:
    if space not in ("w", "w+", "z"):
        raise FaceEditError(f"--space must be w, w+ or z, got {space!r}")
    return space


def invert(
    photos: List[Path] = typer.Argument(..., help="Photos (or, with --aligned, FFHQ-aligned face images)."),
    output: Path = typer.Option(..., *OUT, help="Latent file to write (.npz, one row per photo)."),
    model: ModelOpt = "default",
    method: str = typer.Option(DEFAULT_METHOD, "--method", help=METHOD_HELP),
    space: str = typer.Option("w+", "--space", help="w+ (one w per layer), w (one w for all layers) or z (the "
                                                     "mapping network's input; --method optimize; the z is saved "
                                                     "too, for edits with z directions)."),
    steps: Optional[int] = typer.Option(None, "--steps", help=f"Optimisation steps ({steps_help()})."),
    mask: Optional[Path] = typer.Option(None, "--mask", help="Only the white pixels of this image count (resized "
                                        "to each aligned face; Image2StyleGAN++'s local embedding; optimize or "
                                        "hybrid)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default 0.1; pivotal: of the "
                                                          "weights, 0.007)."),
    noise: bool = typer.Option(False, "--noise", help="Also optimise the noise maps (saved in the .npz and used "
                                                      "wherever the face is drawn)."),
    aligned: bool = typer.Option(False, "--aligned", help="The inputs are aligned faces already: no detection."),
    face_index: Optional[int] = typer.Option(None, "--face-index", help="Which face, counting from the largest."),
    detector: str = typer.Option("auto", "--detector", help="auto, hog or cnn."),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Folder for side-by-side previews "
                                                                   "(aligned input | reconstruction)."),
    previews: bool = typer.Option(False, "--previews", help="Previews in OUTPUT's folder as "
                                                                  "<output stem>_preview/."),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="Encoder file (default: the shipped one)."),
    force_encoder: bool = typer.Option(False, "--force-encoder", help="Use an encoder made for another "
                                                                      "generator of the same shape."),
    encoder_iterations: Optional[int] = typer.Option(None, "--encoder-iterations", min=0,
                                                     help="ReStyle refinement iterations of the encoder (default: "
                                                          "the encoder's own; 0: its first pass only)."),
    perceptual: str = typer.Option("auto", "--perceptual", help=PERCEPTUAL_HELP),
    perceptual_weights: Optional[List[Path]] = typer.Option(None, "--perceptual-weights", help=WEIGHTS_HELP),
    batch: int = typer.Option(8, "--batch", help="Photos inverted together."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads."),
    quiet: bool = typer.Option(False, *QUIET, help="No progress on stderr (it shows only on a terminal)."),
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Invert photos into the generator's latent space: align each face (FFHQ), invert (encoder and/or
    optimisation), write the latents (.npz) and a preview per photo."""
    import numpy as np
    import torch

    from faceedit import api
    from faceedit.invert.photos import invert_images, prepare_photo
    from faceedit.figure import readable_pair
    from faceedit.latents import NOISE_PREFIX, save_latents
    from faceedit.media import save_image, to_uint8

    _check_method(method)
    _check_space(space)
    if output.suffix.lower() != ".npz":
        raise FaceEditError(f"-o must be an .npz latent file, got {output.name}")
    if steps is not None and steps < 0:
        raise FaceEditError("--steps must be >= 0")
    if batch < 1:
        raise FaceEditError("--batch must be >= 1")
    if detector not in ("auto", "hog", "cnn"):
        raise FaceEditError(f"--detector must be auto, hog or cnn, got {detector!r}")
    if threads:
        set_threads(threads)
    loss, note = _perceptual_loss(perceptual, perceptual_weights)
    m = on_device(api.load(model), device, precision)
    if mask is not None:
        from faceedit.invert.masked import read_mask

        mask_t = read_mask(mask, m.resolution)
        kw_mask = {"mask": mask_t}
    else:
        kw_mask = {}
    # read and align everything first: a bad photo is skipped (and reported) before any long optimisation
    from faceedit.cli.batch import SKIPPED, FileBatch

    items = []
    progress = Progress(quiet)
    photo_batch = FileBatch(len(photos))
    progress.stage(f"{'reading' if aligned else 'finding and aligning the faces of'} {len(photos)} photo(s)")
    for k, p in enumerate(photos):
        progress.step("aligning", k, len(photos))
        got = photo_batch.run(p, prepare_photo, p, m, aligned=aligned, detector=detector, face_index=face_index,
                              name=str(p))
        if got is not SKIPPED:
            photo_batch.ok()
            items.append((p, *got))
    progress.step("aligning", len(photos), len(photos))
    photo_batch.finish("no photo was inverted")
    prev_dir = preview if preview is not None else (output.parent / f"{output.stem}_preview" if previews else None)
    kw = {} if lr is None else {"lr": lr}
    all_ws, all_mse, all_perc, noises, tuned, quads, used, zs = [], [], [], [], [], [], None, []
    for i in range(0, len(items), batch):
        part = items[i:i + batch]
        x = torch.from_numpy(np.stack([it[3] for it in part])).permute(0, 3, 1, 2).contiguous()
        progress.stage(f"inverting photos {i + 1}-{i + len(part)} of {len(items)} ({method})" if len(items) > 1
                       else f"inverting {part[0][0].name} ({method})")
        inv = invert_images(m, x, method=method, space=space, steps=steps, progress=progress.steps("steps"),
                            encoder=encoder, force_encoder=force_encoder, perceptual=loss,
                            optimize_noise=noise, encoder_iterations=encoder_iterations, **kw, **kw_mask)
        if used is None:
            for line in ([note] if note else []) + inv.notes:
                _err(f"note: {line}")
        used = inv.method
        all_ws.append(inv.ws)
        if inv.z is not None:
            zs.append(inv.z)
        all_mse.append(inv.losses["mse"])
        if "perceptual" in inv.losses:
            all_perc.append(inv.losses["perceptual"])
        if inv.noise:
            noises.append(inv.noise)
        if inv.tuned is not None:  # kept as fp16 arrays, as they are written (2.4 MiB per photo, not 4.7)
            tuned.append(inv.tuned.to_arrays())
        rec = to_uint8(inv.reconstruction.clamp(-1, 1))
        for (p, img, af, small), r in zip(part, rec):
            quads.append(np.asarray(af.transform.quad, dtype=np.float32))
            if prev_dir is not None:
                prev_dir.mkdir(parents=True, exist_ok=True)
                gap = np.full((small.shape[0], 2, 3), 255, np.uint8)
                save_image(prev_dir / f"{p.stem}.png", readable_pair(small, r, "photo (aligned)", "reconstruction"))
    ws = torch.cat(all_ws).numpy()
    extra = {"paths": np.array([str(p) for p, *_ in items]), "method": np.array(used), "space": np.array(space),
             "mse": torch.cat(all_mse).numpy(), "quads": np.stack(quads),
             "photo_shapes": np.array([it[1].shape[:2] for it in items], dtype=np.int64)}
    if all_perc:
        extra["perceptual"] = torch.cat(all_perc).numpy()
    if zs:
        extra["z"] = torch.cat(zs).numpy()
    if noises:
        for k in noises[0]:
            extra[f"{NOISE_PREFIX}{k}"] = torch.cat([n[k] for n in noises]).numpy()
    if tuned:
        for k in tuned[0]:
            extra[k] = np.concatenate([t[k] for t in tuned]) if tuned[0][k].ndim else tuned[0][k]
    progress.stage(f"writing {output.name}")
    save_latents(output, ws, model=m, **extra)
    mse = extra["mse"]
    _err(f"wrote {output}: {len(items)} latent(s) ({space}, {used}), reconstruction MSE mean {mse.mean():.4f}"
         + (f"; previews in {prev_dir}" if prev_dir is not None else ""))


def parse_step_map(text: str | None) -> dict[str, int]:
    """``'optimize=1000,hybrid=100'`` → ``{'optimize': 1000, 'hybrid': 100}`` (methods checked, steps capped)."""
    import re

    from faceedit.limits import MAX_STEPS, check_int, check_text

    out: dict[str, int] = {}
    for part in check_text(text or "", "--steps", 1000).split(","):
        if not part.strip():
            continue
        k, sep, v = part.partition("=")
        if not sep or not re.fullmatch(r"[0-9]{1,9}", v.strip()):
            raise FaceEditError(f"bad --steps {text[:60]!r}: use e.g. optimize=1000,hybrid=100")
        out[_check_method(k.strip())] = check_int(int(v), f"--steps {k.strip()}", 0, MAX_STEPS)
    return out


def eval_inversion(
    data: Path = typer.Argument(..., help="Aligned faces: a folder of images, or a 'faceedit data build' folder / "
                                          "pack (its validation split)."),
    model: ModelOpt = "default",
    methods: str = typer.Option("encoder,optimize,hybrid,pivotal", "--methods",
                                help=f"Comma-separated methods of: {', '.join(METHODS)}."),
    n: int = typer.Option(20, "--n", help="Number of faces."),
    steps: Optional[str] = typer.Option(None, "--steps", help=f"Steps per method, e.g. optimize=1000,hybrid=100 "
                                                              f"({steps_help()})."),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="Encoder file (default: the shipped one)."),
    force_encoder: bool = typer.Option(False, "--force-encoder"),
    encoder_iterations: Optional[int] = typer.Option(None, "--encoder-iterations", min=0,
                                                     help="ReStyle refinement iterations of the encoder (default: "
                                                          "the encoder's own)."),
    space: str = typer.Option("w+", "--space", help="w+ or w."),
    batch: int = typer.Option(8, "--batch", help="Faces inverted together."),
    metrics: str = typer.Option("perceptual,vgg16,identity", "--metrics",
                                help="Distances besides MSE/PSNR/SSIM: perceptual (face-api features), vgg16, "
                                     "identity; 'none'. Those whose weights are missing are left out."),
    perceptual: str = typer.Option("auto", "--perceptual", help="The inversions' " + PERCEPTUAL_HELP[0].lower()
                                   + PERCEPTUAL_HELP[1:]),
    perceptual_weights: Optional[List[Path]] = typer.Option(None, "--perceptual-weights", help=WEIGHTS_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads."),
    output: Optional[Path] = typer.Option(None, "--json", help="Also write the figures as JSON here."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a markdown table."),
    seed: int = typer.Option(0, "--seed", help="Which validation faces (data build folders)."),
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Reconstruction quality (MSE, PSNR, SSIM, perceptual, identity) and seconds per image of each inversion
    method on the same faces."""
    import torch

    from faceedit import api
    from faceedit.atomic import write_text
    from faceedit.data.rows import load_eval_faces
    from faceedit.invert.photos import evaluate_methods
    from faceedit.metrics.inversion import format_table

    wanted = [s.strip() for s in methods.split(",") if s.strip()]
    if not wanted:
        raise FaceEditError("--methods is empty")
    for mth in wanted:
        _check_method(mth)
    _check_space(space)
    if n < 1:
        raise FaceEditError("--n must be >= 1")
    step_map = parse_step_map(steps)
    if threads:
        set_threads(threads)
    loss, note = _perceptual_loss(perceptual, perceptual_weights)
    if note:
        _err(f"note: {note}")
    m = on_device(api.load(model), device, precision)
    imgs, what = load_eval_faces(data, m.resolution, n, seed)
    mets = tuple(s.strip() for s in metrics.split(",") if s.strip() and s.strip() != "none")
    _err(f"eval inversion: {what}, {m.describe()}")
    res = evaluate_methods(m, imgs, wanted, steps=step_map, batch=batch, encoder=encoder,
                           force_encoder=force_encoder, space=space, metrics=mets, log=_err,
                           encoder_iterations=encoder_iterations, perceptual=loss)
    for mth, r in res.items():
        for note in r.get("notes", []):
            _err(f"note ({mth}): {note}")
    print(format_table(res, markdown=markdown))
    if output is not None:
        write_text(output, json.dumps({"data": str(data), "faces": what, "model": m.name, "sha256": m.sha256,
                                       "space": space, "perceptual_loss": getattr(loss, "name", None),
                                       "results": res}, indent=1) + "\n")


def train_encoder_cmd(
    run_dir: Path = typer.Option(Path("runs/encoder"), "--run-dir", help="Run folder: checkpoint.pt, log.jsonl, "
                                                                         "val.jsonl."),
    data: Optional[str] = typer.Option(".cache/data128", "--data", help="Real aligned faces: a 'faceedit data "
                                                                        "build' folder / pack or an image folder; "
                                                                        "'none' for generated faces only."),
    model: ModelOpt = "default",
    time_budget: Optional[str] = typer.Option("1h", "--time-budget", help="This run's wall-clock budget (e.g. 30m, "
                                                                          "2h); at the first run also the plan."),
    steps: int = typer.Option(20000, "--steps", help="Planned steps (the plan ends at steps or time budget)."),
    batch: int = typer.Option(8, "--batch"),
    real_fraction: float = typer.Option(0.5, "--real-fraction", help="Share of real faces in a batch."),
    lr: float = typer.Option(5e-4, "--lr"),
    perceptual_weight: float = typer.Option(0.8, "--perceptual-weight"),
    perceptual: str = typer.Option("auto", "--perceptual", help=PERCEPTUAL_HELP + " Fixed at the run's start "
                                   "(a resume keeps it)."),
    perceptual_weights: Optional[List[Path]] = typer.Option(None, "--perceptual-weights", help=WEIGHTS_HELP),
    identity_weight: float = typer.Option(0.1, "--identity-weight"),
    latent_weight: float = typer.Option(1.0, "--latent-weight"),
    delta_weight: float = typer.Option(2e-4, "--delta-weight", help="e4e delta regularisation."),
    progressive: float = typer.Option(0.25, "--progressive", help="Fraction of the plan over which the per-layer "
                                                                 "deltas open (0: all at once)."),
    real_limit: Optional[int] = typer.Option(None, "--real-limit", help="Use at most N real training faces."),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads."),
    seed: int = typer.Option(0, "--seed"),
    checkpoint_minutes: float = typer.Option(5.0, "--checkpoint-minutes"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run-dir."),
    extend: Optional[str] = typer.Option(None, "--extend", help="With --resume: lengthen a finished plan by this "
                                                                "much training time (e.g. 1h)."),
    force: bool = typer.Option(False, "--force", help="Resume even if the generator changed (same shape)."),
    refine_from: Optional[str] = typer.Option(None, "--refine-from", help="Train ReStyle's iterative refiner on "
                                              "top of this encoder file ('shipped': the shipped one), whose first "
                                              "pass stays frozen."),
    refine_iterations: int = typer.Option(2, "--refine-iterations", help="Refinement iterations per training "
                                          "step, and the exported encoder's default at inference."),
    nice: bool = typer.Option(False, "--nice", help="Lower this process's priority (nice 10)."),
) -> None:
    """Train the e4e-style encoder for a generator on generated faces with known latents and real aligned faces
    (resumable; export with 'faceedit train export-encoder')."""
    import os

    from faceedit.train.encoder import EncoderTrainConfig, train_encoder
    from faceedit.limits import parse_duration

    if batch < 1:
        raise FaceEditError("--batch must be >= 1")
    if not 0 <= real_fraction <= 1:
        raise FaceEditError("--real-fraction must be in [0, 1]")
    if extend and not resume:
        raise FaceEditError("--extend needs --resume")
    if refine_iterations < 1:
        raise FaceEditError("--refine-iterations must be >= 1")
    _check_perceptual(perceptual, perceptual_weights)
    if nice:
        os.nice(10)
    budget = parse_duration(time_budget, "--time-budget")
    extend_minutes = (parse_duration(extend, "--extend") or 0) / 60.0 if extend else None
    cfg = EncoderTrainConfig(
        run_dir=str(run_dir), model=model, data=None if (data or "").lower() in ("", "none") else data,
        time_budget=budget, steps=steps, batch=batch, real_fraction=real_fraction, lr=lr,
        perceptual_weight=perceptual_weight, perceptual=perceptual,
        perceptual_weights=[str(p) for p in perceptual_weights] if perceptual_weights else None,
        identity_weight=identity_weight, latent_weight=latent_weight,
        delta_weight=delta_weight, progressive=progressive, real_limit=real_limit, threads=threads, seed=seed,
        checkpoint_minutes=checkpoint_minutes, force=force, refine_from=refine_from,
        refine_iterations=refine_iterations, extend_minutes=extend_minutes)
    summary = train_encoder(cfg, resume=resume, log=_err)
    state = "plan complete" if summary["complete"] else f"{summary['progress']:.0%} of the plan; --resume continues"
    _err(f"stopped at step {summary['steps']} ({state}); export with: faceedit train export-encoder {run_dir} "
         "-o encoder.safetensors")


def export_encoder_cmd(
    run_dir: Path = typer.Argument(..., help="Encoder run folder."),
    output: Path = typer.Option(..., *OUT, help="Weights to write (.safetensors; + .json card)."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the validation figures."),
) -> None:
    """Write the run's encoder as fp16 safetensors with its card (data, steps, generator sha256, validation
    figures on the exported weights, licence)."""
    from faceedit.train.encoder import export_encoder

    card = export_encoder(run_dir, output, evaluate=not no_eval, log=_err)
    _err(f"wrote {output} ({output.stat().st_size / 2**20:.1f} MiB): {card['training']['steps']} steps")
    print(json.dumps(card, indent=1))


def register(app: typer.Typer) -> None:
    app.command("invert")(invert)
    command_group(app, "eval").command("inversion")(eval_inversion)
    train = command_group(app, "train")
    train.command("encoder")(train_encoder_cmd)
    train.command("export-encoder")(export_encoder_cmd)
