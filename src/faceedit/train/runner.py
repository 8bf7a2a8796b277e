"""The training framework every trainer shares: a resumable loop (:class:`Runner`) with a planned schedule, a time
budget, atomic checkpoints read back through the safe loader, a progress bar and a ``log.jsonl``; and the pieces
the GAN trainer (:mod:`faceedit.train.gan`, which has its own loop for DDP, snapshots and ADA) uses as well:
:class:`StopFlag` (SIGTERM / Ctrl-C stop at a step boundary), :func:`append_log` (one JSON line per record),
:class:`Deadline` (a wall-clock budget) and :func:`setup_process` (threads, priority).

    cfg = RunConfig(run_dir="runs/clf", minutes=30, epochs=12, batch=64, lr=2e-3)
    runner = Runner(cfg, net, adamw(net, cfg), n_train=len(images), what="classifier")
    sampler = EpochSampler(len(images), cfg.batch, runner.steps_per_epoch, cfg.seed)
    done = runner.run(lambda step, gen: {"loss": one_step(sampler.batch(step), gen)})   # resumes by itself

Checkpoints: ``<run-dir>/checkpoint.pt`` holds the model, the optimiser, the step, the plan (total steps and/or
seconds), the training seconds so far, the random generator and the configuration; it is written atomically every
``checkpoint_minutes``, at the end, and on SIGTERM, and read only with :func:`faceedit.train.checkpoint.read_state`.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from faceedit.threads import set_threads
from faceedit.errors import FaceEditError
from faceedit.train.checkpoint import read_state, save_checkpoint

#: The card licence of networks trained on the project's face data.
LICENCE = ("research-only: trained on CelebA / CelebAMask-HQ, which are for non-commercial research use only; "
           "the weights inherit that restriction")
CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"


# ------------------------------------------------------------------------------------------ shared pieces
class StopFlag:
    """Set by the given signals (default SIGTERM and SIGINT) while installed; a loop stops at the next step
    boundary and writes its checkpoint. A second Ctrl-C gives up at once (KeyboardInterrupt). Only the main
    thread can install signal handlers; elsewhere the flag stays unset."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.signals = signals
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def install(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def _handler(self, signum, frame):  # noqa: ARG002
        if self.signal is not None and signum == signal.SIGINT:  # second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self.signal = signum

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else ""

    def __enter__(self) -> "StopFlag":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.restore()


class Deadline:
    """A wall-clock budget of ``seconds`` from now (None: none)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.start = time.time()

    def passed(self) -> bool:
        return self.seconds is not None and time.time() - self.start >= self.seconds


class StepGuard:
    """The checks of a hand-written training loop at each step boundary: the planned steps, this invocation's
    time budget (seconds or None) and SIGTERM; ``reason`` says why the loop stopped; :meth:`checkpoint_due` is
    True every ``checkpoint_minutes``.

        with StepGuard(cfg.steps, cfg.time_budget, 3.0) as guard:
            while not guard.stop_before(run.step):
                ...one step...
                if guard.checkpoint_due():
                    save()
    """

    def __init__(self, planned: int, seconds: float | None, checkpoint_minutes: float):
        self.planned, self.checkpoint_seconds = planned, checkpoint_minutes * 60.0
        self.flag = StopFlag((signal.SIGTERM,))
        self.deadline = Deadline(seconds)
        self.reason = "planned steps done"
        self._last = time.time()

    def __enter__(self) -> "StepGuard":
        self.flag.install()
        return self

    def __exit__(self, *exc) -> None:
        self.flag.restore()

    @property
    def signalled(self) -> bool:
        return self.flag.signal is not None

    def stop_before(self, step: int) -> bool:
        """True (with ``reason`` set) when the loop must not take step ``step``."""
        if step >= self.planned:
            self.reason = "planned steps done"
        elif self.deadline.passed():
            self.reason = "time budget spent"
        elif self.signalled:
            self.reason = "SIGTERM"
        else:
            return False
        return True

    def checkpoint_due(self) -> bool:
        if time.time() - self._last > self.checkpoint_seconds:
            self._last = time.time()
            return True
        return False


def append_log(path: str | Path, record: dict) -> None:
    """Append ``record`` as one JSON line to ``path`` (a run's ``log.jsonl``), creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def setup_process(threads: int | None = None, nice: int = 0) -> None:
    """torch CPU threads (when given) and a lower priority (``nice`` > 0) for a training process."""
    if threads and threads > 0:
        set_threads(int(threads))
    if nice > 0:
        try:
            os.nice(nice)
        except OSError:
            pass


# ------------------------------------------------------------------------------------------ the loop
@dataclass
class RunConfig:
    """What the trainings share. ``minutes``: wall-clock budget of this invocation (None: until the plan is
    done); ``epochs``: planned length; ``checkpoint_minutes``: interval of the atomic checkpoints; ``extra``:
    the trainer's own settings (kept in the checkpoint)."""

    data: str = ".cache/data128"
    out: str | None = None
    run_dir: str = ".cache/runs/classifier"
    minutes: float | None = 30.0
    epochs: float = 12.0
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 5e-4
    warmup: float = 0.03
    bf16: bool = True
    threads: int = 2
    seed: int = 0
    checkpoint_minutes: float = 3.0
    log_every: int = 20
    limit: int | None = None
    val_limit: int | None = None
    extra: dict = field(default_factory=dict)


def adamw(net: torch.nn.Module, cfg: RunConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weights (ndim > 1) only, not on biases and norms."""
    decay = [p for p in net.parameters() if p.ndim > 1]
    no_decay = [p for p in net.parameters() if p.ndim <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)


class EpochSampler:
    """Batch indices for a step: a fresh seeded permutation per epoch, so a resumed run draws the same batches."""

    def __init__(self, n: int, batch: int, steps_per_epoch: int, seed: int):
        self.n, self.batch_size, self.steps_per_epoch, self.seed = n, batch, steps_per_epoch, seed
        self._epoch, self._perm = None, None

    def batch(self, step: int) -> torch.Tensor:
        epoch, k = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        return self._perm[k * self.batch_size:(k + 1) * self.batch_size]


def planned_rate(cfg: RunConfig, progress: float) -> float:
    """Learning rate at ``progress`` (0 to 1) of the plan: linear warm-up over ``cfg.warmup``, then a cosine down
    to 2 % of ``cfg.lr``."""
    w = cfg.warmup
    if progress < w:
        return min(cfg.lr, cfg.lr * (progress + 1e-3) / w)
    return min(cfg.lr, cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (progress - w) / (1 - w)))))


class Runner:
    """The resumable loop: ``step_fn(step, gen) -> dict of floats`` does one optimisation step."""

    def __init__(self, cfg: RunConfig, model: torch.nn.Module, opt: torch.optim.Optimizer, n_train: int,
                 what: str, log=print):
        self.cfg, self.model, self.opt, self.what, self.log = cfg, model, opt, what, log
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt = self.run_dir / CHECKPOINT
        self.steps_per_epoch = max(1, n_train // cfg.batch)
        self.step = 0
        self.total_steps: int | None = None
        self.plan_seconds: float | None = None
        self.seconds = 0.0
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.resumed = False
        if self.ckpt.is_file():
            self._load()
            extend = float(cfg.extra.get("extend_minutes") or 0) * 60.0
            if extend > 0:  # lengthen the plan by training time only: a warm restart of the cosine
                self.total_steps = None
                self.plan_seconds = max(self.plan_seconds or 0.0, self.seconds) + extend
                self.log(f"{self.what}: plan extended by {extend / 60:.1f} min (progress now {self.progress():.2f})")

    def _load(self) -> None:
        st = read_state(self.ckpt, f"{self.what} training checkpoint")
        try:
            self.model.load_state_dict(st["model"])
            self.opt.load_state_dict(st["opt"])
            self.step, self.total_steps, self.seconds = int(st["step"]), st["total_steps"], st.get("seconds", 0.0)
            self.plan_seconds = st.get("plan_seconds", self.cfg.minutes * 60.0 if self.cfg.minutes else None)
            self.gen.set_state(st["gen"])
        except Exception as exc:  # noqa: BLE001
            raise FaceEditError(f"cannot resume from {self.ckpt}: {type(exc).__name__}: {exc} "
                                "(delete it or choose another --run-dir)") from None
        self.resumed = True
        self.log(f"{self.what}: resuming from {self.ckpt} at step {self.step}/{self.total_steps}")

    def save(self) -> None:
        save_checkpoint(self.ckpt, {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                                    "step": self.step, "total_steps": self.total_steps,
                                    "plan_seconds": self.plan_seconds, "seconds": self.seconds,
                                    "gen": self.gen.get_state(), "config": asdict(self.cfg)})

    def progress(self) -> float:
        """Fraction of the plan done: steps or training seconds, whichever is further along."""
        p = self.step / self.total_steps if self.total_steps else 0.0
        if self.plan_seconds:
            p = max(p, self.seconds / self.plan_seconds)
        return min(1.0, p)

    def run(self, step_fn: Callable[[int, torch.Generator], dict]) -> bool:
        """Train until the plan is done or this invocation's budget is spent; True when the plan is complete.

        The plan (fixed at the first run, kept on resume): ``epochs`` worth of steps and, with ``minutes``, that
        many minutes of training time — whichever ends first. The learning rate follows a warm-up + cosine over
        the plan's progress (:func:`planned_rate`), so a run on a busy CPU still anneals fully inside its time
        budget.
        """
        from tqdm import tqdm

        cfg = self.cfg
        budget = None if cfg.minutes is None else cfg.minutes * 60.0
        if not self.resumed:
            self.total_steps = max(1, int(round(cfg.epochs * self.steps_per_epoch)))
            self.plan_seconds = budget
        elif not self.total_steps and not self.plan_seconds:
            raise FaceEditError(f"{self.ckpt} holds no training plan; start afresh with --fresh")
        deadline = Deadline(budget)
        last_ckpt = time.time()
        acc: dict[str, float] = {}
        n_acc = 0
        t_log = time.time()
        bar = tqdm(total=1000, initial=int(1000 * self.progress()), desc=f"train {self.what}", unit="‰",
                   dynamic_ncols=True, mininterval=2)
        self.model.train()
        stop = StopFlag(signals=(signal.SIGTERM,))
        try:
            with stop:
                while self.progress() < 1.0 and not deadline.passed():
                    if stop.signal is not None:
                        self.log(f"{self.what}: stopped by SIGTERM at step {self.step}; resume with the same "
                                 "--run-dir")
                        break
                    lr = planned_rate(cfg, self.progress())
                    for g in self.opt.param_groups:
                        g["lr"] = lr
                    t0 = time.time()
                    out = step_fn(self.step, self.gen)
                    self.seconds += time.time() - t0
                    self.step += 1
                    n_acc += 1
                    for k, v in out.items():
                        acc[k] = acc.get(k, 0.0) + float(v)
                    bar.update(int(1000 * self.progress()) - bar.n)
                    if self.step % cfg.log_every == 0:
                        append_log(self.run_dir / LOG, {
                            "step": self.step, "epoch": round(self.step / self.steps_per_epoch, 3),
                            "progress": round(self.progress(), 4), "lr": lr,
                            "img_per_s": round(cfg.batch * n_acc / max(1e-9, time.time() - t_log), 1),
                            **{k: v / n_acc for k, v in acc.items()}, "train_seconds": round(self.seconds, 1),
                            "time": round(time.time(), 1)})
                        bar.set_postfix({"step": self.step, **{k: f"{v / n_acc:.4f}" for k, v in acc.items()}})
                        acc, n_acc, t_log = {}, 0, time.time()
                    if time.time() - last_ckpt > cfg.checkpoint_minutes * 60:
                        self.save()
                        last_ckpt = time.time()
        finally:
            bar.close()
            if self.step > 0:
                self.save()
        if stop.signal is not None:
            raise FaceEditError(f"{self.what} training stopped by SIGTERM (checkpoint saved in {self.run_dir})")
        return self.progress() >= 1.0


__all__ = ["CHECKPOINT", "Deadline", "EpochSampler", "LICENCE", "LOG", "RunConfig", "Runner", "StepGuard", "StopFlag", "adamw",
           "append_log", "planned_rate", "setup_process"]
