"""Who watches the ops: one capture of a forward pass (`cnnlab.models.capture`) sees every call
its code makes, as torch's function modes see torch's. A public op announces itself
(`announced`): the observer sees the call (`F.relu`, `x.view`, `a + b`) once, with its name
and arguments, and not the ops it is made of; an op that is not announced is reported as
it is recorded, with no name."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

# observer(output, inputs, op) -> a replacement output or None; op is (name, args, kwargs)
Observer = Callable[..., object]
WATCHING: list[Observer] = []
_depth = 0  # announced calls being computed: the ops recorded inside them are their parts
# Tensor's methods as (class, name, plain function, announced function): plain while nobody
# watches, so training pays nothing for the capture (announced, a LeNet-5 step took 6% longer)
_METHODS: list[tuple[type, str, Callable, Callable]] = []


@contextlib.contextmanager
def observe_ops(observer: Observer) -> Iterator[None]:
    """Call `observer(output, inputs, op)` after every op a forward pass calls, residual sums
    and concatenations included. `op` is (name, args, kwargs); the name is "" for an op that
    did not announce itself. What the observer returns, when not None, replaces the output
    of an announced call (Grad-CAM keeps a layer's output that way)."""
    if not WATCHING:
        _install_methods(announced=True)
    WATCHING.append(observer)
    try:
        yield
    finally:
        WATCHING.remove(observer)
        if not WATCHING:
            _install_methods(announced=False)


def method(owner: type, name: str, function: Callable, spoken: str) -> None:
    """Install `function` as `owner`'s method `name`, announced as `spoken` while observed."""
    _METHODS.append((owner, name, function, announced(spoken)(function)))
    setattr(owner, name, function)


def _install_methods(announced: bool) -> None:
    for owner, name, plain, spoken in _METHODS:
        setattr(owner, name, spoken if announced else plain)


def _tensors(values) -> Iterator[object]:
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from _tensors(value)
        elif hasattr(value, "_version"):  # a scratch Tensor (this module comes before it)
            yield value


def announced(name: str) -> Callable:
    """Decorate a public op so that observers see its call as one op called `name`."""
    def wrap(function):
        @functools.wraps(function)
        def call(*args, **kwargs):
            global _depth
            if not WATCHING:
                return function(*args, **kwargs)
            _depth += 1
            try:
                output = function(*args, **kwargs)
            finally:
                _depth -= 1
            if _depth:
                return output
            return report(output, tuple(_tensors([*args, *kwargs.values()])),
                          (name, args, kwargs))

        return call

    return wrap


def recorded(output, inputs: tuple) -> None:
    """An op just recorded: observers see it unless it is part of an announced call."""
    if not _depth:
        report(output, inputs, ("", inputs, {}))


def report(output, inputs: tuple, op: tuple):
    """Tell every observer of a call; what one returns replaces the output."""
    for observer in list(WATCHING):
        replacement = observer(output, inputs, op)
        if replacement is not None:
            output = replacement
    return output
