"""Train the e4e-style inversion encoder for a generator (``faceedit train encoder``) and export it.

Each step draws a batch of which ``real_fraction`` are real aligned faces (x-flipped at random) and the rest
generated faces with known latents (z → w with truncation ψ ~ U[0.5, 1], style-mixed at a random layer half of
the time, so the targets are w+ codes near W; images with the constant noise maps). The encoder predicts w+,
the frozen generator renders it, and the loss is

    generated:  latent_weight · ‖ŵ − w‖² + mse_weight · MSE + perceptual_weight · perceptual
    real:       mse_weight · MSE + perceptual_weight · perceptual + identity_weight · identity distance
    both:       delta_weight · Σ_i ‖Δ_i‖²   (e4e's delta regularisation)

(MSE on images in [-1, 1]; perceptual: ``perceptual`` — an offline LPIPS-style distance, by default (``auto``) on
face-api's recognition ResNet when its weights are fetched, else on ImageNet VGG16, see
:func:`faceedit.metrics.distances.resolve_perceptual`; the choice is fixed at the run's start; identity: Euclidean
distance of the dlib-compatible descriptors, skipped when the face-api weights are missing; a term whose weight is
0 is skipped). e4e's progressive training: at first only the base w is learnt; the per-layer
deltas open one by one, evenly over the first ``progressive`` fraction of the plan.

Refinement (``refine_from``: a trained encoder file): trains ReStyle's iterative refiner on top of that
encoder, whose first pass stays frozen. The refiner starts from the first pass's weights (identity output); each
step runs ``refine_iterations`` refinements from the first pass's guess, each with the loss above on its own
reconstruction (its input detached, as in ReStyle), and all deltas open.

The loop is :class:`faceedit.train.runner.Runner`'s: a plan fixed at the first run (``steps``, and with a
time budget, that much training time — whichever ends first), warm-up + cosine learning rate, an atomic
``checkpoint.pt`` every few minutes and at the end or on SIGTERM, ``log.jsonl``. A run folder remembers the
generator's sha256 and refuses to resume against another generator (unless forced). At the end of every run the
validation figures (real val faces: MSE, PSNR, SSIM, both perceptual distances — ``perceptual`` on face-api
features and ``vgg16`` —, identity; generated: latent error) go to
``val.jsonl``; :func:`export_encoder` writes the fp16 weights with a card, measured again on the exported weights.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from faceedit.data.rows import load_real_faces
from faceedit.errors import FaceEditError
from faceedit.invert.encoder import (DEFAULT_ENCODER, Encoder, EncoderConfig, check_generator, generator_info,
                                     load_encoder, num_parameters, save_encoder)
from faceedit.invert.optimize import synthesize
from faceedit.invert.photos import get_perceptual
from faceedit.metrics import distances, quality
from faceedit.model import Model, load
from faceedit.train.checkpoint import read_state
from faceedit.train.runner import RunConfig, Runner, adamw, append_log, setup_process

LICENCE = ("research-only: trained on CelebA / CelebAMask-HQ faces and on images of a generator trained on "
           "them, which are for non-commercial research use only; the weights inherit that restriction")
CHECKPOINT = "checkpoint.pt"


@dataclass
class EncoderTrainConfig:
    """``data``: real aligned faces — a ``faceedit data build`` folder or pack (its identity-disjoint train/val
    split is used), a folder / zip of images (the last 5 % are validation), or None for generated faces only.
    ``time_budget``: seconds for this invocation (and, at the first run, the plan's length). ``steps``: the planned
    number of steps. Loss weights as in the module docstring; ``perceptual``: the perceptual loss (auto | vgg16 |
faceapi | lpips; ``perceptual_weights``: files for vgg16 / lpips, see :func:`faceedit.invert.get_perceptual`)."""

    run_dir: str = "runs/encoder"
    model: str = "default"
    data: str | None = ".cache/data128"
    time_budget: float | None = 3600.0
    steps: int = 20000
    batch: int = 8
    real_fraction: float = 0.5
    lr: float = 5e-4
    weight_decay: float = 0.0
    warmup: float = 0.02
    latent_weight: float = 1.0
    mse_weight: float = 1.0
    perceptual_weight: float = 0.8
    perceptual: str = "auto"
    perceptual_weights: list[str] | None = None
    identity_weight: float = 0.1
    delta_weight: float = 2e-4
    progressive: float = 0.25
    truncation_min: float = 0.5
    style_mixing: float = 0.5
    real_limit: int | None = None
    val_n: int = 64
    threads: int = 1
    seed: int = 0
    checkpoint_minutes: float = 5.0
    log_every: int = 10
    extend_minutes: float | None = None
    force: bool = False
    encoder: dict = field(default_factory=dict)
    refine_from: str | None = None
    refine_iterations: int = 2

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderTrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# ------------------------------------------------------------------------------------------------ data
def sample_generated(model: Model, n: int, gen: torch.Generator, truncation_min: float = 0.5,
                     style_mixing: float = 0.5) -> torch.Tensor:
    """Random w+ [n, num_ws, w_dim] near W: ψ ~ U[truncation_min, 1], style-mixed at a random layer with
    probability ``style_mixing``."""
    G = model.G
    dev = model.device
    z = torch.randn(n, G.z_dim, generator=gen).to(dev)
    psi = (truncation_min + (1 - truncation_min) * torch.rand(n, 1, 1, generator=gen)).to(dev)
    with torch.no_grad():
        ws = G.mapping(z)
        if style_mixing > 0:
            z2 = torch.randn(n, G.z_dim, generator=gen).to(dev)
            ws2 = G.mapping(z2)
            cut = torch.randint(1, G.num_ws, (n,), generator=gen).to(dev)
            mix = torch.rand(n, generator=gen).to(dev) < style_mixing
            layer = torch.arange(G.num_ws, device=dev)[None]
            use2 = (layer >= cut[:, None]) & mix[:, None]
            ws = torch.where(use2[..., None], ws2, ws)
        return G.mapping.w_avg.lerp(ws, psi)


def _figure_distances(log=print, have: dict | None = None) -> dict:
    """The validation figures' distances that load: ``perceptual`` (face-api features), ``vgg16``, ``identity``;
    ``have``: already loaded ones to reuse, by the same names."""
    out = {}
    for name in ("perceptual", "vgg16", "identity"):
        if have and have.get(name) is not None:
            out[name] = have[name]
            continue
        try:
            out[name] = distances.get(name)
        except FaceEditError as exc:
            log(f"encoder: no {name} figure ({exc})")
    return out


def _training_losses(cfg: "EncoderTrainConfig", log=print) -> tuple[Any, Any]:
    """(perceptual loss, identity loss), each None when its weight is 0 (or, for identity, when the face-api
    weights are missing). ``cfg.perceptual`` must be resolved already (not ``auto``)."""
    perceptual = identity = None
    if cfg.perceptual_weight > 0:
        files = cfg.perceptual_weights or None
        perceptual, _ = get_perceptual(cfg.perceptual, weights=files[0] if files and len(files) == 1 else files)
    if cfg.identity_weight > 0:
        try:
            identity = distances.get("identity")
        except FaceEditError as exc:
            log(f"encoder: no identity loss ({exc})")
    return perceptual, identity


# ------------------------------------------------------------------------------------------------ evaluation
def evaluate_encoder(encoder: Encoder, model: Model, val_real: torch.Tensor, n_generated: int = 64, seed: int = 1234,
                     perceptual=None, identity=None, batch: int = 16, metrics: dict | None = None) -> dict[str, Any]:
    """Validation figures: on the real val faces MSE/PSNR/SSIM (on [0, 1] pixels) and the distances given — as
    ``perceptual`` / ``identity``, or by name in ``metrics`` (e.g. ``{"vgg16": d}``); on ``n_generated``
    generated faces the latent MSE and image MSE."""
    was = encoder.training
    encoder.eval()
    out: dict[str, Any] = {}
    sums: dict[str, list] = {}
    with torch.no_grad():
        for i in range(0, len(val_real), batch):
            x = val_real[i:i + batch].float().to(model.device) / 127.5 - 1
            rec = synthesize(model.G, encoder.predict(x, model.G)).clamp(-1, 1)
            for k, v in quality.all_metrics(rec, x).items():
                sums.setdefault(k, []).append(v)
            for name, d in {"perceptual": perceptual, "identity": identity, **(metrics or {})}.items():
                if d is not None:
                    sums.setdefault(name, []).append(d(rec, x).reshape(-1).float())
        if sums:
            out["real"] = {k: round(float(torch.cat(v).mean()), 5) for k, v in sums.items()}
            out["real"]["n"] = int(len(val_real))
        g = torch.Generator().manual_seed(seed)
        lat, mse = [], []
        for i in range(0, n_generated, batch):
            ws = sample_generated(model, min(batch, n_generated - i), g)
            img = synthesize(model.G, ws)
            pred = encoder.predict(img, model.G)
            lat.append((pred - ws).square().mean(dim=(1, 2)))
            mse.append(quality.mse(synthesize(model.G, pred).clamp(-1, 1), img.clamp(-1, 1)))
        out["generated"] = {"latent_mse": round(float(torch.cat(lat).mean()), 5),
                            "mse": round(float(torch.cat(mse).mean()), 5), "n": n_generated}
    encoder.train(was)
    return out


# ------------------------------------------------------------------------------------------------ training
def _read_run(run_dir: Path) -> dict | None:
    ck = run_dir / CHECKPOINT
    if not ck.is_file():
        return None
    st = read_state(ck, "encoder training checkpoint")
    extra = st["config"].get("extra") if isinstance(st.get("config"), dict) else None
    if not isinstance(extra, dict) or "encoder_run" not in extra:
        raise FaceEditError(f"{ck} is not an encoder training checkpoint")
    return st


def train_encoder(cfg: EncoderTrainConfig, model: Model | None = None, resume: bool = False,
                  log=print) -> dict[str, Any]:
    """Train (or, with ``resume``, continue) an encoder in ``cfg.run_dir``. ``model``: a loaded
    :class:`faceedit.model.Model` (default: ``load(cfg.model)``). Returns a summary with the validation
    figures."""
    setup_process(threads=cfg.threads)
    run_dir = Path(cfg.run_dir)
    st = _read_run(run_dir)
    if st is not None and not resume:
        raise FaceEditError(f"{run_dir} already holds an encoder run: pass --resume to continue it, or choose "
                            "another --run-dir")
    if st is None and resume:
        raise FaceEditError(f"nothing to resume: {run_dir / CHECKPOINT} does not exist")
    if model is None:
        model = load(cfg.model)
    model.G.eval().requires_grad_(False)
    if st is not None:  # the run's own settings win, except this invocation's budget and bookkeeping
        saved_dict = st["config"]["extra"]["encoder_run"]
        saved = EncoderTrainConfig.from_dict(saved_dict)
        if "perceptual" not in saved_dict:  # runs from before the choice existed trained on face-api features
            saved.perceptual = "faceapi"
        check_generator({"generator": st["config"]["extra"]["generator"]}, model, force=cfg.force,
                        where=f"the encoder run {run_dir}")
        keep = {"time_budget", "threads", "checkpoint_minutes", "extend_minutes", "force", "log_every", "model"}
        cfg = EncoderTrainConfig(**{**asdict(saved), **{k: getattr(cfg, k) for k in keep}})
    base_state = None
    if cfg.refine_from and st is None:  # a refinement run starts from a trained encoder's first pass
        src = DEFAULT_ENCODER if cfg.refine_from in ("shipped", "default") else Path(cfg.refine_from)
        base, _ = load_encoder(src, model, force=cfg.force)
        enc_cfg = replace(base.cfg, refiner=True, refine_iterations=cfg.refine_iterations)
        base_state = {k: v for k, v in base.state_dict().items() if not k.startswith("refiner.")}
        cfg.refine_from = str(src)
    else:
        enc_cfg = EncoderConfig.from_dict(cfg.encoder) if cfg.encoder else EncoderConfig.for_model(model)
    if enc_cfg.w_dim != model.w_dim or enc_cfg.num_ws != model.num_ws:
        raise FaceEditError(f"encoder config is for {enc_cfg.num_ws}×{enc_cfg.w_dim} latents; the model has "
                            f"{model.num_ws}×{model.w_dim}")
    cfg.encoder = enc_cfg.to_dict()
    torch.manual_seed(cfg.seed)
    res = model.resolution
    if cfg.data and cfg.real_fraction > 0:
        train_real, val_real, data_info = load_real_faces(cfg.data, res, cfg.real_limit, cfg.val_n,
                                                          run_dir / "cache", cfg.seed, log=log)
    else:
        train_real = val_real = torch.zeros(0, 3, res, res, dtype=torch.uint8)
        data_info = {"source": None, "train_images": 0, "val_images": 0}
        cfg.real_fraction = 0.0
    n_real = int(round(cfg.batch * cfg.real_fraction)) if len(train_real) else 0
    n_gen = cfg.batch - n_real
    if cfg.perceptual_weight > 0 and cfg.perceptual == "auto":  # fixed for the run: a resume trains the same loss
        from faceedit.metrics.distances import resolve_perceptual

        resolved, note = resolve_perceptual("auto")
        if note:
            log(f"encoder: {note}")
        cfg.perceptual = resolved or "none"
    perceptual, identity = _training_losses(cfg, log=log)

    enc = Encoder(enc_cfg, model.G.mapping.w_avg).to(model.device)
    refining = enc.refiner is not None
    if base_state is not None:
        enc.load_state_dict(base_state, strict=False)
        enc.init_refiner_from_base()
    if refining:
        enc.trainable_refiner_only()
    run_cfg = RunConfig(data=str(cfg.data), run_dir=str(run_dir),
                        minutes=None if cfg.time_budget is None else cfg.time_budget / 60.0,
                        epochs=float(cfg.steps), batch=cfg.batch, lr=cfg.lr, weight_decay=cfg.weight_decay,
                        warmup=cfg.warmup, bf16=False, threads=cfg.threads, seed=cfg.seed,
                        checkpoint_minutes=cfg.checkpoint_minutes, log_every=cfg.log_every,
                        extra={"encoder_run": asdict(cfg), "generator": generator_info(model),
                               "data_info": data_info, "extend_minutes": cfg.extend_minutes})
    opt = adamw(enc, run_cfg)
    runner = Runner(run_cfg, enc, opt, cfg.batch, "encoder", log)  # one "epoch" = one step: plan = cfg.steps
    with torch.no_grad():  # offsets are from this generator's w_avg (differs after a forced resume on a new one)
        enc.w_avg.copy_(model.G.mapping.w_avg)
    log(f"encoder: {num_parameters(enc)} parameters{' (training the refiner only)' if refining else ''}, "
        f"batch {n_gen} generated + {n_real} real "
        f"({data_info['train_images']} train / {data_info['val_images']} val faces); losses: latent, mse"
        f"{f', perceptual ({cfg.perceptual})' if perceptual is not None else ''}"
        f"{', identity' if identity is not None else ''}, delta")
    n_deltas = model.num_ws - 1

    def stage() -> int:
        if cfg.progressive <= 0:
            return n_deltas
        return min(n_deltas, int(runner.progress() / cfg.progressive * (n_deltas + 1)))

    def reconstruction_loss(x: torch.Tensor, ws: torch.Tensor, deltas: torch.Tensor, target_ws):
        """The loss of the module docstring for one prediction → (loss, terms, reconstruction)."""
        rec = synthesize(model.G, ws)
        terms: dict[str, torch.Tensor] = {}
        mse = (rec - x).square().flatten(1).mean(1)
        loss = cfg.mse_weight * mse.mean()
        terms["mse"] = mse.mean()
        if perceptual is not None:
            p = perceptual(rec, x)
            loss = loss + cfg.perceptual_weight * p.mean()
            terms["perceptual"] = p.mean()
        if n_gen:
            lat = (ws[:n_gen] - target_ws).square().mean()
            loss = loss + cfg.latent_weight * lat
            terms["latent"] = lat
        if n_real and identity is not None:
            d = identity(rec[n_gen:], x[n_gen:]).mean()
            loss = loss + cfg.identity_weight * d
            terms["identity"] = d
        dreg = deltas.square().sum(2).sum(1).mean()
        loss = loss + cfg.delta_weight * dreg
        terms["delta"] = dreg
        return loss, terms, rec

    def step_fn(step: int, gen: torch.Generator) -> dict:
        parts, target_ws = [], None
        if n_gen:
            target_ws = sample_generated(model, n_gen, gen, cfg.truncation_min, cfg.style_mixing)
            with torch.no_grad():
                parts.append(synthesize(model.G, target_ws).clamp(-1, 1))
        if n_real:
            idx = torch.randint(0, len(train_real), (n_real,), generator=gen)
            x = train_real[idx].float().to(model.device) / 127.5 - 1
            flip = (torch.rand(n_real, generator=gen) < 0.5).to(model.device)
            parts.append(torch.where(flip[:, None, None, None], x.flip(3), x))
        x = torch.cat(parts)
        if refining:  # ReStyle: each iteration from the previous one's (detached) guess and image
            k = n_deltas
            with torch.no_grad():
                ws = enc(x)
                img = synthesize(model.G, ws).clamp(-1, 1)
            loss = 0.0
            for _ in range(max(1, enc.cfg.refine_iterations)):
                ws, deltas = enc.refine(x, ws.detach(), img.detach(), return_deltas=True)
                loss_i, terms, rec = reconstruction_loss(x, ws, deltas, target_ws)
                loss = loss + loss_i
                img = rec.clamp(-1, 1)
        else:
            k = stage()
            ws, deltas = enc(x, stage=k, return_deltas=True)
            loss, terms, _ = reconstruction_loss(x, ws, deltas, target_ws)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        out = {k2: float(v.detach()) for k2, v in terms.items()}  # the last iteration's terms
        out["loss"] = float(loss.detach())
        out["stage"] = k
        return out

    t0 = time.time()
    done = runner.run(step_fn)
    figure_name = {"faceapi": "perceptual", "vgg16": "vgg16"}.get(cfg.perceptual)
    reuse = {"identity": identity}
    if figure_name and not cfg.perceptual_weights:  # the loss is one of the figures: loaded once
        reuse[figure_name] = perceptual
    figures = _figure_distances(log, have=reuse)
    ev = evaluate_encoder(enc, model, val_real, metrics=figures)
    rec = {"step": runner.step, "progress": round(runner.progress(), 4), "stage": stage(),
           "train_seconds": round(runner.seconds, 1), "time": round(time.time(), 1), **ev}
    append_log(run_dir / "val.jsonl", rec)
    real = ev.get("real", {})
    log(f"encoder: step {runner.step} ({runner.progress():.0%} of the plan, {time.time() - t0:.0f} s this run); "
        f"val real MSE {real.get('mse', float('nan')):.4f} PSNR {real.get('psnr', float('nan')):.2f} dB "
        f"SSIM {real.get('ssim', float('nan')):.3f}; generated latent MSE {ev['generated']['latent_mse']:.4f}")
    return {"steps": runner.step, "complete": done, "progress": runner.progress(), "validation": ev,
            "run_dir": str(run_dir)}


# ------------------------------------------------------------------------------------------------ export
def export_encoder(run_dir: str | Path, output: str | Path, model: Model | None = None, evaluate: bool = True,
                   log=print) -> dict[str, Any]:
    """Write the run's encoder as fp16 safetensors + card (data, steps, generator sha256, validation figures
    measured on the exported weights, licence). ``model``: the generator (default: the run's ``--model``, which
    must still match the recorded sha256). Returns the card."""
    run_dir = Path(run_dir)
    st = _read_run(run_dir)
    if st is None:
        raise FaceEditError(f"no encoder run in {run_dir} (no {CHECKPOINT})")
    extra = st["config"]["extra"]
    cfg = EncoderTrainConfig.from_dict(extra["encoder_run"])
    enc = Encoder(EncoderConfig.from_dict(cfg.encoder))
    enc.load_state_dict(st["model"])
    gen_info = extra["generator"]
    if model is None and evaluate:
        model = load(cfg.model)
    card = {
        "name": "faceedit inversion encoder (e4e-style)",
        "task": "FFHQ-aligned face image → w+ latent of its generator (offsets from w_avg)",
        "input": f"float [N,3,H,W] in [-1,1], resized inside to {enc.cfg.resolution} px",
        "architecture": f"residual pyramid encoder, {num_parameters(enc)} parameters "
                        f"(stages {list(enc.cfg.channels)}, pyramid {enc.cfg.pyramid}, heads {enc.cfg.head_channels})"
                        + (f"; with a ReStyle refiner of the same shape, {enc.cfg.refine_iterations} iterations "
                           "by default" if enc.refiner is not None else ""),
        "generator": gen_info,
        "data": {**extra.get("data_info", {}), "generated_faces": "z → w, ψ ~ U[%.2f, 1], style mixing p=%.2f"
                 % (cfg.truncation_min, cfg.style_mixing)},
        "training": {"steps": int(st["step"]), "planned_steps": st.get("total_steps"),
                     "planned_seconds": st.get("plan_seconds"), "train_seconds": round(st.get("seconds", 0.0), 1),
                     "batch": cfg.batch, "real_fraction": cfg.real_fraction, "lr": cfg.lr,
                     "loss_weights": {"latent": cfg.latent_weight, "mse": cfg.mse_weight,
                                      "perceptual": cfg.perceptual_weight, "identity": cfg.identity_weight,
                                      "delta": cfg.delta_weight},
                     "perceptual_loss": cfg.perceptual,
                     "progressive": cfg.progressive, "machine": "CPU",
                     **({"refiner": {"first_pass_from": cfg.refine_from, "iterations": cfg.refine_iterations,
                                     "note": "first pass frozen; the steps above are the refiner's"}}
                        if enc.refiner is not None else {})},
        "licence": LICENCE,
    }
    output = Path(output)
    save_encoder(output, enc, card=card)
    if evaluate and model is not None:
        enc16, _ = load_encoder(output, model)
        figures = _figure_distances(log)
        val_real = _val_faces(cfg, model, run_dir, log)
        card["validation"] = evaluate_encoder(enc16, model, val_real, metrics=figures)
        card["validation"]["measured_on"] = "the exported fp16 weights"
        save_encoder(output, enc, card=card)
    return card


def _val_faces(cfg: EncoderTrainConfig, model: Model, run_dir: Path, log) -> torch.Tensor:
    if not cfg.data or cfg.real_fraction <= 0:
        return torch.zeros(0, 3, model.resolution, model.resolution, dtype=torch.uint8)
    try:
        _, va, _ = load_real_faces(cfg.data, model.resolution, cfg.real_limit, cfg.val_n, run_dir / "cache",
                                   cfg.seed, log=log, val_only=True)
    except FaceEditError as exc:
        log(f"encoder export: no real validation faces ({exc})")
        return torch.zeros(0, 3, model.resolution, model.resolution, dtype=torch.uint8)
    return va


__all__ = ["EncoderTrainConfig", "evaluate_encoder", "export_encoder", "sample_generated", "train_encoder"]
