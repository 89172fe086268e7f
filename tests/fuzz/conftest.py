"""The fuzz suite's shared setup: the collector managed as a run manages it,
and the suite's counts printed at the end."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from fleetsim.engine.fleet import managed_gc as fleet_managed_gc
from hostile_peer import TALLY


@pytest.fixture(scope="session", autouse=True)
def managed_gc() -> Iterator[None]:
    """What ``fleetsim run`` does before its first station connects (the same
    fleetsim.engine.fleet.managed_gc): collect, freeze what exists, raise the
    generation-0 threshold.  Without it, a full collection of the test
    process's own heap (pytest, hypothesis) would be taken for a block of the
    code under test."""
    with fleet_managed_gc(True):
        yield


@pytest.fixture(autouse=True)
def out_of_sight() -> None:
    """What earlier tests left behind is frozen too (microseconds; a full
    collection per test would cost 0.15 s)."""
    gc.freeze()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY.cases:
        return
    terminalreporter.section("hostile peer")
    terminalreporter.write_line(
        f"cases {TALLY.cases:,}, frames sent {TALLY.frames_sent:,} ({TALLY.bytes_sent / 1e6:,.1f} MB), "
        f"probe answers {TALLY.probe_samples:,}")
    terminalreporter.write_line(
        f"longest loop block {TALLY.max_block_s * 1000:.1f} ms (CPU, one task step; in {TALLY.max_block_task or '-'}), "
        f"largest peak RSS growth {TALLY.peak_rss_growth_mb:.1f} MB")
    for name, line in TALLY.by_test.items():
        terminalreporter.write_line(f"  {name}: {line}")
