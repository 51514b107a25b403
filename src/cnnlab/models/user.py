"""The user's own network, named as `path/to/net.py:ClassName` or `package.module:factory`.

The file is the user's own code, run on their machine by their command, exactly as
`python net.py` would: it is imported, the class (or factory) is called without arguments and
must give a torch `nn.Module` or a scratch one.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from cnnlab.models.engines import engine_of


def is_user_model(spec: str) -> bool:
    return ":" in spec


def _import_file(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    module_name = f"cnnlab_user_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise ValueError(f"{path} line {error.lineno}: {error.msg}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ValueError(f"cannot import module {name!r}: {error}") from None


def load_user_model(spec: str):
    """Build the model that `spec` ("net.py:ClassName" or "package.module:factory") names."""
    target, _, attribute = spec.rpartition(":")
    if not target or not attribute:
        raise ValueError(f"expected path/to/net.py:ClassName or package.module:factory, got "
                         f"{spec!r}")
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    module = _import_file(Path(target)) if is_file else _import_module(target)
    factory = getattr(module, attribute, None)
    if factory is None:
        defined = sorted(name for name, value in vars(module).items()
                         if not name.startswith("_") and callable(value)
                         and getattr(value, "__module__", None) == module.__name__)
        raise ValueError(f"{target} does not define {attribute!r}"
                         + (f"; it defines {', '.join(defined)}" if defined else ""))
    if not callable(factory):
        raise ValueError(f"{target}:{attribute} is a {type(factory).__name__}, not a class or "
                         "a function that builds a model")
    try:
        inspect.signature(factory).bind()
    except TypeError as error:
        raise ValueError(f"{target}:{attribute} must be callable without arguments to build "
                         f"the model ({error})") from None
    except ValueError:
        pass  # no signature to inspect (a builtin): just call it
    model = factory()
    try:
        engine_of(model)
    except TypeError:
        raise ValueError(f"{target}:{attribute}() returned a {type(model).__name__}, not a "
                         "torch.nn.Module or a cnnlab.scratch.nn.Module") from None
    return model
