"""Who watches the ops: a tracer follows the data through a forward pass, residual sums and
concatenations included, by observing every op recorded (`observe_ops`); a functional op
announces itself (`named_op`), so that the observer sees the call, not only its parts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

# observer(output, inputs, op): op is the (name, args, kwargs) of the announced call, or None
Observer = Callable[..., None]
WATCHING: list[Observer] = []
_named_ops: list[tuple] = []  # (name, args, kwargs) of the functional ops being computed


@contextlib.contextmanager
def observe_ops(observer: Observer) -> Iterator[None]:
    """Call `observer(output, inputs, op)` after every op: how a tracer follows the data
    through a model's forward, residual sums and concatenations included. `op` is the
    (name, args, kwargs) of a functional op that announced itself with `named_op`, else None."""
    WATCHING.append(observer)
    try:
        yield
    finally:
        WATCHING.remove(observer)


@contextlib.contextmanager
def named_op(name: str, args: tuple, kwargs: dict) -> Iterator[None]:
    """The ops recorded inside the block are reported to observers as this call."""
    _named_ops.append((name, args, kwargs))
    try:
        yield
    finally:
        _named_ops.pop()


def report(output, inputs: tuple) -> None:
    """Tell every observer of an op just recorded."""
    for observer in WATCHING:
        observer(output, inputs, _named_ops[-1] if _named_ops else None)
