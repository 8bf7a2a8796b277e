"""StyleSpace statistics, channel edits and the two channel-search modes, checked against known score functions."""

import math

import numpy as np
import pytest
import torch

from faceedit.edit import (ChannelId, ChannelSearch, StyleDirection, apply_direction, edit_images,
                           find_channels_attribute, find_channels_region, segment_region, style_stats)
from faceedit.edit.layers import is_torgb
from faceedit.edit.stylespace import region_sensitivity
from faceedit.errors import FaceEditError

from _edit_helpers import box_mask, tiny_model

RES = 32


@pytest.fixture(scope="module")
def model():
    return tiny_model(RES)


@pytest.fixture(scope="module")
def stats(model):
    return style_stats(model, samples=400, truncation=0.7)


@pytest.fixture(scope="module")
def samples(model):
    return model.map(model.z_from_seeds(range(100, 108)), 0.7)


BOX = box_mask(RES)


def mouth_brightness(images):
    """A known differentiable 'attribute': mean brightness of the mouth box."""
    return images[:, :, BOX.bool()].mean((1, 2))


def test_style_stats_match_direct_measurement(model, stats):
    rng = np.random.RandomState(0)
    z = torch.from_numpy(rng.randn(400, model.z_dim)).float()
    styles = model.to_styles(model.map(z, 0.7))
    assert len(stats.std) == len(model.style_layers)
    for s, m, sd in zip(styles, stats.mean, stats.std):
        assert torch.allclose(m, s.mean(0), atol=1e-4) and torch.allclose(sd, s.std(0), rtol=1e-3, atol=1e-5)
    assert all(float(sd.min()) > 0 for sd in stats.std)


def test_single_channel_edit_moves_one_channel_by_alpha_sigma(model, stats, samples):
    styles = model.to_styles(samples[:2])
    cid = ChannelId(6, 3)
    out = apply_direction(styles, StyleDirection.single(cid), 4.0, stats)
    for i, (a, b) in enumerate(zip(styles, out)):
        d = b - a
        if i == cid.layer:
            assert torch.allclose(d[:, cid.channel], torch.full((2,), 4.0 * float(stats.std[6][3])))
            d[:, cid.channel] = 0
        assert torch.count_nonzero(d) == 0
    imgs = edit_images(model, samples[:2], StyleDirection.single(cid), [-4.0, 0.0, 4.0], stats)
    assert imgs.shape == (6, 3, RES, RES)
    assert torch.allclose(imgs[1], model.synthesize(samples[:1])[0], atol=1e-5)
    assert not torch.allclose(imgs[0], imgs[2])
    # a negative weight edits the other way
    neg = apply_direction(styles, StyleDirection.single(cid, -1.0), 4.0, stats)
    assert torch.allclose(neg[6] - styles[6], -(out[6] - styles[6]))


def _gain(model, ws, direction, stats, alpha=3.0):
    base = mouth_brightness(model.synthesize(ws))
    edited = model.synthesize(styles=apply_direction(model.to_styles(ws), direction, alpha, stats))
    return float((mouth_brightness(edited) - base).mean())


def test_attribute_mode_finds_channels_that_raise_the_score(model, stats, samples):
    res = find_channels_attribute(model, samples, mouth_brightness, k=3, stats=stats, positive_fraction=0.5)
    assert res.mode == "attribute" and len(res.channels) == 3 and res.samples == 4
    assert not is_torgb(model.style_layers, res.layer)
    assert all(math.isnan(res.layer_scores[i]) for i in range(len(model.style_layers))
               if is_torgb(model.style_layers, i))
    assert abs(np.linalg.norm(res.direction().weights) - 1) < 1e-6
    found = _gain(model, samples, res.direction(), stats)
    g = torch.Generator().manual_seed(1)
    random_gains = []
    for _ in range(10):  # random single channels anywhere in the conv layers, random sign
        layer = int(torch.randint(len(model.style_layers), (1,), generator=g))
        while is_torgb(model.style_layers, layer):
            layer = int(torch.randint(len(model.style_layers), (1,), generator=g))
        ch = int(torch.randint(model.style_layers[layer][1], (1,), generator=g))
        random_gains.append(abs(_gain(model, samples, StyleDirection.single(ChannelId(layer, ch)), stats)))
    assert found > 0
    assert found > 3 * float(np.mean(random_gains)), (found, random_gains)
    # the best single channel also points the right way
    best = res.direction(top=1)
    assert _gain(model, samples, best, stats) > 0


