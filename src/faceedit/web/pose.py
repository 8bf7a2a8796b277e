"""Head pose of rendered faces, for the page: yaw, pitch and roll (degrees) measured on a generator's image.

A rendering (the model's resolution, often 64–256 px) is resized to :data:`DETECT_SIDE` px (dlib's HOG detector
misses faces under ~80 px; ``faceedit eval faces`` does the same), written to a private temporary PNG and handed
to the server's :class:`~faceedit.align.isolated.IsolatedDetector` — native detection runs in a worker process, so
a crash fails one request only. The 68 landmarks of the largest face go to
:func:`~faceedit.geometry.headpose.estimate_pose` with the closed-form solver (:data:`POSE_METHOD`: the same
objective as HOUV, equal to 0.01°, ~100× faster, which keeps the server's CPU for rendering).

    poses = measure_poses([image], detector, folder)   # [{"yaw": …, "pitch": …, "roll": …, "landmarks_used": …}]
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from faceedit.errors import FaceEditError

#: Side in pixels the rendering is resized to before detection.
DETECT_SIDE = 256
#: Solver of :func:`~faceedit.geometry.headpose.estimate_pose` for the page.
POSE_METHOD = "kabsch"
#: Images measured in one call (the example seeds are a handful).
MAX_IMAGES = 64


class Detector(Protocol):
    """What :class:`~faceedit.align.isolated.IsolatedDetector` offers: faces of an image file, largest first."""

    def detect(self, path: str | Path) -> list: ...


def upscaled(image: np.ndarray, side: int = DETECT_SIDE) -> np.ndarray:
    """``image`` (uint8 H×W×3) resized (Lanczos) to ``side``×``side`` when it is smaller, else unchanged."""
    from PIL import Image

    if min(image.shape[:2]) >= side:
        return np.ascontiguousarray(image)
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((side, side), Image.LANCZOS))


def measure_poses(images: Sequence[np.ndarray], detector: Detector, folder: Path) -> list[dict | None]:
    """Head pose of the largest face in each rendering (uint8 H×W×3), as ``{yaw, pitch, roll, landmarks_used}``
    (degrees, rounded to 0.01), or None where no face is found. ``folder``: a private folder for the temporary
    PNGs (each removed after its detection). Raises :class:`FaceEditError` when detection is unavailable (no dlib)
    or its worker crashed."""
    from PIL import Image

    from faceedit.align import have_dlib
    from faceedit.geometry.headpose import estimate_pose

    if len(images) > MAX_IMAGES:
        raise FaceEditError(f"head pose of {len(images)} images asked; at most {MAX_IMAGES} at once")
    if not have_dlib():
        raise FaceEditError("the head pose needs dlib to find the face: pip install 'faceedit[align]'")
    landmarks: list[np.ndarray | None] = []
    for image in images:
        path = Path(folder) / f"pose-{uuid.uuid4().hex}.png"
        try:
            Image.fromarray(upscaled(image)).save(path, format="PNG", compress_level=1)
            faces = detector.detect(path)
        finally:
            path.unlink(missing_ok=True)
        landmarks.append(faces[0].landmarks if faces else None)
    found = [lm for lm in landmarks if lm is not None]
    poses = iter(estimate_pose(found, method=POSE_METHOD) if found else [])
    return [None if lm is None else next(poses).to_dict() for lm in landmarks]


def order_by_yaw(rows: list[dict]) -> list[dict]:
    """``rows`` (each with a ``pose`` dict or None) from the face turned most to the image's left (yaw < 0) to the
    one turned most to its right; rows without a pose last, in their given order."""
    with_pose = sorted((r for r in rows if r.get("pose")), key=lambda r: r["pose"]["yaw"])
    return with_pose + [r for r in rows if not r.get("pose")]
