"""Cluster a folder of (face) images: read, pick features, run DERC, write labels, a contact sheet and a scatter.

    from faceedit.cluster import cluster_folder
    out = cluster_folder("photos/", k=5, features="identity")
    out.write_json("clusters.json"); out.write_sheet("sheet.png"); out.write_scatter("tsne.png")

``features``: ``"derc"`` — DERC's convolutional autoencoder trained on the thumbnails themselves; ``"identity"`` /
``"attributes"`` — DERC on the project's identity descriptors / attribute-classifier features (a small feature
autoencoder on top, then the same stage-2 rounds). See :mod:`faceedit.cluster.derc`.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceedit.atomic import write_text
from faceedit.cluster.derc import Derc, DercConfig
from faceedit.cluster.features import FEATURE_SOURCES, ImageSet, feature_function, list_images, read_images
from faceedit.cluster.model import AutoencoderConfig, ConvAutoencoder, FeatureAutoencoder
from faceedit.cluster.result import ClusterResult
from faceedit.cluster.sheet import contact_sheet, save_png, tsne_scatter
from faceedit.errors import FaceEditError

#: Most clusters a folder may be split into.
MAX_K = 100


@dataclass
class FolderClustering:
    """A clustered folder: ``images`` (paths, thumbnails, skipped files), ``result``, ``features`` source, ``k``."""

    folder: Path
    k: int
    features: str
    images: ImageSet
    result: ClusterResult

    def rows(self) -> list[dict]:
        """One dict per image: ``path`` (relative to the folder), ``cluster``, ``p`` (its mixture probability)."""
        out = []
        for i, path in enumerate(self.images.paths):
            c = int(self.result.labels[i])
            out.append({"path": _rel(path, self.folder), "cluster": c, "p": round(float(self.result.proba[i, c]), 4)})
        return out

    def summary(self) -> dict:
        sizes = np.bincount(self.result.labels, minlength=self.k)
        return {"folder": str(self.folder), "k": self.k, "features": self.features, "images": len(self.images.paths),
                "cluster_sizes": [int(s) for s in sizes], "complete": self.result.complete, "note": self.result.note,
                "skipped": [{"path": _rel(p, self.folder), "reason": r} for p, r in self.images.skipped],
                "stages": [{"name": s.name, "cpu_s": round(s.cpu_s, 2), "wall_s": round(s.wall_s, 2), **s.info}
                           for s in self.result.stages]}

    def write_json(self, path: str | os.PathLike) -> None:
        write_text(path, json.dumps(dict(self.summary(), images_clustered=self.rows()), indent=1) + "\n")

    def write_csv(self, path: str | os.PathLike) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["path", "cluster", "p"], lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows())
        write_text(path, buf.getvalue())

    def write_sheet(self, path: str | os.PathLike, per_row: int = 10) -> None:
        save_png(path, contact_sheet(self.images.thumbs.numpy(), self.result.labels, self.result.proba, per_row))

    def write_scatter(self, path: str | os.PathLike) -> None:
        title = f"{self.folder.name or self.folder}: t-SNE of {self.features} features"
        tsne_scatter(path, self.result.points, self.result.labels, title=title)


def _rel(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def cluster_folder(folder: str | os.PathLike, k: int, features: str = "derc", size: int = 64, max_images: int = 2000,
                   d_z: int | None = None, pretrain_epochs: int | None = None, rounds: int = 4, round_epochs: int = 4,
                   time_budget: float | None = 600.0, run_dir: str | os.PathLike | None = None, resume: bool = False,
                   threads: int = 1, seed: int = 0, box="ffhq", cache=None, progress: bool = True,
                   log: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None
                   ) -> FolderClustering:
    """Cluster the images under ``folder`` into ``k`` groups (see the module docstring). ``size``: thumbnail side
    (the autoencoder's input, 16–128 px); ``time_budget``: seconds of training at most (None: no limit);
    ``run_dir``: keep a resumable checkpoint there; ``threads``: t-SNE threads (set torch's
    own with ``torch.set_num_threads``)."""
    folder = Path(folder)
    if not 2 <= k <= MAX_K:
        raise FaceEditError(f"--k must be 2–{MAX_K}, got {k}")
    if features not in FEATURE_SOURCES:
        raise FaceEditError(f"unknown --features {features!r}: use {', '.join(FEATURE_SOURCES)}")
    if not 1 <= threads <= 64:
        raise FaceEditError(f"--threads must be 1–64, got {threads}")
    if time_budget is not None and time_budget <= 0:
        raise FaceEditError("the time budget must be positive")
    paths = list_images(folder, max_images)
    if len(paths) < k:
        raise FaceEditError(f"{folder} holds {len(paths)} images, fewer than the {k} clusters asked for")
    fn = feature_function(features, cache=cache, box=box)
    images = read_images(paths, size=size, feature_fn=fn, progress=progress, warn=warn)
    n = len(images.paths)
    if n < k:
        raise FaceEditError(f"only {n} of the {len(paths)} images could be read, fewer than the {k} clusters")
    if n < 5:
        raise FaceEditError(f"clustering needs at least 5 readable images, got {n}")
    torch.manual_seed(seed)
    if features == "derc":
        model = ConvAutoencoder(AutoencoderConfig(channels=3, size=size, d_z=d_z or 32))
        data = images.thumbs
    else:
        data = images.features
        model = FeatureAutoencoder(data.shape[1], d_z=d_z or 32, hidden=256)
        data = (data - data.mean(0)) / (data.std(0) + 1e-6)  # features of very different scales: standardise
    if pretrain_epochs is None:  # ~25,000 sample visits at least, at most 200 epochs
        pretrain_epochs = int(np.clip(25_000 // n, 30, 200))
    cfg = DercConfig(k=k, pretrain_epochs=pretrain_epochs, rounds=rounds, round_epochs=round_epochs,
                     batch_size=min(128, max(8, n // 4)), seed=seed, threads=threads)
    result = Derc(model, data, cfg, run_dir=run_dir, progress=progress, log=log).run(time_budget, resume=resume)
    return FolderClustering(folder, k, features, images, result)


__all__ = ["FolderClustering", "MAX_K", "cluster_folder"]
