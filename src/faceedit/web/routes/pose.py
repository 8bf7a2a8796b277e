"""``GET /api/sessions/{sid}/pose``: the head pose (yaw, pitch, roll in degrees) of a face as it is rendered with
an edit — measured on the rendering itself (:mod:`faceedit.web.pose`), so it shows what a pose edit really did."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends

from faceedit.errors import FaceEditError
from faceedit.web.pose import measure_poses
from faceedit.web.routes import web_state
from faceedit.web.routes.edit import EditQuery, edit_query
from faceedit.web.sessions import FaceSession
from faceedit.web.state import WebState

router = APIRouter(prefix="/api/sessions", tags=["edit"])
NO_FACE = "no face found in the rendering: its head pose cannot be measured"


def _rendering(state: WebState, s: FaceSession, q: EditQuery) -> np.ndarray:
    """The session's aligned face with the edit ``q`` applied (uint8 H×W×3; amounts checked as for the image)."""
    return s.face.render(state.edited_ws(s, q.amounts, q.keep, q.layers))[0]


@router.get("/{sid}/pose", summary="Head pose of the face as rendered with the edit (yaw, pitch, roll in degrees)",
            description="The face is rendered with the edit (the query parameters of `image.png`), found by dlib "
                        "(68 landmarks) and its landmarks registered to a canonical 3D face. yaw > 0: the face turns "
                        "to the image's right; pitch > 0: chin up; roll > 0: counter-clockwise. 422 when no face is "
                        "found in the rendering.")
async def pose(sid: str, q: EditQuery = Depends(edit_query), state: WebState = Depends(web_state)) -> dict:
    s = state.session(sid)
    key = (tuple(sorted((k, v) for k, v in q.amounts.items() if v)), tuple(sorted(q.keep)), q.layers)
    cached = s.cache.get("pose")
    if cached is not None and cached[0] == key:
        found = cached[1]
    else:
        image = await state.render.run(_rendering, state, s, q)
        found = (await state.pose.run(measure_poses, [image], state.pose_detector(), state.tmp))[0]
        s.cache["pose"] = (key, found)  # the latest edit's pose only: the page asks again for the same edit
    if found is None:
        raise FaceEditError(NO_FACE)
    return found
