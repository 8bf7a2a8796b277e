"""Comparing 8-bit images that the generator drew in different batches."""

from __future__ import annotations

import numpy as np


def assert_same_drawing(a, b, max_share: float = 1e-3) -> None:
    """``a`` and ``b`` (uint8 images of one seed) are the same drawing. Drawn in batches of other sizes or on another
    thread count, the float sums run in another order and a value that lies on a rounding boundary can land one
    level apart; anything more than one level, or more than ``max_share`` of the values moving, is a real
    difference (another latent, noise or truncation)."""
    a, b = np.asarray(a, dtype=np.int16), np.asarray(b, dtype=np.int16)
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = np.abs(a - b)
    assert diff.max() <= 1 and (diff > 0).mean() <= max_share, (int(diff.max()), float((diff > 0).mean()))
