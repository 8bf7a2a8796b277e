"""PyTorch datasets over aligned faces: a packed archive (:class:`PackDataset`) or a build folder
(:class:`ImageFolderDataset`).

Both yield ``(image, index)``: ``image`` is a ``3×R×R`` tensor, uint8 (default) or float in ``[-1, 1]``
(``normalize=True``); ``index`` is the position in the dataset, so labels are ``ds.records[index]`` (the manifest
row: ``identity``, ``split``, ``attributes``, ``age``... see :func:`faceedit.data.build.build_dataset`).
Decoding happens in ``__getitem__``, i.e. inside the DataLoader's worker processes; each worker opens its own
archive handle. Augmentation (x-flip) is the trainer's job::

    ds = PackDataset(".cache/pack128.zip", resolution=64, split="train")
    dl = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=2, drop_last=True)
    for img, idx in dl: ...                           # img: uint8 [32, 3, 64, 64]
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from faceedit.align.image import is_image_name
from faceedit.data.decode import decode_image
from faceedit.errors import FaceEditError


def _filter(rows: list[dict], split: str | None, sources, max_padding: float | None) -> list[dict]:
    if split not in (None, "all", "train", "val"):
        raise FaceEditError(f"split must be train, val or all, got {split!r}")
    out = []
    for r in rows:
        if split not in (None, "all") and r.get("split", "train") != split:
            continue
        if sources is not None and r.get("source") not in sources:
            continue
        if max_padding is not None and r.get("padding", 0.0) > max_padding:
            continue
        out.append(r)
    return out


def _parse_manifest(text: str, where: str) -> list[dict]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise FaceEditError(f"{where}: manifest line {n} is not valid JSON") from None
    return rows


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``manifest.jsonl`` file, of a build folder holding one, or of a pack (.zip / .tar)."""
    p = Path(path)
    if p.is_dir():
        p = p / "manifest.jsonl"
    if not p.is_file():
        raise FaceEditError(f"manifest not found: {p}")
    if p.suffix.lower() in (".zip", ".tar"):
        with Archive(p) as a:
            return _parse_manifest(a.manifest_text(), str(p))
    return _parse_manifest(p.read_text(), str(p))


class Archive:
    """Random access to members of a .zip or uncompressed .tar."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            if zipfile.is_zipfile(self.path):
                self.kind = "zip"
                self.z = zipfile.ZipFile(self.path)
            elif tarfile.is_tarfile(self.path):
                self.kind = "tar"
                self.fh = open(self.path, "rb")
                with tarfile.open(fileobj=self.fh, mode="r:") as t:
                    self.index = {m.name: (m.offset_data, m.size) for m in t.getmembers() if m.isfile()}
            else:
                raise FaceEditError(f"not a pack archive (.zip or .tar): {self.path}")
        except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
            raise FaceEditError(f"cannot read pack {self.path}: {exc}") from None

    def read(self, name: str) -> bytes:
        if self.kind == "zip":
            return self.z.read(name)
        off, size = self.index[name]
        self.fh.seek(off)
        return self.fh.read(size)

    def names(self) -> set[str]:
        return set(self.z.namelist()) if self.kind == "zip" else set(self.index)

    def manifest_text(self) -> str:
        names = self.names()
        if "manifest.jsonl" in names:
            return self.read("manifest.jsonl").decode()
        if "manifest.jsonl.gz" in names:
            return gzip.decompress(self.read("manifest.jsonl.gz")).decode()
        raise FaceEditError(f"pack {self.path} has no manifest.jsonl")

    def close(self):
        if self.kind == "zip":
            self.z.close()
        else:
            self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _FaceDataset(torch.utils.data.Dataset):
    def __init__(self, resolution: int | None, normalize: bool):
        if resolution is not None and not (4 <= int(resolution) <= 4096):
            raise FaceEditError(f"resolution must be from 4 to 4096, got {resolution}")
        self.resolution = None if resolution is None else int(resolution)
        self.normalize = bool(normalize)
        self.records: list[dict] = []

    def __len__(self) -> int:
        return len(self.records)

    def _decode(self, data: bytes, what: str) -> torch.Tensor:
        img = decode_image(data, self.resolution, what)
        t = torch.from_numpy(img.copy()).permute(2, 0, 1).contiguous()
        if self.normalize:
            t = t.to(torch.float32) / 127.5 - 1.0
        return t

    def labels(self, name: str, default=-1) -> np.ndarray:
        """One label for every item: a manifest field (``age``, ``gender``...) or a CelebA attribute name
        (``Smiling``); ``default`` where an item lacks it."""
        out = []
        for r in self.records:
            v = r.get(name, (r.get("attributes") or {}).get(name, default))
            out.append(default if v is None else v)
        return np.asarray(out)


class PackDataset(_FaceDataset):
    """Faces from an archive written by ``faceedit data pack``.

    ``path``: the .zip / .tar. ``resolution``: output side (resized with an antialiasing filter when it differs
    from the pack's; None keeps it). ``split``: ``"train"``, ``"val"`` or ``"all"``. ``normalize``: float in
    [-1, 1] instead of uint8. ``sources`` / ``max_padding``: optional filters on the manifest.
    """

    def __init__(self, path: str | os.PathLike, resolution: int | None = None, split: str = "train",
                 normalize: bool = False, sources=None, max_padding: float | None = None):
        super().__init__(resolution, normalize)
        self.path = Path(path)
        if not self.path.is_file():
            raise FaceEditError(f"pack not found: {self.path}")
        with Archive(self.path) as a:
            rows = _parse_manifest(a.manifest_text(), str(self.path))
        self.records = _filter(rows, split, sources, max_padding)
        self._archive = None
        self._pid = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_archive"], state["_pid"] = None, None
        return state

    def __getitem__(self, index: int):
        if self._archive is None or self._pid != os.getpid():  # one handle per worker process
            self._archive, self._pid = Archive(self.path), os.getpid()
        r = self.records[index]
        return self._decode(self._archive.read(r["path"]), f"{r['path']} in {self.path}"), index


class ImageFolderDataset(_FaceDataset):
    """Faces from a build folder (its ``manifest.jsonl``), a manifest file, or any folder of images.

    A folder without a manifest is read recursively (sorted; every image counts as ``train``).
    Arguments as :class:`PackDataset`.
    """

    def __init__(self, dir_or_manifest: str | os.PathLike, resolution: int | None = None, split: str = "train",
                 normalize: bool = False, sources=None, max_padding: float | None = None):
        super().__init__(resolution, normalize)
        p = Path(dir_or_manifest)
        if p.is_file():
            self.root = p.parent
            rows = read_manifest(p)
        elif (p / "manifest.jsonl").is_file():
            self.root = p
            rows = read_manifest(p / "manifest.jsonl")
        elif p.is_dir():
            self.root = p
            rows = [{"path": str(f.relative_to(p)), "source": "folder", "split": "train"}
                    for f in sorted(p.rglob("*")) if f.is_file() and is_image_name(f)]
        else:
            raise FaceEditError(f"not found: {p}")
        self.records = _filter(rows, split, sources, max_padding)

    def __getitem__(self, index: int):
        r = self.records[index]
        f = self.root / r["path"]
        try:
            data = f.read_bytes()
        except OSError as exc:
            raise FaceEditError(f"cannot read {f}: {exc.strerror or exc}") from None
        return self._decode(data, str(f)), index
