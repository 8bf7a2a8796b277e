"""Faces to start from: example seeds (with small thumbnails) and example photos shipped with the page.

The example photos are made by ``scripts/make_example_photos.py`` from the default generator's own faces pasted
into synthetic backgrounds, so they carry no third-party licence; the page uploads them like any photo (they go
through detection and alignment)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from faceedit.web.pose import measure_poses, order_by_yaw
from faceedit.web.routes import web_state
from faceedit.web.routes.pages import EXAMPLES
from faceedit.web.state import NotFound, WebState, png_bytes

router = APIRouter(prefix="/api/examples", tags=["faces"])
#: Seeds offered as example faces, in display order.
EXAMPLE_SEEDS: tuple[int, ...] = (0, 3, 7, 12, 21, 42, 77, 101)
#: Truncation ψ of the example thumbnails (the page generates with its own ψ slider).
THUMB_TRUNCATION = 0.7


@router.get("", summary="Example faces (seeds) and example photos to start from",
            description="`order=pose`: the seeds from the face turned most to the image's left to the one turned "
                        "most to its right (by yaw), each with its head pose `{yaw, pitch, roll, landmarks_used}` "
                        "(degrees) measured on its thumbnail; seeds where no face is found go last with pose null. "
                        "Measured once per model, then cached.")
async def examples(order: Literal["default", "pose"] = "default", state: WebState = Depends(web_state)) -> dict:
    seeds = [{"seed": s, "thumbnail": f"/api/examples/seed/{s}.png"} for s in EXAMPLE_SEEDS]
    if order == "pose":
        poses = await example_poses(state)
        seeds = order_by_yaw([{**row, "pose": poses[row["seed"]]} for row in seeds])
    return {"seeds": seeds, "order": order,
            "photos": [{"name": p.stem, "url": f"/static/examples/{p.name}"} for p in EXAMPLES]}


async def example_poses(state: WebState) -> dict[int, dict | None]:
    """Head pose of each example seed's thumbnail (None: no face found), measured on first use and kept."""
    if state.example_poses is not None:
        return state.example_poses

    def render() -> list:
        return list(state.model.generate(seeds=list(EXAMPLE_SEEDS), truncation=THUMB_TRUNCATION).images)

    def measure(images: list) -> dict[int, dict | None]:
        with state.example_poses_lock:  # one measurement per model, however many requests wait for it
            if state.example_poses is None:
                state.example_poses = dict(zip(EXAMPLE_SEEDS, measure_poses(images, state.pose_detector(),
                                                                            state.tmp)))
            return state.example_poses

    return await state.pose.run(measure, await state.render.run(render))


@router.get("/seed/{seed}.png", response_class=Response, responses={200: {"content": {"image/png": {}}}},
            summary="Thumbnail of an example seed (only the listed seeds)")
async def seed_thumbnail(seed: int, state: WebState = Depends(web_state)) -> Response:
    if seed not in EXAMPLE_SEEDS:
        raise NotFound("not an example seed: see GET /api/examples")
    key = ("example", seed)
    data = state.thumbnails.get(key)
    if data is None:
        def work() -> bytes:
            return png_bytes(state.model.generate(seeds=[seed], truncation=THUMB_TRUNCATION).images[0])

        data = await state.render.run(work)
        state.thumbnails[key] = data  # bounded: one entry per example seed
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})
