"""Partial point-cloud registration: HOUV against Open3D's ICP (point-to-point, point-to-plane), FGR and
RANSAC+FPFH, on the same pairs, in one run.

Pairs: the ModelNet40 partial protocol (faceedit.geometry.partial) on every mesh of ../shared/data/meshes
(1,024 points sampled twice on the surface, unit sphere, random rotation up to 45° or 180° about a random axis,
translation ±0.5, each cloud cropped on its own to the 70 % nearest a random viewpoint, clean or with Gaussian
noise σ 0.01 clipped at 0.05). HOUV has no training, so every shape is unseen.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/registration.py --pairs-per-mesh 2 --json bench.json

Every method runs on one CPU thread. HOUV runs all pairs of a setting in one batch; its time per pair is the
batch's wall time divided by the number of pairs. Needs open3d (``pip install 'faceedit[bench3d]'``; on Debian
also ``apt-get install libusb-1.0-0``); without it only the HOUV rows are printed.

Columns: median and mean rotation error (degrees), the share of pairs within 5° (``<5°``), mean translation
error and RMSE (cloud units), recall (share of pairs with RMSE < 0.2), ``5°sym`` (share of pairs that place the
whole clean shape as closely as a 5° error would, so that a symmetric shape turned onto itself counts as right:
faceedit.geometry.metrics) and seconds per pair.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from faceedit.geometry.clouds import MESH_SUFFIXES  # noqa: E402
from faceedit.geometry.houv import THESIS, register_batch, settings, tuned  # noqa: E402
from faceedit.geometry.metrics import pair_errors, summarise  # noqa: E402
from faceedit.geometry.partial import make_pair  # noqa: E402

MESHES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "meshes"


def load_meshes(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    import trimesh

    out = []
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() in MESH_SUFFIXES:
            m = trimesh.load(str(f), force="mesh", process=False)
            out.append((f.name, np.asarray(m.vertices), np.asarray(m.faces)))
    return out


# ---- Open3D baselines -------------------------------------------------------------------------------------------

def _o3d_cloud(points: np.ndarray, normal_radius: float):
    import open3d as o3d

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pc.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=normal_radius, max_nn=30))
    # a rotation-invariant sign for the normals (FPFH and point-to-plane depend on it): away from the centroid
    pc.orient_normals_towards_camera_location(points.mean(0))
    pc.normals = o3d.utility.Vector3dVector(-np.asarray(pc.normals))
    return pc


def _fpfh(pc, radius: float):
    import open3d as o3d

    return o3d.pipelines.registration.compute_fpfh_feature(
        pc, o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=100))


def open3d_methods(args) -> dict:
    """name → fn(source, target) → 4×4 transform, for Open3D's four baselines (parameters in the README)."""
    import open3d as o3d

    reg = o3d.pipelines.registration
    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    o3d.utility.random.seed(args.seed)  # RANSAC's draws: the same figures on every run (they vary a lot by seed)
    nr, fr, dist = args.normal_radius, args.feature_radius, args.match_distance

    def icp(kind):
        est = reg.TransformationEstimationPointToPoint() if kind == "p2p" else reg.TransformationEstimationPointToPlane()

        def run(p, q):
            src, dst = _o3d_cloud(p, nr), _o3d_cloud(q, nr)
            return reg.registration_icp(src, dst, args.icp_distance, np.eye(4), est,
                                        reg.ICPConvergenceCriteria(max_iteration=100)).transformation
        return run

    def fgr(p, q):
        src, dst = _o3d_cloud(p, nr), _o3d_cloud(q, nr)
        opt = reg.FastGlobalRegistrationOption(maximum_correspondence_distance=dist)
        return reg.registration_fgr_based_on_feature_matching(src, dst, _fpfh(src, fr), _fpfh(dst, fr),
                                                              opt).transformation

    def ransac(p, q):
        src, dst = _o3d_cloud(p, nr), _o3d_cloud(q, nr)
        checkers = [reg.CorrespondenceCheckerBasedOnEdgeLength(0.9), reg.CorrespondenceCheckerBasedOnDistance(dist)]
        return reg.registration_ransac_based_on_feature_matching(
            src, dst, _fpfh(src, fr), _fpfh(dst, fr), True, dist, reg.TransformationEstimationPointToPoint(False),
            3, checkers, reg.RANSACConvergenceCriteria(args.ransac_iterations, 0.999)).transformation

    return {"ICP point-to-point (Open3D)": icp("p2p"), "ICP point-to-plane (Open3D)": icp("p2l"),
            "FGR + FPFH (Open3D)": fgr, "RANSAC + FPFH (Open3D)": ransac}


