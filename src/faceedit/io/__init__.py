"""Checkpoints: every supported format in, faceedit's safetensors or rosinality's .pt out; the model registry.

    from faceedit.io import load_checkpoint
    ckpt = load_checkpoint("ffhq.pkl")          # or a registry name, or "default"
    img = ckpt.G_ema(z, noise_mode="const")

Formats (sniffed from content): NVIDIA stylegan2-ada-pytorch / stylegan3 ``.pkl`` and NVIDIA's TensorFlow
``.pkl`` (both through a restricted unpickler that never runs code from the file), rosinality ``.pt``, and
faceedit's own ``.safetensors``.
"""

from faceedit.io.loader import (Checkpoint, build_checkpoint, check_latent_shape, describe, file_sha256,
                                load_checkpoint, load_native, read_parts, sniff_format)
from faceedit.io.native import save_native
from faceedit.io.registry import REGISTRY, ModelEntry, default_cache_dir, model_path, resolve_model
from faceedit.io.rosinality import save_rosinality
from faceedit.io.safe_pickle import UnsafePickleError, safe_load

__all__ = ["Checkpoint", "ModelEntry", "REGISTRY", "UnsafePickleError", "build_checkpoint", "check_latent_shape",
           "default_cache_dir", "describe", "file_sha256", "load_checkpoint", "load_native", "model_path",
           "read_parts", "resolve_model", "safe_load", "save_native", "save_rosinality", "sniff_format"]
