"""StyleGAN2 training loop (NVIDIA's recipe), on CPU or GPU, single process or DDP (torchrun / gloo / nccl).

Per step (phases as NVIDIA's ``training_loop``):
    Gmain  non-saturating logistic loss on DiffAugment(G(z)) with style mixing;
    Greg   path-length regularisation every ``pl_interval`` steps (optional, ``pl_weight > 0``);
    Dmain  logistic loss on augmented reals (x-flipped) and fakes;
    Dreg   R1 on augmented reals every ``r1_interval`` steps, weight γ/2 × interval;
    EMA    G_ema ← lerp with half-life ``ema_kimg`` and ramp-up.
Adam (β1 = 0, β2 = 0.99); with lazy regularisation lr and betas are scaled by c = interval / (interval + 1).

Training accumulates: the run folder holds ``checkpoint.pt`` (full state, written atomically every few minutes and
at the end, on SIGTERM/SIGINT and when the time budget is spent); a new run resumes from it, or from fp16 weights
(``resume_from``), or starts fresh. ``log.jsonl`` gets one JSON line per log interval, ``samples/`` the grids.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from faceedit.atomic import atomic_path
from faceedit.data.images import load_images, manifest_rows
from faceedit.errors import FaceEditError
from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
from faceedit.nn.widen import widen_into
from faceedit.train import augment as _augment
from faceedit.train import checkpoint as ckpt
from faceedit.train import losses
from faceedit.train.dataset import balance_weights, parse_attribute_list, sample_batch
from faceedit.train.ema import ema_beta, update_ema
from faceedit.train.projected import d_loss_hinge, g_loss_hinge
from faceedit.train.runner import CHECKPOINT as CHECKPOINT_NAME
from faceedit.train.runner import LOG as LOG_NAME
from faceedit.train.runner import StopFlag, append_log, setup_process

#: With ``adapt_threads``: how often (seconds) the thread count follows the cores other processes leave free.
THREADS_SECONDS = 30.0


@dataclass
class TrainConfig:
    data: str = ""
    run_dir: str = "runs/default"
    resolution: int = 64
    batch: int = 32
    # generator architecture
    z_dim: int = 256
    w_dim: int = 256
    channel_base: int = 4096
    channel_max: int = 128
    mapping_layers: int = 2
    # discriminator architecture (None: same as G)
    d_channel_base: int | None = None
    d_channel_max: int | None = None
    mbstd_group: int = 4
    # a discriminator on frozen ImageNet VGG16 features: "none", "projected" (it replaces D; hinge loss, no R1) or
    # "aided" (added to D with weight aided_weight); see faceedit.train.projected
    d_features: str = "none"
    aided_weight: float = 1.0
    random_vgg: bool = False  # tests only: a random-weight VGG instead of the fetched one
    conv_clamp: float | None = None  # NVIDIA clamps at 256 for fp16; bf16/fp32 training needs none
    # optimisation
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    beta1: float = 0.0
    beta2: float = 0.99
    r1_gamma: float | None = None  # None: (res / 256)^2
    loss: str = "logistic"  # or "wgan-gp": Wasserstein loss, gradient penalty instead of R1 (losses.GAN_LOSSES)
    r1_interval: int = 16
    pl_weight: float = 0.0
    pl_interval: int = 4
    style_mixing: float = 0.9
    ema_kimg: float | None = None  # None: batch * 10 / 32
    ema_rampup: float | None = 0.05
    augment: str = "color,translation,cutout"
    ada_target: float | None = None  # adaptive augmentation: steer p so that E[sign(D(real))] ≈ target (ADA: 0.6)
    ada_kimg: float = 100.0  # p can go from 0 to 1 in this many kimg
    warmup_steps: int = 200  # after resuming from weights (fresh Adam state): lr ramps up over this many steps
    mirror: bool = True
    # run control
    precision: str = "bf16"  # bf16 | fp16 | fp32
    channels_last: bool = False
    compile: bool = False  # torch.compile G.synthesis and D for the main phases (R1 stays eager)
    device: str = "auto"
    threads: int | None = None
    adapt_threads: bool = False  # CPU: up to ``threads``, fewer while other processes keep cores busy
    seed: int = 0
    kimg: float | None = None  # stop when the cumulative total reaches this
    time_budget: float | None = None  # seconds for this invocation
    max_steps: int | None = None  # steps for this invocation (tests, benchmarks)
    checkpoint_minutes: float = 5.0
    sample_minutes: float = 10.0
    log_seconds: float = 30.0
    resume_from: str | None = None  # fp16 weights (G_ema, G, D) when the run folder has no checkpoint
    init_from: str | None = None  # copy matching tensors (e.g. grow 64 → 128 px) when starting fresh
    nice: bool = False
    progress: bool = True
    data_limit: int | None = None
    split: str = "train"  # rows of a build folder's / pack's manifest to train on (identity-disjoint val held out)
    snapshot_kimg: float = 0.0  # keep an fp16 G_ema every N kimg in run_dir/snapshots/ (0: off)
    # draw the faces holding these CelebA attributes (comma-separated) more often: faceedit.train.dataset.balance_weights
    balance: str = ""
    balance_target: float = 0.1
    balance_cap: float = 3.0

    def g_config(self) -> GeneratorConfig:
        return GeneratorConfig(z_dim=self.z_dim, w_dim=self.w_dim, resolution=self.resolution,
                               channel_base=self.channel_base, channel_max=self.channel_max,
                               mapping_layers=self.mapping_layers, conv_clamp=self.conv_clamp)

    def d_config(self) -> DiscriminatorConfig:
        return DiscriminatorConfig(resolution=self.resolution,
                                   channel_base=self.d_channel_base or self.channel_base,
                                   channel_max=self.d_channel_max or self.channel_max,
                                   mbstd_group_size=self.mbstd_group, conv_clamp=self.conv_clamp)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ARCH_FIELDS = ("resolution", "z_dim", "w_dim", "channel_base", "channel_max", "mapping_layers", "d_channel_base",
               "d_channel_max", "mbstd_group", "conv_clamp", "d_features")
D_FEATURES = ("none", "projected", "aided")


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise FaceEditError(f"bad --device {name!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FaceEditError("--device cuda requested but no CUDA GPU is available")
    return dev


def save_grid(path: str | Path, images: torch.Tensor, cols: int | None = None) -> None:
    """images [N, 3, R, R] in [-1, 1] → one PNG grid, written atomically."""
    from PIL import Image

    n, c, h, w = images.shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    grid = torch.zeros(c, rows * h, cols * w, dtype=torch.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        grid[:, r * h:(r + 1) * h, q * w:(q + 1) * w] = x[i]
    arr = grid.permute(1, 2, 0).numpy()
    with atomic_path(path) as tmp:
        Image.fromarray(arr[..., 0] if c == 1 else arr).save(tmp, format="PNG")


class _Dist:
    def __init__(self, rank: int = 0, world_size: int = 1):
        self.rank, self.world_size = rank, world_size

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def allreduce_grads(self, params: list[torch.nn.Parameter]) -> None:
        if not self.enabled:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.flatten() for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= self.world_size
        torch.nan_to_num_(flat, nan=0, posinf=1e5, neginf=-1e5)
        off = 0
        for g in grads:
            g.copy_(flat[off:off + g.numel()].view_as(g))
            off += g.numel()

    def broadcast_module(self, module: torch.nn.Module) -> None:
        if not self.enabled:
            return
        for t in list(module.parameters()) + list(module.buffers()):
            torch.distributed.broadcast(t.data, src=0)

    def any_flag(self, flag: bool, device: torch.device) -> bool:
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item() > 0)

    def mean_scalars(self, values: list[float], device: torch.device) -> list[float]:
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)
        torch.distributed.all_reduce(t)
        return (t / self.world_size).tolist()


class Trainer:
    """Holds the networks, optimisers and totals; ``run()`` trains until a stop condition."""

    def __init__(self, cfg: TrainConfig, rank: int = 0, world_size: int = 1, log=print):
        self.cfg = cfg
        self.dist = _Dist(rank, world_size)
        self.log = log if rank == 0 else (lambda *a, **k: None)
        self.device = _resolve_device(cfg.device)
        if self.device.type == "cuda" and world_size > 1:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
            torch.cuda.set_device(self.device)
        if cfg.precision not in ("bf16", "fp16", "fp32"):
            raise FaceEditError(f"--precision must be bf16, fp16 or fp32, got {cfg.precision!r}")
        if cfg.batch % world_size:
            raise FaceEditError(f"--batch {cfg.batch} must be divisible by the number of processes {world_size}")
        self.batch_gpu = cfg.batch // world_size
        if self.batch_gpu % min(cfg.mbstd_group, self.batch_gpu):
            raise FaceEditError(f"per-process batch {self.batch_gpu} must be a multiple of --mbstd-group")
        self.policy = _augment.parse_policy(cfg.augment)
        self.ada = _augment.AdaptiveP(cfg.ada_target, cfg.ada_kimg) if cfg.ada_target is not None else None
        self.warmup_until = 0  # step until which the learning rates ramp up (resume from weights)
        self.run_dir = Path(cfg.run_dir)
        self.r1_gamma = cfg.r1_gamma if cfg.r1_gamma is not None else losses.default_r1_gamma(cfg.resolution)
        self.ema_kimg = cfg.ema_kimg if cfg.ema_kimg is not None else cfg.batch * 10 / 32
        self.step = 0
        self.cur_nimg = 0  # cumulative over all runs
        self.totals = {"kimg": 0.0, "cpu_hours": 0.0, "gpu_minutes": 0.0, "runs": 0, "milestones": []}
        self.data_info: dict[str, Any] = {}
        self.sample_weights: torch.Tensor | None = None  # per-image draw weights (--balance); None: uniform
        self.pl_mean = torch.zeros([], device=self.device)
        self.resumed_from = "fresh"
        self.val_images: torch.Tensor | None = None  # held-out reals (identity-disjoint): D overfitting
        self._train_probe: torch.Tensor | None = None
        self._build()

    # ------------------------------------------------------------------ set-up
    def _build(self) -> None:
        cfg = self.cfg
        state = None
        ck_path = self.run_dir / CHECKPOINT_NAME
        if ck_path.is_file():
            state = ckpt.load_checkpoint(ck_path)
            saved = state["train_config"]
            for k in ARCH_FIELDS:  # the architecture always comes from the checkpoint
                setattr(cfg, k, saved.get(k, getattr(cfg, k)))
            g_cfg = GeneratorConfig.from_dict(state["g_config"])
            d_cfg = DiscriminatorConfig.from_dict(state["d_config"])
        elif cfg.resume_from:
            meta, groups = ckpt.read_weights(cfg.resume_from)
            g_cfg = GeneratorConfig.from_dict(meta["g_config"])
            if meta.get("d_config") is None or "D" not in groups or "G" not in groups:
                raise FaceEditError(f"{cfg.resume_from}: resuming needs G, G_ema and D in the weights file")
            d_cfg = DiscriminatorConfig.from_dict(meta["d_config"])
            cfg.resolution, cfg.z_dim, cfg.w_dim = g_cfg.resolution, g_cfg.z_dim, g_cfg.w_dim
            cfg.channel_base, cfg.channel_max, cfg.mapping_layers = (g_cfg.channel_base, g_cfg.channel_max,
                                                                     g_cfg.mapping_layers)
            cfg.d_channel_base, cfg.d_channel_max = d_cfg.channel_base, d_cfg.channel_max
            cfg.mbstd_group = d_cfg.mbstd_group_size
            cfg.conv_clamp = g_cfg.conv_clamp
            cfg.d_features = meta.get("train_state", {}).get("d_features", cfg.d_features)
        else:
            g_cfg, d_cfg = cfg.g_config(), cfg.d_config()
        torch.manual_seed(cfg.seed)
        self.G = Generator(g_cfg).to(self.device).train().requires_grad_(False)
        self.D = Discriminator(d_cfg).to(self.device).train().requires_grad_(False)
        self.G_ema = copy.deepcopy(self.G).eval()

        # lazy regularisation: scale lr and betas (NVIDIA's mb_ratio)
        def make_opt(params, lr, interval):
            c = interval / (interval + 1) if interval else 1.0
            return torch.optim.Adam(params, lr=lr * c, betas=(cfg.beta1 ** c, cfg.beta2 ** c), eps=1e-8)

        g_interval = cfg.pl_interval if cfg.pl_weight > 0 else 0
        self.opt_G = make_opt(self.G.parameters(), cfg.g_lr, g_interval)
        self.opt_D = make_opt(self.D.parameters(), cfg.d_lr, cfg.r1_interval if self.r1_gamma > 0 else 0)
        if cfg.d_features not in D_FEATURES:
            raise FaceEditError(f"--d-features must be one of {', '.join(D_FEATURES)}, got {cfg.d_features!r}")
        self.FD = self.opt_FD = None
        if cfg.d_features != "none":
            from faceedit.features import load_vgg
            from faceedit.features.vgg import VGG
            from faceedit.train.projected import FeatureDiscriminator

            vgg = VGG("vgg16") if cfg.random_vgg else load_vgg()
            self.FD = FeatureDiscriminator(g_cfg.resolution, vgg=vgg).to(self.device).train()
            self.FD.heads.requires_grad_(False)  # only while its own phase runs
            self.opt_FD = make_opt(self.FD.heads.parameters(), cfg.d_lr, 0)
        # fp16 autocast needs loss scaling (bf16 and fp32 do not: the scalers are then pass-throughs)
        fp16 = cfg.precision == "fp16"
        if fp16 and self.device.type != "cuda":
            raise FaceEditError("--precision fp16 needs a CUDA GPU; use bf16 on the CPU")
        self.scaler_G = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_D = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_FD = torch.amp.GradScaler(self.device.type, enabled=fp16)

        if state is not None:
            ckpt.load_into(self.G, state["G"], "G")
            ckpt.load_into(self.G_ema, state["G_ema"], "G_ema")
            ckpt.load_into(self.D, state["D"], "D")
            self.opt_G.load_state_dict(state["opt_G"])
            self.opt_D.load_state_dict(state["opt_D"])
            if self.FD is not None:
                ckpt.load_into(self.FD, state["FD"], "FD")
                self.opt_FD.load_state_dict(state["opt_FD"])
            self.step = int(state["step"])
            self.cur_nimg = int(state["cur_nimg"])
            self.totals = dict(state["totals"])
            self.pl_mean = state.get("pl_mean", self.pl_mean).to(self.device)
            self._restore_ada(state.get("augment", {}))
            self.data_info = dict(state.get("data_info", {}))
            if self.dist.world_size == 1 and "rng" in state:
                torch.set_rng_state(state["rng"])
            else:
                torch.manual_seed(cfg.seed + 1000003 * self.step + self.dist.rank)
            self.resumed_from = str(self.run_dir / CHECKPOINT_NAME)
        elif cfg.resume_from:
            meta, groups = ckpt.read_weights(cfg.resume_from)
            ckpt.load_into(self.G, groups["G"], "G")
            ckpt.load_into(self.G_ema, groups["G_ema"], "G_ema")
            ckpt.load_into(self.D, groups["D"], "D")
            card = meta.get("card", {})
            for k in ("kimg", "cpu_hours", "gpu_minutes", "wall_hours"):
                self.totals[k] = float(card.get(k, 0.0))
            self.totals["runs"] = int(card.get("runs", 0))
            self.totals["milestones"] = list(card.get("milestones", []))
            self.cur_nimg = int(round(self.totals["kimg"] * 1000))
            self.step = int(card.get("step", 0))
            self._restore_ada(meta.get("train_state", {}).get("augment", {}))
            if self.FD is not None and "FD" in groups:
                ckpt.load_into(self.FD, groups["FD"], "FD")
            self.warmup_until = self.step + max(int(cfg.warmup_steps), 0)
            torch.manual_seed(cfg.seed + 1000003 * self.step + self.dist.rank)
            self.resumed_from = str(cfg.resume_from)
        elif cfg.init_from:
            meta, groups = ckpt.read_weights(cfg.init_from)
            n, n_wide = widen_into(self.G, groups.get("G", groups.get("G_ema", {})), "G")
            widen_into(self.G_ema, groups.get("G_ema", groups.get("G", {})), "G_ema")
            m, m_wide = widen_into(self.D, groups.get("D", {}), "D") if "D" in groups else (0, 0)
            card = meta.get("card", {})
            self.totals["init"] = {"from": Path(cfg.init_from).name,
                                   **{k: float(card.get(k, 0.0)) for k in ("kimg", "cpu_hours", "gpu_minutes")}}
            self.warmup_until = self.step + max(int(cfg.warmup_steps), 0)
            self.log(f"init from {cfg.init_from} ({self.totals['init']['kimg']:.1f} kimg): copied {n} G and {m} D "
                     f"tensors, widened {n_wide} G and {m_wide} D tensors")
            self.resumed_from = f"init:{cfg.init_from}"
            torch.manual_seed(cfg.seed + self.dist.rank)
        else:
            torch.manual_seed(cfg.seed + self.dist.rank)
        # all processes start from rank 0's weights
        for m in (self.G, self.G_ema, self.D):
            self.dist.broadcast_module(m)
        if cfg.channels_last:
            for m in (self.G, self.G_ema, self.D):
                m.to(memory_format=torch.channels_last)
        self.D_main = self.D
        self._compile_pending = False
        if cfg.compile:
            self._enable_compile()

    def _enable_compile(self) -> None:
        """torch.compile the synthesis network and D for the G and D main phases. R1 needs a double backward,
        which compiled graphs do not support, so it runs the same D eagerly. Measured on the 2-core CPU (64 px,
        batch 32, bf16): 8.6 → 12.8 img/CPU-s after about 3 minutes of compiling."""
        self.G.synthesis.forward = torch.compile(self.G.synthesis.forward)
        self.D_main = torch.compile(self.D)
        self._compile_pending = True

    def _disable_compile(self, exc: BaseException) -> None:
        self.log(f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                 "training eagerly")
        self.G.synthesis.__dict__.pop("forward", None)
        self.D_main = self.D
        self._compile_pending = False
        self.opt_G.zero_grad(set_to_none=True)
        self.opt_D.zero_grad(set_to_none=True)

    def _autocast(self):
        if self.cfg.precision == "fp32":
            return torch.autocast(self.device.type, enabled=False)
        dtype = torch.bfloat16 if self.cfg.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "g_config": self.G.cfg.to_dict(), "d_config": self.D.cfg.to_dict(),
            "train_config": self.cfg.to_dict(),
            "G": ckpt._cpu_state(self.G, None), "G_ema": ckpt._cpu_state(self.G_ema, None),
            "D": ckpt._cpu_state(self.D, None),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            **({"FD": ckpt._cpu_state(self.FD, None), "opt_FD": self.opt_FD.state_dict()} if self.FD is not None
               else {}),
            "step": self.step, "cur_nimg": self.cur_nimg, "totals": self.totals,
            "rng": torch.get_rng_state(), "pl_mean": self.pl_mean.detach().cpu(),
            "augment": self.augment_state(), "data_info": self.data_info,
            "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def augment_state(self) -> dict[str, Any]:
        return {"policy": ",".join(self.policy), **({"ada": self.ada.state()} if self.ada is not None else {})}

    def _restore_ada(self, aug: dict[str, Any]) -> None:
        if self.ada is not None and isinstance(aug.get("ada"), dict):
            self.ada.p = float(aug["ada"].get("p", self.ada.p))

    def save(self) -> None:
        if self.dist.main:
            ckpt.save_checkpoint(self.run_dir / CHECKPOINT_NAME, self.state_dict())

    def card(self) -> dict[str, Any]:
        return make_card(self.G.cfg.to_dict(), self.D.cfg.to_dict(), self.cfg.to_dict(), self.totals,
                         self.data_info, self.step)

    # ------------------------------------------------------------------ steps
    def _phase_params(self, module):
        return [p for p in module.parameters()]

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        if self._compile_pending:  # first compiled step: fall back to eager if compiling fails
            try:
                out = self._train_step(real)
                self._compile_pending = False
                return out
            except Exception as exc:  # noqa: BLE001
                self._disable_compile(exc)
        return self._train_step(real)

    def _train_step(self, real: torch.Tensor) -> dict[str, float]:
        cfg, dev, B = self.cfg, self.device, self.batch_gpu
        stats: dict[str, float] = {}
        p_aug = self.ada.p if self.ada is not None else 1.0
        aug = (lambda x: _augment.diff_augment(x, self.policy, p_aug)) if self.policy else (lambda x: x)
        if self.warmup_until > self.step:  # fresh Adam moments after a resume from weights: ramp the lr up
            self._set_lr_scale((self.step + 1 - (self.warmup_until - self.cfg.warmup_steps)) / self.cfg.warmup_steps)
        elif self.warmup_until and self.warmup_until <= self.step:
            self._set_lr_scale(1.0)
            self.warmup_until = 0
        if cfg.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)

        # Gmain
        self.G.requires_grad_(True)
        with self._autocast():
            fake = losses.generate(self.G, torch.randn(B, self.G.z_dim, device=dev), cfg.style_mixing,
                                   channels_last=cfg.channels_last)
            fake_aug = aug(fake)
            if cfg.d_features == "projected":
                loss_g = g_loss_hinge(self.FD(fake_aug))
            elif cfg.loss == "wgan-gp":
                loss_g = losses.g_loss_wgan(self.D_main(fake_aug))
            else:
                loss_g = losses.g_loss_nonsaturating(self.D_main(fake_aug))
                if cfg.d_features == "aided":
                    loss_fd = g_loss_hinge(self.FD(fake_aug))
                    stats["loss_G_FD"] = loss_fd.item()
                    loss_g = loss_g + cfg.aided_weight * loss_fd
        self.scaler_G.scale(loss_g).backward()
        stats["loss_G"] = loss_g.item()
        # Greg: path length
        if cfg.pl_weight > 0 and self.step % cfg.pl_interval == 0:
            nb = max(B // 2, 1)
            with self._autocast():
                img, ws = losses.generate(self.G, torch.randn(nb, self.G.z_dim, device=dev), cfg.style_mixing,
                                          return_ws=True, channels_last=cfg.channels_last)
                pen, self.pl_mean = losses.path_length_penalty(img, ws, self.pl_mean)
            loss_pl = pen.mean() * cfg.pl_weight * cfg.pl_interval + img[:, 0, 0, 0].sum() * 0
            self.scaler_G.scale(loss_pl).backward()
            stats["pl"] = pen.mean().item()
        self._opt_step(self.opt_G, self.scaler_G, self._phase_params(self.G))
        self.G.requires_grad_(False)

        # Dmain
        with torch.no_grad(), self._autocast():
            fake = losses.generate(self.G, torch.randn(B, self.G.z_dim, device=dev), cfg.style_mixing,
                                   update_emas=True, channels_last=cfg.channels_last)
        if self.FD is not None:  # the feature discriminator's heads (hinge loss, no R1)
            self.FD.heads.requires_grad_(True)
            with self._autocast():
                lf = self.FD(aug(fake.float()))
                lr = self.FD(aug(real))
                loss_fd = d_loss_hinge(lr, lf)
            self.scaler_FD.scale(loss_fd).backward()
            if cfg.d_features == "projected" and self.ada is not None:
                self.ada.observe(lr, B)
                stats["aug_p"] = self.ada.p
            stats["loss_FD"] = loss_fd.item()
            stats["FD_real"] = lr.float().mean().item()
            stats["FD_fake"] = lf.float().mean().item()
            self._opt_step(self.opt_FD, self.scaler_FD, list(self.FD.heads.parameters()))
            self.FD.heads.requires_grad_(False)
        if cfg.d_features == "projected":
            self._finish_step()
            return stats
        self.D.requires_grad_(True)
        with self._autocast():
            lf = self.D_main(aug(fake.float()))
            lr = self.D_main(aug(real))
            loss_d = losses.d_loss_wgan(lr, lf) if cfg.loss == "wgan-gp" else losses.d_loss_logistic(lr, lf)
        self.scaler_D.scale(loss_d).backward()
        stats["loss_D"] = loss_d.item()
        stats["D_real"] = lr.float().mean().item()
        if self.ada is not None:
            self.ada.observe(lr, B)
            stats["aug_p"] = self.ada.p
        stats["D_fake"] = lf.float().mean().item()
        params_d = self._phase_params(self.D)
        self._d_step(params_d)
        # Dreg: lazy R1, or WGAN-GP's gradient penalty
        if cfg.loss == "wgan-gp" and self.step % cfg.r1_interval == 0:
            pen = losses.gradient_penalty(self.D, real, fake.float())
            self.scaler_D.scale(pen.mean() * losses.WGAN_GP_LAMBDA * cfg.r1_interval).backward()
            stats["gp"] = pen.mean().item()
            self._d_step(params_d)
        elif self.r1_gamma > 0 and self.step % cfg.r1_interval == 0:
            real_r = real.detach().requires_grad_(True)
            with self._autocast() if cfg.precision == "bf16" else torch.autocast(dev.type, enabled=False):
                lr = self.D(aug(real_r))
            pen = losses.r1_penalty(real_r, lr)
            loss_r1 = pen.mean() * (self.r1_gamma / 2) * cfg.r1_interval + lr.float().sum() * 0
            self.scaler_D.scale(loss_r1).backward()
            stats["r1"] = pen.mean().item()
            self._d_step(params_d)
        self.D.requires_grad_(False)
        self._finish_step()
        return stats

    def _set_lr_scale(self, scale: float) -> None:
        scale = min(max(scale, 0.0), 1.0)
        for opt in (self.opt_G, self.opt_D, self.opt_FD):
            if opt is None:
                continue
            for g in opt.param_groups:
                g.setdefault("base_lr", g["lr"])
                g["lr"] = g["base_lr"] * scale

    def _finish_step(self) -> None:
        """EMA of G and the counters."""
        cfg = self.cfg
        self.cur_nimg += cfg.batch
        inherited = int(self.totals.get("init", {}).get("kimg", 0.0) * 1000)  # --init-from: no new ramp-up
        update_ema(self.G_ema, self.G, ema_beta(cfg.batch, self.cur_nimg + inherited, self.ema_kimg, cfg.ema_rampup))
        self.step += 1

    def _d_step(self, params_d) -> None:
        self._opt_step(self.opt_D, self.scaler_D, params_d)

    def _opt_step(self, opt, scaler, params) -> None:
        """All-reduce the gradients, unscale (fp16), zero out non-finite values as NVIDIA does, step."""
        self.dist.allreduce_grads(params)
        if scaler.is_enabled():
            scaler.unscale_(opt)  # records overflow: the step is then skipped and the scale lowered
        for p in params:
            if p.grad is not None:
                torch.nan_to_num_(p.grad, nan=0, posinf=1e5, neginf=-1e5)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    @torch.no_grad()
    def samples(self, n: int = 32, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.G_ema.z_dim, generator=g).to(self.device)
        out = []
        for i in range(0, n, 16):
            out.append(self.G_ema(z[i:i + 16], noise_mode="const").float().cpu())
        return torch.cat(out)

    # ------------------------------------------------------------------ loop
    def _adapt_threads(self, n: int) -> None:
        """Switch torch to ``n`` CPU threads (logged when it changes)."""
        if n != torch.get_num_threads():
            torch.set_num_threads(n)
            self._log_event({"event": "threads", "threads": n, "step": self.step, "kimg": self.cur_nimg / 1000})

    def run(self, images: torch.Tensor) -> dict[str, Any]:
        cfg = self.cfg
        if images.shape[-1] != cfg.resolution:
            raise FaceEditError(f"training images are {images.shape[-1]} px, the model is {cfg.resolution} px")
        if self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "samples").mkdir(exist_ok=True)
            if self.totals.get("runs", 0) == 0 and not (self.run_dir / "reals.png").exists():
                save_grid(self.run_dir / "reals.png", (images[:32].float() / 127.5 - 1))
        self.totals["runs"] = int(self.totals.get("runs", 0)) + 1
        if self.val_images is not None:
            pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(7))[:len(self.val_images)]
            self._train_probe = images[pick]
        stop = StopFlag().install()
        data_gen = torch.Generator().manual_seed(cfg.seed * 7919 + self.step * 31 + self.dist.rank)
        t_start = time.time()
        t_last_ck = t_last_sample = t_last_log = t_start
        spare = None
        if cfg.adapt_threads and cfg.threads and self.device.type == "cpu":
            from faceedit.threads import SpareCores
            spare, t_last_threads = SpareCores(cfg.threads), t_start
        t_step_prev, c_step_prev = t_start, time.process_time()
        start_nimg, start_step = self.cur_nimg, self.step
        acc: dict[str, list[float]] = {}
        log_nimg, log_t = self.cur_nimg, t_start
        reason = "max_steps"
        bar = None
        if self.dist.main and cfg.progress:
            from tqdm import tqdm
            total = cfg.kimg * 1000 if cfg.kimg else None
            interactive = hasattr(os.sys.stderr, "isatty") and os.sys.stderr.isatty()
            bar = tqdm(total=total, initial=self.cur_nimg, unit="img", unit_scale=True, dynamic_ncols=True,
                       mininterval=1.0 if interactive else 30.0, desc=f"train {cfg.resolution}px")
        self._log_event({"event": "start", "resumed_from": self.resumed_from, "step": self.step,
                         "kimg": self.cur_nimg / 1000, "world_size": self.dist.world_size,
                         "device": str(self.device), "config": cfg.to_dict()})
        try:
            while True:
                local_stop, reason_now = False, None
                if cfg.max_steps is not None and self.step - start_step >= cfg.max_steps:
                    local_stop, reason_now = True, "max_steps"
                elif cfg.kimg is not None and self.cur_nimg >= cfg.kimg * 1000:
                    local_stop, reason_now = True, "kimg"
                elif cfg.time_budget is not None and time.time() - t_start >= cfg.time_budget:
                    local_stop, reason_now = True, "time_budget"
                elif stop.signal is not None:
                    local_stop, reason_now = True, f"signal {stop.name}"
                if self.dist.any_flag(local_stop, self.device):
                    reason = reason_now or "peer stopped"
                    break
                real = sample_batch(images, self.batch_gpu, cfg.mirror, data_gen, self.device, self.sample_weights)
                st = self.train_step(real)
                for k, v in st.items():
                    acc.setdefault(k, []).append(v)
                now, cnow = time.time(), time.process_time()
                self._add_time(now - t_step_prev, cnow - c_step_prev)
                t_step_prev, c_step_prev = now, cnow
                if bar is not None:
                    bar.update(cfg.batch)
                if now - t_last_log >= cfg.log_seconds:
                    self._write_log(acc, now - log_t, self.cur_nimg - log_nimg, bar)
                    acc, log_nimg, log_t, t_last_log = {}, self.cur_nimg, now, now
                if now - t_last_sample >= cfg.sample_minutes * 60:
                    self._write_samples()
                    t_last_sample = now
                if now - t_last_ck >= cfg.checkpoint_minutes * 60:
                    self.save()
                    t_last_ck = time.time()
                if spare is not None and now - t_last_threads >= THREADS_SECONDS:
                    self._adapt_threads(spare.threads())
                    t_last_threads = now
                if cfg.snapshot_kimg > 0 and self.cur_nimg // int(cfg.snapshot_kimg * 1000) != \
                        (self.cur_nimg - cfg.batch) // int(cfg.snapshot_kimg * 1000):
                    self.write_snapshot()
        finally:
            stop.restore()
            if bar is not None:
                bar.close()
        if acc:
            self._write_log(acc, time.time() - log_t, self.cur_nimg - log_nimg, None)
        self._write_samples()
        self.save()
        elapsed = time.time() - t_start
        summary = {"event": "end", "reason": reason, "steps": self.step - start_step,
                   "kimg_this_run": (self.cur_nimg - start_nimg) / 1000, "kimg": self.cur_nimg / 1000,
                   "seconds": round(elapsed, 1),
                   "img_per_s": round((self.cur_nimg - start_nimg) / max(elapsed, 1e-9), 2),
                   "totals": self.totals}
        self._log_event(summary)
        return summary

    def _add_time(self, dt: float, dcpu: float) -> None:
        """Totals: ``gpu_minutes`` = wall minutes × GPUs; ``cpu_hours`` = CPU time of the training processes
        (all threads; what a shared, niced CPU actually gave us), ``wall_hours`` = wall-clock hours."""
        procs = self.dist.world_size
        t = self.totals
        if self.device.type == "cuda":
            t["gpu_minutes"] = t.get("gpu_minutes", 0.0) + dt * procs / 60
        else:
            t["cpu_hours"] = t.get("cpu_hours", 0.0) + dcpu * procs / 3600
        t["wall_hours"] = t.get("wall_hours", 0.0) + dt / 3600
        t["kimg"] = self.cur_nimg / 1000

    def _write_log(self, acc, seconds, nimg, bar) -> None:
        means = {k: sum(v) / len(v) for k, v in acc.items() if v}
        keys = sorted(means)
        vals = self.dist.mean_scalars([means[k] for k in keys], self.device)
        means = dict(zip(keys, vals))
        ips = nimg / max(seconds, 1e-9)
        rec = {"event": "progress", "step": self.step, "kimg": round(self.cur_nimg / 1000, 3),
               "img_per_s": round(ips, 2), "kimg_per_hour": round(ips * 3.6, 1),
               "cpu_hours": round(self.totals.get("cpu_hours", 0.0), 4),
               "wall_hours": round(self.totals.get("wall_hours", 0.0), 4),
               "gpu_minutes": round(self.totals.get("gpu_minutes", 0.0), 3)}
        rec.update({k: round(v, 5) for k, v in means.items()})
        rec.update(self._overfit_probe())
        self._log_event(rec)
        if bar is not None:
            bar.set_postfix_str(f"kimg {rec['kimg']:.1f} | {rec['kimg_per_hour']:.0f} kimg/h | "
                                f"G {means.get('loss_G', float('nan')):.3f} D {means.get('loss_D', float('nan')):.3f}",
                                refresh=False)

    def write_snapshot(self) -> Path | None:
        """fp16 G_ema (+ card) as ``snapshots/kimgNNNNNN.safetensors``: for measuring quality over training."""
        if not self.dist.main:
            return None
        path = self.run_dir / "snapshots" / f"kimg{self.cur_nimg // 1000:06d}.safetensors"
        ckpt.export_weights(path, self.G_ema, card=self.card())
        return path

    @torch.no_grad()
    def _overfit_probe(self) -> dict[str, float]:
        """Mean discriminator logit (no augmentation) on 256 training faces and on 256 held-out faces of other
        people: a growing gap means D memorises the training set (ADA's overfitting heuristic)."""
        if self.val_images is None or self._train_probe is None or not self.dist.main:
            return {}
        from faceedit.train.dataset import to_float

        def score(u8):
            out = []
            for i in range(0, len(u8), 64):
                x = to_float(u8[i:i + 64]).to(self.device)
                with self._autocast():
                    d = self.FD(x).sum(1) if self.cfg.d_features == "projected" else self.D(x).flatten()
                out.append(d.float())
            return torch.cat(out).mean().item()

        was = self.FD.training if self.FD is not None else None
        if self.FD is not None:
            self.FD.eval()
        try:
            tr, va = score(self._train_probe), score(self.val_images)
        finally:
            if self.FD is not None and was:
                self.FD.train()
        return {"D_train_clean": round(tr, 4), "D_val": round(va, 4), "D_overfit_gap": round(tr - va, 4)}

    def _write_samples(self) -> None:
        if not self.dist.main:
            return
        imgs = self.samples()
        name = f"fakes{self.cur_nimg // 1000:06d}.png"
        save_grid(self.run_dir / "samples" / name, imgs, cols=8)
        save_grid(self.run_dir / "samples" / "latest.png", imgs, cols=8)

    def _log_event(self, rec: dict[str, Any]) -> None:
        if not self.dist.main:
            return
        append_log(self.run_dir / LOG_NAME, dict(rec, time=_dt.datetime.now(_dt.timezone.utc).isoformat(
            timespec="seconds")))


def make_card(g_config, d_config, train_config, totals, data_info, step) -> dict[str, Any]:
    tc = train_config
    return {
        "model": "StyleGAN2 (faceedit)",
        "data": data_info,
        "resolution": g_config["resolution"],
        "g_config": g_config, "d_config": d_config,
        "training": {k: tc.get(k) for k in ("batch", "g_lr", "d_lr", "r1_gamma", "r1_interval", "pl_weight",
                                            "style_mixing", "ema_kimg", "ema_rampup", "augment", "mirror",
                                            "precision")},
        "kimg": round(float(totals.get("kimg", 0.0)), 3),
        "step": int(step),
        "cpu_hours": round(float(totals.get("cpu_hours", 0.0)), 6),
        "gpu_minutes": round(float(totals.get("gpu_minutes", 0.0)), 3),
        "wall_hours": round(float(totals.get("wall_hours", 0.0)), 4),
        "runs": int(totals.get("runs", 0)),
        "milestones": list(totals.get("milestones", [])),
        **({"init_from": dict(totals["init"])} if totals.get("init") else {}),
        "licence": ckpt.LICENCE,
        "date": _dt.date.today().isoformat(),
    }


def load_data_for(cfg: TrainConfig, log=print) -> tuple[torch.Tensor, dict[str, Any]]:
    t0 = time.time()
    images = load_images(cfg.data, cfg.resolution, limit=cfg.data_limit, progress=cfg.progress, split=cfg.split)
    info = {"path": _portable_path(cfg.data), "images": int(images.shape[0]), "resolution": cfg.resolution,
            "mirror": cfg.mirror, "split": cfg.split}
    log(f"data: {images.shape[0]} images at {cfg.resolution} px from {cfg.data} ({time.time() - t0:.1f} s)")
    return images, info


def balance_for(cfg: TrainConfig, log=print) -> tuple[torch.Tensor | None, dict[str, Any] | None]:
    """The per-image draw weights of ``--balance`` (None without it) and their report for the card. Read from the
    manifest alone, before the images are decoded, so a bad setting fails at once."""
    attributes = parse_attribute_list(cfg.balance)
    if not attributes:
        return None, None
    rows = manifest_rows(cfg.data, cfg.split, cfg.data_limit)
    weights, report = balance_weights(rows, attributes, cfg.balance_target, cfg.balance_cap)
    log("balance: " + ", ".join(f"{a} {r['share_before']:.1%} -> {r['share_after']:.1%} of draws"
                                for a, r in report.items()))
    return weights, {"target": cfg.balance_target, "cap": cfg.balance_cap, "attributes": report}


def _portable_path(path) -> str:
    """A data path for cards: relative to the working folder when inside it, else the last two components (cards
    never carry a machine's absolute paths)."""
    p = Path(str(path))
    if not p.is_absolute():
        return str(p)
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(Path(*p.parts[-2:]))


def train(cfg: TrainConfig, rank: int = 0, world_size: int = 1, log=print) -> dict[str, Any]:
    """Train in this process (one rank of ``world_size``; the process group must already exist if > 1)."""
    setup_process(cfg.threads, nice=19 if cfg.nice else 0)
    trainer = Trainer(cfg, rank, world_size, log=log)
    trainer.sample_weights, balance = balance_for(cfg, log if rank == 0 else (lambda *a: None))
    images, info = load_data_for(cfg, log if rank == 0 else (lambda *a: None))
    if cfg.resolution != trainer.G.img_resolution:
        raise FaceEditError("internal: resolution mismatch")
    if trainer.sample_weights is not None and len(trainer.sample_weights) != images.shape[0]:
        raise FaceEditError(f"internal: {len(trainer.sample_weights)} draw weights for {images.shape[0]} images")
    prev = trainer.data_info
    trainer.data_info = _merge_data_info(prev, info, balance, trainer.cur_nimg / 1000)
    if rank == 0:
        n_g = sum(p.numel() for p in trainer.G.parameters())
        n_d = sum(p.numel() for p in trainer.D.parameters())
        log(f"G {n_g / 1e6:.2f} M params, D {n_d / 1e6:.2f} M params; start at kimg {trainer.cur_nimg / 1000:.1f} "
            f"({trainer.resumed_from}); device {trainer.device}, {world_size} process(es), batch {cfg.batch}")
    if cfg.split == "train" and rank == 0:  # held-out faces: D's logits on them show overfitting over time
        try:
            trainer.val_images = load_images(cfg.data, cfg.resolution, limit=256, split="val")
        except FaceEditError:
            trainer.val_images = None
    return trainer.run(images)


def _merge_data_info(prev: dict[str, Any], info: dict[str, Any], balance: dict[str, Any] | None = None,
                     kimg: float = 0.0) -> dict[str, Any]:
    """The card's data record: every source the run has trained on, and each change of ``--balance`` with the kimg
    from which it applied."""
    sources = list(prev.get("sources", []))
    if not any(s.get("path") == info["path"] and s.get("resolution") == info["resolution"] for s in sources):
        sources.append(info)
    out = {"sources": sources, "images": info["images"], "resolution": info["resolution"]}
    history = list(prev.get("balance", []))
    now = balance or {"off": True}
    last = {k: v for k, v in (history[-1] if history else {"off": True}).items() if k != "from_kimg"}
    if last != now:
        history.append({**now, "from_kimg": round(kimg, 3)})
    if history:
        out["balance"] = history
    return out


def train_distributed_entry() -> dict[str, Any] | None:
    """Initialise torch.distributed from torchrun's environment (RANK, WORLD_SIZE) if present."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend)
        return {"rank": dist.get_rank(), "world_size": dist.get_world_size()}
    return None
