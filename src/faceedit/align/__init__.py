"""Faces in: read a photo, detect faces and 68 landmarks (dlib), FFHQ-align, and paste edits back.

    from faceedit.align import load_image, detect_faces, align_face, paste_back
    img = load_image("photo.jpg")              # H×W×3 uint8 RGB, EXIF-upright
    af = align_face(img, size=256)             # largest face; af.image, af.landmarks, af.transform
    mask = af.transform.warp_mask(photo_mask)  # any photo-frame mask, warped exactly like the image
    out = paste_back(img, af, edited)          # edited aligned image back into the photo, feathered

dlib (``pip install 'faceedit[align]'``) is needed only for detection; the geometry works without it.
"""

from faceedit.align.detect import Face, detect_faces, have_dlib
from faceedit.align.ffhq import (
    MIN_EYE_DISTANCE,
    AlignedFace,
    FaceTransform,
    align_face,
    align_landmarks,
    face_region_mask,
    paste_back,
    warp_to_square,
)
from faceedit.align.image import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, is_image_name, load_image
from faceedit.align.landmarks import ffhq_quad

__all__ = [
    "AlignedFace", "DEFAULT_MAX_PIXELS", "Face", "FaceTransform", "IMAGE_SUFFIXES", "MIN_EYE_DISTANCE",
    "align_face", "align_landmarks", "detect_faces", "face_region_mask", "ffhq_quad", "have_dlib",
    "is_image_name", "load_image", "paste_back", "warp_to_square",
]
