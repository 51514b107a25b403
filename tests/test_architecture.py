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


def _imports(name: str) -> set[str]:
    """The cnnlab modules `name` imports. `from package import submodule` depends on the
    submodule alone; `from package import name` on the package."""
    tree = ast.parse(MODULES[name].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= submodules & set(MODULES)
            if not submodules <= set(MODULES):
                found.add(node.module)
    return {module for module in found if module in MODULES and module != name}


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


# package -> the packages of ours it must never import ("" is cnnlab's own top level)
FORBIDDEN = {
    "scratch": {"models", "data", "train", "runs", "evaluate", "viz", "leaderboard", "lab",
                "cli"},
    "arithmetic": {"scratch", "models", "data", "train", "runs", "evaluate", "viz",
                   "leaderboard", "lab", "cli"},
    "data": {"models", "train", "runs", "evaluate", "viz", "leaderboard", "lab", "cli"},
    "models": {"train", "runs", "evaluate", "viz", "leaderboard", "lab", "cli"},
    "runs": {"train", "evaluate", "viz", "leaderboard", "lab", "cli"},
    "train": {"evaluate", "viz", "leaderboard", "lab", "cli"},  # its __main__ is the command
    "evaluate": {"train", "viz", "leaderboard", "lab", "cli"},
    "viz": {"train", "leaderboard", "lab", "cli"},
    "leaderboard": {"train", "viz", "lab", "cli"},
    # the grader's reference is torch itself, never one of our engines
    "exercises": {"scratch", "models", "data", "train", "runs", "evaluate", "viz",
                  "leaderboard", "lab", "cli"},
    "lab": {"train", "leaderboard", "cli"},  # the lab reads runs; it never trains
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_data_flows_one_way(package):
    wrong = sorted(f"{module} imports {target}" for module, targets in GRAPH.items()
                   if _package(module) == package and not module.endswith("__main__")
                   for target in targets
                   if _package(target) in FORBIDDEN[package])
    assert wrong == []


def test_the_exercise_sandbox_imports_nothing_of_ours():
    """The student's file runs in sandbox.py's process: cnnlab must not be loaded there."""
    assert not [target for target in GRAPH["cnnlab.exercises.sandbox"]
                if target.startswith("cnnlab")]


def test_the_graph_is_read_at_all():
    """The checks above see real edges (a parser that found nothing would pass them)."""
    assert "cnnlab.models.engines" in GRAPH["cnnlab.train.loop"]
    assert "cnnlab.runs.folder" in GRAPH["cnnlab.evaluate.targets"]
    assert len(MODULES) > 80
