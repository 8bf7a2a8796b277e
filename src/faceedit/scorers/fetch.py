"""Fetch the face-api.js weights (npm ``@vladmandic/face-api``, MIT) into the cache, pinned and checksummed.

``npm pack`` downloads the package tarball with the ordinary npm client; its sha512 must equal both the
``dist.integrity`` the registry reports now (``npm view``) and the value pinned below. Only ``model/*`` (tfjs
manifests and ``.bin`` shards) is extracted, into ``$FACEEDIT_CACHE/face-api-1.7.15/`` (default
``~/.cache/faceedit/face-api-1.7.15/``). The weights are never part of the repository.

Run it as ``faceedit scorers fetch-faceapi`` or ``python -m faceedit.scorers.fetch``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from faceedit.errors import FaceEditError

PACKAGE = "@vladmandic/face-api"
VERSION = "1.7.15"
#: sha512 of the npm tarball (``npm view @vladmandic/face-api@1.7.15 dist.integrity``), recorded 2025-11.
INTEGRITY = "sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw=="
#: The four networks the scorers use (each ``<name>-weights_manifest.json`` + ``<name>.bin``).
MODELS = ("age_gender_model", "face_expression_model", "face_landmark_68_model", "face_recognition_model")
FETCH_COMMAND = "faceedit scorers fetch-faceapi"
_STAMP = "FETCHED.json"


def default_dir() -> Path:
    """``$FACEEDIT_CACHE/face-api-1.7.15`` (``~/.cache/faceedit/face-api-1.7.15`` when the variable is unset)."""
    env = os.environ.get("FACEEDIT_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "faceedit"
    return root / f"face-api-{VERSION}"


def resolve_dir(cache: str | os.PathLike | None = None) -> Path:
    """The weights folder: ``cache`` itself when it holds the manifests, else ``cache/face-api-1.7.15``;
    :func:`default_dir` when ``cache`` is None."""
    if cache is None:
        return default_dir()
    p = Path(cache).expanduser()
    if (p / f"{MODELS[0]}-weights_manifest.json").is_file():
        return p
    return p / f"face-api-{VERSION}"


def missing_files(directory: str | os.PathLike) -> list[str]:
    """Names of the manifests of :data:`MODELS`, and of the shards they list, absent from ``directory``."""
    d = Path(directory)
    absent = []
    for m in MODELS:
        manifest = d / f"{m}-weights_manifest.json"
        if not manifest.is_file():
            absent.append(manifest.name)
            continue
        try:
            shards = [p for g in json.loads(manifest.read_text(encoding="utf-8")) for p in g["paths"]]
        except (OSError, ValueError, KeyError, TypeError):
            shards = [f"{m}.bin"]
        absent += [s for s in shards if not (d / s).is_file()]
    return absent


def have_weights(cache: str | os.PathLike | None = None) -> bool:
    """True when every file the scorers need is in the weights folder."""
    return not missing_files(resolve_dir(cache))


def not_found_message(directory: str | os.PathLike) -> str:
    return f"face-api weights not found in {directory}: run {FETCH_COMMAND} (needs npm)"


def sri_sha512(path: str | os.PathLike) -> str:
    """Subresource-integrity string (``sha512-<base64>``) of a file, as npm writes it."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha512-" + base64.b64encode(h.digest()).decode("ascii")


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise FaceEditError(f"npm not found: install Node.js/npm to fetch the face-api weights ({PACKAGE}@{VERSION}); "
                            "everything else works without them")
    return npm


