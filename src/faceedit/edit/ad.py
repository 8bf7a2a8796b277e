"""Attribute Dependency (StyleSpace paper, §5): how much an edit of one attribute changes the others.

For an edit aimed at attribute t, on N sample faces, with classifier logits l_i before and after the edit and
σ_i the std of logit i over the unedited samples:

* ``AD_t`` = mean_n (Δl_t) / σ_t — the (signed) change of the target, in σ units;
* ``AD_o`` = mean_{i≠t} mean_n |Δl_i| / σ_i — the mean absolute change of every other attribute (the paper's
  mean-AD);
* ``ratio`` = AD_o / |AD_t| — the *dependency ratio*: lower means a more disentangled edit (compare edits at
  matched AD_t);
* ``ad`` = |AD_t| / AD_o — the thesis's AD (ch. 6): how many σ the target moves per σ of mean change of the
  other attributes; higher means a more disentangled edit. It is the inverse of ``ratio``; both are kept, under
  their own names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from faceedit.errors import FaceEditError

EditFn = Callable[[torch.Tensor], torch.Tensor]  # w+ [n, num_ws, w_dim] -> images [n, 3, R, R]
LogitsFn = Callable[[torch.Tensor], torch.Tensor]  # images -> [n, A]


@dataclass
class ADResult:
    edit: str
    alpha: float
    ad_t: float
    ad_o: float
    ratio: float  # AD_o / |AD_t|: the dependency ratio (lower: more disentangled)
    delta: list[float]  # mean Δl_i / σ_i per attribute (signed)
    ad: float = float("nan")  # |AD_t| / AD_o: the thesis's AD (higher: more disentangled)


def logits_of(model, images: torch.Tensor, logits: LogitsFn, batch_size: int = 16) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for i in range(0, images.shape[0], batch_size):
            out.append(logits(images[i:i + batch_size].to(model.device)).float().cpu())
    return torch.cat(out)


def attribute_dependency(model, ws: torch.Tensor, edit: EditFn, logits: LogitsFn, target: int,
                         base_logits: torch.Tensor | None = None, sigma: torch.Tensor | None = None,
                         name: str = "edit", alpha: float = float("nan"), batch_size: int = 8) -> ADResult:
    """AD of one edit (``edit(ws) -> images``) on the samples ``ws``; see the module doc for the definitions."""
    ws = model.as_ws(ws)
    if ws.shape[0] < 2:
        raise FaceEditError("attribute dependency needs at least 2 samples")
    if base_logits is None:
        base_logits = logits_of(model, model.synthesize(ws, batch_size=batch_size), logits)
    A = base_logits.shape[1]
    if not 0 <= target < A:
        raise FaceEditError(f"target attribute {target} out of range (0-{A - 1})")
    if sigma is None:
        sigma = base_logits.std(0)
    sigma = sigma.clamp_min(1e-6)
    imgs = torch.cat([edit(ws[i:i + batch_size]).cpu() for i in range(0, ws.shape[0], batch_size)])
    return dependency(base_logits, logits_of(model, imgs, logits), target, sigma, name, alpha)


def dependency(base_logits: torch.Tensor, edited_logits: torch.Tensor, target: int, sigma: torch.Tensor,
               name: str = "edit", alpha: float = float("nan"), ignore: tuple[int, ...] = ()) -> ADResult:
    """AD from logits [n, A] before and after an edit of the same n faces, with σ [A] (see the module doc).
    ``ignore``: attribute indices left out of AD_o besides the target (e.g. ones held fixed on purpose)."""
    d = (edited_logits - base_logits) / sigma.clamp_min(1e-6)
    others = [i for i in range(d.shape[1]) if i != target and i not in ignore]
    ad_t = float(d[:, target].mean())
    ad_o = float(d[:, others].abs().mean()) if others else 0.0
    return ADResult(name, float(alpha), ad_t, ad_o, ad_o / max(abs(ad_t), 1e-12), d.mean(0).tolist(),
                    ad=abs(ad_t) / max(ad_o, 1e-12))


def compare_edits(model, ws: torch.Tensor, edits: dict[str, Callable[[float], EditFn]], alphas: Sequence[float],
                  logits: LogitsFn, target: int, batch_size: int = 8) -> list[ADResult]:
    """AD for each named edit family (``alpha -> edit``) at each α, on the same samples and σ."""
    ws = model.as_ws(ws)
    base = logits_of(model, model.synthesize(ws, batch_size=batch_size), logits)
    sigma = base.std(0)
    out = []
    for name, make in edits.items():
        for a in alphas:
            out.append(attribute_dependency(model, ws, make(float(a)), logits, target, base, sigma, name=name,
                                            alpha=float(a), batch_size=batch_size))
    return out


def ad_table(results: Sequence[ADResult]) -> str:
    rows = ["edit\talpha\tAD_t\tAD_o\tAD_o/AD_t\tAD (thesis)"]
    rows += [f"{r.edit}\t{r.alpha:g}\t{r.ad_t:+.4f}\t{r.ad_o:.4f}\t{r.ratio:.4f}\t{r.ad:.3f}" for r in results]
    return "\n".join(rows) + "\n"


# ---- edit families for compare_edits ------------------------------------------------------------------------
def channel_edit(model, direction, stats) -> Callable[[float], EditFn]:
    """A StyleSpace direction as an edit family: α ↦ (ws ↦ images)."""
    from faceedit.edit.stylespace import apply_direction

    def make(alpha: float) -> EditFn:
        return lambda w: model.synthesize(styles=apply_direction(model.to_styles(w), direction, alpha, stats))

    return make


def w_direction_edit(model, direction: torch.Tensor | np.ndarray, layers: Sequence[int] | None = None
                     ) -> Callable[[float], EditFn]:
    """A w / w+ direction (e.g. InterfaceGAN's unit normal, [w_dim] or [num_ws, w_dim]) as an edit family:
    α ↦ (ws ↦ images of ws + α·d), on ``layers`` only when given."""
    d = torch.as_tensor(np.asarray(direction), dtype=torch.float32).to(model.device)
    d = d.reshape(-1, d.shape[-1])[0] if d.ndim > 1 and d.shape[0] == 1 else d
    if d.shape[-1] != model.w_dim or d.ndim not in (1, 2) or (d.ndim == 2 and d.shape[0] != model.num_ws):
        raise FaceEditError(f"direction has shape {list(d.shape)}; this model needs [{model.w_dim}] or "
                            f"[{model.num_ws}, {model.w_dim}]")
    full = d.expand(model.num_ws, -1).clone() if d.ndim == 1 else d.clone()
    if layers is not None:
        keep = torch.zeros(model.num_ws, 1)
        keep[list(layers)] = 1
        full = full * keep.to(full.device)

    def make(alpha: float) -> EditFn:
        return lambda w: model.synthesize(model.as_ws(w) + alpha * full)

    return make


def load_w_direction(path) -> np.ndarray:
    """Read a direction from .npy or .npz (key 'direction', 'boundary', 'normal' or the only array)."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FaceEditError(f"direction file not found: {path}")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False).astype(np.float32)
        with np.load(path, allow_pickle=False) as z:
            for key in ("direction", "boundary", "normal", "d"):
                if key in z:
                    return z[key].astype(np.float32)
            arrays = [k for k in z.files if k != "meta"]
            if len(arrays) == 1:
                return z[arrays[0]].astype(np.float32)
            raise FaceEditError(f"{path} holds several arrays ({', '.join(z.files)}); name one 'direction'")
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise FaceEditError(f"cannot read direction file {path}: {exc}") from exc
