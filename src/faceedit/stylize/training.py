"""Train a feed-forward style network for one painting (``faceedit train style``): Johnson et al. 2016.

Data: photos of faces — the ``orig`` photos of the train split of a ``faceedit data build`` folder (CelebA
178×218 and CelebAMask-HQ 256 px; identity-disjoint from its val split, which gives the held-out photos the card's
losses are measured on), or any folder of photos. Each photo is decoded once, centre-cropped to a square, resized
to 1.25 × ``size`` and cached in the run folder as one ``.npy``; a training batch takes random crops (60–100 % of
the side, resized to ``size``) with random x-flips.

Loss per batch: the perceptual loss of :mod:`faceedit.stylize.losses` with Johnson's layers (content relu2_2,
style relu1_2 / relu2_2 / relu3_3 / relu4_3; VGG under bfloat16 autocast) plus a *stability* term (Gupta et al.
2017): the mean squared change of the output when the input gets Gaussian noise of σ ``stability_sigma``, so that
the small changes between video frames do not make the textures flicker.

Runs are resumable: ``RUN_DIR/checkpoint.pt`` (atomic; read with the project's restricted loader) holds the network,
the optimiser, the step, the RNG, the elapsed wall and CPU seconds and the configuration with the style image's
sha256 (a resume with another style is refused). ``RUN_DIR/log.jsonl`` gets one line per ``log_every`` steps. A run
stops at its planned ``steps``, at ``time_budget`` seconds of this invocation, or on SIGTERM, and then exports the
fp16 network with its card (measured losses included) to ``out``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from faceedit.threads import set_threads
from faceedit.atomic import atomic_path
from faceedit.errors import FaceEditError
from faceedit.train.runner import StepGuard, append_log
from faceedit.stylize.johnson import PRESETS, TransformNet, parameter_count, save_style_model
from faceedit.stylize.losses import JOHNSON_CONTENT, JOHNSON_STYLE, LossWeights, PerceptualLoss

WEIGHTS_LICENCE = ("research-only: trained on CelebA / CelebAMask-HQ photos (non-commercial research use only); "
                   "the weights inherit that restriction")


@dataclass
class StyleTrainConfig:
    """One training run. ``size``: training crop side (px); ``style_size``: long side the style image is resized
    to (None: 2 × size); ``steps``: planned length (steps of ``batch`` crops); ``time_budget``: seconds of this
    invocation (None: no limit); ``weights``: content / style / TV weights; ``stability``: weight of the noise
    stability term (0: off); ``images``: photos cached for training; ``preset``: 'slim' or 'johnson'."""

    style: str
    out: str
    run_dir: str = "runs/style"
    data: str = ".cache/data128"
    size: int = 128
    style_size: int | None = None
    batch: int = 4
    lr: float = 1e-3
    steps: int = 2000
    time_budget: float | None = None
    weights: dict = field(default_factory=lambda: {"content": 1.0, "style": 20.0, "tv": 1.0})
    stability: float = 50.0
    stability_sigma: float = 0.04
    preset: str = "slim"
    images: int = 4000
    val_images: int = 16
    threads: int = 1
    seed: int = 0
    bf16: bool = True
    vgg: str | None = None
    checkpoint_minutes: float = 3.0
    log_every: int = 10
    style_note: str = ""
    title: str = ""
    artist: str = ""
    progress: bool = True

    def check(self) -> None:
        from faceedit.limits import check_float, check_int

        check_int(self.size, "--size", 32, 1024)
        if self.style_size is not None:
            check_int(self.style_size, "--style-size", 32, 2048)
        check_int(self.batch, "--batch", 1, 64)
        check_int(self.steps, "--steps", 1, 10_000_000)
        check_int(self.images, "--images", 1, 200_000)
        check_float(self.lr, "--lr", 0.0, 1.0, lo_open=True)
        check_float(self.stability, "--stability-weight", 0.0, 1e9)
        if self.preset not in PRESETS:
            raise FaceEditError(f"unknown --arch {self.preset!r}: use {', '.join(PRESETS)}")
        LossWeights(**self.weights)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------- data

def photo_paths(data: str | os.PathLike, split: str) -> list[Path]:
    """Photos of ``split`` ('train' / 'val'): a build folder's manifest rows (their ``orig`` photo when it exists,
    else the aligned image), or every image in a plain folder (all of them for 'train', none for 'val')."""
    from faceedit.align.image import is_image_name

    p = Path(data)
    if not p.exists():
        raise FaceEditError(f"training photos not found: {p}")
    manifest = p / "manifest.jsonl" if p.is_dir() else p
    if manifest.is_file() and manifest.name == "manifest.jsonl":
        from faceedit.data import read_manifest

        out = []
        for row in read_manifest(manifest):
            if row.get("split", "train") != split:
                continue
            orig = row.get("orig")
            cand = [manifest.parent / orig, manifest.parent.parent.parent / orig] if orig else []
            cand.append(manifest.parent / row["path"])
            found = next((c for c in cand if c.is_file()), None)
            if found is not None:
                out.append(found)
        return out
    if not p.is_dir():
        raise FaceEditError(f"{p}: expected a 'faceedit data build' folder or a folder of photos")
    return sorted(q for q in p.rglob("*") if q.is_file() and is_image_name(q)) if split == "train" else []


def square_crop(img: np.ndarray, side: int) -> np.ndarray:
    """The centre square of ``img`` (H×W×3 uint8) resized to ``side``² (Lanczos)."""
    from PIL import Image

    h, w = img.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    im = Image.fromarray(img[y0:y0 + s, x0:x0 + s])
    return np.asarray(im.resize((side, side), Image.LANCZOS), dtype=np.uint8)


def load_photos(paths: list[Path], side: int, cache: Path | None, log=print, progress: bool = True) -> np.ndarray:
    """``uint8 [N, 3, side, side]`` centre squares of ``paths`` (unreadable files skipped), cached as .npy."""
    from tqdm import tqdm

    from faceedit.align.image import load_image

    key = hashlib.sha1(json.dumps([side] + [str(p) for p in paths]).encode()).hexdigest()[:12]
    cfile = cache / f"photos-{side}-{key}.npy" if cache is not None else None
    if cfile is not None and cfile.is_file():
        return np.load(cfile, allow_pickle=False)
    out = []
    for p in tqdm(paths, desc="load photos", unit="img", disable=not progress, mininterval=2, dynamic_ncols=True):
        try:
            out.append(square_crop(load_image(p), side).transpose(2, 0, 1))
        except FaceEditError as exc:
            log(f"skip: {p}: {exc}")
    if not out:
        raise FaceEditError("no readable training photos")
    arr = np.stack(out)
    if cfile is not None:
        cache.mkdir(parents=True, exist_ok=True)
        with atomic_path(cfile) as tmp:
            np.save(tmp, arr)
    return arr


def random_crops(photos: torch.Tensor, n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` random crops (60–100 % of the side, random position, random x-flip) of uint8 ``photos``
    [M, 3, S, S], resized to ``size``² → float [n, 3, size, size] in [-1, 1]."""
    m, _, s, _ = photos.shape
    idx = torch.randint(m, (n,), generator=gen)
    out = []
    for i in idx.tolist():
        side = int(s * (0.6 + 0.4 * float(torch.rand(1, generator=gen))))
        y = int(torch.randint(s - side + 1, (1,), generator=gen))
        x = int(torch.randint(s - side + 1, (1,), generator=gen))
        crop = photos[i:i + 1, :, y:y + side, x:x + side].float() / 127.5 - 1.0
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size)
        if float(torch.rand(1, generator=gen)) < 0.5:
            crop = crop.flip(-1)
        out.append(crop)
    return torch.cat(out).clamp(-1, 1)


