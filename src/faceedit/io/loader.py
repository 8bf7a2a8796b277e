"""Load any supported checkpoint into networks: :func:`load_checkpoint` is the one entry point.

The container is sniffed from the file's content, never from its extension alone, and the formats it may hold
are tried in the order of :data:`faceedit.io.formats.FORMATS` (the one table of formats):

===========================  ==================================================================
content                      format
===========================  ==================================================================
safetensors header           ``native`` (faceedit's own, fp16/fp32 + JSON config)
zip archive / legacy torch   ``rosinality`` (``g_ema``...) or a plain state dict with our names,
                             read by ``torch.load(weights_only=True)``
pickle (protocol 2-5)        ``nvidia-pkl`` (PyTorch networks) or ``tf-pkl`` (TensorFlow), told
                             apart by the objects it holds; read by the restricted unpickler
===========================  ==================================================================
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import torch

from faceedit.errors import FaceEditError
from faceedit.io.convert import (build_discriminator, build_generator, check_config_matches, infer_d_config,
                                 infer_g_config)
from faceedit.io.formats import parts_from
from faceedit.io.native import read_native
from faceedit.io.parts import Checkpoint, CheckpointParts
from faceedit.io.safe_pickle import safe_load
from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def sniff_format(path: str | os.PathLike) -> str:
    """'safetensors', 'torch-zip', 'torch-legacy', 'pickle' or raise FaceEditError saying what the file is."""
    path = Path(path)
    if not path.exists():
        raise FaceEditError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise FaceEditError(f"{path} is a folder, not a checkpoint file")
    from faceedit.limits import regular_file

    regular_file(path, "checkpoint file")  # opening a FIFO would block forever
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(64)
    if size == 0:
        raise FaceEditError(f"{path} is empty, not a checkpoint")
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if head.startswith(_TORCH_LEGACY_MAGIC):
        return "torch-legacy"
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 0 < n <= 100_000_000:
            if 8 + n > size:
                raise FaceEditError(f"{path} is truncated (its safetensors header runs past the end of the file)")
            return "safetensors"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        raise FaceEditError(f"{path} is a JSON/text file, not a checkpoint (for a faceedit model, pass the "
                            ".safetensors file beside it)")
    raise FaceEditError(f"{path} is not a checkpoint (unrecognised content: not a pickle, zip or safetensors file)")


def _torch_load(path: Path, source: str) -> Any:
    try:
        safe = getattr(torch.serialization, "safe_globals", None)
        if safe is not None:  # rosinality's training checkpoints also hold its argparse options
            with safe([argparse.Namespace]):
                return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = " ".join(str(exc).split())
        first = first.split("Check the documentation")[0].strip()[:200]
        raise FaceEditError(f"refusing to load {source}: torch's weights-only loader found something other than "
                            f"tensors ({first})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        msg = " ".join(str(exc).split())
        if "central directory" in msg or isinstance(exc, EOFError):
            msg = "incomplete zip archive"
        raise FaceEditError(f"{source} is truncated or corrupt ({msg[:160]})") from None


def read_parts(path: str | os.PathLike) -> CheckpointParts:
    """Read a checkpoint file into format-neutral state dicts (no networks built): open its container safely,
    then the first format of :data:`~faceedit.io.formats.FORMATS` that recognises the content reads it."""
    path = Path(path)
    source = str(path)
    kind = sniff_format(path)
    if kind == "safetensors":
        return parts_from("safetensors", path, source)
    if kind in ("torch-zip", "torch-legacy"):
        return parts_from("torch", _torch_load(path, source), source)
    return parts_from("pickle", safe_load(path, source), source)


def _as_config(config: GeneratorConfig | dict | None) -> GeneratorConfig | None:
    if config is None or isinstance(config, GeneratorConfig):
        return config
    if isinstance(config, dict):
        return GeneratorConfig.from_dict(config)
    raise FaceEditError(f"config must be a GeneratorConfig or a dict, got {type(config).__name__}")


def build_checkpoint(parts: CheckpointParts, path: Path | None = None, sha256: str | None = None,
                     config: GeneratorConfig | dict | None = None, load_training_nets: bool = True) -> Checkpoint:
    """Networks from :class:`CheckpointParts`; ``config`` (optional) must agree with the tensor shapes."""
    source = str(path) if path is not None else parts.source_format
    given = _as_config(config)
    inferred = infer_g_config(parts.G_ema, parts.g_hints)
    if parts.g_config is not None:
        stated = GeneratorConfig.from_dict(parts.g_config)
        check_config_matches(stated, inferred, source)
        inferred = stated
    if given is not None:
        check_config_matches(given, inferred, source)
        g_cfg = given
    else:
        g_cfg = inferred
    G_ema = build_generator(parts.G_ema, g_cfg, source)
    G = D = d_cfg = None
    if load_training_nets and parts.G is not None:
        G = build_generator(parts.G, g_cfg, source).train().requires_grad_(True)
    if parts.D is not None:
        d_cfg = infer_d_config(parts.D, parts.d_hints)
        if parts.d_config is not None:
            d_cfg = DiscriminatorConfig.from_dict(parts.d_config)
        if d_cfg.resolution != g_cfg.resolution:
            raise FaceEditError(f"{source}: discriminator is {d_cfg.resolution} px but the generator "
                                f"{g_cfg.resolution} px")
        if load_training_nets:
            D = build_discriminator(parts.D, d_cfg, source).train().requires_grad_(True)
    return Checkpoint(G_ema=G_ema, g_config=g_cfg, source_format=parts.source_format, path=path, sha256=sha256,
                      G=G, D=D, d_config=d_cfg, meta=dict(parts.meta))


def load_checkpoint(path_or_name: str | os.PathLike, config: GeneratorConfig | dict | None = None,
                    load_training_nets: bool = True, cache_dir: str | os.PathLike | None = None) -> Checkpoint:
    """Load a checkpoint of any supported format, by path, registry name (fetched) or 'default'.

    Args:
        path_or_name: a file path, a registry name (see ``faceedit models list``; it must have been fetched), or
            ``"default"`` for the embedded model.
        config: optional GeneratorConfig (or dict); a FaceEditError is raised when it contradicts the file.
        load_training_nets: also build G and D when the file has them (False saves memory for inference).
    """
    from faceedit.io.registry import REGISTRY, resolve_model

    path = resolve_model(path_or_name, cache_dir=cache_dir)
    parts = read_parts(path)
    ckpt = build_checkpoint(parts, path=path, sha256=file_sha256(path), config=config,
                            load_training_nets=load_training_nets)
    entry = REGISTRY.get(str(path_or_name)) if isinstance(path_or_name, str) else None
    if entry is not None:
        for key, want in entry.config.items():
            got = getattr(ckpt.g_config, key)
            if got != want:
                raise FaceEditError(f"{path} (model {entry.name!r}) has {key}={got}, but the registry expects "
                                    f"{want}; delete it and run: faceedit models fetch {entry.name}")
        ckpt.meta.setdefault("registry", {"name": entry.name, "licence": entry.licence, "url": entry.url})
    return ckpt


def load_native(path: str | os.PathLike, load_training_nets: bool = True) -> Checkpoint:
    """Load a faceedit ``.safetensors`` checkpoint (raises FaceEditError for any other format)."""
    path = Path(path)
    if sniff_format(path) != "safetensors":
        raise FaceEditError(f"{path} is not a faceedit safetensors checkpoint")
    return build_checkpoint(read_native(path), path=path, sha256=file_sha256(path),
                            load_training_nets=load_training_nets)


def check_latent_shape(x: torch.Tensor, g_config: GeneratorConfig, space: str = "w+", source: str = "latent") -> None:
    """Raise a one-line FaceEditError when ``x`` is not a valid z / w / w+ batch for this generator."""
    shapes = {"z": (g_config.z_dim,), "w": (g_config.w_dim,), "w+": (g_config.num_ws, g_config.w_dim)}
    if space not in shapes:
        raise FaceEditError(f"unknown latent space {space!r}; use z, w or w+")
    want = shapes[space]
    got = tuple(x.shape)
    if got[1:] != want and got != want:
        raise FaceEditError(f"{source} has shape {list(got)} but this {g_config.resolution}-px model needs "
                            f"{space} latents of shape [N, {', '.join(map(str, want))}]")


def describe(ckpt: Checkpoint) -> dict[str, Any]:
    """A JSON-able summary (for ``faceedit models info``)."""
    return {"path": str(ckpt.path) if ckpt.path else None, "format": ckpt.source_format,
            "resolution": ckpt.resolution, "num_ws": ckpt.num_ws, "z_dim": ckpt.g_config.z_dim,
            "w_dim": ckpt.g_config.w_dim, "networks": sorted(ckpt.num_params()), "params": ckpt.num_params(),
            "g_config": dataclasses.asdict(ckpt.g_config),
            "d_config": dataclasses.asdict(ckpt.d_config) if ckpt.d_config else None, "sha256": ckpt.sha256,
            "card": json.loads(json.dumps(ckpt.meta.get("card"), default=str)) if ckpt.meta.get("card") else None}
