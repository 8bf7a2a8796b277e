"""Read TensorFlow.js weights (``*-weights_manifest.json`` + binary shards) into numpy arrays.

The format (tfjs "weights manifest"): a JSON list of *groups*; each group names its shard files (``paths``, read
in order and concatenated) and its ``weights``, a list of ``{name, shape, dtype, quantization?}`` laid out back to
back in the concatenated bytes, little-endian. A weight without ``quantization`` takes ``prod(shape)`` values of
its ``dtype`` (``float32``, ``int32``, ``bool``). A quantised weight stores ``uint8`` / ``uint16`` codes ``q``
and decodes to ``q * scale + min`` (computed in float64, as JavaScript does, then stored in its ``dtype``), or
``float16`` values that are widened.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from faceedit.errors import FaceEditError

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_,
           "uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


def manifest_path(directory: str | os.PathLike, model: str) -> Path:
    """``<directory>/<model>-weights_manifest.json``."""
    return Path(directory) / f"{model}-weights_manifest.json"


def _decode(buf: bytes, offset: int, spec: dict, where: str) -> tuple[np.ndarray, int]:
    name, shape = spec["name"], [int(s) for s in spec["shape"]]
    dtype = spec.get("dtype", "float32")
    if dtype not in ("float32", "int32", "bool"):
        raise FaceEditError(f"{where}: weight {name!r} has unsupported dtype {dtype!r}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    quant = spec.get("quantization")
    stored = quant["dtype"] if quant else dtype
    if stored not in _DTYPES:
        raise FaceEditError(f"{where}: weight {name!r} has unsupported quantisation {stored!r}")
    np_stored = np.dtype(_DTYPES[stored]).newbyteorder("<")
    nbytes = count * np_stored.itemsize
    if offset + nbytes > len(buf):
        raise FaceEditError(f"{where}: shards too short for weight {name!r} (need {offset + nbytes} bytes, "
                            f"have {len(buf)})")
    raw = np.frombuffer(buf, dtype=np_stored, count=count, offset=offset)
    if quant and stored in ("uint8", "uint16"):
        values = (raw.astype(np.float64) * float(quant["scale"]) + float(quant["min"])).astype(_DTYPES[dtype])
    elif quant:  # float16
        values = raw.astype(_DTYPES[dtype])
    else:
        values = raw.astype(_DTYPES[dtype])  # copy: frombuffer is read-only
    return values.reshape(shape), offset + nbytes


def read_tfjs_weights(directory: str | os.PathLike, model: str) -> dict[str, np.ndarray]:
    """Decode every weight of ``<directory>/<model>-weights_manifest.json``; returns ``{name: array}`` in TF layout
    (conv filters ``[kh, kw, in, out]``, depthwise ``[kh, kw, in, multiplier]``, dense ``[in, out]``).

    Raises :class:`FaceEditError` when the manifest or a shard is missing or malformed.
    """
    mpath = manifest_path(directory, model)
    if not mpath.is_file():
        raise FaceEditError(f"tfjs weights manifest not found: {mpath}")
    try:
        groups = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FaceEditError(f"not a tfjs weights manifest: {mpath} ({exc})") from None
    if not isinstance(groups, list):
        raise FaceEditError(f"not a tfjs weights manifest (expected a list of groups): {mpath}")
    out: dict[str, np.ndarray] = {}
    for group in groups:
        try:
            paths, specs = group["paths"], group["weights"]
        except (KeyError, TypeError):
            raise FaceEditError(f"not a tfjs weights manifest (group without paths/weights): {mpath}") from None
        chunks = []
        for rel in paths:
            shard = mpath.parent / rel
            if not shard.is_file():
                raise FaceEditError(f"tfjs weights shard missing: {shard}")
            chunks.append(shard.read_bytes())
        buf = b"".join(chunks)
        offset = 0
        for spec in specs:
            try:
                arr, offset = _decode(buf, offset, spec, str(mpath))
            except (KeyError, TypeError, ValueError) as exc:
                raise FaceEditError(f"{mpath}: malformed weight entry {spec!r} ({exc})") from None
            out[spec["name"]] = arr
        if offset != len(buf):
            raise FaceEditError(f"{mpath}: shards hold {len(buf)} bytes but the manifest describes {offset}")
    return out
