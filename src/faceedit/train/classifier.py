"""Train the 40-attribute classifier on the project's FFHQ-aligned CelebA faces (``faceedit train classifier``).

Data: a build folder of ``faceedit data build`` (its ``manifest.jsonl``; while a build is still running, its
``records.jsonl`` plus the raw labels), a manifest file, or a pack. Rows with CelebA ``attributes`` are used; the
manifest's identity-disjoint ``split`` gives train and validation. Images are decoded once into memory (cached in
the run folder as ``.npy``) and augmented on the batch: x-flip, small affine (scale, rotation, shift) and colour
jitter.

Runs are resumable: ``<run-dir>/checkpoint.pt`` (atomic) holds model, optimiser, step and the planned schedule
(warm-up + cosine over ``total_steps``, fixed at the first run from ``--epochs`` and, with ``--minutes``, the
measured speed); ``<run-dir>/log.jsonl`` one line per log interval. At the end (plan done or time up) the fp16
weights are exported with a card holding per-attribute validation accuracy, balanced accuracy and the
majority-class baseline, measured on the exported (fp16-rounded) weights.

The loop is :class:`faceedit.train.runner.Runner`; the rows and images come from :mod:`faceedit.data.rows`;
the augmentations from :mod:`faceedit.train.augment`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faceedit.data.rows import load_arrays, read_rows, split_rows
from faceedit.errors import FaceEditError
from faceedit.scorers.classifier import (DEFAULT_WEIGHTS, AttributeClassifier, AttributeNet, ClassifierConfig,
                                         load_classifier)
from faceedit.train.augment import colour_jitter, random_affine, random_flip, resize, warp
from faceedit.train.dataset import to_float
from faceedit.train.runner import LICENCE, EpochSampler, RunConfig, Runner, adamw, setup_process


# ----------------------------------------------------------------------------------------------- classifier

def _attr_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("attributes")]


def evaluate_classifier(clf, imgs: np.ndarray, labels: np.ndarray, train_prior: np.ndarray,
                        batch: int = 128) -> dict[str, Any]:
    """Per-attribute accuracy, balanced accuracy (mean of TPR and TNR) and the majority-class baseline (predict
    the training set's majority class for everyone) on ``imgs`` (uint8) / ``labels`` (0/1)."""
    clf.eval()
    probs = []
    with torch.no_grad():
        for i in range(0, len(imgs), batch):
            probs.append(clf.probs(to_float(torch.from_numpy(imgs[i:i + batch]))).float())
    p = torch.cat(probs).numpy()
    y = labels.astype(bool)
    pred = p >= 0.5
    names = clf.attributes
    per = {}
    for j, name in enumerate(names):
        pos, neg = y[:, j], ~y[:, j]
        tpr = float((pred[pos, j]).mean()) if pos.any() else float("nan")
        tnr = float((~pred[neg, j]).mean()) if neg.any() else float("nan")
        maj = bool(train_prior[j] >= 0.5)
        per[name] = {
            "accuracy": round(float((pred[:, j] == y[:, j]).mean()), 4),
            "balanced_accuracy": round(float(np.nanmean([tpr, tnr])), 4),
            "majority_accuracy": round(float((y[:, j] == maj).mean()), 4),
            "positive_rate_val": round(float(y[:, j].mean()), 4),
            "positive_rate_train": round(float(train_prior[j]), 4),
        }
    mean = {k: round(float(np.mean([v[k] for v in per.values()])), 4)
            for k in ("accuracy", "balanced_accuracy", "majority_accuracy")}
    return {"n": int(len(imgs)), "mean": mean, "per_attribute": per, "_probs": p}


def train_classifier(cfg: RunConfig, log=print) -> dict[str, Any]:
    """Train (or resume), then export fp16 weights with a card. Returns the card."""
    setup_process(threads=cfg.threads)
    torch.manual_seed(cfg.seed)
    ccfg = ClassifierConfig.from_dict(cfg.extra.get("model", {}))
    data = Path(cfg.data)
    rows, root, how = read_rows(data)
    rows = _attr_rows(rows)
    if not rows:
        raise FaceEditError(f"{data}: no rows with CelebA attributes (build the data with the celeba sources)")
    names = list(ccfg.attributes)
    missing = [n for n in names if n not in rows[0]["attributes"]]
    if missing:
        raise FaceEditError(f"{data}: attributes missing from the labels: {', '.join(missing[:5])}")
    train_rows, val_rows = split_rows(rows, cfg.limit, cfg.val_limit, data)
    src_size = int(rows[0].get("size") or 128)
    log(f"classifier: {len(train_rows)} train / {len(val_rows)} val images ({how}), "
        f"{len({r.get('identity') for r in train_rows})} / {len({r.get('identity') for r in val_rows})} identities")
    cache = Path(cfg.run_dir) / "cache"
    tr_img, _ = load_arrays(train_rows, data, root, src_size, cache, "clf-train", log=log)
    va_img, _ = load_arrays(val_rows, data, root, src_size, cache, "clf-val", log=log)
    tr_lab = np.array([[r["attributes"][n] for n in names] for r in train_rows], np.float32)
    va_lab = np.array([[r["attributes"][n] for n in names] for r in val_rows], np.float32)
    prior = tr_lab.mean(0)

    net = AttributeNet(ccfg)
    opt = adamw(net, cfg)
    runner = Runner(cfg, net, opt, len(train_rows), "classifier", log)
    tr_img_t, tr_lab_t = torch.from_numpy(tr_img), torch.from_numpy(tr_lab)
    sampler = EpochSampler(len(tr_img_t), cfg.batch, runner.steps_per_epoch, cfg.seed)

    def step_fn(step: int, gen: torch.Generator) -> dict:
        idx = sampler.batch(step)
        x = to_float(tr_img_t[idx])
        y = tr_lab_t[idx]
        flip = random_flip(len(idx), gen)
        x = warp(resize(x, ccfg.size), random_affine(len(idx), gen, flip=flip))
        x = colour_jitter(x, gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            logits = net(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    done = runner.run(step_fn)
    # export the fp16 weights, then measure the exported network itself
    out = Path(cfg.out) if cfg.out else DEFAULT_WEIGHTS
    card = {
        "name": "faceedit attribute classifier",
        "task": "multi-label: the 40 CelebA attributes (sigmoid probabilities)",
        "input": f"float [N,3,H,W] in [-1,1], FFHQ-aligned face (faceedit.align), resized inside to {ccfg.size} px",
        "architecture": f"small ResNet, {sum(p.numel() for p in net.parameters())} parameters",
        "data": {"source": str(data), "rows_from": how, "train_images": len(train_rows), "val_images": len(val_rows),
                 "split": "identity-disjoint (manifest split: hash of the CelebA identity)",
                 "alignment": "the project's FFHQ alignment at 128 px (faceedit data build)"},
        "training": {"steps": runner.step, "planned_steps": runner.total_steps,
                     "planned_seconds": runner.plan_seconds,
                     "epochs": round(runner.step / runner.steps_per_epoch, 2), "batch": cfg.batch, "lr": cfg.lr,
                     "train_seconds": round(runner.seconds, 1), "complete": done, "bf16_autocast": cfg.bf16,
                     "augmentation": "x-flip, affine (±6% zoom, ±6°, ±4% shift), brightness/contrast/saturation "
                                     "±10%",
                     "machine": f"CPU, {torch.get_num_threads()} threads (shared)"},
        "licence": LICENCE,
    }
    net.eval()
    AttributeClassifier(net, card).save(out, card)
    clf = load_classifier(out)
    ev = evaluate_classifier(clf, va_img, va_lab, prior)
    ev.pop("_probs")
    card["validation"] = ev
    AttributeClassifier(net, card).save(out, card)
    log(f"classifier: wrote {out} (val mean accuracy {ev['mean']['accuracy']:.4f}, balanced "
        f"{ev['mean']['balanced_accuracy']:.4f}, majority baseline {ev['mean']['majority_accuracy']:.4f})")
    return card


def format_table(per: dict[str, dict]) -> str:
    """A markdown table of per-attribute validation figures."""
    lines = ["| attribute | val accuracy | balanced accuracy | majority baseline | positives (val) |",
             "|---|---|---|---|---|"]
    for name, v in per.items():
        lines.append(f"| {name} | {v['accuracy']:.3f} | {v['balanced_accuracy']:.3f} | {v['majority_accuracy']:.3f} "
                     f"| {v['positive_rate_val']:.3f} |")
    return "\n".join(lines)
