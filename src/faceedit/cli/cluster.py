"""``faceedit cluster``: group a folder of faces (or any images) into K clusters with DERC."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from faceedit.threads import set_threads
from faceedit.errors import FaceEditError
from faceedit.cli.options import OUT, QUIET


def register(app: typer.Typer) -> None:
    @app.command("cluster")
    def cluster(
        folder: Path = typer.Argument(..., help="Folder of images (searched recursively; FFHQ-aligned faces "
                                                "for --features identity/attributes, see 'faceedit align')."),
        k: int = typer.Option(..., "--k", help="Number of clusters (2–100)."),
        features: str = typer.Option("derc", "--features", help="derc (an autoencoder trained on these images), "
                                                                "identity (face-api identity descriptors) or "
                                                                "attributes (the attribute classifier's features)."),
        json_out: Optional[Path] = typer.Option(None, "--json", help="Write per-file clusters and a summary (JSON)."),
        csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write per-file clusters (CSV: path,cluster,p)."),
        sheet: Optional[Path] = typer.Option(None, *OUT, help="Contact sheet PNG: a row of samples "
                                                                          "per cluster, most confident first."),
        tsne_png: Optional[Path] = typer.Option(None, "--tsne-png", help="t-SNE scatter PNG of the features."),
        per_row: int = typer.Option(10, "--per-row", help="Samples per contact-sheet row (1–30)."),
        size: int = typer.Option(64, "--size", help="Thumbnail side in px, the autoencoder's input (16–128)."),
        max_images: int = typer.Option(2000, "--max-images", help="Refuse folders with more images (≤ 20000)."),
        minutes: float = typer.Option(10.0, "--minutes", help="Training time budget; when it runs out the "
                                                              "clusters come from the encoder as it is."),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="Autoencoder pretraining epochs (default: "
                                                                    "about 25,000 samples' worth, 30–200)."),
        rounds: int = typer.Option(4, "--rounds", help="DERC rounds (t-SNE + mixture + triplet training)."),
        d_z: int = typer.Option(32, "--dz", help="Embedding size of the autoencoder."),
        run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Keep a checkpoint here (resumable)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the training checkpointed in --run-dir."),
        box: str = typer.Option("ffhq", "--box", help="Face crop for identity features: ffhq (aligned faces) or "
                                                      "none (tight face crops)."),
        threads: int = typer.Option(1, "--threads", help="CPU threads for training and t-SNE (1–64)."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        quiet: bool = typer.Option(False, *QUIET, help="No progress bars."),
    ) -> None:
        """Cluster the images of FOLDER into K groups (DERC: autoencoder, t-SNE, Gaussian mixture, triplet loss).

        Prints one 'cluster<TAB>file' line per image unless --json or --csv is given, then a summary line.
        """
        from faceedit.cluster.folder import cluster_folder

        if resume and run_dir is None:
            raise FaceEditError("--resume needs --run-dir")
        if box.lower() not in ("ffhq", "none"):
            raise FaceEditError(f"bad --box {box!r}: use ffhq or none")
        if not 0 < minutes <= 24 * 60:
            raise FaceEditError(f"--minutes must be > 0 and at most 1440, got {minutes}")
        if epochs is not None and not 0 <= epochs <= 2000:
            raise FaceEditError(f"--epochs must be 0–2000, got {epochs}")
        if not 0 <= rounds <= 20:
            raise FaceEditError(f"--rounds must be 0–20, got {rounds}")
        if not 2 <= d_z <= 256:
            raise FaceEditError(f"--dz must be 2–256, got {d_z}")
        if not 1 <= per_row <= 30:
            raise FaceEditError(f"--per-row must be 1–30, got {per_row}")
        for out in (json_out, csv_out, sheet, tsne_png):
            if out is not None and out.is_dir():
                raise FaceEditError(f"{out} is a folder: give a file name")
        if not 1 <= threads <= 64:
            raise FaceEditError(f"--threads must be 1–64, got {threads}")
        set_threads(threads)
        log = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
        res = cluster_folder(folder, k, features=features, size=size, max_images=max_images, d_z=d_z,
                             pretrain_epochs=epochs, rounds=rounds, time_budget=minutes * 60, run_dir=run_dir,
                             resume=resume, threads=threads, seed=seed, box=None if box.lower() == "none" else "ffhq",
                             progress=not quiet, log=log)
        if json_out is not None:
            res.write_json(json_out)
        if csv_out is not None:
            res.write_csv(csv_out)
        if sheet is not None:
            res.write_sheet(sheet, per_row)
        if tsne_png is not None:
            res.write_scatter(tsne_png)
        if json_out is None and csv_out is None:
            for row in res.rows():
                print(f"{row['cluster']}\t{row['path']}")
        info = res.summary()
        print(f"clustered {info['images']} images into {k} clusters ({features} features); sizes "
              f"{' '.join(map(str, info['cluster_sizes']))}"
              + (f"; {len(info['skipped'])} skipped" if info["skipped"] else ""))
        if not res.result.complete:
            print(f"note: {res.result.note}", file=sys.stderr)
