"""The pages a browser sees: the index, a task's board, a submission, the student's own page
(where they mark their finals) and the teacher's."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cnnlab.leaderboard import pages, signin, submissions
from cnnlab.leaderboard.board_cache import BoardCache
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.routes.web import form, viewer


def page_router(engine: Engine, boards: BoardCache) -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    def index(request: Request):
        return pages.index_page(engine, viewer(engine, request))

    @router.get("/tasks/{task}", response_class=HTMLResponse)
    def task_page(task: str, request: Request, sort: str = "accuracy"):
        return pages.task_page(engine, task, sort, viewer(engine, request), boards)

    @router.get("/submissions/{key}", response_class=HTMLResponse)
    def submission_page(key: str, request: Request):
        return pages.submission_page(engine, key, viewer(engine, request))

    @router.get("/me", response_class=HTMLResponse)
    def own_page(request: Request):
        return pages.own_page(engine, viewer(engine, request))

    @router.post("/me/final")
    async def own_final(request: Request):
        fields = await form(request)
        who = await run_in_threadpool(viewer, engine, request)
        if who is None:
            raise Refused(401, "sign in with your token to mark your final submissions")
        signin.check_csrf(who[1], fields.get("csrf"))
        await run_in_threadpool(submissions.mark_final, engine, fields.get("key", ""),
                                who[0], fields.get("final") == "1")
        return RedirectResponse("/me", status_code=303)

    @router.get("/admin", response_class=HTMLResponse)
    def admin_page(request: Request):
        return pages.admin_page(engine, viewer(engine, request))

    return router
