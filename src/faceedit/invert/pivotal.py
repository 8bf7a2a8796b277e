"""Pivotal tuning (Roich et al., "Pivotal Tuning for Latent-based Editing of Real Images", 2022): after a photo is
inverted to a latent (the *pivot*), fine-tune the synthesis network's weights, one copy per photo, so that the
generator draws that photo from that latent. Details the latent space cannot express (hair strands, background,
lighting) come back in a few dozen steps, and edits of the pivot along the usual directions still work, because
the tuning only bends the generator near the pivot.

    tuned = tune_synthesis(model, images, ws, steps=60)     # images [N, 3, R, R] in [-1, 1]; ws [N, num_ws, w_dim]
    tuned.model(model, 0)        # a Model whose synthesis network is tuned for photo 0 (same name, sha256, card)
    tuned.synthesize(model, 0, edited_ws)                    # images of photo 0's tuned generator
    arrays = tuned.to_arrays()                               # fp16 weight offsets, for a latent .npz
    TunedSynthesis.from_arrays(arrays)                       # and back

Loss per photo: ``mse_weight · MSE + perceptual_weight · d(x̂, x)`` (the same distance as the latent optimisation).
The layers take parameters with a leading batch dimension (one set per photo, through ``torch.func.functional_call``),
so the whole batch runs as one forward and backward pass.
Adam works element-wise and every photo has its own copy of the weights, so a batch gives the same answer as tuning
each photo alone; the perceptual network runs once for the whole batch. The learning rate is constant, then falls
with a half cosine over the last ``lr_rampdown`` of the steps.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.func import functional_call

from faceedit.errors import FaceEditError
from faceedit.invert.optimize import ProgressFn, as_images, frozen, step_progress, target_distance

#: Prefix of the weight offsets in a latent .npz (``tuned/b8.conv0.weight`` → [N, O, I, 3, 3] fp16).
ARRAY_PREFIX = "tuned/"


@dataclass
class TuneConfig:
    """Knobs of :func:`tune_synthesis`: Adam ``steps`` at ``lr``, ramped down over the last ``lr_rampdown`` of
    the steps; loss weights ``mse_weight`` and ``perceptual_weight``; ``latent_lr`` > 0 also moves the pivots (at
    that rate), which weakens later edits (benchmarks/README.md). The defaults were chosen on the default
    generator's validation faces."""

    steps: int = 60
    lr: float = 7e-3
    lr_rampdown: float = 0.5
    mse_weight: float = 1.0
    perceptual_weight: float = 1.0
    latent_lr: float = 0.0

    def check(self) -> "TuneConfig":
        if int(self.steps) < 0:
            raise FaceEditError(f"tuning steps must be >= 0, got {self.steps}")
        if not self.lr > 0:
            raise FaceEditError(f"tuning learning rate must be > 0, got {self.lr}")
        return self


def tuning_rate(t: float, cfg: TuneConfig) -> float:
    """Learning rate at progress ``t`` in [0, 1]: ``lr``, then a half cosine to 0 over the last ``lr_rampdown``."""
    down = min(1.0, (1.0 - t) / max(cfg.lr_rampdown, 1e-8))
    return cfg.lr * (0.5 - 0.5 * math.cos(down * math.pi))


