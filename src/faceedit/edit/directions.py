"""InterfaceGAN attribute directions: fit linear boundaries in latent space, edit along them, keep others fixed.

Fitting (Shen et al., InterfaceGAN): sample latents, synthesise, score each image (:mod:`faceedit.edit.attributes`),
keep the most and least attribute-bearing ``ratio`` of the samples, split them 70/30, fit a linear SVM and take its
unit normal as the direction. Spaces: ``w`` (default), ``z``, and ``wplus`` (one SVM per w+ entry, fitted on
style-mixed samples so the entries differ; each layer's normal weighted by how well it separates).

One edit unit is one standard deviation of the sampled latents' projections on the normal, so ``--smiling 2``
means "two standard deviations more smiling" on any model. Conditional editing (``keep``) removes from a
direction its components along the directions of the attributes to keep fixed (the projection onto the
orthogonal complement of their span), as InterfaceGAN does for one or two conditions.

    import faceedit
    from faceedit.edit import directions
    m = faceedit.load()
    dirs = directions.load_directions(m)                # shipped for the default model
    ws = m.generate(seeds=[3]).ws
    edited = dirs.apply(ws, {"smiling": 2, "age": -1}, keep=["male"], layers="0-5")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from faceedit.atomic import write_bytes
from faceedit.edit.attributes import UNITS, AttributeScorer, canonical
from faceedit.edit.layers import parse_layers
from faceedit.errors import FaceEditError

SPACES = ("w", "z", "wplus")
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "assets" / "directions"
MAX_SAMPLES = 2_000_000


# ------------------------------------------------------------------------------------------------- samples
@dataclass
class Samples:
    """Sampled latents and their attribute scores: ``z`` [n, z_dim], ``w`` [n, w_dim], ``scores`` [n, A]; ``ws``
    [n, num_ws, w_dim] only for style-mixed samples (``wplus`` fits)."""

    z: np.ndarray
    w: np.ndarray
    scores: np.ndarray
    names: list[str]
    model_sha256: str | None = None
    ws: np.ndarray | None = None
    seconds: float = 0.0

    def column(self, name: str) -> np.ndarray:
        key = canonical(name)
        if key not in self.names:
            raise FaceEditError(f"no score for attribute {name!r} in the samples: available: {', '.join(self.names)}")
        return self.scores[:, self.names.index(key)]

    def save(self, path: str | Path) -> Path:
        import io

        arrays = {"z": self.z.astype(np.float32), "w": self.w.astype(np.float32),
                  "scores": self.scores.astype(np.float32),
                  "meta": np.frombuffer(json.dumps({"names": self.names, "model_sha256": self.model_sha256,
                                                    "seconds": self.seconds}).encode(), np.uint8)}
        if self.ws is not None:
            arrays["ws"] = self.ws.astype(np.float16)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "Samples":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as d:
                meta = json.loads(bytes(d["meta"]).decode())
                ws = d["ws"].astype(np.float32) if "ws" in d else None
                return cls(z=d["z"], w=d["w"], scores=d["scores"], names=list(meta["names"]),
                           model_sha256=meta.get("model_sha256"), ws=ws, seconds=float(meta.get("seconds", 0)))
        except FileNotFoundError:
            raise FaceEditError(f"samples file not found: {path}") from None
        except Exception as exc:  # noqa: BLE001 - corrupt or foreign file
            raise FaceEditError(f"cannot read samples file {path}: {exc}") from exc


@torch.no_grad()
def images_for_scoring(model, ws: torch.Tensor, size: int | None, dtype: torch.dtype | None = None
                       ) -> torch.Tensor:
    """w+ [N, num_ws, w_dim] → images [N, 3, s, s] in [-1, 1] on the model's device, s = min(``size``,
    resolution): synthesised in ``dtype`` (None: the blocks' own; see :mod:`faceedit.device`) and reduced to the
    scorers' input size there (antialiased), so a 1024-px image never leaves the device at full size."""
    from faceedit.model import check_image_values

    img = model.G.synthesis(ws.to(model.device), noise_mode="const", dtype=dtype)
    if size is not None and size < img.shape[-1]:
        img = torch.nn.functional.interpolate(img.float(), size=(size, size), mode="bilinear", align_corners=False,
                                              antialias=True)
    return check_image_values(img.float(), model.name)


def sample_scores(model, scorer: AttributeScorer, n: int, seed: int = 0, batch_size: int = 64,
                  mixing: bool = False, progress: bool = False, dtype: torch.dtype | None = None) -> Samples:
    """Draw ``n`` latents (z ~ N(0, I), seeded; no truncation), synthesise and score them in batches on the
    model's device, at the scorers' input size (:attr:`AttributeScorer.input_size`; :func:`images_for_scoring`).
    ``mixing``: also keep w+ codes with a random crossover layer (for per-layer ``wplus`` fits). ``dtype``: the
    synthesis compute dtype (e.g. ``torch.bfloat16``; :attr:`faceedit.device.Compute.synthesis_dtype`)."""
    import time

    if not 2 <= n <= MAX_SAMPLES:
        raise FaceEditError(f"--samples must be between 2 and {MAX_SAMPLES}, got {n}")
    gen = torch.Generator().manual_seed(int(seed))
    zs, ws_, wps, scores = [], [], [], []
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, total=len(starts), desc="sampling + scoring", unit="batch")
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in starts:
            b = min(batch_size, n - i)
            z = torch.randn(b, model.z_dim, generator=gen)
            ws = model.map(z)
            if mixing:
                z2 = torch.randn(b, model.z_dim, generator=gen)
                ws2 = model.map(z2)
                cut = torch.randint(1, model.num_ws, (b,), generator=gen)
                take = torch.arange(model.num_ws)[None, :] >= cut[:, None]
                ws = torch.where(take[..., None].to(ws.device), ws2, ws)
                wps.append(ws.cpu().numpy().astype(np.float16))
            imgs = images_for_scoring(model, ws, scorer.input_size, dtype)
            scores.append(scorer(imgs).numpy())
            zs.append(z.numpy())
            ws_.append(ws[:, 0].cpu().numpy())
    return Samples(z=np.concatenate(zs), w=np.concatenate(ws_), scores=np.concatenate(scores),
                   names=list(scorer.names), model_sha256=model.sha256,
                   ws=np.concatenate(wps).astype(np.float32) if mixing else None,
                   seconds=time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------- fitting
@dataclass
class Boundary:
    normal: np.ndarray  # unit vector [d]
    intercept: float
    val_accuracy: float
    all_accuracy: float
    n_train: int
    n_val: int


def fit_boundary(x: np.ndarray, score: np.ndarray, ratio: float = 0.02, val_split: float = 0.3,
                 seed: int = 0, C: float = 1.0) -> Boundary:
    """Linear SVM between the top and bottom ``ratio`` of ``score``; 70/30 train/validation split of those.
    ``all_accuracy``: agreement, over every sample, between the halves by SVM decision value and by score
    (both split at their medians) — how well the boundary ranks the samples it was not trained on."""
    from sklearn.svm import LinearSVC

    x = np.asarray(x, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    n = len(score)
    if not 0 < ratio <= 0.5:
        raise FaceEditError(f"--ratio must be in (0, 0.5], got {ratio}")
    k = int(round(n * ratio))
    if k < 10:
        raise FaceEditError(f"too few samples: {n} × ratio {ratio} keeps {k} per side; use at least "
                            f"{int(np.ceil(10 / ratio))} samples")
    if not np.isfinite(score).all() or np.ptp(score) == 0:
        raise FaceEditError("the attribute scores are constant or not finite: nothing to separate")
    order = np.argsort(score, kind="stable")
    neg, pos = order[:k], order[-k:]
    rng = np.random.default_rng(seed)
    neg, pos = rng.permutation(neg), rng.permutation(pos)
    n_val = int(round(k * val_split))
    train = np.concatenate([pos[n_val:], neg[n_val:]])
    val = np.concatenate([pos[:n_val], neg[:n_val]])
    y = np.zeros(n, dtype=np.int64)
    y[pos] = 1
    svm = LinearSVC(C=C, max_iter=20000, dual="auto")
    svm.fit(x[train], y[train])
    coef = svm.coef_.reshape(-1)
    norm = float(np.linalg.norm(coef))
    if norm == 0:
        raise FaceEditError("the SVM found no separating direction")
    val_acc = float((svm.predict(x[val]) == y[val]).mean()) if n_val else float("nan")
    dec = x @ coef
    all_acc = float(((dec > np.median(dec)) == (score > np.median(score))).mean())
    return Boundary(normal=(coef / norm).astype(np.float32), intercept=float(svm.intercept_[0]) / norm,
                    val_accuracy=val_acc, all_accuracy=all_acc, n_train=len(train), n_val=len(val))


@dataclass
class Direction:
    """A unit ``vector`` ([w_dim] for ``w``/``z``, [num_ws, w_dim] for ``wplus``) and ``scale``: the std of the
    sampled latents' projections on it (one edit unit). ``meta`` holds accuracies, model checksum and sample counts."""

    name: str
    space: str
    vector: np.ndarray
    scale: float
    meta: dict = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return f"{self.name}.{self.space}"

    def save(self, folder: str | Path) -> Path:
        import io

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, self.vector.astype(np.float32))
        write_bytes(folder / f"{self.stem}.npy", buf.getvalue())
        meta = dict(self.meta, attribute=self.name, space=self.space, scale=self.scale)
        write_bytes(folder / f"{self.stem}.json", (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode())
        return folder / f"{self.stem}.npy"

    @classmethod
    def load(cls, npy: str | Path) -> "Direction":
        npy = Path(npy)
        meta_path = npy.with_suffix(".json")
        try:
            vector = np.load(npy, allow_pickle=False).astype(np.float32)
            meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        except Exception as exc:  # noqa: BLE001
            raise FaceEditError(f"cannot read direction {npy}: {exc}") from exc
        name, _, space = npy.stem.partition(".")
        space = meta.get("space", space or "w")
        if space not in SPACES:
            raise FaceEditError(f"direction {npy} has unknown space {space!r}")
        n = float(np.linalg.norm(vector))
        if not np.isfinite(vector).all() or n == 0:
            raise FaceEditError(f"direction {npy} is zero or not finite")
        return cls(name=canonical(meta.get("attribute", name)), space=space, vector=vector / n,
                   scale=float(meta.get("scale", 1.0)), meta=meta)


def fit_directions(samples: Samples, attributes: Sequence[str], spaces: Sequence[str] = ("w",),
                   ratio: float = 0.02, val_split: float = 0.3, seed: int = 0, model=None,
                   progress: bool = False) -> list[Direction]:
    """One :class:`Direction` per attribute and space from scored ``samples``."""
    for s in spaces:
        if s not in SPACES:
            raise FaceEditError(f"unknown space {s!r}: use {', '.join(SPACES)}")
    if "wplus" in spaces and samples.ws is None:
        raise FaceEditError("per-layer wplus directions need style-mixed samples (sample with mixing)")
    jobs = [(canonical(a), s) for a in attributes for s in spaces]
    it = jobs
    if progress:
        from tqdm import tqdm

        it = tqdm(jobs, desc="fitting SVMs", unit="direction")
    out = []
    for name, space in it:
        score = samples.column(name)
        meta = {"n_samples": int(len(score)), "ratio": ratio, "val_split": val_split,
                "score_mean": float(score.mean()), "score_std": float(score.std()), "units": UNITS.get(name, "logit"),
                "model_sha256": samples.model_sha256, "method": "InterfaceGAN linear SVM"}
        if model is not None:
            meta.update(model=model.name, w_dim=model.w_dim, num_ws=model.num_ws)
        if space in ("w", "z"):
            x = samples.w if space == "w" else samples.z
            b = fit_boundary(x, score, ratio, val_split, seed)
            vector, proj = b.normal, x @ b.normal
            meta.update(val_accuracy=b.val_accuracy, all_accuracy=b.all_accuracy, n_train=b.n_train, n_val=b.n_val)
        else:
            ws = samples.ws
            layers, weights, accs = [], [], []
            for i in range(ws.shape[1]):
                b = fit_boundary(ws[:, i], score, ratio, val_split, seed)
                layers.append(b.normal)
                accs.append(b.val_accuracy)
                weights.append(max(b.val_accuracy - 0.5, 0.0))
            wts = np.asarray(weights, dtype=np.float32)
            if wts.sum() == 0:
                wts[:] = 1
            vector = np.stack(layers) * wts[:, None]
            vector /= np.linalg.norm(vector)
            proj = np.einsum("nld,ld->n", ws, vector)
            meta.update(val_accuracy=float(np.average(accs, weights=wts)), layer_val_accuracy=accs,
                        all_accuracy=float(((proj > np.median(proj)) == (score > np.median(score))).mean()))
        out.append(Direction(name=name, space=space, vector=np.asarray(vector, np.float32),
                             scale=float(np.std(proj)) or 1.0, meta=meta))
    return out


# ------------------------------------------------------------------------------------------------- editing
def orthogonalise(v: np.ndarray, others: Sequence[np.ndarray]) -> np.ndarray:
    """``v`` minus its projection on span(``others``), renormalised (InterfaceGAN's conditional manipulation,
    for any number of conditions). Fails clearly when ``v`` lies (almost) in that span."""
    shape = v.shape
    v = v.reshape(-1).astype(np.float64)
    if not others:
        return (v / np.linalg.norm(v)).reshape(shape).astype(np.float32)
    N = np.stack([o.reshape(-1).astype(np.float64) for o in others], axis=1)
    coef, *_ = np.linalg.lstsq(N, v, rcond=None)
    r = v - N @ coef
    n = float(np.linalg.norm(r))
    if n < 1e-3 * float(np.linalg.norm(v)):
        raise FaceEditError("the direction lies in the span of the attributes to keep: nothing is left to edit")
    return (r / n).reshape(shape).astype(np.float32)


class DirectionSet:
    """The directions fitted for one model (one folder), by attribute name and space."""

    def __init__(self, directions: Iterable[Direction], folder: Path | None = None):
        self.by_key: dict[tuple[str, str], Direction] = {(d.name, d.space): d for d in directions}
        self.folder = folder

    def __len__(self) -> int:
        return len(self.by_key)

    @property
    def names(self) -> list[str]:
        return sorted({n for n, _ in self.by_key})

    def spaces(self, name: str) -> list[str]:
        return [s for s in SPACES if (canonical(name), s) in self.by_key]

    def get(self, name: str, space: str | None = None) -> Direction:
        key = canonical(name)
        options = [space] if space else ["w", "wplus", "z"]
        for s in options:
            if (key, s) in self.by_key:
                return self.by_key[(key, s)]
        where = f" in {self.folder}" if self.folder else ""
        have = ", ".join(self.names) or "none"
        raise FaceEditError(f"no {space + ' ' if space else ''}direction for {name!r}{where}; available: {have}")

    def vector(self, name: str, keep: Sequence[str] = (), space: str | None = None) -> np.ndarray:
        """The unit direction of ``name``, made orthogonal to the directions of ``keep`` (same space)."""
        d = self.get(name, space)
        others = [self.get(k, d.space).vector for k in keep if canonical(k) != d.name]
        return orthogonalise(d.vector, others)

    def delta(self, amounts: Mapping[str, float], num_ws: int, keep: Sequence[str] = (),
              layers: str | Sequence[int] | None = None) -> torch.Tensor:
        """The w+ offset [num_ws, w_dim] of an edit: Σ amount × scale × direction, on ``layers`` only."""
        from faceedit.limits import check_float

        total = None
        for name, amount in amounts.items():
            amount = check_float(amount, f"the edit amount of {str(name)[:40]!r}", -1000.0, 1000.0)
            d = self.get(name)
            if d.space == "z":
                raise FaceEditError(f"the {name!r} direction is in z; w/w+ edits need a w or wplus direction")
            v = self.vector(name, keep, d.space) * float(amount) * d.scale
            v = np.broadcast_to(v, (num_ws, v.shape[-1])) if v.ndim == 1 else v
            if v.shape[0] != num_ws:
                raise FaceEditError(f"the {name!r} direction has {v.shape[0]} w+ layers; the model has {num_ws}")
            total = v.copy() if total is None else total + v
        if total is None:
            raise FaceEditError("no edit given: name at least one attribute and an amount (e.g. --smiling 2)")
        if layers is not None:
            idx = parse_layers(layers, num_ws)
            mask = np.zeros((num_ws, 1), np.float32)
            mask[idx] = 1
            total = total * mask
        return torch.from_numpy(np.ascontiguousarray(total, dtype=np.float32))

    def apply_z(self, z: torch.Tensor, amounts: Mapping[str, float], keep: Sequence[str] = ()) -> torch.Tensor:
        """``z`` [N, z_dim] moved along the directions fitted in z (InterfaceGAN's original setting): Σ amount ×
        scale × unit normal, each made orthogonal to the z directions of ``keep`` (conditional editing). Map the
        result to w+ with the model (and the face's truncation)."""
        from faceedit.limits import check_float

        if z.ndim != 2:
            raise FaceEditError(f"z edits take z [N, z_dim], got shape {list(z.shape)}")
        total = np.zeros(z.shape[1], np.float32)
        for name, amount in amounts.items():
            amount = check_float(amount, f"the edit amount of {str(name)[:40]!r}", -1000.0, 1000.0)
            d = self.get(name, "z")
            v = self.vector(name, keep, "z")
            if v.shape != total.shape:
                raise FaceEditError(f"the {name!r} z direction has {v.shape[-1]} values; the model's z has "
                                    f"{z.shape[1]}")
            total = total + v * float(amount) * d.scale
        if not amounts:
            raise FaceEditError("no edit given: name at least one attribute and an amount (e.g. --smiling 2)")
        return z + torch.from_numpy(total).to(z.device, z.dtype)[None]

    def apply(self, ws: torch.Tensor, amounts: Mapping[str, float], keep: Sequence[str] = (),
              layers: str | Sequence[int] | None = None) -> torch.Tensor:
        """``ws`` [N, num_ws, w_dim] edited by ``amounts`` (attribute → units; see the module doc)."""
        if ws.ndim != 3:
            raise FaceEditError(f"edits take w+ [N, num_ws, w_dim], got shape {list(ws.shape)}")
        delta = self.delta(amounts, ws.shape[1], keep, layers)
        if delta.shape[-1] != ws.shape[-1]:
            raise FaceEditError(f"directions have w_dim {delta.shape[-1]}; the model has {ws.shape[-1]}")
        return ws + delta.to(ws.device, ws.dtype)[None]

    def sweep(self, ws: torch.Tensor, attributes: Sequence[str], start: float = -3.0, stop: float = 3.0,
              frames: int = 48, combine: bool = False, pingpong: bool = False, keep: Sequence[str] = (),
              layers: str | Sequence[int] | None = None) -> torch.Tensor:
        """Latents of an edit animation: ``[frames, N, num_ws, w_dim]``. Each attribute is swept from ``start`` to
        ``stop`` units in turn (``frames`` frames each), or all together when ``combine``; ``pingpong`` appends the
        way back so the loop is seamless."""
        if frames < 2 or frames > 2000:
            raise FaceEditError(f"--frames must be between 2 and 2000, got {frames}")
        if not attributes:
            raise FaceEditError("name at least one attribute to animate (e.g. --attr smiling)")
        from faceedit.limits import check_float

        steps = np.linspace(check_float(start, "the sweep start", -1000.0, 1000.0),
                            check_float(stop, "the sweep stop", -1000.0, 1000.0), frames)
        groups = [list(attributes)] if combine else [[a] for a in attributes]
        out = []
        for group in groups:
            unit = {a: 1.0 for a in group}
            delta = self.delta(unit, ws.shape[1], keep, layers).to(ws.device, ws.dtype)
            seq = [ws + float(t) * delta[None] for t in steps]
            if pingpong:
                seq += seq[-2:0:-1]
            out.extend(seq)
        return torch.stack(out)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        for d in self.by_key.values():
            d.save(folder)
        return folder

    def table(self) -> list[dict]:
        rows = []
        for (name, space), d in sorted(self.by_key.items()):
            rows.append({"attribute": name, "space": space, "val_accuracy": d.meta.get("val_accuracy"),
                         "all_accuracy": d.meta.get("all_accuracy"), "n_samples": d.meta.get("n_samples"),
                         "scale": d.scale, "units": d.meta.get("units")})
        return rows


def read_folder(folder: str | Path) -> DirectionSet:
    folder = Path(folder)
    if not folder.is_dir():
        raise FaceEditError(f"directions folder not found: {folder}")
    from faceedit.limits import regular_files

    files = sorted(regular_files(folder.glob("*.npy")))  # not the hidden temporaries of an interrupted save
    if not files:
        raise FaceEditError(f"no directions (.npy) in {folder}")
    return DirectionSet([Direction.load(f) for f in files], folder)


def cache_folder(model) -> Path:
    """Where ``directions fit`` puts directions for ``model`` when no ``-o`` is given."""
    from faceedit.io.registry import default_cache_dir

    return default_cache_dir() / "directions" / (model.sha256 or "unknown")[:16]


def load_directions(model, folder: str | Path | None = None, check: bool = True) -> DirectionSet:
    """The directions for ``model``: from ``folder``, else the ones shipped for the embedded default, else the
    cache folder that ``faceedit directions fit`` fills. ``check``: refuse directions fitted on another model."""
    if folder is None:
        candidates = [SHIPPED_DIR, cache_folder(model)]
        for c in candidates:
            if c.is_dir() and any(c.glob("*.npy")):
                ds = read_folder(c)
                if _matches(ds, model):
                    return ds
        raise FaceEditError(f"no directions fitted for model {model.name!r}: run 'faceedit directions fit --model "
                            f"{model.name} --attr smiling,age,male' (or give --directions DIR)")
    ds = read_folder(folder)
    if check and not _matches(ds, model):
        sha = next(iter(ds.by_key.values())).meta.get("model_sha256")
        raise FaceEditError(f"the directions in {folder} were fitted on another model (sha256 {str(sha)[:12]}…, "
                            f"this one is {str(model.sha256)[:12]}…); refit them or pass --force")
    return ds


def _matches(ds: DirectionSet, model) -> bool:
    for d in ds.by_key.values():
        sha = d.meta.get("model_sha256")
        if sha and model.sha256 and sha != model.sha256:
            return False
        if d.vector.shape[-1] != model.w_dim and d.space != "z":
            return False
    return True
