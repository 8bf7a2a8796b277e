"""CLIP's ViT image encoder, written for this project, reading the state dicts of OpenAI CLIP and open_clip.

CLIP weights cannot be downloaded here; a user who has them (``ViT-B-32.pt`` from OpenAI, an open_clip
``open_clip_pytorch_model.bin`` / ``.safetensors``) passes the file and :func:`load_clip` builds the image tower
from the tensor shapes. The layout read (prefix ``visual.``, optional ``module.`` / ``state_dict`` wrapping; a
visual-only dict without the prefix works too):

    class_embedding [W]              positional_embedding [G²+1, W]      conv1.weight [W, 3, P, P] (no bias)
    ln_pre.{weight,bias} [W]         ln_post.{weight,bias} [W]           proj [W, D]
    transformer.resblocks.{i}.ln_1 / ln_2.{weight,bias} [W]
    transformer.resblocks.{i}.attn.in_proj_weight [3W, W], in_proj_bias [3W], out_proj.{weight [W, W], bias [W]}
    transformer.resblocks.{i}.mlp.c_fc.{weight [4W, W], bias}, mlp.c_proj.{weight [W, 4W], bias}

Heads: W / 64 (both projects). Activation: QuickGELU (``x·σ(1.702x)``, OpenAI's and open_clip's OpenAI-pretrained
models) or GELU (open_clip's LAION models): ``act``. Input: RGB, bicubic-resized to G·P px (224 for the common
models), normalised by CLIP's mean/std. An OpenAI TorchScript archive is read without running its code
(:func:`faceedit.metrics.inception.read_torchscript_tensors`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HEAD_WIDTH = 64
ACTIVATIONS = ("quick_gelu", "gelu")
#: Tensors per residual block in the layout above.
BLOCK_KEYS = ("ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
              "attn.out_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
              "mlp.c_proj.weight", "mlp.c_proj.bias")
MAX_LAYERS = 64


@dataclass(frozen=True)
class ViTConfig:
    """The image tower's shape: ``width`` W, ``layers``, ``patch`` P (px), ``grid`` G (patches per side; input
    side G·P), ``embed_dim`` D (output of ``proj``), ``act``."""

    width: int = 768
    layers: int = 12
    patch: int = 32
    grid: int = 7
    embed_dim: int = 512
    act: str = "quick_gelu"

    @property
    def heads(self) -> int:
        return max(1, self.width // HEAD_WIDTH)

    @property
    def image_size(self) -> int:
        return self.grid * self.patch


class _Block(nn.Module):
    """Pre-norm residual block: x + attn(ln_1 x); x + mlp(ln_2 x)."""

    def __init__(self, width: int, heads: int, act: str):
        super().__init__()
        self.heads, self.act = heads, act
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(width, 4 * width), "c_proj": nn.Linear(4 * width, width)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        h = self.mlp["c_fc"](self.ln_2(x))
        h = h * torch.sigmoid(1.702 * h) if self.act == "quick_gelu" else F.gelu(h)
        return x + self.mlp["c_proj"](h)


class _Transformer(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.resblocks = nn.ModuleList([_Block(cfg.width, cfg.heads, cfg.act) for _ in range(cfg.layers)])


class CLIPVisual(nn.Module):
    """CLIP's ViT image encoder. :meth:`encode` → ``(embedding [N, D], tokens [N, G², W])``: the projected class
    token (CLIP's image embedding) and the patch tokens of the last block (DIFA's local features). Frozen."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        if cfg.act not in ACTIVATIONS:
            raise FaceEditError(f"unknown CLIP activation {cfg.act!r}: use {', '.join(ACTIVATIONS)}")
        self.cfg = cfg
        w = cfg.width
        self.conv1 = nn.Conv2d(3, w, cfg.patch, stride=cfg.patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(w))
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.grid ** 2 + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = _Transformer(cfg)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(torch.zeros(w, cfg.embed_dim))
        self.requires_grad_(False)
        self.eval()

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [N, 3, H, W] in [-1, 1] → CLIP's input: resized to the model's side, normalised."""
        side = self.cfg.image_size
        if x.shape[-1] != side or x.shape[-2] != side:
            x = F.interpolate(x, size=(side, side), mode="bicubic", align_corners=False)
        mean = torch.tensor(CLIP_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return ((x + 1) / 2 - mean) / std

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [N, 3, H, W] in [-1, 1] → (embedding [N, D], patch tokens [N, G², W])."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            raise FaceEditError(f"CLIP input must be [N, 3, H, W], got {tuple(getattr(x, 'shape', ()))}")
        h = self.conv1(self.preprocess(x.float()))
        h = h.flatten(2).transpose(1, 2)  # [N, G², W]
        cls = self.class_embedding.to(h.dtype).expand(h.shape[0], 1, -1)
        h = self.ln_pre(torch.cat([cls, h], 1) + self.positional_embedding.to(h.dtype))
        for block in self.transformer.resblocks:
            h = block(h)
        emb = self.ln_post(h[:, 0]) @ self.proj
        return emb, h[:, 1:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)[0]

    # ------------------------------------------------------------------------------------------------ weights
    def load_layout(self, state: dict[str, torch.Tensor], source: str = "CLIP weights") -> "CLIPVisual":
        """Copy a visual state dict in the CLIP layout (prefix already removed) into this network."""
        keys = ["class_embedding", "positional_embedding", "conv1.weight", "ln_pre.weight", "ln_pre.bias",
                "ln_post.weight", "ln_post.bias", "proj"]
        keys += [f"transformer.resblocks.{i}.{k}" for i in range(self.cfg.layers) for k in BLOCK_KEYS]
        mine = dict(self.named_parameters())
        with torch.no_grad():
            for k in keys:
                if k not in state:
                    raise FaceEditError(f"{source}: not a CLIP ViT image encoder (missing visual.{k})")
                target = mine[k]
                v = state[k]
                if tuple(v.shape) != tuple(target.shape):
                    raise FaceEditError(f"{source}: visual.{k} has shape {tuple(v.shape)}, expected "
                                        f"{tuple(target.shape)}")
                if v.is_floating_point() and not torch.isfinite(v).all():
                    raise FaceEditError(f"{source}: visual.{k} holds NaN or infinite values")
                target.copy_(v.float())
        return self


def visual_state(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """The image tower's tensors of a CLIP / open_clip state dict, with the ``visual.`` prefix (and any
    ``module.`` / ``model.`` before it) removed. A dict without ``visual.*`` keys is taken as visual-only."""
    if isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    anchor = next((k for k in tensors if k.endswith("visual.class_embedding")), None)
    if anchor is not None:
        prefix = anchor[:-len("class_embedding")]
    else:
        anchor = next((k for k in tensors if k.endswith("class_embedding")), None)
        if anchor is None:
            if any(k.startswith(("visual.layer1", "visual.attnpool")) for k in tensors):
                raise FaceEditError(f"{source} is a CLIP ResNet; only the ViT image encoders are supported")
            raise FaceEditError(f"{source}: not a CLIP ViT state dict (no visual.class_embedding)")
        prefix = anchor[:-len("class_embedding")]
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def config_from_state(vis: dict[str, torch.Tensor], source: str, act: str = "quick_gelu") -> ViTConfig:
    """The tower's shape from the tensor shapes of a visual state dict (prefix removed)."""
    try:
        width, _, patch, _ = vis["conv1.weight"].shape
        tokens = vis["positional_embedding"].shape[0]
        embed = vis["proj"].shape[1]
    except (KeyError, ValueError, IndexError):
        raise FaceEditError(f"{source}: not a CLIP ViT image encoder (conv1.weight, positional_embedding or proj "
                            "missing or misshapen)") from None
    grid = int(round((tokens - 1) ** 0.5))
    if grid * grid + 1 != tokens:
        raise FaceEditError(f"{source}: positional_embedding has {tokens} rows, not a square grid + 1")
    layers = len({k.split(".")[2] for k in vis if k.startswith("transformer.resblocks.")})
    if not 1 <= layers <= MAX_LAYERS:
        raise FaceEditError(f"{source}: {layers} transformer blocks (expected 1 to {MAX_LAYERS})")
    return ViTConfig(width=int(width), layers=layers, patch=int(patch), grid=grid, embed_dim=int(embed), act=act)


