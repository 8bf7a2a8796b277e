"""Train the 40-attribute classifier on the project's FFHQ-aligned CelebA faces (``faceedit train classifier``).

Data: a build folder of ``faceedit data build`` (its ``manifest.jsonl``; while a build is still running, its
``records.jsonl`` plus the raw labels), a manifest file, or a pack. Rows with CelebA ``attributes`` are used; the
manifest's identity-disjoint ``split`` gives train and validation. Images are decoded once into memory (cached in
the run folder as ``.npy``) and augmented on the batch: x-flip, small affine (scale, rotation, shift) and colour
jitter.

Runs are resumable: ``<run-dir>/checkpoint.pt`` (atomic) holds model, optimiser, step and the planned schedule
(warm-up + cosine over ``total_steps``, fixed at the first run from ``--epochs`` and, with ``--minutes``, the
measured speed); ``<run-dir>/log.jsonl`` one line per log interval. At the end (plan done or time up) the fp16
weights are exported with a card holding per-attribute validation accuracy, balanced accuracy and the
majority-class baseline, measured on the exported (fp16-rounded) weights.

The helpers here (data loading, augmentation, schedule, the run loop) are shared with
:mod:`faceedit.train.parser`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from faceedit.atomic import atomic_path
from faceedit.errors import FaceEditError

LICENCE = ("research-only: trained on CelebA / CelebAMask-HQ, which are for non-commercial research use only; "
           "the weights inherit that restriction")


# ----------------------------------------------------------------------------------------------- data

def read_rows(data: str | os.PathLike) -> tuple[list[dict], Path, str]:
    """Manifest rows of ``data`` → ``(rows, root folder for relative paths, how they were found)``.

    A build folder without ``manifest.jsonl`` but with ``records.jsonl`` (a build still running) is read from
    its records plus the raw sources' labels, with the same identity split the finished build will write.
    """
    from faceedit.data import read_manifest

    p = Path(data)
    if not p.exists():
        raise FaceEditError(f"training data not found: {p} (build it with 'faceedit data build')")
    if p.is_dir() and not (p / "manifest.jsonl").is_file():
        if not (p / "records.jsonl").is_file():
            raise FaceEditError(f"{p} has neither manifest.jsonl nor records.jsonl (not a 'faceedit data build' "
                                "folder)")
        return _rows_in_progress(p), p, "records.jsonl (build in progress)"
    if p.is_file() and p.suffix.lower() in (".zip", ".tar"):
        return read_manifest(p), p, "pack"
    rows = read_manifest(p)
    return rows, (p if p.is_dir() else p.parent), "manifest.jsonl"


def _rows_in_progress(folder: Path) -> list[dict]:
    from faceedit.data.build import _manifest_rows, read_records
    from faceedit.data.sources import list_items

    info = {}
    if (folder / "build_info.json").is_file():
        info = json.loads((folder / "build_info.json").read_text())
    src = Path(info.get("src", "../shared/data"))
    if not src.is_absolute():
        src = (Path.cwd() / src) if (Path.cwd() / src).is_dir() else (folder / src)
    recs = read_records(folder)
    items, _ = list_items(src, tuple(info.get("sources") or ("celebamask-hq", "celeba", "celeba-89x109")))
    return _manifest_rows(items, recs, int(info.get("size", 128)), float(info.get("val_fraction", 0.1)))


def _reader(data: Path, root: Path) -> Callable[[str], bytes]:
    if data.is_file() and data.suffix.lower() in (".zip", ".tar"):
        from faceedit.data.datasets import _Archive

        arch = _Archive(data)
        return arch.read
    return lambda rel: (root / rel).read_bytes()


def load_arrays(rows: list[dict], data: Path, root: Path, size: int, cache_dir: Path | None, what: str,
                with_masks: bool = False, log=print) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode ``rows`` into ``uint8 [N, 3, size, size]`` (and ``uint8 [N, size, size]`` masks), cached as .npy
    in ``cache_dir`` under a hash of the file list."""
    import io

    from PIL import Image
    from tqdm import tqdm

    key = hashlib.sha1(json.dumps([str(data), size, with_masks] + [r["path"] for r in rows]).encode()).hexdigest()[:12]
    cimg = cmask = None
    if cache_dir is not None:
        cimg, cmask = cache_dir / f"{what}-{key}-img.npy", cache_dir / f"{what}-{key}-mask.npy"
        if cimg.is_file() and (not with_masks or cmask.is_file()):
            return np.load(cimg, allow_pickle=False), (np.load(cmask, allow_pickle=False) if with_masks else None)
    read = _reader(data, root)
    imgs = np.zeros((len(rows), 3, size, size), np.uint8)
    masks = np.zeros((len(rows), size, size), np.uint8) if with_masks else None
    for i, r in enumerate(tqdm(rows, desc=f"load {what}", unit="img", dynamic_ncols=True, mininterval=2)):
        try:
            im = Image.open(io.BytesIO(read(r["path"]))).convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.LANCZOS)
            imgs[i] = np.asarray(im).transpose(2, 0, 1)
            if with_masks:
                m = Image.open(io.BytesIO(read(r["mask"])))
                if m.size != (size, size):
                    m = m.resize((size, size), Image.NEAREST)
                masks[i] = np.asarray(m)
        except FaceEditError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise FaceEditError(f"cannot read training image {r['path']}: {type(exc).__name__}: {exc}") from None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(cimg) as tmp:
            np.save(tmp, imgs)
        if with_masks:
            with atomic_path(cmask) as tmp:
                np.save(tmp, masks)
    return imgs, masks


