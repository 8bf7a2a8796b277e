"""An e4e / pSp-style encoder: image → w+ as offsets from the generator's w_avg.

Architecture (sized by :class:`EncoderConfig`; the default suits the 64-px default generator, 2.4 M parameters,
4.8 MB in fp16):

- a residual backbone: a 3×3 stem at the input resolution, then ``len(channels)`` stages that each halve the
  resolution (a stride-2 3×3 conv + one residual block of two 3×3 convs, LeakyReLU 0.2);
- a feature pyramid (pSp): the deepest stage feeds the *coarse* w+ layers, the two stages above it — each summed
  with the upsampled coarser map through 1×1 laterals — feed the *medium* and *fine* layers. A w+ layer is coarse
  when its synthesis resolution is ≤ 8, medium when ≤ 32, fine above (pSp's split: 3 / 4 / 11 layers at 1024 px);
- per pyramid level a head: stride-2 convs down to 4×4, a 1×1 conv to ``head_channels``, flattened, and a linear
  layer to ``w_dim`` for each w+ layer of that level.

e4e's parametrisation: layer 0 gives a base offset ``b``; every later layer ``i`` a delta ``d_i``;
``w_i = w_avg + b + m_i · d_i``, where the mask ``m_i`` opens progressively during training (layer ``i`` from
stage ``i``; all open at inference) and ``Σ ‖d_i‖²`` is penalised (delta regularisation), so that inverted codes
stay close to W — where edits work — unless the image needs the extra freedom.

ReStyle's iterative refinement (optional, ``EncoderConfig.refiner``): a second network of the same shape reads the
target beside the generator's current reconstruction (6 channels) and predicts a correction of the current w+
(again a base offset plus per-layer deltas); ``w ← w + base + deltas``, ``refine_iterations`` times after the
first pass. The first pass costs one encoder forward, each iteration one generator and one refiner forward —
milliseconds, against an optimisation step's generator + perceptual forward and backward.

Files: fp16 safetensors + a JSON card (see :func:`save_encoder`); the card records the generator's sha256 and
:func:`load_encoder` refuses another generator unless forced.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError
from faceedit.io.registry import ASSETS
from faceedit.io.weights import load_state, read_network, save_network

KIND = "encoder"
TRAIN_HINT = "faceedit train encoder"
DEFAULT_ENCODER = ASSETS / "encoder.safetensors"
PSP_SUFFIXES = (".pt", ".pth")  # published pSp / e4e checkpoints
LEVELS = ("coarse", "medium", "fine")


def layer_resolutions(resolution: int) -> list[int]:
    """Synthesis resolution of each w+ layer of a StyleGAN2 at ``resolution`` (b4: 1 w, then 2 per block, plus
    the last ToRGB's)."""
    res = [4]
    r = 8
    while r <= resolution:
        res += [r, r]
        r *= 2
    return res + [resolution]


def layer_levels(resolution: int, num_ws: int) -> list[int]:
    """Pyramid level of each w+ layer: 0 coarse (≤ 8 px), 1 medium (≤ 32 px), 2 fine."""
    res = layer_resolutions(resolution)
    if len(res) != num_ws:  # an unusual layout: split in thirds by index
        return [min(2, 3 * i // num_ws) for i in range(num_ws)]
    return [0 if r <= 8 else 1 if r <= 32 else 2 for r in res]


@dataclass
class EncoderConfig:
    """``resolution``: input side (images are resized to it); ``channels``: output channels of each downsampling
    stage (the last three stages form the pyramid, deepest = coarse); ``stem``: stem channels; ``pyramid``: lateral
    channels; ``head_channels``: channels per position at the 4×4 head output; ``w_dim`` / ``num_ws``: the
    generator's; ``generator_resolution``: the generator's output size (to assign w+ layers to levels);
    ``in_channels``: 3, or 6 for a refiner (image + current reconstruction); ``refiner``: add ReStyle's iterative
    refiner; ``refine_iterations``: its default number of iterations at inference."""

    resolution: int = 64
    w_dim: int = 256
    num_ws: int = 10
    generator_resolution: int = 64
    stem: int = 32
    channels: tuple[int, ...] = (32, 64, 128, 128)
    pyramid: int = 128
    head_channels: int = 24
    in_channels: int = 3
    refiner: bool = False
    refine_iterations: int = 2

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        if self.refine_iterations < 0:
            raise FaceEditError(f"refine_iterations must be >= 0, got {self.refine_iterations}")
        if len(self.channels) < 3:
            raise FaceEditError("an encoder needs at least 3 stages (the pyramid's three levels)")
        r = self.resolution
        if r < 16 or r & (r - 1):
            raise FaceEditError(f"encoder resolution must be a power of two >= 16, got {r}")
        if r // 2 ** len(self.channels) < 1:
            raise FaceEditError(f"{len(self.channels)} stages are too many for {r} px input")

    @classmethod
    def for_model(cls, model, **kw) -> "EncoderConfig":
        """A config sized for ``model`` (input at its resolution up to 256; more stages for larger inputs)."""
        res = min(int(model.resolution), 256)
        if "channels" not in kw:
            n = max(4, int(math.log2(res)) - 2)
            base = (32, 64, 128, 128, 192, 256, 256)
            kw["channels"] = base[:n]
        kw.setdefault("resolution", res)
        return cls(w_dim=model.w_dim, num_ws=model.num_ws, generator_resolution=model.resolution, **kw)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _act(x + self.conv2(_act(self.conv1(x))))


class Stage(nn.Module):
    """Halve the resolution (stride-2 3×3 conv) then one residual block."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.down = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.block = ResBlock(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(_act(self.down(x)))


class LevelHead(nn.Module):
    """Feature map [N, C, r, r] → [N, L, w_dim]: stride-2 convs to 4×4, 1×1 to ``head`` channels, flatten,
    one linear layer per w+ layer (stored as one matrix)."""

    def __init__(self, ch: int, res: int, head: int, n_layers: int, w_dim: int):
        super().__init__()
        downs = []
        while res > 4:
            downs.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
            res //= 2
        self.downs = nn.ModuleList(downs)
        self.size = res
        self.reduce = nn.Conv2d(ch, head, 1)
        self.n_layers, self.w_dim = n_layers, w_dim
        self.linear = nn.Linear(head * res * res, n_layers * w_dim)
        nn.init.normal_(self.linear.weight, std=0.1 / math.sqrt(head * res * res))
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.downs:
            x = _act(conv(x))
        x = _act(self.reduce(x)).flatten(1)
        return self.linear(x).view(-1, self.n_layers, self.w_dim)


class Encoder(nn.Module):
    """Images [N, 3, H, W] in [-1, 1] → w+ [N, num_ws, w_dim] (see the module docstring).

    ``w_avg`` is a buffer copied from the generator at construction (``Encoder(cfg, w_avg)``) and stored with
    the weights. ``forward(x, stage=None)``: ``stage`` k opens the deltas of layers 1..k (None: all);
    ``return_deltas=True`` also returns the deltas [N, num_ws - 1, w_dim] (for the regulariser).
    With ``cfg.refiner``: ``refine(x, ws, img)`` is one ReStyle iteration, ``predict(x, G)`` the first pass plus
    the iterations, ``init_refiner_from_base()`` starts the refiner from the first pass's weights.
    """

    def __init__(self, cfg: EncoderConfig, w_avg: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        self.stem = nn.Conv2d(cfg.in_channels, cfg.stem, 3, padding=1)
        stages, cin = [], cfg.stem
        for c in cfg.channels:
            stages.append(Stage(cin, c))
            cin = c
        self.stages = nn.ModuleList(stages)
        top = cfg.channels[-3:]  # fine, medium, coarse feature maps
        self.lateral = nn.ModuleList([nn.Conv2d(c, cfg.pyramid, 1) for c in top])
        n = len(cfg.channels)
        res = [cfg.resolution // 2 ** (n - 2), cfg.resolution // 2 ** (n - 1), cfg.resolution // 2 ** n]  # f, m, c
        self.levels = layer_levels(cfg.generator_resolution, cfg.num_ws)
        counts = [self.levels.count(k) for k in range(3)]
        self.heads = nn.ModuleList([
            LevelHead(cfg.pyramid, res[2 - k], cfg.head_channels, counts[k], cfg.w_dim) if counts[k] else nn.Identity()
            for k in range(3)])  # index = level (0 coarse, 1 medium, 2 fine)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim) if w_avg is None else w_avg.detach().float().clone())
        self.register_buffer("levels_index", torch.tensor(self.levels), persistent=False)
        self.refiner: Encoder | None = None
        if cfg.refiner:
            self.refiner = Encoder(replace(cfg, in_channels=2 * cfg.in_channels, refiner=False))
            self.refiner.zero_output()

    def zero_output(self) -> None:
        """Zero the heads' last layers: the network then predicts offsets of 0 (a refiner starts as identity)."""
        with torch.no_grad():
            for head in self.heads:
                if isinstance(head, LevelHead):
                    head.linear.weight.zero_()
                    head.linear.bias.zero_()

    def init_refiner_from_base(self) -> None:
        """Copy the first pass's backbone, pyramid and heads into the refiner (the reconstruction's input
        channels start at zero, the heads' last layers too), so refinement training starts from trained
        features and from the identity map."""
        if self.refiner is None:
            raise FaceEditError("this encoder has no refiner")
        base = {k: v for k, v in self.state_dict().items() if not k.startswith("refiner.")}
        own = self.refiner.state_dict()
        with torch.no_grad():
            for k, v in base.items():
                if k not in own or k == "w_avg":
                    continue
                if k == "stem.weight":
                    own[k].zero_()
                    own[k][:, :v.shape[1]] = v
                elif own[k].shape == v.shape:
                    own[k].copy_(v)
        self.refiner.load_state_dict(own)
        self.refiner.zero_output()

    def trainable_refiner_only(self) -> None:
        """Freeze the first pass (refinement training)."""
        for name, p in self.named_parameters():
            p.requires_grad_(name.startswith("refiner."))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Pyramid maps [coarse, medium, fine] with ``cfg.pyramid`` channels each."""
        if x.shape[-1] != self.cfg.resolution or x.shape[-2] != self.cfg.resolution:
            x = F.interpolate(x, size=(self.cfg.resolution,) * 2, mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.cfg.resolution)
        x = _act(self.stem(x))
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        f, m, c = feats[-3:]
        pc = self.lateral[2](c)
        pm = self.lateral[1](m) + F.interpolate(pc, size=m.shape[-2:], mode="bilinear", align_corners=False)
        pf = self.lateral[0](f) + F.interpolate(pm, size=f.shape[-2:], mode="bilinear", align_corners=False)
        return [pc, pm, pf]

    def offsets(self, x: torch.Tensor) -> torch.Tensor:
        """Raw per-layer outputs [N, num_ws, w_dim] (layer 0: base offset; others: deltas)."""
        maps = self.features(x)
        out = x.new_zeros(x.shape[0], self.cfg.num_ws, self.cfg.w_dim)
        for k in range(3):
            idx = [i for i, lv in enumerate(self.levels) if lv == k]
            if idx:
                out[:, idx] = self.heads[k](maps[k]).to(out.dtype)
        return out

    def forward(self, x: torch.Tensor, stage: int | None = None, return_deltas: bool = False):
        o = self.offsets(x.float())
        base, deltas = o[:, :1], o[:, 1:]
        if stage is not None and stage < deltas.shape[1]:
            mask = (torch.arange(deltas.shape[1], device=o.device) < stage).to(o.dtype)
            deltas = deltas * mask[None, :, None]
        ws = self.w_avg[None, None] + base + torch.cat([torch.zeros_like(base), deltas], 1)
        return (ws, deltas) if return_deltas else ws

    def refine(self, x: torch.Tensor, ws: torch.Tensor, img: torch.Tensor, return_deltas: bool = False):
        """One ReStyle iteration: target ``x`` and the current reconstruction ``img`` ([N, 3, H, W] in [-1, 1])
        → corrected w+ (and the correction's deltas with ``return_deltas``)."""
        if self.refiner is None:
            raise FaceEditError("this encoder has no refiner")
        if x.shape[-2:] != img.shape[-2:]:
            x = F.interpolate(x, size=img.shape[-2:], mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > img.shape[-1])
        o = self.refiner.offsets(torch.cat([x.float(), img.float()], 1))
        base, deltas = o[:, :1], o[:, 1:]
        out = ws + base + torch.cat([torch.zeros_like(base), deltas], 1)
        return (out, deltas) if return_deltas else out

    def predict(self, x: torch.Tensor, G=None, iterations: int | None = None) -> torch.Tensor:
        """First pass, then (with a refiner and the generator ``G``) ``iterations`` refinements (default
        ``cfg.refine_iterations``)."""
        ws = self(x)
        n = self.cfg.refine_iterations if iterations is None else int(iterations)
        if self.refiner is None or G is None:
            return ws
        for _ in range(n):
            img = G.synthesis(ws, noise_mode="const").clamp(-1, 1)
            ws = self.refine(x, ws, img)
        return ws

    def encode(self, images: torch.Tensor, batch_size: int = 32, G=None, iterations: int | None = None
               ) -> torch.Tensor:
        """Inference helper: images [N, 3, H, W] in [-1, 1] (or uint8) → w+ [N, num_ws, w_dim], no grad.
        ``G``: the generator, for the refiner's iterations (without it, the first pass only)."""
        x = torch.as_tensor(images)
        if x.dtype == torch.uint8:
            x = x.float() / 127.5 - 1.0
        dev = self.w_avg.device
        was = self.training
        self.eval()
        out = []
        with torch.no_grad():
            for i in range(0, x.shape[0], batch_size):
                out.append(self.predict(x[i:i + batch_size].float().to(dev), G, iterations))
        self.train(was)
        return torch.cat(out)


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------------------- files
def generator_info(model) -> dict:
    """What an encoder file records about its generator."""
    return {"name": getattr(model, "name", None), "sha256": getattr(model, "sha256", None),
            "resolution": int(model.resolution), "num_ws": int(model.num_ws), "w_dim": int(model.w_dim)}


def save_encoder(path: str | Path, encoder: Encoder, model=None, card: dict | None = None,
                 dtype: torch.dtype = torch.float16, side_card: bool = True) -> Path:
    """Write fp16 safetensors (+ ``<name>.json`` card) atomically. ``model``: the generator it was trained for
    (its sha256, shapes and name go into the card under ``generator``)."""
    card = dict(card or {})
    if model is not None:
        card["generator"] = generator_info(model)
    card.setdefault("parameters", num_parameters(encoder))
    path = Path(path)
    if path.suffix != ".safetensors":
        raise FaceEditError(f"encoder files are .safetensors, got {path.name}")
    save_network(path, encoder, KIND, encoder.cfg.to_dict(), card, dtype=dtype, side_card=side_card)
    return path


def read_encoder(path: str | Path) -> tuple[Encoder, dict]:
    """Load an encoder file → (encoder in eval mode, float32, card) without any generator check."""
    meta, state = read_network(path, KIND, TRAIN_HINT)
    cfg = EncoderConfig.from_dict(meta.get("config") or {})
    enc = Encoder(cfg)
    load_state(enc, state, f"encoder {path}")
    return enc.eval(), dict(meta.get("card") or {})


def check_generator(card: dict, model, force: bool = False, where: str = "encoder") -> None:
    """Refuse an encoder made for another generator: shapes always, the sha256 unless ``force``."""
    gen = card.get("generator") or {}
    for key, have in (("w_dim", model.w_dim), ("num_ws", model.num_ws)):
        if gen.get(key) not in (None, have):
            raise FaceEditError(f"{where} was trained for a generator with {gen.get('num_ws')} w+ layers of "
                                f"{gen.get('w_dim')}; {model.name} has {model.num_ws} of {model.w_dim}")
    want, have = gen.get("sha256"), getattr(model, "sha256", None)
    if want and have and want != have and not force:
        raise FaceEditError(f"{where} was trained for generator {gen.get('name') or '?'} (sha256 {want[:12]}…), "
                            f"not for {model.name} (sha256 {have[:12]}…): retrain it with '{TRAIN_HINT}', or "
                            "force its use (--force-encoder / force=True) at your own risk")


def load_encoder(path: str | Path, model=None, force: bool = False, device=None) -> tuple[Encoder, dict]:
    """Load an encoder file for ``model`` (see :func:`check_generator`); returns (encoder, card). A ``.pt`` /
    ``.pth`` file is read as a published pSp / e4e checkpoint (:mod:`faceedit.invert.psp`)."""
    from faceedit.io.registry import REGISTRY, resolve_model

    entry = REGISTRY.get(str(path))
    if entry is not None and entry.format == "psp":  # a registry name, e.g. e4e-ffhq-encode (fetched)
        path = resolve_model(entry.name)
    if Path(path).suffix.lower() in PSP_SUFFIXES:
        from faceedit.invert.psp import load_psp

        psp = load_psp(path).encoder
        enc, card = psp, psp.card()
    else:
        enc, card = read_encoder(path)
    if model is not None:
        check_generator(card, model, force=force, where=f"encoder {path}")
        device = device or model.device
    if device is not None:
        enc.to(device)
    return enc, card


def default_encoder(model) -> tuple[Encoder | None, str]:
    """The shipped encoder if it exists and was trained for ``model``; else ``(None, reason)``."""
    if not DEFAULT_ENCODER.is_file():
        return None, "no shipped encoder yet (train one with 'faceedit train encoder')"
    try:
        enc, card = load_encoder(DEFAULT_ENCODER, model)
    except FaceEditError as exc:
        return None, str(exc)
    return enc, f"shipped encoder ({card.get('training', {}).get('steps', '?')} steps)"
