"""Training images held in memory as one uint8 tensor [N, 3, R, R].

``--data`` may be a folder of images (searched recursively), a zip of images (e.g. the project's pack), or a
``.npy`` / ``.pt`` uint8 array [N, 3, R, R] or [N, R, R, 3]. Images are decoded and resized to the training
resolution once at start (Lanczos, from the centre square if not square).
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from faceedit.errors import FaceEditError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def _to_array(data: bytes | Path, res: int) -> np.ndarray:
    from PIL import Image

    img = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    img = img.convert("RGB")
    w, h = img.size
    if w != h:
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    if img.size != (res, res):
        if hasattr(img, "reduce") and img.size[0] >= 2 * res:  # fast integer pre-reduction, then Lanczos
            factor = img.size[0] // (2 * res)
            if factor > 1:
                img = img.reduce(factor)
        img = img.resize((res, res), Image.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith("."))


def load_images(path: str | Path, res: int, limit: int | None = None, progress: bool = False,
                split: str = "all") -> torch.Tensor:
    """Decode a folder / zip / array file into a uint8 tensor [N, 3, res, res]. ``split`` (train | val | all)
    selects rows of a build folder's or pack's manifest (identity-disjoint splits); plain folders, zips and arrays
    have no split and are read whole."""
    path = Path(path)
    if not path.exists():
        raise FaceEditError(f"training data not found: {path}")
    arrays: list[np.ndarray] = []
    bar = None
    packed = _load_with_data_package(path, res, limit, split)
    if packed is not None:
        return packed
    if path.is_dir():
        files = list_images(path)[:limit]
        if not files:
            raise FaceEditError(f"no images (.jpg/.png/.webp) in {path}")
        if progress and sys.stderr.isatty():
            from tqdm import tqdm
            bar = tqdm(total=len(files), desc="decoding", unit="img", leave=False)
        for f in files:
            try:
                arrays.append(_to_array(f, res))
            except Exception as exc:  # noqa: BLE001
                raise FaceEditError(f"cannot read image {f}: {exc}") from exc
            if bar is not None:
                bar.update(1)
    elif path.suffix.lower() == ".zip":
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise FaceEditError(f"not a zip file: {path}") from exc
        with zf:
            names = sorted(n for n in zf.namelist() if Path(n).suffix.lower() in IMAGE_SUFFIXES)[:limit]
            if not names:
                raise FaceEditError(f"no images in {path}")
            for n in names:
                try:
                    arrays.append(_to_array(zf.read(n), res))
                except Exception as exc:  # noqa: BLE001
                    raise FaceEditError(f"cannot read image {n} in {path}: {exc}") from exc
    elif path.suffix.lower() in (".npy", ".pt"):
        arr = np.load(path) if path.suffix.lower() == ".npy" else torch.load(path, weights_only=True).numpy()
        if arr.dtype != np.uint8 or arr.ndim != 4:
            raise FaceEditError(f"{path}: expected a uint8 array [N, 3, R, R] or [N, R, R, 3]")
        t = torch.from_numpy(np.ascontiguousarray(arr))
        if t.shape[-1] == 3:
            t = t.permute(0, 3, 1, 2)
        t = t[:limit]
        if t.shape[-1] != res:
            t = torch.nn.functional.interpolate(t.float(), size=(res, res), mode="area").round().clamp(0, 255)
            t = t.to(torch.uint8)
        return t.contiguous()
    else:
        raise FaceEditError(f"--data must be a folder of images, a .zip, .npy or .pt: {path}")
    if bar is not None:
        bar.close()
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _load_with_data_package(path: Path, res: int, limit: int | None, split: str = "all") -> torch.Tensor | None:
    """Packs (.zip/.tar with a manifest) and build folders of :mod:`faceedit.data`: every split, as uint8."""
    is_pack = path.is_file() and path.suffix.lower() in (".zip", ".tar")
    is_build = path.is_dir() and (path / "manifest.jsonl").is_file()
    if not (is_pack or is_build):
        return None
    try:
        from faceedit.data import ImageFolderDataset, PackDataset
    except ImportError:
        return None
    if is_pack:
        import zipfile as _zf

        if path.suffix.lower() == ".zip" and "manifest.jsonl" not in _zf.ZipFile(path).namelist():
            return None
        ds = PackDataset(path, resolution=res, split=split)
    else:
        ds = ImageFolderDataset(path, resolution=res, split=split)
    n = len(ds) if limit is None else min(limit, len(ds))
    if n == 0:
        raise FaceEditError(f"no images in {path}")
    out = torch.empty(n, 3, res, res, dtype=torch.uint8)
    for i in range(n):
        img = ds[i][0]
        if img.dtype != torch.uint8:
            img = ((img.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        out[i] = img
    return out


def to_float(batch_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, R, R] → float32 in [-1, 1]."""
    return batch_u8.to(torch.float32) * (2 / 255) - 1


def sample_batch(images: torch.Tensor, batch: int, mirror: bool, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Random batch (with replacement) with random x-flips, float32 in [-1, 1] on ``device``."""
    idx = torch.randint(0, images.shape[0], (batch,), generator=generator)
    x = to_float(images[idx]).to(device, non_blocking=True)
    if mirror:
        flip = torch.rand(batch, generator=generator) < 0.5
        if flip.any():
            flip = flip.to(x.device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    return x
