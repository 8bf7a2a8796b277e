"""``GET /api/info`` (model, features, limits) and ``GET /api/attributes``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from faceedit.limits import MIN_DETECT_SIDE
from faceedit.web.labels import GROUPS, describe, display_order
from faceedit.web.routes import web_state
from faceedit.web.schemas import MAX_AMOUNT
from faceedit.web.state import WebState
from faceedit.web.uploads import UPLOAD_TYPES

router = APIRouter(prefix="/api")


@router.get("/info", tags=["model"], summary="Model, features and limits")
def info(state: WebState = Depends(web_state)) -> dict:
    m = state.model
    return {
        "model": {"name": m.name, "resolution": m.resolution, "num_ws": m.num_ws, "w_dim": m.w_dim},
        "features": {
            "edit": {"available": state.directions is not None, "reason": state.directions_note},
            "upload": {"available": state.inverter is not None, "reason": state.inverter_note},
            "mp4": {"available": state.have_mp4, "reason": None if state.have_mp4 else "MP4 needs imageio-ffmpeg"},
        },
        "styles": state.styles(),
        "limits": {"upload_bytes": state.max_upload_bytes, "upload_pixels": state.max_pixels,
                   "upload_min_side": MIN_DETECT_SIDE, "client_sessions": state.sessions.max_per_client,
                   "upload_types": sorted(UPLOAD_TYPES.values()), "max_amount": MAX_AMOUNT,
                   "sessions": state.sessions.max_sessions, "session_idle_s": state.sessions.max_age_s},
    }


@router.get("/attributes", tags=["edit"], summary="Attributes that can be edited, with their accuracies",
            description="Each attribute with its fit (space, held-out accuracy, units) and what the page shows: "
                        "a label, the slider group (one of `groups`) and the reliability in words.")
def attributes(state: WebState = Depends(web_state)) -> dict:
    groups = [{"id": g, "title": t} for g, t in GROUPS]
    if state.directions is None:
        return {"available": False, "reason": state.directions_note, "attributes": [], "groups": groups}
    return {"available": True, "reason": None, "groups": groups,
            "attributes": [describe(row) for row in sorted(state.directions.table(),
                                                           key=lambda r: display_order(r["attribute"]))]}
