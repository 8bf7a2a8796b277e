"""The format-neutral result of reading a checkpoint file: state dicts with our (NVIDIA) names plus hints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

StateDict = dict[str, torch.Tensor]


@dataclass
class CheckpointParts:
    """What a format reader returns; :func:`faceedit.io.load_checkpoint` turns it into networks.

    ``g_config`` / ``d_config`` are given when the file states them (native format); otherwise they are inferred
    from the tensor shapes with ``g_hints`` / ``d_hints`` (values the shapes cannot tell, e.g. conv_clamp).
    """

    source_format: str
    G_ema: StateDict
    G: StateDict | None = None
    D: StateDict | None = None
    g_hints: dict[str, Any] = field(default_factory=dict)
    d_hints: dict[str, Any] = field(default_factory=dict)
    g_config: dict[str, Any] | None = None
    d_config: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
