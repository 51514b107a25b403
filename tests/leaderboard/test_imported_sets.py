"""Test sets the students do not have (issue 15, point 1), on SQLite and PostgreSQL: a teacher
imports one (IDX, .npz or a folder per class), it is checked against the task's dataset and
stored in the database, and the worker scores submissions on it without any dataset file; a
malformed one is refused with the reason and nothing is stored; a task on a public test set
says so at add-task and on its page, and one whose files cannot be loaded is refused."""

import urllib.request

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from cnnlab.cli import main
from cnnlab.data import datasets
from cnnlab.data.idx import write_idx
from cnnlab.data.splits import stratified_split
from cnnlab.evaluate.predictors import OnnxPredictor, predict_all
from cnnlab.leaderboard import submissions
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.database import open_database, reading
from cnnlab.leaderboard.imported_sets import read_test_set
from cnnlab.leaderboard.schema import ImportedTestSet, Submission, Task, User
from cnnlab.leaderboard.tasks import SPLIT_SEED, add_task
from cnnlab.leaderboard.users import add_user
from cnnlab.leaderboard.worker import Limits, work_once
from tests.browser import loopback

FAST = Limits(timeout_s=300, memory_mb=4096, threads=1, repeats=1)
SPEC = datasets.FASHION_MNIST
COUNT = 600


@pytest.fixture(scope="module")
def private_images(fashion_mnist):
    """600 pictures no student has: Fashion-MNIST training images turned on their side
    (transposed), which no public split holds (add-task compares an imported set with them:
    the images as they are would be refused as public)."""
    images, labels = datasets.load(SPEC, allow_download=False)["train"]
    return np.ascontiguousarray(images[:COUNT, 0].transpose(0, 2, 1)), \
        labels[:COUNT].astype(np.uint8)


@pytest.fixture
def idx_files(private_images, tmp_path):
    images, labels = private_images
    write_idx(tmp_path / "images.idx.gz", images)
    write_idx(tmp_path / "labels.idx.gz", labels)
    return tmp_path / "images.idx.gz", tmp_path / "labels.idx.gz"


