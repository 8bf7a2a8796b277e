"""Face detection and 68-point landmarks with dlib.

Models come from the ``face-recognition-models`` package (found with :func:`importlib.util.find_spec`; its own
``pkg_resources`` import fails on current setuptools) and are loaded lazily, once per process.

Detection strategy (:func:`detect_faces`): dlib's HOG detector on the image (downscaled when large, upsampled when
small), then on a copy padded with a replicated border (helps tight crops whose face touches the frame), and
finally dlib's CNN (MMOD) detector as the fallback for hard photos. Landmarks are always fitted at full resolution.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass, field

import numpy as np

from faceedit.align.landmarks import ffhq_quad
from faceedit.errors import FaceEditError
from faceedit.limits import MIN_DETECT_SIDE, check_detectable

_DLIB_HINT = "face alignment needs dlib: pip install 'faceedit[align]'"
_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()

#: Detection runs on a copy whose longer side is at most this many pixels (landmarks use full resolution).
DETECT_MAX_SIDE = 1280
#: Images whose longer side is below this get an upsampled padded retry (and ×4 below half of it).
SMALL_SIDE = 640


@dataclass
class Face:
    """One detected face.

    ``box``: ``(left, top, right, bottom)`` in pixels of the image given to :func:`detect_faces`;
    ``landmarks``: ``[68, 2]`` float64 ``(x, y)`` pixel coordinates (pixel centres at integers, iBUG-300W order);
    ``score``: detector confidence (HOG: SVM margin; CNN: MMOD score); ``detector``: ``"hog"`` or ``"cnn"``.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float
    detector: str = "hog"
    extra: dict = field(default_factory=dict)

    @property
    def eye_distance(self) -> float:
        """Distance in pixels between the two eye centres (mean of each eye's six landmarks)."""
        lm = self.landmarks
        return float(np.hypot(*(lm[42:48].mean(0) - lm[36:42].mean(0))))

    @property
    def size(self) -> float:
        """A scale for ranking faces: the side of the FFHQ square (pixels), which follows the landmarks."""
        _, qsize = ffhq_quad(self.landmarks)
        return float(qsize)


def have_dlib() -> bool:
    """True when dlib and the landmark models can be imported."""
    return importlib.util.find_spec("dlib") is not None and importlib.util.find_spec("face_recognition_models") is not None


def _model_dir() -> str:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.origin:
        raise FaceEditError(_DLIB_HINT)
    path = os.path.join(os.path.dirname(spec.origin), "models")
    if not os.path.isdir(path):
        raise FaceEditError(f"face-recognition-models is installed but its models folder is missing: {path}")
    return path


def _dlib():
    try:
        import dlib
    except ImportError:
        raise FaceEditError(_DLIB_HINT) from None
    return dlib


def _model(name: str):
    """Load a dlib model once per process: 'hog', 'cnn' or 'landmarks68'."""
    model = _MODELS.get(name)
    if model is not None:
        return model
    with _LOCK:
        model = _MODELS.get(name)
        if model is not None:
            return model
        dlib = _dlib()
        if name == "hog":
            model = dlib.get_frontal_face_detector()
        else:
            files = {"cnn": "mmod_human_face_detector.dat", "landmarks68": "shape_predictor_68_face_landmarks.dat"}
            path = os.path.join(_model_dir(), files[name])
            if not os.path.isfile(path):
                raise FaceEditError(f"dlib model file missing: {path} (reinstall face-recognition-models==0.3.0)")
            model = dlib.cnn_face_detection_model_v1(path) if name == "cnn" else dlib.shape_predictor(path)
        _MODELS[name] = model
        return model


