"""Write src/faceedit/assets/canonical_face68.json: the 68 dlib/iBUG landmarks as vertices of MediaPipe's
canonical face model (Apache-2.0), with their 3D positions (cm) and outward vertex normals, and a check picture.

The correspondence is derived from MediaPipe's landmark groups (face oval, eyebrows, eyes, nose, lips in
face_mesh_landmark_groups.json): each dlib contour (jaw, brow, eye lid, nose bridge, nostrils, outer and inner lip)
is an ordered chain of group vertices, and the dlib points are the chain vertices nearest to equal arc-length
fractions (ends fixed where dlib puts them: eye and mouth corners, chin, nose tip).

    .venv/bin/python scripts/make_face68_table.py ../shared/data/meshes/mediapipe --png docs/face68_table.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().parents[1] / "src" / "faceedit" / "assets" / "canonical_face68.json"


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    verts, faces = [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
        elif parts and parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return np.asarray(verts), np.asarray(faces)


def chain(edges: list[list[int]], start: int, end: int) -> list[int]:
    """The shortest path (fewest edges) from ``start`` to ``end`` in an edge list."""
    nbr: dict[int, list[int]] = {}
    for a, b in edges:
        nbr.setdefault(a, []).append(b)
        nbr.setdefault(b, []).append(a)
    came = {start: start}
    frontier = [start]
    while frontier and end not in came:
        nxt = []
        for v in frontier:
            for n in nbr.get(v, []):
                if n not in came:
                    came[n] = v
                    nxt.append(n)
        frontier = nxt
    if end not in came:
        raise ValueError(f"no path from {start} to {end}")
    path = [end]
    while path[-1] != start:
        path.append(came[path[-1]])
    return path[::-1]


def pick(verts: np.ndarray, path: list[int], fractions: list[float]) -> list[int]:
    """Path vertices nearest to the given arc-length fractions of the path."""
    p = verts[path]
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))])
    arc /= arc[-1]
    return [path[int(np.argmin(np.abs(arc - f)))] for f in fractions]


def table(verts: np.ndarray, groups: dict) -> list[int]:
    e = {k: v["edges"] for k, v in groups.items()}
    even = lambda n: [i / (n - 1) for i in range(n)]  # noqa: E731
    # jaw: from the oval vertex level with the outer eye corner on the image-left side, down round the chin
    oval = groups["FACEMESH_FACE_OVAL"]["vertices"]
    eye_y = verts[33, 1]
    left = min((v for v in oval if verts[v, 0] < -1), key=lambda v: abs(verts[v, 1] - eye_y))
    right = min((v for v in oval if verts[v, 0] > 1), key=lambda v: np.linalg.norm(verts[v] * [-1, 1, 1] - verts[left]))
    chin = min(oval, key=lambda v: verts[v, 1])
    jaw = pick(verts, chain(e["FACEMESH_FACE_OVAL"], left, chin), even(9))
    jaw += pick(verts, chain(e["FACEMESH_FACE_OVAL"], chin, right), even(9))[1:]
    brow_r = pick(verts, chain(e["FACEMESH_RIGHT_EYEBROW"], 70, 107), even(5))     # upper edge, outer → inner
    brow_l = pick(verts, chain(e["FACEMESH_LEFT_EYEBROW"], 336, 300), even(5))     # inner → outer
    nose = groups["FACEMESH_NOSE"]["vertices"]
    tip = max(nose, key=lambda v: verts[v, 2])
    bridge = pick(verts, chain(e["FACEMESH_NOSE"], 168, tip), even(4))
    nostrils = pick(verts, chain(e["FACEMESH_NOSE"], 98, 327), even(5))

    def lids(group: str, a: int, b: int) -> tuple[list[int], list[int]]:
        """(upper, lower) lid chains from corner a to corner b."""
        up_, lo_ = sorted(_two_paths(e[group], a, b), key=lambda pth: -np.mean(verts[pth, 1]))
        return up_, lo_

    up, lo = lids("FACEMESH_RIGHT_EYE", 33, 133)          # dlib 36-41: outer corner, upper lid, inner corner
    eye_r = pick(verts, up, [0, 1 / 3, 2 / 3, 1]) + pick(verts, lo, [2 / 3, 1 / 3])
    up, lo = lids("FACEMESH_LEFT_EYE", 362, 263)          # dlib 42-47: inner corner, upper lid, outer corner
    eye_l = pick(verts, up, [0, 1 / 3, 2 / 3, 1]) + pick(verts, lo, [2 / 3, 1 / 3])
    lips = e["FACEMESH_LIPS"]
    outer_edges = [ed for ed in lips if not set(ed) & {78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80,
                                                       81, 82, 13, 312, 311, 310, 415}]
    inner_edges = [ed for ed in lips if ed not in outer_edges]
    up, lo = (sorted([p for p in _two_paths(outer_edges, 61, 291)], key=lambda pth: -np.mean(verts[pth, 1])))
    mouth = pick(verts, up, even(7)) + pick(verts, lo[::-1], [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])
    up, lo = (sorted([p for p in _two_paths(inner_edges, 78, 308)], key=lambda pth: -np.mean(verts[pth, 1])))
    inner = pick(verts, up, [0, 1 / 4, 2 / 4, 3 / 4, 1]) + pick(verts, lo[::-1], [1 / 4, 2 / 4, 3 / 4])
    out = jaw + brow_r + brow_l + bridge + nostrils + eye_r + eye_l + mouth + inner
    assert len(out) == 68, len(out)
    return out


def _two_paths(edges: list[list[int]], a: int, b: int) -> list[list[int]]:
    nbr: dict[int, list[int]] = {}
    for x, y in edges:
        nbr.setdefault(x, []).append(y)
        nbr.setdefault(y, []).append(x)
    paths = []
    for first in nbr[a]:
        path, prev, cur = [a], a, first
        while cur != b:
            path.append(cur)
            prev, cur = cur, [n for n in nbr[cur] if n != prev][0]
        paths.append(path + [b])
    return paths


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = verts[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # area-weighted
    n = np.zeros_like(verts)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    n /= np.linalg.norm(n, axis=1, keepdims=True).clip(1e-12)
    if n[4, 2] < 0:  # outward: the nose tip faces the viewer (+z)
        n = -n
    return n


def picture(verts: np.ndarray, idx: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(12, 6.4))
    for a, (i, j, title) in zip(ax, ((0, 1, "front (x, y)"), (2, 1, "side (z, y)"))):
        a.scatter(verts[:, i], verts[:, j], s=3, c="0.75")
        p = verts[idx]
        a.plot(p[:, i], p[:, j], ".", c="tab:red", ms=6)
        for k in range(68):
            a.annotate(str(k), (p[k, i], p[k, j]), fontsize=6.5, color="navy", xytext=(2, 2),
                       textcoords="offset points")
        for seg in (range(0, 17), range(17, 22), range(22, 27), range(27, 31), range(31, 36),
                    list(range(36, 42)) + [36], list(range(42, 48)) + [42], list(range(48, 60)) + [48],
                    list(range(60, 68)) + [60]):
            s = list(seg)
            a.plot(p[s, i], p[s, j], "-", c="tab:red", lw=0.8)
        a.set_aspect("equal")
        a.set_title(f"MediaPipe canonical face: the 68 dlib points, {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="../shared/data/meshes/mediapipe")
    ap.add_argument("--png", type=Path, default=None)
    args = ap.parse_args()
    verts, faces = read_obj(args.folder / "canonical_face_model.obj")
    groups = json.loads((args.folder / "face_mesh_landmark_groups.json").read_text())["groups"]
    idx = table(verts, groups)
    if len(set(idx)) != 68:
        print("warning: repeated vertices in the table", file=sys.stderr)
    normals = vertex_normals(verts, faces)
    data = {
        "source": "MediaPipe canonical_face_model.obj (google-ai-edge/mediapipe, Apache-2.0; vertex i = face-mesh "
                  "landmark i, units cm). Table: dlib/iBUG 68 landmarks -> canonical vertices, derived by "
                  "scripts/make_face68_table.py from MediaPipe's landmark groups.",
        "license": "Apache-2.0 (coordinates and normals derived from the MediaPipe canonical face model)",
        "frame": "x to the viewer's right, y up, z towards the viewer; a frontal face looks along +z",
        "mediapipe_index": idx,
        "points_cm": np.round(verts[idx], 6).tolist(),
        "normals": np.round(normals[idx], 6).tolist(),
    }
    ASSET.write_text(json.dumps(data, indent=0))
    print(f"wrote {ASSET}: {idx}")
    if args.png:
        picture(verts, idx, args.png)
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
