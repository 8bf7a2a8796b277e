"""Import published latent directions into the project's direction format (``faceedit directions import``).

Formats (sniffed from the content, not only the extension):

* **InterfaceGAN boundaries** (genforce/interfacegan ``boundaries/*.npy``): a unit normal of shape
  ``(1, w_dim)`` (or ``(w_dim,)``); a ``(num_ws, w_dim)`` array is a per-layer (w+) direction.
* **e4e / InterFaceGAN ``.pt`` tensors** (encoder4editing ``editings/interfacegan_directions/*.pt``): a tensor of
  the same shapes, read with the restricted torch reader.
* **GANSpace component files** (harskish/ganspace ``.npz``: ``lat_comp`` [n, 1, w_dim], ``lat_stdev`` [n],
  ``lat_mean``): component ``--component K``; one edit unit is that component's standard deviation, as in GANSpace.
* **StyleSpace channel lists** (text: one channel per line, ``layer_channel`` as in the StyleSpace paper or
  ``layer:channel``, optionally preceded by ``-`` or followed by a weight; ``#`` comments): written as a
  channels JSON that ``faceedit channels edit --from-file`` reads.

A ``(1, w_dim)`` direction applies to every w+ layer, as in InterfaceGAN (space ``w``); ``--layers`` restricts it
to some layers (space ``wplus``, zero elsewhere), as GANSpace's layer ranges do. Units: ``sigma`` (default) makes
one edit unit one standard deviation of the projections of 10,000 of the model's w on the direction (the unit
``directions fit`` uses); ``raw`` keeps the file's own units (InterfaceGAN/e4e: distance along the unit normal;
GANSpace: the component's σ).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceedit.edit.directions import Direction
from faceedit.errors import FaceEditError

FORMATS = ("interfacegan", "torch", "ganspace", "stylespace")
UNITS = ("sigma", "raw")
SIGMA_SAMPLES = 10_000
MAX_FILE_BYTES = 512 << 20
MAX_CHANNEL_LINES = 10_000


@dataclass
class Imported:
    """A vector read from a file, as stored (not normalised): ``vector`` [w_dim] or [num_ws, w_dim]; ``scale``:
    the factor the file's own edits multiply it by per unit (GANSpace: the component's σ; 1 otherwise)."""

    vector: np.ndarray
    scale: float
    format: str
    detail: str


def sniff(path: Path) -> str:
    """'interfacegan' (.npy), 'ganspace' (.npz), 'torch' (torch.save) or 'stylespace' (text)."""
    from faceedit.limits import regular_file

    if not path.is_file():
        raise FaceEditError(f"direction file not found: {path}")
    regular_file(path, "direction file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise FaceEditError(f"{path} is {path.stat().st_size >> 20} MiB; direction files are at most "
                            f"{MAX_FILE_BYTES >> 20} MiB")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x93NUMPY"):
        return "interfacegan"
    if head.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        if any(n.endswith("/data.pkl") for n in names):
            return "torch"
        return "ganspace"
    if head[:1] == b"\x80":
        return "torch"  # legacy torch.save
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise FaceEditError(f"{path} is not a direction file (not .npy, .npz, torch.save or a text channel "
                            "list)") from None
    return "stylespace"


def _as_vector(a: np.ndarray, source: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim not in (1, 2) or a.size == 0:
        raise FaceEditError(f"{source} holds an array of shape {list(a.shape)}; a direction is (1, w_dim), "
                            "(w_dim,) or (num_ws, w_dim)")
    if not np.isfinite(a).all() or float(np.linalg.norm(a)) == 0:
        raise FaceEditError(f"{source}: the direction is zero or not finite")
    return a.astype(np.float32)


def read_interfacegan(path: Path) -> Imported:
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise FaceEditError(f"{path} is not a readable .npy boundary ({' '.join(str(exc).split())[:120]})") from None
    if not np.issubdtype(a.dtype, np.number):
        raise FaceEditError(f"{path} holds {a.dtype} values, not numbers")
    return Imported(_as_vector(a, str(path)), 1.0, "interfacegan", f"InterfaceGAN boundary {list(a.shape)}")


def read_torch(path: Path, component: int | None = None) -> Imported:
    from faceedit.io.safe_torch import safe_load_torch

    data = safe_load_torch(path, allow_namespace=False)
    if isinstance(data, dict):
        tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
        comp = next((tensors[k] for k in ("lat_comp", "comp", "components") if k in tensors), None)
        if comp is not None:  # a GANSpace-style PCA saved with torch (e.g. e4e's ffhq_pca.pt)
            std = next((tensors[k] for k in ("lat_stdev", "std", "stdev") if k in tensors), None)
            return _component(comp.float().numpy(), None if std is None else std.float().numpy(), component,
                              str(path), "torch")
        if len(tensors) != 1:
            raise FaceEditError(f"{path} holds a dict ({', '.join(sorted(map(str, data))[:5])}); expected one "
                                "direction tensor or PCA components")
        data = next(iter(tensors.values()))
    if not isinstance(data, torch.Tensor):
        raise FaceEditError(f"{path} holds a {type(data).__name__}, not a direction tensor")
    if component is not None:
        raise FaceEditError(f"{path} holds one direction; --component is for PCA component files")
    return Imported(_as_vector(data.detach().float().numpy(), str(path)), 1.0, "torch",
                    f"torch tensor {list(data.shape)}")


def _component(comp: np.ndarray, std: np.ndarray | None, k: int | None, source: str, fmt: str) -> Imported:
    comp = np.asarray(comp)
    if comp.ndim == 3:
        comp = comp.reshape(comp.shape[0], -1) if comp.shape[1] == 1 else comp
    if comp.ndim not in (2, 3):
        raise FaceEditError(f"{source}: components of shape {list(comp.shape)}; expected [n, 1, w_dim]")
    n = comp.shape[0]
    if k is None:
        raise FaceEditError(f"{source} holds {n} PCA components: choose one with --component (0-{n - 1})")
    if not 0 <= k < n:
        raise FaceEditError(f"--component {k} is out of range: {source} has components 0-{n - 1}")
    scale = 1.0
    if std is not None:
        std = np.asarray(std, dtype=np.float64).reshape(-1)
        if std.shape[0] != n or not np.isfinite(std[k]) or std[k] <= 0:
            raise FaceEditError(f"{source}: its standard deviations do not fit its {n} components")
        scale = float(std[k])
    return Imported(_as_vector(comp[k], source), scale, fmt, f"PCA component {k} of {n}")


def read_ganspace(path: Path, component: int | None) -> Imported:
    try:
        with np.load(path, allow_pickle=False) as data:
            if "lat_comp" not in data.files:
                raise FaceEditError(f"{path} is an .npz without 'lat_comp': not a GANSpace component file "
                                    f"(keys: {', '.join(data.files[:6])})")
            comp = data["lat_comp"]
            std = data["lat_stdev"] if "lat_stdev" in data.files else None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise FaceEditError(f"{path} is not a readable .npz ({' '.join(str(exc).split())[:120]})") from None
    return _component(comp, std, component, str(path), "ganspace")


_CHANNEL_LINE = re.compile(r"^(-?)\s*([0-9]{1,4})\s*[_:]\s*([0-9]{1,6})(?:\s*[\s,]\s*([-+0-9.eE]{1,24}))?$")


def read_channel_list(path: Path, style_layers: list[tuple[str, int]]):
    """A StyleSpace channel list → :class:`~faceedit.edit.stylespace.StyleDirection` (unit-norm weights)."""
    from faceedit.edit.layers import parse_channel
    from faceedit.edit.stylespace import StyleDirection

    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) > MAX_CHANNEL_LINES:
        raise FaceEditError(f"{path} has {len(lines)} lines; channel lists are at most {MAX_CHANNEL_LINES}")
    ids, weights = [], []
    for no, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        m = _CHANNEL_LINE.match(text)
        if not m:
            raise FaceEditError(f"{path}:{no}: {text[:40]!r} is not a channel (use layer_channel or "
                                "layer:channel, e.g. 6_501, optionally -6_501 or '6_501 0.5')")
        sign, layer, channel, weight = m.groups()
        cid = parse_channel(f"{layer}:{channel}", style_layers)
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise FaceEditError(f"{path}:{no}: bad weight {weight!r}") from None
        if not np.isfinite(w) or w == 0:
            raise FaceEditError(f"{path}:{no}: the weight must be a finite non-zero number")
        ids.append(cid)
        weights.append(-w if sign else w)
    if not ids:
        raise FaceEditError(f"{path} lists no channels")
    norm = float(np.linalg.norm(weights))
    return StyleDirection(ids, [w / norm for w in weights])


def read_vector(path: str | Path, component: int | None = None) -> Imported:
    """The direction in ``path`` (any format but StyleSpace lists; see the module docstring)."""
    path = Path(path)
    fmt = sniff(path)
    if fmt == "stylespace":
        raise FaceEditError(f"{path} is a text file: StyleSpace channel lists need a model (import_file)")
    if fmt == "interfacegan":
        if component is not None:
            raise FaceEditError(f"{path} holds one boundary; --component is for PCA component files")
        return read_interfacegan(path)
    if fmt == "ganspace":
        return read_ganspace(path, component)
    return read_torch(path, component)


def fit_to_model(imp: Imported, model, layers: str | None, source: str) -> tuple[np.ndarray, str, float]:
    """(unit vector in the model's shape, its space 'w' or 'wplus', the file's edit unit along it): the file's
    edit adds ``amount × vector × scale`` on every layer it covers, so the unit is ``scale × ‖vector‖`` (after
    ``layers`` restricts it). Clear errors for a wrong width or layer count."""
    v = imp.vector
    if v.shape[-1] != model.w_dim:
        raise FaceEditError(f"{source} holds a direction of width {v.shape[-1]}; model {model.name} has "
                            f"w_dim {model.w_dim} (a direction for another generator?)")
    if v.ndim == 2 and v.shape[0] != model.num_ws:
        raise FaceEditError(f"{source} holds a per-layer direction for {v.shape[0]} w+ layers; model "
                            f"{model.name} has {model.num_ws}")
    space = "w" if v.ndim == 1 else "wplus"
    if layers is not None:
        from faceedit.edit.layers import parse_layers

        idx = parse_layers(layers, model.num_ws)
        full = np.broadcast_to(v, (model.num_ws, model.w_dim)).copy()
        mask = np.zeros((model.num_ws, 1), np.float32)
        mask[idx] = 1
        v, space = full * mask, "wplus"
    norm = float(np.linalg.norm(v))
    return (v / norm).astype(np.float32), space, imp.scale * norm


def sigma_of(model, vector: np.ndarray, samples: int = SIGMA_SAMPLES, seed: int = 0) -> float:
    """Standard deviation of ⟨w, v⟩ over ``samples`` random w of the model (w+ directions: summed over layers)."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.from_numpy(vector).to(model.device)
    proj = []
    for i in range(0, samples, 1000):
        z = torch.randn(min(1000, samples - i), model.z_dim, generator=gen)
        ws = model.map(z)
        proj.append((ws * v).sum(dim=(1, 2)) if v.ndim == 2 else ws[:, 0] @ v)
    return float(torch.cat(proj).std())


