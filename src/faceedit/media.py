"""Images, grids, GIFs and videos in and out. Every file is written atomically."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from faceedit.atomic import atomic_path, write_bytes
from faceedit.errors import FaceEditError

IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
ANIMATION_SUFFIXES = (".gif", ".mp4")


def to_uint8(images) -> np.ndarray:
    """Generator output [N, C, H, W] (or [C, H, W]) in [-1, 1] → uint8 [N, H, W, C] (or [H, W, C]).
    Non-finite pixels raise :class:`FaceEditError` (they would silently turn black)."""
    import torch

    if isinstance(images, torch.Tensor):
        x = images.detach().to("cpu", torch.float32)
        if not bool(torch.isfinite(x).all()):
            raise FaceEditError("the generator drew NaN or infinite pixels: its weights or the latent code are "
                                "broken (no image written)")
        x = (x * 127.5 + 128).clamp(0, 255).to(torch.uint8)
        x = x.permute(0, 2, 3, 1) if x.ndim == 4 else x.permute(1, 2, 0)
        return x.numpy()
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise TypeError("expected a float tensor in [-1, 1] or a uint8 array")
    return arr


def _format_for(path: Path) -> str:
    fmt = IMAGE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise FaceEditError(f"unsupported image type {path.suffix!r} for {path} (use .png, .jpg or .webp)")
    return fmt


def save_image(path: str | Path, image: np.ndarray, quality: int = 95) -> Path:
    """Save an HxWx3 uint8 image; the format follows the suffix (.png, .jpg, .webp)."""
    path = Path(path)
    fmt = _format_for(path)
    img = Image.fromarray(np.ascontiguousarray(image))
    buf = io.BytesIO()
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    img.save(buf, format=fmt, **kwargs)
    write_bytes(path, buf.getvalue())
    return path


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """(rows, columns) of a grid of ``n`` images with ``cols`` columns (default: near-square)."""
    cols = max(1, min(int(cols or math.ceil(math.sqrt(n))), n))
    return int(math.ceil(n / cols)), cols


def make_grid(images: Sequence[np.ndarray] | np.ndarray, cols: int | None = None, pad: int = 0,
              background: int = 255) -> np.ndarray:
    """Tile N equally sized HxWxC uint8 images into one image, ``cols`` per row (default: near-square)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    from faceedit.limits import MAX_GRID_PIXELS, check_pixels

    check_pixels(rows * cols * h * w, MAX_GRID_PIXELS, f"a grid of {n:,} images")
    grid = np.full((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, c), background, dtype=np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, cols)
        grid[r * (h + pad):r * (h + pad) + h, q * (w + pad):q * (w + pad) + w] = img
    return grid


def save_animation(path: str | Path, frames: Iterable[np.ndarray], fps: float = 24.0, loop: bool = True) -> Path:
    """Write frames (HxWx3 uint8) as an animated GIF or an H.264 MP4 (needs ``imageio-ffmpeg``)."""
    path = Path(path)
    frames = [np.ascontiguousarray(f) for f in frames]
    if not frames:
        raise FaceEditError("no frames to write")
    suffix = path.suffix.lower()
    if suffix == ".gif":
        pil = [Image.fromarray(f) for f in frames]
        buf = io.BytesIO()
        pil[0].save(buf, format="GIF", save_all=True, append_images=pil[1:], duration=int(round(1000 / fps)),
                    loop=0 if loop else 1, optimize=False, disposal=2)
        write_bytes(path, buf.getvalue())
        return path
    if suffix == ".mp4":
        try:
            import imageio.v2 as imageio
        except ImportError as exc:
            raise FaceEditError("writing MP4 needs imageio and imageio-ffmpeg: pip install 'faceedit[edit]'") from exc
        with atomic_path(path) as tmp:
            try:
                writer = imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                            quality=8, macro_block_size=1)
            except Exception as exc:  # noqa: BLE001 - imageio raises various errors when ffmpeg is missing
                raise FaceEditError(f"cannot write MP4 ({exc}); install imageio-ffmpeg or use .gif") from exc
            with writer:
                for f in frames:
                    writer.append_data(f)
        return path
    raise FaceEditError(f"unsupported animation type {path.suffix!r} for {path} (use .gif or .mp4)")
