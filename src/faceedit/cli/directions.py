"""``faceedit directions fit | report | list``: InterfaceGAN attribute directions for a generator."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from faceedit.threads import set_threads
from faceedit.cli.device_options import DeviceOpt, PrecisionOpt, on_device
from faceedit.cli.options import ModelOpt, OUT
from faceedit.device import resolve as resolve_compute
from faceedit.limits import check_float, check_memory
from faceedit.errors import FaceEditError

directions_app = typer.Typer(help="Attribute directions (InterfaceGAN): fit them, measure them, list them.",
                             no_args_is_help=True, add_completion=False)

DIRS_HELP = ("folder of directions (default: the ones shipped for the embedded model, else the cache folder "
             "'directions fit' writes for this model)")


def _load_model(model: str):
    from faceedit.cli.edit_ops import _load

    return _load(model)


def _threads(threads: int) -> None:
    if threads < 0:
        raise FaceEditError("--threads must be 0 (all cores) or more")
    if threads:
        set_threads(threads)


@directions_app.command("fit")
def fit_cmd(
    attr: str = typer.Option("smiling,age,male", "--attr", "-a",
                             help="attributes, comma-separated, or 'all' (every score the scorers give)"),
    samples: int = typer.Option(20000, "--samples", help="latents to sample and score"),
    space: str = typer.Option("w", "--space", help="w, z, wplus (per-layer), or several: w,z,wplus"),
    ratio: float = typer.Option(0.02, "--ratio", help="share of samples kept at each end of a score"),
    out: Optional[Path] = typer.Option(None, *OUT, help="folder for the directions (default: the cache "
                                       "folder for this model, found by 'faceedit edit' automatically)"),
    samples_file: Optional[Path] = typer.Option(None, "--samples-file", help="reuse (or write, when missing) the "
                                                "scored samples here (.npz)"),
    batch: int = typer.Option(64, "--batch", help="images per synthesis/scoring batch"),
    seed: int = typer.Option(0, "--seed", help="sampling and split seed"),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0 = all)"),
    model: ModelOpt = "default",
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="sample on this many worker processes "
                                          "(the samples then depend on --seed only, not on the worker count)"),
    ray: Optional[str] = typer.Option(None, "--ray", help="sample on Ray: auto, local or a cluster address"),
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Fit attribute directions: sample, synthesise, score (classifier, face-api expressions/age, landmark yaw/pitch),
    keep the top/bottom --ratio, fit a linear SVM on a 70/30 split. `faceedit directions fit --attr smiling,male
    --samples 20000 -o dirs/`."""
    from faceedit.edit.attributes import AttributeScorer, canonical
    from faceedit.edit.directions import SPACES, DirectionSet, Samples, cache_folder, fit_directions, sample_scores

    _threads(threads)
    spaces = [s.strip().lower().replace("w+", "wplus") for s in space.split(",") if s.strip()]
    for s in spaces:
        if s not in SPACES:
            raise FaceEditError(f"--space {s!r}: use w, z or wplus")
    if batch < 1:
        raise FaceEditError("--batch must be at least 1")
    check_float(ratio, "--ratio", 0.0, 0.5, lo_open=True)
    compute = resolve_compute(device, precision)  # an absent device fails before anything loads
    m = _load_model(model)
    per_sample = m.z_dim + m.w_dim + (m.num_ws * m.w_dim if "wplus" in spaces else 0) + 256
    check_memory(samples * per_sample * 4, f"--samples {samples:,}", "use fewer samples")
    on_device(m, device, precision)
    scorer = AttributeScorer.load(device=m.device)
    for note in scorer.notes:
        print(f"note: {note}", file=sys.stderr)
    names = scorer.names if attr.strip().lower() == "all" else [canonical(a) for a in attr.split(",") if a.strip()]
    if not names:
        raise FaceEditError("--attr: name at least one attribute")
    for n in names:
        scorer.index(n)  # unknown names fail here, before any sampling
    mixing = "wplus" in spaces
    data = None
    if samples_file is not None and samples_file.exists():
        data = Samples.load(samples_file)
        if data.model_sha256 and m.sha256 and data.model_sha256 != m.sha256:
            raise FaceEditError(f"{samples_file} was sampled from another model; delete it or pick another file")
        if mixing and data.ws is None:
            raise FaceEditError(f"{samples_file} has no style-mixed w+ samples (needed for --space wplus)")
        print(f"reusing {len(data.w)} scored samples from {samples_file}")
    if data is None:
        if workers is not None or ray is not None:
            from faceedit.cli.batch_jobs import sample_sharded

            data = sample_sharded(model, samples, seed, batch, mixing, workers, ray, threads)
        else:
            data = sample_scores(m, scorer, samples, seed=seed, batch_size=batch, mixing=mixing, progress=True,
                                 dtype=compute.synthesis_dtype)
        rate = len(data.w) / max(data.seconds, 1e-9)
        print(f"sampled and scored {len(data.w)} faces in {data.seconds:.0f} s ({rate:.0f} samples/s)")
        if samples_file is not None:
            data.save(samples_file)
    found = fit_directions(data, names, spaces, ratio=ratio, seed=seed, model=m, progress=len(names) > 3)
    folder = out if out is not None else cache_folder(m)
    DirectionSet(found).save(folder)
    print(f"{'attribute':<22} {'space':<6} {'val acc':>8} {'all acc':>8}")
    for d in found:
        print(f"{d.name:<22} {d.space:<6} {100 * d.meta['val_accuracy']:7.1f}% {100 * d.meta['all_accuracy']:7.1f}%")
    print(f"wrote {len(found)} direction(s) to {folder}")


