"""FFHQ transform maths: quad geometry, exact aligned <-> photo maps, mask warping, paste-back (no dlib)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceedit.align import (
    FaceTransform,
    align_landmarks,
    face_region_mask,
    ffhq_quad,
    paste_back,
    warp_to_square,
)
from faceedit.errors import FaceEditError


def synthetic_landmarks(centre=(120.0, 130.0), eye_dist=40.0, angle_deg=0.0, mouth_drop=45.0) -> np.ndarray:
    """A plausible 68-point face (iBUG order) around ``centre``, rotated by ``angle_deg``."""
    e = eye_dist / 2
    lm = np.zeros((68, 2))
    t = np.linspace(0, np.pi, 17)  # jaw: lower half ellipse from the left ear to the right ear
    lm[0:17] = np.stack([-1.9 * e * np.cos(t), 0.2 * e + 2.3 * e * np.sin(t)], 1)
    lm[17:22] = np.stack([np.linspace(-1.6 * e, -0.3 * e, 5), np.full(5, -0.55 * e)], 1)
    lm[22:27] = np.stack([np.linspace(0.3 * e, 1.6 * e, 5), np.full(5, -0.55 * e)], 1)
    lm[27:31] = np.stack([np.zeros(4), np.linspace(0, 0.5 * mouth_drop, 4)], 1)
    lm[31:36] = np.stack([np.linspace(-0.3 * e, 0.3 * e, 5), np.full(5, 0.6 * mouth_drop)], 1)
    ang = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    lm[36:42] = np.stack([-e + 0.25 * e * np.cos(ang), 0.1 * e * np.sin(ang)], 1)
    lm[42:48] = np.stack([e + 0.25 * e * np.cos(ang), 0.1 * e * np.sin(ang)], 1)
    ang12 = np.linspace(np.pi, -np.pi, 12, endpoint=False)
    lm[48:60] = np.stack([0.8 * e * np.cos(ang12), mouth_drop + 0.2 * e * np.sin(ang12)], 1)
    lm[48] = [-0.8 * e, mouth_drop]
    lm[54] = [0.8 * e, mouth_drop]
    ang8 = np.linspace(np.pi, -np.pi, 8, endpoint=False)
    lm[60:68] = np.stack([0.5 * e * np.cos(ang8), mouth_drop + 0.08 * e * np.sin(ang8)], 1)
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return lm @ rot.T + np.asarray(centre)


def smooth_image(h=260, w=240, seed=0) -> np.ndarray:
    """A smooth random colour field (so bilinear resampling is nearly exact)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 20 + 2, w // 20 + 2, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC))


def test_quad_follows_the_recipe_formula():
    lm = synthetic_landmarks(angle_deg=12.0)
    quad, qsize = ffhq_quad(lm)
    eye_l, eye_r = lm[36:42].mean(0), lm[42:48].mean(0)
    eye_avg, e2e = (eye_l + eye_r) / 2, eye_r - eye_l
    e2m = (lm[48] + lm[54]) / 2 - eye_avg
    # independent re-derivation
    x = e2e - np.array([-e2m[1], e2m[0]])
    x = x / np.linalg.norm(x) * max(2.0 * np.linalg.norm(e2e), 1.8 * np.linalg.norm(e2m))
    y = np.array([-x[1], x[0]])
    c = eye_avg + 0.1 * e2m
    assert np.allclose(quad, [c - x - y, c - x + y, c + x + y, c + x - y])
    assert qsize == pytest.approx(2 * np.linalg.norm(x))
    # a square: equal sides, right angles
    sides = np.diff(np.vstack([quad, quad[:1]]), axis=0)
    assert np.allclose(np.linalg.norm(sides, axis=1), qsize)
    assert abs(np.dot(sides[0], sides[1])) < 1e-6 * qsize ** 2


@pytest.mark.parametrize("angle", [0.0, 17.0, -35.0])
@pytest.mark.parametrize("size", [64, 256, 1024])
def test_landmarks_land_where_the_recipe_puts_them(angle, size):
    """Re-running the recipe on the aligned landmarks gives exactly the output square: eyes and mouth sit at
    the FFHQ positions whatever the pose, scale or position of the face in the photo."""
    lm = synthetic_landmarks(centre=(300.0, 260.0), eye_dist=55.0, angle_deg=angle)
    quad, _ = ffhq_quad(lm)
    t = FaceTransform(quad=quad, size=size, photo_shape=(600, 640))
    al = t.to_aligned(lm)
    q2, qsize2 = ffhq_quad(al)
    corners = np.array([[-0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5], [size - 0.5, -0.5]])
    assert np.allclose(q2, corners, atol=1e-6 * size)
    assert qsize2 == pytest.approx(size)
    # eyes level and symmetric about the vertical centre line when the face is symmetric
    eyes = np.array([al[36:42].mean(0), al[42:48].mean(0)])
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1e-6 * size
    assert (eyes[:, 0].mean() + 0.5) == pytest.approx(size / 2)


