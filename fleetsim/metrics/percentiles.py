"""Percentiles by name: which ones summary.json reports, how a percentile is
written (``p95``, ``p99.99``, k6's ``p(95)``), and how many samples one needs
before a comparison may judge it.

A latency block (:class:`Percentiles`) reads its figures from a histogram
when first asked.  Pure: no IO.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final

from fleetsim.metrics.histogram import Histogram

# The percentiles of every latency block in summary.json schema 1: readers rely
# on these keys (and "max"), so a run always reports them.
REQUIRED_PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9)
# What a run reports unless told otherwise (--percentiles, [run] percentiles).
DEFAULT_PERCENTILES: Final = (50.0, 90.0, 95.0, 99.0, 99.9)
MAX: Final = "max"
MAX_LISTED: Final = 32  # percentiles a run may list: each costs a little in every block of summary.json
# A comparison judges a percentile only with this many samples beyond it on
# average, and no figure on fewer than MIN_SAMPLES_FLOOR: a bootstrap draws
# only values the run had, so the spread of a percentile with a handful of
# samples beyond it (or of a figure of a handful of samples) is out of its
# reach, and it would call that spread a change.
SAMPLES_BEYOND: Final = 10
MIN_SAMPLES_FLOOR: Final = 20

_KEY = re.compile(r"^p(?:\((?P<paren>[^()]*)\)|(?P<plain>[0-9.]+))$")
_NUMBER = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")


def percentile_key(percentile: float) -> str:
    """The key of a percentile in summary.json: ``p50``, ``p99.9``, ``p99.999``."""
    return f"p{percentile:.12g}"


def check_percentile(percentile: float, text: str) -> float:
    if not 0 < percentile < 100:
        raise ValueError(f"{text!r}: a percentile is above 0 and below 100 (the largest value is 'max')")
    return percentile


def parse_number(text: str) -> float:
    """``95`` or ``99.9`` (a percentile without its ``p``)."""
    stripped = text.strip()
    if not _NUMBER.match(stripped):
        raise ValueError(f"{text!r} is not a percentile (a number above 0 and below 100, as in 95 or 99.9)")
    return check_percentile(float(stripped), text)


def parse_key(text: str) -> float | None:
    """``p95``, ``p99.99`` or k6's ``p(95)`` → 95.0; None when ``text`` is not
    written as a percentile at all; ValueError for one out of range."""
    match = _KEY.match(text)
    if match is None:
        return None
    number = match["paren"] if match["paren"] is not None else match["plain"]
    return parse_number(number)


def canonical_metric(text: str) -> str | None:
    """``p(95)`` → ``p95``; ``max`` stays; None for anything else."""
    if text == MAX:
        return MAX
    try:
        percentile = parse_key(text)
    except ValueError:
        return None
    return None if percentile is None else percentile_key(percentile)


def is_latency_key(metric: str) -> bool:
    """Whether ``metric`` names a figure of a latency block (``p95``, ``max``)."""
    return canonical_metric(metric) == metric


def parse_list(text: str) -> tuple[float, ...]:
    """``50,90,95,99,99.9`` (``p`` prefixes allowed) → sorted, without repeats."""
    found: set[float] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        percentile = parse_key(part) if part.startswith("p") else parse_number(part)
        if percentile is None:
            raise ValueError(f"{part!r} is not a percentile (as in 95, 99.9 or p99)")
        found.add(percentile)
    if not found:
        raise ValueError("expected a list of percentiles, as in 50,90,95,99,99.9")
    return checked_list(found)


def checked_list(percentiles: Iterable[float]) -> tuple[float, ...]:
    listed = tuple(sorted({check_percentile(float(p), f"{p:g}") for p in percentiles}))
    if len(listed) > MAX_LISTED:
        raise ValueError(f"{len(listed)} percentiles: at most {MAX_LISTED}")
    return listed


def reported(configured: Iterable[float]) -> tuple[float, ...]:
    """The percentiles summary.json reports for a configured list: the list and
    the required ones, in order."""
    return tuple(sorted({*REQUIRED_PERCENTILES, *configured}))


def keys(percentiles: Iterable[float]) -> tuple[str, ...]:
    """The keys of a latency block: each percentile's, then ``max``."""
    return (*(percentile_key(p) for p in percentiles), MAX)


def key_percentile(key: str) -> float:
    """``p99.9`` → 99.9; ``max`` → 100."""
    return 100.0 if key == MAX else float(key[1:])


def min_samples(key: str) -> int:
    """Samples a run needs before a comparison judges this figure: enough
    that ten lie beyond the percentile on average (a p95 needs 200, a p99
    1,000, a p99.9 10,000), and never fewer than 20 (a p50); ``max`` is
    judged like a p99."""
    percentile = 99.0 if key == MAX else key_percentile(key)
    return max(MIN_SAMPLES_FLOOR, math.ceil(SAMPLES_BEYOND * 100 / (100 - percentile) - 1e-6))


class Percentiles(Mapping[str, float]):
    """A latency block (ms): the run's percentiles and ``max``, read from the
    histogram in one pass when first asked for.  Any other percentile
    (``p99.99``) is read on demand but not listed, so a live threshold can
    judge it while summary.json holds the run's list."""

    __slots__ = ("_extra", "_figures", "_histogram", "_percentiles")

    def __init__(self, histogram: Histogram, percentiles: Sequence[float]) -> None:
        self._histogram = histogram
        self._percentiles = percentiles
        self._figures: dict[str, float] | None = None
        self._extra: dict[str, float] = {}

    def _listed(self) -> dict[str, float]:
        if self._figures is None:
            values = self._histogram.values_at_percentiles(self._percentiles)
            self._figures = {percentile_key(p): values[p] / 1000 for p in self._percentiles}
            self._figures[MAX] = self._histogram.get_max_value() / 1000
        return self._figures

    def __getitem__(self, key: str) -> float:
        figures = self._listed()
        if key in figures:
            return figures[key]
        if key not in self._extra:
            try:
                percentile = parse_key(key)
            except ValueError:
                percentile = None
            if percentile is None:
                raise KeyError(key)
            self._extra[key] = self._histogram.get_value_at_percentile(percentile) / 1000
        return self._extra[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._listed())

    def __len__(self) -> int:
        return len(self._percentiles) + 1
