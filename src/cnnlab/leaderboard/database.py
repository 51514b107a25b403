"""Connecting to the leaderboard's database: SQLite by default (one file, WAL, a busy timeout,
write transactions begun IMMEDIATE), PostgreSQL for a whole school, the same code on both.
The schema comes from the Alembic migrations, applied on every start."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from cnnlab.errors import first_line

DEFAULT_URL = "sqlite:///leaderboard.db"  # in the working folder
BUSY_TIMEOUT_MS = 30_000
_WRITE = "cnnlab_write"


def connect(url: str = DEFAULT_URL, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    """The engine; on SQLite a writer waits `busy_timeout_ms` for another's lock before the
    statement fails (the worker then waits and tries again; the service answers 503)."""
    if url.startswith("postgres://"):  # the form some hosts print
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):  # psycopg 3 (the extra installs it), not psycopg2
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ValueError(f"--db: cannot use {url!r}: expected sqlite:///FILE or "
                         "postgresql://USER@HOST/DATABASE") from None
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"--db: the leaderboard runs on SQLite or PostgreSQL, got {backend}")
    # PostgreSQL waits for a lock without end unless told: as long as SQLite's busy timeout
    options = {"connect_args": {"options": f"-c lock_timeout={int(busy_timeout_ms)}"}} \
        if backend == "postgresql" else {}
    try:
        engine = create_engine(url, **options)
    except ImportError as error:
        raise ValueError(f"--db: {backend} needs its driver, which is not installed "
                         f"({error.name}); for PostgreSQL: pip install 'psycopg[binary]'") \
            from None
    if backend == "sqlite":
        _check_sqlite_file(engine.url.database)
        _configure_sqlite(engine, busy_timeout_ms)
    return engine


SQLITE_HEADER = b"SQLite format 3\x00"


def _check_sqlite_file(database: str | None) -> None:
    """Never write over a file that is not a SQLite database, and never make folders for
    one: a mistyped --db must not cost anybody their notes or scatter databases around."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        raise ValueError(f"--db: the folder {path.parent} does not exist; create it first "
                         "(the leaderboard does not make folders for its database)")
    if path.is_dir():
        raise ValueError(f"--db: {path} is a folder; give a file such as {path}/board.db")
    if path.exists() and path.stat().st_size:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            raise ValueError(f"--db: {path} exists and is not a SQLite database; the "
                             "leaderboard writes only to a new file or to its own database")
    # The leaderboard writes (every upload, every result), and SQLite's write-ahead log puts
    # two files beside the database: both the file and its folder must be writable.
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"--db: {path} is read-only; the leaderboard writes to its database "
                         "(give it write permission, or a copy that is writable)")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ValueError(f"--db: the folder {path.parent} is read-only; SQLite writes its "
                         "journal beside the database, so the folder must be writable too")


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's begin event issue BEGIN itself, so it can choose IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        # A write transaction takes the write lock at BEGIN: one that read first and wrote
        # later would have to upgrade its lock, and under contention SQLite answers that with
        # SQLITE_BUSY at once, whatever the busy timeout.
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[Session]:
    """A session in one write transaction, committed on success, rolled back on error."""
    writer = engine.execution_options(**{_WRITE: True})
    with Session(writer, expire_on_commit=False) as session, session.begin():
        yield session


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.execution_options(**{_WRITE: True}).connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()


def open_database(url: str = DEFAULT_URL, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    from sqlalchemy.exc import DBAPIError

    engine = connect(url, busy_timeout_ms)
    _check_ours(engine)
    try:
        migrate(engine)
    except DBAPIError as error:  # a read-only server or file, a full disk
        shown = engine.url.render_as_string(hide_password=True)
        reason = first_line(error.orig or error)
        raise ValueError(f"--db: cannot prepare the leaderboard's tables in {shown}: "
                         f"{reason}") from None
    return engine


def _check_ours(engine: Engine) -> None:
    """The database must be reachable, and be empty or the leaderboard's own (its tables
    next to another application's would mix two schemas)."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    shown = engine.url.render_as_string(hide_password=True)
    try:
        tables = set(inspect(engine).get_table_names())
    except DBAPIError as error:
        reason = first_line(error.orig or error)
        raise ValueError(f"--db: cannot open {shown}: {reason}") from None
    if tables and "alembic_version" not in tables:
        raise ValueError(f"--db: {shown} holds another application's tables "
                         f"({', '.join(sorted(tables)[:5])}); give the leaderboard a database "
                         "of its own")