# ----------------------------------------------------------------------------------------------- augmentation

def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1.0


def random_affine(n: int, gen: torch.Generator, scale: float = 0.06, rotate: float = 6.0, shift: float = 0.04,
                  flip: torch.Tensor | None = None) -> torch.Tensor:
    """``[n, 2, 3]`` theta for ``F.affine_grid``: random zoom ±scale, rotation ±rotate degrees, shift ±shift (as a
    fraction of the side), mirrored where ``flip``."""
    s = 1.0 + (torch.rand(n, generator=gen) * 2 - 1) * scale
    a = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(rotate)
    t = (torch.rand(n, 2, generator=gen) * 2 - 1) * shift * 2
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    theta[:, :, 2] = t
    if flip is not None:
        theta[flip, :, 0] *= -1
    return theta


def colour_jitter(x: torch.Tensor, gen: torch.Generator, strength: float = 0.1) -> torch.Tensor:
    """Brightness, contrast and saturation jitter (±strength) on float images in [-1, 1]."""
    n = x.shape[0]

    def r():
        return ((torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * strength).to(x.dtype)

    x = x + r() * 2
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + r()) + mean
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (1 + 2 * r()) + grey
    return x.clamp(-1, 1)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)


# ----------------------------------------------------------------------------------------------- run loop

@dataclass
class RunConfig:
    """What both trainings share. ``minutes``: wall-clock budget of this invocation (None: until the plan is
    done); ``epochs``: planned length; ``checkpoint_minutes``: interval of the atomic checkpoints."""

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


def adamw(net: torch.nn.Module, cfg) -> torch.optim.AdamW:
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