class TunedSynthesis:
    """Per-photo weight offsets of a generator's synthesis network: ``offsets[j][name]`` is added to the base
    parameter ``name`` for photo ``j``. ``sha256``: the base generator's, so offsets are never applied to another
    generator. ``ws``: the pivots [N, num_ws, w_dim] the weights were tuned around, when known."""

    def __init__(self, offsets: list[dict[str, torch.Tensor]], sha256: str | None = None, steps: int = 0,
                 seconds: float = 0.0, ws: torch.Tensor | None = None):
        if not offsets:
            raise FaceEditError("no tuned weights")
        self.offsets, self.sha256, self.steps, self.seconds, self.ws = offsets, sha256, steps, seconds, ws

    def __len__(self) -> int:
        return len(self.offsets)

    def _check(self, model, j: int) -> None:
        if not 0 <= j < len(self.offsets):
            raise FaceEditError(f"no tuned generator for photo {j}: {len(self.offsets)} were tuned")
        if self.sha256 and model.sha256 and self.sha256 != model.sha256:
            raise FaceEditError(f"these tuned weights belong to generator {self.sha256[:12]}…, not to "
                                f"{model.name} ({model.sha256[:12]}…)")
        shapes = {name: p.shape for name, p in model.G.synthesis.named_parameters()}
        if {name: o.shape for name, o in self.offsets[j].items()} != shapes:
            raise FaceEditError(f"these tuned weights do not fit {model.name}'s synthesis network")

    def synthesis(self, model, j: int) -> torch.nn.Module:
        """A copy of ``model``'s synthesis network with photo ``j``'s offsets added."""
        self._check(model, j)
        syn = copy.deepcopy(model.G.synthesis)
        with torch.no_grad():
            for name, p in syn.named_parameters():
                p.add_(self.offsets[j][name].to(p.device, p.dtype))
        return syn.requires_grad_(False).eval()

    def model(self, model, j: int):
        """``model`` with photo ``j``'s tuned synthesis network (same name, sha256 and card: directions fitted
        for the base generator still apply)."""
        G = copy.copy(model.G)  # shallow: shares the mapping network, swaps the synthesis network
        G._modules = dict(G._modules)
        G._modules["synthesis"] = self.synthesis(model, j)
        return dataclasses.replace(model, G=G)

    def synthesize(self, model, j: int, ws: torch.Tensor, noise: dict[str, torch.Tensor] | None = None):
        """Images [n, 3, R, R] of photo ``j``'s tuned generator at ``ws`` [n, num_ws, w_dim] (constant noise)."""
        self._check(model, j)
        return self._draw(model, self.offsets[j], ws, noise)

    def synthesize_rows(self, model, ws: torch.Tensor) -> torch.Tensor:
        """Images [N, 3, R, R]: row ``j`` of ``ws`` [N, num_ws, w_dim] drawn by photo ``j``'s tuned generator, all
        in one batched pass (constant noise)."""
        if ws.shape[0] != len(self.offsets):
            raise FaceEditError(f"{ws.shape[0]} latents for {len(self.offsets)} tuned generators")
        self._check(model, 0)
        return self._draw(model, {name: torch.stack([o[name] for o in self.offsets]) for name in self.offsets[0]}, ws)

    @staticmethod
    def _draw(model, offsets: dict[str, torch.Tensor], ws: torch.Tensor, noise=None) -> torch.Tensor:
        """``model``'s synthesis network at ``ws`` with ``offsets`` added to its parameters (a leading photo
        dimension on them gives each row its own)."""
        syn = model.G.synthesis
        with torch.no_grad():
            params = {name: p + offsets[name].to(p.device, p.dtype) for name, p in syn.named_parameters()}
            return functional_call(syn, params, (ws.to(model.device),), {"noise_mode": "const", "noise": noise or None})

    def select(self, rows) -> "TunedSynthesis":
        rows = list(rows)
        return TunedSynthesis([self.offsets[i] for i in rows], self.sha256, self.steps,
                              ws=None if self.ws is None else self.ws[rows])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{'tuned/<param>': fp16 [N, ...]}``, plus ``tuned/.sha256`` and ``tuned/.steps``."""
        out: dict[str, np.ndarray] = {}
        for name in self.offsets[0]:
            out[ARRAY_PREFIX + name] = torch.stack([o[name] for o in self.offsets]).to(torch.float16).cpu().numpy()
        out[ARRAY_PREFIX + ".sha256"] = np.array(self.sha256 or "")
        out[ARRAY_PREFIX + ".steps"] = np.array(self.steps)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "TunedSynthesis | None":
        """The offsets stored by :meth:`to_arrays` (None when ``arrays`` holds none)."""
        names = [k for k in arrays if k.startswith(ARRAY_PREFIX) and not k[len(ARRAY_PREFIX):].startswith(".")]
        if not names:
            return None
        stacked = {k[len(ARRAY_PREFIX):]: torch.from_numpy(np.asarray(arrays[k], dtype=np.float32)) for k in names}
        n = {v.shape[0] for v in stacked.values()}
        if len(n) != 1:
            raise FaceEditError("the tuned weights in this file disagree on the number of photos")
        offsets = [{k: v[j] for k, v in stacked.items()} for j in range(n.pop())]
        sha = str(np.asarray(arrays.get(ARRAY_PREFIX + ".sha256", ""))) or None
        steps = int(np.asarray(arrays.get(ARRAY_PREFIX + ".steps", 0)))
        return cls(offsets, sha, steps)


def read_tuned(path) -> TunedSynthesis | None:
    """The tuned weights stored in a latent .npz (written by ``faceedit invert --method pivotal``), or None."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if not any(k.startswith(ARRAY_PREFIX) for k in data.files):
                return None
            return TunedSynthesis.from_arrays({k: data[k] for k in data.files if k.startswith(ARRAY_PREFIX)})
    except FaceEditError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy raises many types for corrupt files
        raise FaceEditError(f"cannot read the tuned weights in {path}: {exc}") from exc


