"""A network of the user's own on the other engine: its source with the engine's imports
swapped. cnnlab.scratch has torch's names, arguments and state_dict keys, so the code a
student wrote for one engine builds the same network on the other with only its imports
changed, the way the course's code runs on the scratch engine. That is how a network written
for the scratch engine is exported to ONNX (through torch) and submitted; the twin's logits
are checked against the original's before anyone uses it (build.on_engine)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOTS = {"torch": "torch", "scratch": "cnnlab.scratch"}  # engine -> the package it imports


def _under(name: str, root: str) -> bool:
    return name == root or name.startswith(root + ".")


class _Swap(ast.NodeTransformer):
    def __init__(self, source: str, target: str, path: Path):
        self.source, self.target, self.path = source, target, path

    def _moved(self, name: str) -> str:
        return self.target + name[len(self.source):]

    def visit_Import(self, node: ast.Import) -> ast.Import:
        for alias in node.names:
            if not _under(alias.name, self.source):
                continue
            if alias.asname is None:
                if self.source != "torch":  # `import cnnlab.scratch` binds `cnnlab`
                    raise ValueError(f"{self.path} line {node.lineno}: write `import "
                                     f"{alias.name} as torch` (or another name) to run the "
                                     "network on the other engine")
                alias.name, alias.asname = self.target, "torch"  # `import torch.nn` too
            else:
                alias.name = self._moved(alias.name)
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        if node.level or not node.module:
            return node
        if _under(node.module, self.source):
            node.module = self._moved(node.module)
        elif self.source == "cnnlab.scratch" and node.module == "cnnlab" and \
                [alias.name for alias in node.names] == ["scratch"]:  # from cnnlab import scratch
            alias = node.names[0]
            return ast.copy_location(ast.Import(names=[ast.alias(
                self.target, alias.asname or "scratch")]), node)
        return node


def swapped(source: str, path: Path, engine: str, other: str):
    """The compiled code of `source` (the file `path`, written for `engine`) with its imports
    of that engine's package made imports of `other`'s; line numbers stay the file's."""
    tree = _Swap(ROOTS[engine], ROOTS[other], path).visit(ast.parse(source, str(path)))
    return compile(ast.fix_missing_locations(tree), str(path), "exec")