class Runner:
    """The resumable loop: ``step_fn(step, gen) -> dict of floats`` does one optimisation step."""

    def __init__(self, cfg: RunConfig, model: torch.nn.Module, opt: torch.optim.Optimizer, n_train: int,
                 what: str, log=print):
        self.cfg, self.model, self.opt, self.what, self.log = cfg, model, opt, what, log
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt = self.run_dir / "checkpoint.pt"
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
        from faceedit.train.checkpoint import read_state

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
        st = {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "step": self.step,
              "total_steps": self.total_steps, "plan_seconds": self.plan_seconds, "seconds": self.seconds,
              "gen": self.gen.get_state(),
              "config": asdict(self.cfg)}
        with atomic_path(self.ckpt) as tmp:
            torch.save(st, tmp)

    def _log_line(self, rec: dict) -> None:
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")

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
        the plan's progress, so a run on a busy CPU still anneals fully inside its time budget.
        """
        from tqdm import tqdm

        cfg = self.cfg
        budget = None if cfg.minutes is None else cfg.minutes * 60.0
        if not self.resumed:
            self.total_steps = max(1, int(round(cfg.epochs * self.steps_per_epoch)))
            self.plan_seconds = budget
        elif not self.total_steps and not self.plan_seconds:
            raise FaceEditError(f"{self.ckpt} holds no training plan; start afresh with --fresh")
        t_start = time.time()
        last_ckpt = t_start
        acc: dict[str, float] = {}
        n_acc = 0
        t_log = time.time()
        bar = tqdm(total=1000, initial=int(1000 * self.progress()), desc=f"train {self.what}", unit="‰",
                   dynamic_ncols=True, mininterval=2)
        self.model.train()
        stop = []
        old_handler = None
        if threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        try:
            while self.progress() < 1.0:
                if budget is not None and time.time() - t_start >= budget:
                    break
                if stop:
                    self.log(f"{self.what}: stopped by SIGTERM at step {self.step}; resume with the same --run-dir")
                    break
                p = self.progress()
                w = cfg.warmup
                lr = cfg.lr * (p + 1e-3) / w if p < w else \
                    cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (p - w) / (1 - w))))
                lr = min(lr, cfg.lr)
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
                    rec = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 3),
                           "progress": round(self.progress(), 4), "lr": lr,
                           "img_per_s": round(cfg.batch * n_acc / max(1e-9, time.time() - t_log), 1),
                           **{k: v / n_acc for k, v in acc.items()}, "train_seconds": round(self.seconds, 1),
                           "time": round(time.time(), 1)}
                    self._log_line(rec)
                    bar.set_postfix({"step": self.step, **{k: f"{v / n_acc:.4f}" for k, v in acc.items()}})
                    acc, n_acc, t_log = {}, 0, time.time()
                if time.time() - last_ckpt > cfg.checkpoint_minutes * 60:
                    self.save()
                    last_ckpt = time.time()
        finally:
            bar.close()
            if old_handler is not None:
                signal.signal(signal.SIGTERM, old_handler)
            if self.step > 0:
                self.save()
        if stop:
            raise FaceEditError(f"{self.what} training stopped by SIGTERM (checkpoint saved in {self.run_dir})")
        return self.progress() >= 1.0


def set_threads(n: int) -> None:
    if n and n > 0:
        torch.set_num_threads(int(n))


# ----------------------------------------------------------------------------------------------- classifier

def _attr_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("attributes")]


def evaluate_classifier(clf, imgs: np.ndarray, labels: np.ndarray, train_prior: np.ndarray,
                        batch: int = 128) -> dict[str, Any]:
    """Per-attribute accuracy, balanced accuracy (mean of TPR and TNR) and the majority-class baseline (predict
    the training set's majority class for everyone) on ``imgs`` (uint8) / ``labels`` (0/1)."""
    clf.eval()
    probs = []
    with torch.no_grad():
        for i in range(0, len(imgs), batch):
            probs.append(clf.probs(to_float(torch.from_numpy(imgs[i:i + batch]))).float())
    p = torch.cat(probs).numpy()
    y = labels.astype(bool)
    pred = p >= 0.5
    names = clf.attributes
    per = {}
    for j, name in enumerate(names):
        pos, neg = y[:, j], ~y[:, j]
        tpr = float((pred[pos, j]).mean()) if pos.any() else float("nan")
        tnr = float((~pred[neg, j]).mean()) if neg.any() else float("nan")
        maj = bool(train_prior[j] >= 0.5)
        per[name] = {
            "accuracy": round(float((pred[:, j] == y[:, j]).mean()), 4),
            "balanced_accuracy": round(float(np.nanmean([tpr, tnr])), 4),
            "majority_accuracy": round(float((y[:, j] == maj).mean()), 4),
            "positive_rate_val": round(float(y[:, j].mean()), 4),
            "positive_rate_train": round(float(train_prior[j]), 4),
        }
    mean = {k: round(float(np.mean([v[k] for v in per.values()])), 4)
            for k in ("accuracy", "balanced_accuracy", "majority_accuracy")}
    return {"n": int(len(imgs)), "mean": mean, "per_attribute": per, "_probs": p}


def train_classifier(cfg: RunConfig, log=print) -> dict[str, Any]:
    """Train (or resume), then export fp16 weights with a card. Returns the card."""
    from faceedit.scorers.classifier import (CELEBA_ATTRIBUTES, DEFAULT_WEIGHTS, AttributeClassifier, AttributeNet,
                                             ClassifierConfig, load_classifier)

    set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    ccfg = ClassifierConfig.from_dict(cfg.extra.get("model", {}))
    data = Path(cfg.data)
    rows, root, how = read_rows(data)
    rows = _attr_rows(rows)
    if not rows:
        raise FaceEditError(f"{data}: no rows with CelebA attributes (build the data with the celeba sources)")
    names = list(ccfg.attributes)
    missing = [n for n in names if n not in rows[0]["attributes"]]
    if missing:
        raise FaceEditError(f"{data}: attributes missing from the labels: {', '.join(missing[:5])}")
    train_rows = [r for r in rows if r.get("split", "train") == "train"]
    val_rows = [r for r in rows if r.get("split") == "val"]
    if cfg.limit:
        train_rows = train_rows[:cfg.limit]
    if cfg.val_limit:
        val_rows = val_rows[:cfg.val_limit]
    if not train_rows or not val_rows:
        raise FaceEditError(f"{data}: need both train and val rows (got {len(train_rows)} / {len(val_rows)})")
    src_size = int(rows[0].get("size") or 128)
    log(f"classifier: {len(train_rows)} train / {len(val_rows)} val images ({how}), "
        f"{len({r.get('identity') for r in train_rows})} / {len({r.get('identity') for r in val_rows})} identities")
    cache = Path(cfg.run_dir) / "cache"
    tr_img, _ = load_arrays(train_rows, data, root, src_size, cache, "clf-train", log=log)
    va_img, _ = load_arrays(val_rows, data, root, src_size, cache, "clf-val", log=log)
    tr_lab = np.array([[r["attributes"][n] for n in names] for r in train_rows], np.float32)
    va_lab = np.array([[r["attributes"][n] for n in names] for r in val_rows], np.float32)
    prior = tr_lab.mean(0)

    net = AttributeNet(ccfg)
    opt = adamw(net, cfg)
    runner = Runner(cfg, net, opt, len(train_rows), "classifier", log)
    tr_img_t, tr_lab_t = torch.from_numpy(tr_img), torch.from_numpy(tr_lab)
    sampler = EpochSampler(len(tr_img_t), cfg.batch, runner.steps_per_epoch, cfg.seed)

    def step_fn(step: int, gen: torch.Generator) -> dict:
        idx = sampler.batch(step)
        x = to_float(tr_img_t[idx])
        y = tr_lab_t[idx]
        flip = torch.rand(len(idx), generator=gen) < 0.5
        x = resize(x, ccfg.size)
        theta = random_affine(len(idx), gen, flip=flip)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        x = colour_jitter(x, gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            logits = net(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    done = runner.run(step_fn)
    # export the fp16 weights, then measure the exported network itself
    out = Path(cfg.out) if cfg.out else DEFAULT_WEIGHTS
    card = {
        "name": "faceedit attribute classifier",
        "task": "multi-label: the 40 CelebA attributes (sigmoid probabilities)",
        "input": f"float [N,3,H,W] in [-1,1], FFHQ-aligned face (faceedit.align), resized inside to {ccfg.size} px",
        "architecture": f"small ResNet, {sum(p.numel() for p in net.parameters())} parameters",
        "data": {"source": str(data), "rows_from": how, "train_images": len(train_rows), "val_images": len(val_rows),
                 "split": "identity-disjoint (manifest split: hash of the CelebA identity)",
                 "alignment": "the project's FFHQ alignment at 128 px (faceedit data build)"},
        "training": {"steps": runner.step, "planned_steps": runner.total_steps,
                     "planned_seconds": runner.plan_seconds,
                     "epochs": round(runner.step / runner.steps_per_epoch, 2), "batch": cfg.batch, "lr": cfg.lr,
                     "train_seconds": round(runner.seconds, 1), "complete": done, "bf16_autocast": cfg.bf16,
                     "augmentation": "x-flip, affine (±6% zoom, ±6°, ±4% shift), brightness/contrast/saturation "
                                     "±10%",
                     "machine": f"CPU, {torch.get_num_threads()} threads (shared)"},
        "licence": LICENCE,
    }
    net.eval()
    AttributeClassifier(net, card).save(out, card)
    clf = load_classifier(out)
    ev = evaluate_classifier(clf, va_img, va_lab, prior)
    ev.pop("_probs")
    card["validation"] = ev
    AttributeClassifier(net, card).save(out, card)
    log(f"classifier: wrote {out} (val mean accuracy {ev['mean']['accuracy']:.4f}, balanced "
        f"{ev['mean']['balanced_accuracy']:.4f}, majority baseline {ev['mean']['majority_accuracy']:.4f})")
    return card


def format_table(per: dict[str, dict]) -> str:
    """A markdown table of per-attribute validation figures."""
    lines = ["| attribute | val accuracy | balanced accuracy | majority baseline | positives (val) |",
             "|---|---|---|---|---|"]
    for name, v in per.items():
        lines.append(f"| {name} | {v['accuracy']:.3f} | {v['balanced_accuracy']:.3f} | {v['majority_accuracy']:.3f} "
                     f"| {v['positive_rate_val']:.3f} |")
    return "\n".join(lines)
