"""How linearly the generator's latent codes encode attributes (the thesis's Table 5-2; StyleGAN's linear
separability, read as an accuracy): sample faces, label each by the project's attribute classifier, and fit a
linear classifier from each code space to each label.

    table = code_accuracy(model, ["Smiling", "Male", "Young"], n=4000)
    table["Smiling"]["s"]        # held-out accuracy of a linear classifier on StyleSpace codes
    table["Smiling"]["majority"] # the share of the larger class (what a constant guess gets)

Spaces: ``z`` [z_dim], ``w`` [w_dim] (one w per face, no truncation, so w+ is w repeated) and ``s`` (StyleSpace:
every modulated layer's style, ToRGB included, concatenated). Labels: the classifier's logit above or below its
median over the samples (balanced classes: a generator whose faces mostly fall on one side of 0 — the small
default — still gets a measurable task); as in StyleGAN's separability metric only the more confident half of the
samples (farthest from the threshold) is kept. Features are standardised; a logistic regression (scikit-learn, C = 1) is fitted on 70 % and scored
on the other 30 %.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from faceedit.errors import FaceEditError
from faceedit.model import Model

CODE_SPACES = ("z", "w", "s")


def sample_codes(model: Model, n: int, seed: int = 0, batch_size: int = 32
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """``n`` random faces: their codes by space ({name: [n, D]}), the classifier's logits [n, A] and its
    attribute names."""
    from faceedit.scorers import load_classifier

    clf = load_classifier(device=model.device)
    gen = torch.Generator().manual_seed(int(seed))
    codes: dict[str, list[np.ndarray]] = {s: [] for s in CODE_SPACES}
    logits = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            b = min(batch_size, n - i)
            z = torch.randn(b, model.z_dim, generator=gen).to(model.device)
            ws = model.map(z)
            styles = model.to_styles(ws)
            codes["z"].append(z.cpu().numpy())
            codes["w"].append(ws[:, 0].cpu().numpy())
            codes["s"].append(torch.cat([s.float() for s in styles], 1).cpu().numpy())
            logits.append(clf.logits(model.synthesize(ws, batch_size=b).to(model.device)).float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in codes.items()}, np.concatenate(logits), list(clf.attributes)


def linear_accuracy(x: np.ndarray, y: np.ndarray, seed: int = 0, train_share: float = 0.7) -> float:
    """Held-out accuracy of a logistic regression from features ``x`` [n, D] to binary labels ``y`` [n]."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(seed)
    idx = rng.permutation(len(y))
    cut = int(round(train_share * len(y)))
    tr, te = idx[:cut], idx[cut:]
    if len(te) == 0 or len(np.unique(y[tr])) < 2:
        return float("nan")
    scaler = StandardScaler().fit(x[tr])
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x[tr]), y[tr])
    return float((clf.predict(scaler.transform(x[te])) == y[te]).mean())


def code_accuracy(model: Model, attributes: Sequence[str], n: int = 4000, seed: int = 0, batch_size: int = 32,
                  samples=None) -> dict[str, dict[str, float]]:
    """Per attribute (classifier names, case-insensitive): the held-out accuracy in each of :data:`CODE_SPACES`,
    the majority share and the number of samples used. ``samples``: the output of :func:`sample_codes` to reuse."""
    if not 20 <= n <= 1_000_000:
        raise FaceEditError(f"code accuracy needs 20 to 1,000,000 samples, got {n}")
    codes, logits, names = samples if samples is not None else sample_codes(model, n, seed, batch_size)
    lower = [a.lower() for a in names]
    out: dict[str, dict[str, float]] = {}
    for attr in attributes:
        if attr.lower() not in lower:
            raise FaceEditError(f"no classifier attribute {attr!r}: use {', '.join(names)}")
        j = lower.index(attr.lower())
        score = logits[:, j] - np.median(logits[:, j])
        keep = np.argsort(-np.abs(score))[:max(2, len(score) // 2)]
        y = (score[keep] > 0).astype(np.int64)
        row = {space: linear_accuracy(codes[space][keep], y, seed) for space in CODE_SPACES}
        row["majority"] = float(max(y.mean(), 1 - y.mean()))
        row["n"] = int(len(keep))
        out[names[j]] = row
    return out


__all__ = ["CODE_SPACES", "code_accuracy", "linear_accuracy", "sample_codes"]