def _resize(img: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return np.asarray(Image.fromarray(img).resize(size, Image.BILINEAR if scale > 1 else Image.BOX))


def _hog(img: np.ndarray, upsample: int) -> list[tuple[tuple[float, float, float, float], float]]:
    rects, scores, _ = _model("hog").run(img, upsample, 0.0)
    return [((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores)]


def _cnn(img: np.ndarray, upsample: int) -> list[tuple[tuple[float, float, float, float], float]]:
    dets = _model("cnn")(img, upsample)
    out = []
    for d in dets:
        r = d.rect
        out.append(((r.left(), r.top(), r.right(), r.bottom()), float(d.confidence)))
    return out


def _boxes(img: np.ndarray, detector: str) -> tuple[list, str]:
    """Face boxes in ``img`` coordinates, trying progressively harder (and slower) detectors."""
    h, w = img.shape[:2]
    side = max(h, w)
    scale = min(1.0, DETECT_MAX_SIDE / side)
    small = _resize(img, scale) if scale < 1.0 else img

    def back(found, s, off=0.0):
        return [((b[0] - off) / s, (b[1] - off) / s, (b[2] - off) / s, (b[3] - off) / s) for b, _ in found], \
               [sc for _, sc in found]

    attempts = []
    if detector in ("auto", "hog"):
        attempts.append(("hog", small, scale, 0, 0.0))
        # small faces: upsample ×2 (×4 for tiny images); in large photos this finds faces under ~80 px.
        attempts.append(("hog", small, scale, 1, 0.0))
        if side * scale < SMALL_SIDE / 2:
            attempts.append(("hog", small, scale, 2, 0.0))
        # tight crops: a face touching the frame is missed by the sliding window; pad with a replicated border.
        pad = int(round(0.25 * max(small.shape[:2])))
        padded = np.pad(small, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        attempts.append(("hog", padded, scale, 1 if side * scale < SMALL_SIDE else 0, float(pad)))
    if detector in ("auto", "cnn"):
        # the CNN costs ~O(pixels); run it on at most ~0.6 MP, upsampling small images.
        cscale = min(1.0, 800 / side)
        cimg = _resize(img, cscale) if cscale < 1.0 else img
        up = 1 if side * cscale < 400 else 0
        attempts.append(("cnn", cimg, cscale, up, 0.0))
    for kind, im, s, up, off in attempts:
        if min(im.shape[:2]) < MIN_DETECT_SIDE:
            continue  # a very elongated image scaled down: dlib crashes on tiny inputs, and no face fits anyway
        found = _hog(im, up) if kind == "hog" else _cnn(im, up)
        if found:
            boxes, scores = back(found, s, off)
            return list(zip(boxes, scores)), kind
    return [], "none"


def detect_faces(img: np.ndarray, detector: str = "auto", name: str = "the image") -> list[Face]:
    """Detect faces and fit 68 landmarks; returns faces sorted by size, largest first.

    ``img``: ``H×W×3`` uint8 RGB, at least :data:`~faceedit.limits.MIN_DETECT_SIDE` pixels on each side (smaller
    images are refused before dlib sees them: its detectors corrupt memory on them). ``detector``: ``"auto"``
    (HOG, then HOG on a padded copy, then CNN), ``"hog"`` or ``"cnn"``. ``name``: the image in messages.
    An empty list means no face was found.
    """
    if detector not in ("auto", "hog", "cnn"):
        raise FaceEditError(f"unknown detector {detector!r}: use auto, hog or cnn")
    img = np.ascontiguousarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise FaceEditError(f"expected an H×W×3 uint8 RGB image, got shape {img.shape} dtype {img.dtype}")
    check_detectable(img.shape[0], img.shape[1], name)
    dlib = _dlib()
    found, kind = _boxes(img, detector)
    predictor = _model("landmarks68")
    h, w = img.shape[:2]
    faces = []
    for (l, t, r, b), score in found:
        rect = dlib.rectangle(int(round(l)), int(round(t)), int(round(r)), int(round(b)))
        shape = predictor(img, rect)
        lm = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        faces.append(Face(box=(float(l), float(t), float(r), float(b)), landmarks=lm, score=score, detector=kind))
    faces.sort(key=lambda f: -f.size)
    return faces