def run_pairwise(fn, pairs) -> tuple[list, list]:
    errors, seconds = [], []
    for p in pairs:
        t0 = time.perf_counter()
        m = np.asarray(fn(p.source, p.target))
        seconds.append(time.perf_counter() - t0)
        errors.append(pair_errors(p.source, m[:3, :3], m[:3, 3], p.rotation, p.translation, p.shape))
    return errors, seconds


def run_houv(config, pairs) -> tuple[list, list]:
    res = register_batch([p.source for p in pairs], [p.target for p in pairs], config)
    errors = [pair_errors(p.source, res.rotation[i], res.translation[i], p.rotation, p.translation, p.shape)
              for i, p in enumerate(pairs)]
    return errors, [res.seconds / len(pairs)] * len(pairs)


def report(setting: str, name: str, pairs: list, errors: list, seconds: list) -> dict:
    """Print one table row; return it with the per-pair errors (for --json)."""
    row = summarise(errors, seconds)
    print(f"{name:<32} {row['pairs']:>5} {row['rot_median_deg']:8.2f} {row['rot_mean_deg']:8.2f} "
          f"{row['within_5deg']:6.2f} "
          f"{row['trans_mean']:6.3f} {row['rmse_mean']:6.3f} {row['recall']:6.2f} "
          f"{row['within_up_to_symmetry']:6.2f} {row['seconds_per_pair']:7.3f}",
          flush=True)
    return {"setting": setting, "method": name, **row,
            "per_pair": [{"mesh": p.name, **e.to_dict()} for p, e in zip(pairs, errors)]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meshes", type=Path, default=MESHES)
    ap.add_argument("--pairs-per-mesh", type=int, default=2)
    ap.add_argument("--angles", default="45,180", help="max rotation angles (degrees), comma-separated")
    ap.add_argument("--noise", default="0,0.01", help="noise σ values, comma-separated")
    ap.add_argument("--thesis-pairs", type=int, default=3,
                    help="clean pairs per angle also run with the thesis's settings (slow: lr 1e-3, 500 iterations)")
    ap.add_argument("--icp-distance", type=float, default=0.2)
    ap.add_argument("--normal-radius", type=float, default=0.1)
    ap.add_argument("--feature-radius", type=float, default=0.25)
    ap.add_argument("--match-distance", type=float, default=0.075)
    ap.add_argument("--ransac-iterations", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baselines", action="store_true", help="HOUV rows only")
    ap.add_argument("--no-tuned", action="store_true", help="skip the tuned HOUV rows (e.g. thesis rows only)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    meshes = load_meshes(args.meshes)
    if not meshes:
        print(f"no meshes in {args.meshes}", file=sys.stderr)
        return 1
    baselines = {}
    if not args.no_baselines:
        try:
            baselines = open3d_methods(args)
        except ImportError as exc:
            print(f"note: open3d unavailable ({exc}); HOUV rows only", file=sys.stderr)
    results = []
    print(f"{len(meshes)} meshes x {args.pairs_per_mesh} pairs per setting; torch threads 1, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}", flush=True)
    for angle in (float(a) for a in args.angles.split(",")):
        for sigma in (float(s) for s in args.noise.split(",")):
            rng = np.random.default_rng([args.seed, int(angle), int(sigma * 1e4)])
            pairs = [make_pair(v, f, rng, max_angle_deg=angle, noise=sigma, name=name)
                     for name, v, f in meshes for _ in range(args.pairs_per_mesh)]
            setting = f"rot<={angle:.0f}deg, {'noise 0.01' if sigma else 'clean'}"
            methods = dict(baselines)
            if not args.no_tuned:
                methods["HOUV_ori (tuned)"] = lambda ps, a=angle: run_houv(replace(tuned(a), variant="ori"), ps)
                methods["HOUV_pri (tuned)"] = lambda ps, a=angle: run_houv(tuned(a), ps)
                methods["HOUV_pri (quick)"] = lambda ps, a=angle: run_houv(settings("quick", a), ps)
            thesis = pairs[:: max(1, len(pairs) // max(1, args.thesis_pairs))][:args.thesis_pairs]
            print(f"\n== {setting}: {len(pairs)} pairs ==", flush=True)
            print(f"{'method':<32} {'pairs':>5} {'rot med':>8} {'rot mean':>8} {'<5°':>6} {'trans':>6} {'RMSE':>6} "
                  f"{'recall':>6} {'5°sym':>6} {'s/pair':>7}")
            for name, fn in methods.items():
                errors, seconds = fn(pairs) if name.startswith("HOUV") else run_pairwise(fn, pairs)
                results.append(report(setting, name, pairs, errors, seconds))
            if args.thesis_pairs and not sigma:
                for variant in ("ori", "pri"):
                    errors, seconds = run_houv(replace(THESIS, variant=variant, max_angle_deg=angle), thesis)
                    results.append(report(setting, f"HOUV_{variant} (thesis settings)", thesis, errors, seconds))
    if args.json:
        from faceedit.atomic import write_json

        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
