"""Signing in on the pages: a student's token is exchanged once for a session cookie, and every
form of a signed-in page carries the session's CSRF token.

The cookie is 256 random bits; the database keeps its SHA-256 only, as it does tokens. It is
HttpOnly (no script reads it) and SameSite=Lax (another site's form posts without it); the
CSRF token on every form is the second lock, for browsers or proxies that do not honour
SameSite. The sign-in form, which has no session yet, is protected by a double-submit cookie
(a random value both in a cookie and in the form), so that another site cannot sign a
visitor in under its own token."""

from __future__ import annotations

import datetime
import hmac
import secrets

from sqlalchemy import Engine, delete

from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.schema import SignedIn, User, as_utc, utcnow
from cnnlab.leaderboard.users import caller, hash_token

SESSION_COOKIE = "cnnlab_session"
SIGNIN_COOKIE = "cnnlab_signin"  # the sign-in form's double-submit value
SESSION_DAYS = 14


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def sign_in(engine: Engine, token: str) -> tuple[str, datetime.datetime]:
    """A new session for the token's user: (the cookie's value, when it expires)."""
    cookie = new_secret()
    expires = utcnow() + datetime.timedelta(days=SESSION_DAYS)
    with writing(engine) as session:
        user = caller(session, token.strip())
        session.execute(delete(SignedIn).where(SignedIn.user_id == user.id,
                                               SignedIn.expires_at < utcnow()))
        session.add(SignedIn(digest=hash_token(cookie), user_id=user.id,
                             token_hash=user.token_hash, csrf=new_secret(),
                             expires_at=expires))
    return cookie, expires


def viewer(engine: Engine, cookie: str | None) -> tuple[User, str] | None:
    """(the signed-in user, their forms' CSRF token), or None: no cookie, an unknown or
    expired one, a token reset or a user disabled since."""
    if not cookie:
        return None
    with reading(engine) as session:
        signed = session.get(SignedIn, hash_token(cookie))
        if signed is None or as_utc(signed.expires_at) <= utcnow():
            return None
        user = session.get(User, signed.user_id)
        if user.disabled or not hmac.compare_digest(user.token_hash, signed.token_hash):
            return None
        return user, signed.csrf


def sign_out(engine: Engine, cookie: str | None) -> None:
    if cookie:
        with writing(engine) as session:
            session.execute(delete(SignedIn).where(SignedIn.digest == hash_token(cookie)))


def check_csrf(expected: str | None, given: str | None) -> None:
    """403 unless the form carried the page's CSRF token."""
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise Refused(403, "this form's security token is missing or out of date (it protects "
                           "you from another site sending it in your name): reload the page "
                           "and send it again")
