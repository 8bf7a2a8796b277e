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


def fit_mixture(points: np.ndarray, k: int, seed: int = 0, n_init: int = 4) -> Mixture:
    """Fit a K-component full-covariance Gaussian mixture to [N, 2] points by EM (k-means initialisation,
    best of ``n_init`` starts)."""
    from sklearn.mixture import GaussianMixture

    pts = np.asarray(points, dtype=np.float64)
    if k < 2 or len(pts) < k:
        raise FaceEditError(f"a mixture of {k} components needs at least {k} points and k >= 2, got {len(pts)}")
    # t-SNE positions span tens of units: standardise so that the covariance floor means the same everywhere.
    pts = (pts - pts.mean(0)) / (pts.std(0) + 1e-12)
    gmm = GaussianMixture(n_components=k, covariance_type="full", n_init=n_init, random_state=seed,
                          reg_covar=1e-5, max_iter=300)
    gmm.fit(pts)
    proba = gmm.predict_proba(pts)
    return Mixture(proba=proba, labels=proba.argmax(1), means=gmm.means_)


__all__ = ["Mixture", "TSNE_BACKENDS", "fit_mixture", "tsne", "tsne_backend"]
