"""Optimisation inversion (Image2StyleGAN / Image2StyleGAN++, NVIDIA's projector): find w / w+ (and optionally
the per-layer noise maps) whose image matches a target.

    res = optimize_latents(model, images, space="w+", steps=500)    # images [N, 3, R, R] in [-1, 1]
    res.ws          # [N, num_ws, w_dim]
    res.noise       # {'b8.conv0': [N, 1, 8, 8], ...} when noise was optimised, else None
    res.losses      # per image: {'loss': [N], 'mse': [N], 'perceptual': [N]} at the last step
    res.z           # [N, z_dim] with space="z" (ws is then mapping(z)), else None

Spaces: ``"w+"`` (one w per layer), ``"w"`` (one w for all layers) and ``"z"`` (the mapping network's input;
ws = mapping(z), Image2StyleGAN's comparison; starts from a seeded random z since z has no average face).

Masks (Image2StyleGAN++'s local embedding): ``mask`` [N or 1, 1, H, W] in [0, 1] restricts both loss terms to
the masked pixels (MSE over the mask's weight; the perceptual distance between the masked images
``M ⊙ x̂`` and ``M ⊙ x``); pixels outside the mask are free. ``second=(images_b, mask_b)`` adds the same masked
loss towards a second target (crossover by mask: A outside the region, B inside it).

Loss per image: ``mse_weight · MSE(x̂, x)`` (images in [-1, 1]) ``+ perceptual_weight · d(x̂, x)`` (an image
distance from :mod:`faceedit.metrics.distances`; the commands' default is ``resolve_perceptual("auto")``)
``+ noise_reg · Σ_scales (autocorrelation of the noise maps)²``. Every image's loss is summed, and Adam works element-wise, so a
batch gives the same answer as inverting each image alone.

Schedule (as in NVIDIA's stylegan2 projector): learning rate ramps up over the first ``lr_rampup`` of the steps
and down with a half cosine over the last ``lr_rampdown``; Gaussian noise of ``initial_noise_factor · w_std``
(w_std: spread of the mapping network's w) is added to the latent, shrinking quadratically to 0 at
``noise_ramp`` of the steps; optimised noise maps are renormalised to zero mean and unit variance after every
step.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from faceedit.errors import FaceEditError
from faceedit.model import Model

SPACES = ("w", "w+", "z")
ProgressFn = Callable[[int, int, dict], None]


@dataclass
class OptimizeConfig:
    """Knobs of :func:`optimize_latents`. ``steps``: Adam steps; ``lr``: peak learning rate; ``lr_rampup`` /
    ``lr_rampdown``: fractions of the steps; ``initial_noise_factor``: latent noise at step 0, in units of w_std;
    ``noise_ramp``: fraction of the steps over which it falls to 0; ``noise_reg``: weight of the noise maps'
    autocorrelation penalty (only with ``optimize_noise``); ``mse_weight`` / ``perceptual_weight``: loss weights."""

    space: str = "w+"
    steps: int = 500
    lr: float = 0.1
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    initial_noise_factor: float = 0.05
    noise_ramp: float = 0.75
    optimize_noise: bool = False
    noise_reg: float = 1e5
    mse_weight: float = 1.0
    perceptual_weight: float = 1.0
    w_std_samples: int = 10000

    def check(self) -> "OptimizeConfig":
        if self.space not in SPACES:
            raise FaceEditError(f"latent space must be w, w+ or z, got {self.space!r}")
        if int(self.steps) < 0:
            raise FaceEditError(f"steps must be >= 0, got {self.steps}")
        if not self.lr > 0:
            raise FaceEditError(f"learning rate must be > 0, got {self.lr}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class OptimizeResult:
    ws: torch.Tensor  # [N, num_ws, w_dim] float32, detached, on the CPU
    noise: dict[str, torch.Tensor] | None  # name → [N, 1, r, r] when optimised
    losses: dict[str, torch.Tensor]  # name → [N] at the last step
    history: list[dict]  # per step: mean of each loss term and the learning rate
    seconds: float
    z: torch.Tensor | None = None  # [N, z_dim] with space="z"


# ---------------------------------------------------------------------------------------------- noise buffers
def noise_layers(G) -> list[tuple[str, torch.nn.Module]]:
    """The synthesis layers that add per-pixel noise, as ``(name, layer)``, e.g. ``('b8.conv0', layer)``."""
    out = []
    for block in G.synthesis.blocks():
        for name in ("conv0", "conv1"):
            layer = getattr(block, name, None)
            if layer is not None and hasattr(layer, "noise_const"):
                out.append((f"b{block.resolution}.{name}", layer))
    return out


def synthesize(G, ws: torch.Tensor, noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """w+ → images [N, 3, R, R] with const noise, or with the given per-image noise maps (differentiable;
    thread-safe: the maps go through the forward call, the module is not modified)."""
    return G.synthesis(ws, noise_mode="const", noise=noise or None)


def noise_regularisation(noise: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per image [N]: Σ over maps and scales (down to 8×8) of the squared mean autocorrelation at a shift of one
    pixel along x and y (NVIDIA's projector). 0 for white noise; large when the maps carry image structure."""
    total = None
    for n in noise.values():
        x = n
        while True:
            r = (x * torch.roll(x, 1, dims=3)).mean(dim=(1, 2, 3)).square() + \
                (x * torch.roll(x, 1, dims=2)).mean(dim=(1, 2, 3)).square()
            total = r if total is None else total + r
            if x.shape[-1] <= 8:
                break
            x = F.avg_pool2d(x, 2)
    return total


