"""The photos of a batch job: from folders, globs, single files and manifests (CSV or JSON lines).

    tasks, problems = collect(["photos/", "more/*.png", "list.csv"], job, exclude=Path("out"))

* a **folder** is searched recursively for image files (hidden files and the temporaries of interrupted writes
  left out); outputs keep the folder structure below it;
* a **glob** (``photos/**/*.jpg``, also on fsspec URIs: ``s3://bucket/in/*.jpg``) is expanded in sorted order;
  outputs are named relative to the glob's fixed part;
* a **manifest** — ``.csv`` with a header, or ``.jsonl`` with one JSON object a line — names one photo a row:
  ``path`` (required; relative paths are relative to the manifest's folder), ``output`` (its name below the
  output folder; default: the path relative to the manifest's folder, else its file name), ``keep``
  (attributes to hold fixed: ``male,age``), ``style`` (a style network, or empty for none), ``edits``
  (``smiling=1.5 age=-1``; in JSON an object), and in CSV any other column is an attribute amount (a blank cell:
  no edit of it; columns named ``id``, ``name``, ``note``, ``notes``, ``comment`` or starting with ``_`` are
  ignored). In JSON lines, other keys with a number are amounts too.

A bad manifest row does not stop the job: it comes back in ``problems`` as (``FILE:LINE``, reason).
"""

from __future__ import annotations

import csv
import glob as globlib
import io
import json
import math
import os
from pathlib import Path, PurePosixPath

from faceedit.batch.job import PhotoJob, PhotoTask, dedupe_outputs, output_name
from faceedit.batch.storage import _check_rel, _url_to_fs, is_uri, local_path
from faceedit.errors import FaceEditError

#: Photos in one job (a list of this many tasks is about 0.5 GB in the driver): split larger jobs.
MAX_ITEMS = 1_000_000
#: Largest |amount| of an edit (σ units), as for ``faceedit edit``.
MAX_AMOUNT = 50.0
#: Largest manifest file read (bytes).
MAX_MANIFEST_BYTES = 512 * 2 ** 20
MANIFEST_SUFFIXES = (".csv", ".jsonl")
RESERVED = ("path", "output", "keep", "style", "edits")
IGNORED = ("id", "name", "note", "notes", "comment")
_GLOB_CHARS = "*?["


def _is_image(name: str) -> bool:
    from faceedit.align.image import is_image_name

    return is_image_name(name)


class _Collector:
    def __init__(self, job: PhotoJob, exclude: Path | None, limit: int | None):
        self.job = job
        self.exclude = exclude.resolve() if exclude is not None else None
        self.cap = min(int(limit), MAX_ITEMS) if limit else MAX_ITEMS
        self.tasks: list[PhotoTask] = []
        self.problems: list[tuple[str, str]] = []

    @property
    def full(self) -> bool:
        return len(self.tasks) >= self.cap

    def add(self, task: PhotoTask) -> None:
        if len(self.tasks) >= MAX_ITEMS:
            raise FaceEditError(f"more than {MAX_ITEMS:,} photos in one job: split the input into several jobs")
        if not self.full:
            self.tasks.append(task)

    def image(self, src: str, rel: str, line: str = "") -> None:
        self.add(PhotoTask(input=src, output=output_name(rel, self.job), line=line or src))

    # ------------------------------------------------------------------------------------------- kinds of input
    def folder(self, root: Path) -> None:
        for dirpath, dirs, files in os.walk(root):
            here = Path(dirpath)
            if self.exclude is not None:  # the output folder inside the input folder: never read outputs
                dirs[:] = [d for d in dirs if (here / d).resolve() != self.exclude]
            dirs.sort()
            for name in sorted(files):
                if _is_image(name):
                    p = here / name
                    self.image(str(p), p.relative_to(root).as_posix())
                    if self.full:
                        return

    def pattern(self, text: str) -> None:
        fixed = text[:min(text.index(c) for c in _GLOB_CHARS if c in text)]
        base = fixed if fixed.endswith(("/", os.sep)) else os.path.dirname(fixed)
        if is_uri(text) and local_path(text) is None:
            fs, pat = _url_to_fs(text)
            _, base_path = _url_to_fs(base) if base else (fs, "")
            prefix = text.split("://", 1)[0] + "://"
            for p in sorted(fs.glob(pat)):
                if _is_image(p) and fs.isfile(p):
                    rel = str(p)[len(base_path.rstrip("/")):].lstrip("/") if base_path else PurePosixPath(p).name
                    self.image(prefix + str(p), rel)
                    if self.full:
                        return
            return
        pat = str(local_path(text))
        base_dir = Path(str(local_path(base)) if base else ".")
        for p in sorted(globlib.glob(pat, recursive=True)):
            path = Path(p)
            if _is_image(path.name) and path.is_file():
                if self.exclude is not None and self.exclude in path.resolve().parents:
                    continue
                try:
                    rel = path.relative_to(base_dir).as_posix()
                except ValueError:
                    rel = path.name
                self.image(str(path), rel)
                if self.full:
                    return

    def manifest(self, src: str) -> None:
        path = local_path(src)
        if path is not None:
            from faceedit.limits import regular_file

            regular_file(path, "manifest")
            if path.stat().st_size > MAX_MANIFEST_BYTES:
                raise FaceEditError(f"manifest too large: {src} (at most {MAX_MANIFEST_BYTES // 2 ** 20} MiB)")
            text = path.read_text(encoding="utf-8-sig", errors="replace")
            base = str(path.parent)
        else:
            from faceedit.batch.storage import read_input

            text = read_input(src, MAX_MANIFEST_BYTES).decode("utf-8-sig", errors="replace")
            base = src.rsplit("/", 1)[0]
        rows = _csv_rows(text, src) if src.lower().endswith(".csv") else _jsonl_rows(text)
        for line_no, row in rows:
            where = f"{src}:{line_no}"
            try:
                if isinstance(row, str):
                    raise FaceEditError(row)
                self.add(_task_from_row(row, base, self.job, where))
            except FaceEditError as exc:
                self.problems.append((where, str(exc)))
            if self.full:
                return


