"""The FFHQ recipe's geometry on 68 landmarks (iBUG-300W order, pixel-index coordinates): eye centres and mouth
corners → the oriented square the face is aligned to (see :mod:`faceedit.align.ffhq` for the formula)."""

from __future__ import annotations

import numpy as np

from faceedit.errors import FaceEditError


def _rot90(v: np.ndarray) -> np.ndarray:
    """``flipud(v) * [-1, 1]`` of the recipe: (a, b) -> (-b, a)."""
    return np.array([-v[1], v[0]], dtype=np.float64)


def ffhq_quad(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """The FFHQ quad ``[4, 2]`` (top-left, bottom-left, bottom-right, top-right) and its side ``qsize``."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise FaceEditError(f"expected 68 landmarks of shape (68, 2), got {lm.shape}")
    eye_l = lm[36:42].mean(0)
    eye_r = lm[42:48].mean(0)
    eye_avg = (eye_l + eye_r) * 0.5
    eye_to_eye = eye_r - eye_l
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - _rot90(eye_to_mouth)
    norm = np.hypot(*x)
    if not np.isfinite(norm) or norm < 1e-9:
        raise FaceEditError("degenerate landmarks: eyes and mouth coincide")
    x = x / norm * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = _rot90(x)
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    return quad, float(np.hypot(*x) * 2)
