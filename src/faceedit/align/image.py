"""Read any photo a user may hand us into an ``H×W×3`` uint8 RGB array, or fail with one clear line.

Handled: EXIF orientation, grayscale / palette / bilevel, RGBA and LA (composited over white), CMYK, 16-bit and
32-bit integer or float images, multi-frame files (first frame), a pixel cap against decompression bombs, and
zero-byte, truncated, corrupt or non-image files.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np

from faceedit.errors import FaceEditError
from faceedit.limits import is_temporary_name, regular_file

#: Default pixel cap (width × height) of :func:`load_image`: 64 megapixels, e.g. 8000×8000.
DEFAULT_MAX_PIXELS = 64_000_000

#: File name suffixes treated as images when a folder is scanned.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".jfif")


def _to_rgb_uint8(im) -> np.ndarray:
    """Convert an opened PIL image of any mode to an ``H×W×3`` uint8 RGB array."""
    from PIL import Image

    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8).copy()
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8).copy()
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(im).astype(np.float64)
        if mode == "F":
            finite = arr[np.isfinite(arr)]
            top = float(finite.max()) if finite.size else 1.0
            scale = 255.0 if top <= 1.0 else (1.0 if top <= 255.0 else 255.0 / 65535.0)
        elif mode == "I" and arr.size and arr.max() > 65535:
            scale = 255.0 / float(arr.max())
        elif mode == "I" and arr.size and arr.max() <= 255 and im.format not in ("PNG", "TIFF"):
            scale = 1.0
        else:  # 16-bit data (PNG / TIFF store it as I;16 or I)
            scale = 255.0 / 65535.0
        gray = np.clip(np.rint(np.nan_to_num(arr) * scale), 0, 255).astype(np.uint8)
        if gray.ndim == 3:  # some 16-bit multi-channel variants come back as H×W×C
            gray = gray[..., :3] if gray.shape[2] >= 3 else gray[..., :1]
            return np.ascontiguousarray(np.broadcast_to(gray, gray.shape[:2] + (3,)))
        return np.repeat(gray[:, :, None], 3, axis=2)
    # 1, L, P, CMYK, YCbCr, LAB, HSV, ...: PIL knows the conversion.
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as an ``H×W×3`` uint8 RGB array, upright (EXIF orientation applied).

    Raises :class:`FaceEditError` with a one-line message naming the file when it is missing, empty, not an image,
    corrupt or truncated, or larger than ``max_pixels`` (width × height; a guard against decompression bombs —
    the size is read from the header before any pixel is decoded).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    name = str(path)
    if not path.exists():
        raise FaceEditError(f"no such file: {name}")
    if path.is_dir():
        raise FaceEditError(f"{name} is a folder, not an image")
    regular_file(path, "image")  # a FIFO or device would block or never end
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FaceEditError(f"cannot read {name}: {exc.strerror or exc}") from None
    if size == 0:
        raise FaceEditError(f"empty file (0 bytes): {name}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise FaceEditError(f"image too large: {name} exceeds the pixel cap of {max_pixels:,} pixels") from None
    except UnidentifiedImageError:
        raise FaceEditError(f"not an image or an unsupported format: {name}") from None
    except OSError as exc:
        raise FaceEditError(f"cannot read {name}: {exc.strerror or exc}") from None
    except (ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError, struct.error, MemoryError) as exc:
        # e.g. a PNG whose text chunk decompresses past Pillow's metadata cap, or a malformed header
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if "TEXT_CHUNK" in detail or "TEXT_MEMORY" in detail:
            detail = "its metadata (a PNG text chunk) is too large"
        raise FaceEditError(f"corrupt or unsupported image: {name} ({detail})") from None
    with im:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise FaceEditError(f"image has no pixels ({w}x{h}): {name}")
        if w * h > max_pixels:
            raise FaceEditError(f"image too large: {name} is {w}x{h} = {w * h:,} pixels, over the cap of "
                                f"{max_pixels:,} (a guard against decompression bombs; raise max_pixels to allow it)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im.seek(0)
                im.load()
                im = ImageOps.exif_transpose(im) or im
                arr = _to_rgb_uint8(im)
        except Image.DecompressionBombError:
            raise FaceEditError(f"image too large: {name} exceeds the pixel cap of {max_pixels:,} pixels") from None
        except MemoryError:
            raise FaceEditError(f"out of memory decoding {name} ({w}x{h})") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, struct.error,
                ZeroDivisionError, AttributeError) as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise FaceEditError(f"corrupt or truncated image: {name} ({detail})") from None
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FaceEditError(f"could not convert {name} to an RGB image")
    return arr


def is_image_name(path: str | os.PathLike) -> bool:
    """True when the file name has an image suffix (used to pick files out of a folder); hidden files and the
    temporaries of interrupted writes (``.NAME.tmp.*``) are not images."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES and not is_temporary_name(Path(path).name)
