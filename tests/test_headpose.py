"""3D head pose from 68 landmarks: the canonical-face table, angle conventions, known poses, `faceedit align --pose`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.errors import FaceEditError
from faceedit.geometry.headpose import (HEAD_HOUV, canonical_landmarks, estimate_pose, euler_from_matrix,
                                        matrix_from_euler, pose_scores, project)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MEDIAPIPE = DATA / "meshes" / "mediapipe" / "canonical_face_model.obj"
PHOTO = DATA / "celeba" / "img_align_celeba" / "000002.jpg"
QUICK_HOUV = replace(HEAD_HOUV, screen=32, groups=4, iterations=40)


def test_canonical_table_is_a_face():
    pts, normals, idx = canonical_landmarks()
    assert pts.shape == normals.shape == (68, 3) and len(set(idx.tolist())) == 68
    assert np.allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-4)
    assert pts[30, 2] == pts[:, 2].max()  # the nose tip is the most forward point
    assert pts[8, 1] == pts[:, 1].min()   # the chin the lowest
    # left/right pairs mirror each other: jaw ends, outer eye corners, mouth corners
    for a, b in ((0, 16), (36, 45), (39, 42), (48, 54), (31, 35)):
        assert pts[a, 0] < 0 < pts[b, 0]
        assert np.allclose(pts[a] * [-1, 1, 1], pts[b], atol=0.05)
    # normals face outwards: the front of the face towards the viewer, the jaw ends sideways
    assert normals[30, 2] > 0.5 and normals[0, 0] < -0.5 and normals[16, 0] > 0.5


@pytest.mark.skipif(not MEDIAPIPE.is_file(), reason=f"needs MediaPipe's canonical face at {MEDIAPIPE}")
def test_table_points_are_the_canonical_vertices():
    verts = np.array([[float(x) for x in line.split()[1:4]] for line in MEDIAPIPE.read_text().splitlines()
                      if line.startswith("v ")])
    pts, _, idx = canonical_landmarks()
    assert np.allclose(verts[idx], pts, atol=1e-5)


@pytest.mark.parametrize("angles", [(30, -10, 5), (-50, 20, -15), (0, 0, 0), (10, 35, 25)])
def test_euler_round_trip(angles):
    r = matrix_from_euler(*angles)
    assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1)
    assert np.allclose(euler_from_matrix(r), angles)


def test_angle_signs_follow_the_image():
    frontal = project(np.eye(3))
    turned = project(matrix_from_euler(30, 0, 0))
    nose_offset = lambda lm: lm[30, 0] - lm[[0, 16], 0].mean()  # noqa: E731
    assert nose_offset(turned) > nose_offset(frontal) + 10  # yaw > 0: the nose moves right
    up = project(matrix_from_euler(0, 20, 0))
    assert up[30, 1] - up[8, 1] < frontal[30, 1] - frontal[8, 1] - 5  # pitch > 0: the nose rises away from the chin
    ccw = project(matrix_from_euler(0, 0, 20))
    assert ccw[45, 1] < ccw[36, 1] - 10  # roll > 0: the image-right eye goes up (counter-clockwise)


@pytest.mark.parametrize("method,config", [("kabsch", HEAD_HOUV), ("houv", QUICK_HOUV)])
def test_known_poses_are_recovered(method, config):
    truth = [(35, -15, 8), (-45, 10, -5), (5, 25, 0)]
    rng = np.random.default_rng(0)
    lms = np.stack([project(matrix_from_euler(*a)) + rng.normal(scale=0.3, size=(68, 2)) for a in truth])
    poses = estimate_pose(lms, method=method, config=config)
    for p, a in zip(poses, truth):
        assert np.abs(np.array([p.yaw, p.pitch, p.roll]) - a).max() < 4.0, (method, a, p)
    # a turned head hides part of the far jaw: those landmarks are dropped
    assert poses[1].used < 68 and poses[2].used >= 60


def test_one_round_with_frontal_depths_is_worse():
    lm = project(matrix_from_euler(45, 0, 0))
    one, six = estimate_pose(lm, method="kabsch", rounds=1)[0], estimate_pose(lm, method="kabsch", rounds=6)[0]
    assert abs(one.yaw - 45) > 3 * abs(six.yaw - 45)


def test_pose_scores_and_bad_input():
    lm = torch.tensor(np.stack([project(matrix_from_euler(y, p, 0)) for y, p in ((20, 0), (-20, 10))]))
    yaw, pitch = pose_scores(lm)
    assert yaw.shape == (2,) and yaw[0] > 15 and yaw[1] < -15 and pitch[1] > 6
    with pytest.raises(FaceEditError, match="68 landmarks"):
        estimate_pose(np.zeros((5, 2)))
    bad = project(np.eye(3))
    bad[3] = np.nan
    with pytest.raises(FaceEditError, match="NaN"):
        estimate_pose(bad)
    with pytest.raises(FaceEditError, match="one line or point"):
        estimate_pose(np.ones((68, 2)))
    with pytest.raises(FaceEditError, match="method"):
        estimate_pose(project(np.eye(3)), method="pnp")


def _have_dlib() -> bool:
    from faceedit.align import have_dlib

    return have_dlib()


@pytest.mark.skipif(not (PHOTO.is_file() and _have_dlib()), reason=f"needs dlib and the photo {PHOTO}")
def test_align_pose_cli_mirrors_with_the_photo(tmp_path, capsys):
    from PIL import Image, ImageOps

    from faceedit.cli import main

    flipped = tmp_path / "flipped.png"
    ImageOps.mirror(Image.open(PHOTO)).save(flipped)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    rc = main(["align", str(PHOTO), str(flipped), str(tmp_path / "broken.jpg"), "--pose", "--json",
               "--pose-method", "kabsch", "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    rows = [json.loads(line) for line in cap.out.splitlines()]
    assert len(rows) == 2 and "skip:" in cap.err and "Traceback" not in cap.err
    a, b = rows
    assert abs(a["yaw"]) > 5 and a["yaw"] == pytest.approx(-b["yaw"], abs=3)  # a mirror turns the head the other way
    assert a["pitch"] == pytest.approx(b["pitch"], abs=3) and a["roll"] == pytest.approx(-b["roll"], abs=3)


def _have_faceapi() -> bool:
    from faceedit.scorers import fetch

    return fetch.have_weights()


@pytest.mark.skipif(not (_have_faceapi() and PHOTO.is_file()),
                    reason="needs the face-api weights (faceedit scorers fetch-faceapi) and ../shared/data photos")
def test_pose_scores_beside_the_landmark_scores():
    from PIL import Image, ImageOps

    from faceedit.edit.attributes import AttributeScorer

    scorer = AttributeScorer.load(use=("faceapi",))
    img = np.asarray(Image.open(PHOTO).convert("RGB").crop((0, 20, 178, 198)).resize((128, 128)))
    both = np.stack([img, np.asarray(ImageOps.mirror(Image.fromarray(img)))])
    x = torch.tensor(both).permute(0, 3, 1, 2).float() / 127.5 - 1
    scores = scorer(x)
    yaw, pose_yaw = scores[:, scorer.index("yaw")], scores[:, scorer.index("pose_yaw")]
    assert torch.isfinite(scores).all()
    assert pose_yaw[0] * pose_yaw[1] < 0 and torch.sign(pose_yaw[0]) == torch.sign(yaw[0])  # mirror: other way
    assert abs(float(pose_yaw[0] + pose_yaw[1])) < 4
