"""faceedit.geometry.edges: edge consistency tells a true pose from a flipped one on two caps of a shape."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from faceedit.errors import FaceEditError
from faceedit.geometry.edges import edge_consistency, edge_points, edge_weighted_loss
from faceedit.geometry.houv import WIDE, HOUVConfig, _choose_by_edges, register
from faceedit.geometry.metrics import pair_errors
from faceedit.geometry.rotation import axis_angle_matrix

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ellipsoid(n: int, seed: int) -> np.ndarray:
    """n points on the surface of an ellipsoid with axes 1, 0.6, 0.4 (symmetric under half turns about x, y, z)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(4 * n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    pts = u * [1.0, 0.6, 0.4]
    return pts[rng.choice(len(pts), n, replace=False)]


def two_caps():
    """Source: the part x < 0.5 of one sampling; target: x > -0.5 of another. True pose: the identity. A half turn
    about z lays the source on the target's region as closely (the flip HOUV makes on near-symmetric shapes)."""
    a, b = ellipsoid(1500, 0), ellipsoid(1500, 1)
    return a[a[:, 0] < 0.5], b[b[:, 0] > -0.5]


def test_edge_points_are_the_rim_of_a_cap():
    src, _ = two_caps()
    edge = edge_points(src)
    assert edge.sum() == round(0.2 * len(src))
    # the cut at x = 0.5 is the source's only edge: points next to it are edge points far more often
    rim, inside = src[:, 0] > 0.45, src[:, 0] < 0.2
    assert edge[rim].mean() > 3 * edge[inside].mean()
    assert edge_points(src[:1]).tolist() == [False]


def test_edge_consistency_prefers_the_true_pose_to_the_flip():
    src, dst = two_caps()
    flip = axis_angle_matrix([0, 0, 1.0], np.pi)
    es, ed = edge_points(src), edge_points(dst)
    true_c, d_true = edge_consistency(src, dst, es, ed)
    flip_c, d_flip = edge_consistency(src @ flip.T, dst, es, ed)
    assert true_c > 0.8 and flip_c < 0.5
    # the trimmed distance alone prefers the flip (HOUV's failure beyond 90°); weighted by edges, the truth wins
    k = int(np.ceil(0.7 * len(src)))
    assert np.sort(d_flip)[:k].mean() < np.sort(d_true)[:k].mean()
    scores = edge_weighted_loss(src, dst, np.stack([flip, np.eye(3)]), np.zeros((2, 3)))
    assert scores.argmin() == 1 and scores[0] > 1.2 * scores[1]


def test_final_choice_by_edges_refines_every_group_and_keeps_the_truth():
    src, dst = two_caps()
    flip = axis_angle_matrix([0, 0, 1.0], np.pi)
    p, q = torch.as_tensor(src)[None], torch.as_tensor(dst)[None]
    mp, mq = torch.ones(p.shape[:2], dtype=torch.bool), torch.ones(q.shape[:2], dtype=torch.bool)
    start = axis_angle_matrix([1.0, 0.5, 0.0], np.radians(3))  # a few degrees off
    r_all = torch.as_tensor(np.stack([flip, start]))[None]
    t_all = torch.tensor([[[0.0, 0.0, 0.0], [0.02, -0.01, 0.0]]], dtype=torch.float64)
    r, t, best = _choose_by_edges(p, q, mp, mq, r_all, t_all, replace(WIDE, icp_iterations=20))
    assert best.tolist() == [1]
    assert pair_errors(src, r[0].numpy(), t[0].numpy(), np.eye(3), np.zeros(3)).rotation_deg < 5
    # the lowest-loss choice takes the flip: the test above fails without the edge score
    lowest = _choose_by_edges(p, q, mp, mq, r_all, t_all, replace(WIDE, icp_iterations=20), weight=0.0)[2]
    assert lowest.tolist() == [0]


def test_register_with_the_edge_score():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(400, 3))
    shape = u / np.linalg.norm(u, axis=1, keepdims=True) * [1.0, 0.6, 0.4] + (rng.random((400, 1)) < 0.1) * [0.3, 0.5, 0]
    r = axis_angle_matrix([0.3, 1.0, 0.2], np.radians(120))
    t = np.array([0.2, -0.1, 0.3])
    cfg = replace(WIDE, screen=512, groups=16, keep=4, iterations=60, prune_at=40, coarse_points=96)
    reg = register(shape, shape @ r.T + t, cfg)
    assert pair_errors(shape, reg.rotation[0], reg.translation[0], r, t).rotation_deg < 3
    assert WIDE.final_score == "edges"
    with pytest.raises(FaceEditError, match="final_score must be one of"):
        HOUVConfig(final_score="best").check()
