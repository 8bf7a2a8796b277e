"""faceedit: edit faces with StyleGAN2 in pure PyTorch.

The few calls a user scripts against live in :mod:`faceedit.api` and are re-exported here::

    import faceedit
    model = faceedit.load()                 # the embedded default, a registry name, or a checkpoint path
    images = model.generate(seeds=[0, 1], truncation=0.7)
    face = faceedit.resolve_face("me.jpg", model)   # a seed, a latent file or a photo: see faceedit.face
"""

__version__ = "0.1.0"

from faceedit.errors import FaceEditError  # noqa: E402

__all__ = ["Face", "FaceEditError", "Model", "__version__", "load", "resolve_face"]


def __getattr__(name):  # lazy: importing faceedit must not import torch
    if name in ("load", "Model", "Face", "resolve_face"):
        from faceedit import api

        return getattr(api, name)
    raise AttributeError(name)
