"""A network handed over as the class (or factory) itself, `cnnlab.train(Net, ...)`, named as
`path/to/net.py:Net` the way every command names one of the user's own.

A class written in a file is named after that file. A class written in a notebook cell has no
file: the cell's source, which IPython keeps, is written to a file of its own (named after
its contents, under the user's cache), and the run keeps a copy of it as it keeps any
network's source, so it can be resumed, evaluated and exported after the notebook is closed.
The cell must hold what the class needs (its imports), as the tutorials' cells do: the kept
file is checked by building the network from it before anything trains.
"""

from __future__ import annotations

import hashlib
import linecache
import types
from pathlib import Path

CELLS = Path.home() / ".cache" / "cnnlab" / "cells"  # one folder per cell's contents


def _code_of(network) -> types.CodeType | None:
    """The code of a function the object defines: itself, or one of a class's methods."""
    if isinstance(network, types.FunctionType):
        return network.__code__
    if isinstance(network, type):
        for value in vars(network).values():
            function = getattr(value, "__func__", value)
            if isinstance(function, types.FunctionType):
                return function.__code__
    return None


def network_spec(network) -> str:
    """`network` (a class or a factory function) as the `path:Name` a run keeps."""
    name = getattr(network, "__name__", None)
    code = _code_of(network)
    if code is None or not name or name == "<lambda>" or \
            getattr(network, "__qualname__", name) != name:
        raise TypeError(f"give the network as a class or a factory function defined at the "
                        f"top of a file or a notebook cell, or as 'path/to/net.py:Name' (got "
                        f"{type(network).__name__} {network!r:.60})")
    path = Path(code.co_filename)
    if path.suffix == ".py" and path.is_file() and not _is_cell(code.co_filename):
        return f"{path}:{name}"
    lines = linecache.getlines(code.co_filename)
    if not lines:
        raise TypeError(f"the source of {name} cannot be found (it was not defined in a file "
                        f"or a notebook cell): write it to a file and give 'net.py:{name}'")
    source = "".join(lines)
    folder = CELLS / hashlib.sha256(source.encode()).hexdigest()[:16]
    kept = folder / f"{name.lower()}.py"
    if not kept.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = kept.with_suffix(".partial")
        partial.write_text(f"# The notebook cell that defines {name}, kept by cnnlab.\n"
                           + source)
        partial.replace(kept)
    return f"{kept}:{name}"


def _is_cell(filename: str) -> bool:
    """IPython's cells: `<ipython-input-...>` in a terminal, a kernel's temporary files."""
    return filename.startswith("<") or "ipykernel_" in filename


def is_kept_cell(spec: str | None) -> bool:
    """Whether `spec` names a notebook cell's source that `network_spec` kept."""
    return spec is not None and Path(spec.rpartition(":")[0]).parent.parent == CELLS
