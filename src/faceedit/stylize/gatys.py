"""Style transfer by optimisation (Gatys, Ecker & Bethge 2016), coarse to fine.

The image itself is optimised so that its VGG Gram matrices match the style image's and its deeper VGG features
match the content's (:mod:`faceedit.stylize.losses`). From 512 px up the optimisation runs coarse to fine:
first at ¼ of the size, then ½, then the full size, each stage starting from the previous result upsampled plus the
content's own fine detail (the content minus its blurred copy at the previous scale), so the expensive full-size
stage starts close to the answer and needs few steps. Optimisers: L-BFGS (the classic choice; full steps, no line
search) or Adam; starting points: the content, noise, or the style image.

``steps`` counts loss evaluations (one VGG forward + backward each) at the full size; the coarser stages get the
same number (or ``coarse_steps``) at ¼ and 1/16 of the cost. ``target_loss`` stops as soon as the full-size loss
reaches it (for the benchmark); the best image seen is returned.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from faceedit.errors import FaceEditError
from faceedit.stylize.color import keep_chroma, luminance, match_luminance
from faceedit.stylize.images import MAX_SIDE_GATYS, MIN_SIDE, resize
from faceedit.stylize.losses import GATYS_CONTENT, GATYS_STYLE, LossWeights, PerceptualLoss

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style")
#: Multi-scale from this working size (long side, px) up.
MULTISCALE_FROM = 512


@dataclass
class GatysConfig:
    """Settings of one optimisation. ``size``: working long side (px); ``weights``: loss weights; ``steps``: loss
    evaluations of the full-size stage; ``coarse_steps``: of each coarser stage (None: ``steps``); ``optimizer``:
    lbfgs | adam; ``lr``: Adam's step (in [-1, 1] pixel units; L-BFGS takes full steps); ``init``: content |
    noise | style; ``multiscale``: None = from :data:`MULTISCALE_FROM` px up; ``scales``: the stages as fractions
    of ``size``; ``preserve_color``: luminance-only transfer; ``bf16_coarse``: bfloat16 VGG in the coarse stages
    (the full-size stage stays float32); ``seed``: noise init; ``target_loss``: stop the full-size stage once its
    total loss is at most this."""

    size: int = 512
    weights: LossWeights = field(default_factory=lambda: LossWeights(content=1.0, style=20.0, tv=10.0))
    steps: int = 100
    coarse_steps: int | None = None
    optimizer: str = "lbfgs"
    lr: float = 0.02
    init: str = "content"
    multiscale: bool | None = None
    scales: tuple[float, ...] = (0.25, 0.5, 1.0)
    preserve_color: bool = False
    bf16_coarse: bool = True
    seed: int = 0
    target_loss: float | None = None
    content_layers: tuple[str, ...] = GATYS_CONTENT
    style_layers: tuple[str, ...] = GATYS_STYLE

    def check(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise FaceEditError(f"unknown optimizer {self.optimizer!r}: use {' or '.join(OPTIMIZERS)}")
        if self.init not in INITS:
            raise FaceEditError(f"unknown --init {self.init!r}: use {', '.join(INITS)}")
        if not MIN_SIDE <= int(self.size) <= MAX_SIDE_GATYS:
            raise FaceEditError(f"--size must be from {MIN_SIDE} to {MAX_SIDE_GATYS} px for the gatys method, got "
                                f"{self.size}")
        for name, v in (("--steps", self.steps), ("coarse steps", self.coarse_steps)):
            if v is not None and not 0 <= int(v) <= 100_000:
                raise FaceEditError(f"{name} must be from 0 to 100000 for the gatys method, got {v}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 10):
            raise FaceEditError(f"the Adam step must be in (0, 10], got {self.lr}")

    def stage_sizes(self) -> list[int]:
        """Working long sides of the stages, coarse to fine (one stage below :data:`MULTISCALE_FROM`)."""
        multi = self.size >= MULTISCALE_FROM if self.multiscale is None else self.multiscale
        if not multi:
            return [int(self.size)]
        sizes = sorted({max(MIN_SIDE * 4, int(round(self.size * s))) for s in self.scales if 0 < s < 1})
        return [s for s in sizes if s < self.size] + [int(self.size)]


@dataclass
class GatysResult:
    """``image``: float [1, 3, H, W] in [-1, 1]; ``losses``: the final full-size terms (content, style, tv, total)
    of ``image``; ``history``: (seconds since start, stage size, total loss) per evaluation; ``evaluations``: loss
    evaluations per stage; ``seconds``: wall time; ``reached``: whether ``target_loss`` was reached."""

    image: torch.Tensor
    losses: dict[str, float]
    history: list[tuple[float, int, float]]
    evaluations: list[int]
    seconds: float
    reached: bool | None = None


class _Stop(Exception):
    pass


def _shape_for(h: int, w: int, long_side: int) -> tuple[int, int]:
    s = long_side / max(h, w)
    return max(MIN_SIDE, int(round(h * s))), max(MIN_SIDE, int(round(w * s)))


def _initial(cfg: GatysConfig, content: torch.Tensor, style: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    if cfg.init == "content":
        return content.clone()
    if cfg.init == "noise":
        return (torch.randn(content.shape, generator=gen) * 0.5).clamp(-1, 1)
    return resize(style, tuple(content.shape[-2:])).clone()


def optimise(x: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor], steps: int, optimizer: str,
             lr: float, target: float | None = None, on_eval: Callable[[float], None] | None = None
             ) -> tuple[torch.Tensor, float, int, bool]:
    """Minimise ``loss_fn(x)`` over the pixels of ``x`` for at most ``steps`` evaluations.

    Returns (the best image seen, its loss, evaluations used, whether ``target`` was reached).
    """
    x = x.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    best = [x.detach().clone(), float("inf")]
    count = [0]
    reached = [False]

    def evaluate() -> torch.Tensor:
        if count[0] >= steps:
            raise _Stop
        loss = loss_fn(x)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FaceEditError("the style transfer loss became NaN or infinite (try smaller weights)")
        count[0] += 1
        if value < best[1]:
            best[0], best[1] = x.detach().clone(), value
        if on_eval is not None:
            on_eval(value)
        if target is not None and value <= target:
            reached[0] = True
            raise _Stop
        return loss

    if steps <= 0:
        with torch.no_grad():
            return x.detach(), float(loss_fn(x)), 0, False
    if optimizer == "lbfgs":
        # No line search: on this loss a full L-BFGS step (lr 1) lowers it faster per evaluation than a strong-Wolfe
        # search does (measured: 2.07 against 2.21 after 60 evaluations at 128 px); the best image seen is kept.
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=steps, max_eval=steps + 25, history_size=100,
                                tolerance_grad=0.0, tolerance_change=0.0)

        def closure():
            opt.zero_grad(set_to_none=True)
            loss = evaluate()
            loss.backward()
            return loss

        try:
            while count[0] < steps:
                before = count[0]
                opt.step(closure)
                if count[0] == before:  # converged: no more evaluations requested
                    break
        except _Stop:
            pass
    else:
        opt = torch.optim.Adam([x], lr=lr)
        try:
            while count[0] < steps:
                opt.zero_grad(set_to_none=True)
                evaluate().backward()
                opt.step()
                with torch.no_grad():
                    x.clamp_(-1.5, 1.5)
        except _Stop:
            pass
    return best[0], best[1], count[0], reached[0]


def stylize_gatys(content: torch.Tensor, style: torch.Tensor, vgg, cfg: GatysConfig | None = None,
                  mask: torch.Tensor | None = None, progress: bool = False) -> GatysResult:
    """Optimise an image that has ``content``'s structure and ``style``'s textures.

    ``content``: ``[1, 3, H, W]`` in [-1, 1] (any size; the result has the working size: long side ``cfg.size``);
    ``style``: ``[1, 3, h, w]`` in [-1, 1], resized per stage to the stage's long side; ``vgg``: a frozen
    :class:`faceedit.features.VGG`; ``mask``: ``[1, 1, H, W]`` in [0, 1] (1 = stylise), applied by blending the
    result with the content at the end. Returns a :class:`GatysResult`.
    """
    from tqdm import tqdm

    cfg = cfg or GatysConfig()
    cfg.check()
    if content.ndim != 4 or content.shape[:2] != (1, 3) or style.ndim != 4 or style.shape[:2] != (1, 3):
        raise FaceEditError("stylize_gatys takes one content and one style image, [1, 3, H, W] each")
    h, w = content.shape[-2:]
    sizes = cfg.stage_sizes()
    gen = torch.Generator().manual_seed(int(cfg.seed))
    full_content = resize(content, _shape_for(h, w, sizes[-1]))
    history: list[tuple[float, int, float]] = []
    evaluations: list[int] = []
    t0 = time.perf_counter()
    coarse = cfg.steps if cfg.coarse_steps is None else cfg.coarse_steps
    bar = tqdm(total=cfg.steps + coarse * (len(sizes) - 1), desc="gatys", unit="eval", disable=not progress,
               mininterval=1, dynamic_ncols=True)
    x = None
    prev_content = None
    reached = None
    final: dict[str, float] = {}
    try:
        for k, side in enumerate(sizes):
            last = k == len(sizes) - 1
            shape = _shape_for(h, w, side)
            c = resize(content, shape)
            s = resize(style, _shape_for(*style.shape[-2:], side))
            if cfg.preserve_color:
                s = match_luminance(s, c)
                c = luminance(c)
            loss_mod = PerceptualLoss(vgg, s, cfg.weights, cfg.content_layers, cfg.style_layers,
                                      autocast_bf16=cfg.bf16_coarse and not last)
            targets = loss_mod.content_targets(c)
            if x is None:
                x = _initial(cfg, c, s, gen)
            else:  # the previous result, upsampled, plus the content's detail that the coarser stage could not hold
                x = resize(x, shape) + (c - resize(prev_content, shape))
            prev_content = c

            def loss_fn(img, _m=loss_mod, _t=targets):
                # The loss of the image as it will be saved (clamped to [-1, 1]), with the gradient passed straight
                # through the clamp so that pixels beyond the range can come back: the loss that reaches the target
                # is the returned image's, and it ends lower than optimising unclamped and clamping at the end
                # (measured 2.35 against 2.83 after 50 evaluations at 160 px).
                return _m(img + (img.clamp(-1, 1) - img).detach(), _t)["total"].sum()

            def on_eval(value, _side=side):
                history.append((time.perf_counter() - t0, _side, value))
                bar.update(1)

            x, best, used, hit = optimise(x, loss_fn, cfg.steps if last else coarse, cfg.optimizer, cfg.lr,
                                          cfg.target_loss if last else None, on_eval)
            evaluations.append(used)
            x = x.clamp(-1, 1)
            if last:
                reached = hit if cfg.target_loss is not None else None
                with torch.no_grad():
                    terms = loss_mod(x, targets)
                final = {key: float(v.sum()) for key, v in terms.items()}
    finally:
        bar.close()
    if cfg.preserve_color:
        x = keep_chroma(x, full_content)
    if mask is not None:
        m = resize(mask.float(), tuple(x.shape[-2:])).clamp(0, 1)
        x = m * x + (1 - m) * full_content
    return GatysResult(image=x.detach(), losses=final, history=history, evaluations=evaluations,
                       seconds=time.perf_counter() - t0, reached=reached)
