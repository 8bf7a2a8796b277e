"""Operations in w+: style mixing, the mixing grid, crossover and expression transfer.

All functions take and return w+ tensors [N, num_ws, w_dim] and never modify their inputs.
"""

from __future__ import annotations

import numpy as np
import torch

from faceedit.edit.layers import parse_layers
from faceedit.errors import FaceEditError


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.ndim != 3 or b.ndim != 3 or a.shape[1:] != b.shape[1:]:
        raise FaceEditError(f"latents do not match: {list(a.shape)} vs {list(b.shape)} (both must be w+ "
                            "[N, num_ws, w_dim] of the same model)")
    if a.shape[0] != b.shape[0]:
        if b.shape[0] == 1:
            b = b.expand_as(a)
        elif a.shape[0] == 1:
            a = a.expand_as(b)
        else:
            raise FaceEditError(f"cannot pair {a.shape[0]} latents with {b.shape[0]}")
    return a, b


def mix(ws_a: torch.Tensor, ws_b: torch.Tensor, layers: str | list[int] = "fine") -> torch.Tensor:
    """Face A with the w+ entries ``layers`` (a group name, a range like ``"4-7"`` or indices) taken from face B.

    ``mix(a, b, "fine")`` keeps A's pose and identity and takes B's colours and micro-structure (makeup
    transfer); ``"coarse"`` takes B's pose and face shape."""
    a, b = _check_pair(ws_a, ws_b)
    idx = parse_layers(layers, a.shape[1])
    out = a.clone()
    out[:, idx] = b[:, idx]
    return out


def crossover(ws_a: torch.Tensor, ws_b: torch.Tensor, k: int) -> torch.Tensor:
    """The first ``k`` w+ entries from A, the rest from B (k = 0: B; k = num_ws: A)."""
    a, b = _check_pair(ws_a, ws_b)
    if not 0 <= int(k) <= a.shape[1]:
        raise FaceEditError(f"crossover point {k} is out of range 0-{a.shape[1]}")
    out = b.clone()
    out[:, :int(k)] = a[:, :int(k)]
    return out


def expression_transfer(ws_target: torch.Tensor, ws_from: torch.Tensor, ws_to: torch.Tensor,
                        strength: float = 1.0, layers: str | list[int] = "all") -> torch.Tensor:
    """w1 + λ (w3 − w2): move the target by the change between a pair of faces of someone else
    (``ws_from`` neutral → ``ws_to`` smiling), on the chosen w+ ``layers`` only."""
    t, f = _check_pair(ws_target, ws_from)
    t, s = _check_pair(t, ws_to)
    if f.shape[0] != t.shape[0]:
        f = f.expand_as(t)
    idx = parse_layers(layers, t.shape[1])
    out = t.clone()
    out[:, idx] = t[:, idx] + float(strength) * (s[:, idx] - f[:, idx])
    return out


def mixing_grid(model, row_ws: torch.Tensor, col_ws: torch.Tensor, layers: str | list[int] = "coarse",
                noise_mode: str = "const", batch_size: int = 8) -> np.ndarray:
    """The classic style-mixing figure as uint8 images [(R+1)·(C+1), H, W, 3], row-major with C+1 columns.

    The top row shows the column sources, the left column the row sources, the corner is blank; cell (r, c) is
    row face r with the w+ entries ``layers`` taken from column face c."""
    from faceedit.media import to_uint8

    row_ws, col_ws = model.as_ws(row_ws), model.as_ws(col_ws)
    R, C = row_ws.shape[0], col_ws.shape[0]
    cells = mix(row_ws.repeat_interleave(C, 0), col_ws.repeat(R, 1, 1), layers)
    imgs = to_uint8(model.synthesize(torch.cat([row_ws, col_ws, cells]), noise_mode=noise_mode,
                                     batch_size=batch_size))
    rows_img, cols_img, cells_img = imgs[:R], imgs[R:R + C], imgs[R + C:]
    blank = np.full_like(imgs[0], 255)
    out = [blank, *cols_img]
    for r in range(R):
        out.append(rows_img[r])
        out.extend(cells_img[r * C:(r + 1) * C])
    return np.stack(out)


#: How :func:`layerwise` replaces styles: ``cumulative`` (layers 0..k−1 replaced) or ``single`` (layer k alone).
LAYERWISE_MODES = ("cumulative", "single")


def layerwise(ws_face: torch.Tensor, ws_other: torch.Tensor, mode: str = "cumulative",
              layers: str | list[int] = "all") -> torch.Tensor:
    """The thesis's layer-wise decoding (its Fig. 5-4): one face [1, num_ws, w_dim] with its styles replaced by
    another code's (e.g. the average face) layer by layer, over ``layers`` (default all, in order).
    ``cumulative``: K + 1 codes for K layers, code k with the first k of them replaced (k = 0: the face itself);
    ``single``: K codes, code k with only the k-th of them replaced. Returns [codes, num_ws, w_dim]."""
    a, b = _check_pair(ws_face[:1], ws_other[:1])
    idx = parse_layers(layers, a.shape[1])
    if mode == "cumulative":
        return torch.cat([a] + [mix(a, b, idx[:k + 1]) for k in range(len(idx))])
    if mode == "single":
        return torch.cat([mix(a, b, [k]) for k in idx])
    raise FaceEditError(f"layer-wise mode must be {' or '.join(LAYERWISE_MODES)}, got {mode!r}")
