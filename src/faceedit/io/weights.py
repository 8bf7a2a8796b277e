"""Network weights as one safetensors file with a JSON header: the project's own small networks (attribute
classifier, face parser, inversion encoder) and faceedit model files.

One file per network: tensors (``dtype``, BatchNorm counters dropped) and, in the safetensors metadata under the
key ``faceedit``, a JSON string ``{"format_version": 1, "kind": ..., "config": {...}, "card": {...}}``. The card is
also written beside the weights as ``<name>.json`` for people to read.

    save_network("clf.safetensors", net, kind="attribute_classifier", config=cfg.to_dict(), card={...})
    meta, state = read_network("clf.safetensors", "attribute_classifier", "faceedit train classifier")
    load_state(net, state, "clf.safetensors")
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from faceedit.atomic import atomic_path
from faceedit.errors import FaceEditError

FORMAT_VERSION = 1
#: The safetensors metadata key of faceedit's JSON header (model files use it too, see :mod:`faceedit.io.native`).
META_KEY = "faceedit"
StateDict = dict[str, torch.Tensor]


def save_network(path: str | Path, module: torch.nn.Module, kind: str, config: dict, card: dict,
                 dtype: torch.dtype = torch.float16, side_card: bool = True) -> None:
    """Write ``module``'s weights (floats as ``dtype``) with ``config`` and ``card`` in the metadata; atomically,
    readable by all (shipped assets)."""
    from safetensors.torch import save_file

    tensors = {}
    for k, v in module.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        v = v.detach().to("cpu")
        if v.is_floating_point():
            v = v.to(dtype)
        tensors[k] = v.contiguous()
    meta = {"format_version": FORMAT_VERSION, "kind": kind, "config": config, "card": card}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)})
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
    if side_card:
        with atomic_path(path.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps({"kind": kind, "config": config, **card}, indent=1) + "\n")
            os.chmod(tmp, 0o644)


def read_file(path: str | Path, what: str = "weights") -> tuple[dict[str, Any], StateDict]:
    """``(header, state dict)`` of a faceedit safetensors file: its JSON header and every tensor (floats as
    float32). A file without the header, a truncated or unreadable one raises :class:`FaceEditError`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FaceEditError(f"{what} not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
            if raw is None:
                raise FaceEditError(f"{path} has no faceedit metadata (not a faceedit {what} file)")
            meta = json.loads(raw)
            state = {}
            for k in f.keys():
                t = f.get_tensor(k)
                state[k] = t.float() if t.is_floating_point() else t
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors and json raise their own types
        raise FaceEditError(f"cannot read {what} {path}: {type(exc).__name__}: {exc}") from None
    return meta, state


def read_network(path: str | Path, kind: str, train_hint: str) -> tuple[dict[str, Any], StateDict]:
    """Read a file written by :func:`save_network` → ``(meta, float32 state dict)``. A missing file raises
    :class:`FaceEditError` naming the file and ``train_hint`` (the command that makes it); so does a file holding
    another kind of network."""
    path = Path(path)
    if not path.is_file():
        raise FaceEditError(f"{kind} weights not found: {path} (train them with '{train_hint}')")
    meta, state = read_file(path, f"{kind} weights")
    if meta.get("kind") != kind:
        raise FaceEditError(f"{path} holds a {meta.get('kind')!r} network, not a {kind}")
    return meta, state


def load_state(module: torch.nn.Module, sd: StateDict, where: str) -> int:
    """Copy ``sd`` into ``module`` exactly (names and shapes; BatchNorm counters may be absent). Returns the number
    of tensors copied. (Copying into a wider or grown network: :func:`faceedit.nn.widen.widen_into`.)"""
    own = {k: v for k, v in module.state_dict().items() if k in sd or not k.endswith("num_batches_tracked")}
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    bad = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        first = (missing or unexpected or bad)[0]
        raise FaceEditError(f"{where}: weights do not match the network ({len(missing)} missing, "
                            f"{len(unexpected)} unexpected, {len(bad)} wrong shape; first: {first})")
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(sd[k].to(v.dtype))
    return len(own)


__all__ = ["FORMAT_VERSION", "META_KEY", "load_state", "read_file", "read_network", "save_network"]
