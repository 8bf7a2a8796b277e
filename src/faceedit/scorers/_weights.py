"""Small fp16 safetensors files for the project's own scorer networks (attribute classifier, face parser).

One file per network: tensors (fp16, BatchNorm counters dropped) and, in the safetensors metadata under the key
``faceedit``, a JSON string ``{"format_version": 1, "kind": ..., "config": {...}, "card": {...}}``.
The card is also written beside the weights as ``<name>.json`` for people to read.
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
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def save_scorer(path: str | Path, module: torch.nn.Module, kind: str, config: dict, card: dict,
                dtype: torch.dtype = torch.float16, side_card: bool = True) -> None:
    """Write ``module``'s weights (``dtype``) with ``config`` and ``card`` in the metadata; atomically."""
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
        save_file(tensors, str(tmp), metadata={"faceedit": json.dumps(meta)})
        os.chmod(tmp, 0o644)  # shipped assets: readable by all (mkstemp makes 0600)
    if side_card:
        with atomic_path(path.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps({"kind": kind, "config": config, **card}, indent=1) + "\n")
            os.chmod(tmp, 0o644)


def read_scorer(path: str | Path, kind: str, train_hint: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a file written by :func:`save_scorer` → ``(meta, float32 state dict)``.

    A missing file raises :class:`FaceEditError` naming the file and ``train_hint`` (the command that makes it).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FaceEditError(f"{kind} weights not found: {path} (train them with '{train_hint}')")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("faceedit")
            if raw is None:
                raise FaceEditError(f"{path} has no faceedit metadata (not a faceedit {kind} weights file)")
            meta = json.loads(raw)
            sd = {}
            for k in f.keys():
                t = f.get_tensor(k)
                sd[k] = t.float() if t.is_floating_point() else t
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise FaceEditError(f"cannot read {kind} weights {path}: {type(exc).__name__}: {exc}") from None
    if meta.get("kind") != kind:
        raise FaceEditError(f"{path} holds a {meta.get('kind')!r} network, not a {kind}")
    return meta, sd


def load_state(module: torch.nn.Module, sd: dict[str, torch.Tensor], where: str) -> None:
    """Copy ``sd`` into ``module`` exactly (BatchNorm counters may be absent)."""
    own = {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
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


def to_model_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """Check an image batch ``[N, 3, H, W]`` (float, [-1, 1]) and resize it to ``size``² (antialiased when
    shrinking; differentiable)."""
    if not torch.is_tensor(x) or x.ndim != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise FaceEditError(f"expected an image batch [N, 3, H, W], got {shape}")
    if not x.is_floating_point():
        raise FaceEditError("expected float images in [-1, 1] (got an integer tensor)")
    if x.shape[-2:] != (size, size):
        shrink = x.shape[-1] > size or x.shape[-2] > size
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                            antialias=shrink)
    return x