def renormalise_noise(noise: dict[str, torch.Tensor]) -> None:
    """In place: each map to zero mean, unit variance (per image)."""
    with torch.no_grad():
        for n in noise.values():
            n.sub_(n.mean(dim=(1, 2, 3), keepdim=True))
            n.mul_(n.square().mean(dim=(1, 2, 3), keepdim=True).add(1e-8).rsqrt())


# ---------------------------------------------------------------------------------------------- schedule
def learning_rate(t: float, cfg: OptimizeConfig) -> float:
    """NVIDIA's projector schedule at progress ``t`` in [0, 1]: linear ramp-up, half-cosine ramp-down."""
    down = min(1.0, (1.0 - t) / max(cfg.lr_rampdown, 1e-8))
    ramp = 0.5 - 0.5 * math.cos(down * math.pi)
    ramp *= min(1.0, t / max(cfg.lr_rampup, 1e-8))
    return cfg.lr * ramp


_W_STD: dict[tuple, float] = {}


def w_std(model: Model, samples: int = 10000, seed: int = 123) -> float:
    """Spread of w around w_avg: sqrt(E‖w − w_avg‖²) over ``samples`` random z (cached per model)."""
    G = model.G
    key = (id(G), samples, G.mapping.w_avg.data_ptr())
    if key not in _W_STD:
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(samples, G.z_dim, generator=g).to(G.mapping.w_avg.device)
        with torch.no_grad():
            w = G.mapping(z)[:, 0]
        _W_STD[key] = float((w - G.mapping.w_avg).square().sum(1).mean().sqrt())
    return _W_STD[key]


# ---------------------------------------------------------------------------------------------- the loop
def as_images(model: Model, images: torch.Tensor) -> torch.Tensor:
    """Images [N, 3, H, W] (float in [-1, 1] or uint8) → float32 on the model's device at its resolution."""
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 3:
        raise FaceEditError(f"images must be [N, 3, H, W] in [-1, 1], got {list(x.shape)}")
    if x.dtype == torch.uint8:
        x = x.float() / 127.5 - 1.0
    x = x.float().to(model.device)
    r = model.resolution
    if x.shape[-2:] != (r, r):
        x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=x.shape[-1] > r)
    return x


@contextmanager
def frozen(module: torch.nn.Module):
    """Within the block ``module``'s parameters need no gradient; their flags are restored after."""
    req = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for p, r in zip(module.parameters(), req):
            p.requires_grad_(r)


@contextmanager
def step_progress(progress: ProgressFn | bool | None, steps: int, desc: str):
    """``report(step, record)`` for an optimisation loop: a tqdm bar when ``progress`` is True (closed after the
    block; the record shown without its ``lr``), ``progress(step, steps, record)`` when it is a function."""
    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=desc, unit="step", dynamic_ncols=True, leave=False, mininterval=0.5)

    def report(step: int, rec: dict) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix({k: f"{v:.4f}" for k, v in rec.items() if k != "lr"})
        elif callable(progress):
            progress(step, steps, rec)

    try:
        yield report
    finally:
        if bar is not None:
            bar.close()


