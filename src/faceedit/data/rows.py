"""Rows of an aligned data set (a ``faceedit data build`` folder, its manifest, or a pack) and the faces they name,
decoded into memory: what the trainers and ``eval inversion`` read.

    rows, root, how = read_rows(".cache/data128")            # manifest rows (also of a build still running)
    imgs, masks = load_arrays(rows, data, root, 128, cache_dir, "train", with_masks=True)
    train, val, info = load_real_faces(".cache/data128", 64)  # the identity-disjoint split, uint8 tensors
    faces, what = load_eval_faces(".cache/data128", 64, n=16) # n validation faces (or the first n of a folder)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from faceedit.atomic import atomic_path
from faceedit.data.build import manifest_rows, read_records
from faceedit.data.datasets import Archive, read_manifest
from faceedit.data.decode import decode_image
from faceedit.data.images import load_images
from faceedit.data.sources import list_items
from faceedit.errors import FaceEditError


def read_rows(data: str | os.PathLike) -> tuple[list[dict], Path, str]:
    """Manifest rows of ``data`` → ``(rows, root folder for relative paths, how they were found)``.

    A build folder without ``manifest.jsonl`` but with ``records.jsonl`` (a build still running) is read from
    its records plus the raw sources' labels, with the same identity split the finished build will write.
    """
    p = Path(data)
    if not p.exists():
        raise FaceEditError(f"training data not found: {p} (build it with 'faceedit data build')")
    if p.is_dir() and not (p / "manifest.jsonl").is_file():
        if not (p / "records.jsonl").is_file():
            raise FaceEditError(f"{p} has neither manifest.jsonl nor records.jsonl (not a 'faceedit data build' "
                                "folder)")
        return _rows_in_progress(p), p, "records.jsonl (build in progress)"
    if p.is_file() and p.suffix.lower() in (".zip", ".tar"):
        return read_manifest(p), p, "pack"
    rows = read_manifest(p)
    return rows, (p if p.is_dir() else p.parent), "manifest.jsonl"


def _rows_in_progress(folder: Path) -> list[dict]:
    info = {}
    if (folder / "build_info.json").is_file():
        info = json.loads((folder / "build_info.json").read_text())
    src = Path(info.get("src", "../shared/data"))
    if not src.is_absolute():
        src = (Path.cwd() / src) if (Path.cwd() / src).is_dir() else (folder / src)
    recs = read_records(folder)
    items, _ = list_items(src, tuple(info.get("sources") or ("celebamask-hq", "celeba", "celeba-89x109")))
    return manifest_rows(items, recs, int(info.get("size", 128)), float(info.get("val_fraction", 0.1)))


def _reader(data: Path, root: Path) -> Callable[[str], bytes]:
    if data.is_file() and data.suffix.lower() in (".zip", ".tar"):
        return Archive(data).read
    return lambda rel: (root / rel).read_bytes()


def load_arrays(rows: list[dict], data: Path, root: Path, size: int, cache_dir: Path | None, what: str,
                with_masks: bool = False, log=print) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode ``rows`` into ``uint8 [N, 3, size, size]`` (and ``uint8 [N, size, size]`` class masks, resized
    nearest), cached as .npy in ``cache_dir`` under a hash of the file list."""
    from PIL import Image
    from tqdm import tqdm

    key = hashlib.sha1(json.dumps([str(data), size, with_masks] + [r["path"] for r in rows]).encode()).hexdigest()[:12]
    cimg = cmask = None
    if cache_dir is not None:
        cimg, cmask = cache_dir / f"{what}-{key}-img.npy", cache_dir / f"{what}-{key}-mask.npy"
        if cimg.is_file() and (not with_masks or cmask.is_file()):
            return np.load(cimg, allow_pickle=False), (np.load(cmask, allow_pickle=False) if with_masks else None)
    read = _reader(data, root)
    imgs = np.zeros((len(rows), 3, size, size), np.uint8)
    masks = np.zeros((len(rows), size, size), np.uint8) if with_masks else None
    for i, r in enumerate(tqdm(rows, desc=f"load {what}", unit="img", dynamic_ncols=True, mininterval=2)):
        try:
            imgs[i] = decode_image(read(r["path"]), size, f"training image {r['path']}").transpose(2, 0, 1)
            if with_masks:
                m = Image.open(io.BytesIO(read(r["mask"])))
                if m.size != (size, size):
                    m = m.resize((size, size), Image.NEAREST)
                masks[i] = np.asarray(m)
        except FaceEditError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise FaceEditError(f"cannot read training image {r['path']}: {type(exc).__name__}: {exc}") from None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(cimg) as tmp:
            np.save(tmp, imgs)
        if with_masks:
            with atomic_path(cmask) as tmp:
                np.save(tmp, masks)
    return imgs, masks


