"""Generation speed: faceedit's StyleGAN2 generator vs a straightforward, unoptimised version of the same network.

    python benchmarks/generate.py --res 128 256 1024 --batch 1 16 [--device cpu|cuda] [--repeats N]

Both run in this process on the same weights (random, config-f channel widths unless --channel-base/--channel-max
say otherwise) and the same w+ latents (noise_mode='const'); the table gives images/s and the max |diff| of each
variant's images from the baseline's. Variants:

    baseline   the textbook implementation written below: full 2-D FIR filters by zero insertion + a depthwise
               4x4 conv2d, a fused modulated conv (one grouped conv2d with per-sample weights, as in NVIDIA's
               fused_modconv and rosinality's model.py), upsampling by a grouped conv_transpose2d + 2-D blur, fp32.
    ours       faceedit.nn.Generator's synthesis with its defaults, fp32 (must match the baseline to ~1e-4):
               channels-last on CPU, per-sample weights at batch 1, bias/gain/noise folded, in-place activations.
    ours-nchw  the same with channels_last=False.
    ours-bf16  ours computing every block in bfloat16 (dtype=torch.bfloat16; diff reported).
    ours-fp16  (cuda) every block in float16 (dtype=torch.float16), with NVIDIA's overflow guards and clamp.
    ours-compile (--compile) torch.compile of the synthesis network (fp16 on cuda).

Columns: img/s = images per wall-clock second; img/cpu-s = images per CPU-second of this process (user + system,
all threads): steadier than wall time on a shared machine, and on CPU the fairer comparison when other jobs
compete for the cores. Timing: one warm-up call, then --repeats timed calls; images/s = batch / seconds per call. Where the warm-up call
alone shows that the timed calls would exceed --max-seconds, the warm-up call is the figure ("1*" in the calls
column). max|diff| is against the baseline's images (fp32 images of magnitude ~1).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

from faceedit.nn import Generator, GeneratorConfig

# ---------------------------------------------------------------------------------------------------------------
# Straightforward baseline (same parameters, read from our module)
# ---------------------------------------------------------------------------------------------------------------


def _fir2d(device, dtype, gain=1.0):
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device, dtype=dtype)
    f = torch.outer(k, k)
    return f / f.sum() * gain


def base_blur(x, pad0, pad1, gain=1.0):
    """Pad then 2-D FIR filter, one depthwise conv2d with the full 4x4 kernel."""
    c = x.shape[1]
    f = _fir2d(x.device, x.dtype, gain).flip([0, 1]).expand(c, 1, 4, 4)
    return F.conv2d(F.pad(x, [pad0, pad1, pad0, pad1]), f, groups=c)


def base_upsample(x):
    """×2: zero insertion, then pad (2, 1) and the FIR with gain 4."""
    n, c, h, w = x.shape
    y = torch.zeros(n, c, h * 2, w * 2, device=x.device, dtype=x.dtype)
    y[:, :, ::2, ::2] = x
    return base_blur(y, 2, 1, gain=4)


def base_modconv(x, weight, styles, demodulate=True, up=False):
    """Fused modulated conv: per-sample weights [N*O, I, k, k] and one grouped convolution."""
    n, i, h, w_ = x.shape
    o, _, k, _ = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)
    if demodulate:
        w = w * torch.rsqrt(w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8)
    x = x.reshape(1, n * i, h, w_)
    if up:
        wt = w.transpose(1, 2).reshape(n * i, o, k, k)  # conv_transpose2d weight layout [in, out/groups, k, k]
        x = F.conv_transpose2d(x, wt, stride=2, groups=n)  # [1, N*O, 2H+1, 2W+1]
        x = base_blur(x, 1, 1, gain=4)
    else:
        x = F.conv2d(x, w.reshape(n * o, i, k, k), padding=k // 2, groups=n)
    return x.reshape(n, o, *x.shape[2:])


def base_layer(layer, x, w, noise_mode):
    styles = F.linear(w, layer.affine.weight * layer.affine.weight_gain, layer.affine.bias)
    x = base_modconv(x, layer.weight, styles, up=layer.up == 2)
    if noise_mode == "const":
        x = x + layer.noise_const * layer.noise_strength
    x = F.leaky_relu(x + layer.bias.reshape(1, -1, 1, 1), 0.2) * math.sqrt(2)
    return x.clamp(-layer.conv_clamp, layer.conv_clamp) if layer.conv_clamp is not None else x


def base_torgb(layer, x, w):
    styles = F.linear(w, layer.affine.weight * layer.affine.weight_gain, layer.affine.bias) * layer.weight_gain
    x = base_modconv(x, layer.weight, styles, demodulate=False) + layer.bias.reshape(1, -1, 1, 1)
    return x.clamp(-layer.conv_clamp, layer.conv_clamp) if layer.conv_clamp is not None else x


@torch.no_grad()
def baseline_synthesis(G: Generator, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
    syn = G.synthesis
    x = img = None
    w_idx = 0
    for block in syn.blocks():
        if block.in_channels == 0:
            x = block.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = base_layer(block.conv1, x, ws[:, w_idx], noise_mode)
            y = base_torgb(block.torgb, x, ws[:, w_idx + 1])
            w_idx += 1
        else:
            x = base_layer(block.conv0, x, ws[:, w_idx], noise_mode)
            x = base_layer(block.conv1, x, ws[:, w_idx + 1], noise_mode)
            y = base_torgb(block.torgb, x, ws[:, w_idx + 2])
            w_idx += 2
        img = y if img is None else base_upsample(img) + y
    return img


# ---------------------------------------------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------------------------------------------


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timeit(fn, device, repeats, max_seconds):
    """First call = warm-up (its output is returned); then up to ``repeats`` timed calls within ~max_seconds.

    When the first call alone would make ``repeats`` calls exceed ``max_seconds``, its own time is the figure
    (slightly pessimistic: it includes warm-up). Returns (output, wall seconds per call, CPU seconds per call of
    this process, calls timed).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    reps = min(repeats, int(max_seconds / max(first, 1e-9)))
    if reps < 1:
        return out, first, first_cpu, 0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps):
        fn()
    sync(device)
    return out, (time.perf_counter() - t0) / reps, (time.process_time() - c0) / reps, reps


