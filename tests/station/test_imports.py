"""The station package has one direction: ``station.py`` puts the station
together from the other modules, and none of them imports it back, not even
for type hints.  Each module is typed against the narrow interface it needs
(:mod:`fleetsim.station.ports`), which the :class:`Station` provides."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest
from core_steps import AC_3PHASE, model

from fleetsim.metrics.recorder import Recorder
from fleetsim.station import ports
from fleetsim.station.station import Station
from fleetsim.station.timebase import fixed_timebase

PACKAGE = Path(__file__).resolve().parents[2] / "fleetsim" / "station"
STATION_MODULE = "fleetsim.station.station"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> set[str]:
    return _imports_of(path.read_text(), _module_name(path), is_package=path.name == "__init__.py")


def _imports_of(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module ``source`` imports, wherever the import stands (under
    TYPE_CHECKING, inside a function): ``from a import b`` counts as both
    ``a`` and ``a.b``, since ``b`` may be a module."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _station_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_walk_finds_the_package() -> None:
    assert len(_station_modules()) > 10
    features = PACKAGE / "features"
    assert _module_name(features / "firmware.py") == "fleetsim.station.features.firmware"
    assert "fleetsim.station.features.firmware" in _imported(features / "__init__.py")


@pytest.mark.parametrize(
    "source",
    [
        "from fleetsim.station.station import Station\n",
        "from fleetsim.station import station\n",
        "import fleetsim.station.station\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fleetsim.station.station import Station\n",
        "def f():\n    from ..station import Station\n",
        "from .. import station\n",
    ],
)
def test_the_check_catches_every_spelling_of_the_import(source: str) -> None:
    assert STATION_MODULE in _imports_of(source, "fleetsim.station.features.example")


@pytest.mark.parametrize("path", _station_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_but_station_py_imports_the_station(path: Path) -> None:
    if path == PACKAGE / "station.py":
        return
    assert STATION_MODULE not in _imported(path), f"{path.name} imports {STATION_MODULE}: type it against a port"


def _dependencies() -> dict[str, set[str]]:
    """Module -> the station modules it imports; ``from package import
    module`` depends on the module, not on the package's ``__init__``."""
    modules = {_module_name(path): path for path in _station_modules()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported = _imported(path)
        graph[name] = {
            target for target in imported
            if target in modules and target != name
            and not any(other.startswith(target + ".") and other in modules for other in imported)
        }
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` if it has one (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_station_package_imports_in_one_direction() -> None:
    graph = _dependencies()
    assert "fleetsim.station.features.composite" in graph["fleetsim.station.features.smart_charging"]
    assert "fleetsim.station.features" not in graph["fleetsim.station.features.smart_charging"]
    assert _cycle(graph) is None


PORTS = [
    value for value in vars(ports).values()
    if isinstance(value, type) and getattr(value, "_is_protocol", False) and value.__module__ == ports.__name__
]


def test_there_are_ports() -> None:
    assert len(PORTS) >= 5


@pytest.mark.parametrize("port", PORTS, ids=lambda p: p.__name__)
def test_the_station_offers_every_port(port: type) -> None:
    recorder = Recorder()
    built = model(AC_3PHASE)
    station = Station("CP-1", built, recorder.model(built.model_id, built.response_timeout_s), random.Random(1),
                      fixed_timebase())
    assert isinstance(station, port)
