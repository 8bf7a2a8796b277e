"""The single page (``/``), the API reference page (``/docs``), their static files, the favicon and the example
photos."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

STATIC = Path(__file__).resolve().parents[1] / "static"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css", "docs.js": "text/javascript",
                "favicon.svg": "image/svg+xml"}
#: The example photos shipped with the page (static/examples/*.jpg; see routes/examples.py).
EXAMPLES = tuple(sorted((STATIC / "examples").glob("*.jpg")))

router = APIRouter(include_in_schema=False)


def page(name: str) -> HTMLResponse:
    return HTMLResponse((STATIC / name).read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


@router.get("/")
def index():
    return page("index.html")


@router.get("/docs")
def docs():
    return page("docs.html")


@router.get("/favicon.ico")
def favicon():
    return static("favicon.svg")


@router.get("/static/examples/{name}")
def example_photo(name: str):
    for path in EXAMPLES:  # a fixed list: the request never names a path
        if path.name == name:
            return Response(path.read_bytes(), media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})
    raise StarletteHTTPException(404, "not found")


@router.get("/static/{name}")
def static(name: str):
    if name not in STATIC_FILES:  # a fixed list: the request never names a path
        raise StarletteHTTPException(404, "not found")
    return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name],
                    headers={"Cache-Control": "no-cache"})