@directions_app.command("report")
def report_cmd(
    directions: Optional[Path] = typer.Argument(None, help=DIRS_HELP),
    out: Path = typer.Option(Path("directions_report.png"), *OUT, help="heat-map picture (.png)"),
    samples_file: Optional[Path] = typer.Option(None, "--samples-file", help="scored samples from 'fit' (for the "
                                                "generated score correlations and std units)"),
    real: Optional[Path] = typer.Option(None, "--real", help="real aligned faces (folder/pack) for the "
                                        "real-vs-generated score correlations"),
    n_real: int = typer.Option(500, "--n-real", help="real faces to score"),
    edit_samples: int = typer.Option(64, "--edit-samples", help="faces edited to measure efficacy and leak"),
    as_json: bool = typer.Option(False, "--json", help="print the full report as JSON"),
    save_json: Optional[Path] = typer.Option(None, "--save-json", help="also write the full report as JSON here"),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0 = all)"),
    force: bool = typer.Option(False, "--force", help="use directions fitted on another model"),
    model: ModelOpt = "default",
) -> None:
    """Measure directions: cosine matrix, per-direction efficacy (target score change per unit, in σ) and leak (the
    other scores' mean |change|), score correlations in generated vs real faces; a table and a heat-map PNG."""
    from faceedit.edit.attributes import AttributeScorer
    from faceedit.edit.direction_report import build_report, report_picture
    from faceedit.edit.directions import Samples, load_directions
    from faceedit.media import save_image

    _threads(threads)
    if out.suffix.lower() != ".png":
        raise FaceEditError(f"--out {out}: the report picture is a .png")
    if not 2 <= edit_samples <= 100_000:
        raise FaceEditError("--edit-samples must be from 2 to 100,000")
    m = _load_model(model)
    check_memory(n_real * m.resolution ** 2 * 3 * 5, f"--n-real {n_real:,}", "score fewer real faces")
    dirs = load_directions(m, directions, check=not force)
    scorer = AttributeScorer.load(device=m.device)
    data = Samples.load(samples_file) if samples_file is not None else None
    reals = None
    if real is not None:
        from faceedit.data.images import load_images
        from faceedit.train.dataset import to_float

        if n_real < 2:
            raise FaceEditError("--n-real must be at least 2")
        reals = to_float(load_images(real, m.resolution, limit=n_real))
    rep = build_report(m, dirs, scorer, samples=data, edit_samples=edit_samples, real_images=reals)
    save_image(out, report_picture(rep))
    if save_json is not None:
        from faceedit.atomic import write_bytes

        write_bytes(save_json, (json.dumps(rep.as_dict(), indent=1) + "\n").encode())
    if as_json:
        print(json.dumps(rep.as_dict(), indent=1))
    else:
        print(rep.markdown())
        d = rep.as_dict()
        if "corr_mean_abs_difference" in d:
            print(f"score correlations, real vs generated: mean |difference| {d['corr_mean_abs_difference']:.3f}")
    print(f"wrote {out}", file=sys.stderr if as_json else sys.stdout)


@directions_app.command("list")
def list_cmd(
    directions: Optional[Path] = typer.Argument(None, help=DIRS_HELP),
    force: bool = typer.Option(False, "--force", help="list directions fitted on another model"),
    model: ModelOpt = "default",
) -> None:
    """List the directions available for a model, with their accuracies."""
    from faceedit.edit.directions import load_directions

    m = _load_model(model)
    dirs = load_directions(m, directions, check=not force)
    print(f"{len(dirs)} direction(s) in {dirs.folder}")
    print(f"{'attribute':<22} {'space':<6} {'val acc':>8} {'all acc':>8} {'samples':>8}  units")
    for r in dirs.table():
        va, aa = r["val_accuracy"], r["all_accuracy"]
        print(f"{r['attribute']:<22} {r['space']:<6} {100 * (va or 0):7.1f}% {100 * (aa or 0):7.1f}% "
              f"{r['n_samples'] or 0:>8}  {r['units'] or ''}")


@directions_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="InterfaceGAN boundary (.npy), e4e/InterFaceGAN direction (.pt), GANSpace "
                                "components (.npz) or a StyleSpace channel list (text: 6_501 per line)"),
    attr: str = typer.Option(..., "--attr", "-a", help="name to edit it by, e.g. smiling (faceedit edit --smiling 2)"),
    component: Optional[int] = typer.Option(None, "--component", help="GANSpace / PCA files: which component"),
    layers: Optional[str] = typer.Option(None, "--layers", help="apply to these w+ layers only (e.g. 0-5 or "
                                         "coarse); default: every layer, as InterfaceGAN"),
    units: str = typer.Option("sigma", "--units", help="sigma: one edit unit = one standard deviation of the "
                              "model's w along it (as 'directions fit'); raw: the file's own units"),
    out: Optional[Path] = typer.Option(None, *OUT, help="folder to write to (default: this model's "
                                       "directions folder, which 'faceedit edit' searches)"),
    model: ModelOpt = "default",
) -> None:
    """Import a published direction for a model: `faceedit directions import stylegan_ffhq_smile_w_boundary.npy
    --attr smiling --model ffhq-1024-pt`. A (1, w_dim) direction applies to every w+ layer."""
    from faceedit.edit.direction_import import import_file

    m = _load_model(model)
    _, line = import_file(file, attr, m, out, component, layers, units)
    print(f"imported {line}")


def register(app: typer.Typer) -> None:
    app.add_typer(directions_app, name="directions")
