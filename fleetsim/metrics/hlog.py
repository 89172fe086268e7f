"""HdrHistogram interval logs (``.hlog``), format 1.3 (results/README.md).

Written here rather than with ``hdrh.log.HistogramLogWriter``: that writer
declares format 1.2, writes no ``Tag=``, and its ``output_start_time`` fails
(it calls ``datetime.iso_format``, which does not exist).  The lines are the
Java ``HistogramLogWriter``'s: ``Tag=<tag>,%.3f,%.3f,%.3f,<payload>`` with the
timestamps in seconds after ``BaseTime`` and the interval's maximum divided by
the max-value unit ratio.  The library's ``HistogramLogReader`` reads our
files (the tests prove it); we read them line by line with its rules for
``StartTime`` and ``BaseTime`` and its payload decoder, because its reader
skips a line it cannot parse and raises from deep inside on a torn payload,
and a killed run may leave its last line torn.
"""

from __future__ import annotations

import binascii
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, NamedTuple
from urllib.parse import unquote

from hdrh.codec import HdrCookieException, HdrHistogramSettingsException, HdrLengthException

from fleetsim import __version__
from fleetsim.metrics.histogram import Histogram, from_encoded

FORMAT_VERSION: Final = "1.3"
# Values are µs; Interval_Max is written in ms (the Java default ratio, 1e6,
# is for nanosecond values).
MAX_VALUE_UNIT_RATIO: Final = 1000.0
LEGEND: Final = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n'


def header(start_wall: datetime) -> str:
    """The comment lines and the legend.  ``StartTime`` and ``BaseTime`` are
    both the run's start, so interval timestamps are seconds since the start
    (no comma in the comments: the library's reader would take one for an
    interval line)."""
    epoch_s = start_wall.timestamp()
    return (f"#[Logged with fleetsim {__version__}]\n"
            f"#[Histogram log format version {FORMAT_VERSION}]\n"
            f"#[StartTime: {epoch_s:.3f} (seconds since epoch), {start_wall.isoformat()}]\n"
            f"#[BaseTime: {epoch_s:.3f} (seconds since epoch)]\n"
            f"{LEGEND}")


_NOT_IN_TAGS = re.compile(r"[%,\s]")


def tag_part(text: str) -> str:
    """A model id or name as part of a tag: a tag ends at the first comma and
    holds no white space, so those (and ``%``) are percent-encoded.  Built-in
    and imported profile ids are slugs and pass unchanged."""
    return _NOT_IN_TAGS.sub(lambda match: f"%{ord(match[0]):02X}", text)


def untag_part(text: str) -> str:
    return unquote(text) if "%" in text else text


class Tag(NamedTuple):
    view: str  # corrected, service, reaction, simulator
    model_id: str  # decoded; "" for simulator series
    name: str  # the action or reaction, decoded


def split_tag(tag: str) -> Tag:
    """``<view>.<model_id>.<name>`` or ``simulator.<name>`` (results/README.md).
    Model ids may hold dots, names do not: split at the first and the last dot."""
    view, _, rest = tag.partition(".")
    model_tag, _, name_tag = rest.rpartition(".")
    return Tag(view, untag_part(model_tag), untag_part(name_tag))


def interval_line(tag: str, start_s: float, length_s: float, histogram: Histogram) -> str:
    payload = histogram.encode().decode("ascii")
    return (f"Tag={tag},{start_s:.3f},{length_s:.3f},{histogram.get_max_value() / MAX_VALUE_UNIT_RATIO:.3f},"
            f"{payload}\n")


def parse_interval_line(line: str) -> tuple[str, Histogram]:
    """The tag and histogram of a line :func:`interval_line` wrote; ValueError
    for anything else."""
    match = _INTERVAL.match(line)
    if match is None or match[1] is None:
        raise ValueError("not a tagged interval line")
    return match[1], from_encoded(match[5])


class LoggedInterval(NamedTuple):
    tag: str | None
    start_epoch_s: float
    length_s: float
    histogram: Histogram


class HlogError(ValueError):
    """A line of an ``.hlog`` file that cannot be read and is not its last."""


class TornLine(NamedTuple):
    """The last line of a log, dropped: a run killed while writing it."""

    path: Path
    line: int
    reason: str

    def text(self) -> str:
        return f"{self.path.name} line {self.line} dropped (torn: {self.reason})"


