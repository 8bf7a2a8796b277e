"""``faceedit eval inversion``: reconstruction quality and speed of each inversion method on aligned faces.

Per method and image: MSE and PSNR (pixels in [0, 1]), SSIM (Gaussian window, :mod:`faceedit.metrics.quality`),
two LPIPS-style perceptual distances (``perceptual``: on face-api's recognition ResNet; ``vgg16``: on ImageNet
VGG16 — reporting both keeps either loss from being judged by its own metric) and the identity distance
(dlib-compatible descriptor, Euclidean: < 0.6 reads as the same person) between the aligned face and its
reconstruction, and the wall-clock seconds per image of the inversion itself (the images are inverted together in
batches).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

from faceedit.errors import FaceEditError

COLUMNS = (("mse", "MSE", "{:.4f}"), ("psnr", "PSNR dB", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"),
           ("perceptual", "perc. face-api", "{:.4f}"), ("vgg16", "perc. VGG16", "{:.4f}"),
           ("identity", "identity", "{:.3f}"),
           ("seconds_per_image", "s/image", "{:.2f}"))


def load_eval_faces(path: str | Path, res: int, n: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    """``n`` aligned faces (uint8 [n, 3, res, res]) from a folder of images, a zip/array, or a
    ``faceedit data build`` folder / pack (its validation split). Returns (images, description)."""
    p = Path(path)
    if not p.exists():
        raise FaceEditError(f"not found: {p}")
    from faceedit.train.encoder import _has_manifest, load_real_faces

    if (p.is_dir() and (p / "manifest.jsonl").is_file()) or (p.is_file() and _has_manifest(p)):
        _, va, info = load_real_faces(p, res, val_n=n, seed=seed, val_only=True, log=lambda *a: None)
        if not len(va):
            raise FaceEditError(f"{p} has no validation split")
        return va, f"{len(va)} validation faces of {p}"
    from faceedit.train.dataset import load_images

    imgs = load_images(p, res, limit=n)
    return imgs, f"the first {len(imgs)} images of {p}"


def evaluate_methods(model, images: torch.Tensor, methods: list[str], steps: dict[str, int] | None = None,
                     batch: int = 8, encoder=None, force_encoder: bool = False, space: str = "w+",
                     metrics: tuple[str, ...] = ("perceptual", "vgg16", "identity"),
                     log: Callable[[str], None] = print, progress=None,
                     encoder_iterations: int | None = None, perceptual: Any = "auto") -> dict[str, Any]:
    """Invert ``images`` (uint8 [N, 3, R, R]) with each method; per method the mean of every figure.
    ``metrics``: distance names (:func:`faceedit.metrics.distances.get`; those that cannot load are left out with
    a log line). ``encoder_iterations``: refinement iterations of an encoder with a ReStyle refiner (default: its
    own). ``perceptual``: the inversions' perceptual loss (see :func:`faceedit.invert.invert_images`)."""
    from faceedit.invert import DEFAULT_STEPS, invert_images
    from faceedit.metrics import distances, quality

    dists = {}
    for name in metrics:
        try:
            dists[name] = distances.get(name)
        except FaceEditError as exc:
            log(f"eval inversion: no {name} figure ({exc})")
    x = images.float() / 127.5 - 1
    out: dict[str, Any] = {}
    for method in methods:
        rows: dict[str, list] = {}
        seconds, used, notes = 0.0, method, []
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            t0 = time.time()
            inv = invert_images(model, xb, method=method, space=space,
                                steps=(steps or {}).get(method), encoder=encoder, force_encoder=force_encoder,
                                progress=progress, encoder_iterations=encoder_iterations, perceptual=perceptual)
            seconds += time.time() - t0
            used = inv.method
            notes = inv.notes
            rec = inv.reconstruction.clamp(-1, 1)
            for k, v in quality.all_metrics(rec, xb).items():
                rows.setdefault(k, []).append(v)
            with torch.no_grad():
                for name, d in dists.items():
                    rows.setdefault(name, []).append(d(rec, xb).reshape(-1).float())
        res = {k: float(torch.cat(v).mean()) for k, v in rows.items()}
        res["seconds_per_image"] = seconds / max(1, len(x))
        res["n"] = int(len(x))
        given = (steps or {}).get(method)
        res["steps"] = int(given if given is not None else DEFAULT_STEPS[used])
        if used != method:
            res["ran_as"] = used
        if notes:
            res["notes"] = notes
        out[method] = res
        log(f"eval inversion: {method} done ({res['seconds_per_image']:.2f} s/image)")
    return out


def format_table(results: dict[str, Any], markdown: bool = False) -> str:
    """A plain (or markdown) table: one row per method, a column per figure that some row has."""
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
    fmt_row = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([fmt_row(head)] + [fmt_row(r) for r in rows])


__all__ = ["COLUMNS", "evaluate_methods", "format_table", "load_eval_faces"]
