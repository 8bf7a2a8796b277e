"""The CLIP ViT image encoder read from OpenAI CLIP / open_clip state dicts: random weights in that layout (the
real weights cannot be had offline)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from faceedit.adapt.clip import CLIPVisual, ViTConfig, load_clip
from faceedit.errors import FaceEditError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CFG = ViTConfig(width=64, layers=2, patch=8, grid=4, embed_dim=24)


def clip_state(cfg: ViTConfig = CFG, seed: int = 0, prefix: str = "visual.") -> dict[str, torch.Tensor]:
    """A CLIP-layout state dict with random image-tower weights and a few text-tower keys beside them."""
    g = torch.Generator().manual_seed(seed)
    w = cfg.width
    sd = {"class_embedding": torch.randn(w, generator=g) * 0.1,
          "positional_embedding": torch.randn(cfg.grid ** 2 + 1, w, generator=g) * 0.1,
          "conv1.weight": torch.randn(w, 3, cfg.patch, cfg.patch, generator=g) * 0.05,
          "ln_pre.weight": 1 + 0.1 * torch.randn(w, generator=g), "ln_pre.bias": 0.1 * torch.randn(w, generator=g),
          "ln_post.weight": 1 + 0.1 * torch.randn(w, generator=g), "ln_post.bias": 0.1 * torch.randn(w, generator=g),
          "proj": torch.randn(w, cfg.embed_dim, generator=g) * w ** -0.5}
    for i in range(cfg.layers):
        b = f"transformer.resblocks.{i}."
        sd.update({b + "ln_1.weight": 1 + 0.1 * torch.randn(w, generator=g), b + "ln_1.bias": torch.zeros(w),
                   b + "attn.in_proj_weight": torch.randn(3 * w, w, generator=g) * w ** -0.5,
                   b + "attn.in_proj_bias": 0.1 * torch.randn(3 * w, generator=g),
                   b + "attn.out_proj.weight": torch.randn(w, w, generator=g) * w ** -0.5,
                   b + "attn.out_proj.bias": 0.1 * torch.randn(w, generator=g),
                   b + "ln_2.weight": torch.ones(w), b + "ln_2.bias": torch.zeros(w),
                   b + "mlp.c_fc.weight": torch.randn(4 * w, w, generator=g) * w ** -0.5,
                   b + "mlp.c_fc.bias": torch.zeros(4 * w),
                   b + "mlp.c_proj.weight": torch.randn(w, 4 * w, generator=g) * (4 * w) ** -0.5,
                   b + "mlp.c_proj.bias": torch.zeros(w)})
    out = {prefix + k: v for k, v in sd.items()}
    out.update({"token_embedding.weight": torch.randn(10, 8), "logit_scale": torch.tensor(4.6),
                "text_projection": torch.randn(8, 24)})
    return out


def reference_encode(sd: dict, x: torch.Tensor, cfg: ViTConfig = CFG) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP's image tower written out by hand from the state dict (heads of 64 channels, QuickGELU)."""
    v = {k[len("visual."):]: t for k, t in sd.items() if k.startswith("visual.")}
    w, heads = cfg.width, cfg.width // 64
    side = cfg.image_size
    x = F.interpolate(x, size=(side, side), mode="bicubic", align_corners=False)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    x = ((x + 1) / 2 - mean) / std
    h = F.conv2d(x, v["conv1.weight"], stride=cfg.patch).flatten(2).transpose(1, 2)
    h = torch.cat([v["class_embedding"].expand(h.shape[0], 1, w), h], 1) + v["positional_embedding"]
    h = F.layer_norm(h, (w,), v["ln_pre.weight"], v["ln_pre.bias"])
    for i in range(cfg.layers):
        p = lambda k: v[f"transformer.resblocks.{i}.{k}"]  # noqa: E731
        a = F.layer_norm(h, (w,), p("ln_1.weight"), p("ln_1.bias"))
        q, k, val = (a @ p("attn.in_proj_weight").T + p("attn.in_proj_bias")).chunk(3, dim=-1)
        split = lambda t: t.reshape(t.shape[0], t.shape[1], heads, w // heads).transpose(1, 2)  # noqa: E731
        att = torch.softmax(split(q) @ split(k).transpose(-1, -2) / (w // heads) ** 0.5, -1) @ split(val)
        att = att.transpose(1, 2).reshape(h.shape)
        h = h + att @ p("attn.out_proj.weight").T + p("attn.out_proj.bias")
        m = F.layer_norm(h, (w,), p("ln_2.weight"), p("ln_2.bias")) @ p("mlp.c_fc.weight").T + p("mlp.c_fc.bias")
        m = m * torch.sigmoid(1.702 * m)
        h = h + m @ p("mlp.c_proj.weight").T + p("mlp.c_proj.bias")
    emb = F.layer_norm(h[:, 0], (w,), v["ln_post.weight"], v["ln_post.bias"]) @ v["proj"]
    return emb, h[:, 1:]


def test_reads_the_layout_and_matches_a_hand_written_forward_pass():
    sd = clip_state()
    net = load_clip(sd)
    assert net.cfg == CFG and net.cfg.heads == 1 and net.cfg.image_size == 32
    x = torch.rand(2, 3, 48, 48) * 2 - 1
    emb, tokens = net.encode(x)
    assert emb.shape == (2, 24) and tokens.shape == (2, 16, 64)
    ref_emb, ref_tokens = reference_encode(sd, x)
    assert torch.allclose(emb, ref_emb, atol=1e-4) and torch.allclose(tokens, ref_tokens, atol=1e-4)
    other = load_clip(clip_state(seed=1))
    assert not torch.allclose(other.encode(x)[0], emb, atol=1e-3)  # the weights matter


def test_two_heads_and_gelu_follow_the_width_and_the_option():
    cfg = ViTConfig(width=128, layers=1, patch=16, grid=2, embed_dim=8)
    sd = clip_state(cfg)
    quick, gelu = load_clip(sd), load_clip(sd, act="gelu")
    assert quick.cfg.heads == 2 and gelu.cfg.act == "gelu"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert not torch.allclose(quick.encode(x)[0], gelu.encode(x)[0], atol=1e-5)


def test_open_clip_wrapping_and_files(tmp_path):
    from safetensors.torch import save_file

    sd = clip_state()
    wrapped = {"state_dict": {"module." + k: v for k, v in sd.items()}}
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    want = load_clip(sd).encode(x)[0]
    assert torch.allclose(load_clip(wrapped).encode(x)[0], want)
    torch.save(wrapped, tmp_path / "open_clip.pt")
    assert torch.allclose(load_clip(tmp_path / "open_clip.pt").encode(x)[0], want)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "clip.safetensors"))
    assert torch.allclose(load_clip(tmp_path / "clip.safetensors").encode(x)[0], want)
    visual_only = {k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.")}
    assert torch.allclose(load_clip(visual_only).encode(x)[0], want)


def test_wrong_layouts_give_one_line_errors(tmp_path):
    sd = clip_state()
    del sd["visual.transformer.resblocks.1.mlp.c_fc.bias"]
    with pytest.raises(FaceEditError, match="missing visual.transformer.resblocks.1.mlp.c_fc.bias"):
        load_clip(sd)
    bad = clip_state()
    bad["visual.proj"] = torch.zeros(32, 24)
    with pytest.raises(FaceEditError, match="visual.proj has shape"):
        load_clip(bad)
    with pytest.raises(FaceEditError, match="CLIP ResNet"):
        load_clip({"visual.layer1.0.conv1.weight": torch.zeros(1), "visual.attnpool.c_proj.weight": torch.zeros(1)})
    with pytest.raises(FaceEditError, match="not a CLIP ViT"):
        load_clip({"features.0.weight": torch.zeros(3)})
    nan = clip_state()
    nan["visual.ln_pre.weight"][0] = float("nan")
    with pytest.raises(FaceEditError, match="NaN"):
        load_clip(nan)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(FaceEditError, match="cannot read CLIP weights"):
        load_clip(tmp_path / "junk.pt")
    with pytest.raises(FaceEditError, match="not found"):
        load_clip(tmp_path / "absent.pt")
    with pytest.raises(FaceEditError, match="activation"):
        CLIPVisual(ViTConfig(act="relu"))
