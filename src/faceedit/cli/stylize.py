"""``faceedit stylize`` (neural style transfer of a photo, a folder, a GIF or an MP4) and ``faceedit train style``
(a feed-forward network for one painting)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from faceedit.threads import set_threads
from faceedit.cli.options import OUT, QUIET
from faceedit.errors import FaceEditError


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _resolve_method(method: Optional[str], style: Optional[Path], style_model: Optional[str]) -> tuple[str, str | None]:
    """(method, network) from the options: ``fast`` uses ``--style-model`` or the shipped network trained on exactly
    the ``--style`` image; ``gatys`` needs ``--style``. Without ``--method``: fast when a network is known."""
    from faceedit.stylize.styles import find_for_style_image

    if method is not None and method not in ("gatys", "fast"):
        raise FaceEditError(f"unknown --method {method!r}: use gatys or fast")
    if style is not None:
        from faceedit.limits import regular_file

        regular_file(style, "style image")
    if method == "gatys":
        if style is None:
            raise FaceEditError("--method gatys needs --style painting.jpg")
        return "gatys", None
    network = style_model
    if network is None and style is not None:
        network = find_for_style_image(style)
    if network is not None:
        return "fast", network
    if method == "fast":
        hint = f" (no shipped network was trained on {style.name})" if style is not None else ""
        raise FaceEditError("--method fast needs --style-model NAME|FILE" + hint + "; train one with "
                            "'faceedit train style --style PAINTING -o model.safetensors' or use --method gatys")
    if style is None:
        raise FaceEditError("give --style painting.jpg (gatys) or --style-model NAME (fast; see 'faceedit stylize "
                            "--list')")
    return "gatys", None


def stylize_command(
    inp: Optional[Path] = typer.Argument(None, metavar="INPUT", help="A photo, a folder of photos, or a GIF / MP4."),
    output: Optional[Path] = typer.Option(None, *OUT, help="Same kind as INPUT: an image file, a folder, "
                                                                      "or .gif / .mp4."),
    style: Optional[Path] = typer.Option(None, "--style", help="The painting (gatys; with fast: picks the shipped "
                                                               "network trained on this exact file)."),
    method: Optional[str] = typer.Option(None, "--method", help="gatys (optimisation, minutes) | fast (a trained "
                                                                "network, milliseconds). Default: fast when a "
                                                                "network is given or known for --style."),
    style_model: Optional[str] = typer.Option(None, "--style-model", help="Fast: a shipped style name (see --list) "
                                                                          "or a .safetensors file."),
    list_: bool = typer.Option(False, "--list", help="List the shipped style networks and exit."),
    size: Optional[int] = typer.Option(None, "--size", help="Working long side in px (gatys default 512; fast "
                                                            "default the input's, at most 1024)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Gatys: loss evaluations per scale (default 100)."),
    style_weight: Optional[float] = typer.Option(None, "--style-weight", help="Gatys: weight of the style loss "
                                                                              "(default 20)."),
    content_weight: Optional[float] = typer.Option(None, "--content-weight", help="Gatys: weight of the content "
                                                                                  "loss (default 1)."),
    tv_weight: Optional[float] = typer.Option(None, "--tv-weight", help="Gatys: total-variation weight "
                                                                        "(default 10)."),
    optimizer: str = typer.Option("lbfgs", "--optimizer", help="Gatys: lbfgs | adam."),
    init: str = typer.Option("content", "--init", help="Gatys: start from content | noise | style."),
    lr: float = typer.Option(0.02, "--lr", help="Gatys with adam: step size in [-1, 1] pixel units."),
    no_multiscale: bool = typer.Option(False, "--no-multiscale", help="Gatys: one scale even from 512 px up."),
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the photo's colours (transfer the "
                                                                        "luminance only)."),
    mask: Optional[Path] = typer.Option(None, "--mask", help="Stylise where this mask image is white (gray levels "
                                                             "blend; alpha used when present)."),
    face_only: bool = typer.Option(False, "--face-only", help="Stylise the face and hair only (face parser)."),
    background_only: bool = typer.Option(False, "--background-only", help="Stylise everything but the face."),
    aligned: bool = typer.Option(False, "--aligned", help="With --face-only/--background-only: the input is already "
                                                          "an FFHQ-aligned face (no detection)."),
    seed: int = typer.Option(0, "--seed", help="Gatys noise init."),
    vgg: Optional[Path] = typer.Option(None, "--vgg", help="Gatys: a torchvision vgg16/vgg19 state dict instead of "
                                                           "the fetched Oxford VGG16."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads."),
    quality: int = typer.Option(92, "--quality", help="JPEG / WebP quality of image outputs."),
) -> None:
    """Neural style transfer: `faceedit stylize photo.jpg --style painting.jpg -o out.png` (Gatys) or
    `--style-model starry_night` (fast). A folder gives a folder, a GIF or MP4 gives a GIF or MP4."""
    if list_:
        _print_styles()
        return
    if inp is None or output is None:
        raise FaceEditError("give INPUT and -o OUTPUT (or --list)")
    if threads:
        set_threads(int(threads))
    from faceedit.stylize.frames import check_output, input_kind

    chosen, network = _resolve_method(method, style, style_model)
    if sum([mask is not None, face_only, background_only]) > 1:
        raise FaceEditError("use one of --mask, --face-only and --background-only")
    if chosen == "fast" and any(v is not None for v in (steps, style_weight, content_weight, tv_weight)):
        raise FaceEditError("--steps and the loss weights apply to --method gatys; a fast network was trained with "
                            "its own (see its card)")
    kind = input_kind(inp)
    check_output(kind, output)
    job = _Job(chosen, network, style, size, preserve_color, mask, face_only, background_only, aligned, quality)
    if chosen == "gatys":
        job.gatys_config(steps, style_weight, content_weight, tv_weight, optimizer, init, lr, no_multiscale, seed,
                         vgg)
    job.run(inp, kind, output)


class _Job:
    """One ``stylize`` invocation: the method's resources loaded once, then every photo / frame through them."""

    def __init__(self, method, network, style, size, preserve_color, mask, face_only, background_only, aligned,
                 quality):
        from faceedit.stylize import Where, load_style

        self.method, self.size, self.preserve_color, self.quality = method, size, preserve_color, quality
        self.model = load_style(network) if method == "fast" else None
        self.style_img = None
        if method == "gatys":
            from faceedit.align.image import load_image
            from faceedit.stylize.images import check_rgb

            self.style_img = check_rgb(load_image(style), f"style image {style}")
        self.mask_path = mask
        region = "face" if face_only else ("background" if background_only else None)
        self.where = Where(region=region, aligned=aligned)
        self.cfg = None
        self.vgg = None

    def gatys_config(self, steps, style_weight, content_weight, tv_weight, optimizer, init, lr, no_multiscale,
                     seed, vgg) -> None:
        from faceedit.features import load_vgg
        from faceedit.stylize.gatys import GatysConfig
        from faceedit.stylize.losses import LossWeights

        base = GatysConfig()
        w = base.weights
        weights = LossWeights(content=w.content if content_weight is None else content_weight,
                              style=w.style if style_weight is None else style_weight,
                              tv=w.tv if tv_weight is None else tv_weight)
        self.cfg = GatysConfig(size=self.size or base.size, weights=weights,
                               steps=base.steps if steps is None else steps, optimizer=optimizer, init=init, lr=lr,
                               multiscale=False if no_multiscale else None, seed=seed)
        self.cfg.check()
        self.vgg = load_vgg(vgg)

    def one(self, img, name: str):
        from faceedit.stylize import stylize_image
        from faceedit.stylize.masks import mask_from_file

        where = self.where
        if self.mask_path is not None:
            from faceedit.stylize.images import check_rgb
            from faceedit.stylize.pipeline import Where

            img = check_rgb(img, name)
            where = Where(mask=mask_from_file(self.mask_path, img.shape[:2]))
        return stylize_image(img, self.style_img, self.method, self.model, self.size, self.preserve_color, where,
                             self.cfg, self.vgg, progress=self.method == "gatys", name=name)

    def run(self, inp: Path, kind: str, out: Path) -> None:
        from faceedit.align.image import load_image
        from faceedit.media import save_image

        if kind == "photo":
            save_image(out, self.one(load_image(inp), str(inp)), quality=self.quality)
            _say(f"wrote {out}")
            return
        if kind == "folder":
            self._folder(inp, out)
            return
        self._animation(inp, out)

    def _folder(self, folder: Path, out: Path) -> None:
        from faceedit.align.image import load_image
        from faceedit.cli.batch import SKIPPED, FileBatch
        from faceedit.media import save_image
        from faceedit.stylize.frames import folder_images, output_name

        photos = folder_images(folder)
        if not photos:
            raise FaceEditError(f"no images in folder {folder}")
        batch = FileBatch(len(photos))
        out.mkdir(parents=True, exist_ok=True)
        for p in photos:
            r = batch.run(p, lambda q=p: save_image(out / output_name(q), self.one(load_image(q), str(q)),
                                                    quality=self.quality))
            if r is not SKIPPED:
                batch.ok()
        batch.finish("no image was stylised")
        _say(f"wrote {batch.done} image(s) to {out}" + (f" ({len(batch.skipped)} skipped)" if batch.skipped else ""))

    def _animation(self, inp: Path, out: Path) -> None:
        from tqdm import tqdm

        from faceedit.media import save_animation
        from faceedit.stylize.frames import flicker, read_animation

        frames, fps = read_animation(inp)
        outs = [self.one(f, f"{inp} frame {i}") for i, f in
                enumerate(tqdm(frames, desc="stylize", unit="frame", disable=len(frames) < 4 or self.method == "gatys",
                               mininterval=1))]
        shapes = {o.shape for o in outs}
        if len(shapes) > 1:
            raise FaceEditError(f"{inp}: frames of different sizes ({len(shapes)} sizes)")
        save_animation(out, outs, fps=fps)
        f = flicker(frames, outs)
        _say(f"wrote {out} ({len(outs)} frames; mean frame-to-frame change {f['output_change']:.2f} levels against "
             f"the input's {f['input_change']:.2f}: ratio {f['ratio']:.2f})")


