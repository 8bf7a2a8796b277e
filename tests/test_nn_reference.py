"""Pins faceedit.nn to an independent, naive StyleGAN2 written from the maths (not from faceedit.nn.ops).

The reference below never calls our ops: FIR up/down-sampling is explicit zero insertion + padding + a direct 2-D
convolution written as a loop over kernel taps; the modulated convolution builds each sample's weight explicitly;
upsampling convolutions are zero insertion followed by a true convolution; minibatch-std is explicit loops over
groups. It runs in float64 and is compared with our float32 networks on the same state dict.
(Checked once against NVIDIA's own stylegan2-ada-pytorch, see benchmarks/README.md "Fidelity".)
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
from faceedit.nn.ops import downsample2d, modulated_conv2d, upfirdn2d, upsample2d

SQRT2 = math.sqrt(2.0)
FIR = [1.0, 3.0, 3.0, 1.0]

# ---------------------------------------------------------------------------------------------------------------
# Naive reference (float64)
# ---------------------------------------------------------------------------------------------------------------


def ref_correlate(x: torch.Tensor, w: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """Direct 'valid' cross-correlation: out[n,o,y,x] = sum_{i,ky,kx} w[o,i,ky,kx] x[n,g(o)*I+i,y+ky,x+kx]."""
    n, c, h, wd = x.shape
    o, i, kh, kw = w.shape
    assert c == i * groups
    oh, ow = h - kh + 1, wd - kw + 1
    xg = x.reshape(n, groups, i, h, wd)
    wg = w.reshape(groups, o // groups, i, kh, kw)
    out = torch.zeros(n, groups, o // groups, oh, ow, dtype=x.dtype)
    for ky in range(kh):
        for kx in range(kw):
            out += torch.einsum("goi,ngihw->ngohw", wg[:, :, :, ky, kx], xg[:, :, :, ky:ky + oh, kx:kx + ow])
    return out.reshape(n, o, oh, ow)


def ref_convolve(x: torch.Tensor, w: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """True (flipped-kernel) 'valid' convolution."""
    return ref_correlate(x, w.flip([2, 3]), groups)


def ref_zero_insert(x: torch.Tensor, up: int) -> torch.Tensor:
    if up == 1:
        return x
    n, c, h, w = x.shape
    y = torch.zeros(n, c, h * up, w * up, dtype=x.dtype)
    y[:, :, ::up, ::up] = x
    return y


def ref_pad(x: torch.Tensor, p0: int, p1: int) -> torch.Tensor:
    """Pad (or crop, when negative) both spatial axes by p0 before and p1 after."""
    h, w = x.shape[2:]
    y = torch.zeros(x.shape[0], x.shape[1], h + max(p0, 0) + max(p1, 0), w + max(p0, 0) + max(p1, 0),
                    dtype=x.dtype)
    y[:, :, max(p0, 0):max(p0, 0) + h, max(p0, 0):max(p0, 0) + w] = x
    c0, c1 = max(-p0, 0), max(-p1, 0)
    return y[:, :, c0:y.shape[2] - c1, c0:y.shape[3] - c1]


def ref_fir_kernel(taps=FIR, gain: float = 1.0) -> torch.Tensor:
    k = torch.tensor(taps, dtype=torch.float64)
    f = torch.outer(k, k)
    return f / f.sum() * gain


def ref_upfirdn(x: torch.Tensor, taps=FIR, up: int = 1, down: int = 1, pad=(0, 0), gain: float = 1.0):
    """Zero-insert by ``up``, pad, convolve (true convolution) with the 2-D FIR, keep every ``down``-th sample."""
    x = ref_pad(ref_zero_insert(x, up), *pad)
    f = ref_fir_kernel(taps, gain)
    c = x.shape[1]
    x = ref_convolve(x, f.expand(c, 1, *f.shape), groups=c)
    return x[:, :, ::down, ::down]


def ref_upsample_img(x):  # upsample2d: pad (2, 1) after zero insertion, gain 4
    return ref_upfirdn(x, up=2, pad=(2, 1), gain=4)


def ref_conv_up(x, w):
    """3x3 conv, ×2 up: zero insertion, pad (2+1, 1+1), FIR (gain 4), then true convolution with the weight."""
    x = ref_upfirdn(x, up=2, pad=(3, 2), gain=4)
    return ref_convolve(x, w)


def ref_conv_down(x, w):
    """kxk conv, ×2 down: pad by k//2 + (1, 1), FIR, cross-correlation, every 2nd sample."""
    p = w.shape[-1] // 2
    x = ref_upfirdn(x, pad=(1 + p, 1 + p))
    x = ref_correlate(x, w)
    return x[:, :, ::2, ::2]


