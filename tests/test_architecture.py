"""The package's shape, as DESIGN.md draws it: data flows one way (data -> models -> train ->
runs -> evaluate -> viz -> lab, and evaluate -> leaderboard), the NumPy engine and the
arithmetic depend on nothing of ours but each other, and no module imports itself back through
others. Read from the source's import statements (every one, at any depth), so a cycle hidden
inside a function is found too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "src" / "cnnlab"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in ROOT.rglob("*.py")}


def _named_module(text: str) -> str | None:
    """The cnnlab module a string names, as `import_module` or an entry point takes it
    ("cnnlab.api", "cnnlab.api:train"); None for any other string."""
    name, colon, _ = text.partition(":")
    if name == "cnnlab" and not colon:
        return None  # the distribution's name (versions, metadata), not an import
    return name if name in MODULES else None


def _imports_in(source: str, name: str) -> set[str]:
    """The cnnlab modules the source of module `name` imports: by its import statements, at
    any depth (`from package import submodule` depends on the submodule alone, `from package
    import name` on the package), and by name at run time (a string that is a module's whole
    name, which `import_module` or an entry point takes)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= submodules & set(MODULES)
            if not submodules <= set(MODULES):
                found.add(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(_named_module(node.value))
    return {module for module in found if module in MODULES and module != name}


def _imports(name: str) -> set[str]:
    return _imports_in(MODULES[name].read_text(), name)


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in GRAPH[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return components


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_imports_itself_back():
    assert _cycles() == []


# package -> the packages of ours it must never import. A top-level module is a package of
# its own name: "api" (the Python face) and "cli" (the command) sit above every floor, and only
# cnnlab's own front door (its __init__ and __main__) imports them.
ABOVE = {"api", "cli"}
FORBIDDEN = {
    "scratch": {"models", "data", "train", "runs", "evaluate", "viz", "leaderboard", "lab",
                *ABOVE},
    "arithmetic": {"scratch", "models", "data", "train", "runs", "evaluate", "viz",
                   "leaderboard", "lab", *ABOVE},
    "data": {"models", "train", "runs", "evaluate", "viz", "leaderboard", "lab", *ABOVE},
    "models": {"train", "runs", "evaluate", "viz", "leaderboard", "lab", *ABOVE},
    "runs": {"train", "evaluate", "viz", "leaderboard", "lab", *ABOVE},
    "train": {"evaluate", "viz", "leaderboard", "lab", *ABOVE},
    "evaluate": {"train", "viz", "leaderboard", "lab", *ABOVE},
    "viz": {"train", "leaderboard", "lab", *ABOVE},
    "leaderboard": {"train", "viz", "lab", *ABOVE},
    # the grader's reference is torch itself, never one of our engines
    "exercises": {"scratch", "models", "data", "train", "runs", "evaluate", "viz",
                  "leaderboard", "lab", *ABOVE},
    "lab": {"train", "leaderboard", *ABOVE},  # the lab reads runs; it never trains
    "api": {"cli", "lab", "leaderboard"},
}


def _flows_the_wrong_way(package: str, graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} imports {target}" for module, targets in graph.items()
                  if _package(module) == package for target in targets
                  if _package(target) in FORBIDDEN[package])


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_data_flows_one_way(package):
    assert _flows_the_wrong_way(package, GRAPH) == []


def test_only_the_front_door_has_a_main_module():
    """`python -m cnnlab` is the one entry point: no package below it runs as a program."""
    assert sorted(name for name in MODULES if name.endswith("__main__")) == ["cnnlab.__main__"]


PLANTED = {
    "an import inside a function": ("cnnlab.train.loop", "def run():\n    from cnnlab.cli "
                                    "import main\n    main()\n", "cnnlab.cli"),
    "import_module by name": ("cnnlab.evaluate.speed", "import importlib\n"
                              "api = importlib.import_module('cnnlab.api')\n", "cnnlab.api"),
    "an entry-point string": ("cnnlab.runs.folder", "TARGET = 'cnnlab.api:runs'\n",
                              "cnnlab.api"),
    "a data module reaching for a model": ("cnnlab.data.splits",
                                           "import cnnlab.models.zoo\n", "cnnlab.models.zoo"),
}


@pytest.mark.parametrize("how", sorted(PLANTED))
def test_a_planted_call_up_the_floors_is_found(how):
    module, source, target = PLANTED[how]
    graph = {**GRAPH, module: _imports_in(source, module)}
    assert f"{module} imports {target}" in _flows_the_wrong_way(_package(module), graph)


def test_a_string_that_only_mentions_a_module_is_no_import():
    assert _imports_in('"""Calls cnnlab.api.train; see cnnlab.cli."""\n'
                       'HELP = "cnnlab.api is the Python face"\n', "cnnlab.train") == set()


# The names a window's kernel, stride and dilation go by, as attributes too (self.stride)
WINDOW_NAMES = {"k", "kk", "kernel", "kernel_size", "d", "dilation", "s", "stride"}


def _names_in(node: ast.AST) -> set[str]:
    return {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node)
            if isinstance(n, ast.Name | ast.Attribute)}


