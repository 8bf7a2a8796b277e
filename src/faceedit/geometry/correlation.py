"""Global translation search by FFT cross-correlation of voxelised clouds.

For a fixed rotation R, the translation t that lays the most of R·P onto Q is the peak of the cross-correlation
C(t) = Σ_x P_R(x) Q(x + t) of the two clouds' occupancy grids; one FFT per rotation gives it for every t on the
grid at once. HOUV uses it when it screens its groups (``HOUVConfig.translation_grid``): each group's random
rotation gets the translation of its correlation peak instead of a random one, so the narrow translation basin of
two partial views whose centroids are apart is found without a search over starts (benchmarks/README.md,
"Partial point-cloud registration").

Units are HOUV's normalised ones: both clouds centred on their centroids and scaled into the unit ball, so the
grid spans [-:data:`BOX`, :data:`BOX`]³ and translations of up to 2·BOX − 2 (= 1 cloud radius) are unambiguous under
the FFT's wrap-around.
"""

from __future__ import annotations

import math

import torch

from faceedit.errors import FaceEditError

BOX = 1.5                 #: half-width of the grid (cloud radius 1): translations up to 1 radius are found
MIN_GRID, MAX_GRID = 8, 128
CHUNK_VOXELS = 1 << 24    #: grid cells transformed at once (bounds the memory of one chunk to ~200 MB)


def splat(points: torch.Tensor, n: int, box: float = BOX) -> torch.Tensor:
    """Trilinear occupancy grids ``[K, n, n, n]`` of clouds ``points`` ``[K, N, 3]`` inside [-box, box]³ (points
    outside wrap around: keep the clouds inside the box)."""
    k = points.shape[0]
    x = (points + box) * (n / (2 * box)) - 0.5
    base = torch.floor(x)
    frac = x - base
    base = base.long()
    grid = torch.zeros(k, n ** 3, dtype=points.dtype)
    for corner in range(8):
        offset = [(corner >> axis) & 1 for axis in range(3)]
        w = torch.ones_like(frac[..., 0])
        flat = torch.zeros_like(base[..., 0])
        for axis, o in enumerate(offset):
            w = w * (frac[..., axis] if o else 1 - frac[..., axis])
            flat = flat * n + (base[..., axis] + o) % n
        grid.scatter_add_(1, flat, w)
    return grid.view(k, n, n, n)


def _gaussian_spectrum(n: int, sigma_cells: float, dtype: torch.dtype) -> torch.Tensor:
    """The rfft spectrum ``[n, n, n//2+1]`` of a Gaussian blur of ``sigma_cells`` grid cells."""
    k = torch.fft.fftfreq(n, dtype=dtype)
    kr = torch.fft.rfftfreq(n, dtype=dtype)
    k2 = k[:, None, None] ** 2 + k[None, :, None] ** 2 + kr[None, None, :] ** 2
    return torch.exp(-2 * (math.pi * sigma_cells) ** 2 * k2)


def best_translations(p: torch.Tensor, q: torch.Tensor, rotations: torch.Tensor, grid: int = 24,
                      blur_cells: float = 1.0, box: float = BOX) -> tuple[torch.Tensor, torch.Tensor]:
    """For one pair of clouds ``p`` ``[N, 3]``, ``q`` ``[M, 3]`` (centred, in the unit ball) and candidate
    ``rotations`` ``[G, 3, 3]``: the translation ``[G, 3]`` whose moved cloud R·p + t overlaps q the most (the
    peak of the blurred occupancy cross-correlation, to one grid cell) and that peak's height ``[G]`` (the
    overlap, in points)."""
    if not MIN_GRID <= grid <= MAX_GRID:
        raise FaceEditError(f"translation grid must be from {MIN_GRID} to {MAX_GRID} cells, got {grid}")
    dtype = p.dtype
    q_spectrum = torch.fft.rfftn(splat(q[None], grid, box), dim=(1, 2, 3)) * _gaussian_spectrum(grid, blur_cells,
                                                                                                 dtype)
    cell = 2 * box / grid
    chunk = max(1, CHUNK_VOXELS // grid ** 3)
    shifts, heights = [], []
    for start in range(0, rotations.shape[0], chunk):
        moved = p[None] @ rotations[start:start + chunk].transpose(-1, -2)
        spectrum = torch.fft.rfftn(splat(moved, grid, box), dim=(1, 2, 3))
        corr = torch.fft.irfftn(spectrum.conj() * q_spectrum, s=(grid,) * 3, dim=(1, 2, 3))
        height, flat = corr.reshape(corr.shape[0], -1).max(-1)
        index = torch.stack([flat // grid ** 2, (flat // grid) % grid, flat % grid], -1).to(dtype)
        shifts.append(torch.where(index >= grid / 2, index - grid, index) * cell)
        heights.append(height)
    return torch.cat(shifts), torch.cat(heights)
