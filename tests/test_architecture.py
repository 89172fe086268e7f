"""DESIGN.md's rule for the core: the pure packages import neither trio nor the
clock.  The station is fed the current time; it never reads it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fleetsim"
PURE = ("ocpp", "profiles", "station", "sessions", "metrics", "report", "scenario", "spec", "capacity")
FORBIDDEN_MODULES = {"trio", "trio_websocket", "time", "asyncio", "socket", "threading"}
FORBIDDEN_CALLS = {"now", "utcnow", "today"}  # datetime.now() and friends read the clock


def _pure_modules() -> list[Path]:
    return sorted(p for name in PURE if (PACKAGE / name).is_dir() for p in (PACKAGE / name).rglob("*.py"))


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots = {node.module.split(".")[0]}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: calls .{node.func.attr}()")
            continue
        else:
            continue
        for root in roots & FORBIDDEN_MODULES:
            found.append(f"line {node.lineno}: imports {root}")
    return found


def test_there_are_pure_modules_to_check() -> None:
    assert any(p.parent.name == "ocpp" for p in _pure_modules())


@pytest.mark.parametrize("path", _pure_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_module_reads_no_clock_and_imports_no_io(path: Path) -> None:
    assert _violations(path) == []


def test_the_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import trio\nfrom time import monotonic\nimport datetime\nx = datetime.datetime.now()\n")
    assert len(_violations(bad)) == 3