def tune_synthesis(model, images: torch.Tensor, ws: torch.Tensor, cfg: TuneConfig | None = None, *,
                   perceptual=None, noise: dict[str, torch.Tensor] | None = None,
                   progress: ProgressFn | bool | None = None, **overrides) -> TunedSynthesis:
    """Tune one copy of ``model``'s synthesis network per image so that it draws ``images`` ([N, 3, H, W] in
    [-1, 1] or uint8; resized to the model's resolution) from the pivots ``ws`` [N, num_ws, w_dim] (held fixed).
    ``perceptual``: a :class:`~faceedit.metrics.distances.Distance` or None (MSE only); ``noise``: the
    inversion's noise maps, if it optimised them. Returns the weight offsets."""

    cfg = TuneConfig(**{**(asdict(cfg) if cfg else {}), **overrides}).check()
    target = as_images(model, images)
    n = target.shape[0]
    ws = model.as_ws(ws).detach().to(target.device)
    if ws.shape[0] != n:
        raise FaceEditError(f"{ws.shape[0]} pivots for {n} images")
    base = model.G.synthesis
    base_params = {name: p.detach() for name, p in base.named_parameters()}
    # one offset per image and parameter, [N, *shape]: the layers take parameters with a leading batch dimension
    offsets = {name: torch.zeros((n, *p.shape), device=p.device, dtype=p.dtype, requires_grad=True)
               for name, p in base_params.items()}
    groups = [{"params": list(offsets.values()), "base_lr": cfg.lr}]
    if cfg.latent_lr > 0:
        ws = ws.clone().requires_grad_(True)
        groups.append({"params": [ws], "base_lr": cfg.latent_lr})
    fused = {"fused": True} if target.device.type == "cpu" else {}
    opt = torch.optim.Adam(groups, lr=cfg.lr, betas=(0.9, 0.999), **fused)
    perceptual_loss = target_distance(perceptual, target, cfg.perceptual_weight)
    noise = {k: v.to(target.device) for k, v in noise.items()} if noise else None
    t0 = time.time()
    with frozen(base), step_progress(progress, cfg.steps, "tuning") as report:
        for step in range(cfg.steps):
            ramp = tuning_rate(step / max(cfg.steps, 1), cfg) / cfg.lr
            for g in opt.param_groups:
                g["lr"] = g["base_lr"] * ramp
            params = {name: base_params[name] + off for name, off in offsets.items()}
            img = functional_call(base, params, (ws,), {"noise_mode": "const", "noise": noise})
            terms = {"mse": (img - target).square().flatten(1).mean(1)}
            loss = cfg.mse_weight * terms["mse"]
            if perceptual_loss is not None:
                terms["perceptual"] = perceptual_loss(img).reshape(n)
                loss = loss + cfg.perceptual_weight * terms["perceptual"]
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            report(step + 1, {k: float(v.detach().mean()) for k, v in terms.items()})
    rows = [{name: off[j].detach().cpu() for name, off in offsets.items()} for j in range(n)]
    return TunedSynthesis(rows, model.sha256, cfg.steps, time.time() - t0, ws=ws.detach().cpu())


__all__ = ["ARRAY_PREFIX", "TuneConfig", "TunedSynthesis", "read_tuned", "tune_synthesis", "tuning_rate"]
