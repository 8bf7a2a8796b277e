"""Dataclass configurations of the generator and discriminator (any size of NVIDIA's StyleGAN2, config-f and
smaller). Channels at resolution r are ``min(channel_base // r, channel_max)``."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from faceedit.errors import FaceEditError


def _check_resolution(resolution: int) -> None:
    if resolution < 4 or resolution & (resolution - 1):
        raise FaceEditError(f"resolution must be a power of two >= 4, got {resolution}")


class _DictMixin:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise FaceEditError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass
class GeneratorConfig(_DictMixin):
    z_dim: int = 512
    w_dim: int = 512
    resolution: int = 1024
    img_channels: int = 3
    channel_base: int = 32768
    channel_max: int = 512
    mapping_layers: int = 8
    mapping_lr_mult: float = 0.01
    conv_clamp: float | None = 256
    num_fp16_res: int = 0
    w_avg_beta: float = 0.995

    def __post_init__(self):
        _check_resolution(self.resolution)

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def num_ws(self) -> int:
        return 2 * int(math.log2(self.resolution)) - 2

    @property
    def block_resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, int(math.log2(self.resolution)) + 1)]


@dataclass
class DiscriminatorConfig(_DictMixin):
    resolution: int = 1024
    img_channels: int = 3
    channel_base: int = 32768
    channel_max: int = 512
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    conv_clamp: float | None = 256
    num_fp16_res: int = 0

    def __post_init__(self):
        _check_resolution(self.resolution)

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)
