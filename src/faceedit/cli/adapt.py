"""``faceedit adapt``: one-shot domain adaptation of the generator to one art portrait (DIFA). The adapted
generator is a normal model file (``--model FILE`` everywhere); ``faceedit edit art.jpg --model FILE`` inverts the
art face with the source generator and renders it with the adapted one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from faceedit.cli.options import OUT, QUIET
from faceedit.errors import FaceEditError


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def adapt_command(
    target: Optional[Path] = typer.Argument(None, help="The art portrait (one face; aligned first)."),
    out: Path = typer.Option(Path("art_generator.safetensors"), *OUT, help="The adapted generator (.safetensors)."),
    source: str = typer.Option("default", "--source", help="The generator to adapt (G_A): 'default', a registry "
                                                           "name or a checkpoint path."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Checkpoint and log (default runs/adapt-NAME)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run-dir."),
    iterations: int = typer.Option(100, "--iterations", min=1, max=100_000, help="Planned steps."),
    time_budget: Optional[str] = typer.Option(None, "--time-budget", help="Stop this run after e.g. 5m, 1h "
                                                                          "(resume later)."),
    batch: int = typer.Option(4, "--batch", help="Latents per step."),
    lr: float = typer.Option(0.01, "--lr", help="Adam learning rate."),
    blocks: str = typer.Option("all", "--blocks", help="Synthesis blocks to train: all, or resolutions e.g. "
                                                       "16,32,64 (the mapping network never trains)."),
    method: str = typer.Option("difa", "--method", help="difa (global + local + consistency losses) | nada (the "
                                                        "directional loss only, a baseline)."),
    global_weight: float = typer.Option(1.0, "--global-weight", help="Weight of the directional loss."),
    local_weight: float = typer.Option(1.0, "--local-weight", help="λ1: weight of the token-matching loss."),
    scc_weight: float = typer.Option(2.0, "--scc-weight", help="λ2: weight of the selective consistency loss."),
    alpha: float = typer.Option(0.5, "--alpha", help="Fraction of W+ entries held consistent (0-1)."),
    embedding: str = typer.Option("vgg16", "--embedding", help="vgg16 (offline) or a CLIP / open_clip ViT "
                                                               "weights file."),
    clip_act: str = typer.Option("quick_gelu", "--clip-act", help="CLIP MLP activation: quick_gelu (OpenAI) | "
                                                                  "gelu (open_clip LAION models)."),
    vgg: Optional[Path] = typer.Option(None, "--vgg", help="A torchvision vgg16 state dict instead of the fetched "
                                                           "Oxford VGG16."),
    trunc: float = typer.Option(0.7, "--trunc", "-t", help="Truncation ψ of the training latents."),
    invert_steps: int = typer.Option(100, "--invert-steps", help="Refinement steps of the target's inversion."),
    face_index: Optional[int] = typer.Option(None, "--face-index", help="Which face when the image has several "
                                                                        "(0 = the largest)."),
    aligned: bool = typer.Option(False, "--aligned", help="The image already is an FFHQ-aligned square."),
    title: str = typer.Option("", "--title", help="The work's title (for the card)."),
    note: str = typer.Option("", "--note", help="The image's copyright status (for the card)."),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads."),
    seed: int = typer.Option(0, "--seed"),
    list_shipped: bool = typer.Option(False, "--list", help="List the shipped adapted generators and exit."),
    no_progress: bool = typer.Option(False, *QUIET, help="No progress bar."),
) -> None:
    """Adapt the generator to one art portrait: `faceedit adapt art.jpg -o art.safetensors --time-budget 5m`;
    then `faceedit edit art.jpg --model art.safetensors --smiling 1 --compare -o out.png`."""
    import json

    from faceedit.adapt.source import SHIPPED_DIR, shipped_names

    if list_shipped:
        for name in shipped_names():
            print(f"{name}\t{SHIPPED_DIR / (name + '.safetensors')}")
        return
    if target is None:
        raise FaceEditError("give the art portrait to adapt to, e.g. faceedit adapt art.jpg -o art.safetensors")
    from faceedit.adapt.training import AdaptConfig, adapt
    from faceedit.limits import parse_duration

    if out.suffix.lower() != ".safetensors":
        raise FaceEditError(f"--out {out}: the adapted generator is written as .safetensors")
    cfg = AdaptConfig(target=str(target), out=str(out), source=source,
                      run_dir=str(run_dir or Path("runs") / f"adapt-{out.stem}"), blocks=blocks,
                      iterations=iterations, batch=batch, lr=lr, method=method, global_weight=global_weight,
                      local_weight=local_weight, scc_weight=scc_weight, alpha=alpha, embedding=embedding,
                      clip_act=clip_act, vgg_weights=str(vgg) if vgg else None, truncation=trunc,
                      invert_steps=invert_steps, time_budget=parse_duration(time_budget, "--time-budget"),
                      face_index=face_index, aligned=aligned, threads=threads, seed=seed, title=title, note=note,
                      progress=not no_progress)
    card = adapt(cfg, resume=resume, log=_say)
    a = card["adapted"]
    print(json.dumps({"name": card["name"], "losses": a["losses"], "training": a["training"]}, indent=1))


def register(app: typer.Typer) -> None:
    app.command("adapt")(adapt_command)
