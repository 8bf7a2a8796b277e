"""Neural style transfer (faceedit.stylize): speed and losses of the Gatys optimisation and the fast networks.

Parts (``--parts``, default all):

- ``gatys``: seconds for a 512-px image to reach a fixed loss. The baseline is a straightforward implementation of
  the classic algorithm written here (the shape of the PyTorch neural-style tutorial: one scale, float32, L-BFGS
  with its default settings called in a plain loop, the image clamped in the closure) with the same loss (same
  VGG, layers, relative Gram / content losses, TV and weights). It runs ``--gatys-evals`` loss evaluations; the
  fixed loss is the baseline's best loss after them. Then faceedit's optimiser (coarse to fine 128 → 256 → 512 px,
  bfloat16 VGG in the coarse stages, L-BFGS in one call, no clamping inside) and, as a check, faceedit's optimiser
  on one scale, each until the same loss (or 2 × the baseline's evaluations). Same process,
  same inputs, one after the other.
- ``fast``: milliseconds per frame of the fast method (shipped networks: the slim architecture; and the Johnson
  architecture with random weights, same cost as trained) at 256 and 512 px, with 2 threads and with 1, float32
  and bfloat16 autocast.
- ``losses``: content and style losses of both methods on the same held-out photos and paintings, under the Gatys
  loss (content relu4_2, style relu1_1…relu5_1) and the Johnson loss (content relu2_2, style relu1_2…relu4_3).
- ``flicker``: the mean frame-to-frame change of each network's output on a GIF against the input's
  (``--gif``, e.g. ``faceedit morph 3 7 --frames 24 -o morph.gif``), frames upscaled to 256 px.
- ``models``: any style model files (``--models a.safetensors b.safetensors``): held-out losses at their own
  training size, flicker and speed — used to compare the slim and Johnson architectures and the stability term.

    .venv/bin/python benchmarks/stylize.py --threads 1 --gif morph.gif --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from faceedit.features import load_vgg
from faceedit.stylize import load_style, list_styles
from faceedit.stylize.gatys import GatysConfig, stylize_gatys
from faceedit.stylize.images import resize, to_tensor, to_uint8, working_shape
from faceedit.stylize.johnson import PRESETS, StyleModel, TransformNet, load_style_model
from faceedit.stylize.losses import (GATYS_CONTENT, GATYS_STYLE, JOHNSON_CONTENT, JOHNSON_STYLE, LossWeights,
                                     PerceptualLoss)

PAINTINGS = Path("../shared/data/style_paintings")
WEIGHTS = LossWeights(content=1.0, style=20.0, tv=10.0)


def load(path: Path) -> np.ndarray:
    from faceedit.align.image import load_image

    return load_image(path)


def val_photos(data: Path, n: int) -> list[Path]:
    from faceedit.stylize.training import photo_paths

    paths = [p for p in photo_paths(data, "val") if "celebamask" in str(p)]
    return paths[:n]


def load_average() -> str:
    return "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())


# ------------------------------------------------------------------------------------------------ gatys: classic
def classic_gatys(vgg, content: torch.Tensor, style: torch.Tensor, weights: LossWeights, evals: int
                  ) -> tuple[torch.Tensor, list[tuple[float, float, float]]]:
    """The classic algorithm, straightforwardly: targets once, then L-BFGS (PyTorch defaults: lr 1, no line search)
    stepped in a loop until ``evals`` loss evaluations; the image is clamped to [-1, 1] in the closure. Returns the
    image and (wall seconds, loss, CPU seconds) per evaluation."""
    names = list(GATYS_STYLE) + list(GATYS_CONTENT)

    def feats(x):
        return dict(zip(names, vgg.extract(x, names)))

    def gram_matrix(f):
        b, c, h, w = f.shape
        m = f.view(b * c, h * w)
        return (m @ m.t()).div(b * c * h * w)

    with torch.no_grad():
        fs, fc = feats(style), feats(content)
        style_targets = {n: gram_matrix(fs[n]) for n in GATYS_STYLE}
        content_targets = {n: fc[n] for n in GATYS_CONTENT}
    x = content.clone().contiguous().requires_grad_(True)
    opt = torch.optim.LBFGS([x])
    history: list[tuple[float, float, float]] = []
    t0, c0 = time.perf_counter(), time.process_time()

    def closure():
        with torch.no_grad():
            x.clamp_(-1, 1)
        opt.zero_grad()
        f = feats(x)
        s = sum(torch.nn.functional.mse_loss(gram_matrix(f[n]), style_targets[n]) / style_targets[n].pow(2).mean()
                for n in GATYS_STYLE) / len(GATYS_STYLE)
        c = sum(torch.nn.functional.mse_loss(f[n], content_targets[n]) / content_targets[n].pow(2).mean()
                for n in GATYS_CONTENT) / len(GATYS_CONTENT)
        tv = ((x[:, :, 1:] - x[:, :, :-1]).pow(2).mean() + (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).mean())
        loss = weights.content * c + weights.style * s + weights.tv * tv
        loss.backward()
        history.append((time.perf_counter() - t0, float(loss.detach()), time.process_time() - c0))
        return loss

    while len(history) < evals:
        opt.step(closure)
    with torch.no_grad():
        x.clamp_(-1, 1)
    return x.detach(), history


def part_gatys(args, vgg, out: dict) -> None:
    photo = val_photos(Path(args.data), 1)[0]
    content = resize(to_tensor(load(photo)), (512, 512))
    style = to_tensor(load(PAINTINGS / "van_gogh_starry_night.jpg"))
    style512 = resize(style, working_shape(*style.shape[-2:], 512, 4096))
    print(f"\n## Gatys, 512 px: {photo.name} (256 px, upscaled) × Starry Night; load {load_average()}", flush=True)
    ref = PerceptualLoss(vgg, style512, WEIGHTS)
    targets = ref.content_targets(content)

    def our_loss(img):
        with torch.no_grad():
            return float(ref(img, targets)["total"].sum())

    img, hist = classic_gatys(vgg, content, style512, WEIGHTS, args.gatys_evals)
    best = np.minimum.accumulate([h[1] for h in hist])
    target = float(best[-1])
    first = int(np.argmax(best <= target))
    rows = [{"method": "classic (one scale, L-BFGS defaults, fp32)", "evals_512": first + 1,
             "evals_coarse": 0, "seconds": round(hist[first][0], 1), "cpu_seconds": round(hist[first][2], 1),
             "loss": round(our_loss(img), 4),
             "reached": True}]
    print(f"classic: target loss {target:.4f} after {first + 1} evaluations, {hist[first][0]:.1f} s "
          f"({hist[first][2]:.1f} CPU s) "
          f"(check with faceedit's loss: {our_loss(img):.4f})", flush=True)
    for name, multiscale in (("faceedit, coarse to fine 128→256→512 (bf16 coarse)", True),
                             ("faceedit, one scale (fp32)", False)):
        cfg = GatysConfig(size=512, weights=WEIGHTS, steps=2 * args.gatys_evals, coarse_steps=args.coarse_evals,
                          multiscale=multiscale, target_loss=target)
        c0 = time.process_time()
        res = stylize_gatys(content, style, vgg, cfg)
        cpu = time.process_time() - c0
        rows.append({"method": name, "evals_512": res.evaluations[-1], "evals_coarse": sum(res.evaluations[:-1]),
                     "seconds": round(res.seconds, 1), "cpu_seconds": round(cpu, 1),
                     "loss": round(res.losses["total"], 4),
                     "reached": bool(res.reached)})
        print(f"{name}: {res.evaluations} evaluations, {res.seconds:.1f} s ({cpu:.1f} CPU s), "
              f"loss {res.losses['total']:.4f}, reached {res.reached}", flush=True)
        if multiscale:
            from PIL import Image

            Image.fromarray(np.concatenate([to_uint8(img), to_uint8(res.image)], 1)).save(
                Path(args.out_dir) / "gatys_classic_vs_ours.jpg", quality=90)
    base, base_cpu = rows[0]["seconds"], rows[0]["cpu_seconds"]
    print("\n| method | evaluations at 512 px | coarse evaluations | wall s | CPU s | × faster (CPU) | final loss | "
          "reached |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['evals_512']} | {r['evals_coarse']} | {r['seconds']:.1f} | "
              f"{r['cpu_seconds']:.1f} | {base_cpu / r['cpu_seconds']:.2f} (wall {base / r['seconds']:.2f}) | "
              f"{r['loss']:.4f} | "
              f"{'yes' if r['reached'] else 'no'} |")
    out["gatys"] = {"photo": str(photo), "target_loss": target, "rows": rows, "load": load_average()}


# ------------------------------------------------------------------------------------------------ fast: speed
def time_net(net: torch.nn.Module, side: int, threads: int, bf16: bool, repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of one ``side``² frame through ``net``. On a shared machine the CPU time
    (all of this process's threads) is what the frame costs; the wall time includes waiting for a core."""
    torch.set_num_threads(threads)
    x = torch.rand(1, 3, side, side) * 2 - 1
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        net(x)
        walls, cpus = [], []
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            net(x)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
    return 1000 * float(np.median(walls)), 1000 * float(np.median(cpus))