def _csv_rows(text: str, src: str):
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise FaceEditError(f"empty manifest: {src}") from None
    except csv.Error as exc:
        raise FaceEditError(f"bad CSV header in {src}: {exc}") from None
    names = [h.strip().lower() for h in header]
    if "path" not in names:
        raise FaceEditError(f"manifest {src} has no 'path' column (columns: {', '.join(names)[:200]})")
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, f"bad CSV row: {exc}"
            continue
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(names):
            yield reader.line_num, f"{len(cells)} cells for {len(names)} columns"
            continue
        yield reader.line_num, {n: c.strip() for n, c in zip(names, cells) if c.strip()}


def _jsonl_rows(text: str):
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            yield i, f"not a JSON object ({' '.join(str(exc).split())})"
            continue
        if not isinstance(row, dict):
            yield i, "not a JSON object"
            continue
        yield i, row


def _amount(name: str, value, where: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise FaceEditError(f"{name} = {str(value)[:40]!r} is not a number") from None
    if not math.isfinite(x) or abs(x) > MAX_AMOUNT:
        raise FaceEditError(f"{name} = {value}: amounts are from -{MAX_AMOUNT:g} to {MAX_AMOUNT:g}")
    return x


def parse_edit_text(text: str) -> dict[str, float]:
    """``'smiling=1.5 age=-1'`` (spaces, commas or semicolons between) → ``{'smiling': 1.5, 'age': -1.0}``."""
    from faceedit.edit.attributes import canonical

    out: dict[str, float] = {}
    for part in str(text).replace(";", " ").replace(",", " ").split():
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise FaceEditError(f"edit {part[:40]!r}: use NAME=AMOUNT, e.g. smiling=1.5")
        out[canonical(name)] = _amount(name, value, "")
    return out


def _names(value) -> tuple[str, ...]:
    from faceedit.edit.attributes import canonical

    items = value if isinstance(value, list) else str(value).replace(";", ",").replace(" ", ",").split(",")
    return tuple(canonical(str(k)) for k in items if str(k).strip())


def _task_from_row(row: dict, base: str, job: PhotoJob, where: str) -> PhotoTask:
    from faceedit.edit.attributes import canonical

    src = row.get("path")
    if not isinstance(src, str) or not src.strip():
        raise FaceEditError("no path")
    src = src.strip()
    if not is_uri(src) and not os.path.isabs(src):
        src = (base.rstrip("/") + "/" + src) if is_uri(base) else str(Path(base) / src)
    edits: dict[str, float] = {}
    raw = row.get("edits")
    if isinstance(raw, dict):
        edits.update({canonical(k): _amount(k, v, where) for k, v in raw.items()})
    elif raw not in (None, ""):
        edits.update(parse_edit_text(str(raw)))
    for k, v in row.items():
        if k in RESERVED or k in IGNORED or k.startswith("_"):
            continue
        if isinstance(v, (dict, list)):
            raise FaceEditError(f"unexpected {k!r}: give amounts as numbers, or under 'edits'")
        edits[canonical(k)] = _amount(k, v, where)
    out = row.get("output")
    if out:
        name = _check_rel(str(out))
        from faceedit.batch.job import image_format

        image_format(name)
    else:
        local_base, local_src = local_path(base), local_path(src)
        rel = PurePosixPath(src.replace("\\", "/")).name
        if local_base is not None and local_src is not None:
            try:
                rel = Path(os.path.abspath(local_src)).relative_to(os.path.abspath(local_base)).as_posix()
            except ValueError:
                pass
        name = output_name(rel, job)
    style = row.get("style")
    return PhotoTask(input=src, output=name, edits=edits,
                     keep=_names(row["keep"]) if "keep" in row else None,
                     style=None if style is None else str(style).strip(), line=where)


def collect(inputs: list[str], job: PhotoJob, exclude: Path | None = None,
            limit: int | None = None) -> tuple[list[PhotoTask], list[tuple[str, str]]]:
    """The tasks of ``inputs`` (folders, globs, files, manifests) in order, with colliding output names made
    distinct, and the bad manifest rows as (``FILE:LINE``, reason). ``exclude``: a folder never read (the
    job's output folder); ``limit``: stop after this many photos. Raises :class:`FaceEditError` for an input
    that does not exist or a manifest that cannot be read at all."""
    c = _Collector(job, exclude, limit)
    for text in inputs:
        if c.full:
            break
        text = str(text)
        if any(ch in text for ch in _GLOB_CHARS) and not (local_path(text) or Path("")).exists():
            c.pattern(text)
            continue
        if text.lower().endswith(MANIFEST_SUFFIXES):
            c.manifest(text)
            continue
        path = local_path(text)
        if path is not None:
            if path.is_dir():
                c.folder(path)
            elif path.is_file():
                c.image(str(path), path.name)
            else:
                raise FaceEditError(f"no such file or folder: {text}")
            continue
        fs, p = _url_to_fs(text)
        if fs.isdir(p):
            c.pattern(text.rstrip("/") + "/**")
        elif fs.isfile(p):
            c.image(text, PurePosixPath(p).name)
        else:
            raise FaceEditError(f"no such file or folder: {text}")
    return dedupe_outputs(c.tasks), c.problems
