"""FFHQ alignment with an exact, invertible transform; paste an edited face back into its photo.

Geometry (the FFHQ recipe): from 68 landmarks take the eye centres and the mouth corners,

    eye_avg = (eye_l + eye_r) / 2, eye_to_eye = eye_r - eye_l, mouth_avg = (mouth_l + mouth_r) / 2,
    eye_to_mouth = mouth_avg - eye_avg,
    x = eye_to_eye - rot90(eye_to_mouth); x /= |x|; x *= max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|),
    y = rot90(x), c = eye_avg + 0.1 eye_to_mouth,
    quad = [c - x - y, c - x + y, c + x + y, c + x - y]   (top-left, bottom-left, bottom-right, top-right)

and the output square ``[0, S)²`` is mapped onto that quad. Coordinates everywhere in this module are *pixel
index* coordinates (the centre of pixel ``(i, j)`` is at ``x = i, y = j``), as dlib's landmarks are. With that
convention the recipe's ``PIL.Image.QUAD`` transform (which receives ``quad + 0.5``) sends aligned pixel ``(u, v)``
of an ``S``-pixel output to the photo point

    p = quad[0] + (quad[3] - quad[0]) (u + 0.5) / S + (quad[1] - quad[0]) (v + 0.5) / S,

an affine map whatever the intermediate shrink / transform sizes; :class:`FaceTransform` holds it as a 3×3
matrix. The pixel work follows the recipe: shrink (antialiased) when the face is much larger than the output,
crop with a border, reflect-pad and blur the padding when the square leaves the photo, transform at up to 4×
the output size, and downsample with an antialiasing filter.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from faceedit.align.detect import detect_faces
from faceedit.align.image import load_image
from faceedit.align.landmarks import ffhq_quad
from faceedit.errors import FaceEditError

#: Faces whose eye centres are closer than this (pixels) are refused as too small to align.
MIN_EYE_DISTANCE = 8.0
MIN_SIZE, MAX_SIZE = 16, 1024


def _check_size(size: int) -> int:
    if int(size) != size or not (MIN_SIZE <= int(size) <= MAX_SIZE):
        raise FaceEditError(f"output size must be an integer from {MIN_SIZE} to {MAX_SIZE}, got {size}")
    return int(size)


@dataclass
class FaceTransform:
    """The exact map between an ``size``-pixel aligned square and the original photo.

    ``quad``: ``[4, 2]`` corners in photo pixel coordinates (top-left, bottom-left, bottom-right, top-right of the
    aligned square); ``matrix``: 3×3, aligned pixel ``(u, v, 1)`` → photo pixel ``(x, y, 1)``; ``inverse``: the
    reverse map. ``photo_shape``: ``(H, W)`` of the photo.
    """

    quad: np.ndarray
    size: int
    photo_shape: tuple[int, int]

    @property
    def matrix(self) -> np.ndarray:
        q = np.asarray(self.quad, dtype=np.float64)
        ex = (q[3] - q[0]) / self.size
        ey = (q[1] - q[0]) / self.size
        t = q[0] + 0.5 * (ex + ey)
        return np.array([[ex[0], ey[0], t[0]], [ex[1], ey[1], t[1]], [0.0, 0.0, 1.0]])

    @property
    def inverse(self) -> np.ndarray:
        return np.linalg.inv(self.matrix)

    @property
    def scale(self) -> float:
        """Photo pixels per aligned pixel."""
        return float(np.hypot(*(self.quad[3] - self.quad[0])) / self.size)

    def for_size(self, size: int) -> "FaceTransform":
        """The same square at another output size (e.g. a 1024-px generator output for a 256-px alignment)."""
        return FaceTransform(quad=np.array(self.quad, dtype=np.float64), size=int(size), photo_shape=self.photo_shape)

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Map ``[N, 2]`` aligned-frame points to photo coordinates."""
        p = np.asarray(points, dtype=np.float64)
        return p @ self.matrix[:2, :2].T + self.matrix[:2, 2]

    def to_aligned(self, points: np.ndarray) -> np.ndarray:
        """Map ``[N, 2]`` photo points to aligned-frame coordinates."""
        inv = self.inverse
        p = np.asarray(points, dtype=np.float64)
        return p @ inv[:2, :2].T + inv[:2, 2]

    def padding_fraction(self) -> float:
        """Fraction of the aligned square whose source lies outside the photo (filled by reflect-padding)."""
        n = 64
        g = (np.arange(n) + 0.5) * self.size / n - 0.5
        uu, vv = np.meshgrid(g, g)
        p = self.to_photo(np.stack([uu.ravel(), vv.ravel()], 1))
        h, w = self.photo_shape
        outside = (p[:, 0] < -0.5) | (p[:, 0] > w - 0.5) | (p[:, 1] < -0.5) | (p[:, 1] > h - 0.5)
        return float(outside.mean())

    def _photo_coords(self) -> np.ndarray:
        """Photo coordinates ``[2, S, S]`` (x, y) of every aligned pixel centre."""
        s = self.size
        g = np.arange(s, dtype=np.float64)
        uu, vv = np.meshgrid(g, g)
        m = self.matrix
        return np.stack([m[0, 0] * uu + m[0, 1] * vv + m[0, 2], m[1, 0] * uu + m[1, 1] * vv + m[1, 2]])

    def warp_mask(self, mask: np.ndarray, order: str = "nearest", outside: str | float = "reflect") -> np.ndarray:
        """Warp a mask given in photo pixels into the aligned square, exactly as the image was warped.

        ``mask``: ``H×W`` or ``H×W×C`` with the photo's ``H×W``. ``order``: ``"nearest"`` (label maps; the
        default) or ``"linear"`` (soft masks, returned as float32). ``outside``: ``"reflect"`` mirrors the mask
        where the square leaves the photo (as the image is mirrored), ``"edge"`` repeats the border, or a number
        fills that value. Returns ``size×size`` (×C) with the mask's dtype for nearest.
        """
        mask = np.asarray(mask)
        h, w = self.photo_shape
        if mask.shape[:2] != (h, w):
            raise FaceEditError(f"mask shape {mask.shape[:2]} does not match the photo's {(h, w)}")
        x, y = self._photo_coords()
        if order == "nearest":
            xi, yi = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            out = mask[_fold(yi, h, outside), _fold(xi, w, outside)]
            if not isinstance(outside, str):
                out = np.where(inside if out.ndim == 2 else inside[..., None], out, np.asarray(outside, out.dtype))
            return out
        if order != "linear":
            raise FaceEditError(f"unknown interpolation {order!r}: use nearest or linear")
        m = mask.astype(np.float32)
        x0, y0 = np.floor(x), np.floor(y)
        fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        mode = outside if isinstance(outside, str) else "edge"

        def at(yy, xx):
            return m[_fold(yy, h, mode), _fold(xx, w, mode)]

        if m.ndim == 3:
            fx, fy = fx[..., None], fy[..., None]
        out = (at(y0, x0) * (1 - fx) * (1 - fy) + at(y0, x0 + 1) * fx * (1 - fy)
               + at(y0 + 1, x0) * (1 - fx) * fy + at(y0 + 1, x0 + 1) * fx * fy)
        if not isinstance(outside, str):
            inside = (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
            out = np.where(inside if out.ndim == 2 else inside[..., None], out, np.float32(outside))
        return out.astype(np.float32)

    def unwarp(self, aligned: np.ndarray, box: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Warp an aligned-frame array (``S×S`` or ``S×S×C``, any square size) back to photo pixels.

        Returns ``(values, valid)`` over ``box = (x0, y0, x1, y1)`` of the photo (default: the square's bounding
        box clipped to the photo): float32 values (bilinear) and a float32 ``valid`` map, 1 where the photo pixel
        falls inside the aligned square.
        """
        a = np.asarray(aligned, dtype=np.float32)
        s = a.shape[0]
        if a.shape[1] != s:
            raise FaceEditError(f"aligned image must be square, got {a.shape[:2]}")
        t = self.for_size(s)
        if box is None:
            box = t.photo_box()
        x0, y0, x1, y1 = box
        inv = t.inverse
        gx = np.arange(x0, x1, dtype=np.float64)
        gy = np.arange(y0, y1, dtype=np.float64)
        xx, yy = np.meshgrid(gx, gy)
        u = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
        v = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
        valid = ((u >= -0.5) & (u <= s - 0.5) & (v >= -0.5) & (v <= s - 0.5)).astype(np.float32)
        u0, v0 = np.floor(u), np.floor(v)
        fu, fv = (u - u0).astype(np.float32), (v - v0).astype(np.float32)
        u0, v0 = u0.astype(np.int64), v0.astype(np.int64)

        def at(vv, uu):
            return a[np.clip(vv, 0, s - 1), np.clip(uu, 0, s - 1)]

        if a.ndim == 3:
            fu, fv = fu[..., None], fv[..., None]
        vals = (at(v0, u0) * (1 - fu) * (1 - fv) + at(v0, u0 + 1) * fu * (1 - fv)
                + at(v0 + 1, u0) * (1 - fu) * fv + at(v0 + 1, u0 + 1) * fu * fv)
        return vals.astype(np.float32), valid

    def photo_box(self) -> tuple[int, int, int, int]:
        """Integer bounding box ``(x0, y0, x1, y1)`` of the aligned square in the photo, clipped to the photo."""
        h, w = self.photo_shape
        corners = self.to_photo(np.array([[-0.5, -0.5], [-0.5, self.size - 0.5], [self.size - 0.5, self.size - 0.5],
                                          [self.size - 0.5, -0.5]]))
        x0 = max(0, int(math.floor(corners[:, 0].min())))
        y0 = max(0, int(math.floor(corners[:, 1].min())))
        x1 = min(w, int(math.ceil(corners[:, 0].max())) + 1)
        y1 = min(h, int(math.ceil(corners[:, 1].max())) + 1)
        return x0, y0, max(x0, x1), max(y0, y1)

    def to_dict(self) -> dict:
        return {"quad": np.asarray(self.quad).round(4).tolist(), "size": self.size,
                "photo_shape": list(self.photo_shape), "matrix": self.matrix.round(6).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "FaceTransform":
        return cls(quad=np.asarray(d["quad"], dtype=np.float64), size=int(d["size"]),
                   photo_shape=(int(d["photo_shape"][0]), int(d["photo_shape"][1])))


def _fold(idx: np.ndarray, n: int, mode) -> np.ndarray:
    """Bring indices into ``[0, n)``: mirror without repeating the edge (numpy's 'reflect'), or clamp."""
    if mode == "reflect" and n > 1:
        period = 2 * (n - 1)
        idx = np.mod(idx, period)
        return np.where(idx >= n, period - idx, idx)
    return np.clip(idx, 0, n - 1)


@dataclass
class AlignedFace:
    """The result of :func:`align_face`.

    ``image``: ``size×size×3`` uint8; ``landmarks``: ``[68, 2]`` in the aligned frame; ``transform``: the
    :class:`FaceTransform` (aligned ↔ photo); ``face``: the detected :class:`~faceedit.align.detect.Face` in photo
    coordinates; ``padding``: fraction of the square that came from reflect-padding outside the photo.
    """

    image: np.ndarray
    landmarks: np.ndarray
    transform: FaceTransform
    face: object = None
    padding: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.transform.size


def _gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, [sigma, sigma, 0] if img.ndim == 3 else sigma, mode="reflect")


def warp_to_square(img: np.ndarray, quad: np.ndarray, size: int) -> np.ndarray:
    """The recipe's pixel work: shrink, crop, reflect-pad with blur, transform, resize → ``size×size×3`` uint8."""
    from PIL import Image

    q = np.array(quad, dtype=np.float64)
    qsize = float(np.hypot(*(q[3] - q[0])))
    im = np.asarray(img)
    h, w = im.shape[:2]

    # Shrink: downsample (antialiased) first when the face is much larger than the output.
    shrink = int(math.floor(qsize / size * 0.5))
    if shrink > 1:
        nw, nh = max(1, int(round(w / shrink))), max(1, int(round(h / shrink)))
        im = np.asarray(Image.fromarray(im).resize((nw, nh), Image.LANCZOS))
        sx, sy = nw / w, nh / h
        q = (q + 0.5) * np.array([sx, sy]) - 0.5
        qsize *= 0.5 * (sx + sy)
        h, w = nh, nw

    # Crop to the square plus a border.
    border = max(int(round(qsize * 0.1)), 3)
    lo = np.floor(q.min(0)).astype(int)
    hi = np.ceil(q.max(0)).astype(int)
    cx0, cy0 = max(lo[0] - border, 0), max(lo[1] - border, 0)
    cx1, cy1 = min(hi[0] + border, w), min(hi[1] + border, h)
    if cx1 <= cx0 or cy1 <= cy0:
        raise FaceEditError("the face square lies entirely outside the image")
    if cx1 - cx0 < w or cy1 - cy0 < h:
        im = im[cy0:cy1, cx0:cx1]
        q = q - np.array([cx0, cy0])
        h, w = im.shape[:2]

    # Pad with reflection where the square leaves the image, blurring and fading the padded area.
    lo = np.floor(q.min(0)).astype(int)
    hi = np.ceil(q.max(0)).astype(int)
    pad = [max(-lo[0] + border, 0), max(-lo[1] + border, 0), max(hi[0] - w + border, 0), max(hi[1] - h + border, 0)]
    if max(pad) > border - 4:
        p = max(int(round(qsize * 0.3)), 1)
        pad = [max(v, p) for v in pad]
        # numpy's reflect needs pad < size per round; repeat for large pads on small crops.
        f = im.astype(np.float32)
        todo = list(pad)
        while any(todo):
            step = [min(todo[0], f.shape[1] - 1), min(todo[1], f.shape[0] - 1),
                    min(todo[2], f.shape[1] - 1), min(todo[3], f.shape[0] - 1)]
            f = np.pad(f, ((step[1], step[3]), (step[0], step[2]), (0, 0)), mode="reflect")
            todo = [a - b for a, b in zip(todo, step)]
        ph, pw = f.shape[:2]
        yy = np.arange(ph, dtype=np.float32)[:, None, None]
        xx = np.arange(pw, dtype=np.float32)[None, :, None]
        m = np.maximum(1.0 - np.minimum(xx / pad[0], (pw - 1 - xx) / pad[2]),
                       1.0 - np.minimum(yy / pad[1], (ph - 1 - yy) / pad[3]))
        blur = qsize * 0.02
        f += (_gaussian(f, blur) - f) * np.clip(m * 3.0 + 1.0, 0.0, 1.0)
        f += (np.median(f, axis=(0, 1)) - f) * np.clip(m, 0.0, 1.0)
        im = np.clip(np.rint(f), 0, 255).astype(np.uint8)
        q = q + np.array(pad[:2])

    # Transform at up to 4x the output size (bilinear), then downsample with an antialiasing filter.
    ratio = qsize / size
    tsize = size * int(min(4, max(1, math.ceil(ratio - 1e-6))))
    ex = (q[3] - q[0]) / tsize
    ey = (q[1] - q[0]) / tsize
    data = (ex[0], ey[0], q[0][0] + 0.5, ex[1], ey[1], q[0][1] + 0.5)
    out = Image.fromarray(np.ascontiguousarray(im)).transform((tsize, tsize), Image.AFFINE, data, Image.BILINEAR)
    if tsize != size:
        out = out.resize((size, size), Image.LANCZOS)
    return np.asarray(out, dtype=np.uint8)


def align_landmarks(img: np.ndarray, landmarks: np.ndarray, size: int = 256, face=None) -> AlignedFace:
    """Align ``img`` (``H×W×3`` uint8 RGB) from known 68 landmarks (no detector needed)."""
    size = _check_size(size)
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise FaceEditError(f"expected an H×W×3 uint8 RGB image, got shape {img.shape} dtype {img.dtype}")
    quad, _ = ffhq_quad(landmarks)
    t = FaceTransform(quad=quad, size=size, photo_shape=img.shape[:2])
    image = warp_to_square(img, quad, size)
    return AlignedFace(image=image, landmarks=t.to_aligned(landmarks), transform=t, face=face,
                       padding=t.padding_fraction())


def align_face(img, size: int = 256, face_index: int | None = None, *, faces: list | None = None,
               detector: str = "auto", min_eye_distance: float = MIN_EYE_DISTANCE, name: str | None = None,
               all_faces: bool = False):
    """Detect a face in ``img`` and return its FFHQ-aligned crop as an :class:`AlignedFace`.

    ``img``: ``H×W×3`` uint8 RGB array, or a path (read with :func:`~faceedit.align.image.load_image`).
    ``size``: output side, 16–1024. ``face_index``: which face when several are found, counting from the
    largest (0); default: the largest. ``faces``: pre-computed detections (skips detection). ``name``: used in
    messages (default: the path, or "the image"). ``all_faces=True`` returns a list with every face instead
    (too-small faces are skipped there, unless all are too small).

    Raises :class:`FaceEditError`: no face found, index out of range, face too small (eye distance below
    ``min_eye_distance`` pixels), or dlib missing.
    """

    size = _check_size(size)
    if isinstance(img, (str, os.PathLike)):
        name = name or str(img)
        img = load_image(img)
    name = name or "the image"
    if faces is None:
        faces = detect_faces(img, detector=detector, name=name)
    if not faces:
        raise FaceEditError(f"no face found in {name}")

    def too_small(f):
        return f.eye_distance < min_eye_distance

    def msg(f):
        return (f"face too small to align in {name}: eyes {f.eye_distance:.1f} px apart, need at least "
                f"{min_eye_distance:g} (use a larger photo)")

    if all_faces:
        usable = [f for f in faces if not too_small(f)]
        if not usable:
            raise FaceEditError(msg(faces[0]))
        return [align_landmarks(img, f.landmarks, size, face=f) for f in usable]
    if face_index is None:
        face_index = 0
    if not (-len(faces) <= face_index < len(faces)):
        raise FaceEditError(f"face index {face_index} out of range: {len(faces)} face(s) found in {name}")
    face = faces[face_index]
    if too_small(face):
        raise FaceEditError(msg(face))
    return align_landmarks(img, face.landmarks, size, face=face)


def face_region_mask(aligned: AlignedFace, size: int | None = None, feather: float = 0.04,
                     region: str = "face") -> np.ndarray:
    """A soft ``size×size`` float32 mask in the aligned frame: 1 on the face, fading to 0 over ``feather``.

    ``region``: ``"face"`` (landmark hull with the forehead, grown a little) or ``"square"`` (the whole square).
    ``feather``: fade width as a fraction of the square's side. The mask always fades to 0 at the square's border.
    """
    from PIL import Image, ImageDraw

    s = int(size or aligned.size)
    fpx = max(1.0, feather * s)
    border = np.minimum.reduce(np.meshgrid(np.arange(s) + 0.5, np.arange(s) + 0.5) +
                               np.meshgrid(s - 0.5 - np.arange(s), s - 0.5 - np.arange(s)))
    edge = np.clip(border / (2.0 * fpx), 0.0, 1.0).astype(np.float32)
    if region == "square":
        return edge
    if region != "face":
        raise FaceEditError(f"unknown paste-back region {region!r}: use face or square")
    lm = (np.asarray(aligned.landmarks, dtype=np.float64) + 0.5) * (s / aligned.size) - 0.5
    eye_avg = 0.5 * (lm[36:42].mean(0) + lm[42:48].mean(0))
    mouth_avg = 0.5 * (lm[48] + lm[54])
    up = eye_avg - mouth_avg  # towards the forehead
    forehead = lm[17:27] + 0.9 * up
    pts = np.concatenate([lm[0:17], forehead, lm[17:27]])
    centre = pts.mean(0)
    pts = centre + (pts - centre) * 1.06  # grow the hull a little
    canvas = Image.new("L", (s, s), 0)
    from scipy.spatial import ConvexHull

    hull = pts[ConvexHull(pts).vertices]
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in hull], fill=255)
    from scipy.ndimage import gaussian_filter

    m = gaussian_filter(np.asarray(canvas, dtype=np.float32) / 255.0, fpx / 2.0)
    return (m * edge).astype(np.float32)


