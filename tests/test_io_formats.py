"""Checkpoint formats: every format gives the same images; name maps cover a full 1024 config."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _io_helpers import (rosinality_config_f_shapes, rosinality_d_state, rosinality_g_state,
                         tf_config_f_d_variables, tf_config_f_variables, tiny_nets, write_nvidia_pkl,
                         write_rosinality_pt, write_tf_pkl)
from faceedit.errors import FaceEditError
from faceedit.io import load_checkpoint, load_native, read_parts, save_native, save_rosinality, sniff_format
from faceedit.io import convert as cv
from faceedit.nn import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

ATOL = 1e-5


@pytest.fixture(scope="module")
def nets():
    return tiny_nets(seed=1)


@pytest.fixture(scope="module")
def z():
    return torch.randn(4, 32, generator=torch.Generator().manual_seed(7))


def _images(G, z, psi=0.7):
    with torch.no_grad():
        return G(z, truncation_psi=psi, noise_mode="const")


def _assert_same_nets(ckpt, nets, z):
    G_ema, G, D = nets
    assert (_images(ckpt.G_ema, z) - _images(G_ema, z)).abs().max() <= ATOL
    assert not ckpt.G_ema.training and all(p.dtype == torch.float32 for p in ckpt.G_ema.parameters())
    if ckpt.G is not None:  # (rosinality's g has no w_avg of its own: compare without truncation)
        assert (_images(ckpt.G, z, psi=1) - _images(G, z, psi=1)).abs().max() <= ATOL
    if ckpt.D is not None:
        img = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            assert (ckpt.D.eval()(img) - D(img)).abs().max() <= ATOL


@pytest.mark.parametrize("protocol", [2, 4])
def test_nvidia_pkl_loads_without_running_its_source(tmp_path, nets, z, protocol):
    G_ema, G, D = nets
    marker = tmp_path / "ran"
    src = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\nclass Generator: pass\n"
    path = tmp_path / "network-snapshot.pkl"
    write_nvidia_pkl(path, G_ema, G, D, protocol=protocol, module_src=src)
    assert sniff_format(path) == "pickle"
    ckpt = load_checkpoint(path)
    assert ckpt.source_format == "nvidia-pkl"
    assert not marker.exists()
    assert ckpt.g_config.resolution == 32 and ckpt.g_config.mapping_layers == 2
    assert ckpt.g_config.channel_base == 512 and ckpt.g_config.channel_max == 32
    assert ckpt.meta["classes"]["G_ema"] == "Generator"
    _assert_same_nets(ckpt, nets, z)


def test_tf_pkl_loads_without_tensorflow(tmp_path, nets, z):
    G_ema, G, D = nets
    path = tmp_path / "stylegan2-tiny-config-f.pkl"
    write_tf_pkl(path, G_ema, G, D)
    ckpt = load_checkpoint(path)
    assert ckpt.source_format == "tf-pkl"
    assert ckpt.g_config.channel_base == 512 and ckpt.g_config.conv_clamp is None
    _assert_same_nets(ckpt, nets, z)


def test_rosinality_pt(tmp_path, nets, z):
    G_ema, G, D = nets
    path = tmp_path / "tiny.pt"
    write_rosinality_pt(path, G_ema, G, D)
    assert sniff_format(path) == "torch-zip"
    ckpt = load_checkpoint(path)
    assert ckpt.source_format == "rosinality"
    _assert_same_nets(ckpt, nets, z)
    # g_ema only (the common pSp/e4e layout): no G, no D
    write_rosinality_pt(tmp_path / "gema.pt", G_ema)
    only = load_checkpoint(tmp_path / "gema.pt")
    assert only.G is None and only.D is None
    assert (_images(only.G_ema, z) - _images(G_ema, z)).abs().max() <= ATOL


def test_native_fp32_and_fp16(tmp_path, nets, z):
    G_ema, G, D = nets
    p32 = save_native(tmp_path / "m32.safetensors", G_ema, D=D, G=G, card={"name": "tiny"}, dtype=torch.float32,
                      write_card=True)
    ckpt = load_native(p32)
    assert ckpt.source_format == "native" and ckpt.meta["card"] == {"name": "tiny"}
    assert (tmp_path / "m32.json").is_file()
    _assert_same_nets(ckpt, nets, z)
    p16 = save_native(tmp_path / "m16.safetensors", G_ema, dtype=torch.float16)
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    half = load_checkpoint(p16)
    assert half.G is None and half.D is None and half.meta["dtype"] == "float16"
    diff = (_images(half.G_ema, z) - _images(G_ema, z)).abs().max().item()
    assert 0 < diff < 0.05


def test_all_formats_identical_images(tmp_path, nets, z):
    G_ema, G, D = nets
    write_nvidia_pkl(tmp_path / "a.pkl", G_ema, G, D)
    write_tf_pkl(tmp_path / "b.pkl", G_ema, G, D)
    write_rosinality_pt(tmp_path / "c.pt", G_ema, G, D)
    save_native(tmp_path / "d.safetensors", G_ema, D=D, G=G, dtype=torch.float32)
    imgs = [_images(load_checkpoint(tmp_path / n, load_training_nets=False).G_ema, z)
            for n in ("a.pkl", "b.pkl", "c.pt", "d.safetensors")]
    for other in imgs[1:]:
        assert (other - imgs[0]).abs().max() <= ATOL


def test_conversions_round_trip(tmp_path, nets, z):
    G_ema, G, D = nets
    write_nvidia_pkl(tmp_path / "src.pkl", G_ema, G, D)
    ckpt = load_checkpoint(tmp_path / "src.pkl")
    # ours → rosinality gives exactly the state dicts rosinality's modules hold
    save_rosinality(tmp_path / "r.pt", ckpt.G_ema, D=ckpt.D, G=ckpt.G)
    ros = torch.load(tmp_path / "r.pt", weights_only=True)
    for key, ref in (("g_ema", rosinality_g_state(G_ema)), ("g", rosinality_g_state(G)), ("d", rosinality_d_state(D))):
        assert set(ros[key]) == set(ref)
        for k in ref:
            assert ros[key][k].shape == ref[k].shape and torch.allclose(ros[key][k], ref[k], atol=0, rtol=0), k
    assert torch.equal(ros["latent_avg"], G_ema.mapping.w_avg)
    # rosinality → safetensors → rosinality → same networks
    r1 = load_checkpoint(tmp_path / "r.pt")
    save_native(tmp_path / "n.safetensors", r1.G_ema, D=r1.D, G=r1.G, dtype=torch.float32)
    n1 = load_checkpoint(tmp_path / "n.safetensors")
    save_rosinality(tmp_path / "r2.pt", n1.G_ema, D=n1.D, G=n1.G)
    r2 = load_checkpoint(tmp_path / "r2.pt")
    for c in (r1, n1, r2):
        _assert_same_nets(c, nets, z)


def _ros_modconv_up(x, weight, style, eps=1e-8):
    """rosinality's fused up-sampling ModulatedConv2d: transposed conv (weight [1, O, I, k, k]) then blur."""
    n, cin, h, w = x.shape
    _, cout, _, k, _ = weight.shape
    scale = 1 / math.sqrt(cin * k * k)
    wt = scale * weight * style.view(n, 1, cin, 1, 1)
    wt = wt * torch.rsqrt(wt.pow(2).sum([2, 3, 4]) + eps).view(n, cout, 1, 1, 1)
    wt = wt.transpose(1, 2).reshape(n * cin, cout, k, k)
    out = F.conv_transpose2d(x.reshape(1, n * cin, h, w), wt, stride=2, groups=n)
    out = out.view(n, cout, *out.shape[2:])
    kernel = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1]))
    kernel = kernel / kernel.sum() * 4
    out = F.pad(out, (1, 1, 1, 1))  # rosinality's pad for k=3, up=2: (pad0, pad1) = (1, 1)
    kw = torch.flip(kernel, [0, 1]).expand(cout, 1, 4, 4)
    return F.conv2d(out, kw, groups=cout)