def load_style_image(path: str | os.PathLike, long_side: int) -> torch.Tensor:
    """The style image as float [1, 3, h, w] in [-1, 1], its long side resized to ``long_side``."""
    from faceedit.align.image import load_image
    from faceedit.stylize.images import check_rgb, resize, to_tensor, working_shape

    img = check_rgb(load_image(path), f"style image {path}")
    x = to_tensor(img)
    return resize(x, working_shape(*img.shape[:2], long_side, 4096, "--style-size"))


def data_description(data: str | os.PathLike, photos: int) -> str:
    """What the card says about the training photos: the folder's name and the count, no machine path."""
    p = Path(data)
    kind = "train split of the 'faceedit data build' folder" if (p / "manifest.jsonl").is_file() else "folder"
    return f"{photos} photos: {kind} {p.name!r} (original photos, centre squares)"


# ----------------------------------------------------------------------------------------------------- measure

def measure(net: TransformNet, loss: PerceptualLoss, photos: torch.Tensor, batch: int = 4) -> dict[str, float]:
    """Mean content, style, TV and total loss of ``net`` on float ``photos`` [N, 3, S, S], and the stability:
    mean |T(x + noise) − T(x)| / mean |noise| for σ = 0.02 noise (1 would pass noise through unchanged)."""
    sums: dict[str, float] = {}
    ratio_num = ratio_den = 0.0
    g = torch.Generator().manual_seed(1234)
    net.eval()
    with torch.no_grad():
        for i in range(0, len(photos), batch):
            x = photos[i:i + batch]
            y = net(x)
            terms = loss(y, loss.content_targets(x))
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.sum())
            noise = torch.randn(x.shape, generator=g) * 0.02
            ratio_num += float((net(x + noise) - y).abs().mean()) * len(x)
            ratio_den += float(noise.abs().mean()) * len(x)
    out = {k: round(v / len(photos), 5) for k, v in sums.items()}
    out["noise_gain"] = round(ratio_num / max(ratio_den, 1e-12), 4)
    return out


