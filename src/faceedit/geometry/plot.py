"""Pictures of registrations: two point clouds before and after alignment (matplotlib 3D scatter, no display)."""

from __future__ import annotations

import io
import os

import numpy as np

from faceedit.errors import FaceEditError

#: Points drawn per cloud at most (a random subset of larger clouds, seeded).
MAX_DRAWN = 4000


def _subset(points: np.ndarray, n: int) -> np.ndarray:
    if len(points) <= n:
        return points
    return points[np.random.default_rng(0).choice(len(points), n, replace=False)]


def before_after_png(source: np.ndarray, target: np.ndarray, rotation: np.ndarray, translation: np.ndarray,
                     title: str = "", size_px: int = 900) -> bytes:
    """A PNG (bytes) of two panels: the source (orange) and target (blue) clouds as given, and the source moved
    by (rotation ``[3, 3]``, translation ``[3]``) onto the target. Same axes limits in both panels."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        raise FaceEditError("the before/after picture needs matplotlib: pip install 'faceedit[geometry]'") from None
    p, q = _subset(np.asarray(source, float), MAX_DRAWN), _subset(np.asarray(target, float), MAX_DRAWN)
    moved = p @ np.asarray(rotation, float).T + np.asarray(translation, float)
    every = np.concatenate([p, q, moved])
    lo, hi = every.min(0), every.max(0)
    centre, half = (lo + hi) / 2, float((hi - lo).max()) / 2 or 1.0
    fig = Figure(figsize=(size_px / 100, size_px / 200), dpi=100)
    for k, (a, label) in enumerate(((p, "before"), (moved, "after"))):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        ax.scatter(*q.T, s=2, c="tab:blue", alpha=0.6, depthshade=False, label="target Q")
        ax.scatter(*a.T, s=2, c="tab:orange", alpha=0.6, depthshade=False, label="source P" + (" moved" if k else ""))
        for set_lim, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre):
            set_lim(c - half, c + half)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=20, azim=-60)
        ax.set_title(label, fontsize=10)
        ax.tick_params(labelsize=6)
        ax.legend(loc="upper left", fontsize=7, markerscale=4)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0, right=1, bottom=0.02, top=0.9, wspace=0.02)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def save_before_after(path: str | os.PathLike, *args, **kwargs) -> None:
    """Write :func:`before_after_png` to ``path`` atomically."""
    from faceedit import atomic

    atomic.write_bytes(path, before_after_png(*args, **kwargs))
