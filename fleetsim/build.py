"""Which build of fleetsim is running: plain Python, or its hot path compiled
with mypyc (README, "A compiled build").  The two behave alike; the compiled
one does more OCPP calls per CPU-second, so results and benchmark figures say
which one made them."""

from __future__ import annotations

import importlib.util
from typing import Final, Literal

# The modules a compiled build compiles: pyproject.toml's mypyc hook lists the
# same files (tests/test_build.py holds the two lists together).
HOT_MODULES: Final = (
    "fleetsim.station.station",
    "fleetsim.station.charging",
    "fleetsim.station.config",
    "fleetsim.station.connector",
    "fleetsim.station.measurands",
    "fleetsim.station.metering",
    "fleetsim.station.outgoing",
    "fleetsim.station.sending",
    "fleetsim.station.status",
    "fleetsim.engine.fleet",
    "fleetsim.engine.framing",
    "fleetsim.engine.link",
    "fleetsim.metrics.recorder",
    "fleetsim.metrics.units",
    "fleetsim.ocpp.frames",
)


def compiled_modules() -> tuple[str, ...]:
    """Those of HOT_MODULES that load (or loaded) from a compiled extension,
    not from source.  Found without importing them: a pure module (the
    results, a report) may ask without pulling in the engine and trio."""
    return tuple(name for name in HOT_MODULES if not _origin(name).endswith(".py"))


def _origin(name: str) -> str:
    spec = importlib.util.find_spec(name)  # the loaded module's own spec once imported
    return (spec.origin if spec is not None else None) or ""


def kind() -> Literal["plain", "compiled", "mixed"]:
    """``compiled``: every hot module is; ``plain``: none is; ``mixed``: some
    are (a source tree holding compiled files from a build in place)."""
    compiled = len(compiled_modules())
    return "plain" if compiled == 0 else "compiled" if compiled == len(HOT_MODULES) else "mixed"
