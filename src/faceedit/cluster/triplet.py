"""DERC's probabilistic triplet loss and the triplets drawn from a mixture's assignments.

For an anchor ``i`` in cluster ``k`` (its most probable mixture component), a positive ``p`` from the same cluster
and a negative ``n`` from another cluster ``k'``:

    ℓ = max(0, p_{p,k} · d(z_i, z_p) − p_{n,k'} · d(z_i, z_n) + margin)

``p_{p,k}`` is the probability that the positive belongs to the anchor's cluster, ``p_{n,k'}`` the probability that
the negative belongs to its own cluster: confident members pull and push at full strength, doubtful ones less.
(The thesis writes the negative's weight as p_{n,k} with k the component the sample is assigned to; read with k
as the anchor's component it would be ≈ 0 and the loss would only pull, which collapses the embedding.)
``d`` is the squared Euclidean distance between unit-normalised embeddings (in [0, 4]), so that the margin has a
fixed meaning and the encoder cannot satisfy it by growing the scale of z.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from faceedit.errors import FaceEditError


def embedding_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[N, D], [N, D] → [N] squared Euclidean distance of the unit-normalised rows (0 … 4)."""
    return (F.normalize(a, dim=1) - F.normalize(b, dim=1)).square().sum(1)


def probabilistic_triplet_loss(z_anchor: torch.Tensor, z_pos: torch.Tensor, z_neg: torch.Tensor,
                               w_pos: torch.Tensor, w_neg: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """Mean over the batch of ``max(0, w_pos · d(a, p) − w_neg · d(a, n) + margin)``; shapes [N, D] and [N]."""
    if not (z_anchor.shape == z_pos.shape == z_neg.shape) or z_anchor.ndim != 2:
        raise FaceEditError(f"triplet embeddings must share one [N, D] shape, got {tuple(z_anchor.shape)}, "
                            f"{tuple(z_pos.shape)}, {tuple(z_neg.shape)}")
    d_pos = embedding_distance(z_anchor, z_pos)
    d_neg = embedding_distance(z_anchor, z_neg)
    return torch.relu(w_pos * d_pos - w_neg * d_neg + margin).mean()


class TripletSampler:
    """Draws (positive, negative) partners for anchors from soft assignments ``proba`` [N, K].

    Clusters are the argmax of each row. A positive is a uniform draw from the anchor's cluster (the anchor itself
    only when it is alone there), a negative a uniform draw from all samples of the other clusters. The weights
    are ``proba[p, k_anchor]`` and ``proba[n, k_n]``.
    """

    def __init__(self, proba: np.ndarray, seed: int = 0):
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim != 2 or proba.shape[1] < 2 or len(proba) < 2:
            raise FaceEditError(f"triplets need soft assignments [N >= 2, K >= 2], got {proba.shape}")
        self.proba = proba
        self.labels = proba.argmax(1)
        self.rng = np.random.default_rng(seed)
        order = np.argsort(self.labels, kind="stable")
        counts = np.bincount(self.labels, minlength=proba.shape[1])
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.counts = counts
        self.order = order
        if (counts > 0).sum() < 2:
            raise FaceEditError("all samples fell into one cluster: no negatives to draw")

    def draw(self, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Anchor indices [B] → positive indices [B], negative indices [B], their weights [B], [B] (float32)."""
        anchors = np.asarray(anchors)
        k = self.labels[anchors]
        pos = self.order[self.starts[k] + (self.rng.random(len(anchors)) * self.counts[k]).astype(np.int64)]
        # Negatives: draw from the samples outside the anchor's cluster by skipping over its block in `order`.
        n_total = len(self.labels)
        outside = n_total - self.counts[k]
        r = (self.rng.random(len(anchors)) * outside).astype(np.int64)
        r = np.where(r >= self.starts[k], r + self.counts[k], r)
        neg = self.order[r]
        w_pos = self.proba[pos, k]
        w_neg = self.proba[neg, self.labels[neg]]
        return pos, neg, w_pos.astype(np.float32), w_neg.astype(np.float32)


__all__ = ["TripletSampler", "embedding_distance", "probabilistic_triplet_loss"]