def _sq_share(model, ws, direction, stats, alpha=1.0):
    """Measured share of the squared pixel change inside the box (what region mode estimates)."""
    before = model.synthesize(ws)
    after = model.synthesize(styles=apply_direction(model.to_styles(ws), direction, alpha, stats))
    q = ((after - before) ** 2).mean(1)
    return float(((q * BOX).flatten(1).sum(1) / q.flatten(1).sum(1)).mean())


def test_region_mode_finds_channels_local_to_the_region(model, stats, samples):
    res = find_channels_region(model, samples[:4], mask=BOX, k=3, stats=stats, probes=1)
    assert res.mode == "region" and len(res.channels) == 3
    assert not is_torgb(model.style_layers, res.layer)
    found = [_sq_share(model, samples[:4], StyleDirection.single(c), stats) for c in res.ids]
    g = torch.Generator().manual_seed(2)
    rand = [ChannelId(res.layer, int(c)) for c in torch.randperm(model.style_layers[res.layer][1], generator=g)[:8]]
    rand_share = [_sq_share(model, samples[:4], StyleDirection.single(c), stats) for c in rand]
    area = float(BOX.mean())
    assert np.mean(found) > 1.5 * area and np.mean(found) > 1.3 * np.mean(rand_share), (found, rand_share, area)
    assert min(res.extra["in_region_share"]) > area


def test_region_sensitivity_estimates_the_squared_jacobian(model, stats, samples):
    """The probe estimate of ‖∂x/∂s_c‖² (σ units) agrees with finite differences, channel by channel."""
    ws = samples[:1]
    sens = region_sensitivity(model, ws, mask=BOX, stats=stats, probes=12, layers=[5])
    est, ref = [], []
    base = model.synthesize(ws)
    eps = 1e-2
    for c in range(8):
        d = StyleDirection.single(ChannelId(5, c))
        edited = model.synthesize(styles=apply_direction(model.to_styles(ws), d, eps, stats))
        q = ((edited - base) ** 2).sum() / eps ** 2
        ref.append(float(q))
        est.append(float(sens.in_tot[5][c] + sens.out_tot[5][c]))
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    rho = np.corrcoef(rank(est), rank(ref))[0, 1]
    assert rho > 0.8, (est, ref)
    assert 0.5 < sum(est) / sum(ref) < 2.0


def test_region_from_a_parser_matches_the_fixed_mask(model, stats, samples):
    def parser(images):  # 3 classes: background, 'mouth' (the box), 'other'
        n = images.shape[0]
        m = BOX.to(images)[None].expand(n, -1, -1)
        return torch.stack([1 - m, m, torch.zeros_like(m)], 1)

    a = find_channels_region(model, samples[:2], mask=BOX, k=4, stats=stats, probes=1, layers=[6])
    b = find_channels_region(model, samples[:2], region=segment_region(parser, [1]), k=4, stats=stats, probes=1,
                             layers=[6])
    assert a.layer == b.layer == 6 and a.channels == b.channels
    assert np.allclose(a.scores, b.scores, rtol=1e-4)
    with pytest.raises(FaceEditError):
        find_channels_region(model, samples[:2], k=2, stats=stats)  # neither mask nor region


def test_channel_search_json_roundtrip():
    res = ChannelSearch("attribute", "smiling", 6, "b16.conv1", [5, 2], [0.3, -0.1], [0.9487, -0.3162],
                        [float("nan"), 0.4], {"share_of_layer": [0.2, 0.1]}, samples=8)
    back = ChannelSearch.from_json(res.to_json())
    assert back.channels == [5, 2] and back.layer == 6 and math.isnan(back.layer_scores[0])
    d = back.direction()
    assert [str(c) for c in d.channels] == ["6:5", "6:2"] and d.weights[1] < 0
    assert "6:5" in res.table() and res.table().count("\n") == 3
