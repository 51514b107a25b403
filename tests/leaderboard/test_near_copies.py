"""Near copies (issue 35, point 1), on SQLite and PostgreSQL with the real worker: a
classmate's trained model with its channels permuted, with Identity and add-zero nodes, with a
weight nudged by 1e-6, in another opset, with its channels rescaled, its batch norm unfolded
or its last linear layer split in two predicts what the original predicts and has its
canonical weights, so each is flagged as a suspected copy of the earlier submission, with the
evidence for the teacher, and left unranked until cleared; a copy fine-tuned a few hundred
steps is flagged by its weights; a model trained honestly from another seed is not flagged.
(The thresholds and every copy kind are measured in benchmarks/copy_detection.py.)"""

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import undefer

from cnnlab.cli import main
from cnnlab.leaderboard import submissions
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.canonical_weights import unpacked, weight_distance
from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.near_copies import (
    NEAR_ERROR_AGREEMENT,
    NEAR_WEIGHT_DISTANCE,
    encoded,
    error_agreement,
)
from cnnlab.leaderboard.results import storable
from cnnlab.leaderboard.schema import Submission, Task, User
from cnnlab.leaderboard.users import add_user
from cnnlab.leaderboard.worker import Limits, claim, evaluate_in_child, finish, work_once
from tests.leaderboard.lookup import key_of, signed_in
from tests.onnx_models import (
    fine_tuned,
    one_weight,
    other_opset,
    padded_graph,
    permuted,
    rescaled,
    split_linear,
    unfolded_batch_norm,
)

FAST = Limits(repeats=1)
# copies of alice's model that compute what it computes, and one fine-tuned
SAME_FUNCTION = ("bob", "carol", "dan", "george", "harry", "ivan")


@pytest.fixture(scope="session")
def fine_tuned_onnx(trained_run):
    """The trained LeNet-5 fine-tuned 300 steps more: its predictions drift from the
    original's, its weights stay near them."""
    return fine_tuned(trained_run, 300)


@pytest.fixture
def evaluated(board, trained_onnx, second_trained_onnx, fine_tuned_onnx):
    """alice's trained model first; then bob, carol, dan, erin, george, harry and ivan each
    send a disguised copy of it, judy one fine-tuned, and frank a model he trained himself;
    all evaluated by the worker."""
    engine, _ = board
    original = trained_onnx.read_bytes()
    files = {"alice": original, "bob": permuted(original), "carol": padded_graph(original),
             "dan": one_weight(original, 1e-6), "erin": other_opset(original),
             "george": rescaled(original), "harry": unfolded_batch_norm(original),
             "ivan": split_linear(original), "judy": fine_tuned_onnx,
             "frank": second_trained_onnx.read_bytes()}
    tokens = {"alice": board[1]} | {user: add_user(engine, user) for user in list(files)[1:]}
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "fm")).id
        ids = {u.name: u.id for u in session.scalars(select(User))}
    numbers = {user: submissions.submit(engine, task, ids[user], data, f"{user}'s")
               for user, data in files.items()}
    while work_once(engine, "w", FAST):
        pass
    return engine, tokens, {user: key_of(engine, n) for user, n in numbers.items()}


def _rows(engine) -> dict[str, Submission]:
    with reading(engine) as session:
        query = select(Submission).options(undefer(Submission.predictions),
                                       undefer(Submission.weights))
        return {row.label.split("'")[0]: row for row in session.scalars(query)}


def test_disguised_copies_are_flagged_an_honest_model_is_not_and_the_teacher_judges(
        evaluated, capsys):
    """One test for both halves: each costs ten evaluations per database."""
    _flagged_and_not(evaluated)
    _the_teacher_sees_the_evidence_and_judges(evaluated, capsys)


def _flagged_and_not(evaluated):
    engine = evaluated[0]
    rows = _rows(engine)
    assert all(row.status == "finished" for row in rows.values()), \
        {u: r.error for u, r in rows.items()}
    original = rows["alice"].id
    for user in SAME_FUNCTION:  # another file, the same function and canonical weights
        assert (rows[user].copy_of, rows[user].copy_kind, rows[user].copy_agreement) == \
            (original, "near", 1.0), user
        assert rows[user].copy_weight_distance < 1e-5, user
    # another opset is the same model to the fingerprint: flagged at upload, its figures added
    assert (rows["erin"].copy_of, rows["erin"].copy_kind, rows["erin"].copy_agreement) == \
        (original, "exact", 1.0)
    assert rows["erin"].copy_weight_distance < 1e-5
    # fine-tuned: other predictions, but weights a fraction of an honest pair's distance apart
    judy = rows["judy"]
    assert (judy.copy_of, judy.copy_kind) == (original, "near")
    assert judy.copy_agreement < 1.0 and 1e-3 < judy.copy_weight_distance < NEAR_WEIGHT_DISTANCE
    assert rows["frank"].copy_of is None and rows["alice"].copy_of is None
    honest = error_agreement(rows["alice"].predictions, rows["frank"].predictions)
    assert honest < NEAR_ERROR_AGREEMENT
    apart = weight_distance(unpacked(rows["alice"].weights), unpacked(rows["frank"].weights))
    assert apart > 2 * NEAR_WEIGHT_DISTANCE
    assert rows["alice"].weights_architecture == rows["frank"].weights_architecture
    ranked = [row["user"] for row in submissions.leaderboard_rows(engine, "fm")["rows"]]
    assert sorted(ranked) == ["alice", "frank"]


