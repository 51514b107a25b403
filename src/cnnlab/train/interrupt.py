"""Ctrl-C during training: a flag the loop reads between steps, so a step is never cut in
half and the checkpoint it saves is a whole one."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Turn Ctrl-C into a flag the loop reads between steps, so a step is never cut in half."""
    pressed = []
    if threading.current_thread() is threading.main_thread():  # signals reach only that one
        previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
        try:
            yield lambda: bool(pressed)
        finally:
            signal.signal(signal.SIGINT, previous)
    else:
        yield lambda: False