def test_matrix_inverse_and_sizes_agree():
    lm = synthetic_landmarks(angle_deg=-8.0)
    quad, _ = ffhq_quad(lm)
    t = FaceTransform(quad=quad, size=256, photo_shape=(260, 240))
    assert np.allclose(t.matrix @ t.inverse, np.eye(3))
    pts = np.random.default_rng(1).uniform(0, 255, (20, 2))
    assert np.allclose(t.to_aligned(t.to_photo(pts)), pts)
    # the square's corners (pixel edges) map onto the quad corners
    assert np.allclose(t.to_photo(np.array([[-0.5, -0.5], [-0.5, 255.5], [255.5, 255.5], [255.5, -0.5]])), quad)
    # the same continuous point at another output size
    t4 = t.for_size(1024)
    u = np.array([[10.0, 200.0]])
    assert np.allclose(t.to_photo(u), t4.to_photo((u + 0.5) * 4 - 0.5))
    d = t.to_dict()
    assert np.allclose(FaceTransform.from_dict(d).matrix, t.matrix, atol=1e-3)


def test_pixels_match_a_direct_pil_quad_transform():
    """Where no shrink or padding is involved, the output equals the recipe's PIL QUAD warp (quad + 0.5)."""
    img = smooth_image()
    lm = synthetic_landmarks(centre=(120.0, 120.0), eye_dist=30.0, angle_deg=10.0)
    quad, qsize = ffhq_quad(lm)
    size = 176
    assert qsize < size and quad.min() > 10 and quad[:, 0].max() < 230 and quad[:, 1].max() < 250
    ours = warp_to_square(img, quad, size)
    ref = np.asarray(Image.fromarray(img).transform((size, size), Image.QUAD, (quad + 0.5).flatten(),
                                                    Image.BILINEAR))
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1


def test_downsampling_path_close_to_direct_warp_on_smooth_image():
    img = smooth_image(700, 640, seed=3)
    lm = synthetic_landmarks(centre=(320.0, 340.0), eye_dist=110.0, angle_deg=5.0)  # qsize ~ 450 -> 64 px: shrink
    quad, qsize = ffhq_quad(lm)
    assert qsize / 64 > 4
    ours = warp_to_square(img, quad, 64).astype(float)
    ref = np.asarray(Image.fromarray(img).transform((512, 512), Image.QUAD, (quad + 0.5).flatten(),
                                                    Image.BILINEAR).resize((64, 64), Image.BOX)).astype(float)
    assert np.abs(ours - ref).mean() < 2.5


def test_align_then_unalign_returns_original_pixels():
    img = smooth_image()
    lm = synthetic_landmarks(centre=(120.0, 125.0), eye_dist=34.0, angle_deg=14.0)
    af = align_landmarks(img, lm, size=256)
    assert af.image.shape == (256, 256, 3) and af.image.dtype == np.uint8
    out = paste_back(img, af, af.image, region="square", feather=0.02)
    mask = face_region_mask(af, region="face")
    m_photo, valid = af.transform.unwarp(mask, (0, 0, img.shape[1], img.shape[0]))
    core = (m_photo * valid) > 0.99
    assert core.sum() > 2000
    diff = np.abs(out.astype(int) - img.astype(int))[core]
    assert diff.mean() < 1.5 and diff.max() <= 12
    # outside the square the photo is untouched
    _, valid = af.transform.unwarp(np.zeros((256, 256)), (0, 0, img.shape[1], img.shape[0]))
    assert np.array_equal(out[valid == 0], img[valid == 0])


