"""One-shot domain adaptation of a generator to one art portrait (DIFA) and edits on art faces.

    from faceedit.adapt import AdaptConfig, adapt, source_model
    card = adapt(AdaptConfig(target="mona_lisa.jpg", out="mona.safetensors", time_budget=300))
    G_B = faceedit.model.load("mona.safetensors"); G_A = source_model(G_B)   # same latent space

:mod:`~faceedit.adapt.training` (the loop), :mod:`~faceedit.adapt.losses` (DIFA's losses),
:mod:`~faceedit.adapt.embed` (VGG16 / CLIP embeddings), :mod:`~faceedit.adapt.clip` (CLIP's ViT, read from
OpenAI / open_clip state dicts), :mod:`~faceedit.adapt.source` (adapted model files and their source).
"""

from faceedit.adapt.source import adapted_card, require_adapted, shipped_names, source_model
from faceedit.adapt.training import AdaptConfig, adapt

__all__ = ["AdaptConfig", "adapt", "adapted_card", "require_adapted", "shipped_names", "source_model"]
