"""DERC's dimensionality reduction and mixture: t-SNE of the features to 2-D, then a Gaussian mixture fitted by EM.

t-SNE backends: ``"opentsne"`` (openTSNE's FFT-accelerated gradients; measured 1.6× less CPU than scikit-learn at
10,000 MNIST points, see benchmarks/README.md) and ``"sklearn"`` (Barnes-Hut). ``"auto"`` takes openTSNE when it is
installed (the ``cluster`` extra installs it), else scikit-learn.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from faceedit.errors import FaceEditError

TSNE_BACKENDS = ("auto", "opentsne", "sklearn")


def tsne_backend(name: str = "auto") -> str:
    """Resolve ``name`` to an installed backend (``opentsne`` or ``sklearn``)."""
    if name not in TSNE_BACKENDS:
        raise FaceEditError(f"unknown t-SNE backend {name!r}: use {', '.join(TSNE_BACKENDS)}")
    have_open = importlib.util.find_spec("openTSNE") is not None
    if name == "opentsne" and not have_open:
        raise FaceEditError("the opentsne backend needs openTSNE: pip install 'faceedit[cluster]'")
    if name == "auto":
        return "opentsne" if have_open else "sklearn"
    return name


def tsne(features: np.ndarray, perplexity: float = 30.0, seed: int = 0, threads: int = 1,
         backend: str = "auto") -> np.ndarray:
    """[N, D] features → [N, 2] t-SNE positions (PCA initialisation; perplexity capped at (N - 1) / 3)."""
    x = np.ascontiguousarray(np.asarray(features, dtype=np.float64))
    if x.ndim != 2 or len(x) < 4 or not np.isfinite(x).all():
        raise FaceEditError(f"t-SNE needs a finite [N >= 4, D] feature array, got shape {x.shape}")
    perplexity = float(min(perplexity, (len(x) - 1) / 3.0))
    backend = tsne_backend(backend)
    if backend == "opentsne":
        import openTSNE

        emb = openTSNE.TSNE(n_components=2, perplexity=perplexity, initialization="pca", random_state=seed,
                            n_jobs=threads, verbose=False).fit(x)
        return np.asarray(emb, dtype=np.float64)
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                n_jobs=threads).fit_transform(x).astype(np.float64)


@dataclass
class Mixture:
    """A fitted mixture: ``proba`` [N, K] soft assignments p_ij (rows sum to 1), ``labels`` [N] = argmax,
    ``means`` [K, 2]."""

    proba: np.ndarray
    labels: np.ndarray
    means: np.ndarray


def fit_mixture(points: np.ndarray, k: int, seed: int = 0, n_init: int = 4,
                init_labels: np.ndarray | None = None) -> Mixture:
    """Fit a K-component full-covariance Gaussian mixture to [N, 2] points by EM.

    Started from k-means (best of ``n_init`` starts); with ``init_labels`` [N] (the previous round's clusters) also
    from those clusters' means, covariances and weights in the new positions, and the fit with the higher
    likelihood is kept (``DercConfig.carry_mixture``): DERC's rounds then refine one clustering rather than draw a
    new one each time, unless a fresh start explains the points better (a cluster that lost all its members
    restarts at a random point)."""
    from sklearn.mixture import GaussianMixture

    pts = np.asarray(points, dtype=np.float64)
    if k < 2 or len(pts) < k:
        raise FaceEditError(f"a mixture of {k} components needs at least {k} points and k >= 2, got {len(pts)}")
    # t-SNE positions span tens of units: standardise so that the covariance floor means the same everywhere.
    pts = (pts - pts.mean(0)) / (pts.std(0) + 1e-12)
    common = dict(n_components=k, covariance_type="full", random_state=seed, reg_covar=1e-5, max_iter=300)
    gmm = GaussianMixture(n_init=n_init, **common).fit(pts)
    if init_labels is not None:
        start = _init_from_labels(pts, np.asarray(init_labels), k, np.random.default_rng(seed))
        carried = GaussianMixture(n_init=1, **common, **start).fit(pts)
        if carried.score(pts) >= gmm.score(pts) - 1e-3:  # mean log-likelihood per point; ties keep the numbering
            gmm = carried
    proba = gmm.predict_proba(pts)
    return Mixture(proba=proba, labels=proba.argmax(1), means=gmm.means_)


def _init_from_labels(pts: np.ndarray, labels: np.ndarray, k: int, rng: np.random.Generator) -> dict:
    """GaussianMixture start parameters (weights, means, precisions) from a labelling of ``pts``."""
    if labels.shape != (len(pts),):
        raise FaceEditError(f"init labels must be [N] = [{len(pts)}], got {labels.shape}")
    means, precisions, weights = [], [], []
    for j in range(k):
        member = pts[labels == j]
        if len(member) < 3:  # an emptied cluster: restart it at a random point with a small spread
            member = pts[rng.integers(len(pts))] + 0.05 * rng.standard_normal((3, pts.shape[1]))
        cov = np.cov(member, rowvar=False) + 1e-3 * np.eye(pts.shape[1])
        means.append(member.mean(0))
        precisions.append(np.linalg.inv(cov))
        weights.append(max(len(member), 1))
    weights = np.asarray(weights, dtype=np.float64)
    return {"weights_init": weights / weights.sum(), "means_init": np.asarray(means),
            "precisions_init": np.asarray(precisions)}


__all__ = ["Mixture", "TSNE_BACKENDS", "fit_mixture", "tsne", "tsne_backend"]
