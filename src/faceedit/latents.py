"""Latent files (.npz): w+ codes with the seeds and the model they belong to, so a later edit can check them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from faceedit.atomic import write_bytes
from faceedit.errors import FaceEditError


def save_latents(path: str | Path, ws: np.ndarray, model=None, seeds: np.ndarray | None = None, **extra) -> Path:
    """Write ``ws`` [N, num_ws, w_dim] (+ seeds, model name/checksum, any extra arrays) to an .npz atomically."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise FaceEditError(f"latent files are .npz, got {path.name}")
    meta = {"num_ws": int(ws.shape[1]), "w_dim": int(ws.shape[2])}
    if model is not None:
        meta.update(model=model.name, model_sha256=model.sha256, resolution=model.resolution)
    arrays = {"ws": np.asarray(ws, dtype=np.float32), "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    if seeds is not None:
        arrays["seeds"] = np.asarray(seeds, dtype=np.int64)
    arrays.update({k: np.asarray(v) for k, v in extra.items()})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(path, buf.getvalue())
    return path


def load_latents(path: str | Path) -> tuple[np.ndarray, dict]:
    """Read an .npz written by :func:`save_latents` (or any .npz/.npy holding a 'ws' or 'w' array)."""
    path = Path(path)
    if not path.is_file():
        raise FaceEditError(f"latent file not found: {path}")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False), {}
        with np.load(path, allow_pickle=False) as data:
            key = "ws" if "ws" in data else "w" if "w" in data else None
            if key is None:
                raise FaceEditError(f"{path} holds no 'ws' or 'w' array (keys: {', '.join(data.files)})")
            meta = json.loads(bytes(data["meta"]).decode()) if "meta" in data else {}
            return data[key], meta
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy raises many types for corrupt files
        raise FaceEditError(f"cannot read latent file {path}: {exc}") from exc
