"""The board is computed once per change of its data (issue 36: pages under a deadline rush),
on SQLite and PostgreSQL: reads without a change reuse it, and every change the board shows
(a result, a final mark, a copy flagged, cleared or confirmed, a student disabled, the task
revealed) makes the next read compute it again, for the page and the API alike."""

import concurrent.futures
import time

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from cnnlab.leaderboard import pages, submissions
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.board_cache import BoardCache, data_version
from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.schema import Submission, Task, User
from cnnlab.leaderboard.tasks import add_task
from cnnlab.leaderboard.users import add_user
from tests.onnx_models import minimal_classifier


def _model(number: int) -> bytes:
    return minimal_classifier(weight=[number / 1e6] * 7840).SerializeToString()


def _finish(engine, key_or_id, accuracy: float) -> None:
    with writing(engine) as session:
        session.execute(update(Submission).where(Submission.id == key_or_id).values(
            status="finished", public_accuracy=accuracy, private_accuracy=accuracy,
            images_per_s=1000.0, reference_ratio=1.0,
            finished_at=Submission.created_at))


def test_the_board_is_computed_once_per_change(engine, monkeypatch):
    add_task(engine, "fm", "fashion-mnist", final=1)
    for name in ("alice", "bob"):
        add_user(engine, name)
    with reading(engine) as session:
        task = session.scalar(select(Task)).id
        users = {u.name: u.id for u in session.scalars(select(User))}
    computed = []
    real = submissions.leaderboard_rows
    monkeypatch.setattr(submissions, "leaderboard_rows",
                        lambda *a, **k: computed.append(a[1]) or real(*a, **k))
    monkeypatch.setattr(pages, "leaderboard_rows", submissions.leaderboard_rows)
    http = TestClient(create_app(engine))

    def read() -> tuple[str, list[str]]:
        page = http.get("/tasks/fm").text
        api = http.get("/api/tasks/fm/leaderboard").json()
        return page, [row["user"] for row in api["rows"]]

    alice = submissions.submit(engine, task, users["alice"], _model(1), "a")
    _finish(engine, alice, 0.80)
    page, ranked = read()
    assert ranked == ["alice"] and computed == ["fm", "fm"]  # the page's and the API's
    for _ in range(3):
        assert read() == (page, ranked)
    assert len(computed) == 2  # nothing changed: nothing computed

    def changes_the_board(change) -> tuple[str, list[str]]:
        before = data_version(engine, "fm")
        count = len(computed)
        change()
        assert data_version(engine, "fm") != before
        shown = read()
        assert len(computed) == count + 2
        return shown

    bob = submissions.submit(engine, task, users["bob"], _model(2), "b")
    assert changes_the_board(lambda: _finish(engine, bob, 0.90))[1] == ["bob", "alice"]

    def flag() -> None:
        with writing(engine) as session:
            session.execute(update(Submission).where(Submission.id == bob)
                            .values(copy_of=alice, copy_kind="near"))

    assert changes_the_board(flag)[1] == ["alice"]

    def clear() -> None:
        with writing(engine) as session:
            session.execute(update(Submission).where(Submission.id == bob)
                            .values(copy_cleared=True))

    assert changes_the_board(clear)[1] == ["bob", "alice"]

    def disable() -> None:
        with writing(engine) as session:
            session.execute(update(User).where(User.id == users["bob"]).values(disabled=True))

    assert changes_the_board(disable)[1] == ["alice"]

    def mark_final() -> None:
        with writing(engine) as session:
            session.execute(update(Submission).where(Submission.id == alice)
                            .values(final=True))

    changes_the_board(mark_final)

    def reveal() -> None:
        with writing(engine) as session:
            session.execute(update(Task).where(Task.id == task).values(revealed=True))

    page, _ = changes_the_board(reveal)
    assert "private" in page


def test_a_served_board_may_be_fresh_s_old_and_a_rush_computes_it_once(engine):
    """`leaderboard serve` trusts the version it saw for SERVED_FRESH_S: a change shows
    after that long at most; and readers who all miss at once after a change wait for one
    of them to compute the board, instead of each computing it."""
    add_task(engine, "fm", "fashion-mnist")
    add_user(engine, "alice")
    with reading(engine) as session:
        task, alice = session.scalar(select(Task)).id, session.scalar(select(User)).id
    boards = BoardCache(engine, fresh_s=0.5)
    computed = []

    def compute():
        computed.append(data_version(engine, "fm"))
        time.sleep(0.2)  # long enough for the other readers to arrive meanwhile
        return len(computed)

    with concurrent.futures.ThreadPoolExecutor(8) as readers:
        values = list(readers.map(lambda _: boards.get("fm", ("rows",), compute), range(8)))
    assert values == [1] * 8 and len(computed) == 1
    _finish(engine, submissions.submit(engine, task, alice, _model(1), "a"), 0.8)
    assert boards.get("fm", ("rows",), compute) == 1  # within fresh_s: the board seen
    time.sleep(0.5)
    assert boards.get("fm", ("rows",), compute) == 2  # past it: the change shows
    assert computed[1] == data_version(engine, "fm") != computed[0]