def _run_npm(args: list[str], cwd: str) -> str:
    npm = _npm()
    try:
        proc = subprocess.run([npm, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise FaceEditError(f"npm {' '.join(args)} timed out") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "warn" not in ln.lower()]
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise FaceEditError(f"npm {' '.join(args)} failed: {detail}")
    return proc.stdout


def registry_integrity() -> str:
    """The integrity string the npm registry reports for the pinned version."""
    out = _run_npm(["view", f"{PACKAGE}@{VERSION}", "dist.integrity"], cwd=tempfile.gettempdir()).strip()
    if not out.startswith("sha512-"):
        raise FaceEditError(f"npm view {PACKAGE}@{VERSION} dist.integrity gave no sha512 integrity: {out[:80]!r}")
    return out


def _extract_models(tarball: Path, dest: Path) -> list[str]:
    """Extract ``package/model/*`` regular files (flat names only) from ``tarball`` into ``dest``."""
    names = []
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                if len(parts) != 3 or parts[0] != "package" or parts[1] != "model" or not member.isfile():
                    continue
                name = parts[2]
                if not name or name.startswith(".") or not (name.endswith(".json") or name.endswith(".bin")):
                    continue
                src = tar.extractfile(member)
                if src is None:
                    continue
                with src, open(dest / name, "wb") as f:
                    shutil.copyfileobj(src, f)
                names.append(name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FaceEditError(f"cannot read npm tarball {tarball}: {exc}") from None
    return sorted(names)


def fetch_faceapi(cache: str | os.PathLike | None = None, *, tarball: str | os.PathLike | None = None,
                  force: bool = False, check_registry: bool = True, log=None) -> Path:
    """Download (``npm pack``), verify and extract the face-api weights; returns the weights folder.

    ``tarball``: use this already downloaded ``.tgz`` instead of ``npm pack`` (still verified against the pinned
    integrity). ``check_registry``: also compare with ``npm view … dist.integrity`` (needs the registry).
    Does nothing when the folder is complete, unless ``force``.
    """
    say = log or (lambda msg: print(msg, file=sys.stderr))
    dest = resolve_dir(cache)
    if not force and not missing_files(dest):
        say(f"face-api weights already in {dest}")
        return dest
    with tempfile.TemporaryDirectory(prefix="faceapi-") as tmp:
        if tarball is None:
            if check_registry:
                reported = registry_integrity()
                if reported != INTEGRITY:
                    raise FaceEditError(f"{PACKAGE}@{VERSION}: registry integrity {reported} differs from the pinned "
                                        f"{INTEGRITY}; refusing to use it")
            say(f"npm pack {PACKAGE}@{VERSION}")
            _run_npm(["pack", f"{PACKAGE}@{VERSION}"], cwd=tmp)
            found = sorted(Path(tmp).glob("*.tgz"))
            if len(found) != 1:
                raise FaceEditError(f"npm pack {PACKAGE}@{VERSION} produced {len(found)} tarballs in {tmp}")
            tgz = found[0]
        else:
            tgz = Path(tarball).expanduser()
            if not tgz.is_file():
                raise FaceEditError(f"tarball not found: {tgz}")
        actual = sri_sha512(tgz)
        if actual != INTEGRITY:
            raise FaceEditError(f"checksum mismatch for {tgz.name}: {actual} (expected {INTEGRITY})")
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            os.chmod(staging, 0o755)
            names = _extract_models(tgz, staging)
            absent = missing_files(staging)
            if absent:
                raise FaceEditError(f"{PACKAGE}@{VERSION} tarball lacks {', '.join(absent)}")
            stamp = {"package": PACKAGE, "version": VERSION, "integrity": actual,
                     "files": {n: hashlib.sha256((staging / n).read_bytes()).hexdigest() for n in names}}
            (staging / _STAMP).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
            if dest.exists():
                old = dest.with_name(dest.name + ".old")
                shutil.rmtree(old, ignore_errors=True)
                dest.rename(old)
                staging.rename(dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                staging.rename(dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    say(f"face-api {VERSION} weights ({len(names)} files) in {dest}")
    return dest


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m faceedit.scorers.fetch", description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=None, help="cache folder (default: $FACEEDIT_CACHE or ~/.cache/faceedit)")
    ap.add_argument("--tarball", default=None, help="use this downloaded .tgz instead of npm pack")
    ap.add_argument("--force", action="store_true", help="fetch again even when the weights are present")
    args = ap.parse_args(argv)
    try:
        fetch_faceapi(args.cache, tarball=args.tarball, force=args.force)
    except FaceEditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
