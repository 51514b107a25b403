"""What /healthz reports: the database answers, a worker is alive, how long the queue's
oldest submission has waited, and the upload checkers. Unhealthy (503) when no worker has
reported recently (uploads would be accepted and wait forever), or when no checker can start
(uploads would be refused)."""

from __future__ import annotations

import datetime

from sqlalchemy import Engine, and_, func, or_, select

from cnnlab.leaderboard import upload_check
from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.schema import Submission, Worker, as_utc, utcnow
from cnnlab.leaderboard.worker import HEARTBEAT_S

ALIVE_S = 3 * HEARTBEAT_S  # a worker not heard from for longer is taken for gone
SHOWN_S = 3600  # workers gone longer ago than this are not listed


def report(engine: Engine) -> tuple[int, dict]:
    """(HTTP status, body)."""
    now = utcnow()
    with reading(engine) as session:
        workers = session.scalars(
            select(Worker).where(Worker.seen_at >= now - datetime.timedelta(seconds=SHOWN_S))
            .order_by(Worker.seen_at.desc())).all()
        waiting = or_(Submission.status == "queued",
                      and_(Submission.status == "running", Submission.lease_expires_at < now))
        count, oldest = session.execute(
            select(func.count(), func.min(Submission.created_at)).where(waiting)).one()
        running = session.scalar(select(func.count()).select_from(Submission).where(
            Submission.status == "running", Submission.lease_expires_at >= now))
    listed = [{"name": w.name, "alive": (now - as_utc(w.seen_at)).total_seconds() <= ALIVE_S,
               "seen_s_ago": round((now - as_utc(w.seen_at)).total_seconds(), 1),
               "evaluating": w.submission_id} for w in workers]
    problems = []
    if not any(w["alive"] for w in listed):
        problems.append(f"no verification worker has reported in the last {ALIVE_S} s: "
                        "submissions wait until one runs (cnnlab leaderboard worker)")
    checkers = upload_check.pool_state()
    if checkers and checkers["start_error"] and not checkers["idle"]:
        problems.append(f"no upload checker can start ({checkers['start_error']}): uploads "
                        "are refused with 503")
    body = {"status": "unavailable" if problems else "ok", "problems": problems,
            "checkers": checkers,
            "workers": listed,
            "queue": {"waiting": count, "running": running,
                      "oldest_waiting_s": round((now - as_utc(oldest)).total_seconds(), 1)
                      if oldest else None}}
    return (503 if problems else 200), body
