"""Read the IDX files of MNIST (LeCun's format), optionally gzip-compressed.

Format: a 4-byte magic number ``0x00 0x00 TYPE NDIM`` (TYPE 0x08 = unsigned byte, the only type MNIST uses),
``NDIM`` big-endian uint32 sizes, then the data in C order. ``t10k-images-idx3-ubyte.gz`` holds
[10000, 28, 28] uint8 images, ``t10k-labels-idx1-ubyte.gz`` [10000] uint8 labels.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from faceedit.errors import FaceEditError

#: IDX type code → numpy dtype (big-endian where it matters).
_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

#: Largest array read (elements): the full MNIST training set is 47 M.
MAX_ELEMENTS = 200_000_000


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a numpy array of its stored shape and type.

    Raises :class:`FaceEditError` for a missing, truncated or malformed file.
    """
    path = Path(path)
    if not path.is_file():
        raise FaceEditError(f"no such IDX file: {path}")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) != 4 or head[0] != 0 or head[1] != 0 or head[2] not in _TYPES or not 1 <= head[3] <= 8:
                raise FaceEditError(f"{path}: not an IDX file (magic {head.hex() or 'missing'})")
            ndim = head[3]
            dims_raw = f.read(4 * ndim)
            if len(dims_raw) != 4 * ndim:
                raise FaceEditError(f"{path}: truncated IDX header")
            shape = struct.unpack(f">{ndim}I", dims_raw)
            count = int(np.prod(shape, dtype=np.int64))
            if count > MAX_ELEMENTS:
                raise FaceEditError(f"{path}: IDX array of {count} elements is larger than the cap {MAX_ELEMENTS}")
            dtype = _TYPES[head[2]]
            data = f.read(count * dtype.itemsize)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FaceEditError(f"{path}: cannot read IDX file ({exc})") from None
    if len(data) != count * dtype.itemsize:
        raise FaceEditError(f"{path}: truncated IDX data ({len(data)} of {count * dtype.itemsize} bytes)")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist(folder: str | os.PathLike, split: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images [N, 28, 28] uint8 and labels [N] int64 from ``folder`` (``split``: ``t10k`` or ``train``)."""
    folder = Path(folder)
    images = read_idx(_find(folder, f"{split}-images-idx3-ubyte"))
    labels = read_idx(_find(folder, f"{split}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise FaceEditError(f"{folder}: MNIST images {images.shape} and labels {labels.shape} do not match")
    return images, labels.astype(np.int64)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise FaceEditError(f"{folder}: no {stem}.gz (the original MNIST IDX files)")
