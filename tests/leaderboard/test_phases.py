"""Phases and final submissions (issue 15, point 2), on SQLite and PostgreSQL, against the real
server on loopback: a task refuses submissions before it opens and after it closes (403 with
the times), reveal waits for the closing time, and the private ranking uses the submissions
each student marked final, or their best on the public half, never the private half."""

import datetime
import time
import urllib.request

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from cnnlab.cli import main
from cnnlab.leaderboard import client, submissions
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.schema import Submission, Task, User, as_utc
from cnnlab.leaderboard.tasks import add_task, reveal
from cnnlab.leaderboard.users import add_user
from tests.browser import loopback
from tests.leaderboard.lookup import key_of, signed_in
from tests.onnx_models import minimal_classifier

NOW = datetime.datetime.now(datetime.UTC)
HOUR = datetime.timedelta(hours=1)


def model(number: int) -> str:
    """A file of a small classifier of its own (two students' identical files are copies)."""
    return minimal_classifier(weight=np.full(7840, number / 1e6)).SerializeToString()


def test_outside_its_phase_a_task_refuses_submissions_with_the_times(engine, tmp_path):
    token = add_user(engine, "alice")
    add_task(engine, "early", "fashion-mnist", opens=NOW + HOUR, closes=NOW + 2 * HOUR)
    add_task(engine, "late", "fashion-mnist", opens=NOW - 2 * HOUR, closes=NOW - HOUR)
    add_task(engine, "now", "fashion-mnist", opens=NOW - HOUR, closes=NOW + HOUR)
    path = tmp_path / "m.onnx"
    path.write_bytes(model(1))
    with loopback(create_app(engine)) as url:
        with pytest.raises(client.SubmitError) as early:
            client.submit(url, token, "early", path)
        with pytest.raises(client.SubmitError) as late:
            client.submit(url, token, "late", path)
        assert client.submit(url, token, "now", path)["status"] == "queued"
    opens = (NOW + HOUR).isoformat().replace("+00:00", "Z")
    closed = (NOW - HOUR).isoformat().replace("+00:00", "Z")
    assert str(early.value) == (f"the server answered 403: task early opens at {opens}; a "
                                "submission before then is refused")
    assert str(late.value) == (f"the server answered 403: task late closed at {closed}; it "
                               "takes no more submissions")
    with reading(engine) as session:  # nothing was recorded for the refused ones
        assert [s.task.name for s in session.scalars(select(Submission))] == ["now"]


def test_reveal_waits_for_the_closing_time_unless_forced_and_then_closes(engine, tmp_path):
    """Issue 35, point 3: a task revealed early with --force, or one that never had a closing
    time, takes no more submissions: a new file's score would be on the private half."""
    token = add_user(engine, "alice")
    add_task(engine, "open", "fashion-mnist", closes=NOW + HOUR)
    add_task(engine, "endless", "fashion-mnist")
    add_task(engine, "old", "fashion-mnist")
    with pytest.raises(ValueError, match=r"task open closes at .*: reveal it after that"):
        reveal(engine, "open")
    assert reveal(engine, "open", force=True).revealed
    reveal(engine, "endless")
    with writing(engine) as session:  # revealed before reveal closed tasks: still open
        session.execute(update(Task).where(Task.name == "old").values(revealed=True))
    with reading(engine) as session:
        closes = {t.name: t.closes_at for t in session.scalars(select(Task))}
    assert closes["open"] is not None and as_utc(closes["open"]) < NOW + HOUR
    assert closes["endless"] is not None and closes["old"] is None
    path = tmp_path / "m.onnx"
    path.write_bytes(model(1))
    with loopback(create_app(engine)) as url:
        for name in ("open", "endless", "old"):
            with pytest.raises(client.SubmitError, match=f"403: task {name} is revealed: its "
                                                         "private ranking is out"):
                client.submit(url, token, name, path)
    with reading(engine) as session:
        assert session.scalar(select(Submission)) is None  # nothing recorded


def _finished(engine, user: str, number: int, public: float, private: float) -> int:
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "fm")).id
        owner = session.scalar(select(User).where(User.name == user)).id
    submission = submissions.submit(engine, task, owner, model(number), f"{user} {number}")
    with writing(engine) as session:
        session.execute(update(Submission).where(Submission.id == submission).values(
            status="finished", public_accuracy=public, private_accuracy=private,
            images_per_s=1000.0 + number))
    return key_of(engine, submission)


def test_the_private_ranking_uses_the_finals_and_never_the_private_half(board):
    engine, alice = board
    bob = add_user(engine, "bob")
    a1 = _finished(engine, "alice", 1, public=0.90, private=0.70)
    a2 = _finished(engine, "alice", 2, public=0.85, private=0.95)
    _finished(engine, "alice", 3, public=0.80, private=0.99)
    _finished(engine, "bob", 4, public=0.91, private=0.60)
    b2 = _finished(engine, "bob", 5, public=0.89, private=0.65)
    _finished(engine, "bob", 6, public=0.70, private=0.99)  # not among his best 2 public
    with loopback(create_app(engine)) as url:
        assert client.mark_final(url, alice, a2)["finals"] == [a2]
        assert client.mark_final(url, alice, a1)["finals"] == [a1, a2]
        assert client.mark_final(url, alice, a2, final=False)["finals"] == [a1]
        with pytest.raises(client.SubmitError, match="404: you have no submission"):
            client.mark_final(url, bob, a1)  # alice's: bob cannot mark it
        page = signed_in(TestClient(create_app(engine)), alice).get(f"/submissions/{a1}").text
        assert "Marked final by its author" in page
        with urllib.request.urlopen(f"{url}/tasks/fm", timeout=30) as response:
            page = " ".join(response.read().decode().split())
        assert "the submissions they mark final (up to 2" in page
        before = submissions.leaderboard_rows(engine, "fm")["rows"]
        reveal(engine, "fm")
        with pytest.raises(client.SubmitError, match="403: task fm is revealed"):
            client.mark_final(url, alice, a2)
    assert [(r["user"], r["accuracy"]) for r in before] == [("bob", 0.91), ("alice", 0.90)]
    after = submissions.leaderboard_rows(engine, "fm")["rows"]
    # alice: her one final (0.70), not her 0.99; bob: none marked, so his best two on the
    # public half (0.91, 0.89), of which the better private is 0.65, not his 0.99
    assert [(r["user"], r["key"], r["accuracy"]) for r in after] == \
        [("alice", a1, 0.70), ("bob", b2, 0.65)]


