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
    """Read an .npz written by :func:`save_latents` (or any .npz/.npy holding a 'ws' or 'w' array).

    Refused with a one-line error: a missing or non-regular file, an array that is not a float array of at most
    :data:`MAX_LATENT_ROWS` × 64 × 4096 values, or values that are NaN, infinite or beyond ±``MAX_LATENT_ABS``."""
    from faceedit.limits import check_latents, regular_file

    path = Path(path)
    if not path.exists():
        raise FaceEditError(f"latent file not found: {path}")
    regular_file(path, "latent file")
    try:
        if path.suffix.lower() == ".npy":
            arr, meta = _checked(np.load(path, allow_pickle=False, mmap_mode="r"), path), {}
        else:
            with np.load(path, allow_pickle=False) as data:
                key = "ws" if "ws" in data else "w" if "w" in data else None
                if key is None:
                    raise FaceEditError(f"{path} holds no 'ws' or 'w' array (keys: {', '.join(data.files[:10])})")
                _check_shape(_npz_shape(data, key), path)
                meta = {}
                if "meta" in data:
                    if int(np.prod(_npz_shape(data, "meta"))) > 1_000_000:
                        raise FaceEditError(f"{path}: its 'meta' entry is too large")
                    meta = json.loads(bytes(data["meta"]).decode())
                if not isinstance(meta, dict):
                    raise FaceEditError(f"{path}: its 'meta' entry is not a JSON object")
                arr = _checked(data[key], path)
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy raises many types for corrupt files
        raise FaceEditError(f"cannot read latent file {path}: {' '.join(str(exc).split())}") from None
    check_latents(arr, f"latent file {path}")
    return arr, meta


#: Rows (faces) in one latent file.
MAX_LATENT_ROWS = 1_000_000


def _npz_shape(data, key: str) -> tuple[int, ...]:
    """The shape of the array ``key`` of an open .npz, read from its header without loading the array."""
    with data.zip.open(f"{key}.npy") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, _ = read(f)
    return tuple(int(n) for n in shape)


def _check_shape(shape: tuple[int, ...], path: Path) -> None:
    if len(shape) not in (1, 2, 3):
        raise FaceEditError(f"{path}: latents must be an array of 1-3 dimensions, got shape {list(shape)}")
    if shape[-1] > 4096 or (len(shape) == 3 and shape[1] > 64) or shape[0] > MAX_LATENT_ROWS:
        raise FaceEditError(f"{path}: latent array of shape {list(shape)} is larger than any model's latents")


def _checked(arr: np.ndarray, path: Path) -> np.ndarray:
    """A float array of a latent's shape and a bounded size, read into memory."""
    _check_shape(tuple(arr.shape), path)
    if arr.dtype.kind != "f":
        raise FaceEditError(f"{path}: latents must be floating-point numbers, got {arr.dtype}")
    return np.array(arr, dtype=np.float32)
