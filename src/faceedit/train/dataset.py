"""Batches of the training images held in memory (uint8 [N, 3, R, R], from :func:`faceedit.data.images.load_images`):
random batches with x-flips, as float in [-1, 1]; optionally drawn with per-image weights that raise the share of
rare kinds of face (:func:`balance_weights`)."""

from __future__ import annotations

import torch

from faceedit.errors import FaceEditError


def to_float(batch_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, R, R] → float32 in [-1, 1]."""
    return batch_u8.to(torch.float32) * (2 / 255) - 1


def sample_batch(images: torch.Tensor, batch: int, mirror: bool, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu", weights: torch.Tensor | None = None) -> torch.Tensor:
    """Random batch (with replacement; uniform, or in proportion to ``weights`` [N]) with random x-flips, float32
    in [-1, 1] on ``device``."""
    if weights is None:
        idx = torch.randint(0, images.shape[0], (batch,), generator=generator)
    else:
        idx = torch.multinomial(weights, batch, replacement=True, generator=generator)
    x = to_float(images[idx]).to(device, non_blocking=True)
    if mirror:
        flip = torch.rand(batch, generator=generator) < 0.5
        if flip.any():
            flip = flip.to(x.device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    return x


def parse_attribute_list(text: str) -> tuple[str, ...]:
    """``"Eyeglasses, Mustache"`` → ("Eyeglasses", "Mustache"): names checked later against the data's labels."""
    names = tuple(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
    if len(names) > 40:
        raise FaceEditError(f"--balance names {len(names)} attributes; at most 40")
    return names


def balance_weights(records: list[dict] | None, attributes: tuple[str, ...], target: float,
                    cap: float) -> tuple[torch.Tensor, dict[str, dict[str, float]]]:
    """Per-image sampling weights that raise rare attributes (CelebA labels in the manifest rows).

    For each attribute a, with frequency f_a among the labelled rows, its holders get the factor
    clip(target / f_a, 1, cap): an attribute rarer than ``target`` is drawn up to ``cap`` times as often, a common
    one is left alone. A row holding several takes the largest factor; unlabelled rows weigh 1. Returns the weights
    [N] (float64, unnormalised) and per attribute its frequency, factor and its share of the draws before and after.
    """
    if not records:
        raise FaceEditError("--balance needs a build folder or pack whose manifest carries attribute labels "
                            "(faceedit data build); this data has no manifest")
    if not 0 < target < 1:
        raise FaceEditError(f"--balance-target must be between 0 and 1, got {target}")
    if not 1 <= cap <= 100:
        raise FaceEditError(f"--balance-cap must be from 1 to 100, got {cap}")
    labels = [r.get("attributes") or {} for r in records]
    labelled = [lab for lab in labels if lab]
    if not labelled:
        raise FaceEditError("--balance: no row of the data's manifest carries attribute labels")
    known = set().union(*labelled)
    unknown = [a for a in attributes if a not in known]
    if unknown:
        raise FaceEditError(f"--balance: unknown attribute(s) {', '.join(unknown)}; the labels are "
                            f"{', '.join(sorted(known))}")
    weights = torch.ones(len(records), dtype=torch.float64)
    holds: dict[str, torch.Tensor] = {}
    report: dict[str, dict[str, float]] = {}
    for a in attributes:
        holds[a] = torch.tensor([int(lab.get(a, 0)) > 0 for lab in labels])
        count = int(holds[a].sum())
        if count == 0:
            raise FaceEditError(f"--balance: no training face holds {a}")
        freq = count / len(labelled)
        factor = min(max(target / freq, 1.0), cap)
        weights = torch.where(holds[a], weights.clamp(min=factor), weights)
        report[a] = {"frequency": round(freq, 4), "factor": round(factor, 3)}
    total = float(weights.sum())
    for a in attributes:
        report[a]["share_before"] = round(float(holds[a].double().mean()), 4)
        report[a]["share_after"] = round(float(weights[holds[a]].sum()) / total, 4)
    return weights, report
