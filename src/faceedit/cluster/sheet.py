"""Pictures of a clustering: a contact sheet (one row of samples per cluster, the thesis's Fig. 4-6) and a t-SNE
scatter plot of the features coloured by cluster (matplotlib, Agg backend)."""

from __future__ import annotations

import io
import os

import numpy as np

from faceedit.atomic import write_bytes
from faceedit.errors import FaceEditError

#: Most samples per row and most rows drawn on a contact sheet.
MAX_PER_ROW = 30
MAX_ROWS = 100


def contact_sheet(thumbs: np.ndarray, labels: np.ndarray, proba: np.ndarray | None = None, per_row: int = 10,
                  gap: int = 2, label_width: int = 64) -> np.ndarray:
    """One row per cluster, its ``per_row`` most confident members (highest ``proba[i, cluster]``, else in order),
    a caption ``cluster (size)`` on the left. ``thumbs``: uint8 [N, C, S, S] (C = 1 or 3). Returns H×W×3 uint8."""
    from PIL import Image, ImageDraw

    thumbs = np.asarray(thumbs)
    if thumbs.ndim != 4 or thumbs.shape[1] not in (1, 3) or len(thumbs) != len(labels):
        raise FaceEditError(f"contact sheet needs uint8 thumbnails [N, 1|3, S, S] matching the labels, got "
                            f"{thumbs.shape} and {len(labels)} labels")
    if not 1 <= per_row <= MAX_PER_ROW:
        raise FaceEditError(f"samples per row must be 1–{MAX_PER_ROW}, got {per_row}")
    labels = np.asarray(labels)
    clusters = [c for c in np.unique(labels)][:MAX_ROWS]
    s = thumbs.shape[2]
    cell, row_h = s + gap, max(s, 26) + gap  # rows at least two caption lines high
    sheet = Image.new("RGB", (label_width + per_row * cell + gap, len(clusters) * row_h + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, c in enumerate(clusters):
        members = np.flatnonzero(labels == c)
        if proba is not None:
            members = members[np.argsort(-np.asarray(proba)[members, c], kind="stable")]
        y = gap + row * row_h
        mid = y + (row_h - gap) // 2
        draw.text((4, mid - 12), f"{c}", fill=(0, 0, 0))
        draw.text((4, mid + 1), f"({len(members)})", fill=(90, 90, 90))
        for col, i in enumerate(members[:per_row]):
            t = thumbs[i]
            img = np.repeat(t, 3, 0) if t.shape[0] == 1 else t
            sheet.paste(Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0))), (label_width + col * cell, y))
    return np.asarray(sheet)


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an H×W×3 uint8 array as PNG, atomically."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=True)
    write_bytes(path, buf.getvalue())


def tsne_scatter(path: str | os.PathLike, points: np.ndarray, labels: np.ndarray, title: str = "",
                 truth: np.ndarray | None = None, dpi: int = 110) -> None:
    """Scatter [N, 2] ``points`` coloured by cluster (with each cluster's number at its median); with ``truth``,
    a second panel coloured by the true classes. Writes a PNG atomically."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise FaceEditError("the t-SNE scatter needs matplotlib: pip install 'faceedit[cluster]'") from None
    points, labels = np.asarray(points), np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise FaceEditError(f"scatter needs [N, 2] points matching the labels, got {points.shape}")
    panels = [("clusters", labels)] + ([("true classes", np.asarray(truth))] if truth is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5.2), squeeze=False)
    size = float(np.clip(4000 / max(len(points), 1), 1.0, 30.0))
    for ax, (name, lab) in zip(axes[0], panels):
        values = np.unique(lab)
        cmap = plt.get_cmap("tab10" if len(values) <= 10 else "tab20" if len(values) <= 20 else "hsv")
        colour = {v: cmap(i / max(len(values) - 1, 1)) if len(values) > 20 else cmap(i) for i, v in enumerate(values)}
        ax.scatter(points[:, 0], points[:, 1], s=size, c=[colour[v] for v in lab], linewidths=0)
        if name == "clusters":
            for v in values:
                mx, my = np.median(points[lab == v], axis=0)
                ax.text(mx, my, str(v), fontsize=9, weight="bold", ha="center", va="center",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0})
        ax.set_title(f"{title} — {name}" if title else name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    write_bytes(path, buf.getvalue())


__all__ = ["contact_sheet", "save_png", "tsne_scatter"]
