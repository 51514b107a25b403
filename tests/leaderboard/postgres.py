"""A throwaway PostgreSQL server for the tests, from Debian's `postgresql` package: its own
data folder, a free port on loopback, no fsync, stopped and deleted at the end. As root (CI)
the server runs as the `postgres` user, since PostgreSQL refuses to run as root."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else None


def unavailable() -> str | None:
    """Why no server can be started here, or None."""
    if _bin() is None:
        return "Debian's postgresql is not installed (make test installs it)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as its own user"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (the leaderboard extra installs it)"
    return None


class Server:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="cnnlab-pg-"))
        self.data = self.folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._names = itertools.count()
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        bin_ = _bin()
        self._run([bin_ / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                   "-E", "UTF8", "--no-sync"])
        self._run([bin_ / "pg_ctl", "-D", self.data, "-l", self.folder / "log", "-w",
                   "-o", f"-F -p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1",
                   "start"])

    def _run(self, command) -> None:
        command = [str(part) for part in command]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.folder)

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        import psycopg

        name = f"board_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run([_bin() / "pg_ctl", "-D", self.data, "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