def part_fast(args, out: dict) -> None:
    styles = list_styles()
    nets: list[tuple[str, torch.nn.Module]] = []
    if styles:
        nets.append((f"slim (shipped: {styles[0]['name']})", load_style(styles[0]["name"]).net))
    else:
        nets.append(("slim (random weights)", TransformNet(PRESETS["slim"]).eval()))
    nets.append(("johnson (random weights, same cost)", TransformNet(PRESETS["johnson"]).eval()))
    print(f"\n## Fast method, ms per frame (median of {args.repeats}); load before {load_average()}", flush=True)
    print("frames/s if free: 1000 / (CPU ms / threads), what the frame rate would be with the threads' cores to "
          "itself")
    print("| network | side | threads | fp32 wall ms | fp32 CPU ms | bf16 wall ms | bf16 CPU ms | frames/s (wall, "
          "best) | frames/s if free (best) |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, net in nets:
        net.requires_grad_(False)
        for side in (256, 512):
            for threads in args.fast_threads:
                fp32, fp32_cpu = time_net(net, side, threads, False, args.repeats)
                bf16, bf16_cpu = time_net(net, side, threads, True, args.repeats)
                rows.append({"network": name, "side": side, "threads": threads, "fp32_ms": round(fp32, 1),
                             "fp32_cpu_ms": round(fp32_cpu, 1), "bf16_ms": round(bf16, 1),
                             "bf16_cpu_ms": round(bf16_cpu, 1)})
                print(f"| {name} | {side} | {threads} | {fp32:.1f} | {fp32_cpu:.1f} | {bf16:.1f} | {bf16_cpu:.1f} | "
                      f"{1000 / min(fp32, bf16):.1f} | {1000 * threads / min(fp32_cpu, bf16_cpu):.1f} |", flush=True)
    torch.set_num_threads(args.threads)
    print(f"load after {load_average()}")
    out["fast"] = {"rows": rows, "load_after": load_average()}


# ------------------------------------------------------------------------------------------------ losses
def loss_pair(vgg, style_img: torch.Tensor, content: torch.Tensor, img: torch.Tensor) -> dict[str, float]:
    out = {}
    for tag, cl, sl in (("gatys", GATYS_CONTENT, GATYS_STYLE), ("johnson", JOHNSON_CONTENT, JOHNSON_STYLE)):
        ref = PerceptualLoss(vgg, style_img, WEIGHTS, cl, sl)
        with torch.no_grad():
            t = ref(img, ref.content_targets(content))
        out[f"{tag}_content"] = float(t["content"])
        out[f"{tag}_style"] = float(t["style"])
    return out


def chosen_styles(args) -> list[dict]:
    """The shipped styles, or those named in ``--styles``."""
    names = [n for n in (args.styles or "").split(",") if n]
    return [s for s in list_styles() if not names or s["name"] in names]


def part_losses(args, vgg, out: dict) -> None:
    styles = chosen_styles(args)
    photos = val_photos(Path(args.data), args.photos)
    side = 256
    print(f"\n## Losses of both methods at {side} px on {len(photos)} held-out photos; load {load_average()}",
          flush=True)
    rows = []
    for s in styles:
        painting = PAINTINGS / s["style_file"]
        if not painting.is_file():
            print(f"skip {s['name']}: {painting} not found")
            continue
        model = load_style(s["name"])
        style_side = int((model.card.get("style") or {}).get("long_side_px") or side)
        style = to_tensor(load(painting))
        style_t = resize(style, working_shape(*style.shape[-2:], style_side, 4096))
        acc: dict[str, dict[str, float]] = {"content (input)": {}, "fast": {}, "gatys": {}}
        t_fast = t_gatys = 0.0
        for p in photos:
            c = resize(to_tensor(load(p)), (side, side))
            t = time.perf_counter()
            with torch.no_grad():
                y = model.net(c)
            t_fast += time.perf_counter() - t
            cfg = GatysConfig(size=side, weights=WEIGHTS, steps=args.loss_evals)
            res = stylize_gatys(c, style_t, vgg, cfg)
            t_gatys += res.seconds
            for key, img in (("content (input)", c), ("fast", y), ("gatys", res.image)):
                for k, v in loss_pair(vgg, style_t, c, img).items():
                    acc[key][k] = acc[key].get(k, 0.0) + v / len(photos)
        for key, vals in acc.items():
            sec = {"fast": t_fast, "gatys": t_gatys}.get(key, 0.0) / len(photos)
            rows.append({"style": s["name"], "method": key, **{k: round(v, 4) for k, v in vals.items()},
                         "seconds": round(sec, 3)})
        print(f"{s['name']}: done ({load_average()})", flush=True)
    print("\n| style | method | Gatys content | Gatys style | Johnson content | Johnson style | s/image |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['style']} | {r['method']} | {r['gatys_content']:.3f} | {r['gatys_style']:.4f} | "
              f"{r['johnson_content']:.3f} | {r['johnson_style']:.4f} | {r['seconds']:.2f} |")
    out["losses"] = {"photos": [str(p) for p in photos], "side": side, "gatys_evals": args.loss_evals, "rows": rows}


# ------------------------------------------------------------------------------------------------ flicker / models
def flicker_of(model: StyleModel, frames: list[np.ndarray], side: int = 256) -> dict[str, float]:
    from faceedit.stylize import stylize_fast
    from faceedit.stylize.frames import flicker

    outs = [stylize_fast(f, model, size=side) for f in frames]
    return flicker(frames, outs)


def part_flicker(args, out: dict) -> None:
    from faceedit.stylize.frames import read_animation

    frames, _ = read_animation(args.gif)
    print(f"\n## Flicker on {args.gif} ({len(frames)} frames of {frames[0].shape[1]} px, stylised at 256 px)")
    print("| style | input change | output change | ratio |")
    print("|---|---|---|---|")
    rows = []
    for s in chosen_styles(args):
        f = flicker_of(load_style(s["name"]), frames)
        rows.append({"style": s["name"], **f})
        print(f"| {s['name']} | {f['input_change']:.2f} | {f['output_change']:.2f} | {f['ratio']:.2f} |", flush=True)
    out["flicker"] = rows


def part_models(args, vgg, out: dict) -> None:
    from faceedit.stylize.frames import read_animation
    from faceedit.stylize.training import load_photos, load_style_image, measure

    frames = read_animation(args.gif)[0] if args.gif else None
    print("\n## Style model files: held-out losses (Johnson loss, their own style image and size), flicker, speed")
    print("| model | arch | parameters | steps | CPU min | content | style | noise gain | flicker ratio | "
          "ms @256 (1 thread) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for path in args.models:
        m = load_style_model(path)
        card = m.card
        tr = card.get("training", {})
        size = int(tr.get("size", 128))
        painting = PAINTINGS / card["style"]["file"]
        style = load_style_image(painting, int(card["style"].get("long_side_px", 2 * size)))
        w = card["loss"]["weights"]
        loss = PerceptualLoss(vgg, style, LossWeights(**w), JOHNSON_CONTENT, JOHNSON_STYLE)
        val = torch.from_numpy(load_photos(val_photos(Path(args.data), args.val), size, None, print, False))
        v = measure(m.net, loss, val.float() / 127.5 - 1.0)
        fl = flicker_of(m, frames)["ratio"] if frames is not None else float("nan")
        ms = time_net(m.net, 256, 1, False, args.repeats)[0]
        row = {"model": str(path), "arch": card["architecture"]["preset"], "parameters":
               card["architecture"]["parameters"], "steps": tr.get("steps"),
               "cpu_minutes": round(tr.get("cpu_seconds", 0) / 60, 1), **v, "flicker_ratio": fl, "ms_256": ms}
        rows.append(row)
        print(f"| {Path(path).parent.name}/{Path(path).name} | {row['arch']} | {row['parameters']:,} | {row['steps']} "
              f"| {row['cpu_minutes']} | {v['content']:.3f} | {v['style']:.4f} | {v['noise_gain']:.2f} | {fl:.2f} | "
              f"{ms:.0f} |", flush=True)
    torch.set_num_threads(args.threads)
    out["models"] = rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="fast,flicker,losses,gatys")
    ap.add_argument("--data", default="/work/main/.cache/data128", help="Build folder whose val photos are used.")
    ap.add_argument("--gif", help="Animation for the flicker measure.")
    ap.add_argument("--models", nargs="*", default=[], help="Style model files for the 'models' part.")
    ap.add_argument("--styles", help="Comma-separated shipped styles for 'losses' and 'flicker' (default all).")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--gatys-evals", type=int, default=100, help="Evaluations of the classic baseline at 512 px.")
    ap.add_argument("--coarse-evals", type=int, default=50, help="Evaluations per coarse stage (ours).")
    ap.add_argument("--loss-evals", type=int, default=60, help="Gatys evaluations per photo in 'losses'.")
    ap.add_argument("--photos", type=int, default=2)
    ap.add_argument("--val", type=int, default=16, help="Held-out photos in 'models'.")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--fast-threads", type=int, nargs="+", default=[1, 2], help="Thread counts for 'fast'.")
    ap.add_argument("--out-dir", default="bench_stylize")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    print(f"# benchmarks/stylize.py {' '.join(sys.argv[1:])}\nmachine: {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}, {args.threads} thread(s) unless said; load {load_average()}", flush=True)
    vgg = load_vgg() if {"gatys", "losses", "models"} & set(parts) else None
    out: dict = {"argv": sys.argv[1:]}
    if "fast" in parts:
        part_fast(args, out)
    if "flicker" in parts and args.gif:
        part_flicker(args, out)
    if "models" in parts and args.models:
        part_models(args, vgg, out)
    if "losses" in parts:
        part_losses(args, vgg, out)
    if "gatys" in parts:
        part_gatys(args, vgg, out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