def test_submissions_are_scored_on_the_imported_set_without_any_dataset_file(
        engine, idx_files, private_images, trained_onnx, tmp_path):
    hidden = read_test_set(*idx_files, SPEC)
    add_task(engine, "secret", "fashion-mnist", daily_limit=3, max_mb=1, test_set=hidden)
    add_user(engine, "alice")
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "secret"))
        stored = session.get(ImportedTestSet, task.test_set)
        assert stored.images == COUNT and task.test_set == hidden.sha256
        user = session.scalar(select(User).where(User.name == "alice"))
    submission = submissions.submit(engine, task.id, user.id, trained_onnx.read_bytes(), "")
    nowhere = tmp_path / "no-datasets"
    nowhere.mkdir()
    assert work_once(engine, "w", FAST, data_dir=str(nowhere))
    with reading(engine) as session:
        row = session.get(Submission, submission)
        assert row.status == "finished", row.error
        public_accuracy, private_accuracy = row.public_accuracy, row.private_accuracy
        halves = (row.details["public"]["images"], row.details["private"]["images"])
    images, labels = private_images
    predicted = predict_all(OnnxPredictor(trained_onnx.read_bytes(), 1),
                            images[:, None].astype(np.float32) / 255).argmax(1)
    private, public = stratified_split(labels.astype(np.int64), COUNT // 2, SPLIT_SEED)
    assert halves == (len(public), len(private)) == (300, 300)
    assert public_accuracy == pytest.approx(np.mean(predicted[public] == labels[public]))
    assert private_accuracy == pytest.approx(np.mean(predicted[private] == labels[private]))


def test_the_three_formats_give_one_set_stored_once(engine, idx_files, private_images,
                                                    tmp_path):
    images, labels = private_images
    np.savez(tmp_path / "set.npz", images=images, labels=labels)
    folder = tmp_path / "per-class"
    for index, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        # a class's name, or its number (Fashion-MNIST's "T-shirt/top" cannot name a folder)
        where = folder / (SPEC.classes[label] if label % 2 else str(label))
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(where / f"{index:04d}.png")
    sets = [read_test_set(*idx_files, SPEC), read_test_set(tmp_path / "set.npz", None, SPEC),
            read_test_set(folder, None, SPEC)]
    assert sets[0].sha256 == sets[1].sha256
    # the folder is read class by class: the same images and labels, in another order
    pairs = sorted((int(label), bytes(pixels)) for label, pixels in zip(labels, images,
                                                                        strict=True))
    assert sorted((int(label), bytes(pixels[0])) for label, pixels in
                  zip(sets[2].labels, sets[2].images, strict=True)) == pairs
    for name, hidden in zip(("a", "b"), sets[:2], strict=True):
        add_task(engine, name, "fashion-mnist", test_set=hidden)
    with reading(engine) as session:
        assert session.scalar(select(func.count()).select_from(ImportedTestSet)) == 1


def _broken(kind, tmp_path, private_images):
    """The files of a malformed set of the given kind, as add-task's arguments."""
    images, labels = private_images
    if kind == "label out of range":
        bad = labels.copy()
        bad[7] = 10
        write_idx(tmp_path / "l.idx", bad)
        write_idx(tmp_path / "i.idx", images)
        return ["--test-images", str(tmp_path / "i.idx"), "--test-labels", str(tmp_path / "l.idx")]
    if kind == "other size":
        np.savez(tmp_path / "s.npz", images=np.zeros((20, 32, 32), np.uint8),
                 labels=np.arange(20) % 10)
        return ["--test-images", str(tmp_path / "s.npz")]
    if kind == "counts differ":
        np.savez(tmp_path / "s.npz", images=images, labels=labels[:-1])
        return ["--test-images", str(tmp_path / "s.npz")]
    if kind == "float pixels":
        np.savez(tmp_path / "s.npz", images=images.astype(np.float32) / 255, labels=labels)
        return ["--test-images", str(tmp_path / "s.npz")]
    if kind == "a class alone":
        np.savez(tmp_path / "s.npz", images=images[:11], labels=np.r_[np.arange(10), 1])
        return ["--test-images", str(tmp_path / "s.npz")]
    if kind == "truncated":
        write_idx(tmp_path / "i.idx", images)
        write_idx(tmp_path / "l.idx", labels)
        data = (tmp_path / "i.idx").read_bytes()
        (tmp_path / "i.idx").write_bytes(data[:len(data) // 2])
        return ["--test-images", str(tmp_path / "i.idx"), "--test-labels", str(tmp_path / "l.idx")]
    if kind == "npz without labels":
        np.savez(tmp_path / "s.npz", images=images)
        return ["--test-images", str(tmp_path / "s.npz")]
    if kind == "unknown class folder":
        (tmp_path / "set" / "Hats").mkdir(parents=True)
        Image.fromarray(images[0]).save(tmp_path / "set" / "Hats" / "a.png")
        return ["--test-images", str(tmp_path / "set")]
    if kind == "labels missing":
        write_idx(tmp_path / "i.idx", images)
        return ["--test-images", str(tmp_path / "i.idx")]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, message", [
    ("label out of range", "label 10 is out of range; fashion-mnist has 10 classes, labelled "
                           "0 to 9"),
    ("other size", "images of shape (1, 32, 32); the task's dataset fashion-mnist has 28x28 "
                   "images"),
    ("counts differ", "600 images but 599 labels"),
    ("float pixels", "images of type float32; expected uint8 pixels"),
    ("a class alone", "every class needs at least 2 images, one for each half of the ranking; "
                      "too few of T-shirt/top (0): 1"),
    ("truncated", "truncated or corrupt"),
    ("npz without labels", "it lacks labels (it has images)"),
    ("unknown class folder", "Hats: not a class of fashion-mnist"),
    ("labels missing", "IDX images need their labels too"),
])
def test_a_malformed_set_is_refused_with_the_reason_and_nothing_is_stored(
        kind, message, private_images, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'b.db'}"
    arguments = _broken(kind, tmp_path, private_images)
    assert main(["leaderboard", "add-task", "t", "--dataset", "fashion-mnist", *arguments,
                 "--db", db]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error
    with reading(open_database(db)) as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 0
        assert session.scalar(select(func.count()).select_from(ImportedTestSet)) == 0


def test_a_public_test_set_is_said_to_be_public_at_add_task_and_on_its_page(
        idx_files, fashion_mnist, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'b.db'}"
    assert main(["leaderboard", "add-task", "open", "--dataset", "fashion-mnist",
                 "--db", db]) == 0
    out = capsys.readouterr().out
    assert "warning: the labels of fashion-mnist's test set are public" in out
    assert main(["leaderboard", "add-task", "closed", "--dataset", "fashion-mnist",
                 "--test-images", str(idx_files[0]), "--test-labels", str(idx_files[1]),
                 "--db", db]) == 0
    out = capsys.readouterr().out
    assert "600 images, kept in the database only" in out and "warning" not in out
    with loopback(create_app(open_database(db))) as url:
        def page(task):
            with urllib.request.urlopen(f"{url}/tasks/{task}", timeout=30) as response:
                return " ".join(response.read().decode().split())
        assert "Its labels are public: every student has them" in page("open")
        assert "600 images the teacher imported" in page("closed")
        assert "are public" not in page("closed")


def test_a_dataset_this_machine_cannot_load_is_refused_naming_its_files(tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no cached copy either
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    db = f"sqlite:///{tmp_path / 'b.db'}"
    assert main(["leaderboard", "add-task", "c10", "--dataset", "cifar10", "--data-dir",
                 str(tmp_path), "--db", db]) == 2
    error = capsys.readouterr().err
    assert "--dataset cifar10: this machine cannot load its test set (cifar-10-python.tar.gz" \
           in error and "every submission would fail" in error
    with reading(open_database(db)) as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 0