def test_paste_back_blends_edit_only_inside_feathered_face_region():
    img = smooth_image()
    lm = synthetic_landmarks(centre=(120.0, 125.0), eye_dist=34.0)
    af = align_landmarks(img, lm, size=128)
    edited = np.zeros((512, 512, 3), np.uint8)  # another size than the alignment: the square is rescaled
    out = paste_back(img, af, edited, feather=0.05)
    nose = np.rint(lm[30]).astype(int)
    assert out[nose[1], nose[0]].max() < 10  # face centre replaced by the (black) edit
    corner = np.rint(af.transform.to_photo(np.array([[2.0, 2.0]]))[0]).astype(int)
    assert np.abs(out[corner[1], corner[0]].astype(int) - img[corner[1], corner[0]]).max() <= 1
    # feathered: some pixels strictly between the edit and the photo
    changed = np.abs(out.astype(int) - img.astype(int)).sum(-1)
    partial = (out.sum(-1) > 5) & (changed > 5)
    assert partial.sum() > 50
    import torch

    t = torch.zeros(1, 3, 128, 128) - 1.0  # generator convention [-1, 1] -> black
    assert np.array_equal(paste_back(img, af, t, feather=0.05), paste_back(img, af, np.zeros((128, 128, 3)),
                                                                            feather=0.05))
    with pytest.raises(FaceEditError, match="photo is"):
        paste_back(img[:100], af, edited)


def test_warp_mask_uses_the_image_transform():
    img = smooth_image()
    h, w = img.shape[:2]
    lm = synthetic_landmarks(centre=(120.0, 125.0), eye_dist=34.0, angle_deg=-20.0)
    af = align_landmarks(img, lm, size=96)
    t = af.transform
    # a linear ramp warped bilinearly gives back the photo coordinates of every aligned pixel
    xs = np.tile(np.arange(w, dtype=np.float32), (h, 1))
    ys = np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w))
    wx = t.warp_mask(xs, order="linear")
    wy = t.warp_mask(ys, order="linear")
    g = np.arange(96.0)
    uu, vv = np.meshgrid(g, g)
    p = t.to_photo(np.stack([uu.ravel(), vv.ravel()], 1))
    inside = (p[:, 0] > 0) & (p[:, 0] < w - 1) & (p[:, 1] > 0) & (p[:, 1] < h - 1)
    assert inside.mean() > 0.8
    assert np.allclose(wx.ravel()[inside], p[inside, 0], atol=1e-3)
    assert np.allclose(wy.ravel()[inside], p[inside, 1], atol=1e-3)
    # a label map warped with nearest keeps its labels (no blending) and agrees with the image warp
    labels = (xs // 60 + 10 * (ys // 60)).astype(np.uint8)
    wl = t.warp_mask(labels)
    assert wl.dtype == np.uint8 and set(np.unique(wl)) <= set(np.unique(labels))

    def paint(lab):
        lab = lab.astype(np.int64)
        return np.stack([lab * 3 % 256, lab * 5 % 256, lab * 7 % 256], -1).astype(np.uint8)

    wc = warp_to_square(paint(labels), t.quad, 96)
    agree = (np.abs(wc.astype(int) - paint(wl)) <= 2).all(-1).ravel()[inside]
    assert agree.mean() > 0.85  # differs only along label edges
    # outside the photo: constant fill on request
    small = np.ones((h, w), np.uint8)
    lm_edge = synthetic_landmarks(centre=(20.0, 30.0), eye_dist=34.0)
    t2 = align_landmarks(img, lm_edge, size=64).transform
    filled = t2.warp_mask(small, outside=0)
    assert 0 < filled.mean() < 1 and t2.padding_fraction() > 0.2
    assert t2.warp_mask(small).min() == 1  # reflect keeps the label
    with pytest.raises(FaceEditError, match="does not match"):
        t.warp_mask(small[:10])


def test_padding_fraction_and_edge_faces():
    img = smooth_image()
    inside = align_landmarks(img, synthetic_landmarks(centre=(120.0, 125.0), eye_dist=30.0), 64)
    assert inside.padding == 0.0
    edge = align_landmarks(img, synthetic_landmarks(centre=(5.0, 125.0), eye_dist=30.0), 64)
    assert 0.3 < edge.padding < 0.7
    assert edge.image.shape == (64, 64, 3)
    # reflect-padded and blurred: the padded half is smoother than the photo half
    left, right = edge.image[:, :20].astype(float), edge.image[:, 44:].astype(float)
    assert np.abs(np.diff(left, axis=1)).mean() <= np.abs(np.diff(right, axis=1)).mean() + 1.0


def test_bad_sizes_and_degenerate_landmarks():
    img = smooth_image()
    lm = synthetic_landmarks()
    for s in (8, 2048, 100.5):
        with pytest.raises(FaceEditError, match="size"):
            align_landmarks(img, lm, s)
    with pytest.raises(FaceEditError, match="degenerate"):
        ffhq_quad(np.zeros((68, 2)))
    with pytest.raises(FaceEditError, match="68 landmarks"):
        ffhq_quad(np.zeros((5, 2)))
