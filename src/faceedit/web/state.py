"""What every route shares: the model, its directions, the photo inverter, face sessions, jobs and work queues.

Faces are :class:`~faceedit.face.Face` objects kept in :class:`~faceedit.web.sessions.FaceSession`; every image,
edit and animation of a session is drawn by :meth:`Face.render` (its own generator, noise maps and photo).
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from faceedit.adapt.faces import drawn_by
from faceedit.adapt.source import adapted_card
from faceedit.align.isolated import IsolatedDetector
from faceedit.edit.directions import DirectionSet
from faceedit.edit.layers import parse_layers
from faceedit.errors import FaceEditError
from faceedit.face import Face
from faceedit.media import save_animation
from faceedit.io.registry import shipped_art_names
from faceedit.model import Model, load
from faceedit.stylize import list_styles, load_style, stylize_fast
from faceedit.web.schemas import MAX_AMOUNT
from faceedit.web.sessions import FaceSession, SessionStore, new_id
from faceedit.web.work import Busy, WorkQueue

FORMATS = {"gif": "image/gif", "mp4": "video/mp4"}
#: ``inverter(path, model, progress=…, [aligned=True | faces=…], **invert_options) -> Face``.
Inverter = Callable[..., Face]


def shipped_styles() -> list[dict]:
    """The shipped style networks for the page's style picker: name, title and artist of each."""
    return [{"name": s["name"], "title": s["title"], "artist": s["artist"]} for s in list_styles()]


#: Style names that redraw the face with a shipped adapted (art) generator instead of a style network.
ART_PREFIX = "art:"


