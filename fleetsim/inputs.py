"""The bounds of what a user may ask of fleetsim, each defined once.

Whatever a user types (the command line, a scenario file, a profile file) is
checked against these before anything is allocated for it (DESIGN.md,
"Bounded by construction"): a billion stations, a speed of 1e308 or an id
pattern of a hundred million zeros fails at once with one sentence, never
after gigabytes, inside the run, or as a traceback.  The click types
(fleetsim.cli.options) and the scenario schema and loader (fleetsim.scenario)
both read them, so a rule never differs between the two.

Pure: no IO but reading a file the caller names, no clock.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

# Stations in one run.  At the ~12 KB a connected station costs
# (benchmarks/README.md, "Memory") a million take 12 GB and the ephemeral
# ports of some 36 source addresses: more than one machine holds, and more
# charge points than the largest public networks run.  A bigger fleet is
# split over processes or machines and merged (`fleetsim merge`).
MAX_STATIONS: Final = 1_000_000

# Time acceleration.  At 100,000 a simulated day passes in 0.9 s and a 300 s
# Heartbeat interval in 3 ms of real time, the scale of the event loop's own
# lag (its probe samples every 10 ms): a faster run would measure fleetsim,
# not the CSMS.  1/1000 is the slowest that still sends a heartbeat a week.
MIN_SPEED: Final = 0.001
MAX_SPEED: Final = 100_000.0

# Any length of time a user gives (a run, a grace period, a mean session, a
# delay): 30 days, a month-long soak; a longer test is a series of runs.
MAX_DURATION_S: Final = 30 * 86_400.0
# The interval of latency.hlog and the time series: ten rows a second at most;
# finer, writing them would take the stations' event loop.
MIN_INTERVAL_S: Final = 0.1
# Simulated time (duration x speed) stays within a thousand years, so that
# every timestamp a station sends is a date (ISO 8601 years end at 9999).
MAX_SIMULATED_S: Final = 1000 * 365.25 * 86_400

# Connectors of one station model (a profile file): the largest charge
# points have a few dozen; each costs every station of the model its state.
MAX_CONNECTORS: Final = 100

# Stations started per second: a million a second is already all at once
# (--ramp 0 says so directly).
MAX_RAMP_PER_S: Final = float(MAX_STATIONS)
# CSMS-initiated calls per station per second: a station answers one call at
# a time (OCPP-J 1.6 §4.1.1), so 10 a second already queues behind any
# certified model's reaction time.
MAX_CALLS_PER_STATION_PER_S: Final = 10.0

# Integers a user gives (a seed above all): RFC 8259 §6, integers in
# [-(2**53)+1, 2**53-1] are exact in every JSON reader, and a seed is written
# to summary.json to be read back.
MAX_INTEGER: Final = 2**53 - 1

# Id tags a scenario group's sessions may present (each kind): the embedded
# CSMS holds every one, and a CSMS under test is provisioned with them.
MAX_ID_TAGS: Final = 1_000_000

# Files a user writes by hand (a scenario, a profile, a CSMS configuration):
# the largest shipped ones are a few KB.  Sessions to replay live in their own
# (CSV) file, outside this bound.
MAX_INPUT_FILE_BYTES: Final = 1024 * 1024
# Tables and arrays inside one another in such a file: a scenario needs 4
# (groups[0].sessions.id_tags); deeper is not a scenario, and past about 1,000
# Python's parsers fail with a RecursionError.
MAX_NESTING: Final = 16

# User input quoted in an error message: enough to recognise it; and a whole
# message, however it came about, on one line of at most this.
MAX_QUOTED_CHARS: Final = 80
MAX_MESSAGE_CHARS: Final = 1000


def quote(value: Any, limit: int = MAX_QUOTED_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with an ellipsis: user
    input in an error message, never a 100 MB line (and never a raw newline)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message on one line of at most ``limit`` characters, any quoted
    value in it longer than MAX_QUOTED_CHARS cut short."""
    text = _LONG_QUOTE.sub(lambda match: match[0][: MAX_QUOTED_CHARS - 1] + "…'", " ".join(text.splitlines()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# A value quoted as repr() quotes it: an apostrophe inside a word is none.
_LONG_QUOTE = re.compile(r"(?<!\w)'[^']{%d,}'(?!\w)" % MAX_QUOTED_CHARS)


def number_problem(value: float, low: float, high: float) -> str | None:
    """What is wrong with ``value`` for the range [low, high], in words; None
    if it is in range.  nan and inf never are."""
    if not math.isfinite(value):
        return f"must be a finite number, not {value!r}"
    if value < low:
        return f"must be at least {number_text(low)}, not {number_text(value)}"
    if value > high:
        return f"must be at most {number_text(high)}, not {number_text(value)}"
    return None


def number_text(value: float) -> str:
    """100,000 rather than 1e+05; 1e+25 rather than 25 digits."""
    if value == int(value) and abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:g}"


def seconds_problem(seconds: float, *, minimum_s: float = 0.0) -> str | None:
    """A length of time: above 0 (at least ``minimum_s``) and at most MAX_DURATION_S."""
    if not math.isfinite(seconds):
        return f"must be a finite number of seconds, not {seconds!r}"
    if seconds <= 0:
        return "must be longer than 0"
    if seconds < minimum_s:
        return f"must be at least {minimum_s:g}s, not {seconds:g}s"
    if seconds > MAX_DURATION_S:
        return (f"must be at most {MAX_DURATION_S / 86_400:g} days ({number_text(MAX_DURATION_S)}s), "
                f"not {number_text(seconds)}s")
    return None


def span_problem(duration_s: float, speed: float, start: datetime | None) -> str | None:
    """A run of ``duration_s`` at ``speed`` from the simulated ``start``
    (None: now) must stay within MAX_SIMULATED_S and the calendar."""
    span_s = duration_s * speed
    years = span_s / (365.25 * 86_400)
    if span_s > MAX_SIMULATED_S:
        return (f"a run of {duration_s:g}s at speed {speed:g} simulates {years:,.0f} years, more than "
                f"{MAX_SIMULATED_S / (365.25 * 86_400):,.0f}: shorten the run or lower the speed")
    if start is not None:
        try:
            start + timedelta(seconds=span_s)
        except OverflowError:
            return f"a run from {start.isoformat()} simulating {years:,.0f} years would end after the year 9999"
    return None


def call_rate_problem(per_station_per_hour: float, per_station_per_s: float) -> str | None:
    """A CSMS-initiated call's rate: finite, at most MAX_CALLS_PER_STATION_PER_S."""
    if not (math.isfinite(per_station_per_hour) and math.isfinite(per_station_per_s)):
        return "the rate must be a finite number"
    per_s = per_station_per_s or per_station_per_hour / 3600
    if per_s > MAX_CALLS_PER_STATION_PER_S:
        return (f"{per_s:g} calls a second to each station is more than {MAX_CALLS_PER_STATION_PER_S:g}: a station "
                "answers one call at a time (OCPP-J 1.6 §4.1.1)")
    return None


def delay_problem(*delays_ms: float) -> str | None:
    """A response delay's figures (ms): finite, at most MAX_DURATION_S."""
    for delay_ms in delays_ms:
        if not math.isfinite(delay_ms):
            return f"a delay must be a finite number, not {delay_ms!r}"
        if delay_ms > MAX_DURATION_S * 1000:
            return (f"a delay must be at most {MAX_DURATION_S / 86_400:g} days, not {number_text(delay_ms / 1000)}s")
    return None


# Source addresses a run may name (a range of them included): one process
# holds about 28,000 connections per address, so this is far past any fleet.
MAX_SOURCE_ADDRESSES = 1024


def address_range(text: str) -> list[str]:
    """``127.0.0.2-127.0.0.9`` (inclusive, one family) as its addresses, a
    single address as itself; ValueError says what is wrong."""
    first, dash, last = text.partition("-")
    if not dash:
        if (problem := address_problem(text)) is not None:
            raise ValueError(problem)
        return [text]
    for end in (first, last):
        if (problem := address_problem(end)) is not None:
            raise ValueError(f"in the range {quote(text)}: {problem}")
    low, high = ipaddress.ip_address(first), ipaddress.ip_address(last)
    if low.version != high.version or high < low:
        raise ValueError(f"{quote(text)} is no range: give the lower address first, both of one family")
    count = int(high) - int(low) + 1
    if count > MAX_SOURCE_ADDRESSES:
        raise ValueError(f"{quote(text)} names {count:,} addresses: at most {MAX_SOURCE_ADDRESSES:,}")
    return [str(ipaddress.ip_address(int(low) + n)) for n in range(count)]


def address_problem(text: str) -> str | None:
    """A local source address: an IPv4 or IPv6 address, no name."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return f"{quote(text)} is not an IP address (like 127.0.0.2 or ::1)"
    return None


def read_input_file(path: str | Path, limit: int = MAX_INPUT_FILE_BYTES) -> bytes:
    """The bytes of a file a user gave, read no further than ``limit``:
    raises OSError when it cannot be read or is not a regular file (a
    directory, a FIFO, /dev/zero), ValueError when it is too big."""
    path = Path(path)
    if path.exists() and not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise OSError(f"{kind}: give the path of a file")
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"more than {limit // 1024} KiB: not a file fleetsim reads (at most {limit // 1024} KiB)")
    return data


def nesting_problem(value: Any, limit: int = MAX_NESTING) -> tuple[str, str] | None:
    """(field path, what is wrong) for the first value of a parsed file nested
    deeper than ``limit``, a non-finite float or an integer past MAX_INTEGER;
    None if there is none.  Iterative, so no depth is too deep for it."""
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if depth > limit:
            return path, f"nested more than {limit} tables or arrays deep"
        if isinstance(item, dict):
            stack.extend((f"{path}.{key}" if path else str(key), child, depth + 1) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child, depth + 1) for index, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return path, f"must be a finite number, not {item!r}"
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INTEGER:
            return path, f"{quote(item, 30)} is past the largest integer fleetsim takes, {MAX_INTEGER:,} (2**53-1)"
    return None
