"""What a photo batch job does, and the keys that make it resumable.

A :class:`PhotoJob` holds the settings every photo shares (model, inversion, default edits, paste mode, output
format …); a :class:`PhotoTask` is one photo: its input, its output name below the job's folder and its own edits
(a manifest row may give per-photo amounts, attributes to keep, a style). A task is finished for good when a
previous run wrote a result for the same input with the same content (sha256) and the same :func:`settings_key`
— a key over every setting that changes the output, the task's own edits and output name included, so a re-run
with another ``--edit`` redoes everything and a re-run with the same settings skips what is done.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from faceedit.errors import FaceEditError

#: Output image formats (``keep``: the input's own format when it is one of these, else PNG).
FORMATS = ("keep", "jpg", "png", "webp")
#: How an edit goes back into the photo (``crop``: write the aligned face only).
PASTE_CHOICES = ("change", "replace", "crop")
#: Suffix of each output format.
SUFFIX = {"jpg": ".jpg", "png": ".png", "webp": ".webp"}
_KEEP_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: Bumped when the pipeline's output for the same settings changes (old results are then redone).
PIPELINE_VERSION = 1


@dataclass(frozen=True)
class PhotoJob:
    """Settings shared by every photo of a job.

    ``model``: generator spec (``faceedit.load``); ``art_model``: a second generator sharing the first one's latent
    space (e.g. an art-adapted copy) that draws the edited face instead (pasted with ``replace``); ``method`` /
    ``steps`` / ``perceptual``: the inversion (:func:`faceedit.invert.invert_images`); ``aligned``: the photos are
    FFHQ-aligned squares already; ``edits``: attribute → amount (σ units) for every photo, which a task's own edits
    extend or override; ``keep``, ``layers``: conditional editing and the w+ layers edited; ``directions``: their
    folder (default: the model's); ``style``: a shipped style network applied to the result; ``paste``: change |
    replace | crop; ``format`` / ``quality``: output images; ``save_latents``: also write each photo's w+ (and its
    tuned generator) as ``.npz`` beside the image; ``threads``: torch threads per worker; ``device``: auto | cpu |
    cuda; ``max_yaw`` / ``max_pitch``: skip photos whose face's head pose is turned further (degrees)."""

    model: str = "default"
    art_model: str | None = None
    method: str = "pivotal"
    steps: int | None = None
    perceptual: str = "perceptual"
    aligned: bool = False
    detector: str = "auto"
    edits: tuple[tuple[str, float], ...] = ()
    keep: tuple[str, ...] = ()
    layers: str | None = None
    directions: str | None = None
    force_directions: bool = False
    style: str | None = None
    paste: str = "change"
    format: str = "keep"
    quality: int = 95
    save_latents: bool = False
    threads: int = 1
    device: str = "auto"
    max_yaw: float | None = None
    max_pitch: float | None = None

    def __post_init__(self) -> None:
        from faceedit.invert import METHODS

        if self.pose_limits.active and self.aligned:
            raise FaceEditError("--max-yaw / --max-pitch need the face's landmarks: leave out --aligned")

        if self.method not in METHODS:
            raise FaceEditError(f"--method must be one of {', '.join(METHODS)}, got {self.method[:40]!r}")
        if self.paste not in PASTE_CHOICES:
            raise FaceEditError(f"--paste must be {', '.join(PASTE_CHOICES)}, got {self.paste[:40]!r}")
        if self.format not in FORMATS:
            raise FaceEditError(f"--format must be {', '.join(FORMATS)}, got {self.format[:40]!r}")
        if self.detector not in ("auto", "hog", "cnn"):
            raise FaceEditError(f"--detector must be auto, hog or cnn, got {self.detector[:40]!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise FaceEditError(f"--device must be auto, cpu or cuda, got {self.device[:40]!r}")
        if not 1 <= int(self.quality) <= 100:
            raise FaceEditError("--quality must be from 1 to 100")
        if self.steps is not None and not 0 <= int(self.steps) <= 100_000:
            raise FaceEditError("--steps must be from 0 to 100,000")

    @property
    def edit_amounts(self) -> dict[str, float]:
        return dict(self.edits)

    @property
    def pose_limits(self):
        """``max_yaw`` / ``max_pitch`` checked (finite, 0–90°) as a
        :class:`~faceedit.geometry.pose_limits.PoseLimits`: photos whose face is turned further are skipped."""
        from faceedit.geometry.pose_limits import PoseLimits  # not at import: faceedit.geometry loads torch

        return PoseLimits.from_options(self.max_yaw, self.max_pitch)

    def output_settings(self) -> dict[str, Any]:
        """The settings that change an output (not threads or device), with the identity of local model files
        (size and modification time) so that a retrained checkpoint under the same name redoes the job."""
        d = asdict(self)
        for k in ("threads", "device"):
            d.pop(k)
        for k in ("max_yaw", "max_pitch"):  # no limit: the keys of runs made before these settings existed
            if d[k] is None:
                d.pop(k)
        d["model_file"] = _file_identity(self.model)
        d["art_model_file"] = _file_identity(self.art_model)
        d["directions_files"] = _folder_identity(self.directions)
        d["pipeline"] = PIPELINE_VERSION
        return d


@dataclass
class PhotoTask:
    """One photo. ``input``: a local path or a URI; ``output``: the image's name below the output folder (forward
    slashes); ``edits`` / ``keep`` / ``style``: this photo's own (None: the job's); ``line``: where it came from
    (for messages); ``key``: :func:`settings_key`, set by the runner."""

    input: str
    output: str
    edits: dict[str, float] = field(default_factory=dict)
    keep: tuple[str, ...] | None = None
    style: str | None = None
    line: str = ""
    key: str = ""

    def amounts(self, job: PhotoJob) -> dict[str, float]:
        """The job's edits, extended and overridden by this photo's own."""
        return {**job.edit_amounts, **self.edits}

    def keep_list(self, job: PhotoJob) -> tuple[str, ...]:
        return tuple(job.keep if self.keep is None else self.keep)

    def style_name(self, job: PhotoJob) -> str | None:
        return job.style if self.style is None else (self.style or None)

    @property
    def source(self) -> str:
        """The input as the results manifest matches it across runs: an absolute local path, or the URI."""
        return source_of(self.input)

    def latents_name(self) -> str:
        return str(PurePosixPath(self.output).with_suffix(".npz"))


def source_of(src: str) -> str:
    """``src`` as an absolute local path (a run from another folder still finds its earlier results), or the
    URI itself."""
    from faceedit.batch.storage import local_path

    path = local_path(src)
    return os.path.abspath(path) if path is not None else str(src)


def _file_identity(spec: str | None) -> list[int] | None:
    if not spec:
        return None
    p = Path(spec)
    try:
        st = p.stat()
    except OSError:
        return None
    return [int(st.st_size), int(st.st_mtime_ns)] if p.is_file() else None


def _folder_identity(folder: str | None) -> list | None:
    if not folder:
        return None
    p = Path(folder)
    if not p.is_dir():
        return None
    return sorted([f.name, *(_file_identity(str(f)) or [])] for f in p.glob("*.npy"))


def settings_key(job: PhotoJob, task: PhotoTask) -> str:
    """sha256 (hex, 32 characters) of everything that decides ``task``'s output besides the photo's content."""
    what = {"job": job.output_settings(), "edits": sorted(task.amounts(job).items()),
            "keep": sorted(task.keep_list(job)), "style": task.style_name(job), "output": task.output}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:32]


