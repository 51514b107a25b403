"""The Ladder (issue 35, point 6): a new public score is shown only when it beats the
student's best by more than the standard error of the paired difference; a lucky variant of
the same model is not, a better model is; the boosting attack's random variants never are.
On a task made with --ladder, the ranking, the API and the pages show what it shows (SQLite
and PostgreSQL)."""

import math

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cnnlab.cli import main
from cnnlab.leaderboard import submissions
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.ladder import ladder
from cnnlab.leaderboard.near_copies import encoded
from cnnlab.leaderboard.schema import Submission, Task, User
from cnnlab.leaderboard.tasks import add_task, reveal
from cnnlab.leaderboard.users import add_user, caller
from tests.leaderboard.lookup import signed_in


def caller_of(engine, token: str) -> User:
    with reading(engine) as session:
        return caller(session, token)


def _outcomes(rng, accuracy: float, n: int = 5000) -> np.ndarray:
    return rng.random(n) < accuracy


def test_the_first_score_is_shown_and_a_clear_improvement_too():
    rng = np.random.default_rng(0)
    first = _outcomes(rng, 0.80)
    better = first | (rng.random(5000) < 0.5)  # right wherever the first was, and more
    steps = ladder([first, better])
    assert [s.accepted for s in steps] == [True, True]
    assert steps[0].shown == first.mean() and steps[1].shown == better.mean()
    difference = better.astype(float) - first
    assert steps[1].margin == difference.std(ddof=1) / math.sqrt(5000)


def test_a_variant_within_the_standard_error_shows_the_best_again():
    rng = np.random.default_rng(1)
    first = _outcomes(rng, 0.80)
    lucky = first.copy()  # 20 right answers lost, 25 wrong ones gained: 0.1 points better
    lucky[rng.choice(np.flatnonzero(first), 20, replace=False)] = False
    lucky[rng.choice(np.flatnonzero(~first), 25, replace=False)] = True
    steps = ladder([first, lucky, first])
    assert lucky.mean() > first.mean()
    assert [s.accepted for s in steps] == [True, False, False]
    assert steps[1].shown == steps[2].shown == first.mean()  # nothing new learnt
    assert 0 < lucky.mean() - first.mean() <= steps[1].margin


def test_random_variants_are_never_shown():
    """The boosting attack's variants (benchmarks/ladder_attack.py prints it on a trained
    model): none beats the model it varies, so none is shown."""
    rng = np.random.default_rng(2)
    model = _outcomes(rng, 0.9)
    variants = [model & (rng.random(5000) < 0.95) | (rng.random(5000) < 0.02)
                for _ in range(200)]
    assert not any(step.accepted for step in ladder([model, *variants])[1:])


def _sent(engine, user: str, outcomes: np.ndarray) -> str:
    """A finished submission whose public outcomes are these (as the worker stores them: a
    byte per image, the public half first), right on every private image; its key."""
    n = len(outcomes)
    predicted = np.r_[np.where(outcomes, 0, 1), np.zeros(n, int)]
    with writing(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "fm"))
        owner = session.scalar(select(User).where(User.name == user))
        row = Submission(task_id=task.id, user_id=owner.id, label=f"{user} {outcomes.mean()}",
                         size=1, status="finished", attempts=1,
                         public_accuracy=float(outcomes.mean()), private_accuracy=1.0,
                         images_per_s=1000.0, reference_ratio=1.0,
                         details={"public": {"images": n}},
                         predictions=encoded(predicted, np.zeros(2 * n, int)))
        session.add(row)
        session.flush()
        return row.key


def _shown(engine) -> list[tuple[str, float, str]]:
    return [(r["user"], r["accuracy"], r["key"])
            for r in submissions.leaderboard_rows(engine, "fm")["rows"]]


def test_a_ladder_task_withholds_a_score_that_is_no_real_improvement(engine):
    """On SQLite and PostgreSQL: the ranking, the API and the page show the student their
    best again for a variant within the standard error, and a real improvement at once."""
    add_task(engine, "fm", "fashion-mnist", ladder=True, min_accuracy=0.0)
    token = add_user(engine, "alice")
    rng = np.random.default_rng(1)
    first = _outcomes(rng, 0.80)
    lucky = first.copy()
    lucky[rng.choice(np.flatnonzero(first), 20, replace=False)] = False
    lucky[rng.choice(np.flatnonzero(~first), 25, replace=False)] = True
    keys = [_sent(engine, "alice", first), _sent(engine, "alice", lucky)]
    assert _shown(engine) == [("alice", first.mean(), keys[0])]
    user = caller_of(engine, token)
    view = submissions.private_view(engine, keys[1], user)
    assert view["accuracy"] == first.mean() != lucky.mean()
    assert view["ladder"]["new_score"] is False and view["ladder"]["margin"] > 0
    page = " ".join(signed_in(TestClient(create_app(engine)), token)
                    .get(f"/submissions/{keys[1]}").text.split())
    assert "The Ladder shows no new public score for this submission" in page
    assert f"{100 * lucky.mean():.2f}%" not in page
    mine = signed_in(TestClient(create_app(engine)), token).get("/me").text  # one Ladder
    assert f"{100 * first.mean():.2f}%" in mine and f"{100 * lucky.mean():.2f}%" not in mine
    better = first | (rng.random(len(first)) < 0.3)
    keys.append(_sent(engine, "alice", better))
    assert _shown(engine) == [("alice", better.mean(), keys[2])]
    assert "through the Ladder" in TestClient(create_app(engine)).get("/tasks/fm").text
    reveal(engine, "fm")  # the private half ranks now, the Ladder is done
    assert submissions.leaderboard_rows(engine, "fm")["ladder"] is False


def test_without_the_ladder_the_lucky_variant_s_score_is_shown(engine):
    add_task(engine, "fm", "fashion-mnist", min_accuracy=0.0)
    add_user(engine, "alice")
    rng = np.random.default_rng(1)
    first = _outcomes(rng, 0.80)
    lucky = first.copy()
    lucky[rng.choice(np.flatnonzero(~first), 5, replace=False)] = True
    _sent(engine, "alice", first)
    key = _sent(engine, "alice", lucky)
    assert _shown(engine) == [("alice", lucky.mean(), key)]


def test_the_ladder_is_for_model_tasks(engine, capsys):
    with pytest.raises(ValueError, match="--ladder applies to a model task"):
        add_task(engine, "ex", None, exercise="relu", ladder=True)
    db = engine.url.render_as_string(hide_password=False)
    assert main(["leaderboard", "add-task", "fm", "--dataset", "fashion-mnist", "--ladder",
                 "--db", db]) == 0
    assert "public scores go through the Ladder" in capsys.readouterr().out
    with reading(engine) as session:
        assert session.scalar(select(Task)).ladder
