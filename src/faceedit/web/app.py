"""The web app: a REST API (OpenAPI at ``/openapi.json``, a reference page at ``/docs``) and a single page at ``/``.

    from faceedit.web import create_app
    app = create_app()                  # the embedded default model, its shipped directions, photo inversion
    # uvicorn.run(app, host="127.0.0.1", port=7860)   -- or: faceedit serve

Faces live in server-side sessions (``POST /api/generate`` or ``POST /api/upload`` → a session id); edits are
rendered on demand from the cached latents. CPU work runs on a bounded queue: when it is full the API answers
503 with ``Retry-After``. Every error is JSON ``{"error": "<one line>"}``. Nothing from a request names a file:
uploads are checked (size, type by content, pixel count, a side of at least 32 px) and written under a private
temporary folder with a random name; session and job ids are random hex. Face detection of uploads runs in a
worker process (:class:`~faceedit.align.isolated.IsolatedDetector`): a native crash there fails one job, never the
server. :mod:`faceedit.web.security` checks every request's Host, Origin, optional token and body size first;
sessions and jobs are capped per client (see :mod:`faceedit.web.sessions`).
"""

import contextlib
import importlib
import importlib.util
import inspect
import io
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceedit.errors import FaceEditError
from faceedit.limits import MIN_DETECT_SIDE, check_detectable
from faceedit.web.schemas import MAX_AMOUNT, AnimateBody, EditBody, Generate, MixBody, MorphBody, SessionInfo
from faceedit.web.security import HostPolicy, RequestGuard
from faceedit.web.sessions import FaceSession, SessionStore, new_id, valid_id
from faceedit.web.work import Busy, WorkQueue

STATIC = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css", "docs.js": "text/javascript"}
PAGES = {"/": "index.html", "/docs": "docs.html"}

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 24_000_000
MAX_ANIMATION_FRAMES = 240
UPLOAD_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
FORMATS = {"gif": "image/gif", "mp4": "video/mp4"}


class NotFound(Exception):
    """An unknown or expired session or job id."""


class Stale(Exception):
    """A newer request for the same session arrived before this one was rendered."""


class RequestTooLarge(Exception):
    pass


class UnsupportedType(Exception):
    pass


def sniff_type(head: bytes) -> str | None:
    """The image type from a file's first bytes (never from its name or the client's Content-Type)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------- inversion hook
def default_inverter() -> tuple[Callable | None, str | None]:
    """``faceedit.invert.invert_photo`` when the inversion module is installed, else (None, reason)."""
    if importlib.util.find_spec("faceedit.invert") is None:
        return None, "photo upload needs the inversion module (faceedit.invert), which is not installed"
    try:
        mod = importlib.import_module("faceedit.invert")
    except Exception as exc:  # noqa: BLE001 - a half-installed module must not take the server down
        return None, f"photo upload is unavailable: the inversion module failed to import ({type(exc).__name__})"
    fn = getattr(mod, "invert_photo", None)
    if fn is None:
        return None, "photo upload is unavailable: this faceedit's inversion module has no invert_photo()"
    return fn, None


def shipped_styles() -> list[dict]:
    """The shipped style networks for the page's style picker: name, title and artist of each."""
    from faceedit.stylize import list_styles

    return [{"name": s["name"], "title": s["title"], "artist": s["artist"]} for s in list_styles()]


