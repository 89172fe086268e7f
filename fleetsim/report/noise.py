"""How much a percentile moves between two runs by chance: the noise band of
``fleetsim compare``.

Each run's ``latency.hlog`` holds a histogram per interval.  The band of a
change (new against base) is a bootstrap over both runs, seeded, so the same
two folders always give the same band:

1. a run's intervals are taken in at most 30 blocks of consecutive intervals
   (one interval a block in shorter runs), and the blocks are drawn with
   replacement, as many as there are: the run's variation from interval to
   interval (a slow minute, a ramp, a GC pause) enters the band;
2. the percentile is read from the drawn blocks' added histogram at the rank
   an equally large sample drawn from it would put it at (the order
   statistic's Beta distribution): the sampling noise within the intervals
   enters too, which alone matters when all of an action's calls fell into
   one interval (the boots of a ramp);
3. 1,000 such draws of each run give 1,000 changes (new / base - 1, or new -
   base for a limit in ms); the band is their central interval at the
   confidence asked (99 %: from the 1st to the 99th percentile of the changes).

A change counts as a regression only when the whole band is past the limit
(fleetsim.report.compare).

Pure: numbers in, numbers out (the blocks come from fleetsim.report.histograms).
"""

from __future__ import annotations

import operator
import random
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path
from typing import Final

import msgspec

from fleetsim.metrics.histogram import new_histogram
from fleetsim.metrics.hlog import HlogError
from fleetsim.metrics.intervals import HLOG_FILE
from fleetsim.metrics.percentiles import MAX, key_percentile
from fleetsim.report.histograms import EXCHANGE_VIEWS, Block, Series, interval_blocks

__all__ = ["DEFAULT_CONFIDENCE", "RESAMPLES", "Band", "Noise", "load_noise"]

RESAMPLES: Final = 1000
DEFAULT_CONFIDENCE: Final = 0.99
_REFERENCE: Final = new_histogram()  # index → value, as every histogram of ours maps them


class Band(msgspec.Struct, frozen=True):
    """The change's central interval: ``low`` .. ``high`` of new / base - 1
    (``relative``) or of new - base in ms."""

    low: float
    high: float
    relative: bool


class _Prepared:
    """One series of one run, ready to resample: at each occupied index of
    the histogram (``indices``), every block's cumulative count (``columns``)."""

    __slots__ = ("columns", "indices", "totals")

    def __init__(self, blocks: Sequence[Block]) -> None:
        occupied: set[int] = set()
        for block in blocks:
            occupied.update(block.first + offset for offset, count in enumerate(block.counts) if count)
        self.indices = sorted(occupied)
        rows = [_cumulative_at(block, self.indices) for block in blocks]
        self.columns: list[tuple[int, ...]] = list(zip(*rows, strict=True)) if self.indices else []
        self.totals = self.columns[-1] if self.columns else tuple(0 for _ in blocks)


def _cumulative_at(block: Block, indices: Sequence[int]) -> list[int]:
    if not block.counts:
        return [0] * len(indices)
    cumulative = list(accumulate(block.counts))
    last = len(cumulative) - 1
    return [0 if index < block.first else cumulative[min(index - block.first, last)] for index in indices]


def resampled(prepared: _Prepared, key: str, rng: random.Random, resamples: int = RESAMPLES) -> list[float]:
    """``resamples`` draws of the figure ``key`` (``p99``, ``max``) in ms (see
    the module's text); draws that hold no sample are left out."""
    if not prepared.indices:
        return []
    blocks = len(prepared.totals)
    choices = range(blocks)
    percentile = key_percentile(key)
    values: list[float] = []
    for _ in range(resamples):
        weights = [0] * blocks
        for chosen in rng.choices(choices, k=blocks):
            weights[chosen] += 1
        total = sum(map(operator.mul, weights, prepared.totals))
        if not total:
            continue
        # HdrHistogram's rank of a percentile (get_target_count_at_percentile).
        rank = total if key == MAX else max(1, int(percentile * total / 100 + 0.5))
        target = rng.betavariate(rank, total - rank + 1) * total
        low, high = 0, len(prepared.indices) - 1
        while low < high:
            middle = (low + high) // 2
            if sum(map(operator.mul, weights, prepared.columns[middle])) >= target:
                high = middle
            else:
                low = middle + 1
        index = prepared.indices[low]
        values.append(_REFERENCE.get_highest_equivalent_value(_REFERENCE.get_value_from_index(index)) / 1000)
    return values


def _quantile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


class Noise:
    """The noise of a comparison: both runs' interval blocks, bootstrapped per
    series and figure when first asked for (and kept)."""

    def __init__(self, base: dict[Series, list[Block]], new: dict[Series, list[Block]],
                 confidence: float = DEFAULT_CONFIDENCE, resamples: int = RESAMPLES) -> None:
        self.runs = (base, new)
        self.confidence = confidence
        self.resamples = resamples
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

    def _draws(self, run: int, series: Series, key: str) -> list[float]:
        drawn = self._drawn.get((run, series, key))
        if drawn is None:
            blocks = self.runs[run].get(series)
            if blocks is None:
                return []
            prepared = self._prepared.get((run, series))
            if prepared is None:
                prepared = self._prepared[(run, series)] = _Prepared(blocks)
            # Seeded by what is drawn, so the same folders give the same band.
            rng = random.Random(f"{run}/{series.view}/{series.scope}/{series.name}/{key}")
            drawn = self._drawn[(run, series, key)] = resampled(prepared, key, rng, self.resamples)
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
