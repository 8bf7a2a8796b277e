"""Attribute edits of a face session: the image (query form, for links and ``<img>``), the edit (JSON body) and
animations of an edit or of attribute sweeps. Newer requests for a face make older ones stale (409)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from faceedit.errors import FaceEditError
from faceedit.web.routes import web_state
from faceedit.web.schemas import AnimateBody, EditBody
from faceedit.web.sessions import FaceSession
from faceedit.web.state import FORMATS, Stale, WebState

router = APIRouter(prefix="/api/sessions", tags=["edit"])
PNG = {200: {"content": {"image/png": {}}, "description": "PNG image"}}
ANIMATION = {200: {"content": {"image/gif": {}, "video/mp4": {}}, "description": "GIF or MP4"}}
#: Frames of one animation the server renders.
MAX_ANIMATION_FRAMES = 240


async def render(state: WebState, s: FaceSession, amounts, keep, layers, view, seq, style=None) -> Response:
    if not s.newest(seq):
        raise Stale()
    data = await state.render.run(state.render_png, s, amounts, keep, layers, view, seq, style)
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


def parse_edit_query(edit: str) -> dict[str, float]:
    """``"smiling:2,age:-1"`` → ``{"smiling": 2.0, "age": -1.0}`` (a one-line error otherwise)."""
    amounts = {}
    for part in filter(None, (p.strip() for p in edit.split(","))):
        name, sep, value = part.partition(":")
        try:
            amounts[name.strip()] = float(value)
        except ValueError:
            raise FaceEditError(f"bad edit {part!r}: use attribute:amount, e.g. smiling:2") from None
        if not sep:
            raise FaceEditError(f"bad edit {part!r}: use attribute:amount, e.g. smiling:2")
    return amounts


@dataclass(frozen=True)
class EditQuery:
    """An edit given in the query string: attribute → amount, attributes kept fixed, the w+ layers edited."""

    amounts: dict[str, float]
    keep: list[str]
    layers: str | None


def edit_query(edit: str = Query("", max_length=2000,
                                 description="comma-separated attribute:amount, e.g. smiling:2,age:-1"),
               keep: str = Query("", max_length=2000, description="comma-separated attributes to keep fixed"),
               layers: str | None = Query(None, max_length=200,
                                          description="all, coarse, middle, fine or a range like 0-5")) -> EditQuery:
    """The query parameters of an edit (a FastAPI dependency; amounts are checked when the edit is applied)."""
    return EditQuery(parse_edit_query(edit), [k.strip() for k in keep.split(",") if k.strip()], layers)


@router.get("/{sid}/image.png", responses=PNG, response_class=Response,
            summary="The face, optionally edited (query form, for links and <img>)")
async def image(sid: str, q: EditQuery = Depends(edit_query),
                view: Literal["aligned", "photo"] = "aligned",
                seq: int | None = Query(None, description="client sequence number (stale ones get 409)"),
                state: WebState = Depends(web_state)):
    s = state.session(sid)
    return await render(state, s, q.amounts, q.keep, q.layers, view, seq)


@router.post("/{sid}/edit", responses=PNG, response_class=Response, summary="Render the face with attribute edits")
async def edit(sid: str, body: EditBody, state: WebState = Depends(web_state)):
    s = state.session(sid)
    return await render(state, s, body.amounts, body.keep, body.layers, body.view, body.seq, body.style)


@router.post("/{sid}/animate", responses=ANIMATION, response_class=Response,
             summary="Animate attribute edits (GIF or MP4)")
async def animate(sid: str, body: AnimateBody, state: WebState = Depends(web_state)):
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

    def work() -> bytes:
        ws0 = s.face.ws
        if body.attributes:
            ws = state.directions.sweep(ws0, body.attributes, body.start, body.stop, body.frames,
                                        body.combine, body.pingpong, body.keep, layers)[:, 0]
        else:
            edited = state.edited_ws(s, body.amounts, body.keep, layers)
            t = torch.linspace(0, 1, body.frames, dtype=edited.dtype, device=edited.device)[:, None, None]
            ws = ws0 + (edited - ws0) * t
            if body.pingpong:
                ws = torch.cat([ws, ws.flip(0)[1:-1]])
        return state.animation(ws, body.format, body.fps, face=s.face, in_photo=body.view == "photo")

    data = await state.render.run(work)
    return Response(data, media_type=FORMATS[body.format],
                    headers={"Content-Disposition": f'inline; filename="faceedit-edit.{body.format}"'})
