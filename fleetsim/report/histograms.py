"""A finished run's histograms read back from its ``latency.hlog``: the whole
run's, per series, to read a percentile summary.json does not list (exact: the
log holds every record, and the totals are its lines added), or in blocks of
consecutive intervals, for compare's noise band (fleetsim.report.noise).

A series is ``(view, scope, name)``: ``corrected``/``service`` and an action,
or ``reaction`` and ``connect``/``boot``; the scope a model id, or FLEET for
the sum over models.  Reading costs a decode per line (about 0.1 ms).

Pure: reads files, no clock.
"""

from __future__ import annotations

import ctypes
from array import array
from collections.abc import Collection, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Final, NamedTuple

from pyhdrh import add_array

from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.intervals import HLOG_FILE
from fleetsim.metrics.percentiles import is_latency_key, parse_key, percentile_key
from fleetsim.metrics.summary import BOOT, CONNECT
from fleetsim.report.threshold_grammar import FLEET

__all__ = ["Block", "Series", "SeriesBlocks", "fill_percentiles", "interval_blocks", "run_histograms"]

MAX_BLOCKS: Final = 20
EXCHANGE_VIEWS: Final = ("corrected", "service")
SETUP_NAMES: Final = (CONNECT, BOOT)


class Series(NamedTuple):
    view: str  # corrected, service, reaction
    scope: str  # a model id, or FLEET
    name: str  # an action, or connect / boot


class Block(NamedTuple):
    """The counts of a histogram from its first occupied index on (a compact
    copy: a whole histogram holds 23,552 counters)."""

    first: int
    counts: array  # type: ignore[type-arg]

    @property
    def total(self) -> int:
        return sum(self.counts)


def _lines(path: Path, views: Collection[str]) -> Iterator[tuple[Series, float, Histogram]]:
    """(series, start in seconds since the log's start, histogram) of every
    line of the wanted views; setup-time reactions only (connect, boot)."""
    start_s = hlog.read_start_s(path) or 0.0

    def wanted(tag: str) -> bool:
        view, _, name = hlog.split_tag(tag)
        return view in views and (view != "reaction" or name in SETUP_NAMES)

    for logged in hlog.read_hlog(path, [], wanted):
        if logged.tag is None:
            continue
        view, model_id, name = hlog.split_tag(logged.tag)
        if view not in views or (view == "reaction" and name not in SETUP_NAMES):
            continue
        yield Series(view, model_id, name), logged.start_epoch_s - start_s, logged.histogram


def run_histograms(path: Path, views: Collection[str]) -> dict[Series, Histogram]:
    """Every series of the wanted views over the whole run, models' and the fleet's."""
    totals: dict[Series, Histogram] = {}
    for series, _, histogram in _lines(path, views):
        for key in (series, series._replace(scope=FLEET)):
            total = totals.get(key)
            if total is None:
                total = totals[key] = new_histogram()
            total.add(histogram)
    return totals


def _interval_count(path: Path) -> tuple[float, int]:
    """(interval length, intervals) of a log, from its lines' timestamps only
    (seconds since its start, as fleetsim writes them)."""
    length_s, last_s = 0.0, 0.0
    with path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            fields = line.split(",", 4)
            if len(fields) < 4 or not fields[0].startswith("Tag="):
                continue
            try:
                at_s, length = float(fields[1]), float(fields[2])
            except ValueError:
                continue
            length_s = max(length_s, length)
            last_s = max(last_s, at_s)
    if length_s <= 0:
        return 1.0, 1
    return length_s, round(last_s / length_s) + 1


class SeriesBlocks(NamedTuple):
    blocks: list[Block]  # the run's blocks of consecutive intervals, in order; empty where it recorded nothing
    pooled: Block  # all of them added: the whole run's


