"""StyleSpace channel edits (Wu, Lischinski & Shechtman, CVPR 2021), the layer-wise channel method.

StyleSpace ``s`` is the list of per-layer style vectors (``model.to_styles``), ToRGB layers included, indexed
``layer:channel`` as in the paper (see :mod:`faceedit.edit.layers`).

* :func:`style_stats` measures each channel's mean and σ over random samples (by default ψ = 0.7 as the
  StyleSpace code does), so that edits are given in σ units: ``s[l][c] += α · σ[l][c]``.
* :func:`find_channels_region` (region mode) ranks channels by how strongly they change the pixels of a region
  (a fixed mask, or a face parser's soft masks) compared with the pixels outside it. The per-channel pixel
  sensitivity ‖M ⊙ ∂x/∂s_c‖² is estimated from gradients of random projections of the masked image (Hutchinson
  probes: E_v[(vᵀ(M ⊙ J_c))²] = ‖M ⊙ J_c‖² for v ~ N(0, I); one backward pass gives every channel at once), in
  σ units (:func:`region_sensitivity`). The score is the contrast — mean squared change per region pixel minus
  that per outside pixel — times the share of the channel's squared change that falls inside the region. The
  most responsive layer (largest sum of its top-k scores) is chosen and its top-k channels returned. Each probe
  is a χ²₁ draw (relative noise √2 per sample and probe), so rankings sharpen with ``samples × probes``
  (the CLI default 32 × 2 gives about 18 %). The StyleSpace paper computes exact per-channel gradient maps
  instead, one forward pass per channel (9,088 at 1024 px), which is out of reach on a CPU.
* :func:`find_channels_attribute` (attribute mode) averages the gradient of a classifier's loss (binary
  cross-entropy towards "present") over the positive samples (the top fraction by the classifier's logit),
  scales it by σ, chooses the layer whose top-k |gradient| sum is largest and returns its top-k channels with the
  normalised gradient as a multi-channel edit direction.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from faceedit.edit.layers import ChannelId, is_torgb
from faceedit.errors import FaceEditError
from faceedit.model import Model, NoiseMaps

ImageFn = Callable[[torch.Tensor], torch.Tensor]


# ---- statistics ---------------------------------------------------------------------------------------------
@dataclass
class StyleStats:
    """Per-channel mean and σ of every StyleSpace layer over ``samples`` random faces at truncation ψ."""

    mean: list[torch.Tensor]
    std: list[torch.Tensor]
    samples: int
    truncation: float


def style_stats(model, samples: int = 1000, truncation: float = 0.7, seed: int = 0,
                batch_size: int = 250) -> StyleStats:
    """Measure StyleSpace channel means and σ from ``samples`` random z (cheap: mapping and affines only)."""
    if samples < 2:
        raise FaceEditError("σ needs at least 2 samples")
    rng = np.random.RandomState(seed)
    s1 = s2 = None
    for i in range(0, samples, batch_size):
        n = min(batch_size, samples - i)
        z = torch.from_numpy(rng.randn(n, model.z_dim)).to(model.device, torch.float32)
        styles = model.to_styles(model.map(z, truncation))
        if s1 is None:
            s1 = [torch.zeros(s.shape[1], dtype=torch.float64) for s in styles]
            s2 = [torch.zeros(s.shape[1], dtype=torch.float64) for s in styles]
        for j, s in enumerate(styles):
            s = s.detach().cpu().double()
            s1[j] += s.sum(0)
            s2[j] += (s * s).sum(0)
    mean = [(a / samples) for a in s1]
    std = [((b / samples - m * m).clamp_min(0) * samples / (samples - 1)).sqrt() for b, m in zip(s2, mean)]
    return StyleStats([m.float() for m in mean], [s.float() for s in std], samples, truncation)


# ---- directions and edits -----------------------------------------------------------------------------------
@dataclass
class StyleDirection:
    """A StyleSpace edit: ``s[l][c] += α · weight · σ[l][c]`` for each (channel, weight)."""

    channels: list[ChannelId]
    weights: list[float]

    @classmethod
    def single(cls, channel: ChannelId, sign: float = 1.0) -> "StyleDirection":
        return cls([channel], [float(sign)])

    def to_json(self) -> str:
        return json.dumps({"mode": "channels", "ids": [str(c) for c in self.channels], "weights": self.weights})

    def __str__(self) -> str:
        if len(self.channels) == 1 and abs(self.weights[0]) == 1:
            return ("-" if self.weights[0] < 0 else "") + str(self.channels[0])
        return ",".join(f"{c}*{w:+.3f}" for c, w in zip(self.channels, self.weights))


def apply_direction(styles: Sequence[torch.Tensor], direction: StyleDirection, alpha: float | torch.Tensor,
                    stats: StyleStats) -> list[torch.Tensor]:
    """Return edited copies of ``styles`` (list of [N, C]); ``alpha`` is a number or one value per sample [N]."""
    out = [s.clone() for s in styles]
    a = torch.as_tensor(alpha, dtype=torch.float32)
    for ch, w in zip(direction.channels, direction.weights):
        s = out[ch.layer]
        if not 0 <= ch.channel < s.shape[1]:
            raise FaceEditError(f"channel {ch} does not exist in this model")
        sigma = float(stats.std[ch.layer][ch.channel])
        step = a.to(s.device) * (w * sigma)
        s[:, ch.channel] = s[:, ch.channel] + (step if step.ndim == 0 else step.reshape(-1))
    return out


def edit_images(model: Model, ws: torch.Tensor, direction: StyleDirection, alphas: Sequence[float],
                stats: StyleStats, noise_mode: str = "const", batch_size: int = 8,
                noise: NoiseMaps | None = None) -> torch.Tensor:
    """Images [N·len(alphas), 3, R, R] (face-major: all alphas of face 0 first) of ``ws`` edited along ``direction``
    (``noise``: the faces' noise maps, [1, 1, r, r] each, instead of ``noise_mode``'s)."""
    ws = model.as_ws(ws)
    n, k = ws.shape[0], len(alphas)
    styles = model.to_styles(ws.repeat_interleave(k, 0))
    a = torch.tensor(list(alphas), dtype=torch.float32).repeat(n)
    return model.synthesize(styles=apply_direction(styles, direction, a, stats), noise_mode=noise_mode,
                            batch_size=batch_size, noise=noise)


# ---- search result ------------------------------------------------------------------------------------------
@dataclass
class ChannelSearch:
    """Result of a channel search: the chosen ``layer`` and its top channels, best first.

    ``scores``: the ranking score of each channel (region: per-pixel contrast of the squared change in σ units
    × in-region share; attribute: σ-scaled averaged gradient, signed). ToRGB layers are left out of both searches
    unless ``include_torgb`` (the paper's localisation analysis also uses the conv layers only). ``weights``: the
    unit-norm multi-channel edit direction
    (attribute: the normalised gradient; region: equal weights). ``layer_scores``: the per-layer criterion used
    to pick the layer (NaN for excluded layers). ``extra``: more columns for the table."""

    mode: str
    target: str
    layer: int
    layer_name: str
    channels: list[int]
    scores: list[float]
    weights: list[float]
    layer_scores: list[float]
    extra: dict[str, list[float]] = field(default_factory=dict)
    samples: int = 0

    @property
    def ids(self) -> list[ChannelId]:
        return [ChannelId(self.layer, c) for c in self.channels]

    def direction(self, top: int | None = None) -> StyleDirection:
        """The multi-channel edit along the normalised criterion, using the ``top`` best channels (all if None)."""
        n = len(self.channels) if top is None else max(1, min(int(top), len(self.channels)))
        w = np.asarray(self.weights[:n], dtype=np.float64)
        norm = float(np.linalg.norm(w)) or 1.0
        return StyleDirection(self.ids[:n], [float(x) for x in w / norm])

    def table(self, sigma: StyleStats | None = None) -> str:
        """Tab-separated table, one row per channel, best first."""
        cols = ["rank", "channel", "layer_name", "score", "weight"] + list(self.extra) + (["sigma"] if sigma else [])
        rows = ["\t".join(cols)]
        for i, c in enumerate(self.channels):
            vals = [str(i + 1), f"{self.layer}:{c}", self.layer_name, f"{self.scores[i]:.6g}",
                    f"{self.weights[i]:+.4f}"]
            vals += [f"{self.extra[k][i]:.4g}" for k in self.extra]
            if sigma:
                vals.append(f"{float(sigma.std[self.layer][c]):.4g}")
            rows.append("\t".join(vals))
        return "\n".join(rows) + "\n"

    def to_json(self) -> str:
        d = asdict(self)
        d["layer_scores"] = [None if (x is None or math.isnan(x)) else x for x in self.layer_scores]
        d["ids"] = [str(i) for i in self.ids]
        return json.dumps(d, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "ChannelSearch":
        d = json.loads(text)
        d.pop("ids", None)
        d["layer_scores"] = [float("nan") if x is None else x for x in d["layer_scores"]]
        return cls(**d)


def read_channels_json(text: str, top: int | None = None) -> StyleDirection:
    """The edit in a channels JSON: a :class:`ChannelSearch` ('faceedit channels find', its ``top`` channels) or a
    channel list (:meth:`StyleDirection.to_json`, e.g. from 'faceedit directions import')."""
    d = json.loads(text)
    if isinstance(d, dict) and d.get("mode") == "channels":
        ids = [ChannelId(*map(int, str(i).split(":"))) for i in d["ids"]]
        weights = [float(w) for w in d["weights"]]
        if not ids or len(ids) != len(weights):
            raise ValueError("ids and weights differ in length")
        n = len(ids) if top is None else max(1, min(int(top), len(ids)))
        return StyleDirection(ids[:n], weights[:n])
    return ChannelSearch.from_json(text).direction(top)


def _pick_layer(per_channel: list[torch.Tensor | None], k: int, key: Callable[[torch.Tensor], torch.Tensor]):
    layer_scores = []
    for v in per_channel:
        if v is None:
            layer_scores.append(float("nan"))
            continue
        kk = min(k, v.numel())
        layer_scores.append(float(key(v).topk(kk).values.clamp_min(0).sum()))
    valid = [(s, i) for i, s in enumerate(layer_scores) if not math.isnan(s)]
    if not valid:
        raise FaceEditError("no StyleSpace layer to search")
    best = max(valid)[1]
    v = per_channel[best]
    top = key(v).topk(min(k, v.numel())).indices
    return best, top, layer_scores


def _layer_filter(model, include_torgb: bool, layers: Sequence[int] | None) -> list[bool]:
    sl = model.style_layers
    ok = [include_torgb or not is_torgb(sl, i) for i in range(len(sl))]
    if layers is not None:
        chosen = set(int(i) for i in layers)
        bad = [i for i in chosen if not 0 <= i < len(sl)]
        if bad:
            raise FaceEditError(f"StyleSpace layer {bad[0]} does not exist (0-{len(sl) - 1})")
        ok = [i in chosen for i in range(len(sl))]
    return ok


def _resize_masks(m: torch.Tensor, n: int, res: int) -> torch.Tensor:
    """[H,W] | [N,H,W] | [N,1,H,W] → [N,1,res,res] float in [0,1]."""
    m = torch.as_tensor(m, dtype=torch.float32)
    if m.ndim == 2:
        m = m[None]
    if m.ndim == 3:
        m = m[:, None]
    if m.ndim != 4 or m.shape[1] != 1:
        raise FaceEditError(f"a region mask must be [H, W] or [N, H, W], got {list(m.shape)}")
    if m.shape[-2:] != (res, res):
        m = F.interpolate(m, size=(res, res), mode="bilinear", align_corners=False, antialias=m.shape[-1] > res)
    if m.shape[0] == 1 and n != 1:
        m = m.expand(n, -1, -1, -1)
    return m.clamp(0, 1)


def region_masks(images: torch.Tensor, mask: torch.Tensor | None = None, region: ImageFn | None = None
                 ) -> torch.Tensor:
    """The region as soft masks [N, 1, H, W] for ``images``: a fixed ``mask`` or ``region(images) -> [N, H, W]``."""
    n, res = images.shape[0], images.shape[-1]
    if (mask is None) == (region is None):
        raise FaceEditError("give exactly one of a fixed mask or a region function")
    if mask is not None:
        return _resize_masks(mask, n, res).to(images.device)
    with torch.no_grad():
        m = region(images.detach())
    return _resize_masks(m, n, res).to(images.device)


def segment_region(segment: ImageFn, classes: Sequence[int]) -> ImageFn:
    """Wrap a parser ``segment(images) -> [N, K, H, W]`` soft masks into a region function summing ``classes``."""
    idx = list(classes)

    def region(images: torch.Tensor) -> torch.Tensor:
        p = segment(images)
        if p.ndim != 4 or max(idx) >= p.shape[1]:
            raise FaceEditError(f"the parser returned {list(p.shape)}; expected [N, K, H, W] with K > {max(idx)}")
        return p[:, idx].sum(1).clamp(0, 1)

    return region


def _batches(n: int, batch_size: int, progress: bool, desc: str):
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, total=len(starts), desc=desc, unit="batch")
    return starts


# ---- region mode --------------------------------------------------------------------------------------------
@dataclass
class RegionSensitivity:
    """Per StyleSpace layer (None where not searched), per channel, in σ² units: mean squared pixel change per
    region pixel (``in_pp``) and per outside pixel (``out_pp``) for a 1σ step, and the totals (``in_tot``,
    ``out_tot``, summed over pixels), averaged over samples and probes."""

    in_pp: list[torch.Tensor | None]
    out_pp: list[torch.Tensor | None]
    in_tot: list[torch.Tensor | None]
    out_tot: list[torch.Tensor | None]
    samples: int

    def share(self, li: int) -> torch.Tensor:
        """Share of each channel's squared change that falls inside the region."""
        return (self.in_tot[li] / (self.in_tot[li] + self.out_tot[li]).clamp_min(1e-30)).float()

    def score(self, li: int) -> torch.Tensor:
        """Ranking score: region contrast (per-pixel change inside minus outside) weighted by the in-region share."""
        return ((self.in_pp[li] - self.out_pp[li]).clamp_min(0) * self.share(li)).float()


def region_sensitivity(model, ws: torch.Tensor, mask: torch.Tensor | None = None, region: ImageFn | None = None,
                       stats: StyleStats | None = None, probes: int = 2, include_torgb: bool = False,
                       layers: Sequence[int] | None = None, batch_size: int = 4, seed: int = 0,
                       progress: bool = False, desc: str = "region gradients") -> RegionSensitivity:
    """Estimate ‖M ⊙ ∂x/∂s_c‖² and ‖(1−M) ⊙ ∂x/∂s_c‖² for every channel with Hutchinson probes (module doc)."""
    ws = model.as_ws(ws)
    stats = stats or style_stats(model)
    use = _layer_filter(model, include_torgb, layers)
    acc = {k: [torch.zeros(c, dtype=torch.float64) for _, c in model.style_layers]
           for k in ("in_pp", "out_pp", "in_tot", "out_tot")}
    gen = torch.Generator(device="cpu").manual_seed(seed)
    N = ws.shape[0]
    if probes < 1:
        raise FaceEditError("probes must be at least 1")
    for i in _batches(N, batch_size, progress, desc):
        st = [s.detach().requires_grad_(True) for s in model.to_styles(ws[i:i + batch_size])]
        wanted = [s for s, u in zip(st, use) if u]
        with torch.enable_grad():
            img = model.G.synthesis(styles=st, noise_mode="const")
            M = region_masks(img, mask, region)
            area_in = (M.flatten(1).sum(1) * img.shape[1]).clamp_min(1e-6).double().cpu()  # [n]
            area_out = ((1 - M).flatten(1).sum(1) * img.shape[1]).clamp_min(1e-6).double().cpu()
            for _ in range(probes):
                v = torch.randn(img.shape, generator=gen).to(img.device)
                for wmap, area, pp, tot in ((M, area_in, "in_pp", "in_tot"), (1 - M, area_out, "out_pp", "out_tot")):
                    g = torch.autograd.grad((img * wmap * v).sum(), wanted, retain_graph=True, allow_unused=True)
                    it = iter(g)
                    for li, u in enumerate(use):
                        gl = next(it) if u else None
                        if gl is None:
                            continue
                        g2 = gl.detach().double().cpu() ** 2  # [n, C]
                        acc[pp][li] += (g2 / area[:, None]).sum(0)
                        acc[tot][li] += g2.sum(0)
    out = {}
    for key, vals in acc.items():
        out[key] = [(v / (N * probes) * stats.std[li].double() ** 2) if use[li] else None
                    for li, v in enumerate(vals)]
    return RegionSensitivity(samples=N, **out)


def find_channels_region(model, ws: torch.Tensor, mask: torch.Tensor | None = None, region: ImageFn | None = None,
                         k: int = 5, stats: StyleStats | None = None, probes: int = 2, include_torgb: bool = False,
                         layers: Sequence[int] | None = None, target: str = "region", batch_size: int = 4,
                         seed: int = 0, progress: bool = False) -> ChannelSearch:
    """Region mode: the layer and top-``k`` channels whose change moves the region's pixels most (see module doc).

    ``ws``: samples [N, num_ws, w_dim]; ``mask``: fixed [H, W] in [0, 1] in the image frame, or ``region``:
    images [N, 3, R, R] in [-1, 1] → soft masks [N, H, W] (e.g. :func:`segment_region` of a face parser)."""
    sens = region_sensitivity(model, ws, mask, region, stats, probes, include_torgb, layers, batch_size, seed,
                              progress, desc=f"region gradients ({target})")
    scores = [sens.score(li) if v is not None else None for li, v in enumerate(sens.in_pp)]
    best, top, layer_scores = _pick_layer(scores, k, key=lambda v: v)
    ch = [int(c) for c in top]
    share = sens.share(best)
    return ChannelSearch(
        mode="region", target=target, layer=best, layer_name=model.style_layers[best][0], channels=ch,
        scores=[float(scores[best][c]) for c in ch], weights=[1.0] * len(ch), layer_scores=layer_scores,
        extra={"in_region_share": [float(share[c]) for c in ch]}, samples=sens.samples)


# ---- attribute mode -----------------------------------------------------------------------------------------
def score_images(model, ws: torch.Tensor, score: ImageFn, batch_size: int = 8) -> torch.Tensor:
    """``score(images)`` for every w+ (no gradients) → [N]."""
    ws = model.as_ws(ws)
    out = []
    with torch.no_grad():
        for i in range(0, ws.shape[0], batch_size):
            img = model.G.synthesis(ws[i:i + batch_size], noise_mode="const")
            out.append(score(img).reshape(-1).float().cpu())
    return torch.cat(out)


def attribute_gradients(model, ws: torch.Tensor, score: ImageFn, stats: StyleStats, positive_fraction: float,
                        use: Sequence[bool], batch_size: int = 4, progress: bool = False, target: str = "attribute"
                        ) -> tuple[list[torch.Tensor | None], int]:
    """The mean gradient, over the positive samples (the top ``positive_fraction`` of ``ws`` by ``score``), of the
    BCE loss towards the attribute with respect to each StyleSpace channel, negated (the direction that raises
    the attribute) and scaled by the channel's σ: per layer [C] (None where ``use`` is False), and the number of
    positive samples."""
    ws = model.as_ws(ws)
    if not 0 < positive_fraction <= 1:
        raise FaceEditError(f"positive fraction must be in (0, 1], got {positive_fraction}")
    logits = score_images(model, ws, score, batch_size=max(batch_size, 8))
    n_pos = max(1, int(round(positive_fraction * ws.shape[0])))
    pos = logits.topk(n_pos).indices.sort().values
    wpos = ws[pos.to(ws.device)]
    grads = [torch.zeros(c, dtype=torch.float64) for _, c in model.style_layers]
    for i in _batches(n_pos, batch_size, progress, f"attribute gradients ({target})"):
        st = [s.detach().requires_grad_(True) for s in model.to_styles(wpos[i:i + batch_size])]
        wanted = [s for s, u in zip(st, use) if u]
        with torch.enable_grad():
            img = model.G.synthesis(styles=st, noise_mode="const")
            logit = score(img).reshape(-1)
            loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit), reduction="sum")
            g = torch.autograd.grad(loss, wanted, allow_unused=True)
        j = 0
        for li, u in enumerate(use):
            if u:
                if g[j] is not None:
                    grads[li] -= g[j].detach().double().cpu().sum(0)  # minus: the direction that lowers the loss
                j += 1
    return [(grads[li] / n_pos * stats.std[li].double()).float() if u else None
            for li, u in enumerate(use)], n_pos


