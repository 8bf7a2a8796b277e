"""Train the 19-class face parser on the project's FFHQ-aligned CelebAMask-HQ faces (``faceedit train parser``).

Data as for :mod:`faceedit.train.classifier` (rows with a ``mask``; the manifest's split gives the held-out set),
or ``--raw DIR``: a CelebAMask-HQ folder (``images/*.jpg`` + ``masks/*.png``, already FFHQ-like aligned) used
without re-alignment, split by the same identity hash. Augmentation: x-flip (left/right classes swapped), small
affine (the mask warped with nearest sampling), colour jitter. Loss: cross-entropy with mild class weights
(frequency^-0.25, so thin classes such as eyes and brows count). Validation: per-class IoU over the held-out
split (intersections and unions summed over all its pixels) and their mean, measured on the exported fp16 weights
at the model's size.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faceedit.data.rows import load_arrays, read_rows, split_rows
from faceedit.data.sources import val_split
from faceedit.errors import FaceEditError
from faceedit.scorers.parser import (CLASSES, DEFAULT_WEIGHTS, FLIP_PAIRS, FaceParser, ParserConfig, ParserNet,
                                     load_parser)
from faceedit.train.augment import colour_jitter, random_affine, random_flip, warp
from faceedit.train.dataset import to_float
from faceedit.train.runner import LICENCE, EpochSampler, RunConfig, Runner, adamw, setup_process


def raw_rows(folder: str | os.PathLike, val_fraction: float = 0.1) -> list[dict]:
    """Rows for a raw CelebAMask-HQ folder (``images/`` + ``masks/``), split like ``faceedit data build``."""
    folder = Path(folder)
    idir, mdir = folder / "images", folder / "masks"
    if not idir.is_dir() or not mdir.is_dir():
        raise FaceEditError(f"{folder}: expected images/ and masks/ folders (CelebAMask-HQ layout)")
    rows = []
    for p in sorted(idir.iterdir()):
        m = mdir / f"{p.stem}.png"
        if p.suffix.lower() in (".jpg", ".jpeg", ".png") and m.is_file() and not p.name.startswith("."):
            ident = f"celebamask-hq:{p.stem}"
            rows.append({"path": f"images/{p.name}", "mask": f"masks/{m.name}", "source": "celebamask-hq",
                         "identity": ident, "split": val_split(ident, val_fraction)})
    return rows


def flip_labels(mask: torch.Tensor) -> torch.Tensor:
    """Swap the subject's left/right classes (after mirroring an image)."""
    lut = torch.arange(256, dtype=torch.long)
    for a, b in FLIP_PAIRS:
        lut[a], lut[b] = b, a
    return lut[mask.long()]


def confusion(pred: torch.Tensor, target: torch.Tensor, k: int) -> np.ndarray:
    """``k×k`` confusion counts (rows: target, columns: prediction)."""
    idx = target.reshape(-1).long() * k + pred.reshape(-1).long()
    return torch.bincount(idx, minlength=k * k).reshape(k, k).numpy().astype(np.int64)


def iou_from_confusion(cm: np.ndarray, classes: list[str]) -> dict[str, Any]:
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    per = {}
    for i, name in enumerate(classes):
        per[name] = round(float(inter[i] / union[i]), 4) if union[i] > 0 else None
    present = [v for v in per.values() if v is not None]
    return {"per_class_iou": per, "miou": round(float(np.mean(present)), 4) if present else None,
            "pixel_accuracy": round(float(inter.sum() / max(1, cm.sum())), 4),
            "pixels_per_class": {name: int(cm[i].sum()) for i, name in enumerate(classes)}}


def evaluate_parser(fp, imgs: np.ndarray, masks: np.ndarray, batch: int = 64) -> dict[str, Any]:
    """Per-class IoU and mIoU of parser ``fp`` on ``imgs`` (uint8 [N,3,S,S]) against ``masks`` (uint8 [N,S,S])."""
    k = len(fp.classes)
    cm = np.zeros((k, k), np.int64)
    fp.eval()
    with torch.no_grad():
        for i in range(0, len(imgs), batch):
            x = to_float(torch.from_numpy(imgs[i:i + batch]))
            pred = fp.labels(x)
            cm += confusion(pred, torch.from_numpy(masks[i:i + batch]), k)
    out = iou_from_confusion(cm, fp.classes)
    out["n"] = int(len(imgs))
    return out


