"""How much a percentile moves between two runs by chance: the noise band of
``fleetsim compare``.

Each run's ``latency.hlog`` holds a histogram per interval.  The band of a
change (new against base) is a bootstrap over both runs, seeded, so the same
two folders always give the same band:

* a run's intervals are taken in at most 30 blocks of consecutive intervals
  (one interval a block in shorter runs); a draw takes as many blocks as
  there are, with replacement, the same blocks for every action of the run
  (what is drawn is a stretch of the run's time), and reads the percentile
  from the drawn blocks' added histogram.  The run's variation from interval
  to interval (a slow minute, a ramp, a GC pause) and the sampling noise
  within the intervals both enter the band;
* an action whose calls fell into fewer than 10 blocks (the boots of a ramp)
  has too few of them to resample: its draws are those of the percentile of
  an equally large sample drawn from its histogram (the order statistic's
  Beta distribution), the sampling noise alone;
* 1,000 draws of each run give 1,000 changes (new / base - 1, or new - base
  for a limit in ms); the band is their central interval at the confidence
  asked (99 %: from the 1st to the 99th percentile of the changes).

A change counts as a regression only when the whole band is past the limit
(fleetsim.report.compare).

Pure: numbers in, numbers out (the blocks come from fleetsim.report.histograms).
"""

from __future__ import annotations

import operator
import random
from bisect import bisect_left
from functools import cache
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path
from typing import Final

import msgspec

from fleetsim.metrics.histogram import new_histogram
from fleetsim.metrics.hlog import HlogError
from fleetsim.metrics.intervals import HLOG_FILE
from fleetsim.metrics.percentiles import MAX, key_percentile
from fleetsim.report.histograms import EXCHANGE_VIEWS, Series, SeriesBlocks, interval_blocks

__all__ = ["DEFAULT_CONFIDENCE", "MIN_BLOCKS", "RESAMPLES", "Band", "Noise", "load_noise"]

RESAMPLES: Final = 1000
DEFAULT_CONFIDENCE: Final = 0.99
MIN_BLOCKS: Final = 10  # blocks with calls an action needs before its blocks are resampled
_REFERENCE: Final = new_histogram()  # index → value, as every histogram of ours maps them


class Band(msgspec.Struct, frozen=True):
    """The change's central interval: ``low`` .. ``high`` of new / base - 1
    (``relative``) or of new - base in ms."""

    low: float
    high: float
    relative: bool


@cache
def _value_ms(index: int) -> float:
    return _REFERENCE.get_highest_equivalent_value(_REFERENCE.get_value_from_index(index)) / 1000


def _rank(key: str, total: int) -> int:
    """HdrHistogram's rank of a percentile (get_target_count_at_percentile)."""
    return total if key == MAX else max(1, int(key_percentile(key) * total / 100 + 0.5))


class _Prepared:
    """One series of one run, ready to draw from: the histogram's occupied
    indices, the whole run's cumulative count at each, and (for resampling
    blocks) every block's."""

    def __init__(self, data: SeriesBlocks) -> None:
        self.data = data
        pooled = data.pooled
        self.indices = [pooled.first + offset for offset, count in enumerate(pooled.counts) if count]
        self.cumulative = list(accumulate(count for count in pooled.counts if count))
        self.total = self.cumulative[-1] if self.cumulative else 0
        self.resampled = sum(1 for block in data.blocks if block.counts) >= MIN_BLOCKS
        self._columns: list[tuple[int, ...]] | None = None

    def columns(self) -> list[tuple[int, ...]]:
        """At each occupied index, every block's cumulative count."""
        if self._columns is None:
            occupied, rows = len(self.indices), []
            for block in self.data.blocks:
                if not block.counts:
                    rows.append((0,) * occupied)
                    continue
                cumulative = list(accumulate(block.counts))
                start = bisect_left(self.indices, block.first)
                end = bisect_left(self.indices, block.first + len(block.counts))
                inside = [index - block.first for index in self.indices[start:end]]
                picked = operator.itemgetter(*inside)(cumulative) if inside else ()
                picked = picked if len(inside) != 1 else (picked,)
                rows.append((0,) * start + picked + (cumulative[-1],) * (occupied - end))
            self._columns = list(zip(*rows, strict=True))
        return self._columns


