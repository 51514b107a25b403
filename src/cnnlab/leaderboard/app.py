"""The HTTP service: the JSON API and the pages. Thin: it translates between HTTP and
`submissions` / `pages`."""

from __future__ import annotations

import functools
import sys

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from cnnlab.errors import first_line
from cnnlab.leaderboard import grades, health, pages, signin, submissions, upload_check
from cnnlab.leaderboard.board_cache import BoardCache
from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.schema import utcnow
from cnnlab.leaderboard.upload import UploadRefused, drain, read_upload
from cnnlab.leaderboard.users import caller

RETRY_AFTER_S = 30
# Uploads are checked and stored in threads of their own, this many at once: the pages' pool
# of threads (40) is not theirs to fill. In a rush, 200 uploads waiting there for a checker
# had held every thread, and a page waited a second for one.
UPLOADS_AT_ONCE = 2 * upload_check.CHECKS_AT_ONCE


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


# Public rows name no submission: a student's page and result are theirs alone
PRIVATE_ROW_FIELDS = ("submission", "key", "user_id")


def _bearer_user(engine: Engine, request: Request):
    with reading(engine) as session:
        return caller(session, _bearer(request))


def _secure(request: Request) -> bool:
    """Whether the cookie may travel over HTTPS only (behind a proxy that says so too)."""
    return request.url.scheme == "https" or \
        request.headers.get("x-forwarded-proto", "").lower() == "https"


async def _form(request: Request) -> dict:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def create_app(engine: Engine, board_fresh_s: float = 0.0) -> FastAPI:
    """The app; a board it shows may be `board_fresh_s` old (BoardCache)."""
    app = FastAPI(title="cnnlab leaderboard", docs_url=None, redoc_url=None)
    # the public board, computed once per change of its data
    boards = BoardCache(engine, board_fresh_s)
    uploads = anyio.CapacityLimiter(UPLOADS_AT_ONCE)

    def viewer(request: Request):
        return signin.viewer(engine, request.cookies.get(signin.SESSION_COOKIE))

    def viewer_if_possible(request: Request):
        """For an error page: who is signed in, unless the database is what failed."""
        try:
            return viewer(request)
        except DBAPIError:
            return None

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused):
        if not request.url.path.startswith("/api/"):  # a page: answer with a page
            from starlette.concurrency import run_in_threadpool

            who = await run_in_threadpool(viewer_if_possible, request)
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

        arrived = utcnow()  # the phase is judged here, whatever the check takes after
        uploader = await run_in_threadpool(
            submissions.check_caller, engine, task, _bearer(request), arrived)
        chunks, length = request.stream(), request.headers.get("content-length")
        try:
            upload = await read_upload(request.headers.get("content-type"), length, chunks,
                                       uploader.max_bytes)
        except UploadRefused as refused:
            if refused.status == 413:  # so that the client hears 413, not a reset
                await drain(chunks, length)
            raise
        accepted = await anyio.to_thread.run_sync(functools.partial(
            submissions.accept, engine, uploader.task_id, uploader.user_id, uploader.kind,
            upload.data, upload.label, arrived, utcnow()), limiter=uploads)
        return {"id": accepted.key, "status": "queued", "flagged_copy": accepted.flagged_copy}

    @app.post("/api/submissions/{key}/final")
    async def final(key: str, request: Request):
        """{"final": true} marks the caller's submission for the private ranking; false
        unmarks it."""
        from starlette.concurrency import run_in_threadpool

        user = await run_in_threadpool(_bearer_user, engine, request)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("final"), bool):
            raise Refused(400, 'send JSON {"final": true} to mark the submission final, '
                               '{"final": false} to unmark it')
        return await run_in_threadpool(submissions.mark_final, engine, key, user,
                                       body["final"])

    @app.get("/api/submissions/{key}")
    def submission(key: str, request: Request):
        """The caller's own submission (any, for an admin): 404 for anybody else's."""
        return submissions.private_view(engine, key, _bearer_user(engine, request))

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
        table = boards.get(task, ("rows", sort),
                           lambda: submissions.leaderboard_rows(engine, task, sort))
        return {**table, "rows": [{k: v for k, v in row.items() if k not in PRIVATE_ROW_FIELDS}
                                  for row in table["rows"]]}

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        return pages.index_page(engine, viewer(request))

    @app.get("/tasks/{task}", response_class=HTMLResponse)
    def task_page(task: str, request: Request, sort: str = "accuracy"):
        return pages.task_page(engine, task, sort, viewer(request), boards)

    @app.get("/submissions/{key}", response_class=HTMLResponse)
    def submission_page(key: str, request: Request):
        return pages.submission_page(engine, key, viewer(request))

    @app.get("/signin", response_class=HTMLResponse)
    def signin_form(request: Request):
        value = request.cookies.get(signin.SIGNIN_COOKIE) or signin.new_secret()
        response = HTMLResponse(pages.signin_page(value))
        response.set_cookie(signin.SIGNIN_COOKIE, value, httponly=True, samesite="strict",
                            secure=_secure(request), max_age=3600)
        return response

    @app.post("/signin", response_class=HTMLResponse)
    async def signin_submit(request: Request):
        from starlette.concurrency import run_in_threadpool

        form = await _form(request)
        expected = request.cookies.get(signin.SIGNIN_COOKIE)
        signin.check_csrf(expected, form.get("csrf"))
        try:
            cookie, expires = await run_in_threadpool(signin.sign_in, engine,
                                                      form.get("token", ""))
        except Refused as refused:  # the form again, saying why
            return HTMLResponse(pages.signin_page(expected, refused.detail),
                                status_code=refused.status)
        response = RedirectResponse("/me", status_code=303)
        response.set_cookie(signin.SESSION_COOKIE, cookie, httponly=True, samesite="lax",
                            secure=_secure(request), expires=expires)
        response.delete_cookie(signin.SIGNIN_COOKIE)
        return response

    @app.post("/signout")
    async def signout(request: Request):
        from starlette.concurrency import run_in_threadpool

        form = await _form(request)
        who = await run_in_threadpool(viewer, request)
        if who is not None:
            signin.check_csrf(who[1], form.get("csrf"))
            await run_in_threadpool(signin.sign_out, engine,
                                    request.cookies.get(signin.SESSION_COOKIE))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(signin.SESSION_COOKIE)
        return response

    @app.get("/me", response_class=HTMLResponse)
    def own_page(request: Request):
        return pages.own_page(engine, viewer(request))

    @app.post("/me/final")
    async def own_final(request: Request):
        from starlette.concurrency import run_in_threadpool

        form = await _form(request)
        who = await run_in_threadpool(viewer, request)
        if who is None:
            raise Refused(401, "sign in with your token to mark your final submissions")
        signin.check_csrf(who[1], form.get("csrf"))
        await run_in_threadpool(submissions.mark_final, engine, form.get("key", ""), who[0],
                                form.get("final") == "1")
        return RedirectResponse("/me", status_code=303)

    @app.get("/admin", response_class=HTMLResponse)
    def admin_page(request: Request):
        return pages.admin_page(engine, viewer(request))

    return app
