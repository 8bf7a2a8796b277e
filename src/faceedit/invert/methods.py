"""The inversion methods, one table: ``METHODS[name]`` is a :class:`Method` with its default steps, its help text
and the function that runs it. Help texts, ``--method`` choices and step defaults everywhere are built from it,
so a new method is one entry here (plus its own module when it brings new machinery).

    from faceedit.invert.methods import METHODS, methods_help
    METHODS["pivotal"].steps            # 60 (tuning steps)
    methods_help()                      # "hybrid (encoder + …), pivotal (…), encoder (…), optimize (…)"

A method's ``run(job)`` gets an :class:`InversionJob` (the images at the model's size, the encoder's guess when
an encoder fits the generator, the perceptual distance, the steps …) and returns :class:`MethodResult`.

The table loads without torch (the command line builds its help from it); the methods load the optimiser and
the tuner when they run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from faceedit.errors import FaceEditError

if TYPE_CHECKING:
    import torch

    from faceedit.invert.optimize import ProgressFn
    from faceedit.invert.pivotal import TunedSynthesis
    from faceedit.model import Model, NoiseMaps


@dataclass
class InversionJob:
    """What a method works on: ``images`` [N, 3, R, R] in [-1, 1] at the model's size; ``init``: the encoder's
    w+ guess [N, num_ws, w_dim] (None when no encoder fits the generator; ``encoder_note`` says why); ``steps``:
    the steps asked for (None: the method's default); ``settings``: keyword overrides for the optimiser;
    ``mask`` / ``second``: masked inversion (only the mask's pixels count; ``second`` = (images, mask), a second
    masked target; see :mod:`faceedit.invert.optimize`), optimisation methods only."""

    model: Model
    images: torch.Tensor
    init: torch.Tensor | None
    encoder_note: str | None
    steps: int | None = None
    space: str = "w+"
    perceptual: Any = None
    progress: ProgressFn | bool | None = None
    seed: int = 0
    optimize_noise: bool = False
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    mask: torch.Tensor | None = None
    second: tuple[torch.Tensor, torch.Tensor] | None = None

    def steps_of(self, method: str) -> int:
        """The steps to run ``method`` with: the ones asked for, else its default."""
        return METHODS[method].steps if self.steps is None else int(self.steps)

    def start(self) -> torch.Tensor:
        """The encoder's guess, else the average face: w+ [N, num_ws, w_dim] on the CPU (for 0 steps)."""
        n, m = self.images.shape[0], self.model
        ws = self.init if self.init is not None else m.G.mapping.w_avg[None, None].expand(n, m.num_ws, -1)
        return ws.detach().cpu().contiguous()


@dataclass
class MethodResult:
    """``ws`` [N, num_ws, w_dim] on the CPU; ``noise``: optimised noise maps; ``losses``: name → [N];
    ``tuned``: per-image tuned synthesis weights (pivotal); ``ran_as``: the method that actually ran (hybrid runs
    as optimize without an encoder)."""

    ws: torch.Tensor
    noise: NoiseMaps | None = None
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    tuned: TunedSynthesis | None = None
    ran_as: str | None = None
    z: torch.Tensor | None = None  # [N, z_dim] when inverted in z


@dataclass(frozen=True)
class Method:
    """One inversion method. ``summary``: its help text; ``steps``: default steps (``step_unit`` says of what);
    ``encoder``: "needs" (fails without one), "uses" (falls back without one) or "none"; ``settings``: optimiser
    settings it runs with; ``noise``: whether it can also optimise the noise maps."""

    name: str
    summary: str
    steps: int
    run: Callable[[InversionJob], MethodResult]
    step_unit: str = "optimisation steps"
    encoder: str = "none"
    settings: dict = field(default_factory=dict)
    noise: bool = True
    masks: bool = False


def _optimise(job: InversionJob, method: str) -> MethodResult:
    """Optimisation from the job's start (the encoder's guess or the average face) with ``method``'s settings."""
    from faceedit.invert.optimize import optimize_latents

    steps = job.steps_of(method)
    if steps == 0:
        return MethodResult(ws=job.start())
    res = optimize_latents(job.model, job.images, init_ws=job.init, perceptual=job.perceptual, progress=job.progress,
                           seed=job.seed, space=job.space, steps=steps, optimize_noise=job.optimize_noise,
                           mask=job.mask, second=job.second, **{**METHODS[method].settings, **job.settings})
    return MethodResult(ws=res.ws, noise=res.noise, losses=res.losses, z=res.z)


def _optimize(job: InversionJob) -> MethodResult:
    return _optimise(job, "optimize")


def _encoder(job: InversionJob) -> MethodResult:
    if job.init is None:
        raise FaceEditError(f"no encoder for {job.model.name}: {job.encoder_note}")
    return MethodResult(ws=job.init.detach().cpu().contiguous())


def _hybrid(job: InversionJob) -> MethodResult:
    if job.init is None:
        job.notes.append(f"no encoder for this generator, inverting by optimisation instead ({job.encoder_note})")
        res = _optimise(job, "optimize")
        res.ran_as = "optimize"
        return res
    return _optimise(job, "hybrid")


def _pivotal(job: InversionJob) -> MethodResult:
    from faceedit.invert.optimize import optimize_latents
    from faceedit.invert.pivotal import tune_synthesis

    if job.optimize_noise:
        raise FaceEditError("pivotal tuning keeps the constant noise: leave out --noise, or use --method hybrid")
    pivots = job.init
    if pivots is None:
        job.notes.append(f"no encoder for this generator: the pivot comes from optimisation ({job.encoder_note})")
        pivots = optimize_latents(job.model, job.images, perceptual=job.perceptual, progress=job.progress,
                                  seed=job.seed, space=job.space, steps=METHODS["optimize"].steps,
                                  **METHODS["optimize"].settings).ws
    settings = {**METHODS["pivotal"].settings, **job.settings}
    if job.space == "w":  # the pivot stays a w
        settings["latent_lr"] = 0.0
    tuned = tune_synthesis(job.model, job.images, pivots, perceptual=job.perceptual, progress=job.progress,
                           steps=job.steps_of("pivotal"), **settings)
    return MethodResult(ws=tuned.ws, tuned=tuned)


#: The inversion methods by name, in the order help texts list them. Settings: the hybrid refinement starts close
#: (no latent noise, a shorter ramp-up); pivotal: :class:`~faceedit.invert.pivotal.TuneConfig`'s defaults,
#: chosen in benchmarks/README.md.
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("hybrid", "encoder + short optimisation; falls back to optimize without an encoder", 100, _hybrid,
           encoder="uses", settings={"lr": 0.1, "initial_noise_factor": 0.0, "lr_rampup": 0.02}, masks=True),
    Method("pivotal", "encoder + pivotal tuning of the generator per photo (the photo gets its own tuned "
           "generator, stored in the .npz and used wherever the face is drawn)", 60, _pivotal,
           step_unit="tuning steps", encoder="uses", noise=False),
    Method("encoder", "one pass of the encoder (instant, rougher)", 0, _encoder, encoder="needs", noise=False),
    Method("optimize", "Adam on w+ (or w) from the average face", 500, _optimize,
           settings={"lr": 0.1, "initial_noise_factor": 0.05}, masks=True),
)}
#: The method ``faceedit invert`` and the web page use when none is given.
DEFAULT_METHOD = "hybrid"
#: The method a photo is inverted with wherever a face is asked for (edit, animate, mix, morph …): pivotal tuning,
#: so the face gets its own tuned generator.
PHOTO_METHOD = "pivotal"


def get_method(name: str, option: str = "method") -> Method:
    """``METHODS[name]``, or a one-line error naming the choices."""
    if name not in METHODS:
        raise FaceEditError(f"unknown inversion {option} {str(name)[:40]!r}: use {', '.join(METHODS)}")
    return METHODS[name]


def methods_help() -> str:
    """``"hybrid (…), pivotal (…), encoder (…), optimize (…)"`` for ``--method`` options."""
    return ", ".join(f"{m.name} ({m.summary})" for m in METHODS.values())


def steps_help() -> str:
    """``"default 100 for hybrid, 60 tuning steps for pivotal, …"`` for ``--steps`` options."""
    parts = [f"{m.steps} {'tuning steps ' if m.step_unit == 'tuning steps' else ''}for {m.name}"
             for m in METHODS.values() if m.steps]
    return "default " + ", ".join(parts)


__all__ = ["DEFAULT_METHOD", "InversionJob", "METHODS", "Method", "MethodResult", "PHOTO_METHOD", "get_method",
           "methods_help", "steps_help"]
