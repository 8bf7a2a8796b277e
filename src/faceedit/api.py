"""The Python API: the few calls a user scripts against. The CLI and the web app call only these.

    import faceedit
    model = faceedit.load()                       # embedded default; or a registry name, or a checkpoint path
    out = model.generate(seeds=range(8), truncation=0.7)
    out.images                                    # uint8 [N, H, W, 3]
    out.ws                                        # w+ latents [N, num_ws, w_dim] (torch.float32)
    img = model.synthesize(out.ws[:1])            # w+ → image tensor in [-1, 1]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from faceedit.errors import FaceEditError
from faceedit.nn import Generator, GeneratorConfig
from faceedit.nn.generator import NOISE_MODES

ASSETS = Path(__file__).parent / "assets"
DEFAULT_GENERATOR = ASSETS / "default_generator.safetensors"

# Backs the demo only until trained default weights are shipped in assets/ (see README, "Models").
PLACEHOLDER_CONFIG = GeneratorConfig(z_dim=128, w_dim=128, resolution=64, channel_base=4096, channel_max=128,
                                     mapping_layers=2)
PLACEHOLDER_NOTE = ("untrained placeholder generator (random weights, seed 0): images are noise-like patterns, "
                    "not faces, until the trained default model ships")


@dataclass
class Generated:
    """Result of :meth:`Model.generate`."""

    images: np.ndarray  # uint8 [N, H, W, 3]
    ws: torch.Tensor  # float32 [N, num_ws, w_dim]
    seeds: list[int] | None = None


@dataclass
class Model:
    """A loaded generator with helpers to go between seeds, z, w, w+, StyleSpace and images."""

    G: Generator
    name: str
    card: dict[str, Any] = field(default_factory=dict)
    D: torch.nn.Module | None = None
    sha256: str | None = None
    placeholder: bool = False

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
        kind = " [" + PLACEHOLDER_NOTE + "]" if self.placeholder else ""
        return f"{self.name}: {self.resolution}px, {self.num_ws} w+ layers, w_dim {self.w_dim}{kind}"

    # ---- latents -----------------------------------------------------------------------------------------------
    def z_from_seeds(self, seeds: Iterable[int]) -> torch.Tensor:
        """z for each seed, drawn as NVIDIA's scripts do (``np.random.RandomState(seed).randn(z_dim)``)."""
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
        from faceedit.limits import check_latents, check_truncation

        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise FaceEditError(f"z must have shape [N, {self.z_dim}] for this model, got {list(z.shape)}")
        check_latents(z, "z")
        truncation = check_truncation(truncation)
        with torch.no_grad():
            return self.G.mapping(z, truncation_psi=truncation, truncation_cutoff=truncation_cutoff)

    def as_ws(self, latent: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Accept w [N, w_dim], w+ [N, num_ws, w_dim] (or single unbatched versions) and return w+."""
        x = torch.as_tensor(np.asarray(latent) if not isinstance(latent, torch.Tensor) else latent)
        x = x.to(self.device, torch.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim == 2 and x.shape[1] == self.w_dim:
            x = x[:, None].repeat(1, self.num_ws, 1)
        if x.ndim != 3 or x.shape[1] != self.num_ws or x.shape[2] != self.w_dim:
            raise FaceEditError(f"latent has shape {list(x.shape)}; this model takes w [N, {self.w_dim}] or "
                                f"w+ [N, {self.num_ws}, {self.w_dim}]")
        from faceedit.limits import check_latents

        check_latents(x)
        return x

    def truncate(self, ws: torch.Tensor, truncation: float, cutoff: int | None = None) -> torch.Tensor:
        from faceedit.limits import check_truncation

        return self.G.mapping.truncate(self.as_ws(ws), check_truncation(truncation), cutoff)

    def to_styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """w+ → StyleSpace (list of [N, C] per modulated layer, ToRGB included)."""
        with torch.no_grad():
            return self.G.synthesis.w_to_styles(self.as_ws(ws))

    # ---- attribute edits (InterfaceGAN directions; see faceedit.edit.directions) ----------------------------
    def directions(self, folder: str | Path | None = None):
        """The attribute directions fitted for this model (shipped for the default; else ``faceedit directions
        fit``'s cache folder, or ``folder``), as a :class:`faceedit.edit.directions.DirectionSet`."""
        from faceedit.edit.directions import load_directions

        cached = getattr(self, "_directions", None)
        if folder is None and cached is not None:
            return cached
        ds = load_directions(self, folder)
        if folder is None:
            self._directions = ds
        return ds

    def edit(self, ws: torch.Tensor, amounts: dict[str, float] | None = None, keep: Sequence[str] = (),
             layers: str | Sequence[int] | None = None, **attributes: float) -> torch.Tensor:
        """w+ edited along attribute directions: ``model.edit(ws, smiling=2, age=-1, keep=["male"])``; amounts in
        standard deviations of the latent distribution along each direction."""
        return self.directions().apply(self.as_ws(ws), {**(amounts or {}), **attributes}, keep=keep, layers=layers)

    # ---- images ------------------------------------------------------------------------------------------------
    def synthesize(self, ws: torch.Tensor | None = None, styles: list[torch.Tensor] | None = None,
                   noise_mode: str = "const", batch_size: int = 8, progress: bool = False) -> torch.Tensor:
        """w+ (or StyleSpace ``styles``) → images [N, 3, R, R] float in about [-1, 1], in batches.
        Raises :class:`FaceEditError` when the generator draws NaN or infinite pixels (broken weights)."""
        if noise_mode not in NOISE_MODES:
            raise FaceEditError(f"noise mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        if styles is not None:
            n = styles[0].shape[0]
        else:
            ws = self.as_ws(ws)
            n = ws.shape[0]
        out = []
        starts = range(0, n, batch_size)
        if progress and n > batch_size:
            from tqdm import tqdm

            starts = tqdm(starts, total=len(starts), desc="synthesising", unit="batch")
        with torch.no_grad():
            for i in starts:
                if styles is not None:
                    part = self.G.synthesis(styles=[s[i:i + batch_size] for s in styles], noise_mode=noise_mode)
                else:
                    part = self.G.synthesis(ws[i:i + batch_size], noise_mode=noise_mode)
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
            from faceedit.limits import MAX_SEEDS

            seed_list = [int(s) for _, s in zip(range(MAX_SEEDS + 1), seeds)]
            if len(seed_list) > MAX_SEEDS:
                raise FaceEditError(f"more than {MAX_SEEDS:,} seeds in one call: use generate_batches")
            z = self.z_from_seeds(seed_list)
        if z is not None:
            ws = self.map(z, truncation, truncation_cutoff)
        else:
            ws = self.truncate(ws, truncation, truncation_cutoff)
        from faceedit.media import to_uint8

        images = to_uint8(self.synthesize(ws, noise_mode=noise_mode, batch_size=batch_size, progress=progress))
        return Generated(images=images, ws=ws.cpu(), seeds=seed_list)

    def generate_batches(self, seeds: Sequence[int], truncation: float = 0.7, truncation_cutoff: int | None = None,
                         noise_mode: str = "const", batch_size: int = 8) -> Iterator[Generated]:
        """:meth:`generate` for many seeds, ``batch_size`` at a time: yields one :class:`Generated` per batch, so
        that a caller can write each batch before the next is drawn (memory does not grow with the seed count)."""
        seeds = [int(s) for s in seeds]
        for part in _batches(seeds, max(1, int(batch_size))):
            yield self.generate(seeds=part, truncation=truncation, truncation_cutoff=truncation_cutoff,
                                noise_mode=noise_mode, batch_size=batch_size)


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


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


def _placeholder() -> Model:
    torch.manual_seed(0)
    G = Generator(PLACEHOLDER_CONFIG).eval()
    return Model(G=G, name="placeholder", card={"note": PLACEHOLDER_NOTE}, placeholder=True)


def load(model: str | Path | None = "default", device: str | torch.device = "cpu",
         with_discriminator: bool = False) -> Model:
    """Load a generator: ``"default"`` (the embedded model), a registry name (after ``faceedit models fetch``),
    or a checkpoint path in any supported format (NVIDIA .pkl, TF .pkl, rosinality .pt, faceedit .safetensors).
    ``with_discriminator`` also loads D (and the training copy of G) when the file has them."""
    spec = "default" if model in (None, "") else str(model)
    if spec == "default" and not DEFAULT_GENERATOR.exists():
        m = _placeholder()
    else:
        from faceedit.io import load_checkpoint

        ckpt = load_checkpoint(spec, load_training_nets=with_discriminator)
        check_weights(ckpt.G_ema, spec)
        m = Model(G=ckpt.G_ema.eval(), name=spec, card=dict(ckpt.meta or {}), D=ckpt.D, sha256=ckpt.sha256)
    m.G.to(device)
    if m.D is not None:
        m.D.to(device)
    return m

