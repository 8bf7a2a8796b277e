"""``faceedit train gan`` (StyleGAN2 training, resumable) and ``faceedit train export`` (fp16 weights + card)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from faceedit.cli.options import OUT, QUIET, command_group
from faceedit.errors import FaceEditError


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def register(app: typer.Typer) -> None:
    sub = command_group(app, "train")

    @sub.command("gan")
    def gan(
        data: str = typer.Option(..., "--data", help="Folder of aligned face images, a .zip of them, or .npy/.pt "
                                                     "uint8 array."),
        run_dir: Path = typer.Option(Path("runs/default64"), "--run-dir",
                                     help="Run folder: checkpoint.pt, log.jsonl, samples/. Resumed if present."),
        res: int = typer.Option(64, "--res", help="Resolution (ignored when resuming: the checkpoint's)."),
        batch: int = typer.Option(32, "--batch", help="Total batch size (over all processes)."),
        z_dim: int = typer.Option(256, "--z-dim"),
        w_dim: int = typer.Option(256, "--w-dim"),
        channel_base: int = typer.Option(2048, "--channel-base", help="Channels at r = min(base/r, max)."),
        channel_max: int = typer.Option(128, "--channel-max"),
        mapping_layers: int = typer.Option(2, "--mapping-layers"),
        d_channel_base: Optional[int] = typer.Option(None, "--d-channel-base", help="Default: --channel-base."),
        d_channel_max: Optional[int] = typer.Option(None, "--d-channel-max", help="Default: --channel-max."),
        d_features: str = typer.Option("none", "--d-features",
                                       help="A discriminator on frozen ImageNet VGG16 features: none | projected "
                                            "(replaces D: Projected GAN) | aided (added to D: Vision-aided GAN). "
                                            "Needs `faceedit features fetch vgg16`."),
        aided_weight: float = typer.Option(1.0, "--aided-weight", help="Weight of the feature D's loss in 'aided'."),
        ada_target: Optional[float] = typer.Option(None, "--ada-target",
                                                   help="Adaptive augmentation: apply the --augment policy with a "
                                                        "probability p steered so that E[sign D(real)] ≈ this "
                                                        "(ADA: 0.6). Default: always augment."),
        ada_kimg: float = typer.Option(100.0, "--ada-kimg", help="p can go from 0 to 1 in this many kimg."),
        warmup_steps: int = typer.Option(200, "--warmup-steps",
                                         help="After --resume-from (fresh Adam state): ramp the learning rates up "
                                              "over this many steps."),
        lr: float = typer.Option(0.0025, "--lr", help="Learning rate of G and D."),
        gamma: Optional[float] = typer.Option(None, "--gamma", help="R1 weight (default (res/256)^2)."),
        loss: str = typer.Option("logistic", "--loss", help="logistic (StyleGAN2's non-saturating loss + R1) or "
                                 "wgan-gp (Wasserstein loss; gradient penalty λ 10 every --r1-interval steps "
                                 "instead of R1)."),
        r1_interval: int = typer.Option(16, "--r1-interval", help="Lazy R1 every N steps (0: off)."),
        pl_weight: float = typer.Option(0.0, "--pl-weight", help="Path-length regularisation weight (0: off)."),
        style_mixing: float = typer.Option(0.9, "--style-mixing", help="Style-mixing probability."),
        ema_kimg: Optional[float] = typer.Option(None, "--ema-kimg", help="G EMA half-life (default batch*10/32)."),
        ema_rampup: float = typer.Option(0.05, "--ema-rampup", help="EMA ramp-up (0: off)."),
        augment: str = typer.Option("color,translation,cutout", "--augment",
                                    help="DiffAugment policy, comma-separated, or 'none'."),
        mirror: bool = typer.Option(True, "--mirror/--no-mirror", help="Random x-flips of the reals."),
        precision: str = typer.Option("bf16", "--precision", help="bf16 | fp16 | fp32 autocast."),
        channels_last: bool = typer.Option(False, "--channels-last/--no-channels-last"),
        compile_: bool = typer.Option(False, "--compile/--no-compile",
                                      help="torch.compile G and D (minutes to compile; ~1.5x on CPU after)."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
        threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads."),
        adapt_threads: bool = typer.Option(False, "--adapt-threads/--fixed-threads",
                                           help="With --threads N on the CPU: up to N threads, fewer while other "
                                                "processes keep cores busy (checked every 30 s)."),
        seed: int = typer.Option(0, "--seed"),
        kimg: Optional[float] = typer.Option(None, "--kimg", help="Stop when the cumulative total reaches this."),
        time_budget: Optional[str] = typer.Option(None, "--time-budget", help="Stop after e.g. 90s, 30m, 2h."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Stop after this many steps (this run)."),
        checkpoint_minutes: Optional[float] = typer.Option(None, "--checkpoint-minutes",
                                                           help="Checkpoint interval (default 5, 3 with --nice)."),
        sample_minutes: float = typer.Option(10.0, "--sample-minutes", help="Sample-grid interval."),
        log_seconds: float = typer.Option(30.0, "--log-seconds", help="log.jsonl interval."),
        resume_from: Optional[Path] = typer.Option(None, "--resume-from",
                                                   help="fp16 weights (G, G_ema, D) to continue from when the "
                                                        "run folder has no checkpoint."),
        init_from: Optional[Path] = typer.Option(None, "--init-from",
                                                 help="Start fresh from these weights: tensors of the same "
                                                      "name are copied, wider ones widened so the network "
                                                      "computes the same function (e.g. a larger "
                                                      "--channel-base), new blocks are fresh (64 → 128 px)."),
        nice: bool = typer.Option(False, "--nice", help="Low priority background mode (nice 19)."),
        data_limit: Optional[int] = typer.Option(None, "--data-limit", help="Use only the first N images."),
        split: str = typer.Option("train", "--split", help="For a build folder or pack: train | val | all rows of "
                                                           "its manifest (identity-disjoint)."),
        snapshot_kimg: float = typer.Option(0.0, "--snapshot-kimg",
                                            help="Keep an fp16 G_ema every N kimg in RUN_DIR/snapshots/ (0: off)."),
        balance: str = typer.Option("", "--balance",
                                    help="CelebA attributes (comma-separated, e.g. Eyeglasses,Mustache,Gray_Hair) "
                                         "whose faces are drawn more often: an attribute rarer than "
                                         "--balance-target gets up to --balance-cap times the draws. Needs a "
                                         "build folder or pack with attribute labels."),
        balance_target: float = typer.Option(0.1, "--balance-target",
                                             help="Share of the labelled faces to raise each --balance attribute to."),
        balance_cap: float = typer.Option(3.0, "--balance-cap", help="At most this many times the draws."),
        no_progress: bool = typer.Option(False, *QUIET, help="No progress bar."),
    ) -> None:
        """StyleGAN2 training (NVIDIA's recipe) that resumes from RUN_DIR/checkpoint.pt and accumulates."""
        from faceedit.limits import parse_duration
        from faceedit.train.gan import TrainConfig, train, train_distributed_entry

        if res < 8 or res & (res - 1):
            raise FaceEditError(f"--res must be a power of two >= 8, got {res}")
        if batch < 1:
            raise FaceEditError("--batch must be >= 1")
        if not 0 <= style_mixing <= 1:
            raise FaceEditError("--style-mixing must be in [0, 1]")
        cfg = TrainConfig(
            data=data, run_dir=str(run_dir), resolution=res, batch=batch, z_dim=z_dim, w_dim=w_dim,
            channel_base=channel_base, channel_max=channel_max, mapping_layers=mapping_layers,
            d_channel_base=d_channel_base, d_channel_max=d_channel_max, d_features=d_features,
            aided_weight=aided_weight, ada_target=ada_target, ada_kimg=ada_kimg, warmup_steps=warmup_steps,
            g_lr=lr, d_lr=lr, r1_gamma=gamma, loss=loss,
            r1_interval=max(r1_interval, 1), pl_weight=pl_weight, style_mixing=style_mixing, ema_kimg=ema_kimg,
            ema_rampup=ema_rampup or None, augment=augment, mirror=mirror, precision=precision,
            channels_last=channels_last, compile=compile_, device=device, threads=threads,
            adapt_threads=adapt_threads, seed=seed, kimg=kimg,
            time_budget=parse_duration(time_budget, "--time-budget"), max_steps=steps,
            checkpoint_minutes=checkpoint_minutes if checkpoint_minutes is not None else (3.0 if nice else 5.0),
            sample_minutes=sample_minutes, log_seconds=log_seconds,
            resume_from=str(resume_from) if resume_from else None, init_from=str(init_from) if init_from else None,
            nice=nice, progress=not no_progress, data_limit=data_limit, split=split, snapshot_kimg=snapshot_kimg,
            balance=balance, balance_target=balance_target, balance_cap=balance_cap)
        from faceedit.train.losses import GAN_LOSSES

        if loss not in GAN_LOSSES:
            raise FaceEditError(f"--loss must be one of {', '.join(GAN_LOSSES)}, got {loss!r}")
        if loss == "wgan-gp" and d_features == "projected":
            raise FaceEditError("--loss wgan-gp trains D; --d-features projected replaces it (hinge loss)")
        if split not in ("train", "val", "all"):
            raise FaceEditError("--split must be train, val or all")
        if snapshot_kimg < 0:
            raise FaceEditError("--snapshot-kimg must be >= 0")
        if ada_target is not None and not -1 < ada_target < 1:
            raise FaceEditError("--ada-target must be between -1 and 1 (ADA uses 0.6)")
        if not 0 < ada_kimg <= 100_000:
            raise FaceEditError("--ada-kimg must be in (0, 100000]")
        if not 0 <= warmup_steps <= 100_000:
            raise FaceEditError("--warmup-steps must be from 0 to 100000")
        if r1_interval == 0:
            cfg.r1_gamma = 0.0
        dist = train_distributed_entry()
        rank, world = (dist["rank"], dist["world_size"]) if dist else (0, 1)
        summary = train(cfg, rank=rank, world_size=world, log=_err)
        if rank == 0:
            _err(f"stopped ({summary['reason']}) at kimg {summary['kimg']:.2f}: {summary['steps']} steps, "
                 f"{summary['img_per_s']} img/s; checkpoint {run_dir / 'checkpoint.pt'}")
        if dist:
            import torch.distributed

            # Leave together, then skip the interpreter's teardown: under load, gloo's threads in torch 2.13 can
            # abort a finished worker at exit ("terminate called without an active exception"). Everything is
            # written by now (checkpoints atomically), so nothing is lost.
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)

    @sub.command("export")
    def export(
        run_dir: Path = typer.Argument(..., help="Run folder with checkpoint.pt."),
        output: Path = typer.Option(..., *OUT, help="Weights file to write (.safetensors)."),
        fp32: bool = typer.Option(False, "--fp32", help="Keep float32 (default fp16)."),
        no_d: bool = typer.Option(False, "--no-d", help="Leave out the discriminator and G (G_ema only)."),
    ) -> None:
        """Write fp16 G_ema + G + D with the model card (data, kimg, hours, realism, licence) as safetensors."""
        from faceedit.train.export import export_run

        card = export_run(run_dir, output, fp16=not fp32, include_d=not no_d)
        _err(f"wrote {output} ({output.stat().st_size / 2**20:.1f} MiB): kimg {card['kimg']}, "
             f"{card['cpu_hours']:.2f} CPU h, {card['gpu_minutes']:.1f} GPU min")
        print(json.dumps(card, indent=1))

    @sub.command("plot")
    def plot(
        run_dir: Path = typer.Argument(..., help="Run folder (with log.jsonl; realism.jsonl when measured)."),
        output: Optional[Path] = typer.Option(None, *OUT, help="PNG to write (default: RUN/progress.png)."),
    ) -> None:
        """Plot a training run's progress over kimg: losses, discriminator outputs and overfitting gap, augmentation,
        speed, and the realism figures `faceedit eval realism --model RUN` recorded. Reads the run; never stops it."""
        from faceedit.media import save_image
        from faceedit.train.plot import progress_figure

        if not run_dir.is_dir():
            raise FaceEditError(f"run folder not found: {run_dir}")
        out = output if output is not None else run_dir / "progress.png"
        if out.suffix.lower() != ".png":
            raise FaceEditError(f"-o {out}: the plot is a .png")
        save_image(out, progress_figure(run_dir))
        _err(f"wrote {out}")

    @sub.command("save-state")
    def save_state(
        run_dir: Path = typer.Argument(..., help="Run folder with checkpoint.pt."),
        output: Path = typer.Option(..., *OUT, help="State file to write (.safetensors)."),
    ) -> None:
        """Write the run's resumable state (fp16 G_ema, G, D [+ feature D], step, images seen, totals, augmentation
        state) as one small file to commit; `train gan --resume-from FILE` continues from it on another machine."""
        from faceedit.train.export import export_state

        card = export_state(run_dir, output)
        _err(f"wrote {output} ({output.stat().st_size / 2**20:.1f} MiB): kimg {card['kimg']}, step {card['step']}")