def _less_one(node: ast.AST) -> bool:
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)
            and isinstance(node.right, ast.Constant) and node.right.value == 1)


def _size_formulas(source: str) -> list[str]:
    """The window-size arithmetic written in `source`: a kernel's dilated extent or a
    count of positions times a stride, `d * (k - 1)` or `(n - 1) * s`, and a count of
    positions, `... // stride + 1`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.BinOp):
            continue
        extent = isinstance(node.op, ast.Mult) and (
            _less_one(node.left) or _less_one(node.right)) and _names_in(node) & WINDOW_NAMES
        count = (isinstance(node.op, ast.Add) and isinstance(node.left, ast.BinOp)
                 and isinstance(node.left.op, ast.FloorDiv)
                 and _names_in(node.left.right) & WINDOW_NAMES
                 and isinstance(node.right, ast.Constant) and node.right.value == 1)
        if extent or count:
            found.append(ast.unparse(node))
    return found


def test_sizes_are_computed_in_arithmetic_alone():
    """arithmetic/sizes.py is the one home of the window formulas; the students' exercise
    templates keep their own line, since their sandbox refuses cnnlab."""
    written = {name: _size_formulas(path.read_text()) for name, path in MODULES.items()
               if _package(name) != "arithmetic" and ".templates." not in name}
    assert {name: found for name, found in written.items() if found} == {}


@pytest.mark.parametrize("formula", [
    "out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1",
    "extent = self.dilation[axis] * (self.kernel_size[axis] - 1) + 1",
    "full = (h - 1) * s + k + output_padding",
    "count = (size - k) // s + 1",
])
def test_a_planted_size_formula_is_found(formula):
    assert _size_formulas(formula)


def test_other_arithmetic_is_no_size_formula():
    assert _size_formulas("done = (self.epoch - 1) * self.steps_per_epoch + step\n"
                          "row = r // stride[0]\nleft = (width - grid_w) // 2\n") == []


def _contract_written(source: str) -> list[str]:
    """The preprocessing contract written in `source`: pixels scaled by 255, or normalised
    by a mean and a standard deviation, `(x - mean) / std`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
            continue
        scaled = isinstance(node.right, ast.Constant) and node.right.value in (255, 255.0)
        normalised = (isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Sub)
                      and "mean" in _names_in(node.left) and "std" in _names_in(node.right))
        if scaled or normalised:
            found.append(ast.unparse(node))
    return found


def test_the_preprocessing_contract_is_applied_from_data_alone():
    """data/contract.py turns pixels into what a model receives; everyone else calls it."""
    written = {name: _contract_written(path.read_text()) for name, path in MODULES.items()
               if _package(name) != "data" and ".templates." not in name}
    assert {name: found for name, found in written.items() if found} == {}


@pytest.mark.parametrize("code", [
    "unit = pixels.astype(np.float32) / 255.0",
    "x = batch / 255",
    "received = (unit[None] - mean) / std",
    "out = self.model((batch - self.mean) / self.std)",
])
def test_a_planted_contract_is_found(code):
    assert _contract_written(code)


_CAPTURING = {"register_forward_hook", "register_forward_pre_hook", "observe_ops"}


def _captures(source: str) -> list[str]:
    """Where `source` watches a forward pass itself: a forward hook, or an engine's op
    observer (`observe_ops`) used."""
    return sorted({node.attr for node in ast.walk(ast.parse(source))
                   if isinstance(node, ast.Attribute) and node.attr in _CAPTURING
                   and isinstance(node.ctx, ast.Load)})


# Not a view of the computation: a frozen layer's batch norm kept in evaluation mode
_HOOKS_THAT_CHANGE_A_RUN = {"cnnlab.train.initial": ["register_forward_pre_hook"]}
# Where the engines' op observers are declared and implemented
_OBSERVERS = {"cnnlab.models.engine", "cnnlab.models.torch_engine",
              "cnnlab.models.scratch_engine"}


