"""3D head pose (yaw, pitch, roll in degrees) from a face's 68 dlib/iBUG landmarks, by registering them to
MediaPipe's canonical 3D face (Apache-2.0; the 68→468 table and its 3D points are in
``assets/canonical_face68.json``, made by ``scripts/make_face68_table.py``).

The 2D landmarks are lifted to 3D with the canonical depths, landmarks that the head's turn hides are dropped,
and the rotation is solved — by HOUV (:func:`faceedit.geometry.houv.register_batch`, correspondence-free) or by
the closed-form fit the thesis compares against (Kabsch/Umeyama on the matched points). Lifting and solving
alternate (``rounds``): the first lift takes the frontal depths, later ones the depths of the canonical face
turned by the current estimate (a weak-perspective camera), and each round drops the landmarks whose surface
normal then faces away from the camera (``visibility`` threshold on the normal's z).

Angles (frame: x to the image's right, y up, z towards the camera; R = R_y(yaw) · R_x(−pitch) · R_z(roll) turns
the frontal canonical face into the observed one):

* yaw > 0: the face turns towards the image's right (the nose moves right), as the landmark ``yaw`` score;
* pitch > 0: chin up (the nose moves up), as the landmark ``pitch`` score;
* roll > 0: the face tilts counter-clockwise as seen in the image.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from faceedit.errors import FaceEditError
from faceedit.geometry.houv import HOUVConfig, register_batch
from faceedit.geometry.rotation import kabsch, rodrigues

TABLE = Path(__file__).resolve().parents[1] / "assets" / "canonical_face68.json"
METHODS = ("houv", "kabsch")
#: HOUV for head pose: ≤ 68 points whose correspondences are known, so the matched-point loss; |angle| ≤ 90°.
HEAD_HOUV = HOUVConfig(variant="pri", groups=8, screen=128, angle_bins=3, max_angle_deg=90.0, iterations=100,
                       lr=2e-2, loss="matched", squared=True)
MAX_FACES = 100_000
#: Lift-and-solve: each round moves the estimate about half-way to the truth (the lifted x carry the true pose,
#: the depths the current one), so each step is lengthened by RELAX; later HOUV rounds search ±REFINE_ANGLE_DEG.
RELAX = 1.8
REFINE_ANGLE_DEG = 30.0


@dataclass
class HeadPose:
    """Pose of one face: angles in degrees, the rotation ``[3, 3]`` (canonical → observed, frame in the module
    doc), the scale (image units per cm) and how many landmarks were used (the others judged hidden)."""

    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray
    scale: float
    used: int

    def to_dict(self) -> dict:
        return {"yaw": round(self.yaw, 2), "pitch": round(self.pitch, 2), "roll": round(self.roll, 2),
                "landmarks_used": self.used}


@lru_cache(maxsize=1)
def canonical_landmarks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(68 canonical points ``[68, 3]`` in cm, their outward unit normals ``[68, 3]``, MediaPipe vertex indices
    ``[68]``) in the frame of the module doc."""
    try:
        data = json.loads(TABLE.read_text())
    except (OSError, ValueError) as exc:
        raise FaceEditError(f"the canonical face table {TABLE} is missing or broken: {exc}") from None
    return (np.asarray(data["points_cm"], dtype=np.float64), np.asarray(data["normals"], dtype=np.float64),
            np.asarray(data["mediapipe_index"], dtype=np.int64))


