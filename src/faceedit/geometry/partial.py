"""Partial registration pairs in the ModelNet40 protocol the thesis follows (RPM-Net / PRNet style).

From a mesh: 1,024 points sampled on the surface (twice, independently, so source and target share no exact
points), normalised into the unit sphere; the target is the source shape moved by a random rotation (uniform
axis, angle uniform up to ``max_angle_deg``) and a random translation (uniform in ±0.5 per axis); the two clouds
are cut by one random plane direction d, the source keeping the points far along d and the target the points far
along −d, each a fraction f = 1 / (2 − overlap) of its points (787 of 1,024), so that the shared band is ``overlap`` (70 %) of
each cloud; optional Gaussian noise (σ, clipped) on each cloud independently. (RPM-Net crops the two clouds with
two independent random planes instead, which leaves an overlap anywhere from about 40 % to 100 %.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceedit.geometry.clouds import normalise_unit_sphere, sample_surface
from faceedit.geometry.rotation import random_rotation


@dataclass
class PartialPair:
    """One pair: ``source`` ``[N, 3]``, ``target`` ``[M, 3]`` and the truth target ≈ source @ Rᵀ + t."""

    source: np.ndarray
    target: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    name: str = ""
    shape: np.ndarray | None = None  #: the whole clean shape sample in the source's frame (before cropping, noise)


def crop_along(points: np.ndarray, direction: np.ndarray, keep: float) -> np.ndarray:
    """The ``keep`` fraction of ``points`` ``[N, 3]`` farthest along ``direction`` (one side of a plane normal to
    it; the side a viewer in that direction sees): ``[round(keep·N), 3]``."""
    k = max(1, int(round(keep * len(points))))
    order = np.argsort(-(points @ direction))
    return points[np.sort(order[:k])]


def noisy(points: np.ndarray, sigma: float, clip: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of std ``sigma`` clipped to ±``clip`` per coordinate."""
    if sigma <= 0:
        return points
    return points + np.clip(rng.normal(scale=sigma, size=points.shape), -clip, clip)


def make_pair(vertices: np.ndarray, faces: np.ndarray, rng: np.random.Generator, points: int = 1024,
              max_angle_deg: float = 45.0, overlap: float = 0.7, noise: float = 0.0, noise_clip: float = 0.05,
              max_translation: float = 0.5, name: str = "") -> PartialPair:
    """One partial pair from a mesh (``vertices`` ``[V, 3]``, ``faces`` ``[F, 3]``), as the module describes."""
    dense = normalise_unit_sphere(sample_surface(vertices, faces, 2 * points, seed=int(rng.integers(2 ** 31))))
    src, dst = dense[:points], dense[points:]
    r = random_rotation(rng, max_angle_deg)
    t = rng.uniform(-max_translation, max_translation, size=3)
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    keep = 1.0 / (2.0 - overlap)
    source = noisy(crop_along(src, d, keep), noise, noise_clip, rng)
    target = noisy(crop_along(dst, -d, keep) @ r.T + t, noise, noise_clip, rng)
    return PartialPair(source=source, target=target, rotation=r, translation=t, name=name, shape=src)
