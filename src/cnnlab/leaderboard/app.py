"""The HTTP service: the JSON API and the pages. Thin: it translates between HTTP and
`submissions` / `pages`."""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from cnnlab.errors import first_line
from cnnlab.leaderboard import grades, health, pages, submissions
from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.upload import UploadRefused, drain, read_upload
from cnnlab.leaderboard.users import caller

RETRY_AFTER_S = 30


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(title="cnnlab leaderboard", docs_url=None, redoc_url=None)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused):
        if not request.url.path.startswith("/api/"):  # a page: answer with a page
            return HTMLResponse(pages.error_page(error.status, error.detail),
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
        if not request.url.path.startswith("/api/") and request.url.path != "/healthz":
            return HTMLResponse(pages.error_page(503, detail), status_code=503,
                                headers=headers)
        return JSONResponse({"detail": detail}, status_code=503, headers=headers)

    @app.get("/healthz")
    def healthz():
        status, body = health.report(engine)
        return JSONResponse(body, status_code=status)

    @app.post("/api/tasks/{task}/submissions", status_code=202)
    async def submit(task: str, request: Request):
        from starlette.concurrency import run_in_threadpool

        task_id, user_id, max_bytes = await run_in_threadpool(
            submissions.check_caller, engine, task, _bearer(request))
        chunks, length = request.stream(), request.headers.get("content-length")
        try:
            upload = await read_upload(request.headers.get("content-type"), length, chunks,
                                       max_bytes)
        except UploadRefused as refused:
            if refused.status == 413:  # so that the client hears 413, not a reset
                await drain(chunks, length)
            raise
        submission_id = await run_in_threadpool(submissions.submit, engine, task_id, user_id,
                                                upload.data, upload.label)
        view = await run_in_threadpool(submissions.submission_view, engine, submission_id)
        return {"id": submission_id, "status": "queued", "copy_of": view["copy_of"]}

    @app.post("/api/submissions/{submission_id}/final")
    async def final(submission_id: int, request: Request):
        """{"final": true} marks the caller's submission for the private ranking; false
        unmarks it."""
        from starlette.concurrency import run_in_threadpool

        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("final"), bool):
            raise Refused(400, 'send JSON {"final": true} to mark the submission final, '
                               '{"final": false} to unmark it')
        return await run_in_threadpool(submissions.mark_final, engine, submission_id,
                                       _bearer(request), body["final"])

    @app.get("/api/submissions/{submission_id}")
    def submission(submission_id: int):
        return submissions.submission_view(engine, submission_id)

    @app.get("/api/tasks/{task}/grades.csv")
    def grades_csv(task: str, request: Request):
        """The task's grades, for an admin token only."""
        with reading(engine) as session:
            caller(session, _bearer(request), admin=True)
        return Response(grades.grades_csv(engine, task), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{task}-grades.csv"'})

    @app.get("/api/tasks/{task}/leaderboard")
    def leaderboard(task: str, sort: str = "accuracy"):
        return submissions.leaderboard_rows(engine, task, sort)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return pages.index_page(engine)

    @app.get("/tasks/{task}", response_class=HTMLResponse)
    def task_page(task: str, sort: str = "accuracy"):
        return pages.task_page(engine, task, sort)

    @app.get("/submissions/{submission_id}", response_class=HTMLResponse)
    def submission_page(submission_id: int):
        return pages.submission_page(engine, submission_id)

    return app
