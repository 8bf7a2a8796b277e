"""Registration metrics of the thesis (chapter 3) and of the ModelNet40 partial-registration literature.

* isotropic rotation error: the angle of R_gtᵀ R_est, in degrees;
* translation error: ‖t_gt − t_est‖ (cloud units);
* MSE / RMSE of the transformed points: mean over the source points p of ‖(R_est p + t_est) − (R_gt p + t_gt)‖²,
  and its square root;
* recall: the share of pairs whose RMSE is below a threshold (0.2 on clouds in the unit sphere);
* symmetry-aware (the idea of RPM-Net's modified Chamfer distance): the Chamfer distance between the whole clean
  shape placed by the estimate and placed by the truth. A shape with a symmetry (a torus, a plate, a knot) can be
  placed exactly by a rotation far from the truth, and the views alone cannot tell them apart; the pair counts as
  "within N° up to symmetry" when this distance is no larger than the one an N° error about the shape's centre
  gives (the mean over the three coordinate axes), so the tolerance follows the shape's size and sampling.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from faceedit.errors import FaceEditError
from faceedit.geometry.rotation import axis_angle_matrix, rotation_angle_deg

RECALL_RMSE = 0.2


@dataclass
class PairErrors:
    """Errors of one registration: degrees, cloud units, squared units, cloud units."""

    rotation_deg: float
    translation: float
    mse: float
    rmse: float
    shape_cd: float | None = None           #: Chamfer distance of the whole shape placed by estimate vs truth
    shape_tolerance: float | None = None    #: the same distance for a ``tolerance_deg`` error (see the module)

    @property
    def within_up_to_symmetry(self) -> bool | None:
        """Whether the estimate places the whole shape as well as the tolerance error would (None: no shape)."""
        if self.shape_cd is None or self.shape_tolerance is None:
            return None
        return self.shape_cd <= self.shape_tolerance

    def to_dict(self) -> dict:
        return asdict(self)


def rotation_error_deg(r_est: np.ndarray, r_gt: np.ndarray) -> np.ndarray:
    """Isotropic rotation error(s) in degrees: the angle of ``r_gtᵀ r_est``; ``[..., 3, 3]`` → ``[...]``."""
    r_est, r_gt = np.asarray(r_est, dtype=np.float64), np.asarray(r_gt, dtype=np.float64)
    if r_est.shape[-2:] != (3, 3) or r_gt.shape[-2:] != (3, 3):
        raise FaceEditError(f"rotations must be [..., 3, 3], got {list(r_est.shape)} and {list(r_gt.shape)}")
    return rotation_angle_deg(np.swapaxes(r_gt, -1, -2) @ r_est)


def _points(points: np.ndarray, name: str) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise FaceEditError(f"{name} must be a non-empty [N, 3] array, got {list(p.shape)}")
    return p


def _chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean nearest-neighbour distance of two ``[N, 3]`` clouds (half of p→q plus q→p), exact: unlike
    :func:`faceedit.geometry.chamfer.chamfer` it adds no ε under the square root (that one is made for gradients),
    so two identical clouds score 0."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    d = np.sqrt(np.maximum(d, 0.0))
    return float(0.5 * (d.min(1).mean() + d.min(0).mean()))


def shape_errors(shape: np.ndarray, r_est: np.ndarray, t_est: np.ndarray, r_gt: np.ndarray, t_gt: np.ndarray,
                 tolerance_deg: float = 5.0) -> tuple[float, float]:
    """(shape_cd, shape_tolerance) of the module's symmetry-aware check: ``shape`` ``[K, 3]`` is the whole clean
    shape in the source's frame (up to ~2,000 points: the distances are computed densely)."""
    s = _points(shape, "shape")
    if len(s) > 4096:
        raise FaceEditError(f"shape must have at most 4096 points, got {len(s)}")
    placed_gt = s @ np.asarray(r_gt, dtype=np.float64).T + np.asarray(t_gt, dtype=np.float64).reshape(3)
    placed_est = s @ np.asarray(r_est, dtype=np.float64).T + np.asarray(t_est, dtype=np.float64).reshape(3)
    centre = placed_gt.mean(0)
    turns = [axis_angle_matrix(axis, math.radians(tolerance_deg)) for axis in np.eye(3)]
    tolerance = np.mean([_chamfer((placed_gt - centre) @ turn.T + centre, placed_gt) for turn in turns])
    return _chamfer(placed_est, placed_gt), float(tolerance)


def pair_errors(points: np.ndarray, r_est: np.ndarray, t_est: np.ndarray, r_gt: np.ndarray,
                t_gt: np.ndarray, shape: np.ndarray | None = None, tolerance_deg: float = 5.0) -> PairErrors:
    """All errors of one estimate (R_est, t_est) against the truth (R_gt, t_gt), on the source cloud ``points``
    ``[N, 3]``; with the whole clean ``shape`` (source frame) also the symmetry-aware ones."""
    p = _points(points, "points")
    t_est, t_gt = np.asarray(t_est, dtype=np.float64).reshape(3), np.asarray(t_gt, dtype=np.float64).reshape(3)
    diff = p @ (np.asarray(r_est) - np.asarray(r_gt)).T + (t_est - t_gt)
    mse = float((diff ** 2).sum(1).mean())
    cd = tol = None
    if shape is not None:
        cd, tol = shape_errors(shape, r_est, t_est, r_gt, t_gt, tolerance_deg)
    return PairErrors(rotation_deg=float(rotation_error_deg(r_est, r_gt)),
                      translation=float(np.linalg.norm(t_est - t_gt)), mse=mse, rmse=mse ** 0.5,
                      shape_cd=cd, shape_tolerance=tol)


def recall(rmse: np.ndarray, threshold: float = RECALL_RMSE) -> float:
    """Share (0–1) of registrations whose RMSE is below ``threshold``."""
    rmse = np.asarray(rmse, dtype=np.float64)
    if rmse.size == 0:
        raise FaceEditError("recall of no registrations")
    return float((rmse < threshold).mean())


def summarise(errors: list[PairErrors], seconds: list[float] | None = None,
              threshold: float = RECALL_RMSE) -> dict[str, float]:
    """Median/mean rotation error, the share of pairs within 5°, mean translation error, mean RMSE, recall, (when
    every pair has a shape) the share within the tolerance up to symmetry, and (when given) mean seconds per pair
    over a list of registrations."""
    if not errors:
        raise FaceEditError("no registrations to summarise")
    rot = np.array([e.rotation_deg for e in errors])
    out = {"pairs": len(errors), "rot_median_deg": float(np.median(rot)), "rot_mean_deg": float(rot.mean()),
           "within_5deg": float((rot < 5.0).mean()),
           "trans_mean": float(np.mean([e.translation for e in errors])),
           "rmse_mean": float(np.mean([e.rmse for e in errors])),
           "recall": recall(np.array([e.rmse for e in errors]), threshold)}
    symmetric = [e.within_up_to_symmetry for e in errors]
    if all(v is not None for v in symmetric):
        out["within_up_to_symmetry"] = float(np.mean(symmetric))
    if seconds is not None:
        out["seconds_per_pair"] = float(np.mean(seconds))
    return out
