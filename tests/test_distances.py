"""faceedit.metrics.distances: the interface, VGG16/VGG19/LPIPS from user files (random weights, the torchvision
and lpips key layouts, bad files), identity, the offline perceptual distances on the face-api and the fetched VGG16
weights, and the choice of the default perceptual loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faceedit.errors import FaceEditError
from faceedit.features import have_vgg16
from faceedit.metrics import distances as D
from faceedit.scorers import fetch

HQ = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "celebamask-hq" / "images"
needs_weights = pytest.mark.skipif(not fetch.have_weights(),
                                   reason=f"face-api weights not in {fetch.resolve_dir(None)}: run "
                                          "faceedit scorers fetch-faceapi (needs npm)")
needs_faces = pytest.mark.skipif(not HQ.is_dir(), reason=f"face data not found: {HQ}")
needs_vgg16 = pytest.mark.skipif(not have_vgg16(), reason="ImageNet VGG16 weights not fetched: run faceedit "
                                                          "features fetch vgg16")

VGG16_BLOCKS = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))
VGG19_BLOCKS = ((0, 2), (5, 7), (10, 12, 14, 16), (19, 21, 23, 25), (28, 30, 32, 34))
CHANNELS = (64, 128, 256, 512, 512)  # per block


def _images(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def _random_vgg_state(seed=0, blocks=VGG16_BLOCKS) -> dict[str, torch.Tensor]:
    """A torchvision-format VGG16 (or VGG19) state dict with random weights (He init so activations stay
    alive)."""
    g = torch.Generator().manual_seed(seed)
    state, cin = {}, 3
    for block, cout in zip(blocks, CHANNELS):
        for idx in block:
            state[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
            state[f"features.{idx}.bias"] = torch.randn(cout, generator=g) * 0.01
            cin = cout
    state["classifier.0.weight"] = torch.zeros(4, 4)  # torchvision files carry the classifier too: ignored
    return state


def _random_lin(seed=1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for k, c in enumerate(CHANNELS)}


def _lpips_reference(state, lin, a, b, blocks=VGG16_BLOCKS):
    """LPIPS-VGG written out independently: scaling layer, the convs by index, taps after the last ReLU of each
    block (relu1_2 … relu5_3 for VGG16); without ``lin`` the unweighted mean over the five layers."""
    shift = torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None]
    scale = torch.tensor([0.458, 0.448, 0.450])[None, :, None, None]

    def feats(x):
        x = (x - shift) / scale
        out = []
        for block in blocks:
            if block[0] != 0:
                x = F.max_pool2d(x, 2)
            for i in block:
                x = F.relu(F.conv2d(x, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1))
            out.append(x)
        return out

    total = 0
    for k, (fa_, fb_) in enumerate(zip(feats(a), feats(b))):
        na = fa_ / (fa_.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        nb = fb_ / (fb_.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        d = F.conv2d((na - nb) ** 2, lin[f"lin{k}.model.1.weight"]) if lin else ((na - nb) ** 2).sum(1, keepdim=True)
        total = total + d.mean(dim=(2, 3))[:, 0]
    return total if lin else total / 5


def _one_line_error(fn, match: str) -> str:
    with pytest.raises(FaceEditError, match=match) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400, msg
    return msg


# ------------------------------------------------------------------------------------------------ interface
def test_pixel_distances_and_broadcasting():
    a, b = _images(3), _images(3, seed=1)
    mse, l1 = D.get("mse"), D.get("l1")
    torch.testing.assert_close(mse(a, b), ((a - b) ** 2).mean(dim=(1, 2, 3)))
    torch.testing.assert_close(l1(a, b), (a - b).abs().mean(dim=(1, 2, 3)))
    torch.testing.assert_close(mse(a[:1], b), mse(a[:1].expand(3, -1, -1, -1), b))
    assert isinstance(mse, D.Distance) and mse.differentiable


def test_interface_rejects_bad_inputs():
    d = D.get("mse")
    with pytest.raises(FaceEditError, match="differ in size"):
        d(_images(1, 32), _images(1, 16))
    with pytest.raises(FaceEditError, match="batch size"):
        d(_images(2), _images(3))
    with pytest.raises(FaceEditError, match=r"\[N, 3, H, W\]"):
        d(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))
    with pytest.raises(FaceEditError, match="unknown distance"):
        D.get("ssim")
    with pytest.raises(FaceEditError, match="needs weights files"):
        D.get("lpips")
    with pytest.raises(FaceEditError, match="unknown identity backend"):
        D.IdentityDistance(backend="arcface")


# ------------------------------------------------------------------------------------- VGG16 / LPIPS files
def test_lpips_from_a_user_file_matches_an_independent_computation(tmp_path):
    state, lin = _random_vgg_state(), _random_lin()
    path = tmp_path / "lpips_vgg.pth"
    torch.save({**state, **lin}, path)
    d = D.get("lpips", weights=path)
    a, b = _images(2, 32), _images(2, 32, seed=5)
    got = d(a, b)
    want = _lpips_reference(state, lin, a, b)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert (got > 0).all()
    torch.testing.assert_close(d(a, a), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(d(b, a), got, rtol=1e-5, atol=1e-7)  # symmetric
    # differentiable with respect to both images
    a.requires_grad_(True)
    (grad,) = torch.autograd.grad(d(a, b).sum(), a)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # larger perturbations are farther
    noise = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    base = b.detach()
    near, far = d(base, base + 0.05 * noise), d(base, base + 0.5 * noise)
    assert (far > near).all()


def test_vgg16_and_lpips_from_two_files_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    state, lin = _random_vgg_state(3), _random_lin(4)
    vgg_path, lin_path = tmp_path / "vgg16.safetensors", tmp_path / "lin.pt"
    save_file({k: v.contiguous() for k, v in state.items()}, str(vgg_path))
    torch.save({"state_dict": lin}, lin_path)
    a, b = _images(1, 32, seed=2), _images(1, 32, seed=3)
    torch.testing.assert_close(D.get("lpips", weights=[vgg_path, lin_path])(a, b),
                               _lpips_reference(state, lin, a, b), rtol=1e-4, atol=1e-6)
    # vgg16 on a torchvision file: ImageNet normalisation (= LPIPS' scaling), the five stages unweighted
    d = D.get("vgg16", weights=vgg_path, size="native")
    assert d.backbone.net.convention == "torchvision"
    torch.testing.assert_close(d(a, b), _lpips_reference(state, None, a, b), rtol=1e-4, atol=1e-6)
    # by default, images under VGG_MIN_SIZE px are upsampled to it first (bilinear)
    up = lambda x: F.interpolate(x, size=(D.VGG_MIN_SIZE,) * 2, mode="bilinear", align_corners=False)  # noqa: E731
    torch.testing.assert_close(D.get("vgg16", weights=vgg_path)(a, b), _lpips_reference(state, None, up(a), up(b)),
                               rtol=1e-4, atol=1e-6)


def test_lpips_package_state_dict_layout(tmp_path):
    """A saved ``lpips.LPIPS(net="vgg")`` state dict: the VGG under ``net.slice{k}.{i}`` (torchvision's indices),
    the heads as ``lin{k}.model.1.weight``, the scaling layer's buffers beside them."""
    state, lin = _random_vgg_state(5), _random_lin(6)
    slice_of = {i: k + 1 for k, block in enumerate(VGG16_BLOCKS) for i in block}
    packed = {f"net.slice{slice_of[int(key.split('.')[1])]}.{key.split('.', 1)[1]}": v
              for key, v in state.items() if key.startswith("features.")}
    packed.update(lin)
    packed["scaling_layer.shift"] = torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None]
    path = tmp_path / "lpips_full.pth"
    torch.save(packed, path)
    a, b = _images(2, 32, seed=7), _images(2, 32, seed=8)
    torch.testing.assert_close(D.get("lpips", weights=path)(a, b), _lpips_reference(state, lin, a, b),
                               rtol=1e-4, atol=1e-6)


