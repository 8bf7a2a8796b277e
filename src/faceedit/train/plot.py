"""Plots of a GAN training run's progress, read from its folder (the trainer is not touched): the losses, the
discriminator's outputs and its overfitting gap, the augmentation probability and the speed from ``log.jsonl``,
and the realism figures (``faceedit eval realism --model RUN`` appends them to ``realism.jsonl``), all over kimg.

    faceedit train plot runs/default64            # → runs/default64/progress.png
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from faceedit.errors import FaceEditError

LOG_NAME, REALISM_NAME = "log.jsonl", "realism.jsonl"
#: Panels: (title, y label, keys of the progress records drawn in it).
PANELS = (
    ("losses", "loss", ("loss_G", "loss_D", "loss_G_FD", "loss_FD")),
    ("discriminator", "mean logit", ("D_real", "D_train_clean", "D_val", "D_overfit_gap", "FD_real", "FD_fake")),
    ("augmentation and regularisation", "value", ("aug_p", "pl")),
    ("speed", "kimg per hour", ("kimg_per_hour",)),
)
#: Realism keys drawn (lower is better for fd/kid, higher for the rest).
REALISM_KEYS = ("fd", "kid", "precision", "recall", "identity_diversity")


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a .jsonl file, skipping blank and broken lines (a run may be writing the last one)."""
    out = []
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _series(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(float(r["kimg"]), float(r[key])) for r in records
           if isinstance(r.get(key), (int, float)) and isinstance(r.get("kimg"), (int, float))
           and math.isfinite(float(r[key]))]
    if not pts:
        return np.zeros(0), np.zeros(0)
    pts.sort()
    x, y = np.array(pts).T
    return x, y


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    """Moving average over ``n`` points (shorter at the ends)."""
    if n <= 1 or len(y) < 3:
        return y
    k = np.ones(min(n, len(y)))
    return np.convolve(y, k, "same") / np.convolve(np.ones_like(y), k, "same")


def _plan(records: list[dict], realism: list[dict]) -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    """The panels with something to draw, (title, y label, keys), and the realism keys measured."""
    panels = [(t, yl, [k for k in keys if len(_series(records, k)[0])]) for t, yl, keys in PANELS]
    return [p for p in panels if p[2]], [k for k in REALISM_KEYS if len(_series(realism, k)[0])]


def panel_titles(run_dir: str | Path) -> list[str]:
    """Titles of the panels :func:`progress_figure` draws for ``run_dir`` ("realism" last when measured)."""
    run_dir = Path(run_dir)
    records = [r for r in read_jsonl(run_dir / LOG_NAME) if r.get("event") == "progress"]
    panels, real_keys = _plan(records, read_jsonl(run_dir / REALISM_NAME))
    return [t for t, _, _ in panels] + (["realism"] if real_keys else [])


def progress_figure(run_dir: str | Path, dpi: int = 100) -> np.ndarray:
    """The run's progress plots as an RGB uint8 image; FaceEditError when the folder has no progress log."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run_dir = Path(run_dir)
    records = [r for r in read_jsonl(run_dir / LOG_NAME) if r.get("event") == "progress"]
    if not records:
        raise FaceEditError(f"{run_dir}: no training progress to plot (no 'progress' lines in {LOG_NAME})")
    realism = read_jsonl(run_dir / REALISM_NAME)
    panels, real_keys = _plan(records, realism)
    n = len(panels) + (1 if real_keys else 0)
    cols = 2 if n > 1 else 1
    rows = -(-n // cols)
    fig = Figure(figsize=(6.2 * cols, 3.6 * rows), dpi=dpi, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    smooth = max(1, len(records) // 40)
    for ax, (title, ylabel, keys) in zip(axes, panels):
        for key in keys:
            x, y = _series(records, key)
            line, = ax.plot(x, _smooth(y, smooth), label=key, linewidth=1.4)
            if smooth > 1:
                ax.plot(x, y, color=line.get_color(), alpha=0.2, linewidth=0.7)
        ax.set_title(title + (f" (moving average of {smooth})" if smooth > 1 and title != "speed" else ""))
        ax.set_xlabel("kimg (thousands of real images shown)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if real_keys:
        ax = axes[len(panels)]
        twin = None
        for key in real_keys:
            x, y = _series(realism, key)
            target = ax if key in ("fd", "kid") else (twin or ax.twinx())
            if target is not ax:
                twin = target
            target.plot(x, y, marker="o", label=key, color=f"C{REALISM_KEYS.index(key)}")
        ax.set_title("realism (faceedit eval realism --model RUN)")
        ax.set_xlabel("kimg")
        ax.set_ylabel("FD / KID (lower is better)")
        ax.grid(alpha=0.3)
        handles = ax.get_legend_handles_labels()
        if twin is not None:
            twin.set_ylabel("precision / recall / diversity (higher is better)")
            h2 = twin.get_legend_handles_labels()
            handles = (handles[0] + h2[0], handles[1] + h2[1])
        ax.legend(*handles, fontsize=8)
    for ax in axes[n:]:
        ax.set_visible(False)
    last = records[-1]
    fig.suptitle(f"{run_dir.name}: {last.get('kimg', 0):g} kimg, step {last.get('step', '?')}, "
                 f"{last.get('cpu_hours', 0):.2f} CPU h, {last.get('gpu_minutes', 0):.1f} GPU min")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
