"""The web app: a REST API (OpenAPI at ``/openapi.json``, a reference page at ``/docs``) and a single page at ``/``.

    from faceedit.web import create_app
    app = create_app()                  # the embedded default model, its shipped directions, photo inversion
    # uvicorn.run(app, host="127.0.0.1", port=7860)   -- or: faceedit serve

Faces live in server-side sessions (``POST /api/generate`` or ``POST /api/upload`` → a session id); edits are
rendered on demand by each session's :class:`~faceedit.face.Face`. CPU work runs on a bounded queue: when it is
full the API answers 503 with ``Retry-After``. Every error is JSON ``{"error": "<one line>"}``. Nothing from a
request names a file: uploads are checked (size, type by content, pixel count, a side of at least 32 px) and
written under a private temporary folder with a random name; session and job ids are random hex. Face detection
of uploads runs in a worker process (:class:`~faceedit.align.isolated.IsolatedDetector`): a native crash there
fails one job, never the server. :mod:`faceedit.web.security` checks every request's Host, Origin, optional token
and body size first; sessions and jobs are capped per client (see :mod:`faceedit.web.sessions`).

The routes are :class:`fastapi.APIRouter` modules in :mod:`faceedit.web.routes`; the state they share is
:class:`faceedit.web.state.WebState`.
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceedit.align.isolated import IsolatedDetector
from faceedit.edit.directions import DirectionSet, load_directions
from faceedit.errors import FaceEditError
from faceedit.face import face_from_photo
from faceedit.invert.methods import DEFAULT_METHOD
from faceedit.model import Model, load
from faceedit.web.routes import edit, examples, faces, model as model_routes, pages, pose
from faceedit.web.security import HostPolicy, RequestGuard
from faceedit.web.sessions import SessionStore
from faceedit.web.state import Inverter, NotFound, Stale, WebState
from faceedit.web.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, RequestTooLarge, UnsupportedType
from faceedit.web.work import Busy, WorkQueue

ROUTERS = (pages.router, model_routes.router, examples.router, faces.router, edit.router, pose.router)


def _one_line(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:3]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
    return "invalid request: " + "; ".join(parts)


#: Every error the app answers, as (exception type, status, message): one line of JSON each.
ERRORS = (
    (FaceEditError, 422, str),
    (NotFound, 404, lambda exc: exc.args[0] if exc.args else "not found"),
    (Stale, 409, lambda _exc: "superseded by a newer request for this face"),
    (RequestTooLarge, 413, str),
    (UnsupportedType, 415, str),
    (RequestValidationError, 422, _validation_message),
)


def add_error_handlers(app: FastAPI) -> None:
    """One line of JSON ``{"error": ...}`` for every error a route raises."""
    for kind, status, message in ERRORS:
        app.add_exception_handler(kind, lambda _req, exc, status=status, message=message:
                                  _one_line(status, message(exc)))
    app.add_exception_handler(Busy, lambda _req, exc: _one_line(503, str(exc), {"Retry-After": str(exc.retry_after)}))
    app.add_exception_handler(StarletteHTTPException, lambda _req, exc: _one_line(
        exc.status_code, exc.detail if isinstance(exc.detail, str) else "request failed", getattr(exc, "headers", None)))


def create_app(model: Model | None = None, directions: DirectionSet | bool | None = None,
               inverter: Inverter | bool | None = None, *, model_name: str = "default",
               invert_options: dict | None = None, max_sessions: int = 64, max_age_s: float = 3600.0,
               render_workers: int = 1, max_pending: int = 16, invert_workers: int = 1, max_invert_jobs: int = 2,
               max_upload_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS,
               host: str = "127.0.0.1", allowed_hosts: tuple[str, ...] | list[str] = (), token: str | None = None,
               max_client_sessions: int | None = None, detector: IsolatedDetector | bool | None = None) -> FastAPI:
    """The FastAPI app.

    ``model``: a loaded :class:`faceedit.model.Model` (default: ``load(model_name)``). ``directions``: a
    ``DirectionSet``; None loads the ones fitted for the model, False disables attribute edits. ``inverter``:
    ``fn(path, model, progress=…, **invert_options) -> Face`` for uploads (also given ``aligned=True`` or the
    detected ``faces=``); None uses :func:`faceedit.face.face_from_photo` (method ``invert_options['method']``,
    default hybrid), False disables uploads. ``max_pending``: renders queued or running before the API answers
    503; ``max_invert_jobs`` the same for photo inversions.

    Security (:mod:`faceedit.web.security`): ``host`` is the address the server listens on (the Host header must
    name it; ``allowed_hosts`` adds DNS names), ``token`` an access token every request must carry (None: none).
    ``max_client_sessions``: faces one client keeps (default a quarter of ``max_sessions``, at least 2).
    ``detector``: an :class:`~faceedit.align.isolated.IsolatedDetector` for uploads; None uses one with
    faceedit's own inverter (a custom inverter detects by itself), False never."""
    if model is None:
        model = load(model_name)
    directions_note = None
    if directions is None:
        try:
            directions = load_directions(model)
        except FaceEditError as exc:
            directions, directions_note = None, str(exc)
    elif directions is False:
        directions, directions_note = None, "attribute edits are switched off on this server"
    inverter_note = None
    options = dict(invert_options or {})
    if inverter is None:
        inverter = face_from_photo
        options.setdefault("method", DEFAULT_METHOD)
        if detector is None:
            detector = IsolatedDetector()
    elif inverter is False:
        inverter, inverter_note = None, "photo upload is switched off on this server"
    detector = detector or None

    state = WebState(model, directions, directions_note, inverter, inverter_note, options,
                     SessionStore(max_sessions, max_age_s, max_per_client=max_client_sessions),
                     WorkQueue("render", render_workers, max_pending, retry_after=1),
                     WorkQueue("inversion", invert_workers, max_invert_jobs, retry_after=5),
                     max_upload_bytes, max_pixels, detector=detector)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        try:
            # one render before the first request, so the first slider move is as fast as the next ones
            w = state.model.as_ws(state.model.G.mapping.w_avg[None].detach())
            await state.render.run(state.model.synthesize, w)
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
    add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
