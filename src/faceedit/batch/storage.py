"""Where a batch job reads its photos and writes its results: a local folder, or any fsspec URI.

A job's output folder is a :class:`Storage`: a local path (or ``file://`` URI) is written with the project's atomic
writes (temporary file + rename); any other URI (``s3://bucket/run``, ``gs://…``, ``memory://…``) goes through
fsspec, whose object stores make a single upload atomic, and whose other file systems get a temporary name and a
move. Workers on a cluster write their outputs there themselves (a shared file system or an object store), so no
image travels back to the driver.

    out = Storage.open("s3://studio/job-17")      # or "out/" or "file:///data/out"
    out.write_bytes("photos/a.jpg", data)          # atomic
    out.listing()                                  # {"photos/a.jpg", ...}: every file below the root
    read_input("s3://studio/in/a.jpg")             # the bytes of one input photo (capped)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import uuid
from pathlib import Path, PurePosixPath
from typing import Iterator
from urllib.parse import urlparse

from faceedit.errors import FaceEditError

#: Largest input file a batch reads (bytes): far above any photo, a guard against a wrong path (a video, a disk
#: image) filling a worker's memory.
MAX_INPUT_BYTES = 256 * 2 ** 20
#: fsspec protocols whose single upload is atomic (an object appears whole or not at all).
ATOMIC_PUT = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")


def is_uri(text: str) -> bool:
    """True for ``scheme://…`` (a URI fsspec opens); ``file://`` included. Windows drive letters are not URIs."""
    scheme = urlparse(str(text)).scheme
    return "://" in str(text) and len(scheme) > 1


def local_path(text: str) -> Path | None:
    """The local path of ``text`` (a plain path or a ``file://`` URI), or None for a remote URI."""
    text = str(text)
    if not is_uri(text):
        return Path(text)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        return Path(parsed.netloc + parsed.path) if parsed.netloc not in ("", "localhost") else Path(parsed.path)
    return None


def _fsspec():
    try:
        import fsspec
    except ImportError:
        raise FaceEditError("URIs need fsspec: pip install 'faceedit[batch]'") from None
    return fsspec


def _url_to_fs(uri: str):
    fsspec = _fsspec()
    try:
        return fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        raise FaceEditError(f"cannot open {uri}: {' '.join(str(exc).split())}") from None