# ----------------------------------------------------------------------------------------------------- train

class _Run:
    """Checkpoint state of a run: the step, elapsed seconds and the RNG (the network and optimiser live outside)."""

    def __init__(self, cfg: StyleTrainConfig, style_sha: str):
        self.cfg, self.style_sha = cfg, style_sha
        self.dir = Path(cfg.run_dir)
        self.ckpt = self.dir / "checkpoint.pt"
        self.step = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.photos = 0
        self.gen = torch.Generator().manual_seed(int(cfg.seed))

    def save(self, net: TransformNet, opt: torch.optim.Optimizer) -> None:
        from faceedit.train.checkpoint import save_checkpoint

        save_checkpoint(self.ckpt, {"kind": "style", "model": net.state_dict(), "opt": opt.state_dict(),
                                    "step": self.step, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                                    "gen": self.gen.get_state(), "style_sha256": self.style_sha,
                                    "net_config": net.cfg.to_dict(), "config": asdict(self.cfg)})

    def load(self, net: TransformNet, opt: torch.optim.Optimizer) -> dict:
        from faceedit.train.checkpoint import load_checkpoint

        st = load_checkpoint(self.ckpt)
        if st.get("kind") != "style":
            raise FaceEditError(f"{self.ckpt} is not a style training checkpoint")
        if st.get("style_sha256") != self.style_sha:
            raise FaceEditError(f"{self.ckpt} was trained on another style image (sha256 "
                                f"{str(st.get('style_sha256'))[:12]}…, this one {self.style_sha[:12]}…)")
        if st.get("net_config") != net.cfg.to_dict():
            raise FaceEditError(f"{self.ckpt} holds a network of another shape ({st.get('net_config')}); use the "
                                "same --arch")
        try:
            net.load_state_dict(st["model"])
            opt.load_state_dict(st["opt"])
            self.gen.set_state(st["gen"])
            self.step, self.seconds = int(st["step"]), float(st["seconds"])
            self.cpu_seconds = float(st.get("cpu_seconds", 0.0))
        except Exception as exc:  # noqa: BLE001 - any mismatch inside the file is the file's fault
            raise FaceEditError(f"cannot resume from {self.ckpt}: {type(exc).__name__}: {exc}") from None
        return st.get("config") or {}


