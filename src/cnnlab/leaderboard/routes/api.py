"""The JSON API: uploads, a submission's result, marking finals, the public board, the
grades, and the health check."""

from __future__ import annotations

import functools

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cnnlab.leaderboard import grades, health, submissions, upload_check
from cnnlab.leaderboard.board_cache import BoardCache
from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.routes.web import bearer, bearer_user
from cnnlab.leaderboard.schema import utcnow
from cnnlab.leaderboard.upload import UploadRefused, drain, read_upload
from cnnlab.leaderboard.users import caller

# Uploads are checked and stored in threads of their own, this many at once: the pages' pool
# of threads (40) is not theirs to fill. In a rush, 200 uploads waiting there for a checker
# had held every thread, and a page waited a second for one.
UPLOADS_AT_ONCE = 2 * upload_check.CHECKS_AT_ONCE
# Public rows name no submission: a student's page and result are theirs alone
PRIVATE_ROW_FIELDS = ("submission", "key", "user_id")


def api_router(engine: Engine, boards: BoardCache) -> APIRouter:
    router = APIRouter()
    uploads = anyio.CapacityLimiter(UPLOADS_AT_ONCE)

    @router.get("/healthz")
    def healthz():
        status, body = health.report(engine)
        return JSONResponse(body, status_code=status)

    @router.post("/api/tasks/{task}/submissions", status_code=202)
    async def submit(task: str, request: Request):
        arrived = utcnow()  # the phase is judged here, whatever the check takes after
        uploader = await run_in_threadpool(
            submissions.check_caller, engine, task, bearer(request), arrived)
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

    @router.post("/api/submissions/{key}/final")
    async def final(key: str, request: Request):
        """{"final": true} marks the caller's submission for the private ranking; false
        unmarks it."""
        user = await run_in_threadpool(bearer_user, engine, request)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("final"), bool):
            raise Refused(400, 'send JSON {"final": true} to mark the submission final, '
                               '{"final": false} to unmark it')
        return await run_in_threadpool(submissions.mark_final, engine, key, user,
                                       body["final"])

    @router.get("/api/submissions/{key}")
    def submission(key: str, request: Request):
        """The caller's own submission (any, for an admin): 404 for anybody else's."""
        return submissions.private_view(engine, key, bearer_user(engine, request))

    @router.get("/api/tasks/{task}/grades.csv")
    def grades_csv(task: str, request: Request):
        """The task's grades, for an admin token only."""
        with reading(engine) as session:
            caller(session, bearer(request), admin=True)
        return Response(grades.grades_csv(engine, task), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{task}-grades.csv"'})

    @router.get("/api/tasks/{task}/leaderboard")
    def leaderboard(task: str, sort: str = "accuracy"):
        table = boards.get(task, ("rows", sort),
                           lambda: submissions.leaderboard_rows(engine, task, sort))
        return {**table, "rows": [{k: v for k, v in row.items() if k not in PRIVATE_ROW_FIELDS}
                                  for row in table["rows"]]}

    return router