def split_rows(rows: list[dict], limit: int | None, val_limit: int | None, where) -> tuple[list[dict], list[dict]]:
    """The manifest's train and val rows (the first ``limit`` / ``val_limit`` of each); both must be there."""
    train_rows = [r for r in rows if r.get("split", "train") == "train"][:limit or None]
    val_rows = [r for r in rows if r.get("split") == "val"][:val_limit or None]
    if not train_rows or not val_rows:
        raise FaceEditError(f"{where}: need both train and val rows (got {len(train_rows)} / {len(val_rows)})")
    return train_rows, val_rows


def has_manifest(p: Path) -> bool:
    """True when ``p`` is a data set with a manifest: a build folder (finished or running), a manifest file, or a
    pack (a .tar, or a .zip holding manifest.jsonl)."""
    if p.is_dir():
        return (p / "manifest.jsonl").is_file() or (p / "records.jsonl").is_file()
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".tar"):
        return True
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(p) as zf:
                return "manifest.jsonl" in zf.namelist()
        except zipfile.BadZipFile:
            return False
    return False


def load_real_faces(data: str | Path, res: int, limit: int | None = None, val_n: int = 64,
                    cache_dir: Path | None = None, seed: int = 0, log=print,
                    val_only: bool = False) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Real aligned faces → (train uint8 [N, 3, res, res], val uint8 [M, 3, res, res], info): a data set with a
    manifest is split by its identity-disjoint ``split`` (at most ``limit`` training and ``val_n`` validation
    faces, drawn with ``seed``); a plain folder's last images are validation. ``val_only`` leaves the training
    set empty (for a manifest; a plain folder is decoded whole either way)."""
    p = Path(data)
    if not p.exists():
        raise FaceEditError(f"training data not found: {p} (a 'faceedit data build' folder, a pack or an image "
                            "folder)")
    if has_manifest(p):
        rows, root, how = read_rows(p)
        train_rows = [r for r in rows if r.get("split", "train") == "train"]
        val_rows = [r for r in rows if r.get("split") == "val"]
        rng = np.random.RandomState(seed)
        if limit and len(train_rows) > limit:
            train_rows = [train_rows[i] for i in sorted(rng.choice(len(train_rows), limit, replace=False))]
        if len(val_rows) > val_n:
            val_rows = [val_rows[i] for i in sorted(np.random.RandomState(seed + 1).choice(len(val_rows), val_n,
                                                                                          replace=False))]
        if not train_rows:
            raise FaceEditError(f"{p}: no training rows")
        tr = np.zeros((0, 3, res, res), np.uint8)
        if not val_only:
            tr, _ = load_arrays(train_rows, p, root, res, cache_dir, "enc-train", log=log)
        va, _ = load_arrays(val_rows, p, root, res, cache_dir, "enc-val", log=log) if val_rows else (tr[:0], None)
        info = {"source": str(p), "rows_from": how, "train_images": len(train_rows), "val_images": len(val_rows),
                "split": "the manifest's identity-disjoint split",
                "sources": sorted({r.get("source", "?") for r in train_rows})}
        return torch.from_numpy(tr), torch.from_numpy(va), info
    imgs = load_images(p, res, limit=None)
    n_val = min(val_n, max(1, len(imgs) // 20)) if len(imgs) > 1 else 0
    tr, va = imgs[:len(imgs) - n_val], imgs[len(imgs) - n_val:]
    if limit and len(tr) > limit:
        tr = tr[:limit]
    info = {"source": str(p), "train_images": len(tr), "val_images": len(va),
            "split": "the last images of the sorted list are validation (no identity information)"}
    return tr, va, info


def load_eval_faces(path: str | Path, res: int, n: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    """``n`` aligned faces (uint8 [n, 3, res, res]) from a folder of images, a zip/array, or a
    ``faceedit data build`` folder / pack (its validation split). Returns (images, description)."""
    p = Path(path)
    if not p.exists():
        raise FaceEditError(f"not found: {p}")
    if (p.is_dir() and (p / "manifest.jsonl").is_file()) or (p.is_file() and has_manifest(p)):
        _, va, _ = load_real_faces(p, res, val_n=n, seed=seed, val_only=True, log=lambda *a: None)
        if not len(va):
            raise FaceEditError(f"{p} has no validation split")
        return va, f"{len(va)} validation faces of {p}"
    imgs = load_images(p, res, limit=n)
    return imgs, f"the first {len(imgs)} images of {p}"


__all__ = ["has_manifest", "load_arrays", "load_eval_faces", "load_real_faces", "read_rows", "split_rows"]
