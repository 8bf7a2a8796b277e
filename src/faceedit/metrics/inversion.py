"""Reconstruction figures of an inversion: per image MSE and PSNR (pixels in [0, 1]), SSIM (Gaussian window,
:mod:`faceedit.metrics.quality`), and any image distances (:mod:`faceedit.metrics.distances`: e.g. two LPIPS-style
perceptual distances, ``perceptual`` on face-api's recognition ResNet and ``vgg16`` on ImageNet VGG16 — reporting
both keeps either loss from being judged by its own metric — and the dlib-compatible identity distance) between
the aligned faces and their reconstructions; their means per method, and the table ``faceedit eval inversion``
prints.

    figures = InversionFigures(dists={"perceptual": distances.get("perceptual")})
    figures.add(reconstruction, target, seconds=1.2)     # [N, 3, R, R] in [-1, 1], as often as there are batches
    row = figures.summary()                              # {"mse": …, "psnr": …, "ssim": …, "seconds_per_image": …}
    print(format_table({"hybrid": row, "pivotal": other}))
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from faceedit.metrics import quality

COLUMNS = (("mse", "MSE", "{:.4f}"), ("psnr", "PSNR dB", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"),
           ("perceptual", "perc. face-api", "{:.4f}"), ("vgg16", "perc. VGG16", "{:.4f}"),
           ("identity", "identity", "{:.3f}"),
           ("seconds_per_image", "s/image", "{:.2f}"))


class InversionFigures:
    """Running figures of one method over batches: ``dists`` maps a name to ``d(a, b) -> [N]``."""

    def __init__(self, dists: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] | None = None):
        self.dists = dict(dists or {})
        self.rows: dict[str, list[torch.Tensor]] = {}
        self.seconds = 0.0
        self.n = 0

    def add(self, reconstruction: torch.Tensor, target: torch.Tensor, seconds: float = 0.0) -> None:
        """One batch: reconstructions and targets [N, 3, R, R] in [-1, 1]; ``seconds`` the inversion took."""
        rec = reconstruction.clamp(-1, 1)
        for k, v in quality.all_metrics(rec, target).items():
            self.rows.setdefault(k, []).append(v)
        with torch.no_grad():
            for name, d in self.dists.items():
                self.rows.setdefault(name, []).append(d(rec, target).reshape(-1).float())
        self.seconds += float(seconds)
        self.n += int(target.shape[0])

    def summary(self) -> dict[str, Any]:
        """The mean of every figure, ``seconds_per_image`` and ``n``."""
        out: dict[str, Any] = {k: float(torch.cat(v).mean()) for k, v in self.rows.items()}
        out["seconds_per_image"] = self.seconds / max(1, self.n)
        out["n"] = self.n
        return out


def format_table(results: dict[str, Any], markdown: bool = False) -> str:
    """A plain (or markdown) table: one row per method (its ``steps``, ``ran_as`` and the :data:`COLUMNS` that
    some row has)."""
    columns = [c for c in COLUMNS if any(c[0] in r for r in results.values())]
    head = ["method", "steps"] + [c[1] for c in columns]
    rows = []
    for method, r in results.items():
        name = method + (f" (ran as {r['ran_as']})" if r.get("ran_as") else "")
        rows.append([name, str(r.get("steps", ""))] + [fmt.format(r[k]) if k in r else "–" for k, _, fmt in columns])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def fmt_row(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt_row(head)] + [fmt_row(r) for r in rows])


__all__ = ["COLUMNS", "InversionFigures", "format_table"]
