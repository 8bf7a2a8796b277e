"""``faceedit data build``: one consistently FFHQ-aligned training set from the raw face folders.

Output folder layout::

    OUT/images/<source>/<stem>.png      aligned faces, size×size RGB, lossless PNG
    OUT/masks/celebamask-hq/<stem>.png  parsing masks warped with their image (nearest), palette PNG
    OUT/records.jsonl                   one line per processed file (also failures); makes the build resumable
    OUT/manifest.jsonl                  one row per aligned image (see :func:`build_dataset`)
    OUT/build_info.json                 size, format, counts, timings

Images are stored as PNG: the build is the master copy from which compact packs are re-encoded (WebP/JPEG at a
chosen quality), so it must not carry a first round of lossy artefacts; 128-px PNGs cost ~30 KB each.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from faceedit import atomic
from faceedit.data.sources import SOURCES, Item, list_items, val_split
from faceedit.errors import FaceEditError

MANIFEST = "manifest.jsonl"
RECORDS = "records.jsonl"
INFO = "build_info.json"


def _process(job: tuple[dict, int, str]) -> dict:
    """Align one item (runs in a worker). Returns its record; never raises."""
    item, size, out = job
    from PIL import Image

    from faceedit.align import align_face, load_image

    rec = {"key": item["key"], "source": item["source"], "orig": item["path"]}
    try:
        img = load_image(item["path"])
        af = align_face(img, size=size, name=item["path"])
        stem = Path(item["path"]).stem
        rel = f"images/{item['source']}/{stem}.png"
        with atomic.atomic_path(Path(out) / rel) as tmp:
            Image.fromarray(af.image).save(tmp, format="PNG", compress_level=6)
        rec.update(status="ok", path=rel, size=size, padding=round(af.padding, 4),
                   eye_distance=round(af.face.eye_distance, 2), detector=af.face.detector,
                   quad=np.asarray(af.transform.quad).round(3).tolist(),
                   landmarks=np.asarray(af.landmarks).round(2).tolist())
        if item.get("mask"):
            m = Image.open(item["mask"])
            palette = m.getpalette() if m.mode == "P" else None
            arr = np.asarray(m)
            if arr.ndim == 3:
                arr = arr[..., 0]
            if arr.shape != img.shape[:2]:
                raise FaceEditError(f"mask {item['mask']} is {arr.shape[1]}x{arr.shape[0]}, image is "
                                    f"{img.shape[1]}x{img.shape[0]}")
            warped = af.transform.warp_mask(arr, order="nearest", outside="reflect")
            out_m = Image.fromarray(warped.astype(np.uint8), mode="L")
            if palette:
                out_m = out_m.convert("P")
                out_m.putpalette(palette)
            mrel = f"masks/{item['source']}/{stem}.png"
            with atomic.atomic_path(Path(out) / mrel) as tmp:
                out_m.save(tmp, format="PNG")
            rec["mask"] = mrel
    except FaceEditError as exc:
        msg = str(exc)
        rec.update(status="no_face" if msg.startswith("no face") else
                   "too_small" if "too small" in msg else "error", message=msg)
    except Exception as exc:  # noqa: BLE001 - one bad file never stops a batch
        rec.update(status="error", message=f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    return rec


def read_records(out: Path) -> dict[str, dict]:
    """Records of an earlier (possibly interrupted) build, by key; the last line for a key wins."""
    recs: dict[str, dict] = {}
    p = Path(out) / RECORDS
    if not p.is_file():
        return recs
    with open(p) as f:
        for line in f:
            try:
                r = json.loads(line)
                recs[r["key"]] = r
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut short by a crash
    return recs


def manifest_rows(items: list[Item], recs: dict[str, dict], size: int, val_fraction: float) -> list[dict]:
    rows = []
    for it in items:
        r = recs.get(it.key)
        if not r or r.get("status") != "ok":
            continue
        row = {"path": r["path"], "source": it.source, "size": size, "identity": it.identity,
               "split": val_split(it.identity, val_fraction), "padding": r["padding"], "mask": r.get("mask"),
               "orig": r["orig"], "eye_distance": r.get("eye_distance"), "detector": r.get("detector"),
               "quad": r.get("quad")}
        row.update(it.labels)
        rows.append(row)
    return rows


def build_dataset(src: str | os.PathLike, out: str | os.PathLike, size: int = 128, *, limit: int | None = None,
                  workers: int = 2, sources: tuple[str, ...] = SOURCES, val_fraction: float = 0.1,
                  progress: bool = True, log=None) -> dict:
    """Align every raw image of ``src`` into ``out`` at ``size`` px; resumable. Returns a summary dict.

    ``limit``: at most this many images *per source* (for quick trials). ``workers``: processes.
    Manifest rows (``manifest.jsonl``): ``path`` (relative to ``out``), ``source``, ``size``, ``identity``
    (``celeba:<id>``, or a unique per-image id where no identity is known), ``split`` (``train``/``val``, by a
    hash of the identity, ~``val_fraction`` val), ``padding`` (fraction of the square made of reflect-padding),
    ``mask`` (or null), ``orig``, ``eye_distance``, ``detector``, ``quad``; CelebA rows add ``attributes``
    (40 names → 0/1) and ``celeba_file``; UTKFace rows add ``age``, ``gender``, ``race``.
    """
    from tqdm import tqdm

    from faceedit.align.detect import have_dlib
    from faceedit.align.ffhq import _check_size

    size = _check_size(size)
    if not have_dlib():
        raise FaceEditError("face alignment needs dlib: pip install 'faceedit[align]'")
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise FaceEditError(f"source folder not found: {src}")
    out.mkdir(parents=True, exist_ok=True)
    info_path = out / INFO
    if info_path.is_file():
        old = json.loads(info_path.read_text())
        if int(old.get("size", size)) != size:
            raise FaceEditError(f"{out} holds a {old['size']}-px build; use another --out for {size} px")
    log = log or (lambda m: print(m, file=sys.stderr))
    items, notes = list_items(src, tuple(sources))
    if limit is not None:
        per: dict[str, int] = {}
        kept = []
        for it in items:
            if per.get(it.source, 0) < limit:
                kept.append(it)
                per[it.source] = per.get(it.source, 0) + 1
        items = kept
    if not items:
        raise FaceEditError(f"no images found under {src} for sources {', '.join(sources)}")
    recs = read_records(out)
    todo = [it for it in items if not (it.key in recs and (recs[it.key].get("status") != "ok"
                                                          or (out / recs[it.key]["path"]).is_file()))]
    log(f"data build: {len(items)} images ({', '.join(f'{k}: {v}' for k, v in notes.items())}); "
        f"{len(items) - len(todo)} already done, {len(todo)} to align at {size} px with {workers} worker(s)")
    atomic.write_text(info_path, json.dumps({"size": size, "format": "png", "src": str(src),
                                             "sources": list(sources)}, indent=1))
    t0 = time.time()
    jobs = [(asdict(it), size, str(out)) for it in todo]
    counts: dict[str, int] = {}
    with open(out / RECORDS, "a") as rf, tqdm(total=len(jobs), desc="align", unit="img", disable=not progress,
                                              file=sys.stderr, smoothing=0.05) as bar:
        def handle(rec):
            recs[rec["key"]] = rec
            rf.write(json.dumps(rec) + "\n")
            rf.flush()
            counts[rec["status"]] = counts.get(rec["status"], 0) + 1
            bar.update(1)

        if workers <= 1 or len(jobs) < 8:
            for j in jobs:
                handle(_process(j))
        else:
            ctx = mp.get_context("spawn")  # safe even if dlib already ran in this process (fork can deadlock)
            with ctx.Pool(workers) as pool:
                for rec in pool.imap(_process, jobs, chunksize=8):
                    handle(rec)
    elapsed = time.time() - t0
    rows = manifest_rows(items, recs, size, val_fraction)
    atomic.write_text(out / MANIFEST, "".join(json.dumps(r) + "\n" for r in rows))
    status_all: dict[str, int] = {}
    for it in items:
        st = recs.get(it.key, {}).get("status", "missing")
        status_all[st] = status_all.get(st, 0) + 1
    by_source: dict[str, int] = {}
    for r in rows:
        by_source[r["source"]] = by_source.get(r["source"], 0) + 1
    summary = {"size": size, "format": "png", "images": len(rows), "by_source": by_source, "status": status_all,
               "this_run": counts, "seconds_this_run": round(elapsed, 1),
               "val": sum(r["split"] == "val" for r in rows), "notes": notes}
    atomic.write_text(info_path, json.dumps({**summary, "src": str(src), "sources": list(sources)}, indent=1))
    return summary