def read_clip_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a CLIP weights file, never running code: ``.safetensors``, a ``torch.save`` state dict
    (``weights_only``) or OpenAI's TorchScript archive."""
    path = Path(path)
    if not path.is_file():
        raise FaceEditError(f"CLIP weights not found: {path}")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - maybe a TorchScript archive (OpenAI's .pt)
            from faceedit.metrics.inception import read_torchscript_tensors

            try:
                state = read_torchscript_tensors(str(path), str(path))
            except FaceEditError:
                raise FaceEditError(f"cannot read CLIP weights {path}: neither a state dict nor a TorchScript "
                                    "archive") from None
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's
        raise FaceEditError(f"cannot read CLIP weights {path}: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(state, dict):
        raise FaceEditError(f"{path}: expected a CLIP state dict (names → tensors)")
    return state


def load_clip(source: str | os.PathLike | dict, act: str = "quick_gelu", device="cpu") -> CLIPVisual:
    """A frozen :class:`CLIPVisual` from a CLIP / open_clip file or an in-memory state dict."""
    name = "CLIP state dict" if isinstance(source, dict) else str(source)
    state = source if isinstance(source, dict) else read_clip_file(source)
    vis = visual_state(state, name)
    net = CLIPVisual(config_from_state(vis, name, act))
    return net.load_layout(vis, name).to(device)


__all__ = ["CLIPVisual", "ViTConfig", "config_from_state", "load_clip", "read_clip_file", "visual_state"]
