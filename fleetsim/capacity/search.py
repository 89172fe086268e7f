"""Which station count a capacity search tries next.

Up in steps (``start``, then ``+ step`` or ``× factor``) until a step fails
its SLOs or the maximum passed; then bisection between the last passing and
the first failing count, until they are within ``resolution`` of each other
(a share of the failing count) or one station apart.  Gatling's capacity
profile and k6's breakpoint test step up the same way; bisecting after the
first failure is what narrows a 2× step down to the 5 % a planner asks for
without stepping the whole way in 5 % steps.  Pure.
"""

from __future__ import annotations

import math
from typing import Final

import msgspec

from fleetsim.inputs import MAX_STATIONS

STEP: Final = "step"
BISECT: Final = "bisect"


class SearchError(ValueError):
    """A search that cannot be run, in one sentence."""


class SearchPlan(msgspec.Struct, frozen=True, kw_only=True):
    start: int
    step: int | None = None  # stations added per step; None: ``factor``
    factor: float | None = None  # stations multiplied per step
    maximum: int
    resolution: float = 0.05  # a share of the failing count: bisect until the gap is no wider

    def check(self) -> None:
        if (self.step is None) == (self.factor is None):
            raise SearchError("give a step (stations added per step) or a factor (stations multiplied), one of them")
        if not 1 <= self.start <= MAX_STATIONS:
            raise SearchError(f"the search starts at 1 to {MAX_STATIONS:,} stations, not {self.start:,}")
        if not self.start <= self.maximum <= MAX_STATIONS:
            raise SearchError(f"the maximum ({self.maximum:,}) must be at least the start ({self.start:,}) and at "
                              f"most {MAX_STATIONS:,}")
        if self.step is not None and self.step < 1:
            raise SearchError(f"a step adds at least 1 station, not {self.step:,}")
        if self.factor is not None and not (math.isfinite(self.factor) and 1.01 <= self.factor <= 100):
            raise SearchError(f"a factor is 1.01 to 100, not {self.factor!r}")
        if not (math.isfinite(self.resolution) and 0.001 <= self.resolution <= 0.5):
            raise SearchError(f"the resolution is 0.1% to 50%, not {self.resolution:.4g}")

    def steps(self) -> list[int]:
        """The counts stepped through when every step passes."""
        counts = [self.start]
        while counts[-1] < self.maximum:
            following = counts[-1] + self.step if self.step is not None else math.ceil(counts[-1] * (self.factor or 2))
            counts.append(min(self.maximum, max(following, counts[-1] + 1)))
        return counts


class Search:
    """Ask :meth:`next` for a count, run it, tell :meth:`record` whether it
    passed; until :meth:`next` says None."""

    def __init__(self, plan: SearchPlan) -> None:
        plan.check()
        self.plan = plan
        self._steps = plan.steps()
        self._at = 0
        self.passed: int | None = None  # the largest count that passed
        self.failed: int | None = None  # the smallest count that failed
        self.phase = STEP
        self._pending: int | None = None

    def next(self) -> int | None:
        """The count to run next, or None: the search is over."""
        if self._pending is not None:
            return self._pending
        if self.failed is None:
            if self._at >= len(self._steps):
                return None  # every step passed: the maximum was met
            self._pending = self._steps[self._at]
            return self._pending
        low = self.passed or 0
        high = self.failed
        if high - low <= max(1, math.floor(high * self.plan.resolution)):
            return None
        self.phase = BISECT
        self._pending = (low + high) // 2
        return self._pending

    def record(self, stations: int, passed: bool) -> None:
        if stations != self._pending:
            raise ValueError(f"recorded {stations}, but {self._pending} was asked for")
        self._pending = None
        if self.phase == STEP:
            self._at += 1
        if passed:
            self.passed = max(self.passed or 0, stations)
        else:
            self.failed = stations if self.failed is None else min(self.failed, stations)
