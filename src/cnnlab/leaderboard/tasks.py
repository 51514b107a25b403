"""Tasks: created, revealed and their copies cleared from the command line by whoever runs the
server (users are in `users`)."""

from __future__ import annotations

import datetime
import re
import secrets

from sqlalchemy import Engine, select

from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.imported_sets import HiddenTestSet
from cnnlab.leaderboard.near_copies import evidence
from cnnlab.leaderboard.schema import (
    KEY,
    ImportedTestSet,
    Submission,
    Task,
    User,
    as_utc,
    utcnow,
)

TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # it goes into URLs
DATASET_NAMES = ("fashion-mnist", "mnist", "cifar10")
SPLIT_SEED = 2024  # the public/private halves of every task's test set


def secret_seed() -> int:
    """An exercise task's seed: its hidden cases come from it, so nobody may know it."""
    return secrets.randbelow(2**31)


# The default accuracy floor of the speed ranking: LeNet-5 trained by the training guide's
# recipe (docs/training.md, its time-to-accuracy table), on the official test set, the lower
# of seeds 0 and 1. Only Fashion-MNIST is on this machine to measure it; other datasets need
# --min-accuracy.
REFERENCE_RECIPE = ("cnnlab train lenet5 --dataset fashion-mnist --epochs 9 --lr 0.005 "
                    "--val-size 0 --label-smoothing 0.1")
REFERENCE_ACCURACY = {"fashion-mnist": 0.9113}


def parse_accuracy(text: str, flag: str = "--min-accuracy") -> float:
    """An accuracy as 91.13% or 0.9113."""
    cleaned = text.strip()
    try:
        value = float(cleaned.removesuffix("%")) / (100 if cleaned.endswith("%") else 1)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ValueError(f"{flag} {text!r}: expected an accuracy such as 91.13% or 0.9113 "
                         "(from 0 to 1)")
    return value


def _floor(dataset: str, min_accuracy: float | None) -> tuple[float, str]:
    """The floor and where it comes from, as the task's page says it."""
    if min_accuracy is not None:
        return min_accuracy, "set by the teacher"
    if dataset not in REFERENCE_ACCURACY:
        raise ValueError(f"--dataset {dataset}: give --min-accuracy, the accuracy below which "
                         "a submission is not ranked by speed (the default, the training "
                         "guide's LeNet-5 recipe, is measured on fashion-mnist only); e.g. the "
                         f"test accuracy of cnnlab train lenet5 --dataset {dataset} ..., or 0 to "
                         "rank every submission by speed")
    return REFERENCE_ACCURACY[dataset], (f"LeNet-5 trained by the training guide's recipe "
                                         f"({REFERENCE_RECIPE}) on {dataset}'s official test "
                                         "set")


def _official_test_set_loads(dataset: str, data_dir: str | None) -> None:
    """Refuse, naming the files, a dataset whose test set this machine cannot load now (every
    submission would fail otherwise)."""
    from cnnlab.data import datasets

    spec = datasets.get_spec(dataset)
    try:
        datasets.locate(spec, data_dir, allow_download=False)
    except FileNotFoundError as error:
        files = " and ".join(spec.split_files["test"])
        raise ValueError(f"--dataset {dataset}: this machine cannot load its test set ({files})"
                         f" now, so every submission would fail: {error} Or import a test set "
                         "with --test-images") from None


