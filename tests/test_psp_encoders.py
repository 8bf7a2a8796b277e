"""Published pSp / e4e checkpoints: key layout, restricted loading, outputs (faceedit.invert.psp, io.safe_torch).

The checkpoints here are written the way pSp's and e4e's training code writes them — ``torch.save`` of a dict with
``state_dict`` (``encoder.*`` and ``decoder.*``), ``opts`` (``vars(opts)`` or the argparse Namespace) and
``latent_avg`` — with random weights and key names generated from the published layout by :func:`official_layout`
below (written from the layout, independently of the module under test)."""

import argparse
import os
from pathlib import Path

import pytest
import torch

from faceedit.errors import FaceEditError
from faceedit.invert.psp import PSPConfig, PSPEncoder, PSPEncoderNet, load_psp, read_psp
from faceedit.io.safe_pickle import UnsafePickleError

SMALL = dict(widths=(16, 16, 32, 32), stem=16)  # same names as the official files, narrower


def _bn(prefix: str, c: int) -> dict:
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def official_layout(widths=(64, 128, 256, 512), stem=64, num_ws=18, input_size=256) -> dict[str, tuple]:
    """name → shape of the encoder's tensors in an official pSp / e4e checkpoint (IR-SE50, 3-4-14-3 units)."""
    out = {"input_layer.0.weight": (stem, 3, 3, 3), **_bn("input_layer.1", stem), "input_layer.2.weight": (stem,)}
    i, cin = 0, stem
    for width, n in zip(widths, (3, 4, 14, 3)):
        for _ in range(n):
            p = f"body.{i}"
            if cin != width:
                out[f"{p}.shortcut_layer.0.weight"] = (width, cin, 1, 1)
                out.update(_bn(f"{p}.shortcut_layer.1", width))
            out.update(_bn(f"{p}.res_layer.0", cin))
            out[f"{p}.res_layer.1.weight"] = (width, cin, 3, 3)
            out[f"{p}.res_layer.2.weight"] = (width,)
            out[f"{p}.res_layer.3.weight"] = (width, width, 3, 3)
            out.update(_bn(f"{p}.res_layer.4", width))
            out[f"{p}.res_layer.5.fc1.weight"] = (width // 16, width, 1, 1)
            out[f"{p}.res_layer.5.fc2.weight"] = (width, width // 16, 1, 1)
            i, cin = i + 1, width
    w = widths[3]
    for s in range(num_ws):
        spatial = input_size // (16 if s < 3 else 8 if s < 7 else 4)
        for j in range(spatial.bit_length() - 1):
            out[f"styles.{s}.convs.{2 * j}.weight"] = (w, w, 3, 3)
            out[f"styles.{s}.convs.{2 * j}.bias"] = (w,)
        out[f"styles.{s}.linear.weight"] = (w, w)
        out[f"styles.{s}.linear.bias"] = (w,)
    out.update({"latlayer1.weight": (w, widths[2], 1, 1), "latlayer1.bias": (w,),
                "latlayer2.weight": (w, widths[1], 1, 1), "latlayer2.bias": (w,)})
    return out


def random_state(layout: dict[str, tuple], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in layout.items():
        if name.endswith("num_batches_tracked"):
            sd[name] = torch.tensor(100)
        elif name.endswith("running_var"):
            sd[name] = 0.5 + torch.rand(shape, generator=g)
        elif name.endswith("running_mean"):
            sd[name] = 0.1 * torch.randn(shape, generator=g)
        elif len(shape) >= 2:  # conv / linear weights: roughly variance-preserving
            fan_in = int(torch.tensor(shape[1:]).prod())
            scale = 1.0 if name.endswith("linear.weight") else fan_in ** -0.5
            sd[name] = torch.randn(shape, generator=g) * scale
        elif ".res_layer.2." in name or name == "input_layer.2.weight":  # PReLU slopes
            sd[name] = torch.full(shape, 0.25)
        elif name.endswith("weight"):  # BatchNorm scale
            sd[name] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            sd[name] = 0.1 * torch.randn(shape, generator=g)
    return sd


def write_official(path: Path, kind: str = "e4e", opts_as: str = "dict", num_ws: int = 10, input_size: int = 64,
                   seed: int = 0, latent_avg: torch.Tensor | None = None, widths=SMALL["widths"], **extra) -> dict:
    """A random-weight checkpoint written as pSp/e4e's coach writes it; returns the encoder's state dict."""
    enc = random_state(official_layout(widths=widths, stem=SMALL["stem"], num_ws=num_ws, input_size=input_size),
                       seed)
    decoder = {"style.1.weight": torch.randn(32, 32), "input.input": torch.randn(1, 32, 4, 4)}
    opts = {"encoder_type": {"e4e": "Encoder4Editing", "psp": "GradualStyleEncoder"}[kind],
            "start_from_latent_avg": True, "stylegan_size": 4 * 2 ** (num_ws // 2 - 1), "lr": 1e-4,
            "exp_dir": "/checkpoint/exp", "learn_in_w": False, **extra}
    if latent_avg is None:
        latent_avg = torch.randn(num_ws, widths[3], generator=torch.Generator().manual_seed(seed + 1))
    state = {"state_dict": {**{f"encoder.{k}": v for k, v in enc.items()},
                            **{f"decoder.{k}": v for k, v in decoder.items()}},
             "opts": argparse.Namespace(**opts) if opts_as == "namespace" else opts, "latent_avg": latent_avg}
    torch.save(state, path)
    return enc


def test_full_size_layout_is_the_official_one():
    """The 1024-px encoder (18 heads, 256-px input) has exactly the official names and shapes (267 M values)."""
    with torch.device("meta"):
        net = PSPEncoderNet(PSPConfig())
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    want = official_layout()
    assert got == want
    assert len(want) == 621
    assert sum(torch.Size(s).numel() for s in want.values()) == 267_161_076


@pytest.mark.parametrize("kind,opts_as", [("e4e", "dict"), ("psp", "dict"), ("e4e", "namespace")])
def test_official_checkpoint_loads_through_the_restricted_reader(tmp_path, kind, opts_as, one_torch_thread):
    path = tmp_path / f"{kind}_ffhq_encode.pt"
    enc_sd = write_official(path, kind, opts_as)
    ck = load_psp(path)
    assert ck.encoder.kind == kind
    assert ck.encoder.cfg == PSPConfig(kind=kind, num_ws=10, input_size=64, **SMALL)
    for name, t in ck.encoder.net.state_dict().items():  # every tensor, by name
        assert torch.equal(t, enc_sd[name].to(t.dtype)), name
    assert set(ck.decoder) == {"style.1.weight", "input.input"}
    assert ck.opts["encoder_type"] in ("Encoder4Editing", "GradualStyleEncoder") and ck.opts["lr"] == 1e-4


def test_outputs_are_w_plus_around_latent_avg(tmp_path, one_torch_thread):
    """w+ [N, num_ws, w_dim] = codes + latent_avg; heads with zero output give latent_avg exactly."""
    avg = torch.randn(10, 32)
    path = tmp_path / "e4e.pt"
    write_official(path, "e4e", latent_avg=avg)
    enc = load_psp(path).encoder
    x = torch.rand(3, 3, 96, 96) * 2 - 1  # resized to the encoder's input size inside
    ws = enc.encode(x)
    assert ws.shape == (3, 10, 32) and torch.isfinite(ws).all()
    codes = enc.net(enc.prepare(x))
    assert torch.allclose(ws, codes + avg[None], atol=1e-5)
    assert not torch.allclose(ws[0], ws[1])  # different faces, different codes
    # batch independence (BatchNorm in eval mode)
    assert torch.allclose(enc.encode(x[1:2]), ws[1:2], atol=1e-4)
    with torch.no_grad():
        for head in enc.net.styles:
            head.linear.weight.zero_()
            head.linear.bias.zero_()
    assert torch.equal(enc.encode(x), avg.expand(3, -1, -1))


def test_e4e_is_one_w_plus_offsets_and_psp_is_not(tmp_path, one_torch_thread):
    """e4e: w+[i] = head0 + head_i (i ≥ 1); zeroing heads 1.. makes all entries equal. pSp's heads are independent."""
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    encs = {}
    for kind in ("e4e", "psp"):
        write_official(tmp_path / f"{kind}.pt", kind, latent_avg=torch.zeros(32))
        encs[kind] = load_psp(tmp_path / f"{kind}.pt").encoder
    e4e, psp = encs["e4e"], encs["psp"]
    same_weights_as = e4e.net.state_dict()
    psp.net.load_state_dict(same_weights_as)
    we, wp = e4e.encode(x), psp.encode(x)
    assert torch.allclose(we[:, 0], wp[:, 0], atol=1e-5)  # entry 0: head 0 in both
    assert torch.allclose(we[:, 1:], wp[:, 1:] + wp[:, :1], atol=1e-4)  # e4e adds head 0 to every entry
    with torch.no_grad():
        for head in e4e.net.styles[1:]:
            head.linear.weight.zero_()
            head.linear.bias.zero_()
    w1 = e4e.encode(x)
    assert torch.allclose(w1, w1[:, :1].expand_as(w1))


def test_latent_avg_of_one_row_applies_to_every_entry(tmp_path):
    write_official(tmp_path / "a.pt", "psp", latent_avg=torch.full((32,), 0.5))
    enc = load_psp(tmp_path / "a.pt").encoder
    assert enc.w_avg.shape == (10, 32) and torch.equal(enc.w_avg, torch.full((10, 32), 0.5))


def test_code_in_the_file_is_never_run(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    write_official(path)
    data = torch.load(path, weights_only=False)
    data["opts"]["hook"] = Evil()
    torch.save(data, path)
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        load_psp(path)
    assert not marker.exists()


@pytest.mark.parametrize("change,match", [
    (lambda d: d["state_dict"].pop("encoder.latlayer1.weight"), "missing.*latlayer1"),
    (lambda d: d["state_dict"].__setitem__("encoder.styles.3.linear.weight", torch.zeros(32, 16)),
     r"styles.3.linear.weight has shape \[32, 16\], expected \[32, 32\]"),
    (lambda d: d["state_dict"].__setitem__("encoder.extra.weight", torch.zeros(1)), "unexpected.*extra"),
    (lambda d: d.__setitem__("latent_avg", torch.zeros(7, 32)), "latent_avg has shape"),
    (lambda d: d.pop("latent_avg"), "no latent_avg"),
    (lambda d: d["opts"].__setitem__("encoder_type", "BackboneEncoderUsingLastLayerIntoW"), "not supported"),
    (lambda d: d["state_dict"]["encoder.latlayer2.bias"].fill_(float("nan")), "NaN"),
    (lambda d: d.__setitem__("state_dict", {"x": torch.zeros(1)}), "not a pSp/e4e checkpoint"),
])
def test_wrong_checkpoints_fail_with_one_line(tmp_path, change, match):
    path = tmp_path / "bad.pt"
    write_official(path)
    data = torch.load(path, weights_only=False)
    change(data)
    torch.save(data, path)
    with pytest.raises(FaceEditError, match=match) as err:
        load_psp(path)
    assert "\n" not in str(err.value)


def test_truncated_and_legacy_files(tmp_path):
    path = tmp_path / "e4e.pt"
    enc_sd = write_official(path)
    raw = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FaceEditError, match="truncated|corrupt"):
        load_psp(tmp_path / "cut.pt")
    legacy = tmp_path / "legacy.pt"  # PyTorch's pre-1.6 format
    torch.save(torch.load(path, weights_only=False), legacy, _use_new_zipfile_serialization=False)
    ck = load_psp(legacy)
    assert torch.equal(ck.encoder.net.latlayer1.weight, enc_sd["latlayer1.weight"])


def test_invert_takes_a_psp_file_as_encoder(tmp_path, one_torch_thread):
    """``invert --encoder FILE.pt`` path: load_encoder reads the file, checks the generator's shape, encodes."""
    from faceedit.invert.encoder import load_encoder

    path = tmp_path / "e4e.pt"
    write_official(path)

    class Model:  # what load_encoder reads of a model
        w_dim, num_ws, sha256, name, device = 32, 10, "ab" * 32, "tiny", torch.device("cpu")

    enc, card = load_encoder(path, Model())
    assert card["kind"] == "e4e" and enc.encode(torch.zeros(1, 3, 64, 64)).shape == (1, 10, 32)
    Model.num_ws = 14
    with pytest.raises(FaceEditError, match="10 w\\+ layers of 32"):
        load_encoder(path, Model())


def test_read_psp_refuses_non_dicts():
    with pytest.raises(FaceEditError, match="not a pSp/e4e"):
        read_psp([1, 2], "x.pt")


def test_full_size_e4e_gives_18_by_512_from_a_256px_input(one_torch_thread):
    """The 1024-px layout end to end (default random init): a 1024-px photo is resized to 256 px → w+ [N, 18, 512]."""
    torch.manual_seed(0)
    avg = torch.randn(512)
    enc = PSPEncoder(PSPConfig(kind="e4e"), avg).eval()
    x = torch.rand(1, 3, 1024, 1024) * 2 - 1
    assert enc.prepare(x).shape == (1, 3, 256, 256)
    ws = enc.encode(x)
    assert ws.shape == (1, 18, 512) and torch.isfinite(ws).all()
    assert torch.allclose(ws - avg, enc.net(enc.prepare(x)), atol=1e-5)


def test_the_generator_inside_a_psp_file_loads_as_a_model(tmp_path, one_torch_thread):
    """pSp/e4e files carry their StyleGAN2 (rosinality names under 'decoder.'): --model e4e_ffhq_encode.pt works."""
    from _edit_helpers import tiny_model

    from faceedit.io import load_checkpoint
    from faceedit.io.rosinality import rosinality_state

    m = tiny_model(32)
    ros = rosinality_state(m.G)
    path = tmp_path / "e4e_tiny.pt"
    write_official(path, num_ws=m.num_ws, latent_avg=ros["latent_avg"].repeat(m.num_ws, 1))
    data = torch.load(path, weights_only=False)
    data["state_dict"] = {k: v for k, v in data["state_dict"].items() if k.startswith("encoder.")}
    data["state_dict"].update({f"decoder.{k}": v for k, v in ros["g_ema"].items()})
    torch.save(data, path)
    ck = load_checkpoint(path)
    ws = m.map(torch.randn(2, m.z_dim, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        assert torch.allclose(ck.G_ema.synthesis(ws, noise_mode="const"), m.G.synthesis(ws, noise_mode="const"),
                              atol=1e-4)
    assert torch.allclose(ck.G_ema.mapping.w_avg, m.G.mapping.w_avg)


def test_cli_invert_with_an_e4e_file(tmp_path, one_torch_thread):
    """`faceedit invert --encoder e4e.pt --method encoder` on the default model (w+ 10 × 256): the latents written
    are the encoder's output for the photo."""
    import numpy as np
    from PIL import Image

    import faceedit
    from faceedit.cli import main

    m = faceedit.load()
    path = tmp_path / "e4e_default.pt"
    write_official(path, num_ws=m.num_ws, input_size=32, widths=(16, 16, 32, m.w_dim),
                   latent_avg=m.G.mapping.w_avg.detach().clone())
    photo = (np.random.RandomState(0).rand(m.resolution, m.resolution, 3) * 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "face.png")
    out = tmp_path / "face.npz"
    assert main(["invert", str(tmp_path / "face.png"), "--aligned", "--encoder", str(path), "--method", "encoder",
                 "-o", str(out), "--quiet"]) == 0
    ws = torch.from_numpy(np.load(out)["ws"]) if "ws" in np.load(out).files else None
    assert ws is not None and ws.shape == (1, m.num_ws, m.w_dim)
    enc = load_psp(path).encoder
    want = enc.encode(torch.from_numpy(photo).permute(2, 0, 1)[None])
    assert torch.allclose(ws.float(), want, atol=1e-3)
    # pivotal tuning takes the e4e code as its pivot
    piv = tmp_path / "pivotal.npz"
    assert main(["invert", str(tmp_path / "face.png"), "--aligned", "--encoder", str(path), "--method", "pivotal",
                 "--steps", "2", "--perceptual", "none", "-o", str(piv), "--quiet"]) == 0
    assert torch.allclose(torch.from_numpy(np.load(piv)["ws"]).float(), want, atol=1e-3)


def test_web_upload_path_takes_a_loaded_e4e(tmp_path, one_torch_thread):
    """`serve --encoder e4e.pt` loads the encoder once and the upload handler calls invert_photo(path, model,
    **invert_options): a loaded pSp/e4e encoder is taken as it is."""
    import numpy as np
    from PIL import Image

    import faceedit
    from faceedit.invert import invert_photo
    from faceedit.invert.encoder import load_encoder

    m = faceedit.load()
    path = tmp_path / "e4e_default.pt"
    write_official(path, num_ws=m.num_ws, input_size=32, widths=(16, 16, 32, m.w_dim),
                   latent_avg=m.G.mapping.w_avg.detach().clone())
    enc, _ = load_encoder(path, m)
    photo = (np.random.RandomState(1).rand(m.resolution, m.resolution, 3) * 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "face.png")
    inv = invert_photo(tmp_path / "face.png", m, method="encoder", aligned=True, encoder=enc)
    assert torch.allclose(inv.ws.float(), enc.encode(torch.from_numpy(photo).permute(2, 0, 1)[None]), atol=1e-3)
