"""The HTTP service: the routers of the JSON API, the pages and signing in (`routes`), and
how a refusal or a failed database is answered, as JSON for the API and as a page for a
browser. Thin: it translates between HTTP and `submissions` / `pages`."""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from cnnlab.errors import first_line
from cnnlab.leaderboard import pages
from cnnlab.leaderboard.board_cache import BoardCache
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.routes.api import api_router
from cnnlab.leaderboard.routes.pages import page_router
from cnnlab.leaderboard.routes.signin import signin_router
from cnnlab.leaderboard.routes.web import viewer_if_possible
from cnnlab.leaderboard.upload import UploadRefused

RETRY_AFTER_S = 30


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(engine: Engine, board_fresh_s: float = 0.0) -> FastAPI:
    """The app; a board it shows may be `board_fresh_s` old (BoardCache)."""
    app = FastAPI(title="cnnlab leaderboard", docs_url=None, redoc_url=None)
    boards = BoardCache(engine, board_fresh_s)  # the public board, once per change of its data
    app.include_router(api_router(engine, boards))
    app.include_router(page_router(engine, boards))
    app.include_router(signin_router(engine))

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused):
        if not _wants_json(request):  # a page: answer with a page
            who = await run_in_threadpool(viewer_if_possible, engine, request)
            return HTMLResponse(pages.error_page(error.status, error.detail, who),
                                status_code=error.status)
        body = {"detail": error.detail}
        if error.submission_id is not None:
            body["id"] = error.submission_id
            body["status"] = "rejected"
        return JSONResponse(body, status_code=error.status)

    @app.exception_handler(UploadRefused)
    async def upload_refused(_request, error: UploadRefused):
        return JSONResponse({"detail": error.detail}, status_code=error.status)

    @app.exception_handler(DBAPIError)
    async def database_unavailable(request: Request, error: DBAPIError):
        """Locked, unreachable, read-only: the request fails whole (its transaction rolled
        back) with 503 and the reason; the server keeps serving."""
        reason = first_line(error.orig or error)
        print(f"leaderboard: {request.method} {request.url.path}: the database failed: "
              f"{reason}", file=sys.stderr, flush=True)
        detail = f"the leaderboard's database cannot be used right now ({reason})" + (
            "; nothing was saved" if request.method == "POST" else "") + \
            f"; try again in {RETRY_AFTER_S} s"
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        if not _wants_json(request) and request.url.path != "/healthz":
            return HTMLResponse(pages.error_page(503, detail), status_code=503,
                                headers=headers)
        return JSONResponse({"detail": detail}, status_code=503, headers=headers)

    return app
