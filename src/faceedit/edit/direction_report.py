"""How good a set of attribute directions is: cosine similarities between them, what an edit along each does to
every score (efficacy on its own attribute, leak into the others), and how the attribute scores correlate in
generated faces compared with real ones. Tables as dicts, pictures as heat maps (matplotlib, colour bars and
labels; a PIL drawing when matplotlib is missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from faceedit.edit.attributes import AttributeScorer
from faceedit.edit.directions import DirectionSet, Samples
from faceedit.errors import FaceEditError


@dataclass
class DirectionReport:
    names: list[str]  # the directions' attributes (rows and columns of the matrices)
    cosine: np.ndarray  # [D, D]
    effect: np.ndarray  # [D, D]: mean change of score j per unit edit along direction i, in std units of score j
    rows: list[dict]  # per direction: accuracies, efficacy, leak
    corr_generated: np.ndarray | None = None  # [D, D] score correlations over generated samples
    corr_real: np.ndarray | None = None  # [D, D] over real faces

    def as_dict(self) -> dict:
        out = {"names": self.names, "cosine": self.cosine.round(4).tolist(), "effect": self.effect.round(4).tolist(),
               "directions": self.rows}
        if self.corr_generated is not None:
            out["corr_generated"] = self.corr_generated.round(4).tolist()
        if self.corr_real is not None:
            out["corr_real"] = self.corr_real.round(4).tolist()
            out["corr_mean_abs_difference"] = float(np.abs(self.corr_real - self.corr_generated).mean())
        return out

    def markdown(self) -> str:
        lines = ["| attribute | space | val. acc. | acc. (all) | efficacy (σ/unit) | leak (σ/unit) |",
                 "|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(f"| {r['attribute']} | {r['space']} | {_pct(r.get('val_accuracy'))} | "
                         f"{_pct(r.get('all_accuracy'))} | {r['efficacy']:+.2f} | {r['leak']:.2f} |")
        return "\n".join(lines)


def _pct(v) -> str:
    return "—" if v is None or v != v else f"{100 * v:.1f} %"


def _corr(scores: np.ndarray) -> np.ndarray:
    s = scores - scores.mean(0)
    sd = s.std(0)
    sd[sd == 0] = 1
    return (s / sd).T @ (s / sd) / len(s)


def build_report(model, directions: DirectionSet, scorer: AttributeScorer, samples: Samples | None = None,
                 edit_samples: int = 64, real_images: torch.Tensor | None = None, seed: int = 0,
                 batch_size: int = 32) -> DirectionReport:
    """Measure ``directions`` on ``model`` (see the module doc). Effects are central differences of ±1 unit on
    ``edit_samples`` faces drawn without truncation; std units come from ``samples`` when given (else from the
    edited faces themselves)."""
    names = [n for n in directions.names if n in scorer.names]
    if not names:
        raise FaceEditError("none of the directions has a score from the available scorers")
    cols = [scorer.names.index(n) for n in names]
    vecs = [directions.get(n).vector.reshape(-1) for n in names]
    same = len({v.shape for v in vecs}) == 1
    cosine = np.array([[float(a @ b) if same else np.nan for b in vecs] for a in vecs])
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(edit_samples, model.z_dim, generator=gen)
    ws = model.map(z)
    base = scorer(model.synthesize(ws, batch_size=batch_size)).numpy()[:, cols]
    std = (samples.scores[:, [samples.names.index(n) for n in names]].std(0) if samples is not None
           and all(n in samples.names for n in names) else base.std(0))
    std = np.where(std > 0, std, 1.0)
    effect = np.zeros((len(names), len(names)))
    rows = []
    for i, n in enumerate(names):
        up = scorer(model.synthesize(directions.apply(ws, {n: 1.0}), batch_size=batch_size)).numpy()[:, cols]
        down = scorer(model.synthesize(directions.apply(ws, {n: -1.0}), batch_size=batch_size)).numpy()[:, cols]
        effect[i] = ((up - down) / 2).mean(0) / std
        others = np.delete(np.abs(effect[i]), i)
        d = directions.get(n)
        rows.append({"attribute": n, "space": d.space, "val_accuracy": d.meta.get("val_accuracy"),
                     "all_accuracy": d.meta.get("all_accuracy"), "n_samples": d.meta.get("n_samples"),
                     "efficacy": float(effect[i, i]), "leak": float(others.mean()) if len(others) else 0.0})
    rep = DirectionReport(names=names, cosine=cosine, effect=effect, rows=rows)
    if samples is not None and all(n in samples.names for n in names):
        rep.corr_generated = _corr(samples.scores[:, [samples.names.index(n) for n in names]])
    if real_images is not None:
        real = scorer(real_images).numpy()[:, cols]
        rep.corr_real = _corr(real)
        if rep.corr_generated is None:
            rep.corr_generated = _corr(base)
    return rep


# ------------------------------------------------------------------------------------------------ pictures
def _colour(v: np.ndarray, vmax: float) -> np.ndarray:
    """Diverging blue–white–red for values in [-vmax, vmax] → uint8 RGB."""
    t = np.clip(np.nan_to_num(v) / vmax, -1, 1)[..., None]
    red, blue, white = np.array([178, 24, 43]), np.array([33, 102, 172]), np.array([247, 247, 247])
    return np.where(t >= 0, white + (red - white) * t, white + (blue - white) * (-t)).astype(np.uint8)


def heatmap(matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], title: str,
            vmax: float | None = None, cell: int = 22) -> np.ndarray:
    """A labelled heat map (values printed in the cells) as an RGB uint8 image."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    m = np.asarray(matrix, dtype=np.float64)
    vmax = vmax or float(np.nanmax(np.abs(m))) or 1.0
    left = 8 + 7 * max(len(s) for s in row_labels)
    top = 24 + 7 * max(len(s) for s in col_labels)
    h, w = m.shape
    img = Image.new("RGB", (left + w * cell + 8, top + h * cell + 8), "white")
    d = ImageDraw.Draw(img)
    d.text((4, 4), title, fill="black", font=font)
    cols = Image.new("RGB", (top - 20, w * cell), "white")
    dc = ImageDraw.Draw(cols)
    for j, lab in enumerate(col_labels):
        dc.text((2, j * cell + cell // 2 - 5), lab, fill="black", font=font)
    img.paste(cols.rotate(90, expand=True), (left, 20))
    rgb = _colour(m, vmax)
    for i in range(h):
        d.text((4, top + i * cell + cell // 2 - 5), row_labels[i], fill="black", font=font)
        for j in range(w):
            x0, y0 = left + j * cell, top + i * cell
            d.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=tuple(int(c) for c in rgb[i, j]))
            if np.isfinite(m[i, j]):
                txt = f"{m[i, j]:.1f}"[:4] if abs(m[i, j]) < 10 else f"{m[i, j]:.0f}"
                d.text((x0 + 2, y0 + cell // 2 - 5), txt, fill="black", font=font)
    return np.asarray(img)


def _panels(rep: DirectionReport) -> list[tuple[np.ndarray, str, float | None, str]]:
    """(matrix, title, symmetric colour limit or None for the data's, colour-bar label) of each heat map."""
    out = [(rep.cosine, "cosine between directions", 1.0, "cosine"),
           (rep.effect, "score change per unit edit", None, "change of the column's score (σ)")]
    if rep.corr_generated is not None:
        out.append((rep.corr_generated, "score correlation: generated faces", 1.0, "Pearson r"))
    if rep.corr_real is not None:
        out.append((rep.corr_real, "score correlation: real faces", 1.0, "Pearson r"))
    return out


def report_figure(rep: DirectionReport, dpi: int = 110) -> np.ndarray:
    """The report's heat maps drawn with matplotlib (a 2-column grid of panels, each with its colour bar, the
    attribute names on both axes, the value in each cell when there are at most 24 attributes) as RGB uint8."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = _panels(rep)
    n = len(rep.names)
    cols = min(2, len(panels))
    rows = -(-len(panels) // cols)
    side = max(4.5, 0.32 * n + 2.2)
    fig = Figure(figsize=(cols * (side + 1.4), rows * side), dpi=dpi, layout="constrained")
    canvas = FigureCanvasAgg(fig)  # draws off screen, whatever backend pyplot would use
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (m, title, vmax, unit) in zip(axes.flat, panels):
        m = np.asarray(m, dtype=np.float64)
        lim = vmax or float(np.nanmax(np.abs(m))) or 1.0
        im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(title, fontsize=11)
        ax.set_xticks(range(n), [s.replace("_", " ") for s in rep.names], rotation=60, ha="right", fontsize=8,
                      rotation_mode="anchor")
        ax.set_yticks(range(n), [s.replace("_", " ") for s in rep.names], fontsize=8)
        if title.startswith("score change"):
            ax.set_ylabel("edited attribute (one unit)", fontsize=9)
            ax.set_xlabel("score", fontsize=9)
        if n <= 24:
            for (i, j), v in np.ndenumerate(m):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=5,
                            color="white" if abs(v) > 0.6 * lim else "black")
        fig.colorbar(im, ax=ax, shrink=0.8, label=unit)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def report_picture(rep: DirectionReport) -> np.ndarray:
    """The report's heat maps (:func:`report_figure` with matplotlib; without it, simpler ones drawn with PIL)."""
    try:
        return report_figure(rep)
    except ImportError:
        pass
    panels = [heatmap(rep.cosine, rep.names, rep.names, "cosine between directions", 1.0),
              heatmap(rep.effect, rep.names, rep.names, "score change per unit edit (row: edit, col: score, σ)")]
    if rep.corr_generated is not None:
        panels.append(heatmap(rep.corr_generated, rep.names, rep.names, "score correlation: generated", 1.0))
    if rep.corr_real is not None:
        panels.append(heatmap(rep.corr_real, rep.names, rep.names, "score correlation: real faces", 1.0))
    h = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((0, h - p.shape[0]), (0, 12), (0, 0)), constant_values=255) for p in panels]
    return np.concatenate(padded, axis=1)
