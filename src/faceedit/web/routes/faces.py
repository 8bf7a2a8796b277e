"""Faces: a new face from a seed, photo uploads (inverted in the background, polled as jobs), sessions, style
mixing and morphs. Every face is a :class:`~faceedit.face.Face`: a mix is drawn like its first face, a morph
blends the two faces' generators and noise maps (:func:`~faceedit.face.morph_images`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceedit.edit.morph import morph_latents, morph_times
from faceedit.face import Face, mix_faces, morph_images
from faceedit.web.routes import client, web_state
from faceedit.web.schemas import Generate, MixBody, MorphBody, SessionInfo
from faceedit.web.sessions import FaceSession, new_id, valid_id
from faceedit.web.state import FORMATS, NotFound, WebState, png_bytes
from faceedit.web.uploads import check_upload, read_upload
from faceedit.web.work import Busy

router = APIRouter(prefix="/api", tags=["faces"])
ANIMATION = {200: {"content": {"image/gif": {}, "video/mp4": {}}, "description": "GIF or MP4"}}


def session_info(s: FaceSession) -> dict:
    return dict(s.info(), image=f"/api/sessions/{s.id}/image.png")


@router.post("/generate", status_code=201, response_model=SessionInfo, summary="A new face from a seed")
async def generate(body: Generate, request: Request, state: WebState = Depends(web_state)) -> dict:
    def work() -> Face:
        z = state.model.z_from_seeds([body.seed])
        return Face(ws=state.model.map(z, body.truncation)[:1], generator=state.model, z=z, label=f"seed{body.seed}")

    face = await state.render.run(work)
    s = state.sessions.add(FaceSession(id=new_id(), face=face, source="seed", seed=body.seed,
                                       truncation=body.truncation), client(request))
    return session_info(s)


@router.post("/upload", status_code=202, summary="Upload a photo: align and invert it in the background",
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
                                       "crop: skip detection"),
                 state: WebState = Depends(web_state)) -> dict:
    if state.inverter is None:
        raise StarletteHTTPException(501, state.inverter_note or "photo upload is unavailable")
    data = await read_upload(request, state.max_upload_bytes)
    kind = check_upload(data, state.max_pixels)
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


@router.get("/jobs/{job_id}", summary="Progress of an upload's inversion")
def job_status(job_id: str, state: WebState = Depends(web_state)) -> dict:
    job = state.jobs.get(job_id) if valid_id(job_id) else None
    if job is None:
        raise NotFound("no such job")
    return job.info()


@router.get("/sessions/{sid}", response_model=SessionInfo, summary="A face session")
def get_session(sid: str, state: WebState = Depends(web_state)) -> dict:
    return session_info(state.session(sid))


@router.delete("/sessions/{sid}", response_class=Response, responses={204: {"description": "forgotten"}},
               summary="Forget a face")
def delete_session(sid: str, state: WebState = Depends(web_state)) -> Response:
    if not state.sessions.remove(sid):
        raise NotFound("no such session")
    return Response(status_code=204)


@router.post("/mix", status_code=201, response_model=SessionInfo,
             summary="Style mixing: a new face with A's latents and B's on the chosen layers")
async def mix(body: MixBody, request: Request, state: WebState = Depends(web_state)) -> dict:
    a, b = state.session(body.a), state.session(body.b)
    s = state.sessions.add(FaceSession(id=new_id(), face=mix_faces(a.face, b.face, body.layers), source="mix",
                                       parents=(a.id, b.id), note=f"layers {body.layers} from the second face"),
                           client(request))
    return session_info(s)


@router.get("/sessions/{sid}/mix/{seed}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "PNG image"}},
            summary="Preview of a style mix with a seed (for a gallery): no new session")
async def mix_preview(sid: str, seed: int = PathParam(ge=0, lt=2 ** 32),
                      layers: str = Query("fine", max_length=200, description="coarse, middle, fine, all or a range"),
                      truncation: float = Query(0.7, ge=0.0, le=1.5, allow_inf_nan=False),
                      state: WebState = Depends(web_state)) -> Response:
    s = state.session(sid)
    key = ("mix", seed, layers, round(truncation, 4))
    data = s.cache.get(key)
    if data is None:
        def work() -> bytes:
            z = state.model.z_from_seeds([seed])
            other = Face(ws=state.model.map(z, truncation)[:1], generator=state.model, z=z, label=f"seed{seed}")
            return png_bytes(mix_faces(s.face, other, layers).render(paste=None)[0])

        data = await state.render.run(work)
        if len(s.cache) < 64:  # a gallery's worth per face, never more
            s.cache[key] = data
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/morph", responses=ANIMATION, response_class=Response, summary="Morph face A into face B (GIF or MP4)")
async def morph(body: MorphBody, state: WebState = Depends(web_state)):
    a, b = state.session(body.a), state.session(body.b)

    def work() -> bytes:
        ws = morph_latents(state.model, a.face.ws, b.face.ws, steps=body.frames)
        frames = list(morph_images(a.face, b.face, ws, morph_times(body.frames)))
        if body.pingpong:
            frames += frames[-2:0:-1]
        return state.animation(frames, body.format, body.fps)

    data = await state.render.run(work)
    return Response(data, media_type=FORMATS[body.format])
