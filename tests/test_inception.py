"""FID's Inception-v3 (random weights: the real ones cannot be had offline): architecture, the weight-file layouts
the loader reads, FID on its features, and `faceedit eval fid` / `eval realism --features inception`."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from faceedit.errors import FaceEditError
from faceedit.metrics import inception as I
from faceedit.metrics.realism import extract, frechet_distance


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_inception(seed: int = 0) -> I.InceptionV3FID:
    """Random weights that keep activations at a useful scale through all 94 layers (He-normal convolutions,
    random BN statistics, unit BN scale as in the TF graph)."""
    g = torch.Generator().manual_seed(seed)
    net = I.InceptionV3FID()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2 / fan_in) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.fill_(1.0)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(1 + torch.rand(c, generator=g))
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.01)
                m.bias.zero_()
    return net.eval()


@pytest.fixture(scope="module")
def net() -> I.InceptionV3FID:
    return random_inception(0)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, net) -> str:
    """The random network saved as pytorch-fid's file is (a plain state dict)."""
    path = tmp_path_factory.mktemp("inc") / I.PYTORCH_FID_FILE
    torch.save(net.state_dict(), path)
    return str(path)


def _images(n: int, seed: int, tint=(0.0, 0.0, 0.0), size: int = 24) -> torch.Tensor:
    """Smooth random images in [-1, 1], shifted towards a colour."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(n, 3, 6, 6, generator=g) * 1.2 - 0.6, size=(size, size),
                                        mode="bilinear", align_corners=False)
    return (x + torch.tensor(tint).view(1, 3, 1, 1)).clamp(-1, 1)


# ------------------------------------------------------------------------------------------- architecture
def test_architecture_matches_fid_inception(net):
    shapes = I.expected_shapes()
    assert len(shapes) == 472 and shapes["fc.weight"] == (1008, 2048)
    assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
    assert shapes["Mixed_6e.branch7x7dbl_5.conv.weight"] == (192, 192, 1, 7)
    assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    assert sum(p.numel() for p in net.parameters()) == 23_850_960  # torchvision's Inception-v3 with 1008 classes
    assert net.Mixed_7b.pool == "avg" and net.Mixed_7c.pool == "max"
    assert all(m.eps == 0.001 for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    # FID's 3x3 average pool leaves out the padding: a constant map stays constant at the border
    assert torch.equal(I._avg3(torch.ones(1, 1, 5, 5)), torch.ones(1, 1, 5, 5))
    # resize to 299 bilinearly, uint8 scaled as FID does (v / 127.5 - 1)
    u8 = torch.tensor([0, 255], dtype=torch.uint8).repeat(1, 3, 2, 1)
    x = I.InceptionV3FID.prepare(u8)
    assert x.shape == (1, 3, 299, 299) and x.min() == -1 and float(x.max()) == pytest.approx(1)
    feats = extract(net, _images(3, 1))
    assert feats.shape == (3, 2048) and np.isfinite(feats).all() and feats.std() > 1e-3


# ------------------------------------------------------------------------------------------------ layouts
class _Holder(nn.Module):
    """A module that only holds tensors (to write NVIDIA-named TorchScript archives)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _nest(inner: str, flat: bool) -> list[str]:
    """'tower_1_conv_2' -> ['tower_1', 'conv_2'] (branches as nested modules); E blocks keep flat names, so both
    spellings the loader accepts are exercised."""
    if not flat:
        for t in ("tower_1", "tower_2", "tower"):
            if inner.startswith(t + "_"):
                return [t, inner[len(t) + 1:]]
    return [inner]


def _nvidia_module(state: dict[str, torch.Tensor]) -> nn.Module:
    """A TorchScript-able module tree with NVIDIA's detector names (layers.mixed_N.tower_K..., output.*, BN with
    no scale) holding ``state``'s tensors."""
    inv_blocks = {v[0]: (k, {b: a for a, b in v[1].items()}) for k, v in I._NV_BLOCKS.items()}
    inv_stem = {v: k for k, v in I._NV_STEM.items()}
    root = _Holder()
    for key, value in state.items():
        if key.endswith(("num_batches_tracked", "bn.weight")):
            continue
        if key.startswith("fc."):
            path = ["output", key.split(".")[1]]
        else:
            top, rest = key.split(".", 1)
            if top in inv_stem:
                path = ["layers", inv_stem[top]] + rest.split(".")
            else:
                block, table = inv_blocks[top]
                branch, leaf = rest.split(".", 1)
                path = ["layers", block] + _nest(table[branch], top.startswith("Mixed_7") and top != "Mixed_7a")
                path += leaf.split(".")
        mod = root
        for p in path[:-1]:
            if not hasattr(mod, p):
                mod.add_module(p, _Holder())
            mod = getattr(mod, p)
        if path[-1] in ("weight", "bias"):
            mod.register_parameter(path[-1], nn.Parameter(value.clone(), requires_grad=False))
        else:
            mod.register_buffer(path[-1], value.clone())
    return root


