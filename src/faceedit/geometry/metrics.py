"""Registration metrics of the thesis (chapter 3) and of the ModelNet40 partial-registration literature.

* isotropic rotation error: the angle of R_gtᵀ R_est, in degrees;
* translation error: ‖t_gt − t_est‖ (cloud units);
* MSE / RMSE of the transformed points: mean over the source points p of ‖(R_est p + t_est) − (R_gt p + t_gt)‖²,
  and its square root;
* recall: the share of pairs whose RMSE is below a threshold (0.2 on clouds in the unit sphere).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from faceedit.errors import FaceEditError
from faceedit.geometry.rotation import rotation_angle_deg

RECALL_RMSE = 0.2


@dataclass
class PairErrors:
    """Errors of one registration: degrees, cloud units, squared units, cloud units."""

    rotation_deg: float
    translation: float
    mse: float
    rmse: float

    def to_dict(self) -> dict:
        return asdict(self)


def rotation_error_deg(r_est: np.ndarray, r_gt: np.ndarray) -> np.ndarray:
    """Isotropic rotation error(s) in degrees: the angle of ``r_gtᵀ r_est``; ``[..., 3, 3]`` → ``[...]``."""
    r_est, r_gt = np.asarray(r_est, dtype=np.float64), np.asarray(r_gt, dtype=np.float64)
    if r_est.shape[-2:] != (3, 3) or r_gt.shape[-2:] != (3, 3):
        raise FaceEditError(f"rotations must be [..., 3, 3], got {list(r_est.shape)} and {list(r_gt.shape)}")
    return rotation_angle_deg(np.swapaxes(r_gt, -1, -2) @ r_est)


def pair_errors(points: np.ndarray, r_est: np.ndarray, t_est: np.ndarray, r_gt: np.ndarray,
                t_gt: np.ndarray) -> PairErrors:
    """All errors of one estimate (R_est, t_est) against the truth (R_gt, t_gt), on the source cloud ``points``
    ``[N, 3]``."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise FaceEditError(f"points must be a non-empty [N, 3] array, got {list(p.shape)}")
    t_est, t_gt = np.asarray(t_est, dtype=np.float64).reshape(3), np.asarray(t_gt, dtype=np.float64).reshape(3)
    diff = p @ (np.asarray(r_est) - np.asarray(r_gt)).T + (t_est - t_gt)
    mse = float((diff ** 2).sum(1).mean())
    return PairErrors(rotation_deg=float(rotation_error_deg(r_est, r_gt)),
                      translation=float(np.linalg.norm(t_est - t_gt)), mse=mse, rmse=mse ** 0.5)


def recall(rmse: np.ndarray, threshold: float = RECALL_RMSE) -> float:
    """Share (0–1) of registrations whose RMSE is below ``threshold``."""
    rmse = np.asarray(rmse, dtype=np.float64)
    if rmse.size == 0:
        raise FaceEditError("recall of no registrations")
    return float((rmse < threshold).mean())


def summarise(errors: list[PairErrors], seconds: list[float] | None = None,
              threshold: float = RECALL_RMSE) -> dict[str, float]:
    """Median/mean rotation error, mean translation error, mean RMSE, recall and (when given) mean seconds per
    pair over a list of registrations."""
    if not errors:
        raise FaceEditError("no registrations to summarise")
    rot = np.array([e.rotation_deg for e in errors])
    out = {"pairs": len(errors), "rot_median_deg": float(np.median(rot)), "rot_mean_deg": float(rot.mean()),
           "trans_mean": float(np.mean([e.translation for e in errors])),
           "rmse_mean": float(np.mean([e.rmse for e in errors])),
           "recall": recall(np.array([e.rmse for e in errors]), threshold)}
    if seconds is not None:
        out["seconds_per_pair"] = float(np.mean(seconds))
    return out
