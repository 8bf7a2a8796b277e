"""What reading a checkpoint gives: :class:`CheckpointParts`, the format-neutral state dicts with our (NVIDIA) names
plus hints, and :class:`Checkpoint`, the networks built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

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


@dataclass
class Checkpoint:
    """Networks read from a checkpoint. ``G_ema`` is the generator to use (eval mode, float32)."""

    G_ema: Generator
    g_config: GeneratorConfig
    source_format: str
    path: Path | None
    sha256: str | None
    G: Generator | None = None
    D: Discriminator | None = None
    d_config: DiscriminatorConfig | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def resolution(self) -> int:
        return self.g_config.resolution

    @property
    def num_ws(self) -> int:
        return self.g_config.num_ws

    def num_params(self) -> dict[str, int]:
        out = {"G_ema": sum(p.numel() for p in self.G_ema.parameters())}
        if self.G is not None:
            out["G"] = sum(p.numel() for p in self.G.parameters())
        if self.D is not None:
            out["D"] = sum(p.numel() for p in self.D.parameters())
        return out