def target_distance(perceptual, target: torch.Tensor, weight: float):
    """``d(x̂) -> [N]``: the perceptual distance to ``target`` (its features computed once when the distance
    has ``to_target``), or None when there is no distance or ``weight`` is 0."""
    if perceptual is None or not weight > 0:
        return None
    to_target = getattr(perceptual, "to_target", None)
    return to_target(target) if to_target is not None else (lambda a: perceptual(a, target))


def as_mask(model: Model, mask: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """A mask [H, W], [N or 1, H, W] or [N or 1, 1, H, W] (values in [0, 1]; uint8 0/255 allowed) → float32
    [N or 1, 1, R, R] at the model's resolution on its device; None stays None. An empty mask is an error."""
    if mask is None:
        return None
    m = torch.as_tensor(mask)
    m = m.float() / 255.0 if m.dtype == torch.uint8 else m.float()
    while m.ndim < 4:
        m = m[None] if m.ndim < 3 else m[:, None]
    if m.shape[1] != 1 or m.shape[0] not in (1, n):
        raise FaceEditError(f"a mask must be [H, W] or [N, 1, H, W] for {n} image(s), got {list(m.shape)}")
    if not bool(torch.isfinite(m).all()):
        raise FaceEditError("the mask holds NaN or infinite values")
    m = m.clamp(0, 1).to(model.device)
    r = model.resolution
    if m.shape[-2:] != (r, r):
        m = F.interpolate(m, size=(r, r), mode="bilinear", align_corners=False, antialias=m.shape[-1] > r)
    if bool((m.flatten(1).sum(1) <= 1e-6).any()):
        raise FaceEditError("the mask is empty: mark the pixels to match (white)")
    return m


class MaskedTarget:
    """One target of the loss: ``images`` [N, 3, R, R], an optional ``mask`` [N or 1, 1, R, R] and the
    perceptual distance; ``terms(img)`` → (mse [N], perceptual [N] or None) over the masked pixels only."""

    def __init__(self, images: torch.Tensor, mask: torch.Tensor | None, perceptual, weight: float):
        self.images, self.mask = images, mask
        self.area = None if mask is None else mask.flatten(1).mean(1)  # [N or 1]: the mask's share of the image
        target = images if mask is None else images * mask
        self.distance = target_distance(perceptual, target, weight)

    def terms(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        err = (img - self.images).square()
        if self.mask is None:
            mse = err.flatten(1).mean(1)
        else:
            mse = (err * self.mask).flatten(1).mean(1) / self.area
            img = img * self.mask
        perc = None if self.distance is None else self.distance(img).reshape(img.shape[0])
        return mse, perc


def optimize_latents(model, images: torch.Tensor, cfg: OptimizeConfig | None = None, *,
                     init_ws: torch.Tensor | None = None, perceptual=None,
                     progress: ProgressFn | bool | None = None, seed: int = 0, mask: torch.Tensor | None = None,
                     second: tuple[torch.Tensor, torch.Tensor] | None = None, **overrides) -> OptimizeResult:
    """Invert ``images`` ([N, 3, H, W] in [-1, 1] or uint8; resized to the model's resolution) by optimisation.

    ``cfg`` (or keyword ``overrides`` of its fields). ``init_ws``: start from these w+ [N, num_ws, w_dim] (e.g. an
    encoder's guess; in ``space="w"`` their layer mean) instead of w_avg. ``perceptual``: a
    :class:`~faceedit.metrics.distances.Distance` (or any ``d(a, b) -> [N]``), or None for MSE only.
    ``progress``: True for a tqdm bar, or ``fn(step, steps, losses)`` called after each step. ``mask``: only
    these pixels count ([N or 1, 1, H, W] in [0, 1]); ``second``: ``(images_b, mask_b)``, a second masked target
    (see the module doc). In ``space="z"`` the start is a random z (``seed``), ``init_ws`` is not used.
    """
    cfg = OptimizeConfig(**{**(asdict(cfg) if cfg else {}), **overrides}).check()
    G = model.G
    target = as_images(model, images)
    n = target.shape[0]
    num_ws, w_dim = model.num_ws, model.w_dim
    dev = target.device
    t0 = time.time()
    if init_ws is not None:
        init = model.as_ws(init_ws).detach().to(dev)
        if init.shape[0] == 1 and n > 1:
            init = init.expand(n, -1, -1)
        if init.shape[0] != n:
            raise FaceEditError(f"init_ws has {init.shape[0]} rows for {n} images")
    else:
        init = G.mapping.w_avg.detach()[None, None].expand(n, num_ws, w_dim)
    targets = [MaskedTarget(target, as_mask(model, mask, n), perceptual, cfg.perceptual_weight)]
    if second is not None:
        targets.append(MaskedTarget(as_images(model, second[0]), as_mask(model, second[1], n), perceptual,
                                    cfg.perceptual_weight))
    gen = torch.Generator().manual_seed(seed)
    if cfg.space == "z":
        w_opt = torch.randn(n, model.z_dim, generator=gen).to(dev).requires_grad_(True)
    elif cfg.space == "w":
        w_opt = init.mean(dim=1, keepdim=True).clone().requires_grad_(True)
    else:
        w_opt = init.clone().contiguous().requires_grad_(True)
    params = [w_opt]
    noise = None
    if cfg.optimize_noise:
        noise = {name: torch.randn([n, 1, layer.resolution, layer.resolution], generator=gen).to(dev)
                 for name, layer in noise_layers(G)}
        for v in noise.values():
            v.requires_grad_(True)
        params += list(noise.values())
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.999))
    std = 0.0 if not cfg.initial_noise_factor > 0 else 1.0 if cfg.space == "z" else w_std(model, cfg.w_std_samples)
    history: list[dict] = []
    last: dict[str, torch.Tensor] = {}
    with frozen(G), step_progress(progress, cfg.steps, "inverting") as report:
        for step in range(cfg.steps):
            t = step / max(cfg.steps, 1)
            lr = learning_rate(t, cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            scale = std * cfg.initial_noise_factor * max(0.0, 1.0 - t / max(cfg.noise_ramp, 1e-8)) ** 2
            w = w_opt + torch.randn(w_opt.shape, generator=gen).to(dev) * scale if scale > 0 else w_opt
            img = synthesize(G, latents_to_ws(G, w, cfg.space), noise)
            terms = target_terms(targets, img)
            loss = cfg.mse_weight * terms["mse"]
            if "perceptual" in terms:
                loss = loss + cfg.perceptual_weight * terms["perceptual"]
            if noise is not None and cfg.noise_reg > 0:
                terms["noise_reg"] = noise_regularisation(noise)
                loss = loss + cfg.noise_reg * terms["noise_reg"]
            terms["loss"] = loss
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            if noise is not None:
                renormalise_noise(noise)
            last = {k: v.detach() for k, v in terms.items()}
            rec = {k: float(v.mean()) for k, v in last.items()}
            rec["lr"] = lr
            history.append(rec)
            report(step + 1, rec)
    # final losses at the returned latents (no latent noise), for reporting
    with torch.no_grad():
        ws = latents_to_ws(G, w_opt, cfg.space).detach()
        last = target_terms(targets, synthesize(G, ws, noise))
    out_noise = {k: v.detach().cpu() for k, v in noise.items()} if noise is not None else None
    z = w_opt.detach().cpu().contiguous() if cfg.space == "z" else None
    return OptimizeResult(ws=ws.cpu().contiguous(), noise=out_noise, losses={k: v.cpu() for k, v in last.items()},
                          history=history, seconds=time.time() - t0, z=z)


def latents_to_ws(G, latent: torch.Tensor, space: str) -> torch.Tensor:
    """The optimised variable → w+ [N, num_ws, w_dim]: z [N, z_dim] through the mapping network (no
    truncation), w [N, 1, w_dim] repeated, w+ as it is."""
    if space == "z":
        return G.mapping(latent)
    return latent.expand(-1, G.num_ws, -1) if space == "w" else latent


def target_terms(targets: list[MaskedTarget], img: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{'mse': [N], 'perceptual': [N]}`` summed over the targets (perceptual only when they have one)."""
    out: dict[str, torch.Tensor] = {}
    for t in targets:
        mse, perc = t.terms(img)
        out["mse"] = mse if "mse" not in out else out["mse"] + mse
        if perc is not None:
            out["perceptual"] = perc if "perceptual" not in out else out["perceptual"] + perc
    return out