def train_parser(cfg: RunConfig, raw: str | None = None, log=print) -> dict[str, Any]:
    """Train (or resume), then export fp16 weights with a card. Returns the card."""
    setup_process(threads=cfg.threads)
    torch.manual_seed(cfg.seed)
    pcfg = ParserConfig.from_dict(cfg.extra.get("model", {}))
    if raw:
        data = Path(raw)
        rows, root, how = raw_rows(data), data, "raw CelebAMask-HQ folder (its own FFHQ-like alignment)"
    else:
        data = Path(cfg.data)
        rows, root, how = read_rows(data)
        rows = [r for r in rows if r.get("mask")]
    if not rows:
        raise FaceEditError(f"{data}: no images with parsing masks")
    train_rows, val_rows = split_rows(rows, cfg.limit, cfg.val_limit, data)
    size = pcfg.size
    log(f"parser: {len(train_rows)} train / {len(val_rows)} val images ({how}), at {size} px")
    cache = Path(cfg.run_dir) / "cache"
    tr_img, tr_mask = load_arrays(train_rows, data, root, size, cache, "parse-train", with_masks=True, log=log)
    va_img, va_mask = load_arrays(val_rows, data, root, size, cache, "parse-val", with_masks=True, log=log)
    if int(tr_mask.max()) >= pcfg.num_classes:
        raise FaceEditError(f"{data}: mask class id {int(tr_mask.max())} ≥ {pcfg.num_classes}")
    freq = np.bincount(tr_mask.reshape(-1), minlength=pcfg.num_classes).astype(np.float64)
    freq = np.maximum(freq / freq.sum(), 1e-6)
    w = freq ** -0.25
    w = w / (w * freq).sum()  # pixel-weighted mean weight 1
    class_weight = torch.tensor(w, dtype=torch.float32)

    net = ParserNet(pcfg)
    opt = adamw(net, cfg)
    runner = Runner(cfg, net, opt, len(train_rows), "parser", log)
    tr_img_t, tr_mask_t = torch.from_numpy(tr_img), torch.from_numpy(tr_mask)
    sampler = EpochSampler(len(tr_img_t), cfg.batch, runner.steps_per_epoch, cfg.seed)

    def step_fn(step: int, gen: torch.Generator) -> dict:
        idx = sampler.batch(step)
        x = to_float(tr_img_t[idx])
        m = tr_mask_t[idx].long()
        flip = random_flip(len(idx), gen)
        x, m = warp(x, random_affine(len(idx), gen, scale=0.08, rotate=8.0, shift=0.04, flip=flip), m)
        m = torch.where(flip[:, None, None], flip_labels(m), m)
        x = colour_jitter(x, gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            logits = net(x)
        loss = F.cross_entropy(logits.float(), m, weight=class_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    done = runner.run(step_fn)
    out = Path(cfg.out) if cfg.out else DEFAULT_WEIGHTS
    card = {
        "name": "faceedit face parser",
        "task": "19-class face parsing (CelebAMask-HQ classes; left/right are the subject's)",
        "classes": list(CLASSES),
        "input": f"float [N,3,H,W] in [-1,1], FFHQ-aligned face, resized inside to {size} px; logits at the "
                 "input's size",
        "architecture": f"small U-Net, {sum(p.numel() for p in net.parameters())} parameters",
        "data": {"source": str(data), "rows_from": how, "train_images": len(train_rows), "val_images": len(val_rows),
                 "split": "held-out by the manifest's hash split (CelebAMask-HQ has no identities: per image)",
                 "files_hash": hashlib.sha1("".join(r["path"] for r in train_rows).encode()).hexdigest()[:12]},
        "training": {"steps": runner.step, "planned_steps": runner.total_steps,
                     "planned_seconds": runner.plan_seconds,
                     "epochs": round(runner.step / runner.steps_per_epoch, 2), "batch": cfg.batch, "lr": cfg.lr,
                     "train_seconds": round(runner.seconds, 1), "complete": done, "bf16_autocast": cfg.bf16,
                     "loss": "cross-entropy, class weights frequency^-0.25",
                     "augmentation": "x-flip (left/right classes swapped), affine (±8% zoom, ±8°, ±4% shift), "
                                     "brightness/contrast/saturation ±10%",
                     "machine": f"CPU, {torch.get_num_threads()} threads (shared)"},
        "licence": LICENCE,
    }
    net.eval()
    FaceParser(net, card).save(out, card)
    fp = load_parser(out)
    ev = evaluate_parser(fp, va_img, va_mask)
    card["validation"] = ev
    FaceParser(net, card).save(out, card)
    log(f"parser: wrote {out} (val mIoU {ev['miou']:.4f}, pixel accuracy {ev['pixel_accuracy']:.4f})")
    return card


def format_table(ev: dict) -> str:
    lines = ["| class | val IoU |", "|---|---|"]
    for name, v in ev["per_class_iou"].items():
        lines.append(f"| {name} | {'—' if v is None else f'{v:.3f}'} |")
    lines.append(f"| **mean (mIoU)** | **{ev['miou']:.3f}** |")
    return "\n".join(lines)
