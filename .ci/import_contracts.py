"""A custom import-linter contract: no module imports a private (underscore) name from another module.

Run by ``lint-imports`` (.importlinter lists it); it reads the sources with ``ast``: a private name is a module's
own business, so ``from paddle2tf.x import _helper`` (or ``import paddle2tf._x``) across modules is a failure."""

from __future__ import annotations

import ast
import importlib.util
import os

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


class NoPrivateImportsContract(Contract):
    type_name = "no_private_imports"
    package = fields.StringField()

    def check(self, graph, verbose: bool) -> ContractCheck:
        root = os.path.dirname(importlib.util.find_spec(self.package).origin)
        found = []
        for folder, _, files in os.walk(root):
            for file in sorted(files):
                if not file.endswith(".py"):
                    continue
                path = os.path.join(folder, file)
                module = self.package + "." + os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                with open(path, encoding="utf-8") as handle:
                    tree = ast.parse(handle.read(), path)
                for node in ast.walk(tree):
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(self.package):
                        source = node.module
                        private = [a.name for a in node.names if _private(a.name)]
                        private += [source] if any(_private(part) for part in source.split(".")) else []
                    elif isinstance(node, ast.Import):
                        private = [a.name for a in node.names if a.name.startswith(self.package)
                                   and any(_private(part) for part in a.name.split("."))]
                        source = ", ".join(private)
                    else:
                        continue
                    if private and source != module.removesuffix(".__init__"):
                        found.append(f"{module}:{node.lineno} imports {', '.join(private)} from {source}")
        return ContractCheck(kept=not found, metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["found"]:
            output.print_error(line)
