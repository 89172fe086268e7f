"""The unit every histogram of fleetsim records in: whole microseconds, 1 µs
to an hour, at 3 significant digits (0.1 % resolution).

Its own module so that the hot path converts in compiled code (a compiled
build compiles this file; ``fleetsim.metrics.histogram``, a subclass of the
hdrh library's class, stays plain Python and re-exports these).
"""

from __future__ import annotations

from typing import Final

LOWEST_US: Final = 1
HIGHEST_US: Final = 3_600_000_000  # an hour: anything longer is clamped to it
SIGNIFICANT_DIGITS: Final = 3


def us(seconds: float) -> int:
    """Seconds (the engine's clock) to whole microseconds, clamped to the
    range: ``round(seconds * 1e6)``.  This runs twice for every answer."""
    micros = seconds * 1_000_000.0
    if micros < 1.5:  # rounds to 1 or less
        return LOWEST_US
    if micros >= HIGHEST_US:
        return HIGHEST_US
    return rounded(micros)


def rounded(x: float) -> int:
    """``round(x)`` (halves to even) for 0 <= x < 2**52, by hand: compiled,
    ``round()`` looks up and binds ``float.__round__`` on every call."""
    whole = int(x)  # x >= 0: truncating is the floor
    fraction = x - float(whole)  # exact: x itself below 1, else (Sterbenz) whole <= x < 2 * whole
    if fraction > 0.5 or (fraction == 0.5 and whole & 1):
        whole += 1
    return whole
