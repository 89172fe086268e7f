"""pyproject.toml's runtime dependencies are exactly the distributions
fleetsim/ imports (an import inside a function counts: it runs too); what only
the tests or the benchmarks import is in their extras (``test``, ``bench``).
An import walk of the source, so the two cannot drift apart again."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def normalized(name: str) -> str:
    """PEP 503: a distribution's name, compared case- and separator-blind."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    names = (re.match(r"[A-Za-z0-9._-]+", requirement) for requirement in requirements)
    return {normalized(name[0]) for name in names if name is not None}


def imported_roots(folder: Path) -> set[str]:
    """The top-level names every module under ``folder`` imports (absolute imports)."""
    roots = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
    return roots


def distributions(folder: Path) -> set[str]:
    """The installed distributions ``folder`` imports, beyond the standard
    library, fleetsim itself and the folder's own modules."""
    local = {path.stem for path in folder.rglob("*.py")} | {"fleetsim"}
    owners = packages_distributions()
    found = set()
    for root in imported_roots(folder) - set(sys.stdlib_module_names) - local:
        # Not installed here (`make test` installs the test extra, not the bench
        # one): taken as the distribution of its own name, which the extra must declare.
        found |= {normalized(name) for name in owners.get(root, [root])}
    return found


def test_the_runtime_dependencies_are_what_fleetsim_imports() -> None:
    assert declared(PROJECT["dependencies"]) == distributions(ROOT / "fleetsim")


@pytest.mark.parametrize(("folder", "extra"), [("tests", "test"), ("benchmarks", "bench")])
def test_what_tests_and_benchmarks_import_is_in_their_extra(folder: str, extra: str) -> None:
    available = declared(PROJECT["dependencies"]) | declared(PROJECT["optional-dependencies"][extra])
    assert distributions(ROOT / folder) - available == set()


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("import os\n\ndef f():\n    from prometheus_client import start_http_server\n")
    assert imported_roots(tmp_path) == {"os", "prometheus_client"}
