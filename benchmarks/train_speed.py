"""Training speed of ``faceedit train gan``: img/s of full training steps (G step + D step, lazy R1 and EMA
included), ours against a straightforward implementation of the same network, in one process.

The straightforward implementation (``Plain*`` below) is what one writes first from the paper/NVIDIA's reference
ops: FIR resampling by zero insertion + padding + a full-resolution 2-D depthwise convolution (keeping every 2nd
sample after computing all of them), modulated convolutions as one grouped convolution with per-sample weights,
separate bias / activation / gain passes. It has the same parameters (names and shapes) and computes the same
function; the benchmark loads our weights into it and checks the outputs agree before timing.

    python benchmarks/train_speed.py --res 64 --batch 32 --channel-base 2048 --channel-max 128 --steps 6
    python benchmarks/train_speed.py --device cuda --res 128 --batch 64 --steps 20   # GPU

Prints img/s (wall clock) and img per CPU-second (process CPU time, less sensitive to other load on a shared
machine), for ours (bf16 autocast and fp32) and the plain implementation (bf16 and fp32).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.train.dataset import sample_batch
from faceedit.train.gan import TrainConfig, Trainer

# ----------------------------------------------------------------------------- plain reference implementation

_TAPS = torch.tensor([1.0, 3.0, 3.0, 1.0])


def _fir2d(c: int, gain: float, dtype, device) -> torch.Tensor:
    f = torch.outer(_TAPS, _TAPS)
    f = f / f.sum() * gain
    return f.to(dtype=dtype, device=device).view(1, 1, 4, 4).repeat(c, 1, 1, 1)


def plain_upfirdn2d(x, up=1, down=1, pad=(0, 0), gain=1.0):
    n, c, h, w = x.shape
    if up > 1:  # zero insertion
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    x = F.conv2d(x, _fir2d(c, gain, x.dtype, x.device), groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def plain_lrelu(x, b, gain=math.sqrt(2)):
    x = x + b.to(x.dtype).view(1, -1, 1, 1)
    x = F.leaky_relu(x, 0.2)
    return x * gain


class PlainFC(nn.Module):
    def __init__(self, i, o, act=False, lr_mult=1.0, bias_init=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(o, i) / lr_mult)
        self.bias = nn.Parameter(torch.full([o], float(bias_init)))
        self.gain, self.lr_mult, self.act = lr_mult / math.sqrt(i), lr_mult, act

    def forward(self, x):
        x = F.linear(x, self.weight * self.gain, self.bias * self.lr_mult)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.act else x


class PlainModConv(nn.Module):
    def __init__(self, i, o, w_dim, res, k=3, up=False, demod=True):
        super().__init__()
        self.affine = PlainFC(w_dim, i, bias_init=1)
        self.weight = nn.Parameter(torch.randn(o, i, k, k))
        self.bias = nn.Parameter(torch.zeros(o))
        if demod:
            self.noise_strength = nn.Parameter(torch.zeros([]))
            self.register_buffer("noise_const", torch.randn(res, res))
        self.up, self.demod, self.res, self.k = up, demod, res, k

    def forward(self, x, w):
        n, i, h, wd = x.shape
        s = self.affine(w)
        if not self.demod:
            s = s / math.sqrt(i)
        wt = self.weight.unsqueeze(0) * s.view(n, 1, -1, 1, 1)  # per-sample weights
        if self.demod:
            wt = wt * (wt.square().sum([2, 3, 4], keepdim=True) + 1e-8).rsqrt()
        o = wt.shape[1]
        xg = x.reshape(1, n * i, h, wd)
        if self.up:
            wt = wt.transpose(1, 2).reshape(n * i, o, self.k, self.k)
            y = F.conv_transpose2d(xg, wt.to(x.dtype), stride=2, groups=n)
            y = y.reshape(n, o, *y.shape[2:])
            y = plain_upfirdn2d(y, pad=(1, 1), gain=4)
        else:
            y = F.conv2d(xg, wt.reshape(n * o, i, self.k, self.k).to(x.dtype), padding=self.k // 2, groups=n)
            y = y.reshape(n, o, *y.shape[2:])
        if self.demod:
            y = y + torch.randn(n, 1, self.res, self.res, device=x.device) * self.noise_strength
            return plain_lrelu(y, self.bias)
        return y + self.bias.to(y.dtype).view(1, -1, 1, 1)


class PlainSynthesis(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.res = cfg.block_resolutions
        for r in self.res:
            blk = nn.Module()
            c = cfg.channels(r)
            if r == 4:
                blk.const = nn.Parameter(torch.randn(c, 4, 4))
            else:
                blk.conv0 = PlainModConv(cfg.channels(r // 2), c, cfg.w_dim, r, up=True)
            blk.conv1 = PlainModConv(c, c, cfg.w_dim, r)
            blk.torgb = PlainModConv(c, cfg.img_channels, cfg.w_dim, r, k=1, demod=False)
            setattr(self, f"b{r}", blk)

    def forward(self, ws, noise_mode="random", channels_last=False):  # noqa: ARG002 - always NCHW
        x = img = None
        wi = 0
        for r in self.res:
            blk = getattr(self, f"b{r}")
            if r == 4:
                x = blk.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            else:
                x = blk.conv0(x, ws[:, wi])
                wi += 1
            x = blk.conv1(x, ws[:, wi])
            y = blk.torgb(x, ws[:, wi + 1]).float()
            img = y if img is None else plain_upfirdn2d(img, up=2, pad=(2, 1), gain=4) + y
        return img


class PlainMapping(nn.Module):
    def __init__(self, cfg, num_ws):
        super().__init__()
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
        for i in range(cfg.mapping_layers):
            setattr(self, f"fc{i}", PlainFC(dims[i], dims[i + 1], act=True, lr_mult=cfg.mapping_lr_mult))
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        self.n, self.num_ws, self.beta = cfg.mapping_layers, num_ws, cfg.w_avg_beta

    def forward(self, z, update_emas=False, **_):
        x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.n):
            x = getattr(self, f"fc{i}")(x)
        if update_emas:
            self.w_avg.copy_(x.detach().float().mean(0).lerp(self.w_avg, self.beta))
        return x.unsqueeze(1).repeat(1, self.num_ws, 1)


class PlainGenerator(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg, self.z_dim, self.img_resolution = cfg, cfg.z_dim, cfg.resolution
        self.synthesis = PlainSynthesis(cfg)
        self.mapping = PlainMapping(cfg, cfg.num_ws)

    def forward(self, z, noise_mode="random", **_):
        return self.synthesis(self.mapping(z), noise_mode)


class PlainConv(nn.Module):
    def __init__(self, i, o, k, bias=True, act=True, down=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(o, i, k, k))
        self.bias = nn.Parameter(torch.zeros(o)) if bias else None
        self.gain, self.act, self.down, self.k = 1 / math.sqrt(i * k * k), act, down, k

    def forward(self, x, gain=1.0):
        w = (self.weight * self.gain).to(x.dtype)
        if self.down and self.k == 1:
            x = F.conv2d(plain_upfirdn2d(x, down=2, pad=(1, 1)), w)
        elif self.down:
            x = F.conv2d(plain_upfirdn2d(x, pad=(2, 2)), w, stride=2)
        else:
            x = F.conv2d(x, w, padding=self.k // 2)
        if self.bias is not None:
            x = x + self.bias.to(x.dtype).view(1, -1, 1, 1)
        if self.act:
            x = F.leaky_relu(x, 0.2) * math.sqrt(2)
        return x * gain


class PlainDiscriminator(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg, log2 = cfg, int(math.log2(cfg.resolution))
        self.res = [2 ** i for i in range(log2, 2, -1)]
        for r in self.res:
            blk = nn.Module()
            c, c2 = cfg.channels(r), cfg.channels(r // 2)
            if r == cfg.resolution:
                blk.fromrgb = PlainConv(cfg.img_channels, c, 1)
            blk.conv0 = PlainConv(c, c, 3)
            blk.conv1 = PlainConv(c, c2, 3, down=True)
            blk.skip = PlainConv(c, c2, 1, bias=False, act=False, down=True)
            setattr(self, f"b{r}", blk)
        c = cfg.channels(4)
        ep = nn.Module()
        ep.conv = PlainConv(c + 1, c, 3)
        ep.fc = PlainFC(c * 16, c, act=True)
        ep.out = PlainFC(c, 1)
        self.b4 = ep
        self.group = cfg.mbstd_group_size

    def forward(self, img):
        x = None
        for r in self.res:
            blk = getattr(self, f"b{r}")
            if x is None:
                x = blk.fromrgb(img)
            y = blk.skip(x, gain=math.sqrt(0.5))
            x = blk.conv1(blk.conv0(x), gain=math.sqrt(0.5))
            x = x + y
        x = x.float()
        n, c, h, w = x.shape
        g = min(self.group, n)
        y = x.reshape(g, -1, 1, c, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean([2, 3, 4]).reshape(-1, 1, 1, 1)
        x = torch.cat([x, y.repeat(g, 1, h, w)], 1)
        x = self.b4.conv(x)
        return self.b4.out(self.b4.fc(x.flatten(1)))


# ----------------------------------------------------------------------------- benchmark


def make_plain(tr: Trainer) -> None:
    """Replace the trainer's networks with the plain implementation holding the same weights."""
    G, D = PlainGenerator(tr.G.cfg).to(tr.device), PlainDiscriminator(tr.D.cfg).to(tr.device)
    G.load_state_dict(tr.G.state_dict())
    D.load_state_dict(tr.D.state_dict())
    z = torch.randn(4, tr.G.z_dim, device=tr.device)
    with torch.no_grad():
        ws = tr.G.mapping(z)
        for blk in [m for m in G.modules() if isinstance(m, PlainModConv) and m.demod]:
            blk.noise_strength.zero_()  # compare without random noise
        for name, p in tr.G.named_parameters():
            if name.endswith("noise_strength"):
                p.zero_()
        a, b = tr.G.synthesis(ws, noise_mode="none"), G.synthesis(ws)
        err = (a - b).abs().max().item()
        dd = (tr.D(a) - D(a)).abs().max().item()
    assert err < 1e-3 and dd < 1e-3, f"plain implementation differs: G {err:.2e}, D {dd:.2e}"
    G.load_state_dict(tr.G.state_dict())
    tr.G, tr.D = G.train().requires_grad_(False), D.train().requires_grad_(False)
    tr.D_main = tr.D  # the D the G and D main phases call
    tr.G_ema = PlainGenerator(tr.G.cfg).to(tr.device).eval().requires_grad_(False)
    tr.G_ema.load_state_dict(G.state_dict())
    cfg = tr.cfg
    c = cfg.r1_interval / (cfg.r1_interval + 1)
    tr.opt_G = torch.optim.Adam(tr.G.parameters(), lr=cfg.g_lr, betas=(0.0, 0.99))
    tr.opt_D = torch.optim.Adam(tr.D.parameters(), lr=cfg.d_lr * c, betas=(0.0, 0.99 ** c))