def test_a_forward_pass_is_watched_by_the_capture_alone():
    """models/capture.py is the one recorder of a network's calls: shapes, the figures, the
    explorer and Grad-CAM are built on it, with no hook or op observer of their own."""
    found = {name: hooks for name, path in MODULES.items()
             if (hooks := _captures(path.read_text())) and name != "cnnlab.models.capture"
             and name not in _OBSERVERS and not name.startswith("cnnlab.scratch.")}
    assert found == _HOOKS_THAT_CHANGE_A_RUN


@pytest.mark.parametrize("code", [
    "handle = model.layer3.register_forward_hook(keep)",
    "with engine.observe_ops(tracer.follow_op):\n    model(x)",
])
def test_a_planted_tracer_is_found(code):
    assert _captures(code)


ENGINE_MODULES = {"cnnlab.models.torch_engine", "cnnlab.models.scratch_engine"}


def _engine_modules_imported(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} imports {target}" for module, targets in graph.items()
                  if _package(module) != "models" for target in targets & ENGINE_MODULES)


def test_engines_are_reached_through_models_alone():
    """Outside models/, an engine is what `engines.get_engine` or `engine_of` returns."""
    assert _engine_modules_imported(GRAPH) == []


def test_a_planted_engine_import_is_found():
    source = "from cnnlab.models.torch_engine import accelerator_name\n"
    graph = {**GRAPH, "cnnlab.train.loop": _imports_in(source, "cnnlab.train.loop")}
    assert _engine_modules_imported(graph) == [
        "cnnlab.train.loop imports cnnlab.models.torch_engine"]


def _engine_members_used(source: str) -> set[str]:
    """The members asked of an engine: `engine.x`, `self.engine.x`, `predict.engine.x`."""
    return {node.attr for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute)
            and ((isinstance(node.value, ast.Name) and node.value.id == "engine")
                 or (isinstance(node.value, ast.Attribute) and node.value.attr == "engine"))}


# The packages that hold a model engine in a variable named `engine` (the leaderboard's
# `engine` is SQLAlchemy's)
ENGINE_USERS = {"models", "train", "runs", "evaluate", "viz", "lab"}


def _declared_on_engine() -> set[str]:
    from cnnlab.models.engine import Engine

    return set(dir(Engine)) | set(Engine.__annotations__)  # methods, and the attributes


def test_every_engine_member_used_is_declared_on_engine():
    used = {(name, member) for name, path in MODULES.items() if _package(name) in ENGINE_USERS
            for member in _engine_members_used(path.read_text())}
    assert {pair for pair in used if pair[1] not in _declared_on_engine()} == set()
    assert {member for _, member in used} >= {"prepare", "grad_scaler", "rng_state", "inputs"}


def test_a_planted_undeclared_engine_member_is_found():
    used = _engine_members_used("loss = self.engine.cross_entropy(logits, y)\n")
    assert used == {"cross_entropy"} and "cross_entropy" not in _declared_on_engine()


def test_both_engines_implement_the_whole_declaration():
    from cnnlab.models.engine import Engine
    from cnnlab.models.engines import NAMES, get_engine

    assert len(Engine.__abstractmethods__) > 15  # declared, not left to duck typing
    for name in NAMES:
        engine = get_engine(name)
        assert isinstance(engine, Engine) and not type(engine).__abstractmethods__


LONGEST = 400  # lines: a room a reader takes in at one sitting


def _too_long(sources: dict[str, str]) -> dict[str, int]:
    lengths = {name: len(text.splitlines()) for name, text in sources.items()}
    return {name: length for name, length in lengths.items() if length > LONGEST}


def test_no_source_file_is_longer_than_a_sitting():
    """Alembic's generated migrations aside."""
    assert _too_long({name: path.read_text() for name, path in MODULES.items()
                      if ".migrations." not in name}) == {}


def test_a_planted_long_file_is_found():
    assert _too_long({"planted": "x = 1\n" * (LONGEST + 1),
                      "fine": "x = 1\n" * LONGEST}) == {"planted": LONGEST + 1}


def test_the_exercise_sandbox_imports_nothing_of_ours():
    """The student's file runs in sandbox.py's process: cnnlab must not be loaded there."""
    assert not [target for target in GRAPH["cnnlab.exercises.sandbox"]
                if target.startswith("cnnlab")]


def test_the_graph_is_read_at_all():
    """The checks above see real edges (a parser that found nothing would pass them)."""
    assert "cnnlab.models.engines" in GRAPH["cnnlab.train.loop"]
    assert "cnnlab.runs.folder" in GRAPH["cnnlab.evaluate.targets"]
    assert "cnnlab.models.torch_engine" in GRAPH["cnnlab.models.engines"]  # by name
    assert len(MODULES) > 80