def _drawn_by_blocks(prepared: _Prepared, key: str, weights: Sequence[Sequence[int]]) -> list[float]:
    columns = prepared.columns()
    totals = columns[-1]
    values = []
    for weight in weights:
        total = sum(map(operator.mul, weight, totals))
        if not total:
            continue
        target = _rank(key, total)
        low, high = 0, len(columns) - 1
        while low < high:
            middle = (low + high) // 2
            if sum(map(operator.mul, weight, columns[middle])) >= target:
                high = middle
            else:
                low = middle + 1
        values.append(_value_ms(prepared.indices[low]))
    return values


def _drawn_by_samples(prepared: _Prepared, key: str, rng: random.Random, resamples: int) -> list[float]:
    total, values = prepared.total, []
    rank = _rank(key, total)
    for _ in range(resamples):
        target = rng.betavariate(rank, total - rank + 1) * total
        values.append(_value_ms(prepared.indices[min(bisect_left(prepared.cumulative, target),
                                                     len(prepared.indices) - 1)]))
    return values


def _quantile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


class Noise:
    """The noise of a comparison: both runs' interval blocks, drawn from per
    series and figure when first asked for (and kept)."""

    def __init__(self, base: dict[Series, SeriesBlocks], new: dict[Series, SeriesBlocks],
                 confidence: float = DEFAULT_CONFIDENCE, resamples: int = RESAMPLES) -> None:
        self.runs = (base, new)
        self.confidence = confidence
        self.resamples = resamples
        self._weights: dict[int, list[list[int]]] = {}
        self._prepared: dict[tuple[int, Series], _Prepared] = {}
        self._drawn: dict[tuple[int, Series, str], list[float]] = {}

    def band(self, scope: str, action: str, metric: str, *, relative: bool) -> Band | None:
        """The band of ``metric`` (``p99``, ``service.max``) of an action in a
        scope; None when either run has no interval data for it."""
        view = "service" if metric.startswith("service.") else "corrected"
        key = metric.removeprefix("service.")
        series = Series(view, scope, action)
        base, new = (self._draws(run, series, key) for run in (0, 1))
        if not base or not new:
            return None
        if relative:
            changes = sorted(n / b - 1 for n, b in zip(new, base, strict=False) if b > 0)
        else:
            changes = sorted(n - b for n, b in zip(new, base, strict=False))
        if not changes:
            return None
        return Band(_quantile(changes, 1 - self.confidence), _quantile(changes, self.confidence), relative)

    def _block_weights(self, run: int, blocks: int) -> list[list[int]]:
        """The run's draws: how often each block is taken, the same for every series."""
        if run not in self._weights:
            rng, choices, drawn = random.Random(f"blocks/{run}"), range(blocks), []
            for _ in range(self.resamples):
                weight = [0] * blocks
                for chosen in rng.choices(choices, k=blocks):
                    weight[chosen] += 1
                drawn.append(weight)
            self._weights[run] = drawn
        return self._weights[run]

    def _draws(self, run: int, series: Series, key: str) -> list[float]:
        drawn = self._drawn.get((run, series, key))
        if drawn is not None:
            return drawn
        data = self.runs[run].get(series)
        if data is None:
            return []
        prepared = self._prepared.get((run, series))
        if prepared is None:
            prepared = self._prepared[(run, series)] = _Prepared(data)
        if not prepared.total:
            drawn = []
        elif prepared.resampled:
            drawn = _drawn_by_blocks(prepared, key, self._block_weights(run, len(data.blocks)))
        else:  # seeded by what is drawn, so the same folders give the same band
            rng = random.Random(f"samples/{run}/{series.view}/{series.scope}/{series.name}/{key}")
            drawn = _drawn_by_samples(prepared, key, rng, self.resamples)
        self._drawn[(run, series, key)] = drawn
        return drawn


def load_noise(base_dir: Path, new_dir: Path, *, service: bool, confidence: float = DEFAULT_CONFIDENCE,
               resamples: int = RESAMPLES) -> Noise | str:
    """The noise of two run folders, or why it cannot be known (a folder
    without latency.hlog, or one that cannot be read)."""
    views = EXCHANGE_VIEWS if service else ("corrected",)
    runs = []
    for folder in (base_dir, new_dir):
        folder = folder if folder.is_dir() else folder.parent
        path = folder / HLOG_FILE
        if not path.is_file():
            return f"{folder} has no {HLOG_FILE}"
        try:
            runs.append(interval_blocks(path, views))
        except (OSError, HlogError) as error:
            return f"{path} cannot be read: {error}"
    return Noise(runs[0], runs[1], confidence, resamples)