def make_generator(res, args, device):
    cfg = GeneratorConfig(resolution=res, channel_base=args.channel_base, channel_max=args.channel_max)
    torch.manual_seed(res)
    G = Generator(cfg).eval()
    with torch.no_grad():  # non-trivial noise strengths and biases
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
            elif name.endswith("bias") and "affine" not in name and not name.startswith("mapping"):
                p.normal_(0, 0.1)
    return G.to(device)


def variants(G, device, args):
    """name -> (callable(ws) -> images) for every variant that applies on this device."""
    syn = G.synthesis
    out = {"baseline": lambda ws: baseline_synthesis(G, ws)}
    if "nchw" in args.variants:
        out["ours-nchw"] = lambda ws: syn(ws, noise_mode="const", channels_last=False)
    out["ours"] = lambda ws: syn(ws, noise_mode="const")
    if "bf16" in args.variants:
        out["ours-bf16"] = lambda ws: syn(ws, noise_mode="const", dtype=torch.bfloat16)
    if device.type == "cuda" and "fp16" in args.variants:
        out["ours-fp16"] = lambda ws: syn(ws, noise_mode="const", dtype=torch.float16)
    if args.compile:
        dtype = torch.float16 if device.type == "cuda" else None
        compiled = torch.compile(syn, dynamic=False)
        name = "ours-compile" + ("-fp16" if dtype is not None else "")
        out[name] = lambda ws: compiled(ws, noise_mode="const", dtype=dtype)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", type=int, nargs="+", default=[128, 256, 1024])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per case (after one warm-up)")
    ap.add_argument("--channel-base", type=int, default=32768)
    ap.add_argument("--channel-max", type=int, default=512)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave torch's default)")
    ap.add_argument("--variants", nargs="+", default=["nchw", "bf16", "fp16"],
                    help="optional variants besides baseline and ours: nchw bf16 fp16 (fp16: cuda only)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile of the synthesis network")
    ap.add_argument("--max-seconds", type=float, default=30.0,
                    help="cap the timed calls of one variant at about this many seconds")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    print(f"# torch {torch.__version__}, device {device} ({dev_name}), threads {torch.get_num_threads()}, "
          f"channel_base {args.channel_base}, channel_max {args.channel_max}, noise const")
    print(f"{'res':>5} {'batch':>5} {'variant':<18} {'img/s':>9} {'speed-up':>8} {'img/cpu-s':>9} {'speed-up':>8} "
          f"{'max|diff|':>10} {'calls':>5}")
    for res in args.res:
        G = make_generator(res, args, device)
        for batch in args.batch:
            ws = torch.randn(batch, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(batch)).to(device)
            ws = G.mapping.w_avg + 0.7 * (ws - G.mapping.w_avg)
            ref = base_rate = base_cpu = None
            for name, fn in variants(G, device, args).items():
                with torch.no_grad():
                    out, sec, cpu, reps = timeit(lambda: fn(ws), device, args.repeats, args.max_seconds)
                rate, cpu_rate = batch / sec, batch / max(cpu, 1e-9)
                out = out.float()
                diff = 0.0 if ref is None else (out - ref).abs().max().item()
                if ref is None:
                    ref, base_rate, base_cpu = out, rate, cpu_rate
                print(f"{res:>5} {batch:>5} {name:<18} {rate:>9.3f} {rate / base_rate:>7.2f}x {cpu_rate:>9.3f} "
                      f"{cpu_rate / base_cpu:>7.2f}x {diff:>10.2e} {reps if reps else '1*':>5}", flush=True)
        del G
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
