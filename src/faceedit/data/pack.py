"""``faceedit data pack``: one compact archive of an aligned build, for machines that take little luggage.

The archive holds ``images/<source>/<stem>.webp`` (or ``.jpg``), optionally ``masks/<source>/<stem>.png``, and
the manifest (``manifest.jsonl``; rows as in the build, with ``path``/``mask`` pointing at archive members).
A ``.zip`` stores images uncompressed (they already are) and deflates the manifest; a ``.tar`` stores images as
they are and the manifest as ``manifest.jsonl.gz``. Read it with :class:`faceedit.data.PackDataset`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import tarfile
import time
import zipfile
from pathlib import Path

from faceedit import atomic
from faceedit.errors import FaceEditError

#: Fields of a build's manifest row kept in a pack.
PACK_FIELDS = ("path", "source", "size", "identity", "split", "padding", "mask", "attributes", "celeba_file",
               "age", "gender", "race")


def encode_image(img, fmt: str, quality: int) -> bytes:
    """Encode a PIL RGB image as WebP or JPEG bytes at ``quality``."""
    buf = io.BytesIO()
    if fmt == "webp":
        img.save(buf, format="WEBP", quality=quality, method=6)
    else:
        img.save(buf, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2, optimize=True)
    return buf.getvalue()


def _read_build_manifest(build_dir: Path) -> list[dict]:
    p = build_dir / "manifest.jsonl"
    if not p.is_file():
        raise FaceEditError(f"no manifest.jsonl in {build_dir}: is it a folder made by `faceedit data build`?")
    rows = []
    with open(p) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise FaceEditError(f"{p} line {n} is not valid JSON") from None
    return rows


class _Writer:
    def __init__(self, path: Path, kind: str):
        self.kind = kind
        if kind == "zip":
            self.f = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED)
        else:
            self.f = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.path = path

    def add(self, name: str, data: bytes, compress: bool = False) -> None:
        if self.kind == "zip":
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            self.f.writestr(info, data)
        else:
            if compress:
                name, data = name + ".gz", gzip.compress(data, mtime=0)
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            self.f.addfile(ti, io.BytesIO(data))

    def close(self) -> None:
        self.f.close()


def pack_dataset(build_dir: str | os.PathLike, output: str | os.PathLike, size: int | None = None, quality: int = 90,
                 fmt: str = "webp", max_mb: float | None = None, max_padding: float = 1.0,
                 sources: tuple[str, ...] | None = None, split: str = "all", masks: bool = False,
                 progress: bool = True) -> dict:
    """Re-encode an aligned build into one archive at ``output`` (written atomically). Returns a summary.

    ``size``: image side in the archive (default: the build's; resized with an antialiasing filter otherwise).
    ``quality``: WebP/JPEG quality 1–100. ``max_mb``: stop adding images once the archive would pass this many
    megabytes (10⁶ bytes); images are taken source by source in ``sources`` order (default: build order).
    ``max_padding``: leave out images whose reflect-padded share exceeds this. ``split``: train, val or all.
    """
    from PIL import Image
    from tqdm import tqdm

    build_dir, output = Path(build_dir), Path(output)
    fmt = fmt.lower().replace("jpg", "jpeg")
    if fmt not in ("webp", "jpeg"):
        raise FaceEditError(f"--format must be webp or jpeg, got {fmt!r}")
    if not 1 <= quality <= 100:
        raise FaceEditError(f"--quality must be from 1 to 100, got {quality}")
    if split not in ("train", "val", "all"):
        raise FaceEditError(f"--split must be train, val or all, got {split!r}")
    kind = {".zip": "zip", ".tar": "tar"}.get(output.suffix.lower())
    if kind is None:
        raise FaceEditError(f"output must end in .zip or .tar, got {output.name}")
    if max_mb is not None and max_mb <= 0:
        raise FaceEditError(f"--max-mb must be positive, got {max_mb}")
    if not build_dir.is_dir():
        raise FaceEditError(f"build folder not found: {build_dir}")
    rows = _read_build_manifest(build_dir)
    if size is None:
        size = int(rows[0].get("size", 128)) if rows else 128
    if not 16 <= size <= 1024:
        raise FaceEditError(f"--size must be from 16 to 1024, got {size}")
    present = list(dict.fromkeys(r["source"] for r in rows))
    order = list(sources) if sources else present
    unknown = [s for s in order if s not in present]
    if unknown:
        raise FaceEditError(f"source(s) {', '.join(unknown)} not in this build (it has {', '.join(present)})")
    rank = {s: i for i, s in enumerate(order)}
    chosen = [r for r in rows if r["source"] in rank and r.get("padding", 0.0) <= max_padding
              and (split == "all" or r.get("split") == split)]
    chosen.sort(key=lambda r: rank[r["source"]])  # stable: keeps the build's order within a source
    limit = None if max_mb is None else int(max_mb * 1_000_000)
    ext = "webp" if fmt == "webp" else "jpg"
    written, out_rows, left_out = 0, [], 0
    t0 = time.time()
    with atomic.atomic_path(output) as tmp:
        w = _Writer(tmp, kind)
        try:
            for r in tqdm(chosen, desc="pack", unit="img", disable=not progress, file=sys.stderr):
                im = Image.open(build_dir / r["path"]).convert("RGB")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.LANCZOS)
                data = encode_image(im, fmt, quality)
                stem = Path(r["path"]).stem
                name = f"images/{r['source']}/{stem}.{ext}"
                mdata, mname = None, None
                if masks and r.get("mask"):
                    m = Image.open(build_dir / r["mask"])
                    if m.size != (size, size):
                        m = m.resize((size, size), Image.NEAREST)
                    buf = io.BytesIO()
                    m.save(buf, format="PNG", optimize=True)
                    mdata, mname = buf.getvalue(), f"masks/{r['source']}/{stem}.png"
                row = {k: r[k] for k in PACK_FIELDS if k in r}
                row.update(path=name, size=size, mask=mname)
                # per entry: data + zip/tar headers (local + central, name twice); the deflated manifest
                # costs ~25 bytes a row (measured), counted generously.
                head = 2 * len(name) + 100 if kind == "zip" else 512 + 512
                cost = len(data) + head + 80 + (len(mdata) + head if mdata else 0)
                if limit is not None and written + cost > limit - 4096:
                    left_out = len(chosen) - len(out_rows)
                    break
                w.add(name, data)
                if mdata:
                    w.add(mname, mdata)
                written += cost
                out_rows.append(row)
            manifest = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in out_rows).encode()
            w.add("manifest.jsonl", manifest, compress=True)
            info = {"size": size, "format": fmt, "quality": quality, "images": len(out_rows),
                    "sources": order, "split": split, "max_padding": max_padding}
            w.add("pack_info.json", json.dumps(info, indent=1).encode())
        finally:
            w.close()
    nbytes = output.stat().st_size
    return {"images": len(out_rows), "size": size, "format": fmt, "quality": quality, "bytes": nbytes,
            "mb": nbytes / 1e6, "kb_per_image": nbytes / 1e3 / max(1, len(out_rows)), "left_out": left_out,
            "by_source": {s: sum(r["source"] == s for r in out_rows) for s in order},
            "val": sum(r.get("split") == "val" for r in out_rows), "seconds": round(time.time() - t0, 1)}
