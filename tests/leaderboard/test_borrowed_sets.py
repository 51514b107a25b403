"""Borrowed test sets (issue 35, point 4), on SQLite and PostgreSQL: add-task compares an
imported set with its dataset's public training and test images, by exact pixels and as near
copies (re-encoded, shifted), and refuses one that overlaps them, saying how many images
overlap and with which split; --allow-public takes it with a warning and the task's page says
so; a handful of matches, as honest new photos have, is reported and taken."""

import io
import urllib.request

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from cnnlab.cli import main
from cnnlab.data import datasets
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.database import open_database, reading
from cnnlab.leaderboard.imported_sets import check
from cnnlab.leaderboard.public_overlap import public_overlap
from cnnlab.leaderboard.schema import ImportedTestSet, Task
from cnnlab.leaderboard.tasks import add_task
from tests.browser import loopback

SPEC = datasets.FASHION_MNIST


@pytest.fixture(scope="module")
def public(fashion_mnist):
    return datasets.load(SPEC, allow_download=False)


def _jpeg(images: np.ndarray, quality: int = 75) -> np.ndarray:
    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        out.append(np.asarray(Image.open(io.BytesIO(buffer.getvalue()))))
    return np.stack(out)


def _shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    return np.roll(images, (dy, dx), axis=(1, 2))


def _npz(tmp_path, images, labels, name="set.npz") -> str:
    np.savez(tmp_path / name, images=images, labels=labels)
    return str(tmp_path / name)


def _add_task(db, path, *extra) -> int:
    return main(["leaderboard", "add-task", "t", "--dataset", "fashion-mnist", "--test-images",
                 path, *extra, "--db", db])


def _task_page(engine) -> str:
    """The task's page as a browser gets it from the real server, its spaces folded."""
    with loopback(create_app(engine)) as url, \
            urllib.request.urlopen(f"{url}/tasks/t", timeout=30) as response:
        return " ".join(response.read().decode().split())


def test_the_first_images_of_the_public_test_set_are_refused_with_their_counts(
        engine, public, tmp_path, capsys):
    """The issue's careless teacher: Fashion-MNIST's public test images as the hidden set
    (400 here, to keep the test short; the issue's 4,000 are measured in the benchmark)."""
    images, labels = public["test"]
    db = engine.url.render_as_string(hide_password=False)
    assert _add_task(db, _npz(tmp_path, images[:400, 0], labels[:400])) == 2
    error = capsys.readouterr().err
    assert "400 of its 400 images (100.0%) are fashion-mnist's public images" in error
    assert "400 the same pixels and 0 near copies of test images" in error
    assert "--allow-public" in error and "no hidden test set" in error
    with reading(engine) as session:  # nothing stored
        assert session.scalar(select(func.count()).select_from(Task)) == 0
        assert session.scalar(select(func.count()).select_from(ImportedTestSet)) == 0


@pytest.mark.parametrize("disguise", ["jpeg", "shifted", "both"])
def test_re_encoded_and_shifted_training_images_are_refused_as_near_copies(
        disguise, public, tmp_path, capsys):
    images, labels = public["train"]
    picked = images[1000:1300, 0]
    if disguise in ("jpeg", "both"):
        picked = _jpeg(picked)
    if disguise in ("shifted", "both"):
        picked = _shifted(picked, 1, -2)
    db = f"sqlite:///{tmp_path / 'b.db'}"
    assert _add_task(db, _npz(tmp_path, picked, labels[1000:1300])) == 2
    error = capsys.readouterr().err
    count = int(error.split(" of its 300 images")[0].split()[-1].replace(",", ""))
    assert count >= 240, error  # measured: 93.5-100% per disguise
    assert "near copies of train images" in error


def test_allow_public_takes_it_with_a_warning_and_the_page_says_so(engine, public, tmp_path,
                                                                   capsys):
    images, labels = public["test"]
    db = engine.url.render_as_string(hide_password=False)
    assert _add_task(db, _npz(tmp_path, images[:200, 0], labels[:200]), "--allow-public") == 0
    out = capsys.readouterr().out
    assert "compared with fashion-mnist's public images: 200 of its 200 images (100.0%)" in out
    assert "warning: taken with --allow-public" in out
    page = _task_page(engine)
    assert "200 images the teacher imported and took although their labels may be public: " \
           "200 of its 200 images (100.0%) are fashion-mnist&#39;s public images" in page
    with reading(engine) as session:
        task = session.scalar(select(Task))
        assert task.labels_public and "200 of its 200" in task.public_overlap


def test_a_new_set_with_a_few_public_images_is_taken_and_they_are_reported(public, tmp_path,
                                                                             capsys):
    """Honest new photos may hold a few pictures like public ones (Fashion-MNIST's own test
    set has 28 in 10,000 near its training images): up to 1% is reported, not refused."""
    images, labels = public["train"]
    new = np.ascontiguousarray(images[:500, 0].transpose(0, 2, 1))  # no public split has them
    mixed = np.concatenate([new, images[600:605, 0]])
    db = f"sqlite:///{tmp_path / 'b.db'}"
    assert _add_task(db, _npz(tmp_path, mixed, np.r_[labels[:500], labels[600:605]])) == 0
    out = capsys.readouterr().out
    assert "5 of its 505 images (1.0%) are fashion-mnist's public images: 5 the same pixels " \
           "and 0 near copies of train images" in out and "warning" not in out
    page = _task_page(open_database(db))
    assert "their labels are kept on this server only. Compared with fashion-mnist's " \
           "public images: 5 of its 505 images (1.0%)" in page
    assert _add_task(db.replace("b.db", "c.db"), _npz(tmp_path, new, labels[:500], "n.npz")) == 0
    assert "none of its 500 images is one of fashion-mnist's public images" in \
        capsys.readouterr().out


def test_a_set_that_cannot_be_compared_here_is_refused_unless_allowed(tmp_path, capsys,
                                                                      monkeypatch):
    """MNIST's public images are not on this machine: the set cannot be shown to be hidden."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    rng = np.random.default_rng(0)
    path = _npz(tmp_path, rng.integers(0, 256, (40, 28, 28), np.uint8), np.arange(40) % 10)
    db = f"sqlite:///{tmp_path / 'b.db'}"
    arguments = ["leaderboard", "add-task", "m", "--dataset", "mnist", "--test-images", path,
                 "--min-accuracy", "0.98", "--data-dir", str(tmp_path), "--db", db]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert "cannot compare the set with mnist's public images, so it cannot be taken as " \
           "hidden: mnist not found" in error and "train-images-idx3-ubyte.gz" in error
    assert main([*arguments, "--allow-public"]) == 0
    assert "not compared with mnist's public images (this machine did not have them)" in \
        capsys.readouterr().out


def test_allow_public_applies_to_an_imported_set_only(engine):
    with pytest.raises(ValueError, match="--allow-public applies to an imported test set"):
        add_task(engine, "t", "fashion-mnist", allow_public=True)


def test_the_check_reads_the_set_as_stored(public):
    """A colour-free set of the task's shape, channels first, as read_test_set gives it."""
    images, labels = public["test"]
    hidden = check(images[:100], labels[:100], SPEC, "x")
    overlap = public_overlap(hidden, "fashion-mnist")
    assert (overlap.public, overlap.exact["test"], overlap.too_public) == (100, 100, True)
