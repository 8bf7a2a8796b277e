"""The web app and REST API (``faceedit serve``): see :mod:`faceedit.web.app`.

    from faceedit.web import create_app
    app = create_app()          # FastAPI; run with uvicorn or `faceedit serve`
"""

from faceedit.web.app import create_app

__all__ = ["create_app"]