def ref_conv(x, w):
    p = w.shape[-1] // 2
    return ref_correlate(ref_pad(x, p, p), w)


def ref_act(x, b=None, lrelu=False, gain=1.0, clamp=None):
    if b is not None:
        x = x + b.reshape(1, -1, *([1] * (x.ndim - 2)))
    if lrelu:
        x = torch.where(x >= 0, x, 0.2 * x) * SQRT2
    x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def ref_fc(sd, prefix, x, lr=1.0, lrelu=False):
    w = sd[prefix + ".weight"]
    b = sd[prefix + ".bias"] * lr
    y = x @ (w * (lr / math.sqrt(w.shape[1]))).T
    return ref_act(y, b, lrelu=lrelu)


def ref_modconv(x, weight, s, demod=True, up=False):
    """Per-sample explicit weights: w_n = weight * s_n (input channels), optionally demodulated, direct conv."""
    outs = []
    for n in range(x.shape[0]):
        wn = weight * s[n].reshape(1, -1, 1, 1)
        if demod:
            wn = wn / torch.sqrt((wn ** 2).sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        xn = x[n:n + 1]
        outs.append(ref_conv_up(xn, wn) if up else ref_conv(xn, wn))
    return torch.cat(outs)


def ref_mapping(sd, cfg: GeneratorConfig, z, psi=1.0, cutoff=None):
    x = z / torch.sqrt((z ** 2).mean(dim=1, keepdim=True) + 1e-8)
    for i in range(cfg.mapping_layers):
        x = ref_fc(sd, f"mapping.fc{i}", x, lr=cfg.mapping_lr_mult, lrelu=True)
    ws = x.unsqueeze(1).repeat(1, cfg.num_ws, 1)
    w_avg = sd["mapping.w_avg"]
    cut = cfg.num_ws if cutoff is None else cutoff
    for layer in range(cut):
        ws[:, layer] = w_avg + psi * (ws[:, layer] - w_avg)
    return ws


def ref_styles(sd, cfg: GeneratorConfig, ws):
    """StyleSpace order: b4.conv1, b4.torgb, then per resolution conv0, conv1, torgb; ToRGB shares conv's next w."""
    out, w_idx = [], 0
    for res in cfg.block_resolutions:
        names = ["conv1", "torgb"] if res == 4 else ["conv0", "conv1", "torgb"]
        for j, name in enumerate(names):
            out.append((f"b{res}.{name}", ref_fc(sd, f"synthesis.b{res}.{name}.affine", ws[:, w_idx + j])))
        w_idx += len(names) - 1
    return out


def ref_synthesis(sd, cfg: GeneratorConfig, ws, noise_mode="const"):
    styles = dict(ref_styles(sd, cfg, ws))
    n = ws.shape[0]
    x = img = None
    clamp = cfg.conv_clamp
    for res in cfg.block_resolutions:
        p = f"synthesis.b{res}"
        if res == 4:
            x = sd[p + ".const"].unsqueeze(0).repeat(n, 1, 1, 1)
        convs = ["conv1"] if res == 4 else ["conv0", "conv1"]
        for name in convs:
            q = f"{p}.{name}"
            x = ref_modconv(x, sd[q + ".weight"], styles[f"b{res}.{name}"], up=(name == "conv0"))
            if noise_mode == "const":
                x = x + sd[q + ".noise_const"] * sd[q + ".noise_strength"]
            x = ref_act(x, sd[q + ".bias"], lrelu=True, clamp=clamp)
        c = x.shape[1]
        y = ref_modconv(x, sd[p + ".torgb.weight"], styles[f"b{res}.torgb"] / math.sqrt(c), demod=False)
        y = ref_act(y, sd[p + ".torgb.bias"], clamp=clamp)
        img = y if img is None else ref_upsample_img(img) + y
    return img


def ref_mbstd(x, group_size, num_channels):
    n, c, h, w = x.shape
    g = min(group_size, n)
    m = n // g
    feats = torch.zeros(n, num_channels, h, w, dtype=x.dtype)
    cpf = c // num_channels
    for j in range(m):  # group j holds samples j, j + m, j + 2m, ...
        members = [j + k * m for k in range(g)]
        xs = x[members]  # [g, c, h, w]
        for f in range(num_channels):
            part = xs[:, f * cpf:(f + 1) * cpf]
            mean = sum(part[k] for k in range(g)) / g
            var = sum((part[k] - mean) ** 2 for k in range(g)) / g
            val = torch.sqrt(var + 1e-8).mean()
            for s in members:
                feats[s, f] = val
    return torch.cat([x, feats], dim=1)


def ref_discriminator(sd, cfg: DiscriminatorConfig, img):
    r = cfg.resolution
    clamp = cfg.conv_clamp
    x = None
    res = r
    while res > 4:
        p = f"b{res}"
        if res == r:
            w = sd[p + ".fromrgb.weight"] / math.sqrt(w_in(sd[p + ".fromrgb.weight"]))
            x = ref_act(ref_conv(img, w), sd[p + ".fromrgb.bias"], lrelu=True, clamp=clamp)
        ws = sd[p + ".skip.weight"]
        y = ref_upfirdn(x, down=2, pad=(1, 1))
        y = ref_correlate(y, ws / math.sqrt(w_in(ws))) * math.sqrt(0.5)
        w0 = sd[p + ".conv0.weight"]
        x = ref_act(ref_conv(x, w0 / math.sqrt(w_in(w0))), sd[p + ".conv0.bias"], lrelu=True, clamp=clamp)
        w1 = sd[p + ".conv1.weight"]
        x = ref_act(ref_conv_down(x, w1 / math.sqrt(w_in(w1))), sd[p + ".conv1.bias"], lrelu=True,
                    gain=math.sqrt(0.5), clamp=clamp * math.sqrt(0.5))
        x = x + y
        res //= 2
    x = ref_mbstd(x, cfg.mbstd_group_size, cfg.mbstd_num_channels)
    w = sd["b4.conv.weight"]
    x = ref_act(ref_conv(x, w / math.sqrt(w_in(w))), sd["b4.conv.bias"], lrelu=True, clamp=clamp)
    x = ref_fc(sd, "b4.fc", x.flatten(1), lrelu=True)
    return ref_fc(sd, "b4.out", x)


def w_in(w):
    return w.shape[1] * w.shape[2] * w.shape[3]


# ---------------------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------------------

GCFG = dict(z_dim=32, w_dim=32, resolution=32, channel_base=256, channel_max=16, mapping_layers=2)


def randomize_(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Give biases, noise strengths and w_avg non-zero values; return the state dict in float64."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if name.endswith("noise_strength"):
                t.copy_(0.1 + 0.2 * torch.rand([], generator=g))
            elif name.endswith("affine.bias"):
                t.copy_(1 + 0.2 * torch.randn(t.shape, generator=g))
            elif name.endswith("bias") or name.endswith("w_avg"):
                t.copy_(0.2 * torch.randn(t.shape, generator=g) / (100 if name.startswith("mapping.fc") else 1))
    return {k: v.detach().double() for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(**GCFG)).eval()
    sd = randomize_(G, 1)
    return G, sd


def close(a, b, tol=1e-5):
    d = (a.double() - b.double()).abs().max().item()
    assert d <= tol, f"max|diff| = {d:.3g} > {tol}"
    return d


# ---------------------------------------------------------------------------------------------------------------
# Ops vs reference
# ---------------------------------------------------------------------------------------------------------------


def test_reference_correlation_matches_definition():
    # The reference's own building block, checked on one output pixel by hand.
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    out = ref_correlate(x, w)
    assert out.shape == (1, 3, 3, 3)
    manual = sum(w[1, i, a, b] * x[0, i, 1 + a, 2 + b] for i in range(2) for a in range(3) for b in range(3))
    assert abs(out[0, 1, 1, 2].item() - manual.item()) < 1e-12


@pytest.mark.parametrize("up,down,pad,taps", [
    (1, 1, (1, 2, 1, 2), FIR), (2, 1, (2, 1, 2, 1), FIR), (1, 2, (1, 1, 1, 1), FIR),
    (2, 1, (0, 0, 0, 0), [1.0, 2.0, 5.0]), (1, 2, (2, 0, 2, 0), [1.0, 2.0, 5.0]), (1, 1, (-1, 2, -1, 2), FIR),
])
def test_upfirdn2d_matches_reference(up, down, pad, taps):
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    ours = upfirdn2d(x, taps, up=up, down=down, padding=pad, gain=up * up)
    ref = ref_upfirdn(x, taps, up=up, down=down, pad=pad[:2], gain=up * up)
    assert ours.shape == ref.shape
    close(ours, ref, 1e-12)


def test_up_and_downsample2d_match_reference():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    close(upsample2d(x), ref_upsample_img(x), 1e-12)
    assert upsample2d(x).shape[-1] == 16
    d = downsample2d(x)
    assert d.shape[-1] == 4
    close(d, ref_upfirdn(x, down=2, pad=(1, 1)), 1e-12)
    # a constant image stays constant away from the borders (filter sums to 1, gain up^2 for upsampling)
    c = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    assert torch.allclose(upsample2d(c)[..., 2:-2, 2:-2], torch.ones(1, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(downsample2d(c)[..., 1:-1, 1:-1], torch.ones(1, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("up,demod", [(1, True), (2, True), (1, False)])  # conv, conv ×2 up, ToRGB
@pytest.mark.parametrize("fused", [False, True])
def test_modulated_conv2d_matches_reference(up, demod, fused):
    g = torch.Generator().manual_seed(up * 10 + demod)
    x = torch.randn(3, 5, 6, 6, dtype=torch.float64, generator=g)
    k = 3 if demod else 1
    w = torch.randn(4, 5, k, k, dtype=torch.float64, generator=g)
    s = torch.randn(3, 5, dtype=torch.float64, generator=g) + 1
    ours = modulated_conv2d(x, w, s, up=up, padding=k // 2, demodulate=demod, fused=fused)
    ref = ref_modconv(x, w, s, demod=demod, up=(up == 2))
    assert ours.shape == ref.shape == (3, 4, 6 * up, 6 * up)
    close(ours, ref, 1e-11)


def test_fused_equals_non_fused_modconv_fp32():
    x = torch.randn(4, 8, 8, 8)
    w = torch.randn(6, 8, 3, 3)
    s = torch.randn(4, 8)
    noise = torch.randn(4, 1, 16, 16)
    a = modulated_conv2d(x, w, s, noise=noise, up=2, padding=1, fused=False)
    b = modulated_conv2d(x, w, s, noise=noise, up=2, padding=1, fused=True)
    close(a, b, 1e-5)


def test_minibatch_std_matches_loops():
    D = Discriminator(DiscriminatorConfig(resolution=8, channel_base=64, channel_max=8, mbstd_group_size=2,
                                          mbstd_num_channels=2))
    x = torch.randn(6, 8, 4, 4, dtype=torch.float64)
    close(D.b4.mbstd(x), ref_mbstd(x, 2, 2), 1e-12)
    x = torch.randn(3, 8, 4, 4, dtype=torch.float64)  # group larger than the batch: one group of 3
    D.b4.mbstd.group_size = 4
    close(D.b4.mbstd(x), ref_mbstd(x, 4, 2), 1e-12)


# ---------------------------------------------------------------------------------------------------------------
# Whole networks vs reference
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("psi,cutoff,noise_mode", [(1.0, None, "const"), (0.7, None, "none"), (0.5, 3, "const")])
def test_generator_matches_reference(gen, psi, cutoff, noise_mode):
    G, sd = gen
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ours = G(z, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode=noise_mode)
        ws = G.mapping(z, truncation_psi=psi, truncation_cutoff=cutoff)
    ref_ws = ref_mapping(sd, G.cfg, z.double(), psi, cutoff)
    close(ws, ref_ws, 1e-5)
    ref = ref_synthesis(sd, G.cfg, ref_ws, noise_mode)
    assert ours.shape == ref.shape == (3, 3, 32, 32)
    assert ref.abs().max() > 0.1
    close(ours, ref, 1e-5)


def test_synthesis_from_wplus_and_styles_match_reference(gen):
    G, sd = gen
    ws = torch.randn(2, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(6))
    ref = ref_synthesis(sd, G.cfg, ws.double(), "const")
    with torch.no_grad():
        close(G.synthesis(ws, noise_mode="const"), ref)
        styles = G.synthesis.w_to_styles(ws)
        ref_s = ref_styles(sd, G.cfg, ws.double())
        assert [n for n, _ in G.synthesis.style_layers()] == [n for n, _ in ref_s]
        for a, (_, b) in zip(styles, ref_s):
            close(a, b)
        close(G.synthesis(styles=styles, noise_mode="const"), ref)
        close(G.synthesis(ws, noise_mode="const", fused=True), ref)


def test_clamp_is_applied(gen):
    G, sd = gen
    ws = 30 * torch.randn(1, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(11))
    cfg = GeneratorConfig(**{**GCFG, "conv_clamp": 0.5})
    G2 = Generator(cfg).eval()
    G2.load_state_dict(G.state_dict())
    with torch.no_grad():
        out = G2.synthesis(ws, noise_mode="none")
    close(out, ref_synthesis(sd, cfg, ws.double(), "none"))
    with torch.no_grad():
        assert not torch.allclose(out, G.synthesis(ws, noise_mode="none"))


@pytest.mark.parametrize("res,group,batch", [(16, 4, 8), (32, 2, 4)])
def test_discriminator_matches_reference(res, group, batch):
    torch.manual_seed(res)
    D = Discriminator(DiscriminatorConfig(resolution=res, channel_base=128, channel_max=16,
                                          mbstd_group_size=group)).eval()
    sd = randomize_(D, res)
    img = torch.randn(batch, 3, res, res, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = D(img)
    ref = ref_discriminator(sd, D.cfg, img.double())
    assert ours.shape == ref.shape == (batch, 1)
    close(ours, ref, 1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Latent spaces, truncation, noise, shapes
# ---------------------------------------------------------------------------------------------------------------


def test_style_layers_of_config_f():
    with torch.device("meta"):
        G = Generator(GeneratorConfig())
    layers = G.synthesis.style_layers()
    assert len(layers) == 26
    assert sum(c for _, c in layers) == 9088
    assert layers[:5] == [("b4.conv1", 512), ("b4.torgb", 512), ("b8.conv0", 512), ("b8.conv1", 512),
                          ("b8.torgb", 512)]
    assert layers[-3:] == [("b1024.conv0", 64), ("b1024.conv1", 32), ("b1024.torgb", 32)]
    # every StyleSpace channel count is the number of input channels of that layer's weight
    for name, c in layers:
        assert G.get_submodule(f"synthesis.{name}").weight.shape[1] == c


@pytest.mark.parametrize("res,num_ws", [(64, 10), (128, 12), (256, 14), (1024, 18)])
def test_num_ws(res, num_ws):
    cfg = GeneratorConfig(resolution=res)
    assert cfg.num_ws == num_ws
    with torch.device("meta"):
        G = Generator(cfg)
        ws = G.mapping(torch.empty(2, 512))
    assert G.num_ws == num_ws and tuple(ws.shape) == (2, num_ws, 512)
    assert len(G.synthesis.style_layers()) == num_ws + int(math.log2(res)) - 2 == 3 * int(math.log2(res)) - 4


def test_truncation(gen):
    G, _ = gen
    z = torch.randn(4, G.z_dim)
    with torch.no_grad():
        full = G.mapping(z)
        zero = G.mapping(z, truncation_psi=0.0)
        assert torch.allclose(zero, G.mapping.w_avg.expand_as(zero), atol=1e-6)
        cut = G.mapping(z, truncation_psi=0.0, truncation_cutoff=3)
    assert torch.allclose(cut[:, :3], G.mapping.w_avg.expand(4, 3, -1), atol=1e-6)
    assert torch.equal(cut[:, 3:], full[:, 3:])
    assert not torch.allclose(full[:, :3], cut[:, :3])


def test_w_avg_update(gen):
    G, _ = gen
    G2 = Generator(G.cfg)
    G2.load_state_dict(G.state_dict())
    z = torch.randn(5, G.z_dim)
    before = G2.mapping.w_avg.clone()
    with torch.no_grad():
        w = G2.mapping(z)[:, 0]
        G2.mapping(z, update_emas=True)
    beta = G.cfg.w_avg_beta
    close(G2.mapping.w_avg, beta * before + (1 - beta) * w.mean(0), 1e-6)


def test_noise_modes(gen):
    G, _ = gen
    ws = torch.randn(2, G.num_ws, G.w_dim)
    with torch.no_grad():
        c1, c2 = G.synthesis(ws, noise_mode="const"), G.synthesis(ws, noise_mode="const")
        none = G.synthesis(ws, noise_mode="none")
        r1, r2 = G.synthesis(ws, noise_mode="random"), G.synthesis(ws, noise_mode="random")
        torch.manual_seed(3)
        s1 = G.synthesis(ws, noise_mode="random")
        torch.manual_seed(3)
        s2 = G.synthesis(ws, noise_mode="random")
    assert torch.equal(c1, c2)
    assert (none - c1).abs().max() > 1e-3
    assert (r1 - r2).abs().max() > 1e-3
    assert torch.equal(s1, s2)
    with pytest.raises(ValueError):
        G.synthesis(ws, noise_mode="bogus")


def test_zero_noise_strength_makes_modes_equal(gen):
    G, _ = gen
    G2 = Generator(G.cfg).eval()
    G2.load_state_dict(G.state_dict())
    with torch.no_grad():
        for name, p in G2.named_parameters():
            if name.endswith("noise_strength"):
                p.zero_()
        ws = torch.randn(2, G.num_ws, G.w_dim)
        assert torch.equal(G2.synthesis(ws, noise_mode="const"), G2.synthesis(ws, noise_mode="none"))


def test_wrong_shapes_raise(gen):
    G, _ = gen
    with pytest.raises(ValueError):
        G(torch.randn(2, G.z_dim + 1))
    with pytest.raises(ValueError):
        G.mapping(torch.randn(G.z_dim))
    with pytest.raises(ValueError):
        G.synthesis(torch.randn(2, G.num_ws - 1, G.w_dim))
    with pytest.raises(ValueError):
        G.synthesis(torch.randn(2, G.num_ws, G.w_dim + 1))
    with pytest.raises(ValueError):
        G.synthesis()
    styles = G.synthesis.w_to_styles(torch.randn(2, G.num_ws, G.w_dim))
    with pytest.raises(ValueError):
        G.synthesis(styles=styles[:-1])
    bad = list(styles)
    bad[3] = bad[3][:, :-1]
    with pytest.raises(ValueError):
        G.synthesis(styles=bad)
    D = Discriminator(DiscriminatorConfig(resolution=16, channel_base=64, channel_max=8))
    with pytest.raises(ValueError):
        D(torch.randn(4, 3, 32, 32))
    with pytest.raises(ValueError):
        D(torch.randn(6, 3, 16, 16))  # batch not a multiple of the minibatch-std group (4)


def rel_close(a, b, rtol=1e-5):
    return close(a, b, rtol * b.abs().max().item())


def test_gradients_match_reference(gen):
    """Autograd through our float32 ops equals autograd through the float64 reference: training depends on it."""
    G, sd = gen
    G.zero_grad(set_to_none=True)
    ws = torch.randn(2, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(12))
    r = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(13))
    ws1 = ws.clone().requires_grad_(True)
    (G.synthesis(ws1, noise_mode="const") * r).sum().backward()
    name = "synthesis.b16.conv0.weight"
    sd_ref = {k: v.clone().requires_grad_(k == name) for k, v in sd.items()}
    ws2 = ws.double().requires_grad_(True)
    (ref_synthesis(sd_ref, G.cfg, ws2, "const") * r.double()).sum().backward()
    rel_close(ws1.grad, ws2.grad)
    rel_close(G.get_parameter(name).grad, sd_ref[name].grad)
    G.zero_grad(set_to_none=True)

    D = Discriminator(DiscriminatorConfig(resolution=16, channel_base=128, channel_max=16))
    dsd = randomize_(D, 4)
    img = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(14))
    i1, i2 = img.clone().requires_grad_(True), img.double().requires_grad_(True)
    g1, = torch.autograd.grad(D(i1).sum(), i1, create_graph=True)  # R1-style double backward
    g2, = torch.autograd.grad(ref_discriminator(dsd, D.cfg, i2).sum(), i2, create_graph=True)
    rel_close(g1, g2)
    g1.square().sum().backward()
    assert D.b16.conv1.weight.grad is not None and D.b16.conv1.weight.grad.abs().max() > 0


def test_layouts_and_fusion_give_the_same_image(gen):
    """The fast paths (channels-last, per-sample weights) compute the same image."""
    G, _ = gen
    ws = torch.randn(2, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(15))
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode="const", channels_last=False, fused=False)
        for cl, fused in [(False, True), (True, False), (True, True)]:
            close(G.synthesis(ws, noise_mode="const", channels_last=cl, fused=fused), ref, 1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision(gen, dtype):
    G, _ = gen
    ws = torch.randn(2, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(15))
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode="const")
        try:
            low = G.synthesis(ws, noise_mode="const", dtype=dtype)
        except RuntimeError as e:  # some CPU builds lack fp16 convolutions
            pytest.skip(f"{dtype} not supported here: {e}")
    assert low.dtype == torch.float32 and low.shape == ref.shape
    assert (low - ref).abs().max() < 0.05 * ref.abs().max()
