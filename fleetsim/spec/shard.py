"""Shards: one run split over processes or machines.

Shard ``i`` of ``n`` takes, in every share of the fleet (a model, a scenario
group), the stations at positions ``i, i + n, i + 2n, ...``.  Whatever is drawn
for a station is seeded by its charge point id (its sessions, its reaction
times), and whatever is drawn for the fleet (faults, replayed sessions' slots)
is drawn over the whole fleet and then kept for the shard's stations, so the
union of the ``n`` shards is exactly the one-process fleet, and each shard is
a fair sample of the mix.  Pure: computed from the spec alone, the same in a
worker process, a Kubernetes pod or a test.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from fleetsim.inputs import MAX_STATIONS

_SHARD: Final = re.compile(r"\s*(\d{1,7})\s*/\s*(\d{1,7})\s*")


class Shard(msgspec.Struct, frozen=True):
    """Shard ``index`` (from 0) of ``count``; ``Shard(0, 1)`` is the whole fleet."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_STATIONS:
            raise ValueError(f"a fleet splits into 1 to {MAX_STATIONS:,} shards, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count}: the index runs from 0 to {self.count - 1}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N`` (``0/4`` is the first of four); ValueError says what is wrong."""
        match = _SHARD.fullmatch(text)
        if match is None:
            raise ValueError(f"a shard is I/N (e.g. 0/4: the first of four), not {text!r}")
        return cls(int(match[1]), int(match[2]))

    @property
    def whole(self) -> bool:
        return self.count == 1

    def positions(self, stations: int) -> range:
        """The positions (from 0) of this shard's stations among ``stations``."""
        return range(self.index, stations, self.count)

    def size(self, stations: int) -> int:
        """How many of ``stations`` fall to this shard."""
        return len(self.positions(stations))

    def source_addresses(self, addresses: tuple[str, ...]) -> tuple[str, ...]:
        """This shard's source addresses: its own share of them when there
        are at least as many as shards (no two shards then draw on one
        address's ports), else all of them."""
        return addresses[self.index::self.count] if len(addresses) >= self.count else addresses

    def ramp_per_s(self, ramp_per_s: float) -> float:
        """This shard's part of the fleet's ramp: the shards together start
        stations as fast as the one process would."""
        return ramp_per_s / self.count

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