def parse_time(text: str, flag: str) -> datetime.datetime:
    """An ISO 8601 time with its zone (2026-12-15T23:59+01:00, or Z for UTC): a deadline
    read in the server's zone instead of the teacher's would be hours off."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected an ISO 8601 time with its zone, e.g. "
                         "2026-12-15T23:59+01:00 or 2026-12-15T22:59Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"{flag} {text!r}: give the time zone too (e.g. {text}+01:00, or "
                         f"{text}Z for UTC)")
    return moment.astimezone(datetime.UTC)


def _name_is_free(session, name: str) -> None:
    if session.scalar(select(Task.id).where(Task.name == name)) is not None:
        raise ValueError(f"a task named {name!r} exists already")


def _compared_with_public(test_set: HiddenTestSet, dataset: str, data_dir: str | None,
                          allow_public: bool) -> tuple[str, bool]:
    """(what the comparison with the dataset's public images found, in words; whether the
    set's labels are public). Refused, saying how many images are public and of which split,
    when too many are, or when this machine cannot compare, unless `allow_public`."""
    from cnnlab.leaderboard.public_overlap import public_overlap

    try:
        overlap = public_overlap(test_set, dataset, data_dir)
    except FileNotFoundError as error:
        if not allow_public:
            raise ValueError(f"--test-images: cannot compare the set with {dataset}'s public "
                             f"images, so it cannot be taken as hidden: {error} Or pass "
                             "--allow-public to take it uncompared (the task's page then "
                             "says so)") from None
        return (f"not compared with {dataset}'s public images (this machine did not have "
                "them)", True)
    if overlap.too_public and not allow_public:
        raise ValueError(f"--test-images: {overlap.describe()}. Their labels are public, so "
                         "students can look the answers up: this is no hidden test set. "
                         "Import images the students have not seen, or pass --allow-public "
                         "to rank on it anyway (the task's page then says so)")
    return overlap.describe(), overlap.too_public


def add_task(engine: Engine, name: str, dataset: str | None, daily_limit: int = 5,
             max_mb: float = 100, exercise: str | None = None,
             test_set: HiddenTestSet | None = None, data_dir: str | None = None,
             opens: datetime.datetime | None = None, closes: datetime.datetime | None = None,
             final: int = 2, min_accuracy: float | None = None,
             allow_public: bool = False, ladder: bool = False) -> Task:
    """A model task on a dataset's hidden test split (`test_set`, imported by the teacher and
    compared with the dataset's public images first, or else the dataset's official test set,
    whose labels are public), or an exercise task that grades `cnnlab exercise` files
    (`exercise` names which) on the task's hidden cases, drawn once from a secret seed and
    the same for every submission. A model task ranks by speed
    only submissions at least `min_accuracy` accurate (default: the reference LeNet-5's
    accuracy, `REFERENCE_ACCURACY`); with `ladder`, a student sees a new public score only
    when it beats their best by more than its standard error (leaderboard.ladder)."""
    if not TASK_NAME.fullmatch(name):
        raise ValueError(f"task name {name!r}: use 1 to 100 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit (it appears in URLs)")
    if (dataset is None) == (exercise is None):
        raise ValueError("give either --dataset (a model task) or --exercise (an exercise "
                         "task), not both")
    if exercise is not None:
        from cnnlab.exercises.catalog import get_exercise

        get_exercise(exercise)  # an unknown name is refused with the list
    elif dataset not in DATASET_NAMES:
        raise ValueError(f"--dataset: expected one of {', '.join(DATASET_NAMES)}, got "
                         f"{dataset!r}")
    if exercise is not None and min_accuracy is not None:
        raise ValueError("--min-accuracy applies to a model task (--dataset); an exercise task "
                         "is ranked by score only")
    if test_set is not None and exercise is not None:
        raise ValueError("--test-images applies to a model task (--dataset); an exercise task "
                         "draws its own cases")
    if opens is not None and closes is not None and not opens < closes:
        raise ValueError(f"--opens {opens.isoformat()} is not before --closes "
                         f"{closes.isoformat()}")
    if not 1 <= final <= 20:
        raise ValueError(f"--final must be from 1 to 20 (how many submissions each student "
                         f"marks for the private ranking), got {final}")
    if daily_limit < 1:
        raise ValueError(f"--daily-limit must be at least 1, got {daily_limit}")
    if not 0 < max_mb <= 1024:
        raise ValueError(f"--max-mb must be above 0 and at most 1024, got {max_mb}")
    if ladder and exercise is not None:
        raise ValueError("--ladder applies to a model task: an exercise task's cases are the "
                         "same for every file and it has no public half")
    if allow_public and test_set is None:
        raise ValueError("--allow-public applies to an imported test set (--test-images); "
                         "a task on the official test set ranks on public labels anyway")
    with reading(engine) as session:  # said before the slower checks of the data below
        _name_is_free(session, name)
    if dataset is not None and test_set is None:
        _official_test_set_loads(dataset, data_dir)
    floor, floor_source = _floor(dataset, min_accuracy) if exercise is None else (None, None)
    overlap, labels_public = (None, test_set is None and exercise is None) \
        if test_set is None else _compared_with_public(test_set, dataset, data_dir, allow_public)
    with writing(engine) as session:
        _name_is_free(session, name)  # again, in the transaction that adds it
        if test_set is not None and session.get(ImportedTestSet, test_set.sha256) is None:
            session.add(ImportedTestSet(sha256=test_set.sha256, images=len(test_set.labels),
                                        source=test_set.source[:500],
                                        data=test_set.encoded()))
            session.flush()  # the task's foreign key needs the set's row first
        task = Task(name=name, dataset=dataset or "", exercise=exercise,
                    daily_limit=daily_limit, max_bytes=int(max_mb * 2**20),
                    seed=SPLIT_SEED if exercise is None else secret_seed(),
                    revealed=False, test_set=test_set.sha256 if test_set else None,
                    opens_at=opens, closes_at=closes, final_count=final,
                    min_accuracy=floor, min_accuracy_source=floor_source,
                    public_overlap=overlap, labels_public=labels_public, ladder=ladder)
        session.add(task)
    return task


def flagged_copies(engine: Engine, task_name: str) -> list[dict]:
    """Every submission to the task flagged as a copy, with whose submission it copies (both
    named by their keys, as everywhere a person sees a submission)."""
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == task_name))
        if task is None:
            raise ValueError(f"no task named {task_name!r}")
        flagged = session.scalars(select(Submission).where(
            Submission.task_id == task.id, Submission.copy_of.is_not(None))
            .order_by(Submission.id)).all()
        rows = []
        for copy in flagged:
            original = session.get(Submission, copy.copy_of)
            rows.append({"key": copy.key, "user": session.get(User, copy.user_id).name,
                         "label": copy.label, "status": copy.status,
                         "copy_of": original.key,
                         "original_user": session.get(User, original.user_id).name,
                         "kind": copy.copy_kind or "exact", "agreement": copy.copy_agreement,
                         "weight_distance": copy.copy_weight_distance,
                         "evidence": evidence(copy.copy_agreement,
                                              copy.copy_weight_distance),
                         "cleared": copy.copy_cleared, "confirmed": copy.copy_confirmed})
        return rows


def judge_copy(engine: Engine, key: str, honest: bool) -> Submission:
    """The teacher's verdict on a flagged submission: `honest` ranks it after all (two
    students may reach one model, e.g. both trained the training guide's recipe with its seed);
    otherwise it is confirmed a copy and stays unranked."""
    with writing(engine) as session:
        row = session.scalar(select(Submission).where(Submission.key == key)) \
            if KEY.fullmatch(key) else None
        if row is None:
            raise ValueError(f"no submission {key!r} (name it by its key, as the copies "
                             "command and the admin page list it)")
        if row.copy_of is None:
            raise ValueError(f"submission {key} is not flagged as a copy")
        row.copy_cleared, row.copy_confirmed = honest, not honest
    return row



def reveal(engine: Engine, name: str, force: bool = False) -> Task:
    """Rank the task on its private half from now on, and close it: a submission evaluated
    after reveal would show its author a private-half figure, so a revealed task takes no
    more (a closing time still ahead becomes now). Before the task's closing time only with
    `force`."""
    with writing(engine) as session:
        task = session.scalar(select(Task).where(Task.name == name))
        if task is None:
            raise ValueError(f"no task named {name!r}")
        now = utcnow()
        if task.closes_at is not None and now < as_utc(task.closes_at) and not force:
            raise ValueError(f"task {name} closes at {as_utc(task.closes_at).isoformat()}: "
                             "reveal it after that (students may still submit and choose "
                             "their final submissions), or now with --force, which closes it")
        if task.closes_at is None or now < as_utc(task.closes_at):
            task.closes_at = now
        task.revealed = True
    return task
