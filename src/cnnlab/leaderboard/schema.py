"""The leaderboard's tables. Alembic migrations (`migrations/versions/`) create them; this file
is how the code reads and writes them, and a test checks the two agree."""

from __future__ import annotations

import datetime
import re
import secrets

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

STATUSES = ("queued", "running", "finished", "failed", "rejected")
# Against the daily limit (as on EvalAI), with the failures whose fault is "file"
COUNTED = ("queued", "running", "finished")


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def as_utc(value: datetime.datetime) -> datetime.datetime:
    """A time read back from the database, aware (SQLite gives back naive UTC)."""
    return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value


def new_key() -> str:
    """128 random bits, URL-safe, never starting with "-": a key is typed as a command's
    argument (cnnlab final KEY), where a leading dash reads as an option."""
    while (key := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return key


# What new_key makes: a text of any other form is refused before the database is asked
KEY = re.compile(r"[A-Za-z0-9_-]{1,32}")


class Base(DeclarativeBase):
    pass


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    dataset: Mapped[str] = mapped_column(String(40))  # "" for an exercise task
    # An exercise task grades `cnnlab exercise` files (NAME.py) instead of ONNX models.
    exercise: Mapped[str | None] = mapped_column(String(40), nullable=True)
    daily_limit: Mapped[int] = mapped_column(Integer)
    max_bytes: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)  # splits the test set into public/private
    revealed: Mapped[bool] = mapped_column(Boolean, default=False)  # ranked on private
    # When submissions are taken (None: no bound), and how many a student may mark final
    opens_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True),
                                                               nullable=True)
    closes_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True),
                                                                nullable=True)
    final_count: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    # Speed ranks only submissions at least this accurate (None: no floor), and why this figure
    min_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    min_accuracy_source: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # The imported set it ranks on; None: the dataset's official test set (public labels)
    test_set: Mapped[str | None] = mapped_column(ForeignKey("test_sets.sha256"),
                                                 nullable=True)
    # What add-task found comparing the imported set with the dataset's public images, and
    # whether the teacher took it although its labels are public (--allow-public)
    public_overlap: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Public scores shown by the Ladder (leaderboard.ladder): only significant improvements
    ladder: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    labels_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True),
                                                          default=utcnow)


class ImportedTestSet(Base):
    """A test set a teacher imported: its images and labels as a compressed .npz, stored once
    per content (leaderboard.imported_sets reads and writes it)."""

    __tablename__ = "test_sets"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    images: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(500))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class User(Base):
    """A student (from the roster, known by their student id: two may share a name) or an
    admin (the teacher, whose token opens the grades and every submission)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    student_id: Mapped[str | None] = mapped_column(String(100), unique=True, nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    # A disabled user's token is refused and their rows leave the ranking
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True),
                                                          default=utcnow)


class ModelFile(Base):
    """An accepted upload, stored once per content (two students sending the same file share
    it)."""

    __tablename__ = "model_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What URLs and the API name it by: random, so that nobody reaches another's by counting
    key: Mapped[str] = mapped_column(String(32), unique=True, default=new_key)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    # None for a refused file: its bytes are not kept
    sha256: Mapped[str | None] = mapped_column(ForeignKey("model_files.sha256"),
                                               nullable=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), index=True)
    error: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # Whose a failure is: "file" (the child's timeout, memory or error) or "server"
    fault: Mapped[str | None] = mapped_column(String(10), nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True),
                                                          default=utcnow)
    started_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True),
                                                                 nullable=True)
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True),
                                                                  nullable=True)
    lease_expires_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    public_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    private_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    images_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    reference_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    params: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    macs: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # VGG-16: 15.5G
    details: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The model's hash whatever its names (leaderboard.copies), and the earlier submission
    # by another student it copies: left out of the ranking until the teacher clears it
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    copy_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    copy_cleared: Mapped[bool] = mapped_column(Boolean, default=False,
                                               server_default=false())
    # How it was found ("exact": the same model; "near": the same predictions, beyond what
    # independent training gives, or nearly the same weights), the share of the hidden images
    # either gets wrong on which both predict alike, how far its weights are from the other's
    # (leaderboard.canonical_weights.weight_distance), and whether the teacher confirmed it
    # (it stays unranked)
    copy_kind: Mapped[str | None] = mapped_column(String(10), nullable=True)
    copy_agreement: Mapped[float | None] = mapped_column(Float, nullable=True)
    copy_weight_distance: Mapped[float | None] = mapped_column(Float, nullable=True)
    copy_confirmed: Mapped[bool] = mapped_column(Boolean, default=False,
                                                 server_default=false())
    # The class it predicts for each hidden image, a byte each with a bit for whether it is
    # right, the public half first (leaderboard.near_copies.encoded)
    predictions: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True,
                                                      deferred=True)
    # The model's weights in canonical form (leaderboard.canonical_weights.packed), and a
    # digest of its layers' shapes: only models of one architecture compare by weights
    weights: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    weights_architecture: Mapped[str | None] = mapped_column(String(64), nullable=True,
                                                             index=True)
    # Marked by its author for the private ranking (at most the task's final_count)
    final: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    task: Mapped[Task] = relationship()
    user: Mapped[User] = relationship()


class Worker(Base):
    """A verification worker's heartbeat: written every few seconds while it runs."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)  # host:pid
    started_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    submission_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # evaluating


class SignedIn(Base):
    """A page's sign-in: the cookie's SHA-256 (the cookie itself is never stored), the CSRF
    token its forms carry, and the user's token hash when they signed in (a reset token or a
    disabled user ends it)."""

    __tablename__ = "sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True),
                                                          default=utcnow)
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
