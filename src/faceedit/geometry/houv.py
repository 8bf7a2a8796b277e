"""HOUV — Hybrid Optimisation with Unconstrained Variables — rigid registration of partial point clouds.

The method of the thesis (chapter 3): the transform (R, t) taking a partial cloud P onto a partial cloud Q is
found by gradient descent on *unconstrained* variables, so no constraint is ever active:

* R by Rodrigues' formula with axis ``normalise(v_pq)`` and angle θ: HOUV_ori θ = π·sigmoid(θ_pq) over the whole
  range; HOUV_pri splits [0, π] into prior sub-spaces [l, r] and maps θ = l + (r − l)(1 + sin θ_pq)/2, one
  sub-space per group, with the axes spread over the sphere, so the groups cover all rotations. (The thesis
  writes l + (r − l) sin θ_pq; with (1 + sin)/2 every θ_pq stays inside its sub-space.)
* t = d · normalise(u_pq) with d = d_max · tanh(d_pq) (the clouds are first centred on their centroids and
  scaled by a common factor, so d_max is in units of the cloud radius and t starts at the centroid offset);
* the loss L = CD_local(P, Q, α) + β (CD_xy + CD_yz) + CD_xz (:func:`faceedit.geometry.chamfer.hybrid_loss`);
  when the correspondences are known (head pose: landmark i ↔ landmark i) ``loss='matched'`` puts the mean
  distance of matched points in its place, with the same variables, groups and optimiser;
* g groups of variables, initialised at random, optimised together as one batch with Adam, the best group
  (lowest loss on the full clouds) kept.

Everything is batched: ``[pairs, groups]`` of variables in one tensor program. Two options go beyond the thesis
and are off in :data:`THESIS` (they are on in :data:`FAST`, the tuned setting the benchmark reports under its own
name): ``coarse_points`` / ``keep`` — screening and the first ``prune_at`` iterations run on a random subset of
the points and then only the ``keep`` best groups of each pair go on at full resolution; ``icp_iterations`` — a
final trimmed point-to-point ICP on the chosen group (the same α-trimming as CD_local); ``translation_grid`` —
before screening and optimisation, each group starts at the translation that best overlays its rotated source on
the target, found for all translations at once by FFT cross-correlation of voxel grids
(:mod:`faceedit.geometry.correlation`); ``final_score='edges'`` — ICP on every group left, then the group whose
views' uncovered points face each other's cut edges (:mod:`faceedit.geometry.edges`; it tells the true pose from a
flipped cap that fits as closely).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from faceedit.errors import FaceEditError
from faceedit.geometry.chamfer import _gather, hybrid_loss
from faceedit.geometry.clouds import check_cloud, kd_tree
from faceedit.geometry.correlation import MAX_GRID, MIN_GRID, best_translations
from faceedit.geometry.edges import EDGE_WEIGHT, edge_weighted_loss
from faceedit.geometry.rotation import kabsch, rodrigues

VARIANTS = ("ori", "pri")
LOSSES = ("hybrid", "matched")
FINAL_SCORES = ("loss", "edges")
MAX_GROUPS = 4096
MAX_ITERATIONS = 100_000


@dataclass(frozen=True)
class HOUVConfig:
    """Settings of one HOUV run. Units: the clouds are centred and scaled so that the farther one's largest
    point norm is 1; ``max_translation`` is in those units, angles in radians internally."""

    variant: str = "pri"            #: 'ori' (random angles over [0, π]) or 'pri' (prior angle sub-spaces)
    groups: int = 64                #: g, groups of variables per pair
    angle_bins: int = 4             #: HOUV_pri: sub-spaces of [0, max_angle]; groups are split evenly among them
    max_angle_deg: float = 180.0    #: prior on the rotation angle: θ ranges over [0, max_angle_deg]
    iterations: int = 500           #: Adam steps in all
    lr: float = 1e-3                #: Adam learning rate
    alpha: float = 0.7              #: fraction of closest matches kept by CD_local
    beta: float = 0.5               #: weight of CD_xy and CD_yz
    gamma: float = 1.0              #: weight of CD_xz (1 in the thesis)
    squared: bool = False           #: squared (True) or Euclidean (False) Chamfer distances
    loss: str = "hybrid"            #: 'hybrid' (the thesis's Chamfer loss) or 'matched' (row i ↔ row i known)
    max_translation: float = 1.0    #: d_max
    screen: int = 0                 #: > groups: draw this many initial groups, keep the ``groups`` of lowest loss
    fine_points: int = 0            #: > 0: points per cloud after ``prune_at`` (random subset; ICP uses all)
    coarse_points: int = 0          #: > 0: points per cloud for screening and the first ``prune_at`` iterations
    prune_at: int = 0               #: iteration where the ``keep`` best groups go on at full resolution
    keep: int = 0                   #: groups kept at ``prune_at`` (0: all)
    icp_iterations: int = 0         #: trimmed point-to-point ICP steps on the chosen group (0: none)
    translation_grid: int = 0       #: > 0: every group starts at its FFT-correlation translation (grid cells)
    #: how the final group is chosen: 'loss' (lowest loss, then ICP on it) or 'edges' (ICP on every group left, then
    #: the lowest trimmed distance weighted by edge consistency: :mod:`faceedit.geometry.edges`)
    final_score: str = "loss"
    seed: int = 0

    def check(self) -> "HOUVConfig":
        if self.variant not in VARIANTS:
            raise FaceEditError(f"HOUV variant must be 'ori' or 'pri', got {self.variant!r}")
        if self.loss not in LOSSES:
            raise FaceEditError(f"HOUV loss must be 'hybrid' or 'matched', got {self.loss!r}")
        if not 1 <= self.groups <= MAX_GROUPS:
            raise FaceEditError(f"groups must be from 1 to {MAX_GROUPS}, got {self.groups}")
        if not 1 <= self.angle_bins <= self.groups:
            raise FaceEditError(f"angle_bins must be from 1 to groups ({self.groups}), got {self.angle_bins}")
        if not 0 < self.max_angle_deg <= 180:
            raise FaceEditError(f"max_angle_deg must be in (0, 180], got {self.max_angle_deg}")
        if not 0 <= self.iterations <= MAX_ITERATIONS:
            raise FaceEditError(f"iterations must be from 0 to {MAX_ITERATIONS}, got {self.iterations}")
        if not (0 < self.lr <= 10 and math.isfinite(self.lr)):
            raise FaceEditError(f"lr must be in (0, 10], got {self.lr}")
        if not 0 < self.alpha <= 1:
            raise FaceEditError(f"alpha must be in (0, 1], got {self.alpha}")
        for name in ("beta", "gamma"):
            value = getattr(self, name)
            if not (0 <= value <= 100 and math.isfinite(value)):
                raise FaceEditError(f"{name} must be from 0 to 100, got {value}")
        if not 0 < self.max_translation <= 100:
            raise FaceEditError(f"max_translation must be in (0, 100], got {self.max_translation}")
        if self.screen and not self.groups <= self.screen <= 16 * MAX_GROUPS:
            raise FaceEditError(f"screen must be 0 or from groups ({self.groups}) to {16 * MAX_GROUPS}")
        if self.fine_points < 0 or self.fine_points > 100_000:
            raise FaceEditError(f"fine_points must be from 0 to 100000, got {self.fine_points}")
        if self.coarse_points < 0 or self.coarse_points > 100_000:
            raise FaceEditError(f"coarse_points must be from 0 to 100000, got {self.coarse_points}")
        if not 0 <= self.prune_at <= self.iterations:
            raise FaceEditError(f"prune_at must be from 0 to iterations ({self.iterations}), got {self.prune_at}")
        if not 0 <= self.keep <= self.groups:
            raise FaceEditError(f"keep must be from 0 to groups ({self.groups}), got {self.keep}")
        if self.final_score not in FINAL_SCORES:
            raise FaceEditError(f"final_score must be one of {', '.join(FINAL_SCORES)}, got {self.final_score!r}")
        if self.translation_grid and not MIN_GRID <= self.translation_grid <= MAX_GRID:
            raise FaceEditError(f"translation_grid must be 0 or from {MIN_GRID} to {MAX_GRID}, "
                                f"got {self.translation_grid}")
        if not 0 <= self.icp_iterations <= 1000:
            raise FaceEditError(f"icp_iterations must be from 0 to 1000, got {self.icp_iterations}")
        return self


#: The thesis's settings: Adam lr 1e-3, 500 iterations, all points, the full hybrid loss, no refinement
#: (g = 8, α = 0.7, β = 0.5 are ours: the thesis leaves them open).
THESIS = HOUVConfig(groups=8)
#: Tuned for speed and accuracy on the benchmark (benchmarks/registration.py): coarse-to-fine with group pruning
#: and a final trimmed ICP; a different method from the thesis's, reported under its own name.
#: The Chamfer terms of the projected clouds are off (β = γ = 0): on independently cropped partial views they are
#: lower at wrong poses than at the true one (measured; README, "3D: registration and head pose").
FAST = HOUVConfig(groups=16, screen=512, angle_bins=4, iterations=100, lr=2e-2, alpha=0.7, beta=0.0, gamma=0.0,
                  coarse_points=96, fine_points=384, prune_at=70, keep=4, icp_iterations=20, translation_grid=24)
#: :data:`FAST` with a wider search, for rotations over 45°: 2,048 screened rotations, 64 groups optimised, 16 kept
#: at full resolution, twice the coarse points (at ≤ 90° it puts 18–22 of 30 pairs within 5° against FAST's 14–15:
#: benchmarks/README.md); every kept group refined by ICP and the final one chosen by edge consistency.
WIDE = replace(FAST, screen=2048, groups=64, keep=16, coarse_points=192, final_score="edges")
#: The cheapest setting that keeps RANSAC + FPFH's recall at ≤ 45° (benchmarks/README.md): 64 rotations drawn from
#: the prior sub-spaces, each at its FFT-correlation translation, screened on 64 points; the best 4 are compared on
#: all points and the best one refined by 30 trimmed ICP steps. No Adam steps.
QUICK = replace(FAST, screen=64, groups=4, iterations=0, prune_at=0, keep=0, coarse_points=64, icp_iterations=30)


def tuned(max_angle_deg: float) -> HOUVConfig:
    """The tuned setting for a rotation prior of ``max_angle_deg``: :data:`FAST` up to 45°, :data:`WIDE` beyond."""
    return replace(FAST if max_angle_deg <= 45 else WIDE, max_angle_deg=max_angle_deg)


SETTINGS = ("tuned", "quick", "thesis")


def settings(name: str, max_angle_deg: float = 180.0) -> HOUVConfig:
    """A named setting for a rotation prior of ``max_angle_deg``: 'tuned' (:func:`tuned`), 'quick'
    (:data:`QUICK`) or 'thesis' (:data:`THESIS`)."""
    if name not in SETTINGS:
        raise FaceEditError(f"settings must be one of {', '.join(SETTINGS)}, got {name!r}")
    base = tuned(max_angle_deg) if name == "tuned" else QUICK if name == "quick" else THESIS
    return replace(base, max_angle_deg=max_angle_deg)


@dataclass
class Registration:
    """Result for a batch of pairs: ``rotation`` ``[B, 3, 3]``, ``translation`` ``[B, 3]`` (numpy float64,
    q ≈ R p + t in the clouds' own units), the final ``loss`` ``[B]`` of the chosen group on all points (normalised
    units; before the ICP refinement, when there is one), the chosen ``group`` ``[B]`` (index among the groups
    left after screening and pruning) and the wall time of the whole batch in ``seconds``."""

    rotation: np.ndarray
    translation: np.ndarray
    loss: np.ndarray
    group: np.ndarray
    seconds: float
    config: HOUVConfig = field(default_factory=HOUVConfig)

    def matrix(self, i: int = 0) -> np.ndarray:
        """The 4×4 homogeneous transform of pair ``i``."""
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.rotation[i], self.translation[i]
        return m


def _pad(clouds: list[np.ndarray], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Clouds of different sizes → ``[B, Nmax, 3]`` (padding repeats each cloud's first point) and a mask."""
    n = max(len(c) for c in clouds)
    out = torch.zeros(len(clouds), n, 3, dtype=dtype)
    mask = torch.zeros(len(clouds), n, dtype=torch.bool)
    for i, c in enumerate(clouds):
        t = torch.as_tensor(c, dtype=dtype)
        out[i, :len(c)] = t
        out[i, len(c):] = t[0]
        mask[i, :len(c)] = True
    return out, mask


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = mask.to(x.dtype)[..., None]
    return (x * w).sum(-2) / w.sum(-2).clamp_min(1)


