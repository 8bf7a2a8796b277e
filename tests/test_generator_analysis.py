"""The thesis's ch. 5 analyses: perceptual path length, layer-wise decoding and the linear accuracy of attributes
from latent codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.cli import main
from faceedit.edit.mixing import layerwise
from faceedit.errors import FaceEditError
from faceedit.metrics.ppl import face_crop, perceptual_path_length, slerp
from faceedit.metrics.style_codes import code_accuracy, linear_accuracy

from _edit_helpers import tiny_model, use_tiny_default

RES = 32
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def tiny(monkeypatch):
    return use_tiny_default(monkeypatch, RES)


def mse(a, b):
    return (a - b).square().flatten(1).mean(1)


def test_slerp_stays_on_the_sphere_and_hits_its_ends():
    a, b = torch.randn(4, 8), torch.randn(4, 8)
    for t in (0.0, 0.3, 1.0):
        out = slerp(a, b, torch.full((4,), t))
        assert torch.allclose(out.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(slerp(a, b, torch.zeros(4)), a / a.norm(dim=1, keepdim=True), atol=1e-5)
    assert torch.allclose(slerp(a, b, torch.ones(4)), b / b.norm(dim=1, keepdim=True), atol=1e-4)
    # equal angular steps: the angle covered grows linearly with t
    u = slerp(a, b, torch.full((4,), 0.25))
    v = slerp(a, b, torch.full((4,), 0.5))
    ang = lambda p, q: torch.acos((p * q).sum(1).clamp(-1, 1))  # noqa: E731
    a1 = a / a.norm(dim=1, keepdim=True)
    assert torch.allclose(ang(a1, v), 2 * ang(a1, u), atol=1e-4)


def test_face_crop_takes_the_centre_of_an_aligned_face():
    x = torch.zeros(1, 1, 64, 64)
    x[..., 24:56, 16:48] = 1
    assert face_crop(x).shape == (1, 1, 32, 32) and float(face_crop(x).min()) == 1


def test_ppl_is_a_second_order_quantity_independent_of_epsilon(tiny):
    """With a squared distance, d(G(p(t)), G(p(t + ε))) ≈ ε²·|∂G/∂t|², so PPL hardly depends on ε, and a
    generator whose image ignores the latent has PPL 0."""
    small = perceptual_path_length(tiny, mse, "w", n=16, epsilon=1e-4, seed=1, crop=False)
    large = perceptual_path_length(tiny, mse, "w", n=16, epsilon=1e-3, seed=1, crop=False)
    assert small.ppl > 0 and small.ppl == pytest.approx(large.ppl, rel=0.1)
    z = perceptual_path_length(tiny, mse, "z", n=16, epsilon=1e-4, seed=1, sampling="full")
    assert z.ppl > 0 and z.per_pair.shape == (16,)
    flat = tiny_model(RES)
    with torch.no_grad():
        for p in flat.G.synthesis.parameters():
            p.zero_()
    assert perceptual_path_length(flat, mse, "w", n=4, crop=False).ppl == 0
    with pytest.raises(FaceEditError, match="epsilon"):
        perceptual_path_length(tiny, mse, "w", n=4, epsilon=0.5)


def test_layerwise_decoding_replaces_one_more_layer_per_code(tiny):
    a = tiny.map(tiny.z_from_seeds([1]), 0.7)
    b = tiny.map(tiny.z_from_seeds([2]), 0.7)
    n = tiny.num_ws
    cum = layerwise(a, b)
    assert cum.shape == (n + 1, n, tiny.w_dim)
    assert torch.equal(cum[0], a[0]) and torch.equal(cum[-1], b[0])
    for k in range(n + 1):
        assert torch.equal(cum[k, :k], b[0, :k]) and torch.equal(cum[k, k:], a[0, k:])
    single = layerwise(a, b, "single", "2-4")
    assert single.shape == (3, n, tiny.w_dim)
    for row, k in zip(single, (2, 3, 4)):
        changed = [i for i in range(n) if not torch.equal(row[i], a[0, i])]
        assert changed == [k]
    with pytest.raises(FaceEditError):
        layerwise(a, b, "backwards")


def test_decode_cli_writes_a_strip(tiny, tmp_path, capsys):
    out = tmp_path / "strip.png"
    assert main(["decode", "3", "-l", "0-3", "-o", str(out)]) == 0, capsys.readouterr().err
    img = np.asarray(Image.open(out))
    assert img.shape[0] == RES and img.shape[1] == 5 * RES + 4 * 2  # 5 codes, 2-px gaps
    assert main(["decode", "3", "--with", "5", "--mode", "single", "-o", str(out)]) == 0
    assert main(["decode", "3", "--mode", "sideways", "-o", str(out)]) == 2


def test_linear_accuracy_sees_a_linear_label_and_not_a_random_one():
    rng = np.random.RandomState(0)
    x = rng.randn(400, 10)
    assert linear_accuracy(x, (x[:, 3] + 0.5 * x[:, 7] > 0).astype(int)) > 0.95
    assert 0.3 < linear_accuracy(x, rng.randint(0, 2, 400)) < 0.7


def test_code_accuracy_and_its_cli(tiny, tmp_path, capsys):
    table = code_accuracy(tiny, ["Smiling"], n=40)
    row = table["Smiling"]
    assert 0.5 <= row["majority"] <= 0.7 and row["n"] == 20  # median split (near-balanced), the confident half
    assert all(0.0 <= row[s] <= 1.0 for s in ("z", "w", "s"))
    with pytest.raises(FaceEditError, match="no classifier attribute"):
        code_accuracy(tiny, ["Sparkly"], n=40)
    out = tmp_path / "codes.json"
    assert main(["eval", "style-codes", "--attrs", "Male", "--n", "40", "--json", str(out)]) == 0
    assert "| Male |" in capsys.readouterr().out
    assert set(json.loads(out.read_text())["results"]["Male"]) >= {"z", "w", "s", "majority"}


def test_eval_ppl_cli_refuses_bad_settings(tiny, capsys):
    assert main(["eval", "ppl", "--space", "x"]) == 2
    assert main(["eval", "ppl", "--epsilon", "0"]) == 2
    assert main(["eval", "ppl", "--distance", "mse"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 3


def test_ppl_reports_the_standard_error_of_its_mean(tiny):
    res = perceptual_path_length(tiny, mse, "w", n=40, seed=2, crop=False)
    kept = res.per_pair[(res.per_pair >= np.percentile(res.per_pair, 1, method="lower"))
                        & (res.per_pair <= np.percentile(res.per_pair, 99, method="higher"))]
    assert res.ppl == pytest.approx(kept.mean()) and res.sem == pytest.approx(kept.std(ddof=1) / np.sqrt(len(kept)))
    assert res.as_dict()["sem"] == res.sem