def _the_teacher_sees_the_evidence_and_judges(evaluated, capsys):
    engine, tokens, keys = evaluated
    teacher = add_user(engine, "teacher", admin=True)
    page = " ".join(signed_in(TestClient(create_app(engine)), teacher)
                    .get(f"/submissions/{keys['bob']}").text.split())
    assert f"A suspected near copy of submission <a href=\"/submissions/{keys['alice']}\">" \
           in page and "Evidence: the same predictions on 100.00% of the hidden images either " \
           "gets wrong (honest models: under 55%); a weight distance of 0.0000 after " \
           "canonical ordering (the same network: 0; honest models: 0.9 or more)." in page
    student = " ".join(signed_in(TestClient(create_app(engine)), tokens["bob"])
                       .get(f"/submissions/{keys['bob']}").text.split())
    assert "Flagged as a copy of a submission sent earlier by another student" in student
    assert keys["alice"] not in student  # whose it copies is the teacher's to see
    admin = signed_in(TestClient(create_app(engine)), teacher).get("/admin").text
    assert admin.count("a near copy: the same predictions on 100.00% of the hidden images "
                       "either gets wrong") == len(SAME_FUNCTION)
    assert admin.count("the same model: the same predictions on 100.00%") == 1  # erin
    db = engine.url.render_as_string(hide_password=False)
    assert main(["leaderboard", "copies", "fm", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert f"{keys['bob']} by bob (bob's, finished) copies {keys['alice']} by alice (near: " \
           "the same predictions on 100.00% of the hidden images either gets wrong (honest " \
           "models: under 55%); a weight distance of 0.0000 after canonical ordering (the same " \
           "network: 0; honest models: 0.9 or more)): not ranked until judged" in listed
    assert main(["leaderboard", "confirm-copy", keys["bob"], "--db", db]) == 0
    assert main(["leaderboard", "clear-copy", keys["carol"], "--db", db]) == 0
    assert "confirmed a copy; it stays out of the ranking" in capsys.readouterr().out
    ranked = [row["user"] for row in submissions.leaderboard_rows(engine, "fm")["rows"]]
    assert sorted(ranked) == ["alice", "carol", "frank"]
    assert main(["leaderboard", "copies", "fm", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert "confirmed (not ranked)" in listed and "cleared (ranked)" in listed


def test_results_stored_while_one_was_compared_are_compared_under_the_lock(board, trained_onnx):
    """The comparison with the class is made before the write transaction (it takes seconds
    with 200 students); a result stored meanwhile is compared in the transaction, whichever
    of the pair is stored first."""
    engine, _ = board
    original = trained_onnx.read_bytes()
    files = {"alice": original, "bob": permuted(original), "carol": padded_graph(original)}
    for user in ("bob", "carol"):
        add_user(engine, user)
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "fm")).id
        ids = {u.name: u.id for u in session.scalars(select(User))}
    for user, data in files.items():
        submissions.submit(engine, task, ids[user], data, f"{user}'s")
    jobs = {user: claim(engine, "w", FAST) for user in files}  # oldest first: alice's
    results = {user: storable(evaluate_in_child(job, FAST)) for user, job in jobs.items()}
    for user in ("bob", "alice", "carol"):  # each compared before any other was stored
        assert finish(engine, jobs[user], results[user], compared={})
    rows = _rows(engine)
    for user in ("bob", "carol"):
        assert (rows[user].copy_of, rows[user].copy_kind, rows[user].copy_agreement) == \
            (rows["alice"].id, "near", 1.0), user
    assert rows["alice"].copy_of is None


def test_the_predictions_carry_their_correctness_and_nothing_else():
    predicted, labels = np.array([1, 2, 3, 9]), np.array([1, 0, 3, 0])
    assert list(encoded(predicted, labels)) == [0x81, 2, 0x83, 9]
    same_mistakes = encoded(np.r_[np.zeros(30, int), np.ones(30, int)], np.ones(60, int))
    assert error_agreement(same_mistakes, same_mistakes) == 1.0
    assert error_agreement(same_mistakes, same_mistakes[:10]) is None  # another set
    few = encoded(np.r_[np.zeros(5, int), np.ones(55, int)], np.ones(60, int))
    assert error_agreement(few, few) is None  # 5 errors say nothing either way
