"""The board is computed once per change of its data (issue 36: pages under a deadline rush),
on SQLite and PostgreSQL: reads without a change reuse it, and every change the board shows
(a result, a final mark, a copy flagged, cleared or confirmed, a student disabled, the task
revealed) makes the next read compute it again, for the page and the API alike."""

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from cnnlab.leaderboard import pages, submissions
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.board_cache import data_version
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