def import_direction(path: str | Path, name: str, model, component: int | None = None, layers: str | None = None,
                     units: str = "sigma") -> Direction:
    """A :class:`Direction` for ``model`` from a published file (not saved; see :func:`import_file`)."""
    from faceedit.edit.attributes import canonical
    from faceedit.io.loader import file_sha256

    if units not in UNITS:
        raise FaceEditError(f"--units must be one of {', '.join(UNITS)}, got {units!r}")
    path = Path(path)
    imp = read_vector(path, component)
    vector, space, raw_unit = fit_to_model(imp, model, layers, str(path))
    scale = sigma_of(model, vector) if units == "sigma" else raw_unit
    meta = {"method": f"imported ({imp.detail})", "format": imp.format, "source": path.name,
            "source_sha256": file_sha256(path), "units": "σ of the model's w" if units == "sigma" else "file's own",
            "model": model.name, "model_sha256": model.sha256, "w_dim": model.w_dim, "num_ws": model.num_ws}
    if component is not None:
        meta["component"] = component
    if layers is not None:
        meta["layers"] = layers
    return Direction(name=canonical(name), space=space, vector=vector, scale=float(scale) or 1.0, meta=meta)


def write_channels(path: Path, direction, name: str, source: Path) -> Path:
    """A channels JSON (:meth:`StyleDirection.to_json`) for ``faceedit channels edit --from-file``."""
    from faceedit.atomic import write_text

    data = json.loads(direction.to_json())
    data.update(target=name, source=source.name)
    write_text(path, json.dumps(data, indent=1) + "\n")
    return path


def import_file(path: str | Path, name: str, model, out: str | Path | None = None, component: int | None = None,
                layers: str | None = None, units: str = "sigma") -> tuple[Path, str]:
    """Import ``path`` as attribute ``name`` for ``model`` into ``out`` (default: the model's cache folder, which
    ``faceedit edit`` searches). Returns (written file, one-line description)."""
    from faceedit.edit.directions import cache_folder

    path = Path(path)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(name)):
        raise FaceEditError(f"--attr {str(name)[:40]!r}: use 1-64 letters, digits, '_' or '-'")
    folder = Path(out) if out is not None else cache_folder(model)
    if sniff(path) == "stylespace":
        if component is not None or layers is not None:
            raise FaceEditError("--component and --layers are for latent directions, not StyleSpace channel lists")
        sd = read_channel_list(path, model.style_layers)
        folder.mkdir(parents=True, exist_ok=True)
        written = write_channels(folder / f"{name}.channels.json", sd, name, path)
        return written, f"{len(sd.channels)} StyleSpace channels ({sd}) → {written}"
    d = import_direction(path, name, model, component, layers, units)
    written = d.save(folder)
    return written, (f"{d.name} ({d.space}, {d.meta['method']}, one unit = {d.scale:.4g} in w) → {written}")
