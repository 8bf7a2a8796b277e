"""Point clouds in and out: read .ply/.obj/.off/.stl/.xyz/.npy files, check them, write them atomically.

A cloud is a float64 numpy array ``[N, 3]``. Meshes (files with faces) are sampled uniformly on their surface
(area-weighted, seeded) unless ``mesh_points=0`` asks for the raw vertices. Every problem a user's file can have
(missing, empty, unreadable, NaN/inf coordinates, a single point, too many points) raises
:class:`~faceedit.errors.FaceEditError` with one line naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceedit.errors import FaceEditError

#: File suffixes :func:`load_cloud` reads.
CLOUD_SUFFIXES = (".ply", ".obj", ".off", ".stl", ".xyz", ".txt", ".npy")
MESH_SUFFIXES = (".ply", ".obj", ".off", ".stl")
#: Caps against huge inputs: file size (bytes) and points read from a file.
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_POINTS = 5_000_000


def check_cloud(points, name: str = "cloud", min_points: int = 2) -> np.ndarray:
    """``points`` as a float64 ``[N, 3]`` array, or a one-line :class:`FaceEditError` saying what is wrong.

    Refused: not ``[N, 3]``, fewer than ``min_points`` points (an empty cloud, a single point), NaN or infinite
    coordinates, more than :data:`MAX_POINTS` points, and clouds whose points all coincide."""
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FaceEditError(f"{name}: not an array of numbers ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise FaceEditError(f"{name}: expected points of shape [N, 3], got {list(arr.shape)}")
    n = arr.shape[0]
    if n == 0:
        raise FaceEditError(f"{name}: the cloud is empty (0 points)")
    if n < min_points:
        raise FaceEditError(f"{name}: {n} point(s); registration needs at least {min_points}")
    if n > MAX_POINTS:
        raise FaceEditError(f"{name}: {n} points; at most {MAX_POINTS} are accepted")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise FaceEditError(f"{name}: {int(bad.sum())} point(s) with NaN or infinite coordinates "
                            f"(first at row {int(np.argmax(bad))})")
    if n >= 2 and float(np.ptp(arr, axis=0).max()) == 0.0:
        raise FaceEditError(f"{name}: all {n} points coincide; the cloud has no shape to register")
    return arr


@dataclass
class LoadedCloud:
    """A cloud read from a file: ``points`` ``[N, 3]`` float64, and the mesh it came from (a ``trimesh.Trimesh``)
    when the file had faces, so that a registration can move the mesh itself."""

    points: np.ndarray
    path: Path
    mesh: object | None = None


def _trimesh():
    try:
        import trimesh
    except ImportError:
        raise FaceEditError("reading .ply/.obj/.off/.stl needs trimesh: pip install 'faceedit[geometry]'") from None
    return trimesh


def kd_tree(points: np.ndarray, what: str):
    """scipy's k-d tree over ``points`` ``[N, 3]``; ``what`` needs it, and the error says so when scipy is missing."""
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        raise FaceEditError(f"{what} needs scipy: pip install 'faceedit[geometry]'") from None
    return cKDTree(points)