def test_rosinality_upsampling_conv_matches_ours_numerically(nets):
    """The up-sampling conv weights map unchanged: rosinality's transposed conv + blur equals our conv0."""
    G_ema = nets[0]
    layer = G_ema.synthesis.b16.conv0
    ros = rosinality_g_state(G_ema)
    torch.manual_seed(0)
    x = torch.randn(2, layer.in_channels, 8, 8)
    w = torch.randn(2, 32)
    with torch.no_grad():
        style = layer.affine(w)
        ours = layer(x, style, noise_mode="none")
        ref = _ros_modconv_up(x, ros["convs.2.conv.weight"], style)
        ref = F.leaky_relu(ref + ros["convs.2.activate.bias"].view(1, -1, 1, 1), 0.2) * math.sqrt(2)
    assert ours.shape == ref.shape == (2, layer.out_channels, 16, 16)
    assert (ours - ref).abs().max() < 1e-4
    # and the flip the TF format needs is real: a flipped weight gives a different result
    with torch.no_grad():
        flipped = _ros_modconv_up(x, torch.flip(ros["convs.2.conv.weight"], [3, 4]), style)
        flipped = F.leaky_relu(flipped + ros["convs.2.activate.bias"].view(1, -1, 1, 1), 0.2) * math.sqrt(2)
    assert (ours - flipped).abs().max() > 1e-2


