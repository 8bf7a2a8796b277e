"""Copy a trained network into a wider network of the same layout so that the wider one computes the same function.

Used by ``faceedit train gan --init-from`` to give a trained generator and discriminator more channels
(e.g. ``--channel-base 4096`` after training at 2048) without throwing their training away (Net2Net-style
widening; Chen et al. 2016). For every tensor whose name exists on both sides:

- the same shape: copied;
- wider in some dimensions (never narrower): the trained values go to the leading slice; the extra *input*
  columns (dimension 1 of a weight) of the trained rows are zero, so the old channels ignore the new ones; the
  extra *output* rows and the extra entries of 1-D tensors (biases) keep the fresh initialisation of the wider
  network, so the new channels have something to learn from. The trained values of a weight whose input grew from
  a to b are multiplied by √(b/a): every layer here scales its weight by 1/√fan-in at run time (equalised learning
  rate; the demodulated convolutions do not care about the scale), so the product is unchanged.

The new channels are then computed but read by nothing until training moves the zero columns. This holds where a
layer's new inputs are appended after the old ones: not for a discriminator whose 4-px width changes (its
minibatch-std channel comes after the features), which :func:`widen_into` refuses.
"""
from __future__ import annotations

import math

import torch

from faceedit.errors import FaceEditError

__all__ = ["widen_into"]

#: tensors of a wider discriminator that cannot be widened in place (the minibatch-std channel follows them)
_FIXED_WIDTH = ("b4.conv.", "b4.fc.", "b4.out.")


def _widened(fresh: torch.Tensor, trained: torch.Tensor) -> torch.Tensor:
    out = fresh.detach().clone()
    lead = tuple(slice(0, n) for n in trained.shape)
    values = trained.to(out.dtype)
    if trained.ndim >= 2:
        grown_in = out.shape[1] > trained.shape[1]
        if grown_in:
            out[: trained.shape[0], trained.shape[1]:] = 0
            values = values * math.sqrt(out.shape[1] / trained.shape[1])
    out[lead] = values
    return out


def widen_into(module: torch.nn.Module, trained: dict[str, torch.Tensor], what: str) -> tuple[int, int]:
    """Copy ``trained`` (a state dict of a narrower or equal network) into ``module``. Tensors absent on either side
    are left alone (e.g. a new resolution block); a tensor narrower in ``module`` than in ``trained`` is an error.
    Returns (tensors copied as they are, tensors widened)."""
    own = module.state_dict()
    new: dict[str, torch.Tensor] = {}
    copied = widened = 0
    for name, fresh in own.items():
        t = trained.get(name)
        if t is None:
            continue
        if t.ndim != fresh.ndim or any(a > b for a, b in zip(t.shape, fresh.shape)):
            raise FaceEditError(f"{what}.{name}: cannot copy shape {list(t.shape)} into {list(fresh.shape)} "
                                "(a network can only be widened, not narrowed)")
        if tuple(t.shape) == tuple(fresh.shape):
            new[name] = t.to(fresh.dtype)
            copied += 1
            continue
        if what == "D" and name.startswith(_FIXED_WIDTH):
            raise FaceEditError(f"D.{name}: the discriminator's 4-px width changed ({list(t.shape)} → "
                                f"{list(fresh.shape)}); widen with --channel-base at the same --channel-max")
        new[name] = _widened(fresh, t)
        widened += 1
    module.load_state_dict(new, strict=False)
    return copied, widened