def test_final_marks_are_limited_to_evaluated_submissions_and_the_task_s_count(board):
    engine, alice = board
    with writing(engine) as session:  # four files today: above the fixture's limit of 3
        session.execute(update(Task).values(daily_limit=10))
    marked = [_finished(engine, "alice", n, 0.8, 0.8) for n in (1, 2, 3)]
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "fm")).id
        owner = session.scalar(select(User).where(User.name == "alice")).id
    queued = key_of(engine, submissions.submit(engine, task, owner, model(9), ""))
    with loopback(create_app(engine)) as url:
        client.mark_final(url, alice, marked[0])
        client.mark_final(url, alice, marked[1])
        with pytest.raises(client.SubmitError) as third:
            client.mark_final(url, alice, marked[2])
        with pytest.raises(client.SubmitError, match=f"400: submission {queued} is queued; "
                                                     "only an evaluated submission"):
            client.mark_final(url, alice, queued)
    assert str(third.value) == (f"the server answered 409: you have marked 2 final "
                                f"submissions already ({marked[0]}, {marked[1]}), the most "
                                "task fm takes; unmark one first")


def test_the_commands_a_teacher_and_a_student_type(board, tmp_path, capsys):
    engine, alice = board
    db = engine.url.render_as_string(hide_password=False)
    for arguments, message in (
            (["--opens", "2026-12-01T09:00"], "give the time zone too (e.g. "
                                              "2026-12-01T09:00+01:00, or 2026-12-01T09:00Z"),
            (["--opens", "next monday"], "expected an ISO 8601 time with its zone"),
            (["--opens", "2026-12-02T09:00Z", "--closes", "2026-12-01T09:00+01:00"],
             "is not before --closes"),
            (["--final", "0"], "--final must be from 1 to 20")):
        assert main(["leaderboard", "add-task", "t", "--dataset", "fashion-mnist", *arguments,
                     "--db", db]) == 2
        assert message in capsys.readouterr().err
    assert main(["leaderboard", "add-task", "t", "--dataset", "fashion-mnist", "--opens",
                 "2026-12-01T09:00+01:00", "--closes", "2099-12-24T18:00+01:00", "--db",
                 db]) == 0
    assert "takes submissions from 2026-12-01T08:00:00+00:00 until 2099-12-24T17:00:00+00:00" \
        in capsys.readouterr().out
    assert main(["leaderboard", "reveal", "t", "--db", db]) == 2
    assert "reveal it after that" in capsys.readouterr().err
    assert main(["leaderboard", "reveal", "t", "--force", "--db", db]) == 0
    assert "ranked on its private half" in capsys.readouterr().out
    number = _finished(engine, "alice", 1, 0.8, 0.8)
    with loopback(create_app(engine)) as url:
        assert main(["final", str(number), "--server", url, "--token", alice]) == 0
        assert capsys.readouterr().out.strip() == (
            f"submission {number}: marked final; your final submissions on its task: {number}")
        assert main(["final", str(number), "--unmark", "--server", url, "--token",
                     alice]) == 0
        assert "unmarked final; your final submissions on its task: none" in \
            capsys.readouterr().out


def test_an_upload_that_arrived_before_the_closing_time_is_taken_whenever_its_check_ends(
        engine, tmp_path, monkeypatch):
    """Issue 36, point 3, with the check slowed on purpose until past the closing time: the
    upload is taken; one that arrives after it is refused with the times; and a request that
    began in time cannot hold the door open for a file that comes long after."""
    from cnnlab.leaderboard import upload_check
    from cnnlab.leaderboard.refusals import Refused

    token = add_user(engine, "alice")
    closes = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=3)
    add_task(engine, "closing", "fashion-mnist", closes=closes)
    real_check = upload_check.check

    def slow_check(data, kind):
        time.sleep(max(0.0, (closes - datetime.datetime.now(datetime.UTC)).total_seconds())
                   + 0.5)
        return real_check(data, kind)

    monkeypatch.setattr(upload_check, "check", slow_check)
    path = tmp_path / "m.onnx"
    path.write_bytes(model(1))
    with loopback(create_app(engine)) as url:
        assert client.submit(url, token, "closing", path)["status"] == "queued"
        assert datetime.datetime.now(datetime.UTC) > closes  # its check ended after closing
        with pytest.raises(client.SubmitError, match="403: task closing closed at "):
            client.submit(url, token, "closing", path)
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "closing"))
        alice = session.scalar(select(User).where(User.name == "alice"))
        assert [s.status for s in session.scalars(select(Submission))] == ["queued"]
    late = closes + datetime.timedelta(seconds=submissions.LATE_FILE_GRACE_S + 1)
    with pytest.raises(Refused, match=r"this upload began at .* but its file finished "
                                      r"arriving only at .*, more than 120 s after"):
        submissions.submit(engine, task.id, alice.id, model(2), "trickled",
                           arrived=closes - datetime.timedelta(seconds=1), received=late)
