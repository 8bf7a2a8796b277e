"""Checkpoints: every supported format in, faceedit's safetensors or rosinality's .pt out; the model registry.

    from faceedit.io import load_checkpoint
    ckpt = load_checkpoint("ffhq.pkl")          # or a registry name, or "default"
    img = ckpt.G_ema(z, noise_mode="const")

Formats (sniffed from content; one table, :data:`faceedit.io.formats.FORMATS`): NVIDIA stylegan2-ada-pytorch /
stylegan3 ``.pkl`` and NVIDIA's TensorFlow ``.pkl`` (both through a restricted unpickler that never runs code from
the file), rosinality ``.pt``, and faceedit's own ``.safetensors``.

The names below load their module on first use: the command line reads the format table for its help text
without loading torch.
"""

#: Public names and the module of this package that defines each.
_NAMES = {
    "Checkpoint": "parts", "build_checkpoint": "loader", "check_latent_shape": "loader", "describe": "loader",
    "file_sha256": "loader", "load_checkpoint": "loader", "load_native": "loader", "read_parts": "loader",
    "sniff_format": "loader",
    "FORMATS": "formats", "CheckpointFormat": "formats", "write_checkpoint": "formats",
    "save_native": "native",
    "REGISTRY": "registry", "ModelEntry": "registry", "default_cache_dir": "registry", "model_path": "registry",
    "resolve_model": "registry",
    "save_rosinality": "rosinality",
    "UnsafePickleError": "safe_pickle", "safe_load": "safe_pickle",
}
__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        import importlib

        return getattr(importlib.import_module(f"faceedit.io.{_NAMES[name]}"), name)
    raise AttributeError(name)
