"""The schema the migrations make, and SQLite's locking discipline."""

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from cnnlab.leaderboard.database import connect, open_database, reading, writing
from cnnlab.leaderboard.schema import Base, Task

MIGRATIONS = Path(__file__).parents[2] / "src/cnnlab/leaderboard/migrations/versions"


def test_the_migrations_build_exactly_the_schema_the_code_uses(engine):
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_opening_again_is_a_no_op_and_keeps_the_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    first = open_database(url)
    with writing(first) as session:
        session.add(Task(name="t", dataset="mnist", daily_limit=1, max_bytes=1, seed=0,
                         revealed=False))
    second = open_database(url)
    with reading(second) as session:
        assert session.scalar(text("select count(*) from tasks")) == 1
        newest = max(p.name[:4] for p in MIGRATIONS.glob("0*.py"))
        assert session.scalar(text("select version_num from alembic_version")) == newest


def test_sqlite_runs_in_wal_and_writes_take_the_lock_at_begin(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    engine = open_database(url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("pragma journal_mode").scalar() == "wal"
    with writing(engine) as session:
        session.execute(text("select 1"))  # no write yet, but the lock is held from BEGIN
        other = sqlite3.connect(tmp_path / "b.db", timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        assert other.execute("select count(*) from tasks").fetchone() == (0,)  # reads go on
        other.close()
    with reading(engine) as session:  # a read transaction does not lock out writers
        other = sqlite3.connect(tmp_path / "b.db", timeout=0.05, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()


def test_a_bad_database_url_is_refused_clearly():
    with pytest.raises(ValueError, match=r"--db: cannot use 'leaderboard\.db'"):
        connect("leaderboard.db")
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        connect("oracle://u@h/d")