def _print_styles() -> None:
    from faceedit.stylize import list_styles

    styles = list_styles()
    if not styles:
        print("no style networks shipped")
        return
    for s in styles:
        lic = s["licence"].get("style_image", "") if isinstance(s["licence"], dict) else str(s["licence"])
        print(f"{s['name']:<16} {s['title']} ({s['artist']}); {s['bytes'] / 2**20:.2f} MiB; painting: {lic}")


def train_style_command(
    style: Path = typer.Option(..., "--style", help="The painting to learn."),
    output: Path = typer.Option(..., *OUT, help="Style network to write (.safetensors; card beside it "
                                                            "as .json)."),
    run_dir: Path = typer.Option(Path("runs/style"), "--run-dir", help="Checkpoint, log and photo cache."),
    data: Path = typer.Option(Path(".cache/data128"), "--data", help="A 'faceedit data build' folder (its train "
                                                                     "split's original photos; val photos measure "
                                                                     "the result) or a folder of photos."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run-dir."),
    steps: int = typer.Option(2000, "--steps", help="Planned length in steps (batches)."),
    time_budget: Optional[str] = typer.Option(None, "--time-budget", help="Stop this run after e.g. 45m, 1h "
                                                                          "(resume later)."),
    size: int = typer.Option(128, "--size", help="Training crop side in px."),
    style_size: Optional[int] = typer.Option(None, "--style-size", min=32, max=2048,
                                             help="Long side of the painting in px (default 2 × --size; larger: "
                                                  "larger strokes)."),
    batch: int = typer.Option(4, "--batch"),
    lr: float = typer.Option(1e-3, "--lr"),
    style_weight: float = typer.Option(20.0, "--style-weight"),
    content_weight: float = typer.Option(1.0, "--content-weight"),
    tv_weight: float = typer.Option(1.0, "--tv-weight"),
    stability_weight: float = typer.Option(50.0, "--stability-weight", help="Output change under input noise "
                                                                            "(against video flicker; 0: off)."),
    arch: str = typer.Option("slim", "--arch", help="slim (depthwise, 0.08 M parameters) | johnson (the paper's, "
                                                    "1.7 M)."),
    images: int = typer.Option(4000, "--images", min=1, max=200_000, help="Training photos to cache."),
    title: str = typer.Option("", "--title", help="The painting's title (for the card)."),
    artist: str = typer.Option("", "--artist", help="The painter (for the card)."),
    style_licence: str = typer.Option("", "--style-licence", help="The painting's copyright status (for the card)."),
    vgg: Optional[Path] = typer.Option(None, "--vgg", help="A torchvision vgg16/vgg19 state dict instead of the "
                                                           "fetched Oxford VGG16."),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads."),
    seed: int = typer.Option(0, "--seed"),
    nice: bool = typer.Option(False, "--nice", help="Lower this process's priority (nice 10)."),
    no_progress: bool = typer.Option(False, *QUIET, help="No progress bar."),
) -> None:
    """Train a feed-forward style network for one painting on face photos (resumable; fp16 + card)."""
    import json
    import os

    from faceedit.limits import parse_duration
    from faceedit.stylize.training import StyleTrainConfig, train_style

    if nice:
        os.nice(10)
    cfg = StyleTrainConfig(style=str(style), out=str(output), run_dir=str(run_dir), data=str(data), size=size,
                           style_size=style_size, batch=batch, lr=lr, steps=steps,
                           time_budget=parse_duration(time_budget, "--time-budget"),
                           weights={"content": content_weight, "style": style_weight, "tv": tv_weight},
                           stability=stability_weight, preset=arch, images=images, threads=threads, seed=seed,
                           vgg=str(vgg) if vgg else None, style_note=style_licence, title=title, artist=artist,
                           progress=not no_progress)
    card = train_style(cfg, resume=resume, log=_say)
    print(json.dumps({k: card[k] for k in ("name", "training", "validation") if k in card}, indent=1))


def register(app: typer.Typer) -> None:
    from faceedit.cli.options import command_group

    app.command("stylize")(stylize_command)
    command_group(app, "train").command("style")(train_style_command)
