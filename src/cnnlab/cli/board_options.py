"""What the leaderboard's commands share: its database, its extra, a port."""

from __future__ import annotations

import argparse
import os


def port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is a number from 1 to 65535, got {text!r}")
    return int(text)


def database_url(args) -> str:
    from cnnlab.leaderboard.database import DEFAULT_URL

    return args.db or os.environ.get("CNNLAB_LEADERBOARD_DB") or DEFAULT_URL


EXTRA = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "jinja2", "python_multipart")


def require_extra() -> None:
    import importlib.util

    missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"the leaderboard needs its extra: pip install 'cnnlab[leaderboard]' "
                          f"({', '.join(missing)} missing)")


def open_board(args):
    from cnnlab.leaderboard.database import open_database

    return open_database(database_url(args))


def with_db(parser):
    parser.add_argument("--db", help="database URL (default sqlite:///leaderboard.db in "
                                     "the working folder, or $CNNLAB_LEADERBOARD_DB); "
                                     "postgresql://... for PostgreSQL")
    return parser