def interval_blocks(path: Path, views: Collection[str], max_blocks: int = MAX_BLOCKS) -> dict[Series, SeriesBlocks]:
    """Every series of the wanted views in at most ``max_blocks`` blocks of
    consecutive intervals (one interval a block when the run has fewer); the
    same blocks for every series of the run."""
    length_s, intervals = _interval_count(path)
    blocks = max(1, min(max_blocks, intervals))
    found: dict[Series, list[Block]] = {}
    current: dict[Series, tuple[int, Histogram]] = {}
    pooled: dict[Series, Histogram] = {}
    empty = Block(0, array("Q"))

    def close(series: Series) -> None:
        index, histogram = current[series]
        found.setdefault(series, [])
        found[series] += [empty] * (index - len(found[series]))
        found[series].append(_compact(histogram))
        if series not in pooled:
            pooled[series] = new_histogram()
        _add_occupied(pooled[series], histogram, _occupied(histogram))
        histogram.zero()

    for series, at_s, histogram in _lines(path, views):
        occupied = _occupied(histogram)
        at = min(blocks - 1, round(at_s / length_s) * blocks // intervals)
        for key in (series, series._replace(scope=FLEET)):
            block = max(at, current[key][0]) if key in current else at  # lines are in time order; if not, no gap
            if key in current and current[key][0] != block:
                close(key)
            scratch = current[key][1] if key in current else new_histogram()
            current[key] = (block, scratch)
            _add_occupied(scratch, histogram, occupied)
    for key in list(current):
        close(key)
        found[key] += [empty] * (blocks - len(found[key]))
    return {key: SeriesBlocks(found[key], _compact(pooled[key])) for key in found}


def _occupied(histogram: Histogram) -> tuple[int, int]:
    """The first and last counter a histogram of ours uses (0, -1: none)."""
    if not histogram.total_count:
        return 0, -1
    return (histogram._counts_index_for(histogram.get_min_value()),
            min(histogram._counts_index_for(histogram.get_max_value()), histogram.counts_len - 1))


def _add_occupied(into: Histogram, other: Histogram, occupied: tuple[int, int]) -> None:
    """``into.add(other)`` for two histograms of ours, adding only the
    ``occupied`` counters of ``other`` (with the library's C addition; an
    interval fills a narrow band of the 23,552 counters)."""
    first, last = occupied
    if last < first:
        return
    size = ctypes.sizeof(ctypes.c_uint64)
    add_array(ctypes.addressof(into.counts) + first * size, ctypes.addressof(other.counts) + first * size,
              last - first + 1, size)
    if not into.total_count or other.get_min_value() < into.min_value:
        into.min_value = other.get_min_value()
    into.max_value = max(into.max_value, other.get_max_value())
    into.total_count += other.total_count


def _compact(histogram: Histogram) -> Block:
    if not histogram.total_count:
        return Block(0, array("Q"))
    first = histogram._counts_index_for(histogram.get_min_value())
    last = min(histogram._counts_index_for(histogram.get_max_value()), histogram.counts_len - 1)
    return Block(first, array("Q", memoryview(histogram.counts).cast("B").cast("Q")[first:last + 1]))


# ---------------------------------------------------------------- percentiles summary.json does not list


def _blocks_in(document: Mapping[str, Any]) -> Iterator[tuple[Series, MutableMapping[str, Any]]]:
    """Every latency block of a summary, with the series it was read from."""
    scopes = [(FLEET, document.get("fleet") or {})]
    scopes += sorted((document.get("models") or {}).items())
    for scope, section in scopes:
        for action, exchange in (section.get("exchanges") or {}).items():
            for view in EXCHANGE_VIEWS:
                if isinstance(block := exchange.get(f"{view}_ms"), dict):
                    yield Series(view, scope, action), block
        if isinstance(block := (section.get("connection") or {}).get("connect_ms"), dict):
            yield Series("reaction", scope, CONNECT), block
        if isinstance(block := (section.get("boot") or {}).get("boot_ms"), dict):
            yield Series("reaction", scope, BOOT), block


def fill_percentiles(document: dict[str, Any], folder: Path, percentiles: Collection[float]) -> str | None:
    """Add ``percentiles`` to every latency block of ``document`` (a decoded
    summary.json) that lacks them, from ``folder``'s latency.hlog; read only
    when one is missing.  None, or why some could not be added."""
    keys = [percentile_key(p) for p in percentiles]
    missing = [(series, block) for series, block in _blocks_in(document) if any(key not in block for key in keys)]
    if not missing:
        return None
    wanted = ", ".join(sorted({key for _, block in missing for key in keys if key not in block}))
    path = folder / HLOG_FILE
    if not path.is_file():
        return f"summary.json lists no {wanted} and {folder} has no {HLOG_FILE} to read it from"
    try:
        totals = run_histograms(path, {series.view for series, _ in missing})
    except (OSError, hlog.HlogError) as error:
        return f"{wanted} could not be read from {path}: {error}"
    for series, block in missing:
        histogram = totals.get(series)
        if histogram is None or not histogram.total_count:
            continue
        absent = [key for key in keys if key not in block]
        values = histogram.values_at_percentiles([_percentile(key) for key in absent])
        for key in absent:
            block[key] = values[_percentile(key)] / 1000
    return None


def _percentile(key: str) -> float:
    assert is_latency_key(key) and key != "max"
    percentile = parse_key(key)
    assert percentile is not None
    return percentile
