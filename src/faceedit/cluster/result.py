"""What a clustering run returns: labels, soft assignments, 2-D positions, features and timed stages."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Stage:
    """One timed stage of a run: ``name``, CPU and wall seconds, and what it measured (loss, acc, nmi …)."""

    name: str
    cpu_s: float
    wall_s: float
    info: dict = field(default_factory=dict)


@dataclass
class ClusterResult:
    """``labels`` [N] cluster per sample, ``proba`` [N, K], ``points`` [N, 2] (t-SNE; None where
    the method makes none), ``features`` [N, d]
    (the embedding that was reduced), ``stages`` in order, ``complete`` False when the time budget cut training
    short, ``note`` why."""

    labels: np.ndarray
    proba: np.ndarray
    points: np.ndarray | None
    features: np.ndarray
    stages: list[Stage]
    complete: bool = True
    note: str = ""


__all__ = ["ClusterResult", "Stage"]
