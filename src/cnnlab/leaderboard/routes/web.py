"""What the routers share: who is calling (a bearer token for the API, a session cookie for
the pages), whether the request came over HTTPS, and a form's text fields."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from cnnlab.leaderboard import signin
from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.users import caller


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def bearer_user(engine: Engine, request: Request):
    with reading(engine) as session:
        return caller(session, bearer(request))


def viewer(engine: Engine, request: Request):
    """(user, csrf secret) of the signed-in session, or None."""
    return signin.viewer(engine, request.cookies.get(signin.SESSION_COOKIE))


def viewer_if_possible(engine: Engine, request: Request):
    """For an error page: who is signed in, unless the database is what failed."""
    try:
        return viewer(engine, request)
    except DBAPIError:
        return None


def secure(request: Request) -> bool:
    """Whether the cookie may travel over HTTPS only (behind a proxy that says so too)."""
    return request.url.scheme == "https" or \
        request.headers.get("x-forwarded-proto", "").lower() == "https"


async def form(request: Request) -> dict:
    fields = await request.form()
    return {key: value for key, value in fields.items() if isinstance(value, str)}
