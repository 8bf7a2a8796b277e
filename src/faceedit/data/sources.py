"""The raw face folders of ``../shared/data`` and their labels, as a list of :class:`Item` to align.

Sources, in build order (best quality first):

``celebamask-hq``  ``celebamask-hq/images/*.jpg`` + ``masks/*.png`` (19-class parsing maps); no identity is known,
                   so each image is its own identity.
``celeba``         ``celeba/img_align_celeba/*.jpg`` (178×218): CelebA's 40 attributes and identity.
``celeba-89x109``  ``celeba/img_align_celeba_89x109/*.jpg``: the same labels; images also present in the
                   178×218 folder are skipped (same photo, half size).
``utkface``        ``utkface/AGE_GENDER_RACE_TIMESTAMP.jpg``: age, gender (0 male, 1 female), race
                   (0 White, 1 Black, 2 Asian, 3 Indian, 4 Other); each image its own identity.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

SOURCES = ("celebamask-hq", "celeba", "celeba-89x109", "utkface")


@dataclass
class Item:
    """One raw image to align. ``key``: ``source/stem``, unique in a build."""

    key: str
    source: str
    path: str
    identity: str
    mask: str | None = None
    labels: dict = field(default_factory=dict)


def val_split(identity: str, val_fraction: float = 0.1) -> str:
    """Deterministic identity-level split: ``"val"`` for about ``val_fraction`` of identities, else ``"train"``."""
    h = int.from_bytes(hashlib.sha1(identity.encode("utf-8")).digest()[:4], "big")
    return "val" if (h % 10_000) < val_fraction * 10_000 else "train"


def _read_celeba_labels(root: Path) -> tuple[dict[str, int], dict[str, dict[str, int]], list[str]]:
    ident: dict[str, int] = {}
    p = root / "identity_CelebA.txt"
    if p.is_file():
        for line in p.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                ident[parts[0]] = int(parts[1])
    attrs: dict[str, dict[str, int]] = {}
    names: list[str] = []
    p = root / "list_attr_celeba.txt"
    if p.is_file():
        with open(p) as f:
            f.readline()
            names = f.readline().split()
            for line in f:
                parts = line.split()
                if len(parts) == len(names) + 1:
                    attrs[parts[0]] = {n: int(v == "1") for n, v in zip(names, parts[1:])}
    return ident, attrs, names


def list_items(src: str | os.PathLike, sources: tuple[str, ...] = SOURCES) -> tuple[list[Item], dict]:
    """Every raw image under ``src`` for the chosen sources, in build order; plus notes (counts, skips)."""
    src = Path(src)
    items: list[Item] = []
    notes: dict = {}
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        from faceedit.errors import FaceEditError

        raise FaceEditError(f"unknown source(s) {', '.join(unknown)}: choose from {', '.join(SOURCES)}")
    celeba_root = src / "celeba"
    ident = attrs = None
    big_names: set[str] = set()
    for source in sources:
        if source == "celebamask-hq":
            d = src / "celebamask-hq" / "images"
            if not d.is_dir():
                notes[source] = "absent"
                continue
            md = src / "celebamask-hq" / "masks"
            files = sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                           and not p.name.startswith("."))
            for p in files:
                m = md / f"{p.stem}.png"
                items.append(Item(key=f"{source}/{p.stem}", source=source, path=str(p), identity=f"{source}:{p.stem}",
                                  mask=str(m) if m.is_file() else None))
            notes[source] = len(files)
        elif source in ("celeba", "celeba-89x109"):
            d = celeba_root / ("img_align_celeba" if source == "celeba" else "img_align_celeba_89x109")
            if not d.is_dir():
                notes[source] = "absent"
                continue
            if ident is None:
                ident, attrs, _ = _read_celeba_labels(celeba_root)
            if source == "celeba-89x109" and not big_names and (celeba_root / "img_align_celeba").is_dir():
                big_names = {p.name for p in (celeba_root / "img_align_celeba").iterdir()}
            files = sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                           and not p.name.startswith("."))
            skipped = 0
            for p in files:
                if source == "celeba-89x109" and p.name in big_names:
                    skipped += 1
                    continue
                idn = ident.get(p.name)
                labels = {"attributes": attrs.get(p.name)} if attrs.get(p.name) else {}
                items.append(Item(key=f"{source}/{p.stem}", source=source, path=str(p),
                                  identity=f"celeba:{idn}" if idn is not None else f"{source}:{p.stem}",
                                  labels={**labels, "celeba_file": p.name}))
            notes[source] = len(files) - skipped
            if skipped:
                notes[f"{source} duplicates skipped"] = skipped
        elif source == "utkface":
            d = src / "utkface"
            if not d.is_dir():
                notes[source] = "absent"
                continue
            files = sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                           and not p.name.startswith("."))
            bad = 0
            for p in files:
                parts = p.name.split(".")[0].split("_")
                try:
                    age, gender, race = int(parts[0]), int(parts[1]), int(parts[2])
                    if not (0 <= age <= 130 and gender in (0, 1) and 0 <= race <= 4):
                        raise ValueError
                except (ValueError, IndexError):
                    bad += 1
                    continue
                items.append(Item(key=f"{source}/{p.stem}", source=source, path=str(p), identity=f"{source}:{p.stem}",
                                  labels={"age": age, "gender": gender, "race": race}))
            notes[source] = len(files) - bad
            if bad:
                notes[f"{source} unparsable names skipped"] = bad
    return items, notes