def bench(args, impl: str, precision: str) -> dict:
    torch.manual_seed(0)
    cfg = TrainConfig(run_dir="/tmp/faceedit-train-speed", resolution=args.res, batch=args.batch,
                      z_dim=args.z_dim, w_dim=args.w_dim, channel_base=args.channel_base,
                      channel_max=args.channel_max, mapping_layers=args.mapping_layers, precision=precision,
                      device=args.device, progress=False, channels_last=args.channels_last)
    tr = Trainer(cfg, log=lambda *a: None)
    if impl == "plain":
        make_plain(tr)
    imgs = torch.randint(0, 256, (256, 3, args.res, args.res), dtype=torch.uint8)
    sync = torch.cuda.synchronize if tr.device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        tr.train_step(sample_batch(imgs, cfg.batch, True, device=tr.device))
    sync()
    t, c = time.perf_counter(), time.process_time()
    for _ in range(args.steps):  # step counter runs on: lazy R1 lands every r1_interval steps as in training
        tr.train_step(sample_batch(imgs, cfg.batch, True, device=tr.device))
    sync()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    n = args.steps * cfg.batch
    return {"impl": impl, "precision": precision, "img_s": n / wall, "img_cpu_s": n / max(cpu, 1e-9),
            "G_params": sum(p.numel() for p in tr.G.parameters())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--z-dim", type=int, default=256)
    ap.add_argument("--w-dim", type=int, default=256)
    ap.add_argument("--channel-base", type=int, default=2048)
    ap.add_argument("--channel-max", type=int, default=128)
    ap.add_argument("--mapping-layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--impls", default="ours:bf16,plain:bf16,ours:fp32,plain:fp32",
                    help="comma-separated IMPL:PRECISION pairs (IMPL ours | plain, PRECISION bf16 | fp32)")
    ap.add_argument("--smoke", action="store_true", help="a few seconds on a tiny network (tests/test_benchmarks.py)")
    args = ap.parse_args()
    if args.smoke:
        args.res, args.batch, args.z_dim, args.w_dim = 16, 4, 16, 16
        args.channel_base, args.channel_max, args.mapping_layers, args.steps, args.warmup = 128, 32, 1, 2, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"res {args.res}, batch {args.batch}, channels {args.channel_base}/{args.channel_max}, z/w "
          f"{args.z_dim}/{args.w_dim}, mapping {args.mapping_layers}, device {args.device}, "
          f"threads {torch.get_num_threads()}, {args.steps} steps after {args.warmup} warm-up")
    specs = [tuple(s.strip().split(":")) for s in args.impls.split(",")]
    bad = [":".join(s) for s in specs if len(s) != 2 or s[0] not in ("ours", "plain") or s[1] not in ("bf16", "fp32")]
    if bad:
        sys.exit(f"error: --impls takes IMPL:PRECISION pairs such as ours:bf16,plain:fp32; not {', '.join(bad)}")
    results = []
    for impl, precision in specs:
        r = bench(args, impl, precision)
        results.append(r)
        print(f"{impl:6s} {precision:5s}  {r['img_s']:8.2f} img/s  {r['img_cpu_s']:8.2f} img/CPU-s  "
              f"({r['img_s'] * 3.6:.1f} kimg/h)  G {r['G_params'] / 1e6:.2f} M", flush=True)
    by = {(r["impl"], r["precision"]): r for r in results}
    for prec in ("bf16", "fp32"):
        if ("ours", prec) in by and ("plain", prec) in by:
            o, p = by[("ours", prec)], by[("plain", prec)]
            print(f"speed-up {prec}: {o['img_s'] / p['img_s']:.2f}x wall, {o['img_cpu_s'] / p['img_cpu_s']:.2f}x "
                  f"per CPU-s")
    if ("ours", "bf16") in by and ("plain", "fp32") in by:
        print(f"ours bf16 vs plain fp32: {by[('ours', 'bf16')]['img_s'] / by[('plain', 'fp32')]['img_s']:.2f}x")


if __name__ == "__main__":
    main()
