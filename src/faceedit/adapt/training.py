"""One-shot domain adaptation of a generator to one art portrait with DIFA (``faceedit adapt``).

G_B starts as a copy of G_A; only its synthesis layers (the blocks in ``blocks``) train, the mapping network stays
frozen, so G_A and G_B share z, w and w+. Each step draws ``batch`` latents w (seeded, truncation ψ), renders them
with G_A (fixed) and G_B (constant noise) and minimises (:mod:`faceedit.adapt.losses`)

    L = global_weight·L_global + local_weight·L_local + scc_weight·L_scc

with the embedding of :mod:`faceedit.adapt.embed` (VGG16 offline, or a user's CLIP). L_scc inverts G_A(w) and
G_B(w) with the source generator's encoder (one differentiable pass) and compares the codes on the W+ entries the
target's own inversion (encoder + refinement) leaves near the mean code. Without an encoder for the source
generator the target is inverted by optimisation and L_scc is off (a note says so).

Runs are resumable (``RUN_DIR/checkpoint.pt``, atomic, read with the restricted loader; holds G_B, the optimiser,
the step, the RNG, the seconds and the target's sha256) and stop at ``iterations``, at ``time_budget`` seconds of
this invocation or on SIGTERM; then G_B is written as an fp16 model file with the card of
:mod:`faceedit.adapt.source`.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from faceedit.adapt.embed import VGG_GLOBAL, VGG_LOCAL, Embedding, make_embedding
from faceedit.adapt.losses import directional_loss, scc_loss, scc_mask, token_loss
from faceedit.adapt.source import adapted_card
from faceedit.errors import FaceEditError
from faceedit.model import Model
from faceedit.train.runner import StepGuard, append_log

METHODS = ("difa", "nada")
MAX_ITERATIONS = 100_000
MAX_BATCH = 64


@dataclass
class AdaptConfig:
    """One adaptation. ``target``: the art image; ``source``: G_A (a model name or file); ``blocks``: synthesis
    resolutions to train ("all" or e.g. "16,32,64"); ``iterations``: planned steps of ``batch`` latents;
    ``global_weight``, ``local_weight`` (λ1), ``scc_weight`` (λ2), ``alpha``: the fraction of W+ entries held
    consistent; ``method``: "difa" (all three losses) or "nada" (the directional loss only, a baseline);
    ``embedding``: "vgg16" or a CLIP weights file (``vgg_side``: the side VGG reads images at, None: at least
    128 px); ``truncation``: ψ of the training latents; ``source_samples``:
    G_A images that give the source domain's mean embedding; ``invert_steps``: refinement steps of the target's
    inversion; ``time_budget``: seconds of this invocation (None: none); ``face_index``: which face when the
    image has several (None: refuse several)."""

    target: str
    out: str
    source: str = "default"
    run_dir: str = "runs/adapt"
    blocks: str = "all"
    iterations: int = 100
    batch: int = 4
    lr: float = 0.01
    method: str = "difa"
    global_weight: float = 1.0
    local_weight: float = 1.0
    scc_weight: float = 2.0
    alpha: float = 0.5
    embedding: str = "vgg16"
    vgg_global: tuple = VGG_GLOBAL
    vgg_local: str = VGG_LOCAL
    vgg_weights: str | None = None
    vgg_side: int | None = None
    clip_act: str = "quick_gelu"
    truncation: float = 0.7
    source_samples: int = 64
    invert_steps: int = 100
    time_budget: float | None = None
    face_index: int | None = None
    aligned: bool = False
    threads: int = 1
    seed: int = 0
    bf16: bool = True
    checkpoint_minutes: float = 2.0
    log_every: int = 10
    progress: bool = True
    title: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        if self.method not in METHODS:
            raise FaceEditError(f"unknown adaptation method {self.method!r}: use {', '.join(METHODS)}")
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise FaceEditError(f"--iterations must be between 1 and {MAX_ITERATIONS:,}")
        if not 1 <= self.batch <= MAX_BATCH:
            raise FaceEditError(f"--batch must be between 1 and {MAX_BATCH}")
        for name in ("lr", "global_weight", "local_weight", "scc_weight", "alpha", "truncation"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise FaceEditError(f"--{name.replace('_', '-')} must be a finite number ≥ 0, got {v}")
        if not 0 < self.lr <= 1:
            raise FaceEditError("--lr must be in (0, 1]")
        if self.alpha > 1:
            raise FaceEditError("--alpha must be in [0, 1]")
        if not 2 <= self.source_samples <= 4096:
            raise FaceEditError("source_samples must be between 2 and 4096")

    @property
    def weights(self) -> dict[str, float]:
        """The loss weights this method uses."""
        if self.method == "nada":
            return {"global": self.global_weight, "local": 0.0, "scc": 0.0}
        return {"global": self.global_weight, "local": self.local_weight, "scc": self.scc_weight}


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_blocks(spec: str, model: Model) -> list[str]:
    """``"all"`` or resolutions ``"16,32,64"`` → synthesis block names (``b16`` …) of ``model``."""
    have = [name for name, _ in model.G.synthesis.named_children() if name.startswith("b")]
    if str(spec).strip().lower() == "all":
        return have
    out = []
    for part in str(spec).split(","):
        part = part.strip().lower().removeprefix("b")
        if not part.isdigit() or f"b{int(part)}" not in have:
            raise FaceEditError(f"--blocks {spec!r}: use 'all' or resolutions among "
                                f"{', '.join(h[1:] for h in have)}")
        out.append(f"b{int(part)}")
    return sorted(set(out), key=have.index)


# ----------------------------------------------------------------------------------------------- the target
@dataclass
class Target:
    """The art face: ``image`` [1, 3, R, R] in [-1, 1] at the generator's size, aligned; ``ws`` its W+ code
    under G_A [1, num_ws, w_dim]; ``sha256`` of the file; ``notes`` from the inversion."""

    image: torch.Tensor
    ws: torch.Tensor
    sha256: str
    path: Path
    notes: list[str]


def load_target(path: str | Path, model: Model, aligned: bool = False, face_index: int | None = None,
                invert_steps: int = 100, progress: bool = False, encoder=None) -> Target:
    """Align the one face of an art image and invert it into G_A's W+ (encoder + refinement; ``encoder``: one
    for the source instead of the shipped one). No face, or several faces without ``face_index``, is a one-line
    error."""
    from faceedit.align import align_face, detect_faces, load_image
    from faceedit.invert.photos import invert_images

    path = Path(path)
    if not path.is_file():
        raise FaceEditError(f"art image not found: {path}")
    img = load_image(path)
    if aligned:
        from PIL import Image

        small = np.asarray(Image.fromarray(img).resize((model.resolution,) * 2, Image.LANCZOS))
    else:
        faces = detect_faces(img, name=str(path))
        if not faces:
            raise FaceEditError(f"no face found in {path}: give a portrait with one clearly visible face")
        if len(faces) > 1 and face_index is None:
            raise FaceEditError(f"{len(faces)} faces found in {path}: crop it to one face, or pick one with "
                                "--face-index N (0 = the largest)")
        small = align_face(img, size=model.resolution, face_index=face_index, faces=faces, name=str(path)).image
    inv = invert_images(model, small[None], method="hybrid", steps=invert_steps, progress=progress, encoder=encoder)
    x = torch.from_numpy(np.array(small, copy=True)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    return Target(image=x, ws=model.as_ws(inv.ws)[:1].detach().cpu(), sha256=file_sha256(path), path=path,
                  notes=list(inv.notes))


# ----------------------------------------------------------------------------------------------- training
class _Run:
    """Checkpoint state of a run: the step, seconds, RNG and running losses (G_B and the optimiser live outside)."""

    def __init__(self, cfg: AdaptConfig, target_sha: str, source_sha: str | None):
        self.cfg, self.target_sha, self.source_sha = cfg, target_sha, source_sha
        self.dir = Path(cfg.run_dir)
        self.ckpt = self.dir / "checkpoint.pt"
        self.step, self.seconds, self.cpu_seconds = 0, 0.0, 0.0
        self.gen = torch.Generator().manual_seed(int(cfg.seed))
        self.last: dict[str, float] = {}

    @contextmanager
    def timed_step(self) -> Iterator[None]:
        """One training step: counted, with its wall and CPU seconds, when the block ends without an error."""
        t0, c0 = time.time(), time.process_time()
        yield
        self.step += 1
        self.seconds += time.time() - t0
        self.cpu_seconds += time.process_time() - c0

    def save(self, synthesis: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        from faceedit.train.checkpoint import save_checkpoint

        save_checkpoint(self.ckpt, {"kind": "adapt", "synthesis": synthesis.state_dict(), "opt": opt.state_dict(),
                                    "step": self.step, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                                    "gen": self.gen.get_state(), "target_sha256": self.target_sha,
                                    "source_sha256": self.source_sha, "last": self.last, "config": asdict(self.cfg)})

    def load(self, synthesis: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        from faceedit.train.checkpoint import load_checkpoint

        st = load_checkpoint(self.ckpt)
        if st.get("kind") != "adapt":
            raise FaceEditError(f"{self.ckpt} is not an adaptation checkpoint")
        for key, have, what in (("target_sha256", self.target_sha, "art image"),
                                ("source_sha256", self.source_sha, "source generator")):
            if st.get(key) != have:
                raise FaceEditError(f"{self.ckpt} adapts another {what} (sha256 {str(st.get(key))[:12]}…, this one "
                                    f"{str(have)[:12]}…); choose another --run-dir")
        try:
            synthesis.load_state_dict(st["synthesis"])
            opt.load_state_dict(st["opt"])
            self.gen.set_state(st["gen"])
            self.step, self.seconds = int(st["step"]), float(st["seconds"])
            self.cpu_seconds = float(st.get("cpu_seconds", 0.0))
            self.last = dict(st.get("last") or {})
        except Exception as exc:  # noqa: BLE001 - any mismatch inside the file is the file's fault
            raise FaceEditError(f"cannot resume from {self.ckpt}: {type(exc).__name__}: {exc}") from None


def _descend(opt: torch.optim.Optimizer, total: torch.Tensor, step: int) -> None:
    """One optimiser step on ``total``; a NaN or infinite loss is a one-line error."""
    if not math.isfinite(float(total.detach())):
        raise FaceEditError(f"adaptation diverged at step {step} (loss {float(total.detach())}); try a smaller --lr")
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()


class DifaLoss:
    """The adaptation loss for one target and one source generator (see the module docstring)."""

    def __init__(self, cfg: AdaptConfig, source: Model, target: Target, embedding: Embedding, encoder=None):
        self.cfg, self.source, self.embedding, self.encoder = cfg, source, embedding, encoder
        self.weights = dict(cfg.weights)
        if encoder is None:
            self.weights["scc"] = 0.0
        with torch.no_grad():
            tgt_global, self.target_tokens = embedding.embed(target.image)
            gen = torch.Generator().manual_seed(12345)
            means = []
            for i in range(0, cfg.source_samples, 16):
                n = min(16, cfg.source_samples - i)
                ws = self.sample_ws(n, gen)
                means.append(embedding.embed(source.G.synthesis(ws, noise_mode="const"))[0])
            self.domain_direction = (tgt_global - torch.cat(means).mean(0, keepdim=True))[0]
        mean_code = source.G.mapping.w_avg.detach().cpu()[None].expand_as(target.ws[0])
        self.mask = scc_mask(target.ws[0] - mean_code, cfg.alpha)

    def sample_ws(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` training latents w+ [n, num_ws, w_dim] (z from ``gen``, truncation ψ)."""
        z = torch.randn(n, self.source.z_dim, generator=gen)
        with torch.no_grad():
            return self.source.map(z, self.cfg.truncation)

    def __call__(self, G_B: torch.nn.Module, ws: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms for latents ``ws`` [N, num_ws, w_dim]; ``total`` is the weighted sum."""
        with torch.no_grad():
            img_a = self.source.G.synthesis(ws, noise_mode="const")
            emb_a = self.embedding.embed(img_a)[0]
            code_a = self.encoder(img_a) if self.weights["scc"] > 0 else None
        img_b = G_B.synthesis(ws, noise_mode="const")
        emb_b, tok_b = self.embedding.embed(img_b)
        terms = {"global": directional_loss(emb_b, emb_a, self.domain_direction)}
        if self.weights["local"] > 0:
            terms["local"] = token_loss(tok_b, self.target_tokens)
        if code_a is not None:
            terms["scc"] = scc_loss(self.encoder(img_b), code_a, self.mask)
        terms["total"] = sum(self.weights[k] * v for k, v in terms.items())
        return terms


def adapt(cfg: AdaptConfig, resume: bool = False, log: Callable[[str], None] = print,
          embedding: Embedding | None = None, encoder=None) -> dict[str, Any]:
    """Adapt ``cfg.source`` to ``cfg.target`` (or continue a run with ``resume``) and write G_B to ``cfg.out``.
    Returns the card. ``embedding``: a ready embedding instead of ``cfg.embedding``; ``encoder``: an inversion
    encoder for the source instead of the shipped one (tests, benchmarks)."""
    from tqdm import tqdm

    from faceedit.invert.encoder import default_encoder
    from faceedit.model import load

    cfg.check()
    if cfg.threads and cfg.threads > 0:
        torch.set_num_threads(int(cfg.threads))
    source = load(cfg.source)
    if adapted_card(source) is not None:
        raise FaceEditError(f"{cfg.source} is itself an adapted generator: adapt its source generator instead")
    blocks = parse_blocks(cfg.blocks, source)
    run = _Run(cfg, "", source.sha256)
    if run.ckpt.is_file() and not resume:
        raise FaceEditError(f"{run.dir} already holds an adaptation checkpoint: add --resume to continue it, or "
                            "choose another --run-dir")
    if resume and not run.ckpt.is_file():
        raise FaceEditError(f"nothing to resume: {run.ckpt} does not exist")
    target = load_target(cfg.target, source, cfg.aligned, cfg.face_index, cfg.invert_steps, encoder=encoder)
    run.target_sha = target.sha256
    for note in target.notes:
        log(f"note: {note}")
    encoder, why = (encoder, "") if encoder is not None else default_encoder(source)
    if encoder is not None:
        encoder.requires_grad_(False).eval()
    elif cfg.weights["scc"] > 0:
        log(f"note: no encoder for {source.name}: the consistency loss is off ({why})")
    embedding = embedding or make_embedding(cfg.embedding, cfg.vgg_global, cfg.vgg_local, cfg.vgg_weights,
                                            cfg.clip_act, cfg.bf16, cfg.vgg_side)
    loss = DifaLoss(cfg, source, target, embedding, encoder)
    G_B = copy.deepcopy(source.G).float().train()
    G_B.requires_grad_(False)
    params = []
    for name in blocks:
        block = getattr(G_B.synthesis, name)
        block.requires_grad_(True)
        params += list(block.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=(0.0, 0.99))
    if resume:
        run.load(G_B.synthesis, opt)
        log(f"adapt: resuming {run.dir} at step {run.step}/{cfg.iterations}")
    log(f"adapt: {cfg.method} on {target.path.name}, training {', '.join(blocks)} "
        f"({sum(p.numel() for p in params):,} parameters), {embedding.name} embedding, batch {cfg.batch}")
    bar = tqdm(total=cfg.iterations, initial=min(run.step, cfg.iterations), desc="adapt", unit="step",
               disable=not cfg.progress, mininterval=2, dynamic_ncols=True)
    acc: dict[str, float] = {}
    n_acc = 0
    guard = StepGuard(cfg.iterations, cfg.time_budget, cfg.checkpoint_minutes)
    try:
        with guard:
            while not guard.stop_before(run.step):
                with run.timed_step():
                    terms = loss(G_B, loss.sample_ws(cfg.batch, run.gen))
                    _descend(opt, terms["total"], run.step)
                for k, v in terms.items():
                    acc[k] = acc.get(k, 0.0) + float(v.detach())
                n_acc += 1
                bar.update(1)
                if run.step % cfg.log_every == 0 or run.step == cfg.iterations:
                    run.last = {k: round(v / n_acc, 5) for k, v in acc.items()}
                    append_log(run.dir / "log.jsonl", {"step": run.step, **run.last,
                                                       "train_seconds": round(run.seconds, 1),
                                                       "cpu_seconds": round(run.cpu_seconds, 1)})
                    bar.set_postfix({k: f"{v:.3f}" for k, v in run.last.items()})
                    acc, n_acc = {}, 0
                if guard.checkpoint_due():
                    run.save(G_B.synthesis, opt)
    finally:
        bar.close()
        if run.step > 0:
            run.save(G_B.synthesis, opt)
    if acc:
        run.last = {k: round(v / n_acc, 5) for k, v in acc.items()}
    reason = guard.reason.replace("steps", "iterations")
    card = export(cfg, G_B.eval(), source, target, embedding, loss, run, blocks, reason, encoder is not None)
    log(f"adapt: wrote {cfg.out} (step {run.step}/{cfg.iterations}, {reason}; {run.seconds:.0f} s; losses "
        + ", ".join(f"{k} {v:.3f}" for k, v in run.last.items()) + ")")
    if guard.signalled:
        raise FaceEditError(f"adaptation stopped by SIGTERM at step {run.step} (checkpoint and {cfg.out} written; "
                            "continue with --resume)")
    return card


def source_reference(source: Model, spec: str) -> str:
    """How the card names the source: ``default`` / a registry name as given, a file as its absolute path."""
    p = Path(spec).expanduser()
    return str(p.resolve()) if p.is_file() else spec


def export(cfg: AdaptConfig, G_B: torch.nn.Module, source: Model, target: Target, embedding: Embedding,
           loss: DifaLoss, run: _Run, blocks: list[str], reason: str, with_encoder: bool) -> dict[str, Any]:
    """Write G_B as an fp16 model file with its card (and the card beside it)."""
    from faceedit.io.native import save_native

    src_card = (source.card or {}).get("card") or {}
    card: dict[str, Any] = {
        "name": Path(cfg.out).name.removesuffix(".safetensors"),
        "description": f"{source.name} adapted to one art portrait ({target.path.name}) with "
                       f"{'DIFA' if cfg.method == 'difa' else 'a directional (NADA-style) loss'}; shares its "
                       "latent space: invert with the source generator, render with this one",
        "adapted": {
            "method": cfg.method,
            "source": {"name": source_reference(source, cfg.source), "sha256": source.sha256,
                       "resolution": source.resolution},
            "target": {"file": target.path.name, "sha256": target.sha256, "title": cfg.title},
            "embedding": embedding.describe(),
            "losses": run.last,
            "loss_weights": loss.weights,
            "scc": {"alpha": cfg.alpha, "encoder": with_encoder, "masked_entries": int(loss.mask.sum())},
            "trained_blocks": blocks,
            "settings": {k: v for k, v in asdict(cfg).items() if k not in ("out", "run_dir", "progress", "extra")},
            "training": {"steps": run.step, "planned": cfg.iterations, "stopped": reason,
                         "train_seconds": round(run.seconds, 1), "cpu_seconds": round(run.cpu_seconds, 1),
                         "machine": f"CPU, {torch.get_num_threads()} thread(s)"},
        },
        "licence": {"weights": src_card.get("licence", "as the source generator's"),
                    "target_image": cfg.note or "see the image's own status"},
    }
    save_native(cfg.out, G_B, card=card, dtype=torch.float16, write_card=True)
    return card


__all__ = ["AdaptConfig", "DifaLoss", "Target", "adapt", "load_target", "parse_blocks"]
