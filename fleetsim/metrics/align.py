"""Which merged interval each shard's interval goes into (the rule, for
users: results/README.md, "Merged folders").

A shard's intervals are as its writer closed them: contiguous, about the
interval long, each late by the event loop's lag (so 1.000, 2.001, 3.001 ...)
and the last one shorter.  Putting them on a fixed grid of the nominal length
makes a jittered boundary fall into the neighbouring slot: two intervals then
share a slot (a rate spike) and the next slot stays empty (a row lost).  So the
merged intervals are the shards' own, matched rather than re-gridded:

* shards of one interval length (within 10 %): the earliest unmatched end
  opens a merged interval, and every other shard's next interval joins it if
  it ends within half an interval of that end.  A shard never puts two of its
  intervals into one merged interval, so one folder merges into itself,
  interval for interval.
* shards of different lengths: a grid of the longest length from the earliest
  start; each interval goes where its middle falls.

Pure: times are seconds after the merged run's start.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

# Intervals this much apart in length (relative) are the same length jittered.
SAME_LENGTH: Final = 1.10


class Interval(NamedTuple):
    """One interval of a shard, seconds after the merged run's start."""

    start_s: float
    end_s: float
    length_s: float  # as the shard wrote it (its end and start are rounded apart)


class Slot(NamedTuple):
    """A merged interval, and which shard intervals it holds."""

    start_s: float
    end_s: float
    length_s: float
    members: tuple[tuple[int, int], ...]  # (shard, interval) indices


def align(shards: list[list[Interval]], lengths_s: list[float]) -> list[Slot]:
    """The merged intervals of ``shards`` (each shard's intervals in time
    order; ``lengths_s`` their nominal interval lengths), in time order."""
    if lengths_s and max(lengths_s) > min(lengths_s) * SAME_LENGTH:
        return _grid(shards, max(lengths_s))
    return _matched(shards, max(lengths_s, default=1.0) / 2)


def _matched(shards: list[list[Interval]], tolerance_s: float) -> list[Slot]:
    slots: list[Slot] = []
    next_of = [0] * len(shards)
    while True:
        heads = [(shard[next_of[i]].end_s, i) for i, shard in enumerate(shards) if next_of[i] < len(shard)]
        if not heads:
            return slots
        opened_s = min(heads)[0]
        members = tuple((i, next_of[i]) for end_s, i in heads if end_s <= opened_s + tolerance_s)
        for i, _ in members:
            next_of[i] += 1
        slots.append(_slot(shards, members))


def _slot(shards: list[list[Interval]], members: tuple[tuple[int, int], ...]) -> Slot:
    held = [shards[i][k] for i, k in members]
    return Slot(min(interval.start_s for interval in held), max(interval.end_s for interval in held),
                max(interval.length_s for interval in held), members)


def _grid(shards: list[list[Interval]], length_s: float) -> list[Slot]:
    cells: dict[int, list[tuple[int, int]]] = {}
    for i, shard in enumerate(shards):
        for k, interval in enumerate(shard):
            cell = max(0, math.floor((interval.start_s + interval.end_s) / 2 / length_s))
            cells.setdefault(cell, []).append((i, k))
    return [Slot(cell * length_s, (cell + 1) * length_s, length_s, tuple(cells[cell])) for cell in sorted(cells)]
