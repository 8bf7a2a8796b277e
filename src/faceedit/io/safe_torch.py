"""Read ``torch.save`` zip archives with the project's restricted unpickler, never running code from the file.

A ``torch.save`` file (PyTorch ≥ 1.6) is a zip archive: ``<prefix>/data.pkl`` is a pickle whose tensors are
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` calls, each storage a *persistent id*
``('storage', torch.FloatStorage, key, location, numel)`` naming the raw bytes in ``<prefix>/data/<key>``.
:func:`safe_load_torch` reads ``data.pkl`` with :class:`~faceedit.io.safe_pickle.RestrictedUnpickler` (the same
allow-list as NVIDIA's pickles), resolves storage types to dtypes itself, and rebuilds storages from the archive's
bytes with :func:`torch.frombuffer` (length-checked). Training scripts such as pSp's and e4e's also pickle their
``argparse.Namespace`` of options: it is replaced by :class:`Namespace`, an inert attribute holder.

Older files in PyTorch's legacy (pre-zip) format go through ``torch.load(weights_only=True)`` with the same
Namespace allowance (see :func:`faceedit.io.loader._torch_load`).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from faceedit.errors import FaceEditError
from faceedit.io.safe_pickle import RestrictedUnpickler, UnsafePickleError

STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}


class Namespace:
    """Stand-in for ``argparse.Namespace``: the pickled attributes, nothing else (no code runs on load)."""

    def __init__(self, **kwargs: Any):
        self.__dict__.update(kwargs)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return f"Namespace({', '.join(sorted(self.__dict__))})"


class _StorageType:
    """What a pickled ``torch.FloatStorage`` (etc.) global resolves to: only its dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class TorchZipUnpickler(RestrictedUnpickler):
    """:class:`RestrictedUnpickler` plus torch's storage persistent ids, read from an open zip archive."""

    def __init__(self, file, source: str, archive: zipfile.ZipFile, prefix: str, allow_namespace: bool):
        super().__init__(file, source)
        self.archive = archive
        self.prefix = prefix
        self.allow_namespace = allow_namespace
        self._storages: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module in ("torch", "torch.storage") and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "argparse" and name == "Namespace" and self.allow_namespace:
            return Namespace
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"unexpected persistent id in a torch archive: {str(pid)[:80]}")
        _, stype, key, _location, numel = pid
        if key in self._storages:
            return self._storages[key]
        dtype = stype.dtype
        itemsize = torch.empty((), dtype=dtype).element_size()
        name = f"{self.prefix}/data/{key}"
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise pickle.UnpicklingError(f"the archive has no storage {key!r}") from None
        if stype.name == "UntypedStorage":
            numel = info.file_size
        if numel < 0 or info.file_size != numel * itemsize:
            raise pickle.UnpicklingError(f"storage {key!r} holds {info.file_size} bytes, expected "
                                         f"{numel} x {itemsize}")
        raw = bytearray(self.archive.read(name))
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        storage = torch.storage.TypedStorage(wrap_storage=flat.untyped_storage(), dtype=dtype, _internal=True)
        self._storages[key] = storage
        return storage


def is_torch_zip(path: str | os.PathLike) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def safe_load_torch(path: str | os.PathLike, allow_namespace: bool = True) -> Any:
    """The object in a ``torch.save`` file, tensors on the CPU, read without running code from the file.

    ``allow_namespace``: accept pickled ``argparse.Namespace`` objects (as :class:`Namespace`). Raises
    :class:`~faceedit.io.safe_pickle.UnsafePickleError` for anything outside the allow-list and
    :class:`FaceEditError` for a truncated or corrupt file.
    """
    from faceedit.limits import regular_file

    path = Path(path)
    source = str(path)
    regular_file(path, "checkpoint file")
    if not is_torch_zip(path):
        from faceedit.io.loader import _torch_load

        return _torch_load(path, source)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FaceEditError(f"{source} is truncated or corrupt (not a complete zip archive: {exc})") from None
    with archive:
        pkls = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise FaceEditError(f"{source} is a zip archive but not a torch.save file (no single */data.pkl)")
        prefix = pkls[0].rsplit("/", 1)[0]
        order = f"{prefix}/byteorder"
        if order in archive.namelist() and archive.read(order).strip() not in (b"little", b""):
            raise FaceEditError(f"{source} was written on a big-endian machine, which is not supported")
        try:
            with archive.open(pkls[0]) as f:
                return TorchZipUnpickler(f, source, archive, prefix, allow_namespace).load()
        except UnsafePickleError:
            raise
        except EOFError:
            raise FaceEditError(f"{source} is truncated (its data.pkl ends early)") from None
        except (pickle.UnpicklingError, zipfile.BadZipFile, ValueError, TypeError, AttributeError, KeyError,
                IndexError, UnicodeDecodeError, OverflowError, MemoryError, RuntimeError, OSError) as exc:
            msg = " ".join(str(exc).split())[:200]
            raise FaceEditError(f"{source} is not a readable torch.save file ({type(exc).__name__}: {msg})") from None
