"""What ``faceedit models list`` says about each model file: its size (on disk, published, or estimated from the
architecture), its sha256 (computed once per file and kept beside it, or the published one) and where it is or
would be cached."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from faceedit.atomic import write_text
from faceedit.io.registry import ModelEntry

#: Formats whose files hold G, D and G_ema (in float32), so that their size follows from the architecture.
_THREE_NETWORKS = {"nvidia-pkl", "tf-pkl", "rosinality"}
CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike, remember: bool = True) -> str:
    """sha256 of ``path``; with ``remember``, kept in ``<path>.sha256`` next to it (for the large files in the
    cache: recomputed when the file's size or time changed, or when that side file cannot be written)."""
    path = Path(path)
    if not remember:
        return _hash(path)
    st = path.stat()
    side = path.with_name(path.name + ".sha256")
    stamp = f"{st.st_size} {st.st_mtime_ns}"
    try:
        digest, seen = side.read_text(encoding="utf-8").split("\n")[:2]
        if seen == stamp and len(digest) == 64:
            return digest
    except (OSError, ValueError):
        pass
    digest = _hash(path)
    try:
        write_text(side, f"{digest}\n{stamp}\n")
    except OSError:
        pass  # a read-only cache: compute again next time
    return digest


def _hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def estimated_size(entry: ModelEntry) -> int | None:
    """Bytes a file of ``entry`` should have, from its generator and discriminator configs (float32 parameters
    of G, D and G_ema), or None where the architecture does not tell (encoders with extra networks, or a config
    that does not give the channel widths)."""
    if entry.format not in _THREE_NETWORKS or "channel_base" not in entry.config:
        return None
    import torch

    from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

    g_cfg = GeneratorConfig(**entry.config)
    d_cfg = DiscriminatorConfig(resolution=g_cfg.resolution, channel_base=g_cfg.channel_base,
                                channel_max=g_cfg.channel_max)
    with torch.device("meta"):  # shapes only: nothing is allocated
        g = sum(p.numel() for p in Generator(g_cfg).parameters())
        d = sum(p.numel() for p in Discriminator(d_cfg).parameters())
    return 4 * (2 * g + d)


def describe_size(entry: ModelEntry | None, path: Path | None) -> tuple[int | None, str]:
    """``(bytes, how it is known)``: the file on disk, the published size, an estimate, or ``(None, "unknown")``."""
    if path is not None and path.is_file():
        return path.stat().st_size, "file"
    if entry is not None:
        known = entry.size or next((m.size for m in entry.mirrors if m.size), None)
        if known:
            return known, "published"
        estimate = estimated_size(entry)
        if estimate:
            return estimate, "estimated"
    return None, "unknown"


def human_size(n: int | None, how: str = "file") -> str:
    """``381462551`` → ``"381 MB"`` (``"≈ 364 MB"`` for an estimate, ``"unknown until fetched"`` for None)."""
    if not n:
        return "unknown until fetched"
    text = f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"
    return f"≈ {text}" if how == "estimated" else text
