"""Users: students (from the roster, known by their student id) and admins (the teacher), each
with a token.

A token is 256 random bits shown once; only its SHA-256 is stored. A fast hash is enough
for a random 256-bit secret (nothing to brute-force, unlike a password), and the comparison
is constant-time. A lost token is never recovered, only replaced (`reset_token`)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import Engine, bindparam, func, select

from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.schema import Submission, User

# A fixed prefix: a token never starts with "-" (which `--token -x...` would read as an
# option), and secret scanners can recognise a leaked one.
TOKEN_PREFIX = "cnnlab_"
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")  # a typo caught, not RFC 5322


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """(the token to hand over, the hash to store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


def checked_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise ValueError(f"user name {name!r}: use 1 to 100 printable characters")
    return name


def checked_student_id(student_id: str) -> str:
    student_id = student_id.strip()
    if not 1 <= len(student_id) <= 100 or not student_id.isprintable():
        raise ValueError(f"student id {student_id!r}: use 1 to 100 printable characters")
    return student_id


def checked_email(email: str | None) -> str | None:
    email = (email or "").strip()
    if not email:
        return None
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise ValueError(f"email {email!r} is not an address (expected name@host.domain)")
    return email


def add_user(engine: Engine, name: str, student_id: str | None = None,
             email: str | None = None, admin: bool = False) -> str:
    """Create a user and return their token (shown once, stored hashed). Two students may
    share a name when their student ids differ; without a student id a name is taken once."""
    name = checked_name(name)
    student_id = checked_student_id(student_id) if student_id is not None else None
    email = checked_email(email)
    token, digest = new_token()
    with writing(engine) as session:
        if student_id is not None:
            if session.scalar(select(User).where(User.student_id == student_id)):
                raise ValueError(f"a user with student id {student_id!r} exists already "
                                 "(reset-token gives them a new token)")
        elif session.scalar(select(User).where(User.name == name,
                                               User.student_id.is_(None))):
            raise ValueError(f"a user named {name!r} exists already; give --student-id to "
                             "add another person of that name")
        session.add(User(name=name, student_id=student_id, email=email, token_hash=digest,
                         admin=admin))
    return token


_USER_OF_TOKEN = select(User).where(User.token_hash == bindparam("digest"))  # built once


def _by_token(session, token: str | None) -> User | None:
    if not token:
        return None
    digest = hash_token(token)
    user = session.scalar(_USER_OF_TOKEN, {"digest": digest})
    if user is None or not hmac.compare_digest(user.token_hash, digest):
        return None
    return user


def caller(session, token: str | None, admin: bool = False) -> User:
    """The user whose token this is: 401 for none or an unknown one, 403 for a disabled user
    or, where an admin is needed, a student."""
    user = _by_token(session, token)
    if user is None:
        raise Refused(401, "missing or unknown token (send 'Authorization: Bearer TOKEN')")
    if user.disabled:
        raise Refused(403, "this account is disabled; ask your teacher")
    if admin and not user.admin:
        raise Refused(403, "this needs an admin token (the teacher's: add-user NAME --admin)")
    return user


def find_user(session, reference: str) -> User:
    """The user a teacher names on the command line: #N (the number list-users shows), a
    student id, or a name only one user has."""
    reference = reference.strip()
    if reference.startswith("#") and reference[1:].isdigit():
        user = session.get(User, int(reference[1:])) if int(reference[1:]) < 2**31 else None
        if user is None:
            raise ValueError(f"no user {reference} (list-users shows them)")
        return user
    user = session.scalar(select(User).where(User.student_id == reference))
    if user is not None:
        return user
    named = session.scalars(select(User).where(User.name == reference)
                            .order_by(User.id)).all()
    if len(named) == 1:
        return named[0]
    if named:
        which = ", ".join(f"#{u.id} (student id {u.student_id or 'none'})" for u in named)
        raise ValueError(f"{len(named)} users are named {reference!r}: {which}; give the "
                         "student id or #N")
    raise ValueError(f"no user with student id or name {reference!r} (list-users shows them)")


def reset_token(engine: Engine, reference: str) -> tuple[User, str]:
    """A new token for the user; the old one stops working at once."""
    token, digest = new_token()
    with writing(engine) as session:
        user = find_user(session, reference)
        user.token_hash = digest
    return user, token


def set_disabled(engine: Engine, reference: str, disabled: bool) -> User:
    with writing(engine) as session:
        user = find_user(session, reference)
        user.disabled = disabled
    return user


def list_users(engine: Engine) -> list[dict]:
    """Every user with how many submissions they made (to any task), admins first."""
    with reading(engine) as session:
        counts = dict(session.execute(
            select(Submission.user_id, func.count()).group_by(Submission.user_id)).all())
        users = session.scalars(select(User).order_by(User.admin.desc(), User.id)).all()
        return [{"id": u.id, "student_id": u.student_id, "name": u.name, "email": u.email,
                 "admin": u.admin, "disabled": u.disabled,
                 "submissions": counts.get(u.id, 0)} for u in users]
