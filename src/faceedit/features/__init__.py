"""Pretrained image features: ImageNet VGG16/VGG19 (perceptual distance, realism metrics, style transfer, art
adaptation). Offline default: the original Oxford VGG16 fetched by ``faceedit features fetch vgg16``; a torchvision
``vgg16`` / ``vgg19`` state dict that a user has loads too (``load_vgg(weights=FILE)``)."""

from __future__ import annotations

import os

from faceedit.errors import FaceEditError
from faceedit.features.vgg import STAGES, VGG, gram, pooled, resize_for

__all__ = ["VGG", "STAGES", "load_vgg", "gram", "pooled", "resize_for", "have_vgg16"]

_CACHE: dict[tuple, VGG] = {}


def have_vgg16(cache: str | os.PathLike | None = None) -> bool:
    from faceedit.features.fetch import have_weights

    return have_weights(cache)


def load_vgg(weights: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
             device="cpu", arch: str | None = None, convention: str | None = None) -> VGG:
    """A frozen VGG. ``weights=None``: the fetched Oxford VGG16 (caffe input); a file: a torchvision ``vgg16`` /
    ``vgg19`` state dict (.pth/.pt/.safetensors, read without running code), RGB ImageNet input unless the file's
    metadata says otherwise. Loaded once per process and file."""
    from pathlib import Path

    from faceedit.features import fetch

    if weights is None:
        path = fetch.weights_path(cache)
        if not path.is_file():
            raise FaceEditError(fetch.not_found_message(cache))
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FaceEditError(f"VGG weights file not found: {path}")
    key = (str(path.resolve()), arch, convention, str(device))
    if key in _CACHE:
        return _CACHE[key]
    state, meta = _read_state(path)
    from faceedit.features.vgg import detect_arch

    arch = arch or meta.get("arch") or detect_arch(state)
    convention = convention or meta.get("convention") or "torchvision"
    net = VGG(arch, convention).load_features(state, source=str(path)).to(device)
    _CACHE[key] = net
    return net


def _read_state(path) -> tuple[dict, dict]:
    import torch

    meta: dict = {}
    try:
        if str(path).endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                meta = dict(f.metadata() or {})
                state = {k: f.get_tensor(k) for k in f.keys()}
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's
        raise FaceEditError(f"cannot read VGG weights {path}: {' '.join(str(exc).split())[:200]}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise FaceEditError(f"{path}: expected a VGG state dict (names → tensors)")
    state = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    return state, meta