_INTERVAL = re.compile(r"^(?:Tag=([^,]*),)?(\d+(?:\.\d*)?),(\d+(?:\.\d*)?),(\d+(?:\.\d*)?),(\S+)\s*$")
_START_TIME = re.compile(r"^#\[StartTime: (\d+(?:\.\d*)?)")
_BASE_TIME = re.compile(r"^#\[BaseTime: (\d+(?:\.\d*)?)")
_UNDECODABLE = (ValueError, binascii.Error, zlib.error, struct.error, HdrCookieException, HdrLengthException,
                HdrHistogramSettingsException)
_YEAR_S: Final = 365 * 24 * 3600.0


class _Clock:
    """``HistogramLogReader``'s timestamps: relative to ``BaseTime`` if given,
    else to ``StartTime`` when they are too small to be epoch seconds."""

    def __init__(self) -> None:
        self.start_s: float | None = None
        self.base_s: float | None = None

    def epoch_s(self, logged_s: float) -> float:
        if self.start_s is None:
            self.start_s = logged_s
        if self.base_s is None:
            self.base_s = self.start_s if logged_s < self.start_s - _YEAR_S else 0.0
        return logged_s + self.base_s


def _interval(line: str, clock: _Clock) -> LoggedInterval:
    match = _INTERVAL.match(line)
    if match is None:
        raise ValueError("not an interval line")
    tag, start, length, _, payload = match.groups()
    histogram = from_encoded(payload)
    return LoggedInterval(tag, clock.epoch_s(float(start)), float(length), histogram)


class Span(NamedTuple):
    start_epoch_s: float
    length_s: float


def read_spans(path: Path) -> Iterator[Span]:
    """The times of every readable interval line, without decoding the
    histograms (a cheap first pass: merging plans its intervals with it)."""
    clock = _Clock()
    with path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            if line.startswith("#"):
                if (match := _START_TIME.match(line)) is not None:
                    clock.start_s = float(match[1])
                elif (match := _BASE_TIME.match(line)) is not None:
                    clock.base_s = float(match[1])
            elif (match := _INTERVAL.match(line)) is not None:
                yield Span(clock.epoch_s(float(match[2])), float(match[3]))


def read_hlog(path: Path, torn: list[TornLine] | None = None,
              wanted: Callable[[str], bool] | None = None) -> Iterator[LoggedInterval]:
    """Every interval line of an ``.hlog`` file, with absolute start times;
    with ``wanted``, only the lines whose tag it wants (the others are not
    decoded, the costly part).

    A last line that cannot be read (the run was killed while writing it)
    ends the log: it is described in ``torn`` if given, else :class:`HlogError`.
    An unreadable line followed by others is damage: :class:`HlogError` names
    the file and the line."""
    clock = _Clock()
    with path.open(encoding="utf-8", errors="replace") as log:
        for number, line in enumerate(log, start=1):
            if line.startswith("#"):
                if (match := _START_TIME.match(line)) is not None:
                    clock.start_s = float(match[1])
                elif (match := _BASE_TIME.match(line)) is not None:
                    clock.base_s = float(match[1])
                continue
            if not line.strip() or line.startswith('"'):  # blank, or the legend
                continue
            if wanted is not None and line.startswith("Tag=") and not wanted(line[4:line.find(",")]):
                continue
            try:
                interval = _interval(line, clock)
            except _UNDECODABLE as error:
                reason = f"{type(error).__name__}: {error}"
                if any(rest.strip() for rest in log) or torn is None:
                    raise HlogError(f"{path}: line {number} is not a readable interval line ({reason})") from error
                torn.append(TornLine(path, number, reason))
                return
            yield interval


def read_start(path: Path) -> datetime | None:
    """The log's ``StartTime`` to the microsecond (from the ISO text our
    header writes beside the epoch seconds), if it has one."""
    with path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            if line.startswith("#[StartTime:"):
                _, _, text = line.rstrip().removesuffix("]").partition("), ")
                try:
                    start = datetime.fromisoformat(text)
                except ValueError:
                    start = None
                if start is None or start.tzinfo is None:
                    return datetime.fromtimestamp(float(line.split()[1]), UTC)
                return start
            if not line.startswith("#"):
                return None
    return None


def read_start_s(path: Path) -> float | None:
    """The log's ``StartTime`` (seconds since the epoch), if it has one."""
    with path.open(encoding="utf-8") as log:
        for line in log:
            if line.startswith("#[StartTime:"):
                return float(line.split()[1])
            if not line.startswith("#"):
                return None
    return None