def stylize_shipped(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` (uint8 H×W×3) through the shipped style network ``name`` (only shipped names, never a path)."""
    if name not in {s["name"] for s in list_styles()}:
        raise FaceEditError(f"unknown style {name!r}: see GET /api/info → styles")
    return stylize_fast(image, load_style(name))


class NotFound(Exception):
    """An unknown or expired session or job id."""


class Stale(Exception):
    """A newer request for the same session arrived before this one was rendered."""


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _layers_or_all(layers: str | None) -> str | None:
    return None if layers in (None, "", "all") else layers


@dataclass
class Job:
    """A photo upload being aligned and inverted in the background (clients poll it)."""

    id: str
    state: str = "queued"  # queued, running, done, error
    progress: float = 0.0
    message: str = "waiting for a free worker"
    session: str | None = None
    error: str | None = None
    status_code: int | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    owner: str = ""

    def info(self) -> dict:
        return {"id": self.id, "state": self.state, "progress": round(self.progress, 4), "message": self.message,
                "session": self.session, "error": self.error,
                "seconds": round((self.finished or time.monotonic()) - self.started, 2)}


class WebState:
    """Everything the routes share. ``inverter`` turns an uploaded photo into a :class:`~faceedit.face.Face` (None:
    uploads are off, ``inverter_note`` says why). ``detector``: an :class:`~faceedit.align.isolated.IsolatedDetector`
    that finds the faces of uploads in a worker process (passed to the inverter as ``faces=``), or None."""

    def __init__(self, model: Model, directions: DirectionSet | None, directions_note: str | None,
                 inverter: Inverter | None, inverter_note: str | None, invert_options: dict | None,
                 sessions: SessionStore, render_queue: WorkQueue, invert_queue: WorkQueue, max_upload_bytes: int,
                 max_pixels: int, max_jobs: int = 64, detector: IsolatedDetector | None = None,
                 max_client_jobs: int = 8, pose_queue: WorkQueue | None = None):
        self.model = model
        self.directions = directions
        self.directions_note = directions_note
        self.inverter = inverter
        self.inverter_note = inverter_note
        self.invert_options = dict(invert_options or {})
        self.sessions = sessions
        self.render = render_queue
        self.invert = invert_queue
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_pixels = int(max_pixels)
        self.jobs: dict[str, Job] = {}
        self.max_jobs = max_jobs
        self.max_client_jobs = int(max_client_jobs)
        self.detector = detector
        self.lock = threading.Lock()
        self.tmp = Path(tempfile.mkdtemp(prefix="faceedit-web-"))
        self.have_mp4 = importlib.util.find_spec("imageio_ffmpeg") is not None  # an optional extra
        self.thumbnails: dict[tuple, bytes] = {}  # example thumbnails (a fixed, small set of keys)
        self._art: dict[str, Model] | None = None
        # head poses (faceedit.web.pose): detection + pose on their own queue, so renders never wait for them
        self.pose = pose_queue or WorkQueue("pose", 1, 4, retry_after=1)
        self.example_poses: dict[int, dict | None] | None = None  # example seed -> pose, once per model
        self.example_poses_lock = threading.Lock()
        self._pose_detector: IsolatedDetector | None = None

    # ---- styles: shipped style networks, and the shipped art generators adapted from the served model
    def art_generators(self) -> dict[str, Model]:
        """The shipped adapted generators whose source is the served model (same weights by sha256), by name."""
        if self._art is None:
            found = {}
            for name in shipped_art_names():
                try:
                    art = load(name, device=self.model.device)
                except FaceEditError:
                    continue
                source = (adapted_card(art) or {}).get("source") or {}
                if self.model.sha256 and source.get("sha256") == self.model.sha256:
                    found[name] = art
            self._art = found
        return self._art

    def styles(self) -> list[dict]:
        """The page's style choices: the shipped style networks, then the art generators (``art:NAME``)."""
        art = [{"name": ART_PREFIX + name, "title": name.replace("_", " ").title() + " (art generator)",
                "artist": "redrawn by a generator adapted to the painting"} for name in self.art_generators()]
        return shipped_styles() + art

    # ---- head pose
    def pose_detector(self) -> IsolatedDetector:
        """The detector for head poses of renderings: the uploads' worker process when there is one, else a worker
        of its own (started on first use), so native detection never runs in the server's process."""
        if self.detector is not None:
            return self.detector
        with self.lock:
            if self._pose_detector is None:
                self._pose_detector = IsolatedDetector()
            return self._pose_detector

    # ---- sessions
    def session(self, sid: str) -> FaceSession:
        s = self.sessions.get(sid)
        if s is None:
            raise NotFound("no such session (it expired or never existed): pick a seed or upload a photo again")
        return s

    # ---- latents and images
    def edited_ws(self, s: FaceSession, amounts: dict[str, float], keep: list[str], layers: str | None):
        """The session's w+ [1, num_ws, w_dim] with the attribute ``amounts`` applied."""
        amounts = {k: float(v) for k, v in amounts.items() if float(v) != 0.0}
        for k, v in amounts.items():
            if not abs(v) <= MAX_AMOUNT:
                raise FaceEditError(f"edit amount for {k!r} must be between -{MAX_AMOUNT:g} and {MAX_AMOUNT:g}")
        if not amounts:
            if _layers_or_all(layers) is not None:
                parse_layers(layers, self.model.num_ws)  # still report a bad layer range
            return s.face.ws
        if self.directions is None:
            raise FaceEditError(f"attribute edits are unavailable: {self.directions_note}")
        return self.directions.apply(s.face.ws, amounts, keep=list(keep or ()), layers=_layers_or_all(layers))

    def render_png(self, s: FaceSession, amounts, keep, layers, view: str, seq: int | None,
                   style: str | None = None) -> bytes:
        """The session's face with ``amounts`` applied, aligned or pasted into its photo (``view``), painted by the
        shipped style network ``style`` when given, as PNG."""
        if seq is not None and seq < s.latest_seq:
            raise Stale()
        plain = not any(float(v) for v in amounts.values())
        key = ("plain", view, style)
        if plain and key in s.cache:
            return s.cache[key]
        if view == "photo" and s.face.photo is None:
            raise FaceEditError("this face did not come from a photo: there is no photo to paste it into")
        face = s.face
        if style and style.startswith(ART_PREFIX):  # the same code drawn by an art generator (shared latents)
            art = self.art_generators().get(style[len(ART_PREFIX):])
            if art is None:
                raise FaceEditError(f"unknown style {style!r}: see GET /api/info → styles")
            face, style = drawn_by(face, art), None
        img = face.render(self.edited_ws(s, amounts, keep, layers), paste="change" if view == "photo" else None)[0]
        if style:
            img = stylize_shipped(img, style)
        data = png_bytes(img)
        if plain:
            s.cache[key] = data
        return data

    def animation(self, frames: list[np.ndarray] | torch.Tensor, fmt: str, fps: float, face: Face | None = None,
                  in_photo: bool = False) -> bytes:
        """An animation file (GIF or MP4 bytes) of ready uint8 ``frames``, or of w+ ``frames`` [F, num_ws, w_dim]
        drawn by ``face`` (pasted into its photo when ``in_photo``)."""
        if fmt not in FORMATS:
            raise FaceEditError(f"animation format must be gif or mp4, got {fmt!r}")
        if fmt == "mp4" and not self.have_mp4:
            raise FaceEditError("MP4 needs imageio-ffmpeg (pip install 'faceedit[edit]'); use gif")
        if isinstance(frames, torch.Tensor):
            if in_photo and face.photo is None:
                raise FaceEditError("this face did not come from a photo: there is no photo to paste it into")
            frames = list(face.render(frames, paste="change" if in_photo else None))
        path = self.tmp / f"{new_id()}.{fmt}"
        try:
            save_animation(path, frames, fps=fps)
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)

    # ---- jobs
    def new_job(self, owner: str = "") -> Job:
        """A job for client ``owner``. Finished jobs are forgotten to make room: first the client's own beyond
        ``max_client_jobs``, then, when ``max_jobs`` are kept in all, those of the client keeping the most."""
        job = Job(id=new_id(), owner=owner)
        with self.lock:
            mine = [j for j in self.jobs.values() if j.owner == owner]
            if len(mine) >= self.max_client_jobs:
                done = [j for j in mine if j.finished is not None]
                if not done:
                    raise Busy(f"{len(mine)} photo jobs of yours are running", 5)
                self.jobs.pop(done[0].id, None)
            while len(self.jobs) >= self.max_jobs:
                counts: dict[str, int] = {}
                for j in self.jobs.values():
                    if j.finished is not None:
                        counts[j.owner] = counts.get(j.owner, 0) + 1
                if not counts:
                    break
                top = max(counts, key=lambda o: (counts[o], o == owner))
                self.jobs.pop(next(j.id for j in self.jobs.values() if j.owner == top and j.finished is not None))
            self.jobs[job.id] = job
        return job

    def run_inversion(self, job: Job, path: Path, aligned: bool = False) -> None:
        """Align and invert the uploaded photo at ``path`` into a new photo session (the job names it)."""
        def report(done, total, *_rest) -> None:
            if isinstance(done, (int, float)) and isinstance(total, (int, float)) and total:
                job.progress = max(job.progress, min(0.99, float(done) / float(total)))
                job.message = f"inverting: step {int(done)} of {int(total)}"

        job.state, job.message = "running", "finding the face and aligning it"
        try:
            opts = dict(self.invert_options, progress=report)
            if aligned:
                opts["aligned"] = True
            elif self.detector is not None:  # native detection in a worker process: a crash fails this job only
                opts["faces"] = self.detector.detect(path)
                job.message = "inverting"
            face = self.inverter(path, self.model, **opts)
            s = self.sessions.add(FaceSession(id=new_id(), face=face, source="photo",
                                              note="; ".join(str(n) for n in face.notes) or None), job.owner)
            job.session, job.state, job.progress, job.message = s.id, "done", 1.0, "done"
        except FaceEditError as exc:
            msg = str(exc).replace(str(path), "the uploaded image")
            job.state, job.error, job.message, job.status_code = "error", msg, msg, 422
        except Exception as exc:  # noqa: BLE001 - report, never crash the worker
            msg = f"inversion failed ({type(exc).__name__}: {' '.join(str(exc).split())})"
            job.state, job.error, job.message, job.status_code = "error", msg, msg, 500
        finally:
            job.finished = time.monotonic()
            path.unlink(missing_ok=True)

    def close(self) -> None:
        self.render.shutdown()
        self.invert.shutdown()
        self.pose.shutdown()
        for detector in (self.detector, self._pose_detector):
            if detector is not None:
                detector.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