def test_vgg19_file_reads_the_last_relu_of_each_block(tmp_path):
    state = _random_vgg_state(9, blocks=VGG19_BLOCKS)
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    d = D.get("vgg16", weights=path, size="native")
    assert d.backbone.net.arch == "vgg19" and d.backbone.layers[-1] == "relu5_4"
    a, b = _images(2, 32, seed=1), _images(2, 32, seed=2)
    torch.testing.assert_close(d(a, b), _lpips_reference(state, None, a, b, VGG19_BLOCKS), rtol=1e-4, atol=1e-6)
    _one_line_error(lambda: D.get("lpips", weights=[path, tmp_path / "absent.pth"]), "not found")
    lin_path = tmp_path / "lin.pth"
    torch.save(_random_lin(), lin_path)
    _one_line_error(lambda: D.get("lpips", weights=[path, lin_path]), "VGG19 state dict; LPIPS-VGG is defined on VGG16")


def test_bad_weight_files_are_user_errors(tmp_path):
    """Missing, unreadable, truncated, incomplete and wrong-shaped files: one clear line each."""
    from safetensors.torch import save_file

    state, lin = _random_vgg_state(), _random_lin()
    vgg_path, lin_path = tmp_path / "vgg16.pth", tmp_path / "vgg.pth"
    torch.save(state, vgg_path)
    torch.save(lin, lin_path)
    _one_line_error(lambda: D.get("vgg16", weights=tmp_path / "absent.pth"), "not found")
    _one_line_error(lambda: D.get("lpips", weights=[tmp_path / "absent.pth", lin_path]), "not found")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle")
    _one_line_error(lambda: D.get("vgg16", weights=junk), "cannot read")
    # truncated downloads: a .pth and a .safetensors cut short
    cut = tmp_path / "cut.pth"
    cut.write_bytes(vgg_path.read_bytes()[: vgg_path.stat().st_size // 2])
    _one_line_error(lambda: D.get("vgg16", weights=cut), "cannot read")
    _one_line_error(lambda: D.get("lpips", weights=[cut, lin_path]), "cannot read weights file")
    st = tmp_path / "vgg16.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    cut_st = tmp_path / "cut.safetensors"
    cut_st.write_bytes(st.read_bytes()[:-1000])
    _one_line_error(lambda: D.get("vgg16", weights=cut_st), "cannot read")
    cut_lin = tmp_path / "cut_lin.pth"
    cut_lin.write_bytes(lin_path.read_bytes()[:300])
    _one_line_error(lambda: D.get("lpips", weights=[vgg_path, cut_lin]), "cannot read weights file")
    # incomplete VGG16: some conv layers missing
    first = {k: v for k, v in state.items() if k.startswith("features.0.")}
    partial = tmp_path / "partial.pth"
    torch.save(first, partial)
    _one_line_error(lambda: D.get("lpips", weights=[partial, lin_path]),
                    r"missing features\.2\.(weight|bias) and 23 more")
    _one_line_error(lambda: D.get("vgg16", weights=partial), "not a VGG16/VGG19")
    _one_line_error(lambda: D.get("vgg16", weights=lin_path), f"{lin_path}: not a VGG16/VGG19")
    # wrong shapes: a conv layer, an LPIPS head
    wrong = tmp_path / "wrong.pth"
    torch.save({**state, "features.0.weight": torch.zeros(32, 3, 3, 3)}, wrong)
    _one_line_error(lambda: D.get("vgg16", weights=wrong), "features.0.weight has shape")
    _one_line_error(lambda: D.get("lpips", weights=[wrong, lin_path]), "features.0.weight has shape")
    bad_lin = tmp_path / "bad_lin.pth"
    torch.save({**lin, "lin2.model.1.weight": torch.rand(1, 128, 1, 1)}, bad_lin)
    _one_line_error(lambda: D.get("lpips", weights=[vgg_path, bad_lin]),
                    r"lin2.model.1.weight has shape \(1, 128, 1, 1\), LPIPS-VGG needs \(1, 256, 1, 1\)")
    no_lin = tmp_path / "no_lin.pth"
    torch.save({k: v for k, v in lin.items() if not k.startswith("lin4")}, no_lin)
    _one_line_error(lambda: D.get("lpips", weights=[vgg_path, no_lin]), "no LPIPS layer lin4.model.1.weight")
    _one_line_error(lambda: D.get("vgg16", weights=[vgg_path, lin_path]), "takes one weights file")
    _one_line_error(lambda: D.get("identity", weights=partial), "takes no weights")
    # the LPIPS heads saved without dropout (lin{k}.model.0.weight) load too
    plain = tmp_path / "plain_lin.pth"
    torch.save({k.replace("model.1", "model.0"): v for k, v in lin.items()}, plain)
    a, b = _images(1, 32), _images(1, 32, seed=1)
    torch.testing.assert_close(D.get("lpips", weights=[vgg_path, plain])(a, b), _lpips_reference(state, lin, a, b),
                               rtol=1e-4, atol=1e-6)


def test_cli_distance_reports_a_bad_vgg_file_in_one_line(tmp_path, capsys):
    from PIL import Image

    from faceedit.cli import main

    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    cut = tmp_path / "cut.pth"
    torch.save(_random_vgg_state(), cut)
    cut.write_bytes(cut.read_bytes()[:5000])
    assert main(["scorers", "distance", str(img), str(img), "--metric", "vgg16", "--weights", str(cut)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "cannot read" in err and "\n" not in err


def test_custom_backbone_plugs_in():
    class Tiny(torch.nn.Module):
        def extract(self, x):
            return [x, F.avg_pool2d(x, 2)]

    d = D.PerceptualDistance(Tiny())
    a, b = _images(2, 16), _images(2, 16, seed=1)
    na = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
    nb = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
    pa, pb = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    pa, pb = pa / (pa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10), pb / (pb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
    want = (((na - nb) ** 2).sum(1).mean(dim=(1, 2)) + ((pa - pb) ** 2).sum(1).mean(dim=(1, 2))) / 2
    torch.testing.assert_close(d(a, b), want)
    # a fixed target (optimisation loops): features computed once, same values, gradients flow to a
    calls = []

    class Counting(Tiny):
        def extract(self, x):
            calls.append(x.shape[0])
            return super().extract(x)

    dc = D.PerceptualDistance(Counting())
    fn = dc.to_target(b)
    a.requires_grad_(True)
    for _ in range(3):
        out = fn(a)
    torch.testing.assert_close(out, want)
    out.sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert len(calls) == 4  # target once + three calls
    with pytest.raises(FaceEditError, match="batch size"):
        fn(_images(3, 16))
    torch.testing.assert_close(D.PixelDistance().to_target(b)(a.detach()), D.PixelDistance()(a.detach(), b))


# -------------------------------------------------------------------------------------- face-api backbones
def _hq(indices):
    from PIL import Image

    return torch.cat([torch.from_numpy(np.asarray(Image.open(HQ / f"{i:05d}.jpg").convert("RGB")).copy())
                      .permute(2, 0, 1)[None].float() / 127.5 - 1 for i in indices])


@needs_weights
@needs_faces
def test_identity_distance_separates_people_and_is_differentiable():
    """A mirrored face is the same person (< 0.6, dlib's threshold); another face is not (> 0.6)."""
    x = _hq([0, 2, 4])
    d = D.get("identity")
    assert d.differentiable
    with torch.no_grad():
        mirror, other = d(x, x.flip(3)), d(x, x.roll(1, 0))
        assert d(x, x).max() < 1e-3
    assert mirror.max() < D.SAME_PERSON_THRESHOLD < other.min(), (mirror, other)
    cos = D.get("identity-cosine")
    with torch.no_grad():
        assert (cos(x, x.flip(3)) < cos(x, x.roll(1, 0))).all()
    a = x[:1].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(a, x[1:2]).sum(), a)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@needs_faces
def test_dlib_identity_backend_agrees_with_the_port():
    pytest.importorskip("dlib")
    x = _hq([0, 2, 4])
    dl = D.get("identity-dlib")
    assert not dl.differentiable
    mirror, other = dl(x, x.flip(3)), dl(x, x.roll(1, 0))
    assert mirror.max() < D.SAME_PERSON_THRESHOLD < other.min(), (mirror, other)
    if fetch.have_weights():
        with torch.no_grad():
            port = D.get("identity")(x, x.roll(1, 0))
        assert (port - other).abs().max() < 0.1, (port, other)  # measured ≤ 0.05


@needs_weights
def test_offline_perceptual_distance_grows_with_the_change():
    d = D.get("perceptual")
    x = _images(2, 64, seed=4) * 0.3 + torch.linspace(-0.5, 0.5, 64)[None, None, None, :]
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        zero = d(x, x)
        small, large = d(x, x + 0.05 * noise), d(x, x + 0.4 * noise)
    assert zero.abs().max() < 1e-6
    assert (small > 0).all() and (large > small).all()
    a = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(a, x + 0.1 * noise).sum(), a)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


# ------------------------------------------------------------------------------ the default perceptual loss
def test_auto_perceptual_loss_falls_back_with_a_note(monkeypatch):
    fetched = {"vgg16": True, "faceapi": True}
    monkeypatch.setattr(D, "_fetched", lambda name: fetched[name])
    assert D.resolve_perceptual("auto") == (D.DEFAULT_PERCEPTUAL, None)
    assert D.resolve_perceptual("vgg16") == ("vgg16", None)
    assert D.resolve_perceptual("perceptual") == ("faceapi", None)  # the older name
    assert D.resolve_perceptual("none") == (None, None) and D.resolve_perceptual(None) == (None, None)
    fetched[D.DEFAULT_PERCEPTUAL] = False
    name, note = D.resolve_perceptual("auto")
    assert name == D.FALLBACK_PERCEPTUAL and "not fetched" in note and "faceedit " in note
    fetched[D.FALLBACK_PERCEPTUAL] = False
    name, note = D.resolve_perceptual("auto")
    assert name is None and "MSE only" in note
    with pytest.raises(FaceEditError, match="unknown perceptual loss 'alexnet'"):
        D.resolve_perceptual("alexnet")


@needs_vgg16
def test_offline_vgg16_distance_on_the_fetched_oxford_weights():
    """The offline VGG16 distance is the LPIPS recipe on the fetched network (caffe input), the five stages
    averaged, 64-px faces read as they are; a face's small shift is nearer than another face."""
    from faceedit.features import STAGES, load_vgg

    d = D.get("vgg16")
    assert d.name == "vgg16" and d.backbone.layers == STAGES and d.backbone.net.convention == "caffe"
    x = _hq([0, 2, 4]) if HQ.is_dir() else _images(3, 64, seed=4)
    x = F.interpolate(x, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
    net = load_vgg()
    with torch.no_grad():
        fa, fb = net.extract(x, STAGES), net.extract(x.roll(1, 0), STAGES)
        want = sum(((p / (p.square().sum(1, keepdim=True).sqrt() + 1e-10)
                     - q / (q.square().sum(1, keepdim=True).sqrt() + 1e-10)) ** 2).sum(1).mean(dim=(1, 2))
                   for p, q in zip(fa, fb)) / 5
        other = d(x, x.roll(1, 0))
        shifted = d(x, x.roll(2, 3))
        assert d(x, x).abs().max() < 1e-6
    torch.testing.assert_close(other, want, rtol=1e-4, atol=1e-6)
    assert (shifted < other).all(), (shifted, other)
    a = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(a, x.roll(1, 0)).sum(), a)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # larger faces are read at up to VGG_MAX_SIZE px
    assert d.backbone.side(1024) == D.VGG_MAX_SIZE and d.backbone.side(128) == 128
