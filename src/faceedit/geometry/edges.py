"""Edge consistency of a partial overlap: a final score that tells a true pose from a flipped one.

Two partial views of one shape, placed by the true pose, overlap on part of their surfaces; the points of each
view that the other does not cover lie *beyond the other view's cut edge*, so their nearest neighbours in the other
view are its edge points. A flipped pose that lays one cap on the other (the misses of HOUV beyond 90°) can fit
as closely in Chamfer distance, but its uncovered points face the other view's inside. Measured on the benchmark's
≤ 180° pairs (benchmarks/README.md, session 10): weighting the trimmed Chamfer distance by this consistency puts
65 of 120 pairs within 5° against 57 for the trimmed distance alone.

* :func:`edge_points`: a point is on the edge of its cloud when its neighbours lie to one side of it (the offset
  of their mean, over their mean distance); the ``share`` most one-sided points are the edge.
* :func:`edge_consistency`: the share of the uncovered points (the ``1 − alpha`` farthest from the other cloud)
  whose nearest neighbour in the other cloud is an edge point, both ways, averaged.
* :func:`edge_weighted_loss`: the trimmed Chamfer distance × (1 + ``weight`` · (1 − consistency)).
"""

from __future__ import annotations

import numpy as np
import torch

from faceedit.geometry.chamfer import trimmed_mean
from faceedit.geometry.clouds import kd_tree

#: neighbours that decide whether a point is on the edge, and the share of each cloud called edge
EDGE_NEIGHBOURS = 8
EDGE_SHARE = 0.2
#: the final score's weight on inconsistency (chosen among 1, 2, 4 on the benchmark; 62–66 of 120 pairs for all)
EDGE_WEIGHT = 2.0


def _tree(points: np.ndarray):
    return kd_tree(points, "edge consistency")


def edge_points(cloud: np.ndarray, neighbours: int = EDGE_NEIGHBOURS, share: float = EDGE_SHARE) -> np.ndarray:
    """Boolean mask ``[N]`` of the ``share`` most one-sided points of ``cloud`` ``[N, 3]``."""
    cloud = np.asarray(cloud, dtype=np.float64)
    n = len(cloud)
    if n < 2:
        return np.zeros(n, dtype=bool)
    k = min(neighbours, n - 1)
    d, j = _tree(cloud).query(cloud, k + 1)
    offset = np.linalg.norm(cloud[j[:, 1:]].mean(1) - cloud, axis=1) / np.maximum(d[:, 1:].mean(1), 1e-12)
    count = max(1, int(round(share * n)))
    mask = np.zeros(n, dtype=bool)
    mask[np.argsort(-offset, kind="stable")[:count]] = True
    return mask


def _uncovered(d: np.ndarray, alpha: float) -> np.ndarray:
    """The ``1 − alpha`` share of points farthest from the other cloud (at least one)."""
    k = min(len(d) - 1, int(np.ceil(alpha * len(d))))
    order = np.argsort(d, kind="stable")
    mask = np.zeros(len(d), dtype=bool)
    mask[order[k:]] = True
    return mask


def edge_consistency(moved: np.ndarray, target: np.ndarray, edge_moved: np.ndarray, edge_target: np.ndarray,
                     alpha: float = 0.7, target_tree=None) -> tuple[float, np.ndarray]:
    """(consistency in [0, 1], distances ``[N]`` of ``moved`` to ``target``): the mean over both directions of the
    share of uncovered points whose nearest neighbour in the other cloud is one of its edge points."""
    tree = target_tree if target_tree is not None else _tree(target)
    d1, j1 = tree.query(moved)
    d2, j2 = _tree(moved).query(target)
    u1, u2 = _uncovered(d1, alpha), _uncovered(d2, alpha)
    return 0.5 * (edge_target[j1[u1]].mean() + edge_moved[j2[u2]].mean()), d1


def edge_weighted_loss(source: np.ndarray, target: np.ndarray, rotations: np.ndarray, translations: np.ndarray,
                       alpha: float = 0.7, weight: float = EDGE_WEIGHT) -> np.ndarray:
    """Score ``[G]`` (lower is better) of G poses (``rotations`` ``[G, 3, 3]``, ``translations`` ``[G, 3]``,
    target ≈ source @ Rᵀ + t) of one pair: the mean of the ``alpha`` closest source-to-target distances times
    (1 + ``weight`` · (1 − edge consistency))."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    edge_s, edge_t = edge_points(source), edge_points(target)
    tree = _tree(target)
    scores = np.empty(len(rotations))
    for g, (r, t) in enumerate(zip(rotations, translations)):
        moved = source @ np.asarray(r).T + np.asarray(t)
        consistency, d = edge_consistency(moved, target, edge_s, edge_t, alpha, tree)  # a rigid motion keeps edges
        scores[g] = float(trimmed_mean(torch.from_numpy(d), None, alpha)) * (1 + weight * (1 - consistency))
    return scores