def euler_from_matrix(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of R = R_y(yaw) R_x(−pitch) R_z(roll)."""
    r = np.asarray(r, dtype=np.float64)
    b = math.asin(float(np.clip(-r[1, 2], -1.0, 1.0)))
    yaw = math.atan2(r[0, 2], r[2, 2])
    roll = math.atan2(r[1, 0], r[1, 1])
    return math.degrees(yaw), -math.degrees(b), math.degrees(roll)


def matrix_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = R_y(yaw) R_x(−pitch) R_z(roll) ``[3, 3]`` from degrees."""
    a, b, c = math.radians(yaw), math.radians(-pitch), math.radians(roll)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def project(rotation: np.ndarray, scale: float = 10.0, distance_cm: float | None = 60.0,
            center: tuple[float, float] = (128.0, 128.0)) -> np.ndarray:
    """The 68 canonical landmarks turned by ``rotation`` and projected to image coordinates ``[68, 2]`` (x right,
    y down): perspective from a camera ``distance_cm`` in front of the face (``None``: orthographic), ``scale``
    pixels per cm at the face's depth. A test image of the canonical face at a known pose, without rendering."""
    pts = canonical_landmarks()[0] @ np.asarray(rotation, dtype=np.float64).T
    f = np.ones(len(pts)) if distance_cm is None else distance_cm / (distance_cm - pts[:, 2])
    return np.stack([center[0] + scale * f * pts[:, 0], center[1] - scale * f * pts[:, 1]], axis=1)


def _check_landmarks(landmarks) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim == 2:
        lm = lm[None]
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise FaceEditError(f"head pose needs 68 landmarks [68, 2] per face (iBUG order), got {list(lm.shape)}")
    if lm.shape[0] == 0:
        raise FaceEditError("head pose: no faces given")
    if lm.shape[0] > MAX_FACES:
        raise FaceEditError(f"head pose: {lm.shape[0]} faces; at most {MAX_FACES} at once")
    if not np.isfinite(lm).all():
        raise FaceEditError("head pose: landmarks with NaN or infinite coordinates")
    if (np.ptp(lm, axis=1) <= 0).any():
        raise FaceEditError("head pose: a face's landmarks all lie on one line or point")
    return lm


def _relax(old: np.ndarray, new: np.ndarray, factor: float) -> np.ndarray:
    """Rotations ``old · exp(factor · log(oldᵀ new))`` ``[B, 3, 3]``: the step from old to new, lengthened."""
    delta = old.transpose(0, 2, 1) @ new
    angle = np.arccos(np.clip((np.trace(delta, axis1=1, axis2=2) - 1) / 2, -1, 1))
    w = np.stack([delta[:, 2, 1] - delta[:, 1, 2], delta[:, 0, 2] - delta[:, 2, 0], delta[:, 1, 0] - delta[:, 0, 1]], 1)
    norm = np.linalg.norm(w, axis=1)
    ok = (norm > 1e-9) & (angle * factor < math.pi)
    axis = w / np.where(norm > 1e-9, norm, 1.0)[:, None]
    step = rodrigues(torch.as_tensor(axis), torch.as_tensor(angle * factor)).numpy()
    return np.where(ok[:, None, None], old @ step, new)


def _solve(method: str, src: list[np.ndarray], dst: list[np.ndarray], config: HOUVConfig,
           init: np.ndarray | None) -> np.ndarray:
    """Rotations ``[B, 3, 3]`` with dst ≈ R src + t, for matched point lists (HOUV searches around ``init``)."""
    if method == "kabsch":
        out = []
        for a, b in zip(src, dst):
            r, _, _ = kabsch(torch.as_tensor(a), torch.as_tensor(b))
            out.append(r.numpy())
        return np.stack(out)
    return register_batch(src, dst, config, init_rotation=init).rotation


def estimate_pose(landmarks, method: str = "houv", rounds: int = 6, visibility: float = 0.15,
                  config: HOUVConfig = HEAD_HOUV) -> list[HeadPose]:
    """Head pose of each face from its 68 image landmarks ``[68, 2]`` or ``[N, 68, 2]`` (pixels, x right, y down,
    iBUG order). ``method``: 'houv' (HOUV registration, all faces in one batch) or 'kabsch' (closed form).
    ``rounds`` of lift-and-solve (≥ 1; 1 = frontal depths only); ``visibility``: landmarks whose turned normal has
    z below this are dropped as hidden (from the second round on)."""
    if method not in METHODS:
        raise FaceEditError(f"head-pose method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 1 <= rounds <= 20:
        raise FaceEditError(f"rounds must be from 1 to 20, got {rounds}")
    if not -1.0 <= visibility < 1.0:
        raise FaceEditError(f"visibility must be in [-1, 1), got {visibility}")
    lm = _check_landmarks(landmarks)
    canon, normals, _ = canonical_landmarks()
    n = lm.shape[0]
    xy = lm * np.array([1.0, -1.0])  # y up
    xy = xy - xy.mean(1, keepdims=True)
    frontal = canon[:, :2] - canon[:, :2].mean(0)
    scale = np.sqrt((xy ** 2).sum((1, 2)) / (frontal ** 2).sum())  # pixels per cm, refined below
    rot = np.repeat(np.eye(3)[None], n, axis=0)
    keep = np.ones((n, 68), dtype=bool)
    for k in range(rounds):
        turned = canon @ rot.transpose(0, 2, 1)  # [n, 68, 3]
        if k:
            # scale: least squares of the observed 2D points against the turned canonical projection
            proj = turned[..., :2] - turned[..., :2].mean(1, keepdims=True)
            scale = (xy * proj).sum((1, 2)) / (proj ** 2).sum((1, 2)).clip(1e-12)
            keep = (normals @ rot.transpose(0, 2, 1))[..., 2] > visibility
            few = keep.sum(1) < 12
            keep[few] = True  # too few visible: use them all rather than fail
        depth = turned[..., 2] - turned[..., 2].mean(1, keepdims=True)
        lifted = np.concatenate([xy / scale[:, None, None], depth[..., None]], axis=2)
        src = [canon[keep[i]] for i in range(n)]
        dst = [lifted[i][keep[i]] for i in range(n)]
        if k == 0:
            rot = _solve(method, src, dst, config, None)
        else:  # later rounds: a local search around the current estimate, and an over-relaxed step
            cfg = replace(config, seed=config.seed + k, max_angle_deg=min(config.max_angle_deg, REFINE_ANGLE_DEG),
                          angle_bins=1, screen=min(config.screen, 64))
            rot = _relax(rot, _solve(method, src, dst, cfg, rot), RELAX)
    out = []
    for i in range(n):
        yaw, pitch, roll = euler_from_matrix(rot[i])
        out.append(HeadPose(yaw=yaw, pitch=pitch, roll=roll, rotation=rot[i], scale=float(scale[i]),
                            used=int(keep[i].sum())))
    return out


def pose_scores(landmarks: torch.Tensor, method: str = "kabsch") -> tuple[torch.Tensor, torch.Tensor]:
    """(yaw, pitch) in degrees ``[N]`` each from landmarks ``[N, 68, 2]`` — the 3D-fit counterparts of the
    landmark-geometry ``yaw``/``pitch`` scores (for fitting edit directions; not differentiable)."""
    poses = estimate_pose(landmarks.detach().double().cpu().numpy(), method=method)
    return (torch.tensor([p.yaw for p in poses], dtype=torch.float32),
            torch.tensor([p.pitch for p in poses], dtype=torch.float32))
