"""The single page (``/``), the API reference page (``/docs``) and their static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

STATIC = Path(__file__).resolve().parents[1] / "static"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css", "docs.js": "text/javascript"}

router = APIRouter(include_in_schema=False)


def page(name: str) -> HTMLResponse:
    return HTMLResponse((STATIC / name).read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


@router.get("/")
def index():
    return page("index.html")


@router.get("/docs")
def docs():
    return page("docs.html")


@router.get("/static/{name}")
def static(name: str):
    if name not in STATIC_FILES:  # a fixed list: the request never names a path
        raise StarletteHTTPException(404, "not found")
    return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name],
                    headers={"Cache-Control": "no-cache"})