def output_name(rel_input: str, job: PhotoJob) -> str:
    """The output image's name for an input's relative path: same folders and stem; the job's format (``keep``:
    the input's own suffix when it is .jpg/.jpeg/.png/.webp, else .png)."""
    p = PurePosixPath(str(rel_input).replace("\\", "/"))
    if job.format != "keep":
        return str(p.with_suffix(SUFFIX[job.format]))
    suffix = p.suffix.lower()
    return str(p.with_suffix(suffix if suffix in _KEEP_SUFFIXES else ".png"))


def image_format(output: str) -> str:
    """PIL's format name for an output name."""
    suffix = PurePosixPath(output).suffix.lower()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}.get(suffix)
    if fmt is None:
        raise FaceEditError(f"unsupported output type {suffix!r} for {output} (use .png, .jpg or .webp)")
    return fmt


def dedupe_outputs(tasks: list[PhotoTask]) -> list[PhotoTask]:
    """Give tasks whose outputs collide (``a.jpg`` and ``a.png`` both → ``a.jpg``; the same name in two manifest
    rows) distinct names: the first keeps its name, each later one gets ``stem~<8 hex of its input>``."""
    seen: set[str] = set()
    out = []
    for t in tasks:
        name = t.output
        if name.lower() in seen:
            p = PurePosixPath(name)
            tag = hashlib.sha256(t.input.encode()).hexdigest()[:8]
            name = str(p.with_name(f"{p.stem}~{tag}{p.suffix}"))
            t = replace(t, output=name)
        seen.add(name.lower())
        out.append(t)
    return out