def _as_hwc_float(edited) -> np.ndarray:
    """Accept ``H×W×3`` uint8 / float [0, 255] arrays, PIL images, or torch ``[1,]3×H×W`` tensors in [-1, 1]."""
    if hasattr(edited, "detach") and hasattr(edited, "cpu"):  # torch tensor, generator convention
        t = edited.detach().float().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise FaceEditError(f"paste_back takes one image, got a batch of {t.shape[0]}")
            t = t[0]
        if t.ndim != 3 or t.shape[0] != 3:
            raise FaceEditError(f"expected a 3×H×W tensor, got shape {tuple(t.shape)}")
        return ((t.clamp(-1, 1).permute(1, 2, 0).numpy() + 1.0) * 127.5).astype(np.float32)
    a = np.asarray(edited)
    if a.ndim != 3 or a.shape[2] != 3:
        raise FaceEditError(f"expected an H×W×3 edited image, got shape {a.shape}")
    return a.astype(np.float32)


def paste_back(original_img: np.ndarray, aligned_face: AlignedFace, edited_aligned_img, feather: float = 0.04,
               region: str = "face", reference=None) -> np.ndarray:
    """Warp an edited aligned image back into the photo and blend it in with a feathered face mask.

    ``original_img``: the photo (``H×W×3`` uint8) that ``aligned_face`` came from. ``edited_aligned_img``: the
    edited square at any size (``S×S×3`` uint8 / float in [0, 255], or a torch ``3×S×S`` tensor in [-1, 1]).
    ``feather``: fade width as a fraction of the square. ``region``: ``"face"`` or ``"square"``
    (see :func:`face_region_mask`). Returns a new ``H×W×3`` uint8 photo.

    ``reference``: the generator's reconstruction of the unedited face (same size and rendering as the edited
    image). With it, only the *change* the edit makes (edited − reference, upsampled smoothly to the face's size in
    the photo) is added to the photo's own pixels inside the feathered mask, so the photo keeps its resolution and
    detail wherever the edit changes nothing; without it, the generator's face replaces the photo's.
    """
    from PIL import Image

    photo = np.asarray(original_img)
    t = aligned_face.transform
    if photo.shape[:2] != tuple(t.photo_shape):
        raise FaceEditError(f"paste_back: photo is {photo.shape[1]}x{photo.shape[0]} but the face was aligned "
                            f"from a {t.photo_shape[1]}x{t.photo_shape[0]} photo")
    edited = _as_hwc_float(edited_aligned_img)
    s = edited.shape[0]
    if edited.shape[1] != s:
        raise FaceEditError(f"edited image must be square, got {edited.shape[1]}x{edited.shape[0]}")
    # If the square is much larger than the face in the photo, downsample it first (antialiased).
    target = int(round(t.scale * t.size))
    if s > 2 * max(target, 16):
        s2 = max(target, 16)
        edited = np.asarray(Image.fromarray(np.clip(np.rint(edited), 0, 255).astype(np.uint8)).resize(
            (s2, s2), Image.LANCZOS), dtype=np.float32)
        s = s2
    mask = face_region_mask(aligned_face, s, feather=feather, region=region)
    ts = t.for_size(s)
    box = ts.photo_box()
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return photo.copy()
    if reference is not None:
        ref = _as_hwc_float(reference)
        if ref.shape[0] != ref.shape[1]:
            raise FaceEditError(f"reference image must be square, got {ref.shape[1]}x{ref.shape[0]}")
        if ref.shape[0] != s:
            ref = np.asarray(Image.fromarray(np.clip(np.rint(ref), 0, 255).astype(np.uint8)).resize(
                (s, s), Image.LANCZOS), dtype=np.float32)
        edited = edited - ref  # the change, in [-255, 255]
    vals, valid = ts.unwarp(edited, box)
    m, _ = ts.unwarp(mask, box)
    m = (m * valid)[..., None]
    out = photo.astype(np.float32).copy()
    region_px = out[y0:y1, x0:x1]
    if reference is not None:
        out[y0:y1, x0:x1] = region_px + vals * m
    else:
        out[y0:y1, x0:x1] = region_px * (1.0 - m) + vals * m
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