def test_every_layout_loads_to_identical_features(tmp_path, net, weights_file):
    from safetensors.torch import save_file

    sd = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    files = {"pth": weights_file, "safetensors": tmp_path / "inception.safetensors", "npz": tmp_path / "inc.npz",
             "torchscript": tmp_path / "inception-2015-12-05.pt"}
    save_file({k: v.contiguous() for k, v in sd.items()}, str(files["safetensors"]))
    np.savez(files["npz"], **{k: v.numpy() for k, v in sd.items()})
    scripted = torch.jit.script(_nvidia_module(sd))
    assert any(k.startswith("layers.mixed_9.") for k in scripted.state_dict())
    scripted.save(str(files["torchscript"]))
    nv = I.read_weight_file(files["torchscript"])  # read from data.pkl, never through torch.jit.load
    assert set(nv) == set(sd)
    x = _images(1, 2)
    ref = net(x)
    for layout, path in files.items():
        loaded = I.load_inception(path)
        for k, v in sd.items():
            assert torch.equal(loaded.state_dict()[k], v), (layout, k)
        assert torch.equal(loaded(x), ref), layout


def test_torchscript_archive_with_code_globals_is_refused(tmp_path):
    """A data.pkl that names a function outside the allow-list is refused before anything runs."""
    import zipfile

    evil = tmp_path / "evil.pt"
    payload = pickle.dumps(print)  # global builtins.print
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("evil/data.pkl", payload)
        z.writestr("evil/code/__torch__.py", "")
    with pytest.raises(FaceEditError, match="not allowed"):
        I.read_weight_file(evil)


# --------------------------------------------------------------------------------------------- wrong files
def test_wrong_or_missing_files_give_one_line_errors(tmp_path, net):
    sd = net.state_dict()

    def err(path) -> str:
        with pytest.raises(FaceEditError) as e:
            I.load_inception(path)
        msg = str(e.value)
        assert "\n" not in msg
        return msg

    msg = err(tmp_path / "nowhere.pth")
    assert "not found" in msg and I.PYTORCH_FID_FILE in msg and "pytorch-fid" in msg
    missing = dict(sd)
    del missing["Mixed_6c.branch7x7dbl_3.bn.running_var"]
    torch.save(missing, tmp_path / "missing.pth")
    assert "Mixed_6c.branch7x7dbl_3.bn.running_var is missing" in err(tmp_path / "missing.pth")
    imagenet = dict(sd, **{"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)})
    torch.save(imagenet, tmp_path / "tv.pth")
    msg = err(tmp_path / "tv.pth")
    assert "fc.weight has shape [1000, 2048]" in msg and "torchvision" in msg
    torch.save(dict(sd, **{"AuxLogits.fc.weight": torch.zeros(3)}), tmp_path / "aux.pth")
    assert "unexpected tensor AuxLogits.fc.weight" in err(tmp_path / "aux.pth")
    (tmp_path / "notes.txt").write_text("not weights\n" * 10)
    assert "cannot read Inception weights" in err(tmp_path / "notes.txt")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    assert "Conv2d_1a_3x3.conv.weight is missing" in err(tmp_path / "other.pth")
    # NVIDIA's pickled detector that needs its own code to load: refused, naming the file to use instead
    (tmp_path / "inception-2015-12-05.pkl").write_bytes(pickle.dumps(FaceEditError("x")))
    msg = err(tmp_path / "inception-2015-12-05.pkl")
    assert "without running its code" in msg and I.PYTORCH_FID_FILE in msg


# ---------------------------------------------------------------------------------------------------- FID
def test_fid_zero_for_same_set_larger_for_different_sets(net):
    a = extract(net, _images(16, 10))
    b = extract(net, _images(8, 11, tint=(0.6, -0.3, -0.3)))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6 * float(np.square(a).sum(1).mean()))
    halves = frechet_distance(a[:8], a[8:])
    assert frechet_distance(a[:8], b) > 1.5 * halves > 0


def test_cli_eval_fid_and_realism_inception(tmp_path, capsys, weights_file):
    from faceedit.cli import main
    from faceedit.io import save_native
    from _edit_helpers import tiny_model

    model = tmp_path / "tiny.safetensors"
    save_native(model, tiny_model(resolution=16).G, dtype=torch.float32)
    reals = tmp_path / "real.npy"
    np.save(reals, ((_images(20, 5, size=16) + 1) * 127.5).round().to(torch.uint8).numpy())
    out = tmp_path / "fid.json"
    args = ["--model", str(model), "--real", str(reals), "--n", "10", "--inception-weights", weights_file]
    assert main(["eval", "fid", *args, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    rep = json.loads(out.read_text())
    assert rep["features"] == "inception" and rep["n"] == 10 and rep["fd"] > 0
    assert printed.splitlines()[0] == f"FID {rep['fd']:.2f}" and "floor" in printed
    out2 = tmp_path / "realism.json"
    assert main(["eval", "realism", *args, "--features", "inception", "--json", str(out2)]) == 0
    assert json.loads(out2.read_text())["fd"] == pytest.approx(rep["fd"], rel=1e-9)  # the same numbers
    # no weights, missing weights, weights with the wrong features: one-line errors, exit status 2
    capsys.readouterr()
    assert main(["eval", "fid", "--model", str(model), "--real", str(reals), "--n", "10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--inception-weights" in err and I.PYTORCH_FID_FILE in err
    assert main(["eval", "fid", *args[:-1], str(tmp_path / "absent.pth")]) == 2
    err = capsys.readouterr().err
    assert "absent.pth" in err and "pytorch-fid" in err
    assert main(["eval", "realism", *args, "--features", "disc"]) == 2
