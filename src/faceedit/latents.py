"""Latent files (.npz): w+ codes with the seeds and the model they belong to, so a later edit can check them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from faceedit.atomic import write_bytes
from faceedit.errors import FaceEditError

#: Prefix of the noise maps an inversion optimised (``noise_b8.conv0`` → [N, 1, 8, 8]) in a latent .npz.
NOISE_PREFIX = "noise_"


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


class LatentWriter:
    """Write ``n`` w+ rows into an .npz as they come, with the same members as :func:`save_latents` (``ws``,
    ``meta``, ``seeds``), without holding them all: the ``ws`` member is streamed into the zip. The file appears
    atomically when the writer closes after exactly ``n`` rows; an error or a kill leaves no half file (only a
    hidden ``.NAME.tmp.*`` temporary after a kill, which folder scans ignore).

        with LatentWriter("faces.npz", n=len(seeds), num_ws=10, w_dim=256, model=m, seeds=seeds) as w:
            for batch in ...: w.write(batch_ws)      # [k, num_ws, w_dim]
    """

    def __init__(self, path: str | Path, n: int, num_ws: int, w_dim: int, model=None, seeds=None):
        self.path = Path(path)
        if self.path.suffix.lower() != ".npz":
            raise FaceEditError(f"latent files are .npz, got {self.path.name}")
        self.shape = (int(n), int(num_ws), int(w_dim))
        self.meta = {"num_ws": int(num_ws), "w_dim": int(w_dim)}
        if model is not None:
            self.meta.update(model=model.name, model_sha256=model.sha256, resolution=model.resolution)
        self.seeds = None if seeds is None else np.asarray(seeds, dtype=np.int64)
        self.rows = 0

    def __enter__(self) -> "LatentWriter":
        import zipfile

        from faceedit.atomic import atomic_path

        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._zip = zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True)
            self._member("meta", np.frombuffer(json.dumps(self.meta).encode(), np.uint8))
            if self.seeds is not None:
                self._member("seeds", self.seeds)
            self._ws = self._zip.open("ws.npy", "w", force_zip64=True)
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
                      "shape": self.shape}
            np.lib.format.write_array_header_2_0(self._ws, header)
        except BaseException as exc:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def _member(self, name: str, arr: np.ndarray) -> None:
        with self._zip.open(f"{name}.npy", "w") as f:
            np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)

    def write(self, ws) -> None:
        """Append rows ``ws`` [k, num_ws, w_dim] (numpy or torch)."""
        if hasattr(ws, "detach"):
            ws = ws.detach().cpu().numpy()
        arr = np.ascontiguousarray(np.asarray(ws, dtype="<f4"))
        if arr.ndim != 3 or arr.shape[1:] != self.shape[1:] or self.rows + arr.shape[0] > self.shape[0]:
            raise FaceEditError(f"latent rows of shape {list(arr.shape)} do not fit {list(self.shape)} after "
                                f"{self.rows} rows")
        self._ws.write(arr.tobytes())
        self.rows += arr.shape[0]

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self._ws.close()
            self._zip.close()
            if exc_type is None and self.rows != self.shape[0]:
                raise FaceEditError(f"{self.path}: {self.rows} of {self.shape[0]} latent rows written")
        except BaseException as err:
            self._atomic.__exit__(type(err), err, err.__traceback__)
            raise
        self._atomic.__exit__(exc_type, exc, tb)
        return False


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


def read_noise_maps(path: str | Path) -> dict[str, np.ndarray] | None:
    """The noise maps stored in a latent .npz by ``faceedit invert --noise`` (``{'b8.conv0': float32 [N, 1, 8,
    8], ...}``), or None when it holds none. Maps must be finite, square and at most 4096 px."""
    try:
        with np.load(path, allow_pickle=False) as data:
            names = [k for k in data.files if k.startswith(NOISE_PREFIX)]
            if not names:
                return None
            out = {}
            for k in names:
                shape = _npz_shape(data, k)
                if len(shape) != 4 or shape[1] != 1 or shape[2] != shape[3] or shape[2] > 4096:
                    raise FaceEditError(f"{path}: noise map {k[len(NOISE_PREFIX):]} has shape {list(shape)}, "
                                        "not [N, 1, r, r]")
                arr = np.asarray(data[k], dtype=np.float32)
                if not np.isfinite(arr).all():
                    raise FaceEditError(f"{path}: noise map {k[len(NOISE_PREFIX):]} holds NaN or infinite values")
                out[k[len(NOISE_PREFIX):]] = arr
            return out
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy raises many types for corrupt files
        raise FaceEditError(f"cannot read the noise maps in {path}: {' '.join(str(exc).split())}") from None


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