def _subsample(points: torch.Tensor, mask: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """``k`` random valid points of each cloud ``[B, k, 3]`` (with repetition only where a cloud has fewer); each
    cloud draws from its own generator, so the subset does not depend on the batch."""
    scores = torch.full(mask.shape, 2.0)
    for i, n in enumerate(mask.sum(-1).tolist()):  # valid points come first (see _pad)
        scores[i, :n] = torch.rand(n, generator=torch.Generator().manual_seed(seed))
    order = scores.argsort(-1)
    counts = mask.sum(-1, keepdim=True)
    pos = torch.arange(k)[None, :] % counts
    idx = torch.gather(order, 1, pos)
    return torch.gather(points, 1, idx[..., None].expand(-1, -1, 3))


def _fibonacci_sphere(n: int) -> torch.Tensor:
    """``n`` nearly evenly spread unit vectors ``[n, 3]``."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    r = (1 - z ** 2).clamp_min(0).sqrt()
    phi = math.pi * (3 - math.sqrt(5)) * i
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], -1)


class _Variables(torch.nn.Module):
    """The unconstrained variables of ``[B, G]`` groups and their map to (R, t)."""

    def __init__(self, cfg: HOUVConfig, pairs: int, dtype: torch.dtype):
        super().__init__()
        g = max(cfg.groups, cfg.screen)
        self.cfg = cfg
        # every pair draws its groups from its own generator seeded with cfg.seed: a pair gets the same groups
        # whether it is registered alone or in a batch
        draws = [self._draw(cfg, g, torch.Generator().manual_seed(cfg.seed), dtype) for _ in range(pairs)]
        axes, theta, direction = (torch.stack(x) for x in zip(*draws))
        if cfg.variant == "pri":
            bins = cfg.angle_bins
            per_bin = -(-g // bins)
            span = math.radians(cfg.max_angle_deg)
            lo = torch.arange(bins, dtype=dtype).repeat_interleave(per_bin)[:g] * (span / bins)
            self.register_buffer("lo", lo)
            self.register_buffer("width", torch.full((g,), span / bins, dtype=dtype))
        self.axis = torch.nn.Parameter(axes.contiguous())
        self.theta = torch.nn.Parameter(theta)
        self.direction = torch.nn.Parameter(direction)
        self.distance = torch.nn.Parameter(torch.zeros(pairs, g, dtype=dtype))

    @torch.no_grad()
    def start_at(self, t: torch.Tensor) -> None:
        """Start every group at translation ``t`` ``[B, G, 3]`` (normalised units; capped just below d_max)."""
        d = t.norm(dim=-1, keepdim=True)
        self.direction.copy_(torch.where(d > 1e-9, t / d.clamp_min(1e-12), self.direction))
        self.distance.copy_(torch.atanh((d[..., 0] / self.cfg.max_translation).clamp(max=0.999)))

    @staticmethod
    def _draw(cfg: HOUVConfig, g: int, gen: torch.Generator,
              dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pair's initial axes ``[g, 3]``, θ_pq ``[g]`` and translation directions ``[g, 3]``."""
        if cfg.variant == "pri":
            bins = cfg.angle_bins
            per_bin = -(-g // bins)
            # axes: a Fibonacci sphere per sub-space, turned by a random rotation per sub-space
            base = _fibonacci_sphere(per_bin).to(dtype)
            turn_axis = torch.randn(bins, 3, generator=gen, dtype=dtype)
            turn = rodrigues(turn_axis / turn_axis.norm(dim=-1, keepdim=True),
                             torch.rand(bins, generator=gen, dtype=dtype) * math.pi)
            axes = torch.einsum("bij,kj->bki", turn, base).reshape(bins * per_bin, 3)[:g]
            theta = (torch.rand(g, generator=gen, dtype=dtype) - 0.5) * math.pi  # sin θ_pq spread over [-1, 1]
        else:
            axes = torch.randn(g, 3, generator=gen, dtype=dtype)
            u = torch.rand(g, generator=gen, dtype=dtype).clamp(1e-3, 1 - 1e-3)
            theta = torch.log(u) - torch.log1p(-u)  # θ = θ_max·sigmoid(θ_pq) uniform over (0, θ_max)
        return axes, theta, torch.randn(g, 3, generator=gen, dtype=dtype)

    def angle(self) -> torch.Tensor:
        if self.cfg.variant == "pri":
            return self.lo + self.width * (1 + torch.sin(self.theta)) / 2
        return math.radians(self.cfg.max_angle_deg) * torch.sigmoid(self.theta)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        axis = self.axis / self.axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        r = rodrigues(axis, self.angle())
        u = self.direction / self.direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        t = self.cfg.max_translation * torch.tanh(self.distance)[..., None] * u
        return r, t

    def keep(self, idx: torch.Tensor) -> None:
        """Keep the groups ``idx`` ``[B, K]`` of each pair."""
        for name in ("axis", "theta", "direction", "distance"):
            p = getattr(self, name)
            ix = idx if p.dim() == 2 else idx[..., None].expand(-1, -1, 3)
            setattr(self, name, torch.nn.Parameter(torch.gather(p.detach(), 1, ix).contiguous()))
        if self.cfg.variant == "pri":
            self.lo = self.lo.expand(idx.shape[0], -1).gather(1, idx)
            self.width = self.width.expand(idx.shape[0], -1).gather(1, idx)


def _move(points: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``points`` ``[B, 1 or G, N, 3]`` moved by ``r`` ``[B, G, 3, 3]``, ``t`` ``[B, G, 3]``."""
    return points @ r.transpose(-1, -2) + t[..., None, :]


def trimmed_icp(p: torch.Tensor, q: torch.Tensor, mask_p: torch.Tensor, mask_q: torch.Tensor, r: torch.Tensor,
                t: torch.Tensor, iterations: int, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Trimmed point-to-point ICP, batched: from (r ``[B, 3, 3]``, t ``[B, 3]``), match each moved point of p
    ``[B, N, 3]`` to its nearest in q ``[B, M, 3]``, keep the ``fraction`` closest matches, refit by Kabsch.
    The neighbour search uses one k-d tree per target (built once: the target does not move), ~20× faster
    than a dense distance matrix at 800 points (benchmarks/README.md)."""
    valid = [torch.nonzero(m)[:, 0] for m in mask_q]
    trees = [kd_tree(c[v].double().numpy(), "the final ICP") for c, v in zip(q, valid)]
    k = torch.ceil(mask_p.sum(-1, keepdim=True) * fraction).clamp_min(3).long().clamp_max(p.shape[1])
    for _ in range(iterations):
        moved = p @ r.transpose(-1, -2) + t[:, None]
        points = moved.detach().double().numpy()
        idx = torch.stack([v[torch.from_numpy(tree.query(x, k=1)[1]).long()]
                           for tree, v, x in zip(trees, valid, points)])
        matched = _gather(q, idx)
        d = ((moved - matched) ** 2).sum(-1).masked_fill(~mask_p, math.inf)
        threshold = d.sort(-1).values.gather(-1, k - 1)  # the k-th smallest distance of each cloud
        w = ((d <= threshold) & mask_p).to(p.dtype)
        r, t, _ = kabsch(p, matched, w)
    return r, t


def _loss(cfg: HOUVConfig, moved: torch.Tensor, q: torch.Tensor, mp: torch.Tensor, mq: torch.Tensor) -> torch.Tensor:
    """Loss ``[B, G]`` of moved sources ``[B, G, N, 3]`` against targets ``[B, N or M, 3]``."""
    if cfg.loss == "matched":  # mean distance of known correspondences (row i of p ↔ row i of q)
        d = ((moved - q[:, None]) ** 2).sum(-1)
        if not cfg.squared:
            d = (d + 1e-12).sqrt()
        w = mp[:, None].to(d.dtype)
        return (d * w).sum(-1) / w.sum(-1).clamp_min(1)
    return hybrid_loss(moved, q[:, None], mp[:, None], mq[:, None], cfg.alpha, cfg.beta, cfg.gamma, cfg.squared)


@torch.no_grad()
def _final_loss(var: _Variables, p, q, mp, mq, cfg: HOUVConfig) -> torch.Tensor:
    r, t = var()
    return _loss(cfg, _move(p[:, None], r, t), q, mp, mq)


def _choose_by_edges(p, q, mp, mq, r_all, t_all, cfg: HOUVConfig, weight: float = EDGE_WEIGHT):
    """ICP on every group left (``r_all`` ``[B, G, 3, 3]``, ``t_all`` ``[B, G, 3]``), then per pair the group of
    lowest edge-weighted trimmed distance (``weight`` 0: the trimmed distance alone). Returns (r ``[B, 3, 3]``,
    t ``[B, 3]``, chosen group ``[B]``)."""
    b, g = r_all.shape[:2]
    flat = lambda x: x[:, None].expand(b, g, *x.shape[1:]).reshape(b * g, *x.shape[1:])  # noqa: E731
    r, t = r_all.reshape(b * g, 3, 3), t_all.reshape(b * g, 3)
    if cfg.icp_iterations:
        r, t = trimmed_icp(flat(p), flat(q), flat(mp), flat(mq), r, t, cfg.icp_iterations, cfg.alpha)
    r, t = r.reshape(b, g, 3, 3), t.reshape(b, g, 3)
    best = torch.tensor([int(np.argmin(edge_weighted_loss(p[i][mp[i]].numpy(), q[i][mq[i]].numpy(), r[i].numpy(),
                                                          t[i].numpy(), cfg.alpha, weight))) for i in range(b)])
    return r[torch.arange(b), best], t[torch.arange(b), best], best


def register_batch(sources: list, targets: list, config: HOUVConfig = THESIS,
                   dtype: torch.dtype = torch.float32, init_rotation: np.ndarray | None = None) -> Registration:
    """Register each source cloud ``sources[i]`` ``[N_i, 3]`` onto ``targets[i]`` ``[M_i, 3]`` with HOUV, all
    pairs and all groups in one batch. Returns a :class:`Registration` whose (R_i, t_i) satisfy
    targets[i] ≈ sources[i] @ R_iᵀ + t_i on the overlap. ``init_rotation`` ``[B, 3, 3]``: search around these
    rotations (the angle prior then bounds the correction) instead of around the identity."""
    cfg = config.check()
    if not isinstance(sources, (list, tuple)) or not isinstance(targets, (list, tuple)):
        raise FaceEditError("sources and targets must be lists of [N, 3] clouds")
    if len(sources) != len(targets):
        raise FaceEditError(f"mismatched sizes: {len(sources)} source cloud(s) but {len(targets)} target cloud(s)")
    if not sources:
        raise FaceEditError("no cloud pairs to register")
    src = [check_cloud(c, f"source {i}", min_points=3) for i, c in enumerate(sources)]
    dst = [check_cloud(c, f"target {i}", min_points=3) for i, c in enumerate(targets)]
    if cfg.loss == "matched":
        for i, (a, b) in enumerate(zip(src, dst)):
            if len(a) != len(b):
                raise FaceEditError(f"mismatched sizes: pair {i} has {len(a)} source and {len(b)} target points; "
                                    "the matched loss pairs row i with row i")
    if init_rotation is not None:
        init = np.asarray(init_rotation, dtype=np.float64)
        if init.shape != (len(src), 3, 3):
            raise FaceEditError(f"init_rotation must be [{len(src)}, 3, 3], got {list(init.shape)}")
        src = [c @ r.T for c, r in zip(src, init)]
    start = time.perf_counter()
    p, mp = _pad(src, torch.float64)
    q, mq = _pad(dst, torch.float64)
    cp, cq = _masked_mean(p, mp), _masked_mean(q, mq)
    p, q = p - cp[:, None], q - cq[:, None]
    radius = torch.maximum((p.norm(dim=-1) * mp).amax(-1), (q.norm(dim=-1) * mq).amax(-1)).clamp_min(1e-12)
    p, q = (p / radius[:, None, None]).to(dtype), (q / radius[:, None, None]).to(dtype)
    pairs = len(src)

    var = _Variables(cfg, pairs, dtype)
    coarse = cfg.coarse_points > 0 and cfg.loss == "hybrid"  # screening, and the first prune_at iterations
    if coarse:
        pc, qc = _subsample(p, mp, cfg.coarse_points, cfg.seed + 1), _subsample(q, mq, cfg.coarse_points, cfg.seed + 2)
        mpc = torch.ones(pc.shape[:2], dtype=torch.bool)
        mqc = mpc.clone()
    fine = cfg.fine_points > 0 and cfg.loss == "hybrid"
    if fine:
        pf, qf = _subsample(p, mp, cfg.fine_points, cfg.seed + 3), _subsample(q, mq, cfg.fine_points, cfg.seed + 4)
        mpf = torch.ones(pf.shape[:2], dtype=torch.bool)
        mqf = mpf.clone()
    else:
        pf, qf, mpf, mqf = p, q, mp, mq
    if cfg.translation_grid:  # each drawn group starts at the translation that best overlays its rotated source
        with torch.no_grad():
            rotations, _ = var()
            var.start_at(torch.stack([best_translations(p[i][mp[i]], q[i][mq[i]], rotations[i],
                                                        cfg.translation_grid)[0] for i in range(pairs)]))
    if cfg.screen > cfg.groups:  # evaluate every drawn group once, go on with the best ``groups``
        with torch.no_grad():
            a, b, ma, mb = (pc, qc, mpc, mqc) if coarse else (p, q, mp, mq)
            var.keep(_final_loss(var, a, b, ma, mb, cfg).argsort(-1)[:, :cfg.groups])
    opt = torch.optim.Adam(var.parameters(), lr=cfg.lr)
    for it in range(cfg.iterations):
        if it == cfg.prune_at and cfg.keep and cfg.prune_at > 0:
            with torch.no_grad():  # ranked on the points the groups were optimised on
                loss = _final_loss(var, *((pc, qc, mpc, mqc) if coarse else (p, q, mp, mq)), cfg)
            var.keep(loss.argsort(-1)[:, :cfg.keep])
            opt = torch.optim.Adam(var.parameters(), lr=cfg.lr)
        use_coarse = coarse and it < cfg.prune_at
        a, b, ma, mb = (pc, qc, mpc, mqc) if use_coarse else (pf, qf, mpf, mqf)
        r, t = var()
        loss = _loss(cfg, _move(a[:, None], r, t), b, ma, mb)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    with torch.no_grad():
        loss = _final_loss(var, p, q, mp, mq, cfg)
        r_all, t_all = var()
        if cfg.final_score == "edges" and cfg.loss == "hybrid":
            r, t, best = _choose_by_edges(p.double(), q.double(), mp, mq, r_all.double(), t_all.double(), cfg)
        else:
            best = loss.argmin(-1)
            r = r_all[torch.arange(pairs), best].to(torch.float64)
            t = t_all[torch.arange(pairs), best].to(torch.float64)
            if cfg.icp_iterations and cfg.loss == "hybrid":
                r, t = trimmed_icp(p.double(), q.double(), mp, mq, r, t, cfg.icp_iterations, cfg.alpha)
        best_loss = loss[torch.arange(pairs), best]
        # back to the clouds' own frame: q = R (p − c_p)/s·s + t·s + c_q
        t_world = t * radius[:, None] + cq - (r @ cp[..., None])[..., 0]
        if init_rotation is not None:  # the sources were turned by init first
            r = r @ torch.as_tensor(init)
    return Registration(rotation=r.numpy(), translation=t_world.numpy(), loss=best_loss.double().numpy(),
                        group=best.numpy(), seconds=time.perf_counter() - start, config=cfg)


def register(source: np.ndarray, target: np.ndarray, config: HOUVConfig = THESIS, **overrides) -> Registration:
    """Register one cloud ``source`` ``[N, 3]`` onto ``target`` ``[M, 3]``; keyword overrides change fields of
    ``config`` (e.g. ``register(P, Q, variant='ori', iterations=200)``)."""
    if overrides:
        try:
            config = replace(config, **overrides)
        except TypeError as exc:
            raise FaceEditError(f"unknown HOUV setting: {exc}") from None
    return register_batch([source], [target], config)
