"""faceedit: edit faces with StyleGAN2 in pure PyTorch.

The few calls a user scripts against live in :mod:`faceedit.api` and are re-exported here::

    import faceedit
    model = faceedit.load()                 # the embedded default, a registry name, or a checkpoint path
    images = model.generate(seeds=[0, 1], truncation=0.7)
"""

__version__ = "0.1.0"

from faceedit.errors import FaceEditError  # noqa: E402

__all__ = ["FaceEditError", "__version__", "load"]


def __getattr__(name):  # lazy: importing faceedit must not import torch
    if name in ("load", "Model"):
        from faceedit import api

        return getattr(api, name)
    raise AttributeError(name)
