"""HdrHistogram interval logs (``.hlog``), format 1.3 (results/README.md).

Written here rather than with ``hdrh.log.HistogramLogWriter``: that writer
declares format 1.2, writes no ``Tag=``, and its ``output_start_time`` fails
(it calls ``datetime.iso_format``, which does not exist).  The lines are the
Java ``HistogramLogWriter``'s: ``Tag=<tag>,%.3f,%.3f,%.3f,<payload>`` with the
timestamps in seconds after ``BaseTime`` and the interval's maximum divided by
the max-value unit ratio.  Reading uses the library's ``HistogramLogReader``,
so a file we write is proven readable by a standard reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Final, NamedTuple
from urllib.parse import unquote

from hdrh.log import HistogramLogReader

from fleetsim import __version__
from fleetsim.metrics.histogram import Histogram, new_histogram

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


def interval_line(tag: str, start_s: float, length_s: float, histogram: Histogram) -> str:
    payload = histogram.encode().decode("ascii")
    return (f"Tag={tag},{start_s:.3f},{length_s:.3f},{histogram.get_max_value() / MAX_VALUE_UNIT_RATIO:.3f},"
            f"{payload}\n")


class LoggedInterval(NamedTuple):
    tag: str | None
    start_epoch_s: float
    length_s: float
    histogram: Histogram


def read_hlog(path: Path) -> Iterator[LoggedInterval]:
    """Every interval line of an ``.hlog`` file, with absolute start times."""
    reader = HistogramLogReader(str(path), new_histogram())
    try:
        while (histogram := reader.get_next_interval_histogram()) is not None:
            start_s = histogram.get_start_time_stamp() / 1000.0
            ours = new_histogram()
            ours.add(histogram)
            yield LoggedInterval(histogram.get_tag(), start_s, histogram.get_end_time_stamp() / 1000.0 - start_s, ours)
    finally:
        reader.close()


def read_start_s(path: Path) -> float | None:
    """The log's ``StartTime`` (seconds since the epoch), if it has one."""
    with path.open(encoding="utf-8") as log:
        for line in log:
            if line.startswith("#[StartTime:"):
                return float(line.split()[1])
            if not line.startswith("#"):
                return None
    return None