def _check_rel(rel: str) -> str:
    """A relative path below a storage root: no absolute path, no '..', forward slashes."""
    p = PurePosixPath(str(rel).replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise FaceEditError(f"bad output name {rel!r}: it must stay inside the output folder")
    return p.as_posix()


class Storage:
    """A folder for a job's outputs: local (atomic writes) or an fsspec URI. ``root``: as given by the user."""

    def __init__(self, root: str):
        self.root = str(root)
        self.local = local_path(self.root)
        self._fs = None
        self._base = ""
        if self.local is None:
            self._fs, self._base = _url_to_fs(self.root)
            self.protocol = self._fs.protocol if isinstance(self._fs.protocol, str) else self._fs.protocol[0]
        else:
            self.protocol = "file"

    @classmethod
    def open(cls, root: str) -> "Storage":
        return cls(root)

    def __repr__(self) -> str:
        return f"Storage({self.root!r})"

    def __getstate__(self) -> dict:  # fsspec file systems rebuild themselves in each worker
        return {"root": self.root}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["root"])

    def url(self, rel: str) -> str:
        """What to show a user for ``rel``: a local path, or the URI."""
        rel = _check_rel(rel)
        if self.local is not None:
            return str(self.local / rel)
        return self.root.rstrip("/") + "/" + rel

    def _remote(self, rel: str) -> str:
        return self._base.rstrip("/") + "/" + _check_rel(rel)

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write ``data`` to ``rel`` atomically (parents created)."""
        if self.local is not None:
            from faceedit.atomic import write_bytes

            write_bytes(self.local / _check_rel(rel), data)
            return
        path = self._remote(rel)
        parent = path.rsplit("/", 1)[0]
        with contextlib.suppress(Exception):  # object stores have no folders; some file systems need them
            self._fs.makedirs(parent, exist_ok=True)
        if self.protocol in ATOMIC_PUT:
            self._fs.pipe_file(path, data)
            return
        tmp = f"{parent}/.{path.rsplit('/', 1)[1]}.tmp.{uuid.uuid4().hex[:8]}"
        self._fs.pipe_file(tmp, data)
        self._fs.mv(tmp, path)

    def read_bytes(self, rel: str) -> bytes | None:
        """The bytes of ``rel``, or None when it does not exist."""
        if self.local is not None:
            p = self.local / _check_rel(rel)
            return p.read_bytes() if p.is_file() else None
        path = self._remote(rel)
        try:
            return self._fs.cat_file(path)
        except FileNotFoundError:
            return None

    def exists(self, rel: str) -> bool:
        if self.local is not None:
            return (self.local / _check_rel(rel)).is_file()
        return bool(self._fs.exists(self._remote(rel)))

    def listing(self, under: str = "") -> set[str]:
        """Every file below the root (or below ``under``), as relative paths with forward slashes; the hidden
        temporaries of interrupted writes are left out. One listing call, not one per file."""
        from faceedit.limits import is_temporary_name

        out: set[str] = set()
        if self.local is not None:
            top = self.local / under if under else self.local
            if not top.is_dir():
                return out
            for dirpath, _, files in os.walk(top):
                for name in files:
                    if not is_temporary_name(name):
                        out.add((Path(dirpath) / name).relative_to(self.local).as_posix())
            return out
        base = self._base.rstrip("/")
        top = base + ("/" + _check_rel(under) if under else "")
        try:
            found = self._fs.find(top)
        except FileNotFoundError:
            return out
        for path in found:
            rel = str(path)[len(base):].lstrip("/") if str(path).startswith(base) else str(path)
            if rel and not is_temporary_name(rel.rsplit("/", 1)[-1]):
                out.add(rel)
        return out

    def append_line(self, rel: str, line: str) -> None:
        """Append one line to a local file and flush it to the operating system (a killed process keeps it).
        Only local folders can be appended to; callers write parts elsewhere."""
        if self.local is None:
            raise FaceEditError(f"cannot append to {self.root}: not a local folder")
        path = self.local / _check_rel(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as f:
            if f.tell() > 0:  # a run killed mid-line left a torn last line: end it, never glue a record to it
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
                f.seek(0, os.SEEK_END)
                if torn:
                    f.write(b"\n")
            f.write(line.rstrip("\n").encode("utf-8") + b"\n")
            f.flush()


# ---------------------------------------------------------------------------------------------- inputs
def read_input(src: str, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of an input file (a local path or an fsspec URI), refused beyond ``max_bytes``; only regular
    local files are opened (a FIFO would block)."""
    path = local_path(src)
    if path is not None:
        from faceedit.limits import regular_file

        regular_file(path, "photo")
        size = path.stat().st_size
        if size > max_bytes:
            raise FaceEditError(f"file too large for a photo: {size:,} bytes (at most {max_bytes:,})")
        with open(path, "rb") as f:
            return f.read(max_bytes + 1)
    fs, p = _url_to_fs(src)
    try:
        size = fs.size(p)
    except FileNotFoundError:
        raise FaceEditError(f"no such file: {src}") from None
    if size is not None and size > max_bytes:
        raise FaceEditError(f"file too large for a photo: {size:,} bytes (at most {max_bytes:,})")
    data = fs.cat_file(p)
    if len(data) > max_bytes:
        raise FaceEditError(f"file too large for a photo: more than {max_bytes:,} bytes")
    return data


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(src: str, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """sha256 of an input file's bytes (streamed for local files)."""
    path = local_path(src)
    if path is None:
        return sha256_hex(read_input(src, max_bytes))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def as_local_file(src: str, data: bytes) -> Iterator[Path]:
    """A local path holding ``data`` (the input ``src`` itself when it is local; else a temporary copy with the
    same file name, removed afterwards)."""
    path = local_path(src)
    if path is not None:
        yield path
        return
    name = PurePosixPath(urlparse(src).path).name or "photo"
    with tempfile.TemporaryDirectory(prefix="faceedit-batch-") as tmp:
        p = Path(tmp) / name
        p.write_bytes(data)
        yield p


def stat_identity(src: str) -> tuple[int, int] | None:
    """(size in bytes, mtime in ns) of a local input — the quick check before re-hashing it on resume — or None
    for a URI or a missing file."""
    path = local_path(src)
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return int(st.st_size), int(st.st_mtime_ns)