def _read_xyz(path: Path) -> np.ndarray:
    rows = []
    with open(path, "r", encoding="utf-8", errors="strict") as f:
        for i, line in enumerate(f, 1):
            line = line.split("#", 1)[0].replace(",", " ").split()
            if not line:
                continue
            if len(line) < 3:
                raise FaceEditError(f"{path}: line {i} has {len(line)} value(s); an .xyz row is 'x y z [...]'")
            try:
                rows.append([float(v) for v in line[:3]])
            except ValueError:
                raise FaceEditError(f"{path}: line {i} is not numbers: {' '.join(line)[:60]!r}") from None
            if len(rows) > MAX_POINTS:
                raise FaceEditError(f"{path}: more than {MAX_POINTS} points")
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def _read_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        raise FaceEditError(f"{path}: not a plain .npy array ({exc})") from None
    if arr.dtype.kind not in "fiu":
        raise FaceEditError(f"{path}: the array holds {arr.dtype}, not numbers")
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise FaceEditError(f"{path}: expected an array of shape [N, 3], got {list(arr.shape)}")
    if arr.shape[0] > MAX_POINTS:
        raise FaceEditError(f"{path}: {arr.shape[0]} points; at most {MAX_POINTS} are accepted")
    return np.array(arr[:, :3], dtype=np.float64)  # a copy: the memory map closes


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points uniformly on a triangle mesh's surface (area-weighted triangle choice, uniform barycentric
    coordinates), seeded: ``[n, 3]`` float64."""
    v = np.asarray(vertices, dtype=np.float64)
    tri = v[np.asarray(faces, dtype=np.int64)]  # [F, 3, 3]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    total = area.sum()
    if not np.isfinite(total) or total <= 0:
        raise FaceEditError("the mesh has no surface area to sample")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(tri), size=n, p=area / total)
    r1, r2 = rng.random(n), rng.random(n)
    flip = r1 + r2 > 1
    r1[flip], r2[flip] = 1 - r1[flip], 1 - r2[flip]
    t = tri[pick]
    return t[:, 0] + r1[:, None] * (t[:, 1] - t[:, 0]) + r2[:, None] * (t[:, 2] - t[:, 0])


def load_cloud(path: str | os.PathLike, mesh_points: int = 2048, seed: int = 0) -> LoadedCloud:
    """Read a point cloud or mesh file (.ply/.obj/.off/.stl via trimesh; .xyz/.txt text rows; .npy ``[N, 3+]``).

    A mesh (faces present) gives ``mesh_points`` points sampled on its surface (``0``: its vertices); a point
    cloud gives its points. Raises :class:`FaceEditError` (one line) for anything unreadable or invalid."""
    path = Path(path)
    if not path.exists():
        raise FaceEditError(f"file not found: {path}")
    if not path.is_file():
        raise FaceEditError(f"{path}: not a file")
    suffix = path.suffix.lower()
    if suffix not in CLOUD_SUFFIXES:
        raise FaceEditError(f"{path}: unknown point-cloud format {suffix or '(none)'}; "
                            f"use {', '.join(CLOUD_SUFFIXES)}")
    size = path.stat().st_size
    if size == 0:
        raise FaceEditError(f"{path}: the file is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise FaceEditError(f"{path}: {size / 2**20:.0f} MiB; files over {MAX_FILE_BYTES // 2**20} MiB are refused")
    if not 0 <= mesh_points <= MAX_POINTS:
        raise FaceEditError(f"mesh_points must be from 0 to {MAX_POINTS}, got {mesh_points}")
    mesh = None
    try:
        if suffix == ".npy":
            pts = _read_npy(path)
        elif suffix in (".xyz", ".txt"):
            pts = _read_xyz(path)
        else:
            trimesh = _trimesh()
            loaded = trimesh.load(str(path), force=None, process=False)
            if isinstance(loaded, trimesh.Scene):
                geoms = list(loaded.dump()) if loaded.geometry else []
                if not geoms:
                    raise FaceEditError(f"{path}: no geometry in the file")
                loaded = trimesh.util.concatenate(geoms)
            faces = getattr(loaded, "faces", None)
            verts = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64)
            if verts.shape[0] > MAX_POINTS:
                raise FaceEditError(f"{path}: {verts.shape[0]} vertices; at most {MAX_POINTS} are accepted")
            if faces is not None and len(faces) > 0 and mesh_points > 0:
                check_cloud(verts, str(path), min_points=3)
                mesh = loaded
                pts = sample_surface(verts, np.asarray(faces), mesh_points, seed=seed)
            else:
                mesh = loaded if faces is not None and len(faces) > 0 else None
                pts = verts
    except FaceEditError:
        raise
    except UnicodeDecodeError:
        raise FaceEditError(f"{path}: not a text point list (binary data in an {suffix} file)") from None
    except MemoryError:
        raise FaceEditError(f"{path}: too large to read") from None
    except Exception as exc:  # noqa: BLE001 - trimesh and numpy raise many types on corrupt files
        raise FaceEditError(f"cannot read {path}: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}") from None
    return LoadedCloud(points=check_cloud(pts, str(path)), path=path, mesh=mesh)


def save_cloud(path: str | os.PathLike, points: np.ndarray, mesh=None, transform: np.ndarray | None = None) -> Path:
    """Write ``points`` ``[N, 3]`` (or ``mesh`` moved by the 4×4 ``transform``, when given and the suffix holds
    meshes) to ``path`` atomically: .ply/.obj/.off/.stl via trimesh, .xyz text, .npy float64."""
    from faceedit import atomic

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CLOUD_SUFFIXES:
        raise FaceEditError(f"{path}: unknown output format {suffix or '(none)'}; use {', '.join(CLOUD_SUFFIXES)}")
    pts = check_cloud(points, "output", min_points=1)
    with atomic.atomic_path(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, pts)
        elif suffix in (".xyz", ".txt"):
            np.savetxt(tmp, pts, fmt="%.8g")
        else:
            trimesh = _trimesh()
            if mesh is not None and transform is not None:
                moved = mesh.copy()
                moved.apply_transform(np.asarray(transform, dtype=np.float64))
                data = moved.export(file_type=suffix[1:])
            elif suffix == ".ply":
                data = trimesh.PointCloud(pts).export(file_type="ply")
            else:
                raise FaceEditError(f"{path}: {suffix} holds meshes; write points as .ply, .xyz or .npy")
            tmp.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def normalise_unit_sphere(points: np.ndarray) -> np.ndarray:
    """Centre a cloud on its bounding-box centre and scale it into the unit sphere (largest norm 1), as in the
    ModelNet40 registration protocol: ``[N, 3]``."""
    pts = np.asarray(points, dtype=np.float64)
    centred = pts - (pts.max(0) + pts.min(0)) / 2
    r = float(np.linalg.norm(centred, axis=1).max())
    return centred / (r if r > 0 else 1.0)
