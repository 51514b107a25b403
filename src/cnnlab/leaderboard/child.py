"""Running something a student sent in a child process that cannot hurt its parent: an address
space limit, a cap on the files it writes, a timeout, and its output kept in files read back
only in part (a child that prints gigabytes fills neither the parent's memory nor the disk).
The kernel ends the child when its parent dies, however the parent dies.

The worker evaluates submissions this way, and the service checks uploads this way (the ONNX
checker holds the GIL: in the server's own process a huge file would stall every request)."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

KEPT_OUTPUT = 1 << 20  # what is read back of each of stdout and stderr: their last MiB
MAX_WRITTEN = 256 << 20  # RLIMIT_FSIZE: the largest file the child may write, its output too
POLL_S = 0.05

# How running out of the address-space limit shows: Python, C++, the dynamic loader, ONNX Runtime
OUT_OF_MEMORY = ("MemoryError", "bad_alloc", "failed to map segment", "Cannot allocate memory",
                 "Failed to allocate memory")


@dataclasses.dataclass(frozen=True)
class ChildResult:
    code: int  # negative: ended by that signal
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def out_of_memory(self) -> bool:
        return (not self.timed_out and self.code == -signal.SIGKILL) or \
            any(marker in self.stderr for marker in OUT_OF_MEMORY)

    def last_error_line(self) -> str:
        """The last line of stderr that says something: a traceback's exception line."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


# ONNX Runtime's errors open with a status code and a C++ source location: the reason follows
_ORT_PREFIX = re.compile(r"^.*\[ONNXRuntimeError\] : \d+ : \w+ : (\S+\.(cc|cpp|h):\d+ \S+ )?")


def child_reason(text: str, folder: str) -> str:
    """A child's error line as the student and the teacher read it: no temporary paths, no
    C++ source locations."""
    return _ORT_PREFIX.sub("", text.replace(folder + os.sep, "").replace(folder, ""))


def die_with_parent() -> None:
    """In a child, before it starts: the kernel ends it when its parent dies, however the
    parent dies (kill -9 runs no cleanup; uvicorn re-raises SIGTERM after its shutdown)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def limits_for_child(memory_mb: int) -> Callable[[], None]:
    def apply() -> None:
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_WRITTEN, MAX_WRITTEN))
        die_with_parent()
    return apply


def tail(handle) -> str:
    handle.seek(0, 2)
    size = handle.tell()
    handle.seek(max(0, size - KEPT_OUTPUT))
    return handle.read().decode("utf-8", "replace")


def run_limited(command: list[str], *, memory_mb: int, timeout_s: float, env=None,
                stdin: bytes = b"", heartbeat: Callable[[], None] = lambda: None,
                heartbeat_s: float = 5.0) -> ChildResult:
    """Run `command` under the limits; `heartbeat` is called every `heartbeat_s` while it runs
    (an exception from it ends the child and is raised). Past `timeout_s` the child is killed
    and the result says timed_out."""
    with tempfile.TemporaryFile() as given, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        given.write(stdin)
        given.seek(0)
        process = subprocess.Popen(command, stdin=given, stdout=out, stderr=err, env=env,
                                   preexec_fn=limits_for_child(memory_mb))
        started = time.monotonic()
        next_beat = started + heartbeat_s
        try:
            while process.poll() is None:
                now = time.monotonic()
                if now - started > timeout_s:
                    process.kill()
                    process.wait()
                    return ChildResult(process.returncode, tail(out), tail(err), True)
                if now >= next_beat:
                    heartbeat()
                    next_beat = now + heartbeat_s
                time.sleep(POLL_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        return ChildResult(process.returncode, tail(out), tail(err))