def test_tf_and_rosinality_maps_cover_full_1024_config():
    cfg = GeneratorConfig()  # config-f, 1024 px
    dcfg = DiscriminatorConfig()
    g_shapes = cv.meta_state_shapes(lambda: Generator(cfg))
    d_shapes = cv.meta_state_shapes(lambda: Discriminator(dcfg))
    assert len(g_shapes) > 100 and g_shapes["synthesis.b1024.torgb.weight"] == (3, 32, 1, 1)
    # TF → ours: every tensor of ours has a TF source of the right shape; every TF variable is used (but 'lod')
    tf_g = tf_config_f_variables(1024)
    rules = cv.tf_generator_rules(cfg)
    assert set(rules) == set(g_shapes)
    assert {tf for tf, _ in rules.values()} == set(tf_g) - {"lod"}
    for ours, (tf, fn) in rules.items():
        assert tuple(fn(np.zeros(tf_g[tf], np.float32)).shape) == g_shapes[ours], ours
    tf_d = tf_config_f_d_variables(1024)
    drules = cv.tf_discriminator_rules(dcfg)
    assert set(drules) == set(d_shapes)
    assert {tf for tf, _ in drules.values()} == set(tf_d)
    for ours, (tf, fn) in drules.items():
        assert tuple(fn(np.zeros(tf_d[tf], np.float32)).shape) == d_shapes[ours], ours
    # ours ↔ rosinality: a bijection onto rosinality's config-f state dict (plus its constant blur kernels)
    ros = rosinality_config_f_shapes(1024)
    grules = cv.rosinality_generator_rules(cfg)
    assert {o for o, *_ in grules} == set(g_shapes) - {"mapping.w_avg"}
    assert {r for _, r, *_ in grules} | set(cv.rosinality_generator_buffers(cfg)) == set(ros)
    for ours, r, fwd, back in grules:
        t = torch.empty(g_shapes[ours], device="meta")
        assert tuple(fwd(t).shape) == ros[r], r
        assert tuple(back(torch.empty(ros[r], device="meta")).shape) == g_shapes[ours], ours
    dr = cv.rosinality_discriminator_rules(dcfg)
    assert {o for o, *_ in dr} == set(d_shapes)
    assert len({r for _, r, *_ in dr}) == len(dr)


def test_config_inference_of_config_f_shapes():
    shapes = cv.meta_state_shapes(lambda: Generator(GeneratorConfig()))
    sd = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    cfg = cv.infer_g_config(sd)
    assert (cfg.resolution, cfg.channel_base, cfg.channel_max, cfg.mapping_layers, cfg.z_dim, cfg.w_dim) == \
        (1024, 32768, 512, 8, 512, 512)
    assert cfg.num_ws == 18
    d = {k: torch.empty(s, device="meta") for k, s in cv.meta_state_shapes(lambda: Discriminator()).items()}
    dcfg = cv.infer_d_config(d)
    assert (dcfg.resolution, dcfg.channel_base, dcfg.channel_max, dcfg.mbstd_num_channels) == (1024, 32768, 512, 1)


