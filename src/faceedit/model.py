"""The core type: a loaded generator (:class:`Model`) with the calls between seeds, z, w, w+, StyleSpace and images.

Every layer above ``io`` takes a :class:`Model` (never a bare generator): inversion, edits, metrics, training.

    from faceedit.model import load
    m = load()                                    # the embedded default; or a registry name, or a checkpoint path
    out = m.generate(seeds=range(8), truncation=0.7)
    out.images                                    # uint8 [N, H, W, 3]
    out.ws                                        # w+ latents [N, num_ws, w_dim] (torch.float32)
    img = m.synthesize(out.ws[:1])                # w+ → image tensor [1, 3, R, R] in about [-1, 1]

The Python API (:mod:`faceedit.api`) adds the attribute edits (``model.edit``, ``model.directions``) on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from faceedit.errors import FaceEditError
from faceedit.io import load_checkpoint
from faceedit.limits import MAX_SEEDS, check_latents, check_truncation
from faceedit.media import to_uint8
from faceedit.nn import Generator
from faceedit.nn.generator import NOISE_MODES

#: Noise maps by synthesis layer name, e.g. ``{'b8.conv0': [N or 1, 1, 8, 8]}`` (an inversion's optimised maps).
NoiseMaps = dict[str, torch.Tensor]


@dataclass
class Generated:
    """Result of :meth:`Model.generate`."""

    images: np.ndarray  # uint8 [N, H, W, 3]
    ws: torch.Tensor  # float32 [N, num_ws, w_dim]
    seeds: list[int] | None = None


@dataclass
class Model:
    """A loaded generator ``G`` (eval mode) with its name, model card, sha256 and, for training, ``D``."""

    G: Generator
    name: str
    card: dict[str, Any] = field(default_factory=dict)
    D: torch.nn.Module | None = None
    sha256: str | None = None

    # ---- shapes ------------------------------------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return self.G.img_resolution

    @property
    def num_ws(self) -> int:
        return self.G.num_ws

    @property
    def z_dim(self) -> int:
        return self.G.z_dim

    @property
    def w_dim(self) -> int:
        return self.G.w_dim

    @property
    def device(self) -> torch.device:
        return self.G.mapping.w_avg.device

    @property
    def style_layers(self) -> list[tuple[str, int]]:
        return self.G.style_layers

    def describe(self) -> str:
        return f"{self.name}: {self.resolution}px, {self.num_ws} w+ layers, w_dim {self.w_dim}"

    # ---- latents -----------------------------------------------------------------------------------------------
    def z_from_seeds(self, seeds: Iterable[int]) -> torch.Tensor:
        """z [N, z_dim] for each seed, drawn as NVIDIA's scripts do (``np.random.RandomState(seed).randn(z_dim)``)."""
        rows = []
        for s in seeds:
            if not 0 <= int(s) < 2 ** 32:
                raise FaceEditError(f"seed {s} is out of range (0 to 4294967295)")
            rows.append(np.random.RandomState(int(s)).randn(self.z_dim))
        if not rows:
            raise FaceEditError("no seeds given")
        return torch.from_numpy(np.stack(rows)).to(self.device, torch.float32)

    def map(self, z: torch.Tensor, truncation: float = 1.0, truncation_cutoff: int | None = None) -> torch.Tensor:
        """z [N, z_dim] → w+ [N, num_ws, w_dim], truncated towards the average w by ``truncation`` (ψ)."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise FaceEditError(f"z must have shape [N, {self.z_dim}] for this model, got {list(z.shape)}")
        check_latents(z, "z")
        truncation = check_truncation(truncation)
        with torch.no_grad():
            return self.G.mapping(z, truncation_psi=truncation, truncation_cutoff=truncation_cutoff)

    def as_ws(self, latent: torch.Tensor | np.ndarray) -> torch.Tensor:
        """w [N, w_dim] or w+ [N, num_ws, w_dim] (or unbatched versions) → w+ [N, num_ws, w_dim] on the model's
        device."""
        x = torch.as_tensor(np.asarray(latent) if not isinstance(latent, torch.Tensor) else latent)
        x = x.to(self.device, torch.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim == 2 and x.shape[1] == self.w_dim:
            x = x[:, None].repeat(1, self.num_ws, 1)
        if x.ndim != 3 or x.shape[1] != self.num_ws or x.shape[2] != self.w_dim:
            raise FaceEditError(f"latent has shape {list(x.shape)}; this model takes w [N, {self.w_dim}] or "
                                f"w+ [N, {self.num_ws}, {self.w_dim}]")
        check_latents(x)
        return x

    def truncate(self, ws: torch.Tensor, truncation: float, cutoff: int | None = None) -> torch.Tensor:
        """w+ moved towards the average w by ψ = ``truncation`` (on the first ``cutoff`` layers only, when given)."""
        return self.G.mapping.truncate(self.as_ws(ws), check_truncation(truncation), cutoff)

    def to_styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """w+ → StyleSpace (list of [N, C] per modulated layer, ToRGB included)."""
        with torch.no_grad():
            return self.G.synthesis.w_to_styles(self.as_ws(ws))

    # ---- images ------------------------------------------------------------------------------------------------
    def synthesize(self, ws: torch.Tensor | None = None, styles: list[torch.Tensor] | None = None,
                   noise_mode: str = "const", batch_size: int = 8, progress: bool = False,
                   noise: NoiseMaps | None = None) -> torch.Tensor:
        """w+ (or StyleSpace ``styles``) → images [N, 3, R, R] float in about [-1, 1], in batches. ``noise``: noise
        maps (``[1 or N, 1, r, r]`` by layer name) used instead of ``noise_mode``'s on the layers they name.
        Raises :class:`FaceEditError` when the generator draws NaN or infinite pixels (broken weights)."""
        if noise_mode not in NOISE_MODES:
            raise FaceEditError(f"noise mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        if styles is not None:
            n = styles[0].shape[0]
        else:
            ws = self.as_ws(ws)
            n = ws.shape[0]
        maps = {k: v.to(self.device) for k, v in noise.items()} if noise else None
        out = []
        starts = range(0, n, batch_size)
        if progress and n > batch_size:
            from tqdm import tqdm

            starts = tqdm(starts, total=len(starts), desc="synthesising", unit="batch")
        with torch.no_grad():
            for i in starts:
                rows = None if maps is None else {k: v if v.shape[0] == 1 else v[i:i + batch_size]
                                                  for k, v in maps.items()}
                if styles is not None:
                    part = self.G.synthesis(styles=[s[i:i + batch_size] for s in styles], noise_mode=noise_mode,
                                            noise=rows)
                else:
                    part = self.G.synthesis(ws[i:i + batch_size], noise_mode=noise_mode, noise=rows)
                out.append(check_image_values(part, self.name).cpu())
        return torch.cat(out)

    def generate(self, seeds: Sequence[int] | None = None, z: torch.Tensor | None = None,
                 ws: torch.Tensor | None = None, truncation: float = 0.7, truncation_cutoff: int | None = None,
                 noise_mode: str = "const", batch_size: int = 8, progress: bool = False) -> Generated:
        """Images from seeds, z or w/w+ (exactly one), with truncation ψ applied to seeds/z (and to given w+)."""
        if sum(x is not None for x in (seeds, z, ws)) != 1:
            raise FaceEditError("give exactly one of seeds, z or ws")
        seed_list = None
        if seeds is not None:
            seed_list = [int(s) for _, s in zip(range(MAX_SEEDS + 1), seeds)]
            if len(seed_list) > MAX_SEEDS:
                raise FaceEditError(f"more than {MAX_SEEDS:,} seeds in one call: use generate_batches")
            z = self.z_from_seeds(seed_list)
        if z is not None:
            ws = self.map(z, truncation, truncation_cutoff)
        else:
            ws = self.truncate(ws, truncation, truncation_cutoff)
        images = to_uint8(self.synthesize(ws, noise_mode=noise_mode, batch_size=batch_size, progress=progress))
        return Generated(images=images, ws=ws.cpu(), seeds=seed_list)

    def generate_batches(self, seeds: Sequence[int], truncation: float = 0.7, truncation_cutoff: int | None = None,
                         noise_mode: str = "const", batch_size: int = 8) -> Iterator[Generated]:
        """:meth:`generate` for many seeds, ``batch_size`` at a time: yields one :class:`Generated` per batch, so
        that a caller can write each batch before the next is drawn (memory does not grow with the seed count)."""
        seeds = [int(s) for s in seeds]
        size = max(1, int(batch_size))
        for i in range(0, len(seeds), size):
            yield self.generate(seeds=seeds[i:i + size], truncation=truncation, truncation_cutoff=truncation_cutoff,
                                noise_mode=noise_mode, batch_size=batch_size)


def check_image_values(images: torch.Tensor, model_name: str = "the generator") -> torch.Tensor:
    """``images`` unchanged when every pixel is finite; else a one-line error (a black image is never written)."""
    if not bool(torch.isfinite(images).all()):
        raise FaceEditError(f"{model_name} drew NaN or infinite pixels: its weights or the latent code are broken "
                            "(check the checkpoint, e.g. with 'faceedit models info')")
    return images


def check_weights(module: torch.nn.Module, name: str) -> None:
    """Refuse a network with NaN or infinite parameters or buffers (they would draw black or NaN images)."""
    for key, t in list(module.named_parameters()) + list(module.named_buffers()):
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            raise FaceEditError(f"{name}: tensor {key} holds NaN or infinite values (a broken checkpoint)")


def load(model: str | Path | None = "default", device: str | torch.device = "cpu",
         with_discriminator: bool = False) -> Model:
    """Load a generator: ``"default"`` (the embedded model), a registry name (after ``faceedit models fetch``),
    or a checkpoint path in any supported format (NVIDIA .pkl, TF .pkl, rosinality .pt, faceedit .safetensors).
    ``with_discriminator`` also loads D (and the training copy of G) when the file has them."""
    spec = "default" if model in (None, "") else str(model)
    ckpt = load_checkpoint(spec, load_training_nets=with_discriminator)
    check_weights(ckpt.G_ema, spec)
    m = Model(G=ckpt.G_ema.eval(), name=spec, card=dict(ckpt.meta or {}), D=ckpt.D, sha256=ckpt.sha256)
    m.G.to(device)
    if m.D is not None:
        m.D.to(device)
    return m


__all__ = ["Generated", "Model", "NoiseMaps", "check_image_values", "check_weights", "load"]
