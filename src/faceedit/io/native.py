"""faceedit's own checkpoint format: one ``.safetensors`` file, fp16 or fp32.

Tensors are stored under the prefixes ``G_ema.``, ``G.`` and ``D.`` with our (NVIDIA) names. The safetensors
metadata key ``"faceedit"`` holds ``json.dumps({"format_version": 1, "g_config": {...}, "d_config": {...} | None,
"card": {...} | None, "dtype": "float16" | "float32"})``. A copy of the card may be written beside the file as
``<name>.json`` for people to read; the loader never needs it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from faceedit import atomic
from faceedit.errors import FaceEditError
from faceedit.io.parts import CheckpointParts
from faceedit.io.weights import META_KEY
from faceedit.nn import Discriminator, Generator

FORMAT_VERSION = 1
#: Tensors of a resumable training-state file that no model part uses (``faceedit train save-state``).
TRAINING_ONLY_PREFIXES = ("FD.",)
PREFIXES = ("G_ema.", "G.", "D.")


def save_native(path: str | os.PathLike, G_ema: Generator, D: Discriminator | None = None,
                G: Generator | None = None, card: dict[str, Any] | None = None, dtype: torch.dtype = torch.float16,
                write_card: bool = False) -> Path:
    """Write G_ema (and G, D when given) to ``path`` atomically; returns the path.

    ``dtype`` (float16 or float32) applies to every tensor. ``card`` is any JSON-able dict (description, licence,
    training data...). ``write_card`` also writes it beside the checkpoint as ``<stem>.json``.
    """
    from safetensors.torch import save_file

    if dtype not in (torch.float16, torch.float32, torch.bfloat16):
        raise FaceEditError(f"unsupported checkpoint dtype {dtype}; use float16 or float32")
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, net in (("G_ema.", G_ema), ("G.", G), ("D.", D)):
        if net is None:
            continue
        for k, v in net.state_dict().items():
            tensors[prefix + k] = v.detach().to("cpu", dtype).contiguous().clone()
    header = {"format_version": FORMAT_VERSION, "g_config": G_ema.cfg.to_dict(),
              "d_config": D.cfg.to_dict() if D is not None else None, "card": card,
              "dtype": str(dtype).replace("torch.", ""), "has_G": G is not None}
    try:
        meta = {META_KEY: json.dumps(header)}
    except TypeError as exc:
        raise FaceEditError(f"model card is not JSON-serialisable ({exc})") from None
    with atomic.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    if write_card and card is not None:
        atomic.write_text(path.with_suffix(".json"), json.dumps(card, indent=2, sort_keys=True) + "\n")
    return path


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The faceedit JSON header of a native checkpoint (raises FaceEditError when absent or invalid)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        msg = " ".join(str(exc).split())
        if "not fully covered" in msg or "incomplete" in msg.lower():
            raise FaceEditError(f"{path} is truncated (its tensors run past the end of the file)") from None
        raise FaceEditError(f"{path} is not a readable safetensors file ({msg[:160]})") from None
    if META_KEY not in meta:
        return {}  # a bare safetensors state dict: the config is inferred from the tensor shapes
    try:
        header = json.loads(meta[META_KEY])
    except json.JSONDecodeError as exc:
        raise FaceEditError(f"{path}: invalid faceedit metadata ({exc})") from None
    if int(header.get("format_version", 0)) > FORMAT_VERSION:
        raise FaceEditError(f"{path} was written by a newer faceedit (format {header.get('format_version')})")
    return header


def read_native(path: str | os.PathLike, source: str | None = None) -> CheckpointParts:
    from safetensors.torch import load_file

    source = source or str(path)
    header = read_header(path)
    try:
        flat = load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001
        raise FaceEditError(f"{source} is truncated or corrupt ({' '.join(str(exc).split())[:160]})") from None
    nets: dict[str, dict[str, torch.Tensor]] = {p: {} for p in PREFIXES}
    if not header and "synthesis.b4.const" in flat:  # a bare generator state dict with our (NVIDIA) names
        flat = {"G_ema." + k: v for k, v in flat.items()}
    for k, v in flat.items():
        if k.startswith(TRAINING_ONLY_PREFIXES):  # training state (e.g. the feature discriminator): not a model part
            continue
        for p in PREFIXES:
            if k.startswith(p):
                nets[p][k[len(p):]] = v.to(torch.float32)
                break
        else:
            raise FaceEditError(f"{source}: unexpected tensor {k} (not under G_ema., G. or D.)")
    if not nets["G_ema."]:
        raise FaceEditError(f"{source} holds no G_ema tensors")
    return CheckpointParts("native" if header else "safetensors-state-dict", nets["G_ema."], nets["G."] or None, nets["D."] or None,
                           g_config=header.get("g_config"), d_config=header.get("d_config"),
                           meta={"card": header.get("card"), "dtype": header.get("dtype"),
                                 "format_version": header.get("format_version")})
