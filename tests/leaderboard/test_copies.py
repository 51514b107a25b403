"""Copies (issue 15, point 3), on SQLite and PostgreSQL: a file whose model equals another
student's earlier submission, byte for byte or renamed and re-labelled, is flagged as a copy
of it and left out of the ranking until the teacher clears it; a changed weight, or a student
sending their own model again, is no copy."""


import onnx
import pytest
from fastapi.testclient import TestClient
from onnx import numpy_helper
from sqlalchemy import select, update

from cnnlab.cli import main
from cnnlab.leaderboard import submissions
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.copies import model_fingerprint
from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.schema import Submission, Task, User
from cnnlab.leaderboard.users import add_user
from tests.browser import loopback
from tests.leaderboard.lookup import key_of, signed_in


def disguised(data: bytes) -> bytes:
    """The same model with every name, doc string and piece of metadata changed."""
    model = onnx.load_from_string(data)
    graph = model.graph
    renamed = {}
    for index, tensor in enumerate([*graph.input, *graph.output, *graph.initializer,
                                    *graph.value_info]):
        renamed.setdefault(tensor.name, f"mine_{index}")
    for node in graph.node:
        for name in [*node.input, *node.output]:
            renamed.setdefault(name, f"mine_{len(renamed)}")
    for tensor in [*graph.input, *graph.output, *graph.initializer, *graph.value_info]:
        tensor.name = renamed[tensor.name]
    for index, node in enumerate(graph.node):
        node.name = f"my_layer_{index}"
        node.doc_string = "written by me"
        node.input[:] = [renamed[name] if name else name for name in node.input]
        node.output[:] = [renamed[name] for name in node.output]
    graph.name = "my own network"
    model.producer_name, model.producer_version, model.doc_string = "by hand", "9", "mine"
    model.model_version = 7
    onnx.helper.set_model_props(model, {"author": "bob"})
    return model.SerializeToString()


def changed_weight(data: bytes) -> bytes:
    model = onnx.load_from_string(data)
    tensor = model.graph.initializer[0]
    array = numpy_helper.to_array(tensor).copy()
    array.flat[0] += 0.01
    tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    return model.SerializeToString()


def _ids(engine):
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "fm")).id
        users = {user.name: user.id for user in session.scalars(select(User))}
    return task, users


def test_the_fingerprint_ignores_names_and_metadata_but_not_weights(trained_onnx):
    data = trained_onnx.read_bytes()
    assert disguised(data) != data
    assert model_fingerprint(disguised(data)) == model_fingerprint(data)
    assert model_fingerprint(changed_weight(data)) != model_fingerprint(data)


def test_the_student_sending_a_copy_hears_it_at_once(board, trained_onnx, capsys):
    engine, _ = board
    bob = add_user(engine, "bob")
    task, users = _ids(engine)
    original = submissions.submit(engine, task, users["alice"], trained_onnx.read_bytes(), "")
    with loopback(create_app(engine)) as url:
        assert main(["submit", str(trained_onnx), "--server", url, "--token", bob,
                     "--task", "fm"]) == 0
    out = capsys.readouterr().out
    assert "note: its model equals a submission sent earlier by another student: it is " \
           "flagged as a copy and not ranked" in out
    assert original  # whose it copies is the teacher's to see, not the student's


def test_a_copy_is_flagged_unranked_and_ranked_once_cleared(board, trained_onnx, tmp_path,
                                                             capsys):
    engine, _ = board
    bob = add_user(engine, "bob")
    add_user(engine, "carol")
    task, users = _ids(engine)
    data = trained_onnx.read_bytes()
    original = submissions.submit(engine, task, users["alice"], data, "mine")
    again = submissions.submit(engine, task, users["alice"], data, "mine again")
    exact = submissions.submit(engine, task, users["bob"], data, "bob's")
    hidden = submissions.submit(engine, task, users["bob"], disguised(data), "bob's own")
    honest = submissions.submit(engine, task, users["carol"], changed_weight(data), "carol")
    with writing(engine) as session:  # as the worker would finish them (tested on its own)
        session.execute(update(Submission).values(status="finished", public_accuracy=0.9,
                                                  images_per_s=1000.0))
    views = {number: submissions.submission_view(engine, number)
             for number in (original, again, exact, hidden, honest)}
    key = {number: view["id"] for number, view in views.items()}  # how people name them
    assert [views[n]["copy_of"] for n in (original, again, exact, hidden, honest)] == \
        [None, None, key[original], key[original], None]
    ranked = [row["user"] for row in submissions.leaderboard_rows(engine, "fm")["rows"]]
    assert sorted(ranked) == ["alice", "carol"]  # bob's copies are left out
    teacher = add_user(engine, "teacher", admin=True)
    pages = {who: " ".join(signed_in(TestClient(create_app(engine)), token)
                           .get(f"/submissions/{key_of(engine, hidden)}").text.split())
             for who, token in (("bob", bob), ("teacher", teacher))}
    assert f"Holds the same model (graph and weights) as submission <a href=\"/submissions/" \
           f"{key[original]}\">{key[original]}</a>, sent earlier by another student. It is " \
           "not ranked unless the teacher clears it." in pages["teacher"]
    assert "Flagged as a copy of a submission sent earlier by another student (the same " \
           "model, nearly the same weights, or the same predictions on nearly every hidden " \
           "image): it is not ranked " \
           "unless the teacher clears it." in pages["bob"] and key[original] not in pages["bob"]
    db = str(engine.url.render_as_string(hide_password=False))
    assert main(["leaderboard", "copies", "fm", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert f"{key[exact]} by bob" in listed and f"copies {key[original]} by alice" in listed
    assert f"{key[hidden]} by bob" in listed and "#" not in listed  # keys, never counts
    assert main(["leaderboard", "clear-copy", key[exact], "--db", db]) == 0
    assert "cleared" in capsys.readouterr().out
    ranked = [row["user"] for row in submissions.leaderboard_rows(engine, "fm")["rows"]]
    assert sorted(ranked) == ["alice", "bob", "carol"]
    assert submissions.submission_view(engine, exact)["copy_cleared"] is True
    assert main(["leaderboard", "clear-copy", key[original], "--db", db]) == 2
    assert f"submission {key[original]} is not flagged as a copy" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["1", "x" * 22, "a key; DROP"])
def test_clearing_a_submission_that_does_not_exist_is_refused(board, key, capsys):
    engine, _ = board
    db = str(engine.url.render_as_string(hide_password=False))
    assert main(["leaderboard", "clear-copy", key, "--db", db]) == 2
    assert f"no submission {key!r} (name it by its key" in capsys.readouterr().err
