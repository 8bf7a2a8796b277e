"""Inputs of many images for ``faceedit stylize``: a folder of photos, an animated GIF or an MP4, and the same kind
of output (a folder, a GIF, an MP4), plus the flicker measure of a stylised animation.

Frames are uint8 ``H×W×3``. Reading caps the frame count (:data:`faceedit.limits.MAX_FRAMES`) and the pixels of all
frames together (:data:`faceedit.limits.MAX_ANIMATION_PIXELS`) before decoding more than the header.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from faceedit.errors import FaceEditError

ANIMATION_SUFFIXES = (".gif", ".mp4")
#: Output suffixes a folder's photos keep; other image types are written as .png.
KEEP_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def input_kind(path: str | os.PathLike) -> str:
    """'folder', 'gif', 'mp4' or 'photo' for an input path (which must exist)."""
    p = Path(path)
    if not p.exists():
        raise FaceEditError(f"no such file or folder: {p}")
    if p.is_dir():
        return "folder"
    suffix = p.suffix.lower()
    if suffix == ".mp4":
        return "mp4"
    if suffix == ".gif":
        try:
            from PIL import Image

            with Image.open(p) as im:
                return "gif" if getattr(im, "n_frames", 1) > 1 else "photo"
        except Exception:  # noqa: BLE001 - the photo reader gives the one-line reason
            return "photo"
    return "photo"


def check_output(kind: str, out: Path) -> None:
    """The output must be the same kind as the input: a folder for a folder, .gif / .mp4 for an animation
    (either), an image suffix for a photo."""
    from faceedit.media import IMAGE_SUFFIXES

    suffix = out.suffix.lower()
    if kind == "folder":
        if out.exists() and not out.is_dir():
            raise FaceEditError(f"the input is a folder, so -o must be a folder; {out} is a file")
        if suffix in IMAGE_SUFFIXES or suffix in ANIMATION_SUFFIXES:
            raise FaceEditError(f"the input is a folder, so -o must be a folder, not {out}")
    elif kind in ("gif", "mp4"):
        if suffix not in ANIMATION_SUFFIXES:
            raise FaceEditError(f"the input is an animation, so -o must end in .gif or .mp4, not {out.name}")
    elif suffix not in IMAGE_SUFFIXES:
        raise FaceEditError(f"unsupported output type {out.suffix!r} for {out} (use .png, .jpg or .webp)")
    if kind != "folder" and out.is_dir():
        raise FaceEditError(f"-o {out} is a folder; give a file name")


def folder_images(folder: Path) -> list[Path]:
    """The photos in ``folder`` (not recursive; hidden and temporary files left out), sorted by name."""
    from faceedit.align.image import is_image_name
    from faceedit.limits import regular_files

    return sorted(p for p in regular_files(folder.iterdir()) if is_image_name(p))


def output_name(photo: Path) -> str:
    """The output file name for a photo of a folder: the same name, or .png for other image types."""
    return photo.name if photo.suffix.lower() in KEEP_SUFFIXES else photo.stem + ".png"


def read_animation(path: str | os.PathLike) -> tuple[list[np.ndarray], float]:
    """Frames (uint8 H×W×3) and frames per second of a GIF or MP4."""
    from faceedit.limits import MAX_ANIMATION_PIXELS, MAX_FRAMES, regular_file

    p = regular_file(path, "animation")
    if p.suffix.lower() == ".gif":
        return _read_gif(p, MAX_FRAMES, MAX_ANIMATION_PIXELS)
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise FaceEditError("reading MP4 needs imageio and imageio-ffmpeg: pip install 'faceedit[edit]'") from None
    frames: list[np.ndarray] = []
    try:
        reader = imageio.get_reader(str(p), format="FFMPEG")
    except Exception as exc:  # noqa: BLE001 - imageio raises many types for a missing ffmpeg or a bad file
        raise FaceEditError(f"cannot read video {p}: {' '.join(str(exc).split())[:200]}") from None
    with reader:
        fps = float(reader.get_meta_data().get("fps") or 24.0)
        pixels = 0
        try:
            for f in reader:
                f = np.asarray(f)
                if f.ndim == 2:
                    f = np.repeat(f[..., None], 3, axis=2)
                pixels += f.shape[0] * f.shape[1]
                if len(frames) >= MAX_FRAMES or pixels > MAX_ANIMATION_PIXELS:
                    raise FaceEditError(f"video {p} is too long: more than {MAX_FRAMES} frames or "
                                        f"{MAX_ANIMATION_PIXELS:,} pixels in all")
                frames.append(np.ascontiguousarray(f[..., :3].astype(np.uint8)))
        except FaceEditError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise FaceEditError(f"cannot decode video {p}: {' '.join(str(exc).split())[:200]}") from None
    if not frames:
        raise FaceEditError(f"video {p} has no frames")
    return frames, fps


def _read_gif(p: Path, max_frames: int, max_pixels: int) -> tuple[list[np.ndarray], float]:
    from PIL import Image, ImageSequence

    try:
        with Image.open(p) as im:
            w, h = im.size
            n = getattr(im, "n_frames", 1)
            if n > max_frames or n * w * h > max_pixels:
                raise FaceEditError(f"GIF {p} is too large: {n} frames of {w}x{h} (at most {max_frames} frames and "
                                    f"{max_pixels:,} pixels in all)")
            frames, durations = [], []
            for frame in ImageSequence.Iterator(im):
                frames.append(np.asarray(frame.convert("RGB"), dtype=np.uint8).copy())
                durations.append(frame.info.get("duration") or 0)
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for corrupt GIFs
        raise FaceEditError(f"cannot read GIF {p}: {' '.join(str(exc).split())[:200] or type(exc).__name__}") from None
    ms = float(np.median([d for d in durations if d > 0])) if any(d > 0 for d in durations) else 100.0
    return frames, 1000.0 / max(ms, 10.0)


def mean_change(frames: list[np.ndarray]) -> float:
    """Mean absolute change between consecutive frames, in 0–255 pixel levels (0 for fewer than 2 frames)."""
    if len(frames) < 2:
        return 0.0
    total = 0.0
    for a, b in zip(frames[:-1], frames[1:]):
        total += float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
    return total / (len(frames) - 1)


def flicker(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> dict[str, float]:
    """Frame-to-frame change of ``outputs`` against ``inputs`` (resized to the outputs' size): their mean changes
    and the ratio (1: the stylised video changes as much as the input; well above 1: flicker)."""
    from PIL import Image

    size = outputs[0].shape[1], outputs[0].shape[0]
    ins = [f if (f.shape[1], f.shape[0]) == size else np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR))
           for f in inputs]
    a, b = mean_change(ins), mean_change(outputs)
    return {"input_change": round(a, 3), "output_change": round(b, 3), "ratio": round(b / a, 3) if a > 0 else 0.0}
