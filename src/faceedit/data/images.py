"""The one image loader for training and evaluation: aligned faces decoded into one uint8 tensor [N, 3, R, R].

``load_images(path, res)`` takes a folder of images (searched recursively), a zip of images, a ``faceedit data
build`` folder or pack (its manifest; ``split`` picks the identity-disjoint rows), or a ``.npy`` / ``.pt`` uint8
array [N, 3, R, R] or [N, R, R, 3]. Every image goes through :func:`~faceedit.data.decode.decode_image`, as in
the datasets of :mod:`faceedit.data.datasets` and the row loader of :mod:`faceedit.data.rows`.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from faceedit.align.image import is_image_name
from faceedit.data.datasets import ImageFolderDataset, PackDataset
from faceedit.data.decode import decode_image, list_images
from faceedit.errors import FaceEditError


def _has_pack_manifest(path: Path) -> bool:
    if path.suffix.lower() == ".tar":
        return True
    try:
        with zipfile.ZipFile(path) as zf:
            return "manifest.jsonl" in zf.namelist()
    except zipfile.BadZipFile:
        return False


def load_images(path: str | Path, res: int, limit: int | None = None, progress: bool = False,
                split: str = "all") -> torch.Tensor:
    """Decode a folder / zip / build folder / pack / array file into a uint8 tensor [N, 3, res, res]. ``split``
    (train | val | all) selects rows of a build folder's or pack's manifest (identity-disjoint splits); plain
    folders, zips and arrays have no split and are read whole."""
    path = Path(path)
    if not path.exists():
        raise FaceEditError(f"training data not found: {path}")
    suffix = path.suffix.lower()
    ds = _manifest_dataset(path, res, split)
    if ds is not None:
        return _load_dataset(ds, path, res, limit)
    if suffix in (".npy", ".pt") and path.is_file():
        return _load_array(path, res, limit)
    if path.is_dir():
        files = list_images(path)[:limit]
        if not files:
            raise FaceEditError(f"no images (.jpg/.png/.webp) in {path}")
        sources = [(f, str(f)) for f in files]
        read = None
    elif suffix == ".zip":
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise FaceEditError(f"not a zip file: {path}") from exc
        names = sorted(n for n in zf.namelist() if is_image_name(n))[:limit]
        if not names:
            raise FaceEditError(f"no images in {path}")
        sources, read = [(n, f"{n} in {path}") for n in names], zf.read
    else:
        raise FaceEditError(f"--data must be a folder of images, a .zip, .npy or .pt: {path}")
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(sources), desc="decoding", unit="img", leave=False)
    arrays = []
    for src, what in sources:
        arrays.append(decode_image(read(src) if read else src, res, f"image {what}"))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if read is not None:
        zf.close()
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _load_array(path: Path, res: int, limit: int | None) -> torch.Tensor:
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


def _manifest_dataset(path: Path, res: int | None, split: str) -> ImageFolderDataset | PackDataset | None:
    """The dataset of a pack (.zip/.tar with a manifest) or build folder; None for other sources."""
    suffix = path.suffix.lower()
    if path.is_file() and suffix in (".zip", ".tar") and _has_pack_manifest(path):
        return PackDataset(path, resolution=res, split=split)
    if path.is_dir() and (path / "manifest.jsonl").is_file():
        return ImageFolderDataset(path, resolution=res, split=split)
    return None


def manifest_rows(path: str | Path, split: str = "all", limit: int | None = None) -> list[dict] | None:
    """The manifest rows of the images that ``load_images(path, split=split, limit=limit)`` decodes, in the same
    order (attributes, identities, sources); None for sources without a manifest (plain folders, zips, arrays)."""
    ds = _manifest_dataset(Path(path), None, split)
    return None if ds is None else list(ds.records[:limit])


def _load_dataset(ds: ImageFolderDataset | PackDataset, path: Path, res: int, limit: int | None) -> torch.Tensor:
    """Packs and build folders: the rows of the dataset's split, as uint8."""
    n = len(ds) if limit is None else min(limit, len(ds))
    if n == 0:
        raise FaceEditError(f"no images in {path}")
    out = torch.empty(n, 3, res, res, dtype=torch.uint8)
    for i in range(n):
        out[i] = ds[i][0]
    return out


__all__ = ["decode_image", "list_images", "load_images", "manifest_rows"]