def test_explicit_config_contradicting_shapes(tmp_path, nets):
    path = tmp_path / "m.safetensors"
    save_native(path, nets[0], dtype=torch.float32)
    with pytest.raises(FaceEditError, match=r"32-px generator.*resolution=1024"):
        load_checkpoint(path, config=GeneratorConfig(resolution=1024, z_dim=32, w_dim=32, mapping_layers=2))
    with pytest.raises(FaceEditError, match="z_dim"):
        load_checkpoint(path, config={**nets[0].cfg.to_dict(), "z_dim": 512})
    ok = load_checkpoint(path, config=nets[0].cfg.to_dict())
    assert ok.g_config == nets[0].cfg


def test_256px_checkpoint_with_1024_config(tmp_path):
    G = Generator(GeneratorConfig(z_dim=16, w_dim=16, resolution=256, channel_base=256, channel_max=8,
                                  mapping_layers=1))
    write_rosinality_pt(tmp_path / "g256.pt", G)
    with pytest.raises(FaceEditError) as e:
        load_checkpoint(tmp_path / "g256.pt", config=GeneratorConfig(resolution=1024, z_dim=16, w_dim=16,
                                                                     mapping_layers=1))
    assert "256" in str(e.value) and "1024" in str(e.value) and "\n" not in str(e.value)


def test_read_parts_reports_format(tmp_path, nets):
    write_tf_pkl(tmp_path / "t.pkl", *nets)
    parts = read_parts(tmp_path / "t.pkl")
    assert parts.source_format == "tf-pkl" and parts.meta["tf_names"] == ["G", "D", "Gs"]
    assert "synthesis.b32.conv0.weight" in parts.G_ema and "b32.fromrgb.weight" in parts.D


def test_bare_safetensors_state_dict(tmp_path, nets, z):
    from safetensors.torch import save_file

    G_ema = nets[0]
    save_file({k: v.contiguous() for k, v in G_ema.state_dict().items()}, str(tmp_path / "bare.safetensors"))
    ckpt = load_checkpoint(tmp_path / "bare.safetensors")
    assert ckpt.source_format == "safetensors-state-dict"
    assert (_images(ckpt.G_ema, z) - _images(G_ema, z)).abs().max() <= ATOL
    save_file({"weight": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(FaceEditError, match="other.safetensors"):
        load_checkpoint(tmp_path / "other.safetensors")


def test_one_format_table_reads_writes_and_helps(tmp_path, nets, z, monkeypatch):
    """A new format is one entry of FORMATS: the loader reads it, `models convert --to` writes it and lists it."""
    from faceedit.cli import main
    from faceedit.io import formats
    from faceedit.io.parts import CheckpointParts

    G_ema = nets[0]
    torch.save({"mine": {"weights": G_ema.state_dict()}}, tmp_path / "mine.pt")
    with pytest.raises(FaceEditError, match="not a StyleGAN2 checkpoint this loader knows"):
        read_parts(tmp_path / "mine.pt")

    def write_mine(path, ckpt, fp16):
        torch.save({"mine": {"weights": ckpt.G_ema.state_dict()}}, path)
        return "mine .pt"

    mine = formats.CheckpointFormat("mine", "torch", "a made-up format", lambda d: isinstance(d, dict) and "mine" in d,
                                    lambda d, source: CheckpointParts("mine", d["mine"]["weights"]), write_mine)
    monkeypatch.setattr(formats, "FORMATS", formats.FORMATS + (mine,))
    ckpt = load_checkpoint(tmp_path / "mine.pt")
    assert ckpt.source_format == "mine"
    assert (_images(ckpt.G_ema, z) - _images(G_ema, z)).abs().max() <= ATOL
    assert set(formats.writers()) == {"safetensors", "native", "rosinality", "mine"}
    assert "mine (a made-up format)" in formats.formats_help()
    save_native(tmp_path / "g.safetensors", G_ema)
    assert main(["models", "convert", str(tmp_path / "g.safetensors"), str(tmp_path / "back.pt"), "--to", "mine"]) == 0
    assert load_checkpoint(tmp_path / "back.pt").source_format == "mine"
    assert main(["models", "convert", str(tmp_path / "g.safetensors"), str(tmp_path / "x"), "--to", "onnx"]) == 2
