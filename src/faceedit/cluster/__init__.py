"""Clustering images without labels: DERC (deep embedded dimensionality-reduction clustering), DEC, and the
clustering metrics. See :mod:`faceedit.cluster.derc` for the method and :mod:`faceedit.cluster.folder` for the
folder → clusters pipeline behind ``faceedit cluster``.

Imports are lazy so that ``import faceedit.cluster`` costs nothing until a name is used.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "cluster_accuracy": "metrics", "nmi": "metrics", "contingency": "metrics",
    "Derc": "derc", "DercConfig": "derc", "ClusterResult": "result", "Stage": "result",
    "run_dec": "dec", "ConvAutoencoder": "model", "AutoencoderConfig": "model", "FeatureAutoencoder": "model",
    "tsne": "embed", "fit_mixture": "embed", "probabilistic_triplet_loss": "triplet", "TripletSampler": "triplet",
    "cluster_folder": "folder", "FolderClustering": "folder", "read_idx": "idx", "load_mnist": "idx",
    "contact_sheet": "sheet", "tsne_scatter": "sheet",
}


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"faceedit.cluster.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'faceedit.cluster' has no attribute {name!r}")


__all__ = sorted(_NAMES)
