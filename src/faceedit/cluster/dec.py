"""DEC — Deep Embedded Clustering (Xie, Girshick and Farhadi, ICML 2016), the thesis's deep baseline.

Start from a pretrained autoencoder's encoder (here the same one DERC pretrains, so that the two methods differ only
in their second stage). Initialise K centroids μ_j by k-means on the embeddings (20 starts), then minimise
KL(P ‖ Q) over the encoder and the centroids, where

    q_ij = (1 + ‖z_i − μ_j‖² / ν)^(−(ν+1)/2) / Σ_j' (…)        (Student's t kernel, ν = 1)
    p_ij = (q_ij² / f_j) / Σ_j' (q_ij'² / f_j'),  f_j = Σ_i q_ij  (the sharpened target)

with SGD (learning rate 0.01, momentum 0.9). The target P is recomputed from all samples once per epoch; training
stops when fewer than ``tol`` of the labels changed since the previous target, or after ``max_epochs``.
The decoder is not used.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from faceedit.cluster.result import ClusterResult, Stage
from faceedit.cluster.training import Budget, Stopwatch, as_input, encode_all, run_epochs
from faceedit.errors import FaceEditError


def student_t_assignments(z: torch.Tensor, centroids: torch.Tensor, nu: float = 1.0) -> torch.Tensor:
    """Soft assignments q [N, K] of embeddings z [N, D] to centroids [K, D] under a Student's t kernel."""
    d2 = torch.cdist(z, centroids).square()
    q = (1.0 + d2 / nu).pow(-(nu + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's sharpened target p [N, K] from q [N, K]: square, divide by cluster frequency, renormalise rows."""
    w = q.square() / q.sum(0, keepdim=True)
    return w / w.sum(1, keepdim=True)


def run_dec(model: nn.Module, data: torch.Tensor, k: int, max_epochs: int = 50, batch_size: int = 256,
            lr: float = 0.01, tol: float = 0.001, seed: int = 0, time_budget: float | None = None,
            progress: bool = True, evaluate: Callable[[np.ndarray], dict] | None = None) -> ClusterResult:
    """DEC on ``data`` (uint8 images [N, C, H, W] or features [N, D]) from ``model``'s pretrained encoder
    (trained in place). Returns labels, q as ``proba`` and the final embeddings (``points`` None)."""
    from sklearn.cluster import KMeans

    if k < 2 or len(data) < k:
        raise FaceEditError(f"DEC needs k >= 2 and at least k samples, got k = {k}, {len(data)} samples")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    stages: list[Stage] = []
    watch = Stopwatch()
    with watch:
        z0 = encode_all(model, data)
        km = KMeans(k, n_init=20, random_state=seed).fit(z0)
    stages.append(Stage("DEC k-means init", watch.cpu, watch.wall, evaluate(km.labels_) if evaluate else {}))
    centroids = nn.Parameter(torch.from_numpy(km.cluster_centers_.astype(np.float32)))
    opt = torch.optim.SGD(list(model.parameters()) + [centroids], lr=lr, momentum=0.9)
    state = {"labels": km.labels_.copy(), "target": None, "converged": False, "epochs": 0}

    def refresh() -> None:
        with torch.no_grad():
            q = student_t_assignments(torch.from_numpy(encode_all(model, data)), centroids)
        labels = q.argmax(1).numpy()
        changed = float((labels != state["labels"]).mean())
        state["target"], state["labels"] = target_distribution(q), labels
        if state["epochs"] > 0 and changed < tol:
            state["converged"] = True

    def step(idx: np.ndarray) -> float:
        t = torch.from_numpy(idx)
        q = student_t_assignments(model.encode(as_input(data[t])), centroids)
        p = state["target"][t]
        loss = (p * (p.clamp_min(1e-12).log() - q.clamp_min(1e-12).log())).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    budget = Budget(time_budget)
    model.train()
    watch = Stopwatch()
    with watch:
        refresh()
        for epoch in range(max_epochs):
            if state["converged"] or budget.expired():
                break
            if not run_epochs(step, len(data), range(epoch, epoch + 1), batch_size, rng, budget, "DEC", progress):
                break
            state["epochs"] += 1
            refresh()
    model.eval()
    with torch.no_grad():
        feats = encode_all(model, data)
        q = student_t_assignments(torch.from_numpy(feats), centroids).numpy()
    labels = q.argmax(1)
    info = {"epochs": state["epochs"], "converged": state["converged"]}
    if evaluate:
        info.update(evaluate(labels))
    stages.append(Stage("DEC KL self-training", watch.cpu, watch.wall, info))
    return ClusterResult(labels, q, None, feats, stages, complete=True)


__all__ = ["run_dec", "student_t_assignments", "target_distribution"]
