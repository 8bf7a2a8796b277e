"""3D geometry: point clouds, HOUV partial registration (thesis ch. 3), and 3D head pose from face landmarks.

    from faceedit.geometry import load_cloud, register, FAST, pair_errors
    P, Q = load_cloud("a.ply").points, load_cloud("b.ply").points    # [N, 3] float64
    reg = register(P, Q, FAST)                                      # Q ≈ P @ reg.rotation[0].T + reg.translation[0]
    reg = register_batch([P1, P2], [Q1, Q2], THESIS)                # many pairs, all groups, one tensor program

    from faceedit.geometry import estimate_pose
    pose = estimate_pose(face.landmarks)[0]                         # 68 dlib landmarks → yaw / pitch / roll (deg)

trimesh reads mesh files, matplotlib draws the before/after picture and scipy's k-d tree serves the final trimmed
ICP of the tuned and quick settings (``pip install 'faceedit[geometry]'``); the rest needs only torch and numpy.
"""

from faceedit.geometry.chamfer import chamfer, hybrid_loss, projected_chamfer
from faceedit.geometry.clouds import CLOUD_SUFFIXES, LoadedCloud, check_cloud, load_cloud, save_cloud
from faceedit.geometry.edges import edge_consistency, edge_points, edge_weighted_loss
from faceedit.geometry.headpose import HeadPose, estimate_pose
from faceedit.geometry.houv import (FAST, QUICK, THESIS, WIDE, HOUVConfig, Registration, register, register_batch,
                                   settings, tuned)
from faceedit.geometry.metrics import PairErrors, pair_errors, recall, rotation_error_deg, summarise

__all__ = [
    "CLOUD_SUFFIXES", "FAST", "HOUVConfig", "HeadPose", "LoadedCloud", "PairErrors", "QUICK", "Registration",
    "THESIS", "WIDE", "settings", "tuned",
    "chamfer", "check_cloud", "edge_consistency", "edge_points", "edge_weighted_loss", "estimate_pose", "hybrid_loss", "load_cloud", "pair_errors", "projected_chamfer",
    "recall", "register", "register_batch", "rotation_error_deg", "save_cloud", "summarise",
]
