"""Attribute Dependency on known logit functions, and the edit families it compares."""

import numpy as np
import pytest
import torch

from faceedit.edit import (ChannelId, StyleDirection, ad_table, attribute_dependency, channel_edit, compare_edits,
                           load_w_direction, style_stats, w_direction_edit)
from faceedit.errors import FaceEditError

from _edit_helpers import box_mask, tiny_model

RES = 32
BOX = box_mask(RES)


@pytest.fixture(scope="module")
def model():
    return tiny_model(RES)


@pytest.fixture(scope="module")
def ws(model):
    return model.map(model.z_from_seeds(range(300, 308)), 0.7)


def logits(images):
    """Three known 'attributes': brightness inside the box, brightness outside it, red minus blue."""
    inside = images[:, :, BOX.bool()].mean((1, 2))
    outside = images[:, :, ~BOX.bool()].mean((1, 2))
    return torch.stack([inside, outside, (images[:, 0] - images[:, 2]).mean((1, 2))], 1)


def test_local_edit_is_more_disentangled_than_a_global_one(model, ws):
    def brighten_box(a):
        return lambda w: model.synthesize(w) + a * BOX

    def brighten_all(a):
        return lambda w: model.synthesize(w) + a

    res = compare_edits(model, ws, {"box": brighten_box, "all": brighten_all}, [0.2], logits, target=0)
    box, allr = res
    base = logits(model.synthesize(ws))
    assert box.ad_t == pytest.approx(0.2 / float(base[:, 0].std()), rel=1e-3)
    assert box.ad_o == pytest.approx(0.0, abs=1e-5) and box.ratio < 1e-4
    assert allr.ad_o == pytest.approx(0.2 / float(base[:, 1].std()) / 2, rel=1e-3)  # mean over the 2 others
    assert allr.ratio > 100 * box.ratio
    assert box.delta[0] == pytest.approx(box.ad_t) and len(box.delta) == 3
    table = ad_table(res)
    assert table.splitlines()[0] == "edit\talpha\tAD_t\tAD_o\tAD_o/AD_t\tAD (thesis)" and len(table.splitlines()) == 3
    # the thesis's AD is the inverse of the dependency ratio: higher for the local edit
    assert allr.ad == pytest.approx(1 / allr.ratio, rel=1e-6) and box.ad > 100 * allr.ad


def test_edit_families_run_and_alpha_zero_changes_nothing(model, ws, tmp_path):
    stats = style_stats(model, 200)
    ch = channel_edit(model, StyleDirection.single(ChannelId(6, 1)), stats)
    d = np.random.RandomState(0).randn(model.w_dim).astype(np.float32)
    np.save(tmp_path / "d.npy", d / np.linalg.norm(d))
    wd = w_direction_edit(model, load_w_direction(tmp_path / "d.npy"))
    for make in (ch, wd):
        r0 = attribute_dependency(model, ws[:4], make(0.0), logits, target=2)
        assert abs(r0.ad_t) < 1e-4 and r0.ad_o < 1e-4
        r1 = attribute_dependency(model, ws[:4], make(3.0), logits, target=2)
        assert r1.ad_o > 1e-3
    # a direction restricted to some layers leaves the others alone
    only = w_direction_edit(model, d, layers=[0])(1.0)
    np.savez(tmp_path / "b.npz", boundary=d[None])
    assert np.allclose(load_w_direction(tmp_path / "b.npz"), d[None])
    assert only(ws[:1]).shape == (1, 3, RES, RES)
    for bad in (np.zeros(5, np.float32), np.zeros((3, model.w_dim), np.float32)):
        with pytest.raises(FaceEditError):
            w_direction_edit(model, bad)
    with pytest.raises(FaceEditError):
        load_w_direction(tmp_path / "missing.npy")
