"""The checkpoint formats, one table: ``FORMATS`` lists every format the loader reads (and writes, where it can),
with how it is recognised inside its container. :func:`faceedit.io.loader.read_parts` walks it, ``faceedit models
convert --to`` takes its choices and help from it, so a new format is one entry here plus its reader module.

Containers are told apart by the file's first bytes (:func:`faceedit.io.loader.sniff_format`) and opened safely:
``safetensors`` (no code at all), ``torch`` (``torch.load(weights_only=True)``) and ``pickle`` (the restricted
unpickler); the formats of one container are tried in table order by their ``recognise`` test on the opened
content.

The table loads without torch (the command line builds its help from it): the readers and writers load their
modules when they run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from faceedit.errors import FaceEditError

if TYPE_CHECKING:
    from faceedit.io.parts import Checkpoint, CheckpointParts

#: ``write(path, checkpoint, fp16)`` writes the checkpoint's networks atomically and returns what it wrote in words.
Writer = Callable[[Path, "Checkpoint", bool], str]


@dataclass(frozen=True)
class CheckpointFormat:
    """One checkpoint format. ``container``: 'safetensors', 'torch' or 'pickle' (how the file is opened);
    ``recognise(content)``: whether the opened content is this format (``content`` is the path for safetensors);
    ``read(content, source)``: the format-neutral :class:`~faceedit.io.parts.CheckpointParts`; ``write``: a
    :data:`Writer` for ``models convert --to NAME`` (None: read only); ``aliases``: other ``--to`` names."""

    name: str
    container: str
    summary: str
    recognise: Callable[[Any], bool]
    read: Callable[[Any, str], CheckpointParts]
    write: Writer | None = None
    aliases: tuple[str, ...] = ()


def _write_native(path: Path, ckpt: Checkpoint, fp16: bool) -> str:
    import torch

    from faceedit.io.native import save_native

    card = dict(ckpt.meta.get("card") or {})
    card.setdefault("converted_from", {"format": ckpt.source_format, "file": Path(str(ckpt.path)).name,
                                       "sha256": ckpt.sha256})
    save_native(path, ckpt.G_ema, D=ckpt.D, G=ckpt.G, card=card, dtype=torch.float16 if fp16 else torch.float32)
    return f"{'fp16' if fp16 else 'fp32'} safetensors"


def _write_rosinality(path: Path, ckpt: Checkpoint, fp16: bool) -> str:  # noqa: ARG001 - always fp32
    from faceedit.io.rosinality import save_rosinality

    save_rosinality(path, ckpt.G_ema, D=ckpt.D, G=ckpt.G)
    return "rosinality .pt"


def _ours_with_ema(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("G_ema"), dict)


def _ours_bare(data: Any) -> bool:
    return isinstance(data, dict) and "synthesis.b4.const" in data


def _read_ours(data: dict, source: str) -> CheckpointParts:  # noqa: ARG001 - nothing to say about the source
    from faceedit.io.parts import CheckpointParts

    if _ours_with_ema(data):
        return CheckpointParts("torch-state-dict", data["G_ema"], data.get("G"), data.get("D"))
    return CheckpointParts("torch-state-dict", data)


def _read_native(path: Path, source: str) -> CheckpointParts:
    from faceedit.io.native import read_native

    return read_native(path, source)


def _is_rosinality(data: Any) -> bool:
    from faceedit.io.rosinality import is_rosinality

    return is_rosinality(data)


def _read_rosinality(data: dict, source: str) -> CheckpointParts:
    from faceedit.io.rosinality import read_rosinality

    return read_rosinality(data, source)


def _is_psp(data: Any) -> bool:
    from faceedit.io.rosinality import is_psp_generator

    return is_psp_generator(data)


def _read_psp(data: dict, source: str) -> CheckpointParts:
    from faceedit.io.rosinality import read_psp_generator

    return read_psp_generator(data, source)


def _is_nvidia(data: Any) -> bool:
    from faceedit.io.nvidia_pkl import is_nvidia_pickle

    return is_nvidia_pickle(data)


def _read_nvidia(data: dict, source: str) -> CheckpointParts:
    from faceedit.io.nvidia_pkl import read_nvidia_pickle

    return read_nvidia_pickle(data, source)


def _is_tf(data: Any) -> bool:
    from faceedit.io.tf_pkl import is_tf_pickle

    return is_tf_pickle(data)


def _read_tf(data: Any, source: str) -> CheckpointParts:
    from faceedit.io.tf_pkl import read_tf_pickle

    return read_tf_pickle(data, source)


#: Every checkpoint format, in the order they are tried within a container.
FORMATS: tuple[CheckpointFormat, ...] = (
    CheckpointFormat("native", "safetensors", "faceedit's .safetensors (fp16/fp32 + JSON config and card; also a "
                     "bare generator state dict with our names)", lambda path: True,
                     _read_native, _write_native, aliases=("safetensors",)),
    CheckpointFormat("rosinality", "torch", "rosinality's stylegan2-pytorch .pt (g_ema, g, d, latent_avg)",
                     _is_rosinality, _read_rosinality, _write_rosinality),
    CheckpointFormat("psp", "torch", "pSp / e4e checkpoint: the rosinality generator inside it (decoder.*)",
                     _is_psp, _read_psp),
    CheckpointFormat("torch-state-dict", "torch", "a torch file of state dicts with our (NVIDIA) names",
                     lambda d: _ours_with_ema(d) or _ours_bare(d), _read_ours),
    CheckpointFormat("nvidia-pkl", "pickle", "NVIDIA stylegan2-ada-pytorch / stylegan3 network pickle",
                     _is_nvidia, _read_nvidia),
    CheckpointFormat("tf-pkl", "pickle", "NVIDIA's TensorFlow StyleGAN2 network pickle", _is_tf, _read_tf),
)

#: What a container holding none of its formats is, in an error message.
_CONTAINER_WORDS = {"torch": ("a PyTorch file but not a StyleGAN2 checkpoint this loader knows", "top level"),
                    "pickle": ("a pickle but not an NVIDIA StyleGAN2 network pickle", "holds"),
                    "safetensors": ("a safetensors file this loader cannot read", "holds")}


def parts_from(container: str, content: Any, source: str) -> CheckpointParts:
    """The parts of ``content`` opened from a ``container`` file: the first format in :data:`FORMATS` that
    recognises it, else a one-line error saying what the file holds."""
    for fmt in FORMATS:
        if fmt.container == container and fmt.recognise(content):
            return fmt.read(content, source)
    holds = ", ".join(sorted(map(str, content))[:5]) if isinstance(content, dict) else type(content).__name__
    what, label = _CONTAINER_WORDS[container]
    raise FaceEditError(f"{source} is {what} ({label}: {holds})")


def writers() -> dict[str, CheckpointFormat]:
    """``--to`` name → format, for every format that can be written (names and aliases)."""
    return {n: f for f in FORMATS if f.write is not None for n in (*f.aliases, f.name)}


def writer(name: str) -> CheckpointFormat:
    """The writable format called ``name`` (case-insensitive), or a one-line error naming the choices."""
    table = writers()
    fmt = table.get(str(name).lower())
    if fmt is None:
        raise FaceEditError(f"--to must be {' or '.join(table)}, got {str(name)[:40]!r}")
    return fmt


def formats_help() -> str:
    """``"native (…), rosinality (…)"`` for the help of options that write checkpoints."""
    return ", ".join(f"{'/'.join((*f.aliases, f.name))} ({f.summary})" for f in FORMATS if f.write is not None)


def write_checkpoint(path: str | os.PathLike, ckpt: Checkpoint, to: str, fp16: bool = True) -> str:
    """Write ``ckpt``'s networks to ``path`` in the format called ``to``; return what was written in words."""
    return writer(to).write(Path(path), ckpt, fp16)


__all__ = ["CheckpointFormat", "FORMATS", "formats_help", "parts_from", "write_checkpoint", "writer", "writers"]
