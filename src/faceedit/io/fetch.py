"""Download registry models into the cache: resumable (HTTP Range into ``NAME.part``), checksum-verified,
renamed into place only when complete."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from faceedit.errors import FaceEditError
from faceedit.io.registry import ModelEntry, get_entry, model_path

CHUNK = 1 << 20
USER_AGENT = "faceedit-fetch/1 (+https://github.com/)"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _offline_reason(exc: BaseException) -> str | None:
    """A short reason when ``exc`` means the host could not be reached at all."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host: {reason.strerror or reason}"
    if isinstance(reason, (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError)):
        return f"connection refused or reset: {reason.strerror or reason}"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "connection timed out"
    if isinstance(reason, OSError) and reason.errno is not None:
        return f"{reason.strerror or reason}"
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return " ".join(str(exc.reason).split())
    return None


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, label: str | None = None,
             part: str | os.PathLike | None = None, progress: bool = True, timeout: float = 30.0,
             log: Callable[[str], None] = _log) -> str:
    """Download ``url`` to ``dest``, resuming from ``part`` (default ``dest + '.part'``); returns the sha256.

    A checksum mismatch removes the partial file (its bytes cannot be trusted for a resume) and raises
    FaceEditError. A network failure keeps the partial file so the next call resumes it.
    """
    dest = Path(dest)
    label = label or dest.name
    part = Path(part) if part is not None else dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to fetch: the partial file may already be complete
                resp = None
            else:
                raise
        if resp is not None:
            with resp:
                status = getattr(resp, "status", 200)
                mode = "ab" if (have and status == 206) else "wb"
                if mode == "wb":
                    have = 0
                length = resp.headers.get("Content-Length")
                total = have + int(length) if length and length.isdigit() else None
                if have:
                    log(f"resuming {label} at {have / 1e6:.1f} MB")
                bar = None
                if progress:
                    from tqdm import tqdm

                    bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                               desc=label, file=sys.stderr, leave=False)
                try:
                    with open(part, mode) as f:
                        while True:
                            block = resp.read(CHUNK)
                            if not block:
                                break
                            f.write(block)
                            if bar is not None:
                                bar.update(len(block))
                        f.flush()
                        os.fsync(f.fileno())
                finally:
                    if bar is not None:
                        bar.close()
                got = part.stat().st_size
                if total is not None and got < total:
                    raise FaceEditError(f"download of {label} stopped at {got / 1e6:.1f} of {total / 1e6:.1f} MB; "
                                        "run the command again to resume")
    except urllib.error.HTTPError as exc:
        raise FaceEditError(f"cannot download {label}: HTTP {exc.code} {exc.reason} from {url}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        if isinstance(exc, (http.client.IncompleteRead, ConnectionResetError)) and part.exists():
            raise FaceEditError(f"download of {label} was interrupted at {part.stat().st_size / 1e6:.1f} MB; "
                                "run the command again to resume") from None
        reason = _offline_reason(exc)
        if reason is not None:
            raise FaceEditError(f"cannot download {label}: no network connection ({reason})") from None
        raise FaceEditError(f"cannot download {label}: {type(exc).__name__}: {' '.join(str(exc).split())}") \
            from None
    digest = sha256_of(part)
    if sha256 is not None and digest.lower() != sha256.lower():
        part.unlink()
        raise FaceEditError(f"checksum mismatch for {label}: expected sha256 {sha256}, got {digest}; the download "
                            "was removed, run the command again")
    os.replace(part, dest)
    return digest


def fetch_model(name: str, cache_dir: str | os.PathLike | None = None, progress: bool = True, force: bool = False,
                log: Callable[[str], None] = _log, timeout: float = 30.0) -> Path:
    """Download registry model ``name`` into the cache (``<cache>/<name>/<filename>``) and return its path."""
    entry: ModelEntry = get_entry(name)
    if entry.url is None:
        raise FaceEditError(f"model {name!r} is embedded in faceedit and needs no download")
    dest = model_path(name, cache_dir)
    if dest.is_file() and not force:
        if entry.sha256 and sha256_of(dest) != entry.sha256:
            log(f"{dest} does not match its published sha256; downloading it again")
            dest.unlink()
        else:
            log(f"{name} is already downloaded: {dest}")
            return dest
    sources = [(entry.url, entry.sha256, dest.with_name(dest.name + ".part"))]
    sources += [(m.url, m.sha256, dest.with_name(f"{dest.name}.mirror{i}.part")) for i, m in enumerate(entry.mirrors)]
    errors = []
    for i, (url, sha, part) in enumerate(sources):
        if i:
            log(f"trying mirror {url}")
        try:
            digest = download(url, dest, sha256=sha, label=name, part=part, progress=progress, log=log,
                              timeout=timeout)
        except FaceEditError as exc:
            errors.append(str(exc))
            continue
        if sha is None:
            log(f"sha256 {digest} (not verified: no published checksum is known for {url})")
        else:
            log(f"sha256 {digest} verified")
        for _, _, other in sources:
            if other.exists():
                other.unlink()
        return dest
    _remove_if_empty(dest.parent)
    message = errors[0] if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} mirror(s) failed)"
    raise FaceEditError(f"{message}; or download {entry.url} by hand and put it at {dest} "
                        "('faceedit models list' then shows it)")


def _remove_if_empty(folder: Path) -> None:
    """Remove the model's cache folder when a failed fetch left nothing in it (no partial file to resume)."""
    try:
        folder.rmdir()  # only succeeds when empty
    except OSError:
        pass
