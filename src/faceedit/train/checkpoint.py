"""Training checkpoints (full state, atomic) and the fp16 weights export/import.

Full state: ``<run-dir>/checkpoint.pt`` (torch.save of plain dicts and tensors, loadable with weights_only):
G, G_ema, D, both optimisers, step, cumulative images seen, RNG state, totals (kimg, CPU hours, GPU minutes,
milestones), augmentation state, the configurations. Written atomically: a run killed at any moment leaves the
previous or the new checkpoint, never a broken one.

Weights: one ``.safetensors`` with tensors prefixed ``G_ema.``, ``G.``, ``D.`` (fp16 by default) and the metadata
key ``faceedit`` = JSON ``{"format_version": 1, "g_config": ..., "d_config": ..., "card": {...}}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from faceedit.atomic import atomic_path
from faceedit.errors import FaceEditError
from faceedit.io.native import save_native
from faceedit.io.weights import load_state, read_file

CHECKPOINT_FORMAT = "faceedit-train-checkpoint"
CHECKPOINT_VERSION = 1
LICENCE = "research-only: trained on CelebA/CelebAMask-HQ (non-commercial research use only)"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """torch.save ``state`` to ``path`` atomically (temp file + fsync + rename)."""
    state = dict(state, format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_state(path: str | Path, what: str = "training checkpoint") -> dict[str, Any]:
    """The dict in a ``torch.save`` file, read with PyTorch's restricted unpickler (``weights_only=True``: tensors,
    containers, numbers, strings; ``pathlib`` paths also allowed): a crafted file cannot run code. Every
    training-run checkpoint of the project (GAN, classifier, parser, encoder) is read through here. Raises
    :class:`FileNotFoundError` for a missing file, :class:`FaceEditError` for anything else."""
    import pathlib

    from faceedit.limits import regular_file

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    regular_file(path, what)
    safe = [pathlib.PosixPath, pathlib.PurePosixPath, pathlib.WindowsPath, pathlib.PureWindowsPath]
    try:
        with torch.serialization.safe_globals(safe):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types; the refusal of a global lands here too
        detail = " ".join(str(exc).split())
        if "weights_only" in detail or "Unsupported global" in detail or "Unsupported operand" in detail:
            detail = "it holds objects other than tensors and plain data (refused: loading it could run code)"
        raise FaceEditError(f"cannot read {what} {path}: {detail[:300]}") from None
    if not isinstance(state, dict):
        raise FaceEditError(f"{path} is not a {what} (no dict inside)")
    return state


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    state = read_state(path)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise FaceEditError(f"{path} is not a faceedit training checkpoint")
    return state


def _cpu_state(module: torch.nn.Module, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in module.state_dict().items():
        v = v.detach().to("cpu")
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v.contiguous()
    return out


def export_weights(path: str | Path, G_ema, G=None, D=None, card: dict | None = None,
                   dtype: torch.dtype = torch.float16) -> None:
    """Write G_ema (+ G, D) as one faceedit model file (:func:`faceedit.io.native.save_native`), with the card
    in its metadata and beside it as ``<stem>.json``."""
    save_native(path, G_ema, D=D, G=G, card=card or {}, dtype=dtype, write_card=True)


def read_weights(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """Read a faceedit model file → (metadata dict, {"G_ema": sd, "G": sd, "D": sd, ...}) with float32 tensors."""
    meta, flat = read_file(path, "weights")
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, t in flat.items():
        prefix, _, name = key.partition(".")
        groups.setdefault(prefix, {})[name] = t
    return meta, groups


def load_into(module: torch.nn.Module, sd: dict[str, torch.Tensor], what: str) -> int:
    """Copy ``sd`` into ``module`` exactly (names and shapes). Returns the number of tensors copied."""
    return load_state(module, sd, what)
