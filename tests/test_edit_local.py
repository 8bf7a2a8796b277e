"""Local (region-only) feature edits: channel scoring, masked synthesis, change share and heat maps."""

import numpy as np
import pytest
import torch

from faceedit.edit import change_share, diff_heatmap, local_edit, random_channels, score_local_channels
from faceedit.edit.local import capture_features, default_layer
from faceedit.errors import FaceEditError

from _edit_helpers import box_mask, plant_local_channel, tiny_model

RES = 32
BOX = box_mask(RES)


@pytest.fixture(scope="module")
def model():
    m = tiny_model(RES)
    plant_local_channel(m, BOX, res=16, channel=7, height=1.0)  # b16.conv0 channel 7 lives in the box only
    return m


@pytest.fixture(scope="module")
def samples(model):
    return model.map(model.z_from_seeds(range(200, 212)), 0.7)


def test_scoring_finds_the_channel_that_lives_in_the_region(model, samples):
    feats, _ = capture_features(model, samples[:2], "b16.conv0")
    assert feats.shape == (2, 32, 16, 16)
    res = score_local_channels(model, samples, mask=BOX, layer="b16.conv0", k=3)
    assert res.channels[0] == 7 and res.layer == "b16.conv0" and res.samples == 12
    assert res.scores == sorted(res.scores, reverse=True)
    # positives: only the selected share of the samples is used
    bright = lambda imgs: imgs.mean((1, 2, 3))  # noqa: E731
    assert score_local_channels(model, samples, mask=BOX, layer="b16.conv0", k=3, positives=bright,
                                positive_fraction=0.5).samples == 6


def test_local_edit_change_is_concentrated_in_the_mask(model, samples):
    ws = samples[:3]
    layer = default_layer(model)
    assert layer == "b16.conv1"
    chans = score_local_channels(model, samples, mask=BOX, k=4)
    before = model.synthesize(ws)
    after = local_edit(model, ws, chans, 5.0, mask=BOX)
    area = float(BOX.mean())
    share = change_share(before, after, BOX)
    assert float((after - before).abs().mean()) > 1e-3  # the edit does something
    assert float(share.min()) > 0.6 and float(share.min()) > 4 * area, (share, area)
    # the same channels changed everywhere spread the change over the whole image
    everywhere = local_edit(model, ws, chans, 5.0, mask=torch.ones(RES, RES))
    assert float(change_share(before, everywhere, BOX).mean()) < 0.5 * float(share.mean())
    # random channels, masked, are concentrated too: the mask, not the choice of channels, confines the change
    rnd = random_channels(model, samples, chans.layer, 4, seed=3)
    after_rnd = local_edit(model, ws, rnd, 5.0, mask=BOX)
    assert float(change_share(before, after_rnd, BOX).min()) > 0.5
    # α = 0 is the identity; a region function gives the same result as the equivalent fixed mask
    assert torch.allclose(local_edit(model, ws, chans, 0.0, mask=BOX), before, atol=1e-5)
    via_fn = local_edit(model, ws, chans, 5.0, region=lambda imgs: BOX[None].expand(imgs.shape[0], -1, -1))
    assert torch.allclose(via_fn, after, atol=1e-5)


def test_change_share_and_heatmap():
    before = torch.zeros(1, 3, 8, 8)
    inside = torch.zeros(8, 8)
    inside[2:4, 2:4] = 1
    after = before.clone()
    after[:, :, 2:4, 2:4] = 0.5
    assert float(change_share(before, after, inside)) == pytest.approx(1.0)
    after[:, :, 6, 6] = 0.5  # 1 of 5 changed pixels outside
    assert float(change_share(before, after, inside)) == pytest.approx(0.8)
    heat = diff_heatmap(before, after, inside)
    assert heat.shape == (1, 8, 8, 3) and heat.dtype == np.uint8
    assert tuple(heat[0, 6, 6]) == (255, 255, 255) and tuple(heat[0, 0, 7]) == (0, 0, 0)
    assert (heat[0] == (0, 255, 255)).all(-1).any()  # the mask outline


def test_bad_inputs(model, samples):
    with pytest.raises(FaceEditError):
        score_local_channels(model, samples, mask=BOX, layer="b16.torgb")
    with pytest.raises(FaceEditError):
        score_local_channels(model, samples, mask=torch.zeros(RES, RES))
