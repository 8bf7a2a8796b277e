"""``faceedit batch``: edit and invert many photos on a local process pool or a Ray cluster, resumable; the engine
options that ``generate --count`` and ``directions fit`` share with it.

    faceedit batch photos/ -o edited/ --edit smiling=1.5 --workers 2
    faceedit batch list.csv -o s3://studio/job-17 --ray auto --resume
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from faceedit.cli.options import LAYERS, OUT, QUIET, ModelOpt
from faceedit.errors import FaceEditError
from faceedit.invert.methods import PHOTO_METHOD, methods_help

WORKERS_HELP = "worker processes (local: default one per core; Ray: default as many as the cluster holds)"
RAY_HELP = ("run on Ray: 'auto' (a running cluster, else a local instance), 'local' (a new local instance) or a "
            "cluster address (host:6379, ray://host:10001)")
THREADS_HELP = "torch threads per worker (Ray: also the CPUs each worker asks for)"
RETRIES_HELP = "tries again of an item whose worker crashed, died or timed out"
TIMEOUT_HELP = "seconds an item may run before its worker is replaced (default: no limit)"
GPUS_HELP = "Ray: GPUs per worker (default 1 when the cluster has GPUs, else 0; 0.5 packs two workers a GPU)"
DEVICES_HELP = "local: GPU ids handed out to the workers in turn, e.g. 0,1 (CUDA_VISIBLE_DEVICES)"
RESUME_HELP = "go on with the job in this output folder: finished items (same content and settings) are skipped"
#: Largest per-item timeout (seconds): a day.
MAX_TIMEOUT_S = 86_400.0
#: Largest number of retries of one item.
MAX_RETRIES = 100


def make_engine_from_options(workers: Optional[int], ray: Optional[str], threads: int, retries: int,
                             timeout: Optional[float], gpus_per_worker: Optional[float] = None,
                             devices: Optional[str] = None):
    """The engine the shared options ask for (:func:`faceedit.batch.make_engine`), the options checked."""
    from faceedit.batch import make_engine
    from faceedit.limits import check_float

    if timeout is not None:
        check_float(timeout, "--timeout", 0.0, MAX_TIMEOUT_S, lo_open=True)
    if gpus_per_worker is not None:
        if not ray:
            raise FaceEditError("--gpus-per-worker goes with --ray (local workers take --devices)")
        check_float(gpus_per_worker, "--gpus-per-worker", 0.0, 64.0)
    if not 0 <= retries <= MAX_RETRIES:
        raise FaceEditError(f"--retries must be from 0 to {MAX_RETRIES}")
    device_list = None
    if devices:
        if ray:
            raise FaceEditError("--devices is for local workers; Ray gives each worker its GPUs (--gpus-per-worker)")
        device_list = [d.strip() for d in devices.split(",") if d.strip()]
        if not device_list or not all(d.isdigit() and int(d) < 1024 for d in device_list):
            raise FaceEditError(f"--devices must be GPU ids like 0,1, got {devices[:40]!r}")
    if ray is not None and not ray.strip():
        raise FaceEditError("--ray needs auto, local or a cluster address")
    return make_engine(workers=workers, ray=ray.strip() if ray else None, retries=retries, timeout_s=timeout,
                       threads=max(1, threads), gpus_per_worker=gpus_per_worker, devices=device_list)


def close_engine(engine) -> None:
    """Disconnect from Ray when the engine started the connection."""
    close = getattr(engine, "close", None)
    if close is not None:
        close()


def _absolute(spec: Optional[str]) -> Optional[str]:
    """A model or folder spec as an absolute path when it names a local file or folder (workers may run
    elsewhere: in another folder, on another node of a shared file system); registry names stay as they are."""
    if spec and Path(spec).exists():
        return str(Path(spec).resolve())
    return spec


def print_summary(summary, unit: str, out: str) -> None:
    """The last lines of a job: counts, rate and where the manifest is."""
    rate = f", {summary.rate:.2f} {unit}s/s" if summary.ok else ""
    before = f", {summary.done_before} done before" if summary.done_before else ""
    bad = summary.skipped + summary.errors
    print(f"{summary.ok} {unit}(s) done{before}, {bad} skipped ({summary.errors} errors) in "
          f"{summary.seconds:.1f} s on {summary.workers}{rate}")
    print(f"  {summary.csv or out}")


def batch(
    inputs: List[str] = typer.Argument(..., help="photo folders, globs ('in/**/*.jpg'), files, or manifests "
                                                 "(.csv / .jsonl: path plus per-photo edits); local or fsspec URIs"),
    out: str = typer.Option(..., *OUT, help="output folder (or an fsspec URI: file://, s3://, gs:// …)"),
    edit: List[str] = typer.Option([], "--edit", "-e", help="NAME=AMOUNT for every photo (a manifest row adds "
                                                              "or overrides its own); repeatable"),
    keep: str = typer.Option("", "--keep", "-k", help="attributes to hold fixed (conditional editing)"),
    layers: Optional[str] = typer.Option(None, *LAYERS, help="w+ layers edited: coarse, middle, fine, all or "
                                                                "ranges like 4-7"),
    directions: Optional[Path] = typer.Option(None, "--directions", help="folder of directions (default: the "
                                                                         "model's)"),
    force: bool = typer.Option(False, "--force", help="use directions fitted on another model"),
    style: Optional[str] = typer.Option(None, "--style", help="a style network applied to every result "
                                                              "(faceedit.stylize; a manifest row may name its own)"),
    art_model: Optional[str] = typer.Option(None, "--art-model", help="a generator sharing the model's latent space "
                                                                      "(e.g. art-adapted) that draws the edit"),
    model: ModelOpt = "default",
    method: str = typer.Option(PHOTO_METHOD, "--method", help=f"inversion: {methods_help()}"),
    steps: Optional[int] = typer.Option(None, "--steps", help="inversion steps (default: the method's)"),
    perceptual: str = typer.Option("perceptual", "--perceptual", help="inversion loss: perceptual or none"),
    aligned: bool = typer.Option(False, "--aligned", help="photos are FFHQ-aligned squares already"),
    detector: str = typer.Option("auto", "--detector", help="face detector: auto, hog or cnn"),
    max_yaw: Optional[float] = typer.Option(None, "--max-yaw", help="skip photos whose face is turned more than "
                                            "this many degrees left or right (0-90)"),
    max_pitch: Optional[float] = typer.Option(None, "--max-pitch", help="skip photos whose face is tilted more "
                                              "than this many degrees up or down (0-90)"),
    paste: str = typer.Option("change", "--paste", help="change (add the edit's change to the photo), replace "
                                                        "(paste the generated face) or crop (the aligned face only)"),
    image_format: str = typer.Option("keep", "--format", help="output images: keep (the input's), jpg, png, webp"),
    quality: int = typer.Option(95, "--quality", help="JPEG/WebP quality"),
    save_latents: bool = typer.Option(False, "--save-latents", help="also write each photo's latents (.npz)"),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help=WORKERS_HELP),
    ray: Optional[str] = typer.Option(None, "--ray", help=RAY_HELP),
    threads: int = typer.Option(1, "--threads", help=THREADS_HELP),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (per worker)"),
    devices: Optional[str] = typer.Option(None, "--devices", help=DEVICES_HELP),
    gpus_per_worker: Optional[float] = typer.Option(None, "--gpus-per-worker", help=GPUS_HELP),
    retries: int = typer.Option(2, "--retries", help=RETRIES_HELP),
    timeout: Optional[float] = typer.Option(None, "--timeout", help=TIMEOUT_HELP),
    resume: bool = typer.Option(False, "--resume", help=RESUME_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", help="only the first N photos"),
    quiet: bool = typer.Option(False, *QUIET, help="no progress bar"),
) -> None:
    """Edit many photos: align → invert → edit → paste back → write, on local worker processes or a Ray cluster.
    Writes OUT/results.jsonl as items finish and OUT/results.csv (status, reason, seconds per stage) at the end; a
    bad photo is reported (`skip: FILE: reason`) and the job goes on; `--resume` skips what is done."""
    from faceedit.batch import PhotoJob, collect, run_photo_job
    from faceedit.batch.inputs import _names, parse_edit_text
    from faceedit.batch.storage import local_path

    if perceptual not in ("perceptual", "none"):
        raise FaceEditError(f"--perceptual must be perceptual or none, got {perceptual[:40]!r}")
    amounts: dict[str, float] = {}
    for text in edit:
        amounts.update(parse_edit_text(text))
    job = PhotoJob(model=_absolute(model), art_model=_absolute(art_model), method=method, steps=steps, perceptual=perceptual,
                   aligned=aligned, detector=detector, edits=tuple(sorted(amounts.items())), keep=_names(keep),
                   layers=layers, directions=_absolute(str(directions) if directions is not None else None),
                   force_directions=force, style=style or None, paste=paste, format=image_format, quality=quality,
                   save_latents=save_latents, threads=max(1, threads), device=device, max_yaw=max_yaw,
                   max_pitch=max_pitch)
    engine = make_engine_from_options(workers, ray, threads, retries, timeout, gpus_per_worker, devices)
    out_local = local_path(out)
    tasks, problems = collect(inputs, job, exclude=out_local, limit=limit)
    if not tasks and not problems:
        raise FaceEditError("no photos found in " + ", ".join(inputs)[:200])
    try:
        summary = run_photo_job(job, tasks, out, engine, resume=resume, problems=problems, quiet=quiet)
    finally:
        close_engine(engine)
    for note in getattr(engine, "notes", []):
        print(f"note: {note}", file=sys.stderr)
    print_summary(summary, "photo", out)
    if summary.ok == 0 and summary.done_before == 0:
        raise FaceEditError(f"no photo was edited: all {summary.skipped + summary.errors} were skipped (reasons "
                            f"in {summary.csv or out})")


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)


def generate_count(count: int, first_seed: int, out: Path | str, trunc: float, trunc_cutoff: Optional[int],
                   noise: str, model: str, batch: int, image_format: str, workers: Optional[int], ray: Optional[str],
                   threads: int, resume: bool) -> None:
    """``faceedit generate --count N``: seeds ``first_seed …`` in shards on the engine the options ask for."""
    from faceedit.batch import GenerateJob, run_generate_job
    from faceedit.limits import check_truncation

    check_truncation(trunc, "--trunc")
    if image_format not in ("png", "jpg", "webp"):
        raise FaceEditError(f"--format must be png, jpg or webp, got {image_format!r}")
    if noise not in ("const", "random", "none"):
        raise FaceEditError(f"--noise must be const, random or none, got {noise!r}")
    if Path(str(out)).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
        raise FaceEditError(f"--count writes a folder: --out {out} is a file name")
    job = GenerateJob(model=_absolute(model), truncation=float(trunc), truncation_cutoff=trunc_cutoff, noise=noise,
                      format=image_format, batch=batch, threads=max(1, threads))
    engine = make_engine_from_options(workers, ray, threads, 2, None)
    try:
        summary = run_generate_job(job, first_seed, count, str(out), engine, resume=resume)
    finally:
        close_engine(engine)
    print_summary(summary, "shard", str(out))
    print(f"seeds {first_seed}-{first_seed + count - 1}: images in {out}/<seed // 1000>/seed<seed>.{image_format}, "
          f"latents in {out}/latents/")
    if summary.errors and not summary.ok:
        raise FaceEditError(f"no shard was drawn ({summary.errors} failed: reasons in {out})")


def sample_sharded(model: str, samples: int, seed: int, batch: int, mixing: bool, workers: Optional[int],
                   ray: Optional[str], threads: int):
    """``directions fit --workers/--ray``: the scored samples, drawn in chunks on the engine's workers."""
    from faceedit.batch import SampleJob, sample_scores_sharded

    job = SampleJob(model=_absolute(model), seed=seed, batch=batch, mixing=mixing, threads=max(1, threads))
    engine = make_engine_from_options(workers, ray, max(1, threads), 2, None)
    try:
        return sample_scores_sharded(job, samples, engine, progress=True)
    finally:
        close_engine(engine)
