"""The user's own network, named as `path/to/net.py:Name` or `package.module:factory`.

The file is the user's own code, run on their machine by their command, exactly as
`python net.py` would: it is imported, and the class (or factory) is called to give a torch
`nn.Module` or a scratch one. A class or factory whose signature has `num_classes` or
`in_channels` receives the dataset's; options the user asked for (`dropout`) must be
parameters too.

A run keeps a copy of the source file; loading from that copy (`source=`) rebuilds the
network the run's weights belong to, whatever the user has done to their file since. A copy
of a module inside a package is loaded as a sibling of it, so its relative imports still work.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import first_line
from cnnlab.models.engine_swap import swapped
from cnnlab.models.engines import engine_of

OFFERED = ("num_classes", "in_channels")  # given to a factory that asks for them


@dataclass(frozen=True)
class UserModel:
    spec: str
    target: str  # net.py, or package.module
    attribute: str

    @property
    def is_file(self) -> bool:
        return self.target.endswith(".py") or "/" in self.target or "\\" in self.target

    @property
    def name(self) -> str:
        return self.attribute

    def source_file(self) -> Path:
        """The file that defines the network (for a module, where Python finds it)."""
        if self.is_file:
            path = Path(self.target)
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist")
            return path
        try:
            found = importlib.util.find_spec(self.target)
        except (ImportError, ValueError) as error:
            raise ValueError(f"cannot import module {self.target!r}: {error}") from None
        if found is None or not found.origin or not Path(found.origin).is_file():
            raise ValueError(f"cannot import module {self.target!r}: no such module, or it "
                             "has no source file")
        return Path(found.origin)


def is_user_model(spec: str) -> bool:
    return ":" in spec


def parse_user_model(spec: str) -> UserModel:
    target, _, attribute = spec.rpartition(":")
    if not target or not attribute:
        raise ValueError(f"expected path/to/net.py:ClassName or package.module:factory, got "
                         f"{spec!r}")
    return UserModel(spec, target, attribute)


def _execute(module_name: str, path: Path, search: Path | None,
             swap: tuple[str, str] | None = None):
    """Import the file `path` as `module_name`; with `swap` (the engine it is written for,
    the engine to build on) its engine's imports are swapped (engine_swap)."""
    if swap is not None:
        module_name += f"_on_{swap[1]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look themselves up there
    if search is not None:
        sys.path.insert(0, str(search))  # so the file can import its neighbours
    try:
        if swap is None:
            spec.loader.exec_module(module)
        else:
            exec(swapped(path.read_text(), path, *swap), module.__dict__)
    except SyntaxError as error:
        sys.modules.pop(module_name, None)
        raise ValueError(f"{path} line {error.lineno}: {error.msg}") from None
    except (KeyboardInterrupt, SystemExit):
        sys.modules.pop(module_name, None)
        raise
    except BaseException as error:  # the file's own mistake: one line naming it and where
        sys.modules.pop(module_name, None)
        lines = [f.lineno for f in traceback.extract_tb(error.__traceback__)
                 if Path(f.filename).resolve() == path.resolve()]
        where = f" (line {lines[-1]})" if lines else ""
        raise ValueError(f"importing {path} failed{where}: {type(error).__name__}: "
                         f"{first_line(error)}") from None
    finally:
        if search is not None:
            sys.path.remove(str(search))
    return module


def _module_of(user: UserModel, source: Path | None, swap: tuple[str, str] | None = None):
    if user.is_file:
        original = Path(user.target)
        path = source or original
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        name = f"cnnlab_user_{path.stem}_{abs(hash(str(path.resolve())))}"
        return _execute(name, path, original.resolve().parent, swap)
    if source is None and swap is not None:  # the module's own file, swapped
        found = importlib.util.find_spec(user.target)
        if found is None or not found.origin:
            raise ValueError(f"cannot import module {user.target!r}")
        source = Path(found.origin)
    if source is None:
        try:
            return importlib.import_module(user.target)
        except ImportError as error:
            raise ValueError(f"cannot import module {user.target!r}: {error}") from None
    package, _, leaf = user.target.rpartition(".")
    if package:
        importlib.import_module(package)  # relative imports resolve against it
    name = f"{package + '.' if package else ''}_cnnlab_copy_{leaf}_{abs(hash(str(source)))}"
    return _execute(name, source, None, swap)


def _factory(user: UserModel, source: Path | None, swap: tuple[str, str] | None = None):
    module = _module_of(user, source, swap)
    factory = getattr(module, user.attribute, None)
    if factory is None:
        defined = sorted(name for name, value in vars(module).items()
                         if not name.startswith("_") and callable(value)
                         and getattr(value, "__module__", None) == module.__name__)
        raise ValueError(f"{user.target} does not define {user.attribute!r}"
                         + (f"; it defines {', '.join(defined)}" if defined else ""))
    if not callable(factory):
        raise ValueError(f"{user.spec} is a {type(factory).__name__}, not a class or a "
                         "function that builds a model")
    return factory


def _arguments(user: UserModel, factory, offered: dict, asked: dict) -> dict:
    """What to call the factory with: the offered values it has parameters for, and every
    option the user asked for (which it must take)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no signature to inspect (a builtin): call it bare
        parameters = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    refused = [name for name in asked if name not in parameters and not takes_any]
    if refused:
        raise ValueError(f"{user.spec} does not take {', '.join(refused)} (asked for with "
                         f"--{refused[0].replace('_', '-')}); add the parameter to "
                         f"{user.attribute}, or drop the option")
    arguments = {name: value for name, value in offered.items()
                 if name in parameters or takes_any}
    arguments.update(asked)
    try:
        inspect.signature(factory).bind(**arguments)
    except TypeError as error:
        raise ValueError(f"{user.spec} must be callable with no arguments other than "
                         f"{', '.join(OFFERED)} ({error})") from None
    except ValueError:
        pass
    return arguments


def load_user_model(spec: str, num_classes: int | None = None, in_channels: int | None = None,
                    options: dict | None = None, source: Path | None = None,
                    swap: tuple[str, str] | None = None):
    """Build the network `spec` names. `num_classes` and `in_channels` go to a factory that
    takes them; `options` (dropout) must be taken. `source` is a copy of the file to load
    instead of the current one. `swap`, (the engine the file is written for, another one),
    builds it on the other engine with the file's engine imports swapped."""
    user = parse_user_model(spec)
    factory = _factory(user, source, swap)
    offered = {name: value for name, value in (("num_classes", num_classes),
                                               ("in_channels", in_channels))
               if value is not None}
    model = factory(**_arguments(user, factory, offered, dict(options or {})))
    try:
        engine_of(model)
    except TypeError:
        raise ValueError(f"{user.spec} returned a {type(model).__name__}, not a "
                         "torch.nn.Module or a cnnlab.scratch.nn.Module") from None
    return model