def train_style(cfg: StyleTrainConfig, resume: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or, with ``resume``, continue) a style network and export it with its card. Returns the card."""
    from tqdm import tqdm

    from faceedit.features import load_vgg

    cfg.check()
    if cfg.threads and cfg.threads > 0:
        set_threads(int(cfg.threads))
    style_path = Path(cfg.style)
    if not style_path.is_file():
        raise FaceEditError(f"style image not found: {style_path}")
    style_sha = file_sha256(style_path)
    style_side = int(cfg.style_size or 2 * cfg.size)
    style = load_style_image(style_path, style_side)
    run = _Run(cfg, style_sha)
    if run.ckpt.is_file() and not resume:
        raise FaceEditError(f"{run.dir} already holds a training checkpoint: add --resume to continue it, or choose "
                            "another --run-dir")
    if resume and not run.ckpt.is_file():
        raise FaceEditError(f"nothing to resume: {run.ckpt} does not exist")
    torch.manual_seed(int(cfg.seed))
    net = TransformNet(PRESETS[cfg.preset])
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    if resume:
        run.load(net, opt)
        log(f"style: resuming {run.dir} at step {run.step}/{cfg.steps}")
    vgg = load_vgg(cfg.vgg)
    weights = LossWeights(**cfg.weights)
    loss = PerceptualLoss(vgg, style, weights, JOHNSON_CONTENT, JOHNSON_STYLE, autocast_bf16=cfg.bf16)
    cache = run.dir / "cache"
    train_paths = photo_paths(cfg.data, "train")
    if not train_paths:
        raise FaceEditError(f"{cfg.data}: no training photos found")
    rng = np.random.default_rng(int(cfg.seed))
    if len(train_paths) > cfg.images:
        train_paths = [train_paths[i] for i in sorted(rng.choice(len(train_paths), cfg.images, replace=False))]
    side = int(round(cfg.size * 1.25))
    photos = torch.from_numpy(load_photos(train_paths, side, cache, log, cfg.progress))
    run.photos = len(photos)
    log(f"style: {len(photos)} training photos, crops of {cfg.size} px, style image at {style_side} px, "
        f"{cfg.preset} network ({parameter_count(net):,} parameters)")

    guard = StepGuard(cfg.steps, cfg.time_budget, cfg.checkpoint_minutes)
    bar = tqdm(total=cfg.steps, initial=min(run.step, cfg.steps), desc="train style", unit="step",
               disable=not cfg.progress, mininterval=2, dynamic_ncols=True)
    acc: dict[str, float] = {}
    net.train()
    try:
        with guard:
            while not guard.stop_before(run.step):
                t0, c0 = time.time(), time.process_time()
                for g in opt.param_groups:  # constant, then linear decay to 10 % over the last fifth of the plan
                    g["lr"] = cfg.lr * min(1.0, max(0.1, (cfg.steps - run.step) / (0.2 * cfg.steps)))
                x = random_crops(photos, cfg.batch, cfg.size, run.gen)
                y = net(x)
                terms = loss(y, loss.content_targets(x))
                total = terms["total"].mean()
                if cfg.stability > 0:
                    noise = torch.randn(x.shape, generator=run.gen) * cfg.stability_sigma
                    stab = (net(x + noise) - y).pow(2).mean()
                    total = total + cfg.stability * stab
                    terms["stability"] = stab.detach().expand(len(x))
                if not math.isfinite(float(total.detach())):
                    raise FaceEditError(f"style training diverged at step {run.step} (loss "
                                        f"{float(total.detach())}); try a smaller --lr or --style-weight")
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                run.step += 1
                run.seconds += time.time() - t0
                run.cpu_seconds += time.process_time() - c0
                for k, v in terms.items():
                    acc[k] = acc.get(k, 0.0) + float(v.detach().mean())
                bar.update(1)
                if run.step % cfg.log_every == 0:
                    rec = {"step": run.step, **{k: round(v / cfg.log_every, 5) for k, v in acc.items()},
                           "train_seconds": round(run.seconds, 1), "cpu_seconds": round(run.cpu_seconds, 1),
                           "time": round(time.time(), 1)}
                    append_log(run.dir / "log.jsonl", rec)
                    bar.set_postfix({k: f"{v / cfg.log_every:.3f}" for k, v in acc.items() if k != "tv"})
                    acc = {}
                if guard.checkpoint_due():
                    run.save(net, opt)
    finally:
        bar.close()
        if run.step > 0:
            run.save(net, opt)
    net.eval()
    card = export(cfg, net, run, loss, style_path, style_sha, style_side, guard.reason, log)
    if guard.signalled:
        raise FaceEditError(f"style training stopped by SIGTERM at step {run.step} (checkpoint and {cfg.out} "
                            "written; continue with --resume)")
    return card


def export(cfg: StyleTrainConfig, net: TransformNet, run: _Run, loss: PerceptualLoss, style_path: Path,
           style_sha: str, style_side: int, reason: str, log: Callable[[str], None]) -> dict[str, Any]:
    """Write the fp16 network and its card (losses measured on held-out photos with the fp16 weights)."""
    from faceedit.stylize.johnson import load_style_model

    val_paths = photo_paths(cfg.data, "val")[:cfg.val_images]
    card: dict[str, Any] = {
        "name": Path(cfg.out).name.removesuffix(".safetensors"),
        "task": "feed-forward style transfer (Johnson et al. 2016): RGB [-1, 1] → stylised RGB, any size",
        "style": {"file": style_path.name, "sha256": style_sha, "long_side_px": style_side, "title": cfg.title,
                  "artist": cfg.artist},
        "architecture": {"preset": cfg.preset, "config": net.cfg.to_dict(), "parameters": parameter_count(net),
                         "multiply_adds_256px": net.multiply_adds(256, 256)},
        "loss": {"weights": dict(cfg.weights), "content_layers": list(JOHNSON_CONTENT),
                 "style_layers": list(JOHNSON_STYLE), "stability_weight": cfg.stability,
                 "stability_sigma": cfg.stability_sigma, "vgg": "Oxford VGG16 (caffe)" if cfg.vgg is None else Path(cfg.vgg).name,
                 "vgg_bf16_autocast": cfg.bf16},
        "training": {"size": cfg.size, "batch": cfg.batch, "lr": cfg.lr, "steps": run.step,
                     "planned_steps": cfg.steps, "complete": run.step >= cfg.steps, "stopped": reason,
                     "train_seconds": round(run.seconds, 1), "cpu_seconds": round(run.cpu_seconds, 1),
                     "images_seen": run.step * cfg.batch, "data": data_description(cfg.data, run.photos),
                     "machine": f"CPU, {torch.get_num_threads()} thread(s), shared"},
        "licence": {"weights": WEIGHTS_LICENCE, "style_image": cfg.style_note or "see the painting's own status"},
    }
    save_style_model(cfg.out, net, card)
    if val_paths:
        val = torch.from_numpy(load_photos(val_paths, cfg.size, None, log, False)).float() / 127.5 - 1.0
        model = load_style_model(cfg.out)
        card["validation"] = {"photos": len(val), "split": "val (held out)", **measure(model.net, loss, val)}
        save_style_model(cfg.out, net, card)
        v = card["validation"]
        log(f"style: wrote {cfg.out} (step {run.step}; held-out content {v['content']:.4f}, style {v['style']:.4f}, "
            f"noise gain {v['noise_gain']:.3f})")
    else:
        log(f"style: wrote {cfg.out} (step {run.step}; no held-out photos to measure)")
    return card
