"""The web app's routes, one :class:`fastapi.APIRouter` per area: :mod:`pages` (the page and static files),
:mod:`model` (model info, attributes), :mod:`examples` (example seeds and photos), :mod:`faces` (new faces from
seeds, uploads, jobs, sessions, mix, morph), :mod:`edit` (rendering and animating edits) and :mod:`pose` (the
head pose of a rendered face). Each route reads the shared
:class:`~faceedit.web.state.WebState` through :func:`web_state`."""

from fastapi import Request

from faceedit.web.state import WebState


def web_state(request: Request) -> WebState:
    """The app's shared state (a FastAPI dependency)."""
    return request.app.state.faceedit


def client(request: Request) -> str:
    """The key per-client limits count by: the client's address."""
    return request.client.host if request.client is not None else ""