def find_channels_attribute(model, ws: torch.Tensor, score: ImageFn, k: int = 5, stats: StyleStats | None = None,
                            positive_fraction: float = 0.5, include_torgb: bool = False,
                            layers: Sequence[int] | None = None, target: str = "attribute", batch_size: int = 4,
                            progress: bool = False) -> ChannelSearch:
    """Attribute mode: ``score(images) -> [N]`` is a differentiable logit of the attribute. The positive samples
    (the top ``positive_fraction`` of ``ws`` by score) give the averaged gradient of the BCE loss towards the
    attribute, ×σ; the layer with the largest top-k |gradient| is chosen (see module doc)."""
    stats = stats or style_stats(model)
    per_channel, n_pos = attribute_gradients(model, ws, score, stats, positive_fraction,
                                             _layer_filter(model, include_torgb, layers), batch_size, progress,
                                             target)
    best, top, layer_scores = _pick_layer(per_channel, k, key=lambda v: v.abs())
    ch = [int(c) for c in top]
    vals = [float(per_channel[best][c]) for c in ch]
    norm = math.sqrt(sum(v * v for v in vals)) or 1.0
    share = per_channel[best].abs()
    return ChannelSearch(
        mode="attribute", target=target, layer=best, layer_name=model.style_layers[best][0], channels=ch,
        scores=vals, weights=[v / norm for v in vals], layer_scores=layer_scores,
        extra={"share_of_layer": [float(share[c] / share.sum().clamp_min(1e-30)) for c in ch]}, samples=n_pos)


# ---- previews -----------------------------------------------------------------------------------------------
def preview_sheet(model, ws: torch.Tensor, direction: StyleDirection, alphas: Sequence[float], stats: StyleStats,
                  noise_mode: str = "const", batch_size: int = 8) -> np.ndarray:
    """A uint8 sheet: one row per face in ``ws``, one column per α."""
    from faceedit.media import make_grid, to_uint8

    imgs = to_uint8(edit_images(model, ws, direction, alphas, stats, noise_mode, batch_size))
    return make_grid(imgs, cols=len(alphas), pad=2)
