"""Clustering quality against known classes: accuracy under the best one-to-one mapping, and NMI.

- :func:`cluster_accuracy` — build the K×C contingency table (cluster × class counts), find the one-to-one mapping
  of clusters to classes that covers the most samples (the Hungarian algorithm,
  ``scipy.optimize.linear_sum_assignment`` on the negated table), and return the share of samples it covers.
  With more clusters than classes the extra clusters map to nothing (their samples count as wrong).
- :func:`nmi` — normalised mutual information (scikit-learn's, arithmetic normalisation, as in DEC / DERC papers).

Both take integer label arrays of the same length and return a float in [0, 1].
"""

from __future__ import annotations

import numpy as np

from faceedit.errors import FaceEditError


def _labels(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise FaceEditError(f"label arrays must be 1-D, non-empty and of one length, got {a.shape} and {b.shape}")
    return a, b


def contingency(pred, truth) -> np.ndarray:
    """[K, C] counts: row = predicted cluster (in sorted order of its values), column = true class."""
    pred, truth = _labels(pred, truth)
    _, p = np.unique(pred, return_inverse=True)
    _, t = np.unique(truth, return_inverse=True)
    table = np.zeros((p.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(table, (p, t), 1)
    return table


def cluster_accuracy(pred, truth) -> float:
    """Share of samples whose cluster maps to their class under the best one-to-one cluster → class mapping."""
    from scipy.optimize import linear_sum_assignment

    table = contingency(pred, truth)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / table.sum())


def nmi(pred, truth) -> float:
    """Normalised mutual information between a clustering and the classes (0: independent, 1: the same partition)."""
    from sklearn.metrics import normalized_mutual_info_score

    pred, truth = _labels(pred, truth)
    return float(normalized_mutual_info_score(truth, pred))


__all__ = ["cluster_accuracy", "contingency", "nmi"]