def stylize_shipped(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` (uint8 H×W×3) through the shipped style network ``name`` (only shipped names, never a path)."""
    from faceedit.stylize import list_styles, load_style, stylize_fast

    if name not in {s["name"] for s in list_styles()}:
        raise FaceEditError(f"unknown style {name!r}: see GET /api/info → styles")
    return stylize_fast(image, load_style(name))


def _accepts(fn: Callable, name: str) -> bool:
    """True when ``fn`` takes a keyword ``name`` (directly or through ``**kw``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _progress_callback(report: Callable[[float, str], None]) -> Callable:
    """A ``progress(step, steps, losses)`` callback (the inversion's convention) that updates a job."""

    def cb(*args, **_kw):
        done, total = (args + (None, None))[:2]
        if isinstance(done, (int, float)) and isinstance(total, (int, float)) and total:
            report(float(done) / float(total), f"inverting: step {int(done)} of {int(total)}")

    return cb


# --------------------------------------------------------------------------------------------------- state
@dataclass
class Job:
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
    """Everything the routes share: the model, directions, inverter, sessions, jobs and the work queues.
    ``detector``: an :class:`~faceedit.align.isolated.IsolatedDetector` that finds the faces of uploads in a worker
    process (passed to the inverter as ``faces=``), or None (the inverter detects by itself)."""

    def __init__(self, model, directions, directions_note, inverter, inverter_note, invert_options, sessions,
                 render_queue, invert_queue, max_upload_bytes, max_pixels, max_jobs: int = 64, detector=None,
                 max_client_jobs: int = 8):
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
        self.have_mp4 = importlib.util.find_spec("imageio_ffmpeg") is not None

    # ---- sessions
    def session(self, sid: str) -> FaceSession:
        s = self.sessions.get(sid)
        if s is None:
            raise NotFound("no such session (it expired or never existed): pick a seed or upload a photo again")
        return s

    # ---- latents and images
    def edited_ws(self, s: FaceSession, amounts: dict[str, float], keep: list[str], layers: str | None):
        amounts = {k: float(v) for k, v in amounts.items() if float(v) != 0.0}
        for k, v in amounts.items():
            if not abs(v) <= MAX_AMOUNT:
                raise FaceEditError(f"edit amount for {k!r} must be between -{MAX_AMOUNT:g} and {MAX_AMOUNT:g}")
        if not amounts:
            if layers not in (None, "", "all"):
                from faceedit.edit.layers import parse_layers

                parse_layers(layers, self.model.num_ws)  # still report a bad layer range
            return s.ws
        if self.directions is None:
            raise FaceEditError(f"attribute edits are unavailable: {self.directions_note}")
        return self.directions.apply(s.ws, amounts, keep=list(keep or ()),
                                     layers=None if layers in (None, "", "all") else layers)

    def model_of(self, s: FaceSession | None):
        """The generator that draws session ``s``: a photo's pivotally tuned one (built once per session), else the
        model."""
        model_for = getattr(s.inversion, "model_for", None) if s is not None else None
        if model_for is None:
            return self.model
        if "model" not in s.cache:
            s.cache["model"] = model_for(self.model)
        return s.cache["model"]

    def images(self, ws: torch.Tensor, s: FaceSession | None = None) -> np.ndarray:
        from faceedit.media import to_uint8

        with torch.no_grad():
            return to_uint8(self.model_of(s).synthesize(ws, batch_size=8))

    def in_photo(self, s: FaceSession, image: np.ndarray) -> np.ndarray:
        if s.inversion is None:
            raise FaceEditError("this face did not come from a photo: there is no photo to paste it into")
        out = s.inversion.paste(image[None])
        out = np.asarray(out)
        return out[0] if out.ndim == 4 else out

    def render_png(self, s: FaceSession, amounts, keep, layers, view: str, seq: int | None,
                   style: str | None = None) -> bytes:
        if seq is not None and seq < s.latest_seq:
            raise Stale()
        plain = not any(float(v) for v in amounts.values())
        key = ("plain", view, style)
        if plain and key in s.cache:
            return s.cache[key]
        img = self.images(self.edited_ws(s, amounts, keep, layers), s)[0]
        if view == "photo":
            img = self.in_photo(s, img)
        if style:
            img = stylize_shipped(img, style)
        data = png_bytes(img)
        if plain:
            s.cache[key] = data
        return data

    def animation(self, frames_ws: torch.Tensor, fmt: str, fps: float, photo: FaceSession | None = None,
                  face: FaceSession | None = None) -> bytes:
        """Frames of ``frames_ws`` drawn by ``face``'s generator (see :meth:`model_of`), pasted into ``photo``."""
        from faceedit.media import save_animation

        if fmt not in FORMATS:
            raise FaceEditError(f"animation format must be gif or mp4, got {fmt!r}")
        if fmt == "mp4" and not self.have_mp4:
            raise FaceEditError("MP4 needs imageio-ffmpeg (pip install 'faceedit[edit]'); use gif")
        frames = self.images(frames_ws, face or photo)
        if photo is not None:
            frames = [self.in_photo(photo, f) for f in frames]
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
        def report(fraction: float, message: str) -> None:
            job.progress = max(job.progress, min(0.99, fraction))
            job.message = message

        job.state, job.message = "running", "finding the face and aligning it"
        try:
            opts = dict(self.invert_options)
            if _accepts(self.inverter, "progress"):
                opts["progress"] = _progress_callback(report)
            if aligned:
                if not _accepts(self.inverter, "aligned"):
                    raise FaceEditError("this server's inversion cannot take already-aligned images")
                opts["aligned"] = True
            elif self.detector is not None:  # native detection in a worker process: a crash fails this job only
                opts["faces"] = self.detector.detect(path)
                job.message = "inverting"
            result = self.inverter(path, self.model, **opts)
            ws = self.model.as_ws(torch.as_tensor(result.ws))[:1].detach()
            notes = getattr(result, "notes", None) or []
            s = self.sessions.add(FaceSession(id=new_id(), ws=ws, source="photo", inversion=result,
                                              note="; ".join(str(n) for n in notes) or None), job.owner)
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
        if self.detector is not None:
            self.detector.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------- factory
def create_app(model=None, directions=None, inverter=None, *, model_name: str = "default",
               invert_options: dict | None = None, max_sessions: int = 64, max_age_s: float = 3600.0,
               render_workers: int = 1, max_pending: int = 16, invert_workers: int = 1, max_invert_jobs: int = 2,
               max_upload_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS,
               host: str = "127.0.0.1", allowed_hosts: tuple[str, ...] | list[str] = (), token: str | None = None,
               max_client_sessions: int | None = None, detector=None):
    """The FastAPI app.

    ``model``: a loaded :class:`faceedit.api.Model` (default: ``api.load(model_name)``). ``directions``: a
    ``DirectionSet``; None loads the ones fitted for the model, False disables attribute edits. ``inverter``:
    ``fn(path, model, **invert_options)`` returning an object with ``.ws`` and ``.paste(images)``; None uses
    ``faceedit.invert.invert_photo`` when installed, False disables uploads. ``max_pending``: renders queued or
    running before the API answers 503; ``max_invert_jobs`` the same for photo inversions.

    Security (:mod:`faceedit.web.security`): ``host`` is the address the server listens on (the Host header must
    name it; ``allowed_hosts`` adds DNS names), ``token`` an access token every request must carry (None: none).
    ``max_client_sessions``: faces one client keeps (default a quarter of ``max_sessions``, at least 2).
    ``detector``: an :class:`~faceedit.align.isolated.IsolatedDetector` for uploads; None uses one when the
    inverter is faceedit's own ``invert_photo`` (a custom inverter detects by itself), False never."""
    from faceedit import api

    if model is None:
        model = api.load(model_name)
    directions_note = None
    if directions is None:
        try:
            from faceedit.edit.directions import load_directions

            directions = load_directions(model)
        except FaceEditError as exc:
            directions, directions_note = None, str(exc)
        except ImportError as exc:
            directions, directions_note = None, f"attribute edits need the edit extra ({exc.name} missing)"
    elif directions is False:
        directions, directions_note = None, "attribute edits are switched off on this server"
    inverter_note = None
    if inverter is None:
        inverter, inverter_note = default_inverter()
    elif inverter is False:
        inverter, inverter_note = None, "photo upload is switched off on this server"
    own_inverter = getattr(inverter, "__module__", "").startswith("faceedit.")
    if detector is None and own_inverter and _accepts(inverter, "faces"):
        from faceedit.align.isolated import IsolatedDetector

        detector = IsolatedDetector()
    detector = detector or None

    state = WebState(model, directions, directions_note, inverter, inverter_note, invert_options,
                     SessionStore(max_sessions, max_age_s, max_per_client=max_client_sessions),
                     WorkQueue("render", render_workers, max_pending, retry_after=1),
                     WorkQueue("inversion", invert_workers, max_invert_jobs, retry_after=5),
                     max_upload_bytes, max_pixels, detector=detector)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        try:
            # one render before the first request, so the first slider move is as fast as the next ones
            w = state.model.as_ws(state.model.G.mapping.w_avg[None].detach())
            await state.render.run(state.images, w)
            yield
        finally:
            state.close()

    app = FastAPI(title="faceedit", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Generate faces, invert photos and edit them with StyleGAN2. Faces are server-side "
                              "sessions; images come back as PNG, animations as GIF or MP4. Errors are JSON "
                              "{\"error\": \"...\"}; a full queue answers 503 with Retry-After.")
    app.state.faceedit = state
    app.add_middleware(RequestGuard, hosts=HostPolicy(host, allowed_hosts), token=token,
                       upload_paths=("/api/upload",))

    # ---- errors: one line of JSON each
    def err(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)

    @app.exception_handler(FaceEditError)
    async def _user_error(_req, exc: FaceEditError):
        return err(422, str(exc))

    @app.exception_handler(Busy)
    async def _busy(_req, exc: Busy):
        return err(503, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(NotFound)
    async def _missing(_req, exc: NotFound):
        return err(404, exc.args[0] if exc.args else "not found")

    @app.exception_handler(Stale)
    async def _stale(_req, _exc):
        return err(409, "superseded by a newer request for this face")

    @app.exception_handler(RequestTooLarge)
    async def _too_large(_req, exc):
        return err(413, str(exc))

    @app.exception_handler(UnsupportedType)
    async def _unsupported(_req, exc):
        return err(415, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req, exc: StarletteHTTPException):
        return err(exc.status_code, exc.detail if isinstance(exc.detail, str) else "request failed",
                   getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:3]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return err(422, "invalid request: " + "; ".join(parts))

    def client(request: Request) -> str:
        """The key per-client limits count by: the client's address."""
        return request.client.host if request.client is not None else ""

    def session_info(s: FaceSession) -> dict:
        return dict(s.info(), image=f"/api/sessions/{s.id}/image.png")

    png = {200: {"content": {"image/png": {}}, "description": "PNG image"}}
    anim = {200: {"content": {"image/gif": {}, "video/mp4": {}}, "description": "GIF or MP4"}}

    # ---- pages
    def page(name: str) -> HTMLResponse:
        return HTMLResponse((STATIC / name).read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    def index():
        return page("index.html")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return page("docs.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in STATIC_FILES:  # a fixed list: the request never names a path
            raise StarletteHTTPException(404, "not found")
        return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "no-cache"})

    # ---- API
    @app.get("/api/info", tags=["model"], summary="Model, features and limits")
    def info() -> dict:
        m = state.model
        return {
            "model": {"name": m.name, "resolution": m.resolution, "num_ws": m.num_ws, "w_dim": m.w_dim,
                      "placeholder": bool(getattr(m, "placeholder", False))},
            "features": {
                "edit": {"available": state.directions is not None, "reason": state.directions_note},
                "upload": {"available": state.inverter is not None, "reason": state.inverter_note},
                "mp4": {"available": state.have_mp4,
                        "reason": None if state.have_mp4 else "MP4 needs imageio-ffmpeg"},
            },
            "styles": shipped_styles(),
            "limits": {"upload_bytes": state.max_upload_bytes, "upload_pixels": state.max_pixels,
                       "upload_min_side": MIN_DETECT_SIDE, "client_sessions": state.sessions.max_per_client,
                       "upload_types": sorted(UPLOAD_TYPES.values()), "max_amount": MAX_AMOUNT,
                       "sessions": state.sessions.max_sessions, "session_idle_s": state.sessions.max_age_s},
        }

    @app.get("/api/attributes", tags=["edit"], summary="Attributes that can be edited, with their accuracies")
    def attributes() -> dict:
        if state.directions is None:
            return {"available": False, "reason": state.directions_note, "attributes": []}
        return {"available": True, "reason": None, "attributes": state.directions.table()}

    @app.post("/api/generate", tags=["faces"], status_code=201, response_model=SessionInfo,
              summary="A new face from a seed")
    async def generate(body: Generate, request: Request) -> dict:
        def work():
            z = state.model.z_from_seeds([body.seed])
            return state.model.map(z, body.truncation)

        ws = await state.render.run(work)
        s = state.sessions.add(FaceSession(id=new_id(), ws=ws[:1], source="seed", seed=body.seed,
                                           truncation=body.truncation), client(request))
        return session_info(s)

    @app.post("/api/upload", tags=["faces"], status_code=202,
              summary="Upload a photo: align and invert it in the background",
              description="Send the photo as multipart form data (field `file`) or as the raw request body "
                          "(Content-Type image/jpeg, image/png or image/webp). JPEG, PNG or WebP up to 20 MB "
                          "and the pixel cap in /api/info. Answers a job to poll at /api/jobs/{id}; when it is "
                          "done the job names the new session.",
              openapi_extra={"requestBody": {"content": {
                  "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                      "file": {"type": "string", "format": "binary"}}}},
                  "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                  "image/png": {"schema": {"type": "string", "format": "binary"}},
                  "image/webp": {"schema": {"type": "string", "format": "binary"}}}}})
    async def upload(request: Request,
                     aligned: bool = Query(False, description="the photo already is an FFHQ-aligned square face "
                                           "crop: skip detection")) -> dict:
        if state.inverter is None:
            raise StarletteHTTPException(501, state.inverter_note or "photo upload is unavailable")
        data = await read_upload(request)
        kind = sniff_type(data[:16])
        if kind is None:
            raise UnsupportedType("unsupported file type: upload a JPEG, PNG or WebP image")
        check_pixels(data)
        job = state.new_job(client(request))
        path = state.tmp / f"{job.id}.{kind}"
        path.write_bytes(data)
        try:
            state.invert.submit(state.run_inversion, job, path, aligned)
        except Busy:
            path.unlink(missing_ok=True)
            with state.lock:
                state.jobs.pop(job.id, None)
            raise
        return job.info()

    async def read_upload(request: Request) -> bytes:
        cap = state.max_upload_bytes
        too_big = f"file too large: the limit is {cap / 2 ** 20:g} MB"
        slack = 64 * 1024  # multipart headers and boundaries
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > cap + slack:
            raise RequestTooLarge(too_big)
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            from starlette.formparsers import MultiPartException, MultiPartParser

            got = 0

            async def limited():
                nonlocal got
                async for chunk in request.stream():
                    got += len(chunk)
                    if got > cap + slack:
                        raise RequestTooLarge(too_big)
                    yield chunk

            try:
                form = await MultiPartParser(request.headers, limited(), max_files=1, max_fields=4).parse()
            except MultiPartException as exc:
                raise FaceEditError(f"bad upload: {exc.message}") from None
            f = form.get("file")
            if f is None or isinstance(f, str):
                raise FaceEditError("bad upload: send the image in a form field named 'file'")
            try:
                data = await f.read()
            finally:
                await f.close()
        else:
            buf = bytearray()
            async for chunk in request.stream():
                buf += chunk
                if len(buf) > cap:
                    raise RequestTooLarge(too_big)
            data = bytes(buf)
        if len(data) > cap:
            raise RequestTooLarge(too_big)
        if not data:
            raise FaceEditError("empty upload: no image was sent")
        return data

    def check_pixels(data: bytes) -> None:
        import warnings

        from PIL import Image, UnidentifiedImageError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(io.BytesIO(data)) as im:
                    w, h = im.size
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise FaceEditError("corrupt or unreadable image: upload a JPEG, PNG or WebP photo") from None
        except Image.DecompressionBombError:
            raise RequestTooLarge(f"image too large: over the cap of {state.max_pixels:,} pixels") from None
        if w * h > state.max_pixels:
            raise RequestTooLarge(f"image too large: {w}x{h} = {w * h:,} pixels, over the cap of "
                                  f"{state.max_pixels:,}")
        check_detectable(h, w, "the uploaded image")  # before any native detector sees it

    @app.get("/api/jobs/{job_id}", tags=["faces"], summary="Progress of an upload's inversion")
    def job_status(job_id: str) -> dict:
        job = state.jobs.get(job_id) if valid_id(job_id) else None
        if job is None:
            raise NotFound("no such job")
        return job.info()

    @app.get("/api/sessions/{sid}", tags=["faces"], response_model=SessionInfo, summary="A face session")
    def get_session(sid: str) -> dict:
        return session_info(state.session(sid))

    @app.delete("/api/sessions/{sid}", tags=["faces"], response_class=Response,
                responses={204: {"description": "forgotten"}}, summary="Forget a face")
    def delete_session(sid: str) -> Response:
        if not state.sessions.remove(sid):
            raise NotFound("no such session")
        return Response(status_code=204)

    async def render(s: FaceSession, amounts, keep, layers, view, seq, style=None) -> Response:
        if not s.newest(seq):
            raise Stale()
        data = await state.render.run(state.render_png, s, amounts, keep, layers, view, seq, style)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/sessions/{sid}/image.png", tags=["edit"], responses=png, response_class=Response,
             summary="The face, optionally edited (query form, for links and <img>)")
    async def image(sid: str,
                    edit: str = Query("", max_length=2000,
                                      description="comma-separated attribute:amount, e.g. smiling:2,age:-1"),
                    keep: str = Query("", max_length=2000, description="comma-separated attributes to keep fixed"),
                    layers: str | None = Query(None, max_length=200,
                                               description="all, coarse, middle, fine or a range like 0-5"),
                    view: Literal["aligned", "photo"] = "aligned",
                    seq: int | None = Query(None, description="client sequence number (stale ones get 409)")):
        s = state.session(sid)
        amounts = {}
        for part in filter(None, (p.strip() for p in edit.split(","))):
            name, sep, value = part.partition(":")
            try:
                amounts[name.strip()] = float(value)
            except ValueError:
                raise FaceEditError(f"bad edit {part!r}: use attribute:amount, e.g. smiling:2") from None
            if not sep:
                raise FaceEditError(f"bad edit {part!r}: use attribute:amount, e.g. smiling:2")
        keep_list = [k.strip() for k in keep.split(",") if k.strip()]
        return await render(s, amounts, keep_list, layers, view, seq)

    @app.post("/api/sessions/{sid}/edit", tags=["edit"], responses=png, response_class=Response,
              summary="Render the face with attribute edits")
    async def edit(sid: str, body: EditBody):
        s = state.session(sid)
        return await render(s, body.amounts, body.keep, body.layers, body.view, body.seq, body.style)

    @app.post("/api/sessions/{sid}/animate", tags=["edit"], responses=anim, response_class=Response,
              summary="Animate attribute edits (GIF or MP4)")
    async def animate(sid: str, body: AnimateBody):
        s = state.session(sid)
        if state.directions is None:
            raise FaceEditError(f"attribute edits are unavailable: {state.directions_note}")
        sweeps = 1 if body.combine or not body.attributes else len(body.attributes)
        n = body.frames * sweeps * (2 if body.pingpong else 1)
        if n > MAX_ANIMATION_FRAMES:
            raise FaceEditError(f"too many frames ({n}); at most {MAX_ANIMATION_FRAMES}: fewer frames or attributes")
        if not body.attributes and not any(float(v) for v in body.amounts.values()):
            raise FaceEditError("nothing to animate: give an edit (amounts) or attributes to sweep")
        layers = None if body.layers in (None, "", "all") else body.layers

        def work():
            if body.attributes:
                ws = state.directions.sweep(s.ws, body.attributes, body.start, body.stop, body.frames,
                                            body.combine, body.pingpong, body.keep, layers)[:, 0]
            else:
                edited = state.edited_ws(s, body.amounts, body.keep, layers)
                t = torch.linspace(0, 1, body.frames, dtype=edited.dtype, device=edited.device)[:, None, None]
                ws = s.ws + (edited - s.ws) * t
                if body.pingpong:
                    ws = torch.cat([ws, ws.flip(0)[1:-1]])
            return state.animation(ws, body.format, body.fps, s if body.view == "photo" else None, face=s)

        data = await state.render.run(work)
        return Response(data, media_type=FORMATS[body.format],
                        headers={"Content-Disposition": f'inline; filename="faceedit-edit.{body.format}"'})

    @app.post("/api/mix", tags=["faces"], status_code=201, response_model=SessionInfo,
              summary="Style mixing: a new face with A's latents and B's on the chosen layers")
    async def mix(body: MixBody, request: Request) -> dict:
        from faceedit.edit import mix as mix_ws

        a, b = state.session(body.a), state.session(body.b)
        ws = mix_ws(a.ws, b.ws, body.layers)
        s = state.sessions.add(FaceSession(id=new_id(), ws=ws, source="mix", parents=(a.id, b.id),
                                           note=f"layers {body.layers} from the second face"), client(request))
        return session_info(s)

    @app.post("/api/morph", tags=["faces"], responses=anim, response_class=Response,
              summary="Morph face A into face B (GIF or MP4)")
    async def morph(body: MorphBody):
        from faceedit.edit import morph_latents

        a, b = state.session(body.a), state.session(body.b)

        def work():
            ws = morph_latents(state.model, a.ws, b.ws, steps=body.frames)
            if body.pingpong:
                ws = torch.cat([ws, ws.flip(0)[1:-1]])
            return state.animation(ws, body.format, body.fps)

        data = await state.render.run(work)
        return Response(data, media_type=FORMATS[body.format])

    return app
