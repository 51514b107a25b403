"""Files written atomically (temp file in the same folder, fsync, rename): a crash or Ctrl-C at
any moment leaves the previous file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp",
                                     delete=False) as handle:
        temporary = handle.name
        try:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            # a temporary file is private (0600); the result gets the mode any new file gets
            os.fchmod(handle.fileno(), 0o666 & ~_current_umask())
        except BaseException:
            os.unlink(temporary)
            raise
    try:
        os.replace(temporary, path)
    except OSError:  # the target is a folder, say: leave nothing of ours behind
        os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
