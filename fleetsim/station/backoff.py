"""How a station waits before it connects again: exponential back-off with
jitter.

OCPP 1.6 leaves the reconnect policy to the vendor.  OCPP 2.0.1 (B01,
RetryBackOffWaitMinimum / RetryBackOffRandomRange / RetryBackOffRepeatTimes)
doubles a minimum a number of times and adds a random range of fixed width;
that range cannot say "no jitter" or "spread over the whole wait", and a wait
of its own shape is one more thing to explain.  So the settings are named
after the AWS Architecture Blog ("Exponential Backoff And Jitter", M.
Brooker, 2015), whose terms load-testing and cloud SDKs use: the n-th wait of
a streak of failures (n from 0) is drawn below ``min(cap, base * 2**n)``:

* ``full``: uniformly between 0 and that (a fleet spreads out most, and
  reconnects soonest on average);
* ``equal``: half of it plus uniformly up to the other half (never less than
  half);
* ``none``: exactly that (1, 2, 4, 4 s for base 1 s, cap 4 s).

Pure: the engine sleeps; this says how long, and keeps the waits it made
after an outage's end (:class:`WaitLog`), so that recovery can be reported
net of fleetsim's own policy.
"""

from __future__ import annotations

import math
import random
from enum import StrEnum

import msgspec


class Jitter(StrEnum):
    FULL = "full"
    EQUAL = "equal"
    NONE = "none"


class Backoff(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[run.reconnect]``; ``fleetsim run --reconnect-backoff BASE CAP JITTER``."""

    base_s: float = 1.0  # the first wait's ceiling (real seconds)
    cap_s: float = 60.0  # no wait's ceiling grows past it (real seconds)
    jitter: Jitter = Jitter.FULL

    def __post_init__(self) -> None:
        # A ValueError here is a ValidationError naming the table when a scenario is read.
        for name, value in (("base_s", self.base_s), ("cap_s", self.cap_s)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number of seconds above 0, not {value!r}")
        if self.base_s > self.cap_s:
            raise ValueError(f"base_s ({self.base_s:g} s) must not be longer than cap_s ({self.cap_s:g} s)")

    def ceiling_s(self, attempt: int) -> float:
        """``min(cap, base * 2**attempt)``, for any number of attempts."""
        if attempt >= 1023:  # 2.0**1024 overflows; the cap was reached long before
            return self.cap_s
        return min(self.cap_s, self.base_s * 2.0 ** max(0, attempt))

    def wait_s(self, attempt: int, rng: random.Random) -> float:
        """The wait after the ``attempt``-th failure of a streak (0: the first)."""
        ceiling = self.ceiling_s(attempt)
        match self.jitter:
            case Jitter.FULL:
                return rng.uniform(0.0, ceiling)
            case Jitter.EQUAL:
                return ceiling / 2 + rng.uniform(0.0, ceiling / 2)
            case Jitter.NONE:
                return ceiling

    def describe(self) -> str:
        return f"base {self.base_s:g} s, cap {self.cap_s:g} s, {self.jitter} jitter"


class WaitLog:
    """A station's back-off waits, as much of them as outage recovery needs:
    the latest wait, and for each outage being watched, the seconds waited
    after its end (``mark_s``).  A wait is logged whole when it starts (its
    end is known then), so the figure is exact whenever it is read."""

    __slots__ = ("_after", "_last")

    def __init__(self) -> None:
        self._last = (-math.inf, -math.inf)
        self._after: dict[float, float] | None = None  # mark -> seconds waited after it

    def wait(self, start_s: float, end_s: float) -> None:
        self._last = (start_s, end_s)
        if self._after:
            for mark_s in self._after:
                self._after[mark_s] += _after(mark_s, start_s, end_s)

    def watch(self, mark_s: float) -> None:
        """Count waits after ``mark_s`` from now on (and the part of the
        current wait that falls after it)."""
        if self._after is None:
            self._after = {}
        self._after[mark_s] = _after(mark_s, *self._last)

    def waited_after(self, mark_s: float) -> float:
        """Seconds waited after ``mark_s`` since :meth:`watch`; stops watching."""
        return self._after.pop(mark_s, 0.0) if self._after else 0.0


def _after(mark_s: float, start_s: float, end_s: float) -> float:
    return max(0.0, end_s - max(start_s, mark_s))
