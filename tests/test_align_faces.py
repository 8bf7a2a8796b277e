"""Detection and alignment on real photos from ../shared/data (dlib needed; skipped with a reason otherwise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceedit.align import (
    Face,
    align_face,
    detect_faces,
    face_region_mask,
    ffhq_quad,
    have_dlib,
    load_image,
    paste_back,
)
from faceedit.errors import FaceEditError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CELEBA = DATA / "celeba" / "img_align_celeba" / "000002.jpg"
CMHQ = DATA / "celebamask-hq" / "images" / "00000.jpg"
UTK = DATA / "utkface" / "26_0_0_20170103235702988.jpg"

pytestmark = [
    pytest.mark.skipif(not have_dlib(), reason="dlib not installed: pip install 'faceedit[align]'"),
    pytest.mark.skipif(not CELEBA.is_file() or not CMHQ.is_file(),
                       reason=f"face photos not found under {DATA} (../shared/data)"),
]


def test_detects_68_landmarks_on_real_photos():
    for p in (CELEBA, CMHQ):
        img = load_image(p)
        faces = detect_faces(img)
        assert len(faces) == 1, p
        f = faces[0]
        assert isinstance(f, Face) and f.landmarks.shape == (68, 2)
        l, t, r, b = f.box
        assert 0 <= l < r <= img.shape[1] + 5 and 0 <= t < b <= img.shape[0] + 5
        # eyes above the nose tip above the mouth, left eye on the left
        assert f.landmarks[36:42, 0].mean() < f.landmarks[42:48, 0].mean()
        assert f.landmarks[36:48, 1].mean() < f.landmarks[30, 1] < f.landmarks[48:60, 1].mean()
        assert f.eye_distance > 20


def test_aligned_landmarks_match_a_fresh_detection_in_the_aligned_image():
    img = load_image(CELEBA)
    af = align_face(img, size=256)
    assert af.image.shape == (256, 256, 3) and af.image.dtype == np.uint8
    # the recipe applied to the aligned landmarks gives the output square
    q, qsize = ffhq_quad(af.landmarks)
    assert qsize == pytest.approx(256, rel=1e-6)
    again = detect_faces(af.image)
    assert again, "no face found again in the aligned image"
    err = np.linalg.norm(again[0].landmarks - af.landmarks, axis=1)
    assert np.median(err) < 0.015 * 256, err
    # eyes near the FFHQ rows: level, centred, in the upper half
    eyes = np.array([af.landmarks[36:42].mean(0), af.landmarks[42:48].mean(0)])
    assert abs(eyes[0, 1] - eyes[1, 1]) < 0.05 * 256
    assert abs(eyes[:, 0].mean() - 128) < 0.05 * 256
    assert 0.3 * 256 < eyes[:, 1].mean() < 0.5 * 256


def test_align_unalign_returns_the_photo_in_the_face_region():
    img = load_image(CELEBA)
    af = align_face(img, size=256)  # the face (~170 px) is upsampled: no information lost
    back = paste_back(img, af, af.image, region="face", feather=0.03)
    m = face_region_mask(af, region="face")
    m_photo, valid = af.transform.unwarp(m, (0, 0, img.shape[1], img.shape[0]))
    core = (m_photo * valid) > 0.99
    assert core.sum() > 0.2 * img.shape[0] * img.shape[1]
    diff = np.abs(back.astype(int) - img.astype(int))[core]
    assert diff.mean() < 2.0, diff.mean()
    assert np.percentile(diff, 99) < 16
    assert np.array_equal(back[~(m_photo * valid > 0)], img[~(m_photo * valid > 0)])


def test_masks_warp_with_their_image():
    mask_path = DATA / "celebamask-hq" / "masks" / "00000.png"
    if not mask_path.is_file():
        pytest.skip(f"{mask_path} not found")
    img = load_image(CMHQ)
    af = align_face(img, size=128)
    labels = np.asarray(Image.open(mask_path))
    warped = af.transform.warp_mask(labels)
    assert warped.shape == (128, 128) and warped.dtype == labels.dtype
    assert set(np.unique(warped)) <= set(np.unique(labels))
    # the warped skin (1) and nose (2) classes cover the aligned nose tip / face centre landmarks
    nose = np.rint(af.landmarks[30]).astype(int)
    assert warped[nose[1], nose[0]] in (1, 2)
    eye = np.rint(af.landmarks[36:42].mean(0)).astype(int)
    assert warped[eye[1], eye[0]] in (1, 4, 5, 6, 7, 3)


def test_exif_rotated_copy_of_a_real_face(tmp_path):
    img = load_image(CELEBA)
    stored = Image.fromarray(img).transpose(Image.Transpose.ROTATE_90)  # the camera wrote it sideways
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "rotated.jpg", quality=97, exif=exif)
    up = load_image(tmp_path / "rotated.jpg")
    assert up.shape == img.shape
    assert np.abs(up.astype(int) - img.astype(int)).mean() < 4
    f0, f1 = detect_faces(img)[0], detect_faces(up)[0]
    assert np.median(np.linalg.norm(f0.landmarks - f1.landmarks, axis=1)) < 3


def test_two_faces_largest_by_default_each_on_request():
    a = load_image(CMHQ)  # larger face
    b = load_image(CELEBA)
    canvas = np.full((256, 256 + 40 + b.shape[1], 3), 128, np.uint8)
    canvas[:, :256] = a
    canvas[19:19 + b.shape[0], 296:296 + b.shape[1]] = b
    faces = detect_faces(canvas)
    assert len(faces) == 2
    assert faces[0].size > faces[1].size
    assert faces[0].landmarks[:, 0].mean() < 256 < faces[1].landmarks[:, 0].mean()
    default = align_face(canvas, size=64, faces=faces)
    assert default.face is faces[0]
    second = align_face(canvas, size=64, faces=faces, face_index=1)
    assert second.face is faces[1]
    both = align_face(canvas, size=64, faces=faces, all_faces=True)
    assert len(both) == 2
    with pytest.raises(FaceEditError, match="face index 2 out of range: 2 face"):
        align_face(canvas, size=64, faces=faces, face_index=2)


def test_no_face_in_a_blank_image():
    blank = np.full((300, 300, 3), 200, np.uint8)
    with pytest.raises(FaceEditError, match="no face found in blank.png"):
        align_face(blank, name="blank.png")


def test_tiny_face_is_refused_with_a_clear_message():
    img = load_image(CELEBA)
    face = detect_faces(img)[0]
    small = np.asarray(Image.fromarray(img).resize((img.shape[1] // 8, img.shape[0] // 8), Image.BOX))
    tiny = Face(box=tuple(v / 8 for v in face.box), landmarks=(face.landmarks + 0.5) / 8 - 0.5, score=face.score)
    with pytest.raises(FaceEditError, match=r"face too small to align in tiny.jpg: eyes \d+\.\d px apart"):
        align_face(small, faces=[tiny], name="tiny.jpg")
    # and straight from the detector: a tiny face is either not found or refused
    canvas = np.full((240, 240, 3), 90, np.uint8)
    canvas[100:100 + small.shape[0], 100:100 + small.shape[1]] = small
    with pytest.raises(FaceEditError, match="no face found|too small"):
        align_face(canvas, name="tiny.jpg", min_eye_distance=8)


def test_tight_crop_and_path_input():
    if not UTK.is_file():
        pytest.skip(f"{UTK} not found")
    af = align_face(UTK, size=128)  # a path is read with load_image; tight crops need reflect-padding
    assert af.image.shape == (128, 128, 3)
    assert af.padding > 0.2


def test_cnn_detector_and_the_auto_fallback():
    img = load_image(CELEBA)
    hog, cnn = detect_faces(img, detector="hog"), detect_faces(img, detector="cnn")
    assert len(hog) == len(cnn) == 1 and cnn[0].detector == "cnn"
    assert np.median(np.linalg.norm(hog[0].landmarks - cnn[0].landmarks, axis=1)) < 4
    hard = DATA / "celebamask-hq" / "images" / "00012.jpg"  # a tilted face the HOG detector misses
    if not hard.is_file():
        pytest.skip(f"{hard} not found")
    faces = detect_faces(load_image(hard))
    assert faces and faces[0].detector == "cnn"
    with pytest.raises(FaceEditError, match="unknown detector"):
        detect_faces(img, detector="retina")
