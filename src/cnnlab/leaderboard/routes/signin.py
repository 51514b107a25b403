"""Signing in with a token (a form guarded by a CSRF cookie) and out again."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cnnlab.leaderboard import pages, signin
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.routes.web import form, secure, viewer


def signin_router(engine: Engine) -> APIRouter:
    router = APIRouter()

    @router.get("/signin", response_class=HTMLResponse)
    def signin_form(request: Request):
        value = request.cookies.get(signin.SIGNIN_COOKIE) or signin.new_secret()
        response = HTMLResponse(pages.signin_page(value))
        response.set_cookie(signin.SIGNIN_COOKIE, value, httponly=True, samesite="strict",
                            secure=secure(request), max_age=3600)
        return response

    @router.post("/signin", response_class=HTMLResponse)
    async def signin_submit(request: Request):
        fields = await form(request)
        expected = request.cookies.get(signin.SIGNIN_COOKIE)
        signin.check_csrf(expected, fields.get("csrf"))
        try:
            cookie, expires = await run_in_threadpool(signin.sign_in, engine,
                                                      fields.get("token", ""))
        except Refused as refused:  # the form again, saying why
            return HTMLResponse(pages.signin_page(expected, refused.detail),
                                status_code=refused.status)
        response = RedirectResponse("/me", status_code=303)
        response.set_cookie(signin.SESSION_COOKIE, cookie, httponly=True, samesite="lax",
                            secure=secure(request), expires=expires)
        response.delete_cookie(signin.SIGNIN_COOKIE)
        return response

    @router.post("/signout")
    async def signout(request: Request):
        fields = await form(request)
        who = await run_in_threadpool(viewer, engine, request)
        if who is not None:
            signin.check_csrf(who[1], fields.get("csrf"))
            await run_in_threadpool(signin.sign_out, engine,
                                    request.cookies.get(signin.SESSION_COOKIE))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(signin.SESSION_COOKIE)
        return response

    return router
