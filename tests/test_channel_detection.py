"""The three channel detections of the StyleSpace reproduction (thesis, unfiltered ablation, StyleSpace's
statistic), on a tiny generator with a planted attribute channel and on known scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceedit.edit import find_channels_attribute, style_stats
from faceedit.edit.channel_detection import detect_channels, global_top, relevance
from faceedit.errors import FaceEditError

from _edit_helpers import tiny_model

RES = 32


@pytest.fixture(scope="module")
def model():
    return tiny_model(RES)


@pytest.fixture(scope="module")
def stats(model):
    return style_stats(model, samples=300, truncation=0.7)


@pytest.fixture(scope="module")
def samples(model):
    return model.map(model.z_from_seeds(range(200, 240)), 0.7)


def test_global_top_ranks_by_magnitude_across_layers():
    per = [torch.tensor([0.1, -3.0]), None, torch.tensor([2.0, 0.5, -2.5])]
    assert global_top(per, 3) == [(0, 1, -3.0), (2, 2, -2.5), (2, 0, 2.0)]
    with pytest.raises(FaceEditError):
        global_top([None], 1)


def test_stylespace_relevance_is_the_positive_mean_shift_over_the_positive_spread(model, samples):
    """θ_c = (μᵖ_c − μ_c) / σᵖ_c with the positives the top quarter by the score, checked channel by channel."""
    def bright(images):
        return images.mean((1, 2, 3))

    use = [True] * len(model.style_layers)
    use[0] = False
    rel, n_pos = relevance(model, samples, bright, 0.25, use)
    assert n_pos == 10 and rel[0] is None
    pos = bright(model.synthesize(samples)).topk(10).indices
    styles = model.to_styles(samples)
    for li in (1, 5):
        s = styles[li].double()
        want = (s[pos].mean(0) - s.mean(0)) / s[pos].std(0)
        assert torch.allclose(rel[li].double(), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(FaceEditError, match="positive fraction"):
        relevance(model, samples, bright, 1.0, use)


def test_the_three_detections_on_a_brightness_attribute(model, stats, samples):
    def bright(images):
        return images.mean((1, 2, 3))

    directions = {}
    for method in ("thesis", "unfiltered", "stylespace"):
        d, det = detect_channels(method, model, samples, bright, k=4, stats=stats)
        assert len(d.channels) == 4 and abs(float(np.linalg.norm(d.weights)) - 1) < 1e-6
        assert 0 < det.top_share <= 1 and len(det.layers) == 4
        directions[method] = (d, det)
    # thesis: every channel in one layer, and the same as find_channels_attribute's direction
    d, det = directions["thesis"]
    assert len(set(det.layers)) == 1
    ref = find_channels_attribute(model, samples, bright, k=4, stats=stats).direction()
    assert [str(c) for c in d.channels] == [str(c) for c in ref.channels]
    assert np.allclose(d.weights, ref.weights, atol=1e-6)
    # unfiltered: the best channels of all layers — its top-k criterion is at least the filtered one's
    u, udet = directions["unfiltered"]
    assert udet.top_share >= det.top_share - 1e-9
    # the gradient methods' edits make the images brighter (StyleSpace's statistic is correlational: on a random
    # tiny generator its channels need not be causal, so only its signs are checked: towards the positive mean)
    from faceedit.edit.stylespace import apply_direction

    base = bright(model.synthesize(samples[:8]))
    for method in ("thesis", "unfiltered"):
        d = directions[method][0]
        out = bright(model.synthesize(styles=apply_direction(model.to_styles(samples[:8]), d, 3.0, stats)))
        assert float((out - base).mean()) > 0, method
    rel, _ = relevance(model, samples, bright, 0.1, [True] * len(model.style_layers))
    d = directions["stylespace"][0]
    assert all(np.sign(w) == np.sign(float(rel[c.layer][c.channel])) for c, w in zip(d.channels, d.weights))
    with pytest.raises(FaceEditError, match="unknown channel detection"):
        detect_channels("magic", model, samples, bright)
