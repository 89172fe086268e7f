"""The per-interval files of a merge: ``timeseries.csv`` (gauges, counts and
rates of the shards' rows added; the connection setup p99 recomputed from the
merged histograms) and ``events.csv`` (what was injected when, the same fault
of several shards one row).  Layouts: results/README.md."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from fleetsim.metrics.align import Slot
from fleetsim.metrics.intervals import (
    CONNECTION_COLUMNS,
    EVENTS_FILE,
    EVENTS_HEADER,
    TIMESERIES_FILE,
    TIMESERIES_HEADER,
)


class MergeError(Exception):
    """A folder that cannot be merged (no ``latency.hlog``, shards of other
    formats, a damaged file): the message names the file and what is wrong."""


_GAUGES: Final = ("connected", "booted", "charging")
_COUNTS: Final = ("answered", "errors", "timeouts")
_CONNECTION_COUNTS: Final = ("connects", "connect_failures")

Rows = Callable[[int, int], dict[str, Any] | None]  # (shard, its own interval) -> its time-series row
SlotTime = Callable[[Slot], tuple[str, str]]  # a merged interval's end: elapsed seconds, wall time


def read_timeseries(folder: Path, dropped: list[str]) -> list[dict[str, Any]]:
    """The rows of a shard's ``timeseries.csv``, each checked.  A last row cut
    short (no line end, or fields missing: the run was killed writing it) is
    dropped and named in ``dropped``; a bad row before it is a MergeError."""
    path = folder / TIMESERIES_FILE
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise MergeError(f"{path}: cannot read: {error}") from error
    lines = text.splitlines(keepends=True)
    rows: list[dict[str, Any]] = []
    for number, row in enumerate(csv.DictReader(lines), start=2):
        last = number == len(lines)
        try:
            if last and not lines[-1].endswith("\n"):
                raise ValueError("no line end")
            rows.append(_timeseries_row(row))
        except (KeyError, TypeError, ValueError) as error:
            if not last:
                raise MergeError(f"{path}: line {number}: not a time-series row ({error})") from error
            dropped.append(f"{folder.name}/{TIMESERIES_FILE} line {number} dropped (torn: {error})")
    return rows


def _timeseries_row(row: dict[str, Any]) -> dict[str, Any]:
    if None in row.values() or None in row:
        raise ValueError("wrong number of fields")
    checked: dict[str, Any] = {name: int(row[name]) for name in (*_GAUGES, *_COUNTS)}
    checked.update(elapsed_s=float(row["elapsed_s"]), interval_s=float(row["interval_s"]),
                   wall_time=datetime.fromisoformat(row["wall_time"]),
                   messages_out_per_s=float(row["messages_out_per_s"]),
                   messages_in_per_s=float(row["messages_in_per_s"]))
    # Written since connection figures were added: absent from older folders.
    for name in _CONNECTION_COUNTS:
        if name in row:
            checked[name] = int(row[name])
    return checked


def write_timeseries(out: Path, slots: Sequence[Slot], rows_of: Rows, slot_time: SlotTime,
                     connect_p99_ms: dict[int, str]) -> None:
    """A row per merged interval with rows: the shards' gauges (stations now:
    each shard's last value) and counts added, their rates added (each
    shard's messages over the time its rows cover).  A shard with no row in
    a merged interval between its first and its last (its interval was long:
    its event loop was held) adds its last gauges, not none: its stations
    did not go away.  The connection columns are written when every shard's
    rows have them, the p99 from the merged interval's setup histograms
    (``connect_p99_ms``, by slot)."""
    grouped = [_rows_by_shard(slot, rows_of) for slot in slots]
    every_row = [row for shards in grouped for rows in shards.values() for row in rows]
    connections = bool(every_row) and all("connects" in row for row in every_row)
    last_slot: dict[int, int] = {}
    for index, shards in enumerate(grouped):
        for shard in shards:
            last_slot[shard] = index
    gauges: dict[int, dict[str, Any]] = {}  # each shard's last row so far
    with (out / TIMESERIES_FILE).open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(TIMESERIES_HEADER + (CONNECTION_COLUMNS if connections else ()))
        for index, (slot, shard_rows) in enumerate(zip(slots, grouped, strict=True)):
            if not shard_rows:
                continue
            for shard, rows in shard_rows.items():
                gauges[shard] = rows[-1]
            held = [gauges[shard] for shard in gauges if shard not in shard_rows and last_slot[shard] > index]
            extra = _connection_cells(list(shard_rows.values()), connect_p99_ms.get(index, "")) if connections else ()
            writer.writerow((*slot_time(slot), f"{slot.length_s:.3f}", *_merged_row(list(shard_rows.values()), held),
                             *extra))


def _rows_by_shard(slot: Slot, rows_of: Rows) -> dict[int, list[dict[str, Any]]]:
    rows: dict[int, list[dict[str, Any]]] = {}
    for i, k in slot.members:
        if (row := rows_of(i, k)) is not None:
            rows.setdefault(i, []).append(row)
    return rows


def _merged_row(shard_rows: list[list[dict[str, Any]]], held: Sequence[dict[str, Any]] = ()) -> tuple[Any, ...]:
    """``held``: the last rows of shards with none in this interval (their gauges only)."""
    totals: Counter[str] = Counter()
    rates = {"messages_out_per_s": 0.0, "messages_in_per_s": 0.0}
    for row in held:
        totals.update({name: row[name] for name in _GAUGES})
    for rows in shard_rows:
        totals.update({name: rows[-1][name] for name in _GAUGES})
        for row in rows:
            totals.update({name: row[name] for name in _COUNTS})
        covered_s = sum(row["interval_s"] for row in rows)
        for name in rates:  # one row: its own rate, unrounded by a round trip through counts
            rates[name] += (sum(row[name] * row["interval_s"] for row in rows) / covered_s if covered_s > 0
                            else sum(row[name] for row in rows) / len(rows))
    return (*(totals[name] for name in _GAUGES), *(f"{rate:.1f}" for rate in rates.values()),
            *(totals[name] for name in _COUNTS))


def _connection_cells(shard_rows: list[list[dict[str, Any]]], p99_ms: str) -> tuple[Any, ...]:
    counts = [sum(row[name] for rows in shard_rows for row in rows) for name in _CONNECTION_COUNTS]
    return (*counts, p99_ms)


# ---------------------------------------------------------------- events.csv


def read_events(folder: Path, dropped: list[str]) -> list[dict[str, str]] | None:
    """The rows of a shard's ``events.csv`` (None without one: older folders).
    A torn last row (a killed run) is dropped and named in ``dropped``."""
    path = folder / EVENTS_FILE
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise MergeError(f"{path}: cannot read: {error}") from error
    lines = text.splitlines(keepends=True)
    rows = []
    for number, row in enumerate(csv.DictReader(lines), start=2):
        complete = None not in row.values() and None not in row and (number < len(lines) or text.endswith("\n"))
        try:
            if not complete:
                raise ValueError("wrong number of fields" if number < len(lines) else "no line end")
            float(row["elapsed_s"])
        except (KeyError, ValueError) as error:
            if number < len(lines):
                raise MergeError(f"{path}: line {number}: not an event row ({error})") from error
            dropped.append(f"{folder.name}/{EVENTS_FILE} line {number} dropped (torn: {error})")
            continue
        rows.append(row)
    return rows


def write_events(out: Path, shard_events: Sequence[tuple[float, list[dict[str, str]] | None]]) -> None:
    """``events.csv`` of the merged run from each shard's (its start after the
    merged run's, its rows): times moved onto the merged run's clock, and the
    same fault in several shards (one kind, label and scheduled time) one row,
    at the earliest, with the stations it hit added.  Not written when no
    shard has the file."""
    if all(rows is None for _, rows in shard_events):
        return
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for offset_s, rows in shard_events:
        for row in rows or ():
            elapsed_s = float(row["elapsed_s"]) + offset_s
            key = (row["kind"], row["label"], row["at_s"]) if row["at_s"] else (row["kind"], row["label"],
                                                                                  f"@{elapsed_s:.3f}")
            seen = merged.get(key)
            if seen is None:
                merged[key] = {**row, "elapsed_s": elapsed_s, "stations": int(row["stations"] or 0),
                               "span_s": float(row["span_s"] or 0.0)}
                continue
            if elapsed_s < seen["elapsed_s"]:
                seen["elapsed_s"], seen["wall_time"] = elapsed_s, row["wall_time"]
            seen["stations"] += int(row["stations"] or 0)
            seen["span_s"] = max(seen["span_s"], float(row["span_s"] or 0.0))
    with (out / EVENTS_FILE).open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(EVENTS_HEADER)
        for row in sorted(merged.values(), key=lambda r: r["elapsed_s"]):
            writer.writerow((f"{row['elapsed_s']:.3f}", row["wall_time"], row["kind"], row["label"],
                             f"{row['span_s']:.3f}", row["stations"], row["at_s"]))
