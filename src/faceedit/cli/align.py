"""``faceedit align IN... -o DIR``: FFHQ-align the faces of photos and folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from faceedit.cli.batch import FileBatch
from faceedit.errors import FaceEditError
from faceedit.limits import check_float, check_int
from faceedit.cli.options import OUT, QUIET

if TYPE_CHECKING:  # importing faceedit.geometry loads torch (and tqdm) before the CLI has set up its output
    from faceedit.geometry.pose_limits import PoseLimits


def _expand(inputs: list[Path]) -> tuple[list[tuple[Path, Path]], int]:
    """(file, name relative to its input) for every file named or found (recursively) in a folder."""
    from faceedit.align.image import is_image_name

    files: list[tuple[Path, Path]] = []
    ignored = 0
    for p in inputs:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not f.name.startswith("."):
                    if is_image_name(f):
                        files.append((f, f.relative_to(p)))
                    else:
                        ignored += 1
        else:
            files.append((p, Path(p.name)))
    return files, ignored


def _poses(faces: list, method: str) -> list:
    """The head pose of each detected face (:class:`~faceedit.geometry.headpose.HeadPose`), in order."""
    from faceedit.geometry.headpose import estimate_pose

    return estimate_pose([f.landmarks for f in faces], method=method) if faces else []


def _print_poses(path: Path, numbered: list[tuple[int, object]], method: str, as_json: bool) -> None:
    """Print ``(face number, HeadPose)`` pairs: one line, or one JSON object, per face."""
    from tqdm import tqdm

    for k, p in numbered:
        if as_json:
            tqdm.write(json.dumps({"file": str(path), "face": k, **p.to_dict(), "method": method}))
        else:
            tqdm.write(f"{path} face {k}: yaw {p.yaw:+.1f} pitch {p.pitch:+.1f} roll {p.roll:+.1f} "
                       f"({p.used} landmarks)")


def _within_limits(path: Path, faces: list, numbers: list[int], limits: "PoseLimits",
                   method: str) -> tuple[list[int], dict[int, object], list[str]]:
    """Of the faces ``numbers`` (indices into ``faces``), those whose pose is within ``limits``, with the pose of
    every face numbered (by index) and the misses as ``face K: reason``; prints ``skip: FILE face K: reason`` for
    each face left out. Without active limits every face is kept and no pose is computed."""
    from tqdm import tqdm

    if not limits.active:
        return list(numbers), {}, []
    poses = dict(zip(numbers, _poses([faces[k] for k in numbers], method)))
    kept, misses = [], []
    for k in numbers:
        why = limits.miss(poses[k])
        if why is None:
            kept.append(k)
        else:
            misses.append(f"face {k}: {why}")
            tqdm.write(f"skip: {path} face {k}: {why}", file=sys.stderr)
    return kept, poses, misses


def _off_pose_reason(misses: list[str]) -> str:
    """The file-level reason when every face of a file misses the pose limits."""
    shown = "; ".join(misses[:3]) + (f"; {len(misses) - 3} more" if len(misses) > 3 else "")
    return f"no face within the pose limits ({shown})"


def _report_poses(files: list[tuple[Path, Path]], detector: str, method: str, as_json: bool, all_faces: bool,
                  face_index: int | None, quiet: bool, limits: "PoseLimits") -> None:
    """``faceedit align --pose`` without -o: detect, estimate and print poses (of the faces within ``limits``);
    skip bad files."""
    from tqdm import tqdm

    from faceedit.align import detect_faces, load_image

    done = off_pose = 0
    for f, _ in tqdm(files, desc="pose", unit="img", disable=quiet, file=sys.stderr):
        try:
            faces = detect_faces(load_image(f), detector=detector)
        except FaceEditError as exc:
            tqdm.write(f"skip: {exc}", file=sys.stderr)
            continue
        if not faces:
            tqdm.write(f"skip: no face found in {f}", file=sys.stderr)
            continue
        k = face_index or 0
        if not all_faces and k >= len(faces):
            tqdm.write(f"skip: {f}: face {k} asked, {len(faces)} found", file=sys.stderr)
            continue
        numbers = list(range(len(faces))) if all_faces else [k]
        kept, poses, misses = _within_limits(f, faces, numbers, limits, method)
        off_pose += len(misses)
        if not kept:
            continue
        if not poses:
            poses = dict(zip(kept, _poses([faces[i] for i in kept], method)))
        _print_poses(f, [(i, poses[i]) for i in kept], method, as_json)
        done += 1
    if done == 0:
        print("error: " + ("no face within the pose limits in any input" if off_pose else
                           "no face found in any input"), file=sys.stderr)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    @app.command("align")
    def align(
        inputs: List[Path] = typer.Argument(..., help="Photos and/or folders of photos (searched recursively)."),
        out: Optional[Path] = typer.Option(None, *OUT, help="Output folder for the aligned PNGs (needed "
                                           "unless --pose)."),
        size: int = typer.Option(256, "--size", help="Output side in pixels (64–1024)."),
        all_faces: bool = typer.Option(False, "--all-faces", help="Write every face found (NAME_face0.png, ...); "
                                                                  "default: the largest face only."),
        face_index: Optional[int] = typer.Option(None, "--face-index",
                                                 help="Which face, counting from the largest (0)."),
        detector: str = typer.Option("auto", "--detector", help="auto (HOG, then CNN for hard photos), hog, cnn."),
        min_eye_distance: float = typer.Option(8.0, "--min-eye-distance",
                                               help="Refuse faces whose eyes are closer than this (pixels)."),
        save_transform: bool = typer.Option(False, "--save-transform",
                                            help="Also write NAME.json: quad, 3x3 matrix, landmarks, padding."),
        quiet: bool = typer.Option(False, *QUIET, help="No progress bar."),
        pose: bool = typer.Option(False, "--pose", help="Report each face's 3D head pose (yaw, pitch, roll in "
                                  "degrees) from its landmarks registered to a canonical 3D face."),
        pose_method: str = typer.Option("houv", "--pose-method", help="houv (HOUV registration) or kabsch "
                                        "(closed form)."),
        as_json: bool = typer.Option(False, "--json", help="With --pose: one JSON object per face per line."),
        max_yaw: Optional[float] = typer.Option(None, "--max-yaw", help="Only faces turned at most this many "
                                                "degrees left or right (0-90); the others are skipped, each on "
                                                "one line."),
        max_pitch: Optional[float] = typer.Option(None, "--max-pitch", help="Only faces tilted at most this many "
                                                  "degrees up or down (0-90)."),
    ) -> None:
        """Detect faces (dlib, 68 landmarks) and write FFHQ-aligned crops; one bad file never stops a batch.
        With --pose, report yaw/pitch/roll per face (and align too when -o is given); --max-yaw / --max-pitch
        keep only the near-frontal faces."""
        from PIL import Image
        from tqdm import tqdm

        from faceedit import atomic
        from faceedit.align import align_face, detect_faces, have_dlib, load_image
        from faceedit.geometry.pose_limits import PoseLimits

        check_int(size, "--size", 64, 1024)
        check_float(min_eye_distance, "--min-eye-distance", 0.0, 10_000.0)
        if detector not in ("auto", "hog", "cnn"):
            raise FaceEditError(f"--detector must be auto, hog or cnn, got {detector!r}")
        if all_faces and face_index is not None:
            raise FaceEditError("--all-faces and --face-index exclude each other")
        if out is None and not pose:
            raise FaceEditError("give an output folder with -o/--out (or --pose for head poses only)")
        if as_json and not pose:
            raise FaceEditError("--json goes with --pose")
        if pose_method not in ("houv", "kabsch"):
            raise FaceEditError(f"--pose-method must be houv or kabsch, got {pose_method!r}")
        limits = PoseLimits.from_options(max_yaw, max_pitch)
        if not have_dlib():
            raise FaceEditError("face alignment needs dlib: pip install 'faceedit[align]'")
        files, ignored = _expand(inputs)
        if not files:
            raise FaceEditError("no image files found in the given inputs")
        if out is None:
            _report_poses(files, detector, pose_method, as_json, all_faces, face_index, quiet, limits)
            return
        out.mkdir(parents=True, exist_ok=True)
        counts = {"aligned": 0, "faces": 0, "no_face": 0, "unreadable": 0, "too_small": 0, "other": 0,
                  "off_pose": 0}
        used: set[Path] = set()
        batch = FileBatch(len(files), write=lambda line: tqdm.write(line, file=sys.stderr))

        def one(f: Path, rel: Path) -> None:
            try:
                img = load_image(f)
            except FaceEditError:
                counts["unreadable"] += 1
                raise
            poses: dict[int, object] = {}
            try:
                faces = detected = detect_faces(img, detector=detector, name=str(f))
                numbers = list(range(len(faces))) if all_faces else [face_index or 0]
                if limits.active and faces and all(-len(faces) <= k < len(faces) for k in numbers):  # else align_face
                    kept, poses, misses = _within_limits(f, faces, numbers, limits, pose_method)
                    counts["off_pose"] += len(misses)
                    if not kept:
                        batch.skip(f, _off_pose_reason(misses), echo=False)
                        return
                    if all_faces:
                        faces = [faces[k] for k in kept]
                result = align_face(img, size, face_index, faces=faces, name=str(f),
                                    min_eye_distance=min_eye_distance, all_faces=all_faces)
            except Exception as exc:
                msg = str(exc)
                counts["no_face" if msg.startswith("no face") else "too_small" if "too small" in msg else "other"] += 1
                raise
            results = result if isinstance(result, list) else [result]
            number = {id(face): k for k, face in enumerate(detected)}
            picked = [number.get(id(af.face), face_index or 0) for af in results]  # each face's detection index
            if pose:
                if not all(k in poses for k in picked):
                    poses = dict(zip(picked, _poses([af.face for af in results], pose_method)))
                _print_poses(f, [(k, poses[k]) for k in picked], pose_method, as_json)
            base = rel.with_suffix("")
            for k, af in zip(picked, results):
                stem = f"{base}_face{k}" if all_faces else str(base)
                target = out / f"{stem}.png"
                n = 1
                while target in used:  # two inputs with the same name
                    target = out / f"{stem}_{n}.png"
                    n += 1
                used.add(target)
                with atomic.atomic_path(target) as tmp:
                    Image.fromarray(af.image).save(tmp, format="PNG")
                if save_transform:
                    meta = {"source": str(f), "face": k,
                            "faces_found": len(faces), "transform": af.transform.to_dict(),
                            "landmarks_aligned": af.landmarks.round(3).tolist(),
                            "landmarks_photo": af.face.landmarks.round(3).tolist(),
                            "padding": round(af.padding, 4), "detector": af.face.detector}
                    atomic.write_text(target.with_suffix(".json"), json.dumps(meta))
            counts["aligned"] += 1
            counts["faces"] += len(results)
            batch.ok()

        bar = tqdm(files, desc="align", unit="img", disable=quiet, file=sys.stderr)
        for f, rel in bar:
            batch.run(f, one, f, rel)
        bar.close()
        parts = [f"aligned {counts['aligned']} of {len(files)} image(s) ({counts['faces']} face(s)) into {out}",
                 f"no face {counts['no_face']}", f"unreadable {counts['unreadable']}"]
        if counts["too_small"]:
            parts.append(f"too small {counts['too_small']}")
        if limits.active:
            parts.append(f"off pose {counts['off_pose']} face(s)")
        if counts["other"]:
            parts.append(f"other problems {counts['other']}")
        if ignored:
            parts.append(f"{ignored} non-image file(s) in folders ignored")
        print("; ".join(parts))
        batch.finish("no face was aligned")
