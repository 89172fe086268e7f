"""The recorder: every exchange of every station goes through here.

Latency is recorded in microseconds into HdrHistograms, per station model and
action, in two views (as wrk2 does):

* **corrected**: from the time the CALL was *due* (its intended send time) to
  the answer.  OCPP-J §4.1.1 allows one CALL in flight per station, so when a
  CSMS is slow, later calls wait in the station's queue; that wait is the
  CSMS's doing and belongs in its latency (coordinated omission).
* **service**: from the time the CALL was written to the socket to the answer.

Every histogram comes in two: the hot path records into the *interval*
histogram only (one cheap record per view), and at each interval tick the
interval writer logs it (``.hlog``) and :meth:`Recorder.fold` adds it into the
cumulative one and zeroes it in place.  The cumulative histograms therefore
hold everything up to the last fold; without an interval writer, call
:meth:`Recorder.fold` before reading them.

Pure: callers pass the times (seconds, from the engine's clock).
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from fleetsim.metrics.histogram import (
    HIGHEST_US,
    LOWEST_US,
    SIGNIFICANT_DIGITS,
    Histogram,
    new_histogram,
    us,
)
from fleetsim.metrics.hlog import tag_part
from fleetsim.metrics.outages import OutageRecovery, merge_outages
from fleetsim.metrics.summary import PERCENTILES, exchange_summary, recorder_summary

__all__ = [
    "HIGHEST_US", "LOWEST_US", "PERCENTILES", "SIGNIFICANT_DIGITS", "SIMULATOR_SERIES", "ExchangeStats", "Histogram",
    "ModelStats", "OutageRecovery", "Recorder", "Recording", "fold_into", "merge_outages", "new_histogram",
]

# The simulator's own lag (see fleetsim.engine.watch): the event loop's, the
# fleet timers', and the garbage collector's pauses.
SIMULATOR_SERIES: Final = ("loop_lag", "timer_lag", "gc_pause")


class Recording:
    """Where the hot path records into one :class:`Histogram`: its
    ``record_value`` (the same arithmetic, the same counts), as compiled code
    of a compiled build, with no call into plain Python.  The counts array
    is the library's, made with the histogram and only ever changed in place
    (``zero`` clears it, ``add`` adds into it): kept here."""

    __slots__ = ("counts", "half_count", "half_magnitude", "histogram", "length", "shift", "sub_mask", "unit")

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self.counts = histogram.counts
        self.shift: int = histogram.unit_magnitude + histogram.sub_bucket_half_count_magnitude + 1
        self.sub_mask: int = histogram.sub_bucket_mask
        self.unit: int = histogram.unit_magnitude
        self.half_magnitude: int = histogram.sub_bucket_half_count_magnitude
        self.half_count: int = histogram.sub_bucket_half_count
        self.length: int = histogram.counts_len

    def record(self, value: int) -> None:
        """One value (µs); one out of the histogram's range is dropped, as
        ``record_value`` drops it."""
        if value < 0:
            return
        bucket = (value | self.sub_mask).bit_length() - self.shift
        index = ((bucket + 1) << self.half_magnitude) + ((value >> (bucket + self.unit)) - self.half_count)
        if index >= self.length:
            return
        self.counts[index] += 1
        histogram = self.histogram
        histogram.total_count += 1
        if value < histogram.min_value:
            histogram.min_value = value
        if value > histogram.max_value:
            histogram.max_value = value


def fold_into(total: Histogram, interval: Histogram) -> None:
    """Add an interval histogram into its cumulative one and zero it in place."""
    if interval.total_count:
        total.add(interval)
        interval.zero()



# Distinct CALLERROR codes counted by name per exchange; the rest are "other".
# OCPP 1.6 has ten codes (§4.2.3); room to see a peer's misspellings too.
MAX_ERROR_KINDS = 32
MAX_ERROR_CODE_CHARS = 64
OTHER_ERROR_CODES = "other"

class ExchangeStats:
    """What one station model saw of one action it initiated."""

    __slots__ = (
        "_corrected",
        "_service",
        "answered",
        "corrected",
        "corrected_interval",
        "declared_timeout_us",
        "errors",
        "late",
        "service",
        "service_interval",
        "timeouts",
    )

    def __init__(self, declared_timeout_s: float) -> None:
        self.corrected = new_histogram()  # cumulative, up to the last fold
        self.service = new_histogram()
        self.corrected_interval = new_histogram()  # since the last fold: the hot path records here
        self.service_interval = new_histogram()
        self._corrected = Recording(self.corrected_interval)
        self._service = Recording(self.service_interval)
        self.answered = 0
        self.errors: Counter[str] = Counter()
        self.timeouts = 0
        self.late = 0
        self.declared_timeout_us = us(declared_timeout_s)

    def record_answer(self, due_s: float, sent_s: float, answered_s: float) -> None:
        """A CALLRESULT or CALLERROR arrived (both are answers, both have latency)."""
        service_us = us(answered_s - sent_s)
        self._corrected.record(us(answered_s - due_s))
        self._service.record(service_us)
        self.answered += 1
        if service_us > self.declared_timeout_us:
            self.late += 1

    def record_error(self, code: str) -> None:
        errors = self.errors
        if code not in errors:
            # The code is the peer's text: a CSMS inventing a new one per answer
            # must not grow the counters (or summary.json) without end.
            code = code[:MAX_ERROR_CODE_CHARS]
            if len(errors) >= MAX_ERROR_KINDS and code not in errors:
                code = OTHER_ERROR_CODES
        errors[code] += 1

    def record_timeout(self) -> None:
        """No answer within the model's declared response timeout."""
        self.timeouts += 1

    def fold(self) -> None:
        fold_into(self.corrected, self.corrected_interval)
        fold_into(self.service, self.service_interval)

    def add_counts(self, answered: int, errors: dict[str, int], timeouts: int, late: int) -> None:
        """Add another recorder's counts of the same exchange (a shard's, a worker's)."""
        self.answered += answered
        self.errors.update(errors)
        self.timeouts += timeouts
        self.late += late

    def merge(self, other: ExchangeStats) -> None:
        """Add ``other``'s cumulative figures (what it folded) to ours."""
        self.corrected.add(other.corrected)
        self.service.add(other.service)
        self.answered += other.answered
        self.errors.update(other.errors)
        self.timeouts += other.timeouts
        self.late += other.late

    def summary(self) -> dict[str, object]:
        """The figures of ``summary.json`` (cumulative: up to the last fold)."""
        return exchange_summary(self)


class ModelStats:
    """Everything recorded for one station model.  Stations of the model hold a
    reference to it, so the hot path is one dict lookup by action."""

    __slots__ = (
        "counters",
        "declared_reaction_max_s",
        "declared_timeout_s",
        "exchanges",
        "model_id",
        "reactions",
        "reactions_interval",
    )

    def __init__(self, model_id: str, declared_timeout_s: float) -> None:
        self.model_id = model_id
        self.declared_timeout_s = declared_timeout_s
        # Reaction name -> the model's declared maximum (certificate performance table).
        self.declared_reaction_max_s: dict[str, float] = {}
        self.exchanges: dict[str, ExchangeStats] = {}
        self.counters: Counter[str] = Counter()
        self.reactions: dict[str, Histogram] = {}  # cumulative, up to the last fold
        self.reactions_interval: dict[str, Histogram] = {}

    def exchange(self, action: str) -> ExchangeStats:
        stats = self.exchanges.get(action)
        if stats is None:
            stats = self.exchanges[action] = ExchangeStats(self.declared_timeout_s)
        return stats

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def record_reaction(self, name: str, seconds: float) -> None:
        """A station's own reaction time (e.g. RemoteStart → StartTransaction),
        or a setup time (``connect``, ``boot``)."""
        histogram = self.reactions_interval.get(name)
        if histogram is None:
            histogram = self.reactions_interval[name] = new_histogram()
            self.reactions[name] = new_histogram()
        histogram.record_value(us(seconds))

    def fold(self) -> None:
        for stats in self.exchanges.values():
            stats.fold()
        for name, interval in self.reactions_interval.items():
            fold_into(self.reactions[name], interval)


class Recorder:
    def __init__(self) -> None:
        self.models: dict[str, ModelStats] = {}
        # The simulator's own lag (SIMULATOR_SERIES), µs, cumulative and per interval.
        self.simulator: dict[str, Histogram] = {name: new_histogram() for name in SIMULATOR_SERIES}
        self.simulator_interval: dict[str, Histogram] = {name: new_histogram() for name in SIMULATOR_SERIES}
        self.simulator_counters: Counter[str] = Counter()  # e.g. gc.collections.<generation>
        self.outages: list[OutageRecovery] = []  # one per CSMS outage fault, in order

    def model(self, model_id: str, declared_timeout_s: float) -> ModelStats:
        stats = self.models.get(model_id)
        if stats is None:
            stats = self.models[model_id] = ModelStats(model_id, declared_timeout_s)
        return stats

    def simulator_histogram(self, name: str) -> Histogram:
        """The histogram to record the simulator's ``name`` series into (the
        interval one; zeroed in place at each fold, so a reference stays valid)."""
        return self.simulator_interval[name]

    def fold(self) -> None:
        """Add every interval histogram into its cumulative one and zero it."""
        for model in self.models.values():
            model.fold()
        for name, interval in self.simulator_interval.items():
            fold_into(self.simulator[name], interval)

    def series(self) -> list[tuple[str, Histogram, Histogram]]:
        """(tag, interval histogram, cumulative histogram) of every series, the
        tag as in ``latency.hlog`` (results/README.md):
        ``corrected|service|reaction.<model_id>.<name>``, ``simulator.<name>``.
        A list, not a generator: the interval writer works through it while
        stations go on recording (and may add actions)."""
        found = []
        for model_id, model in list(self.models.items()):
            model_tag = tag_part(model_id)
            for action, stats in list(model.exchanges.items()):
                found.append((f"corrected.{model_tag}.{action}", stats.corrected_interval, stats.corrected))
                found.append((f"service.{model_tag}.{action}", stats.service_interval, stats.service))
            for name, interval in list(model.reactions_interval.items()):
                found.append((f"reaction.{model_tag}.{tag_part(name)}", interval, model.reactions[name]))
        for name, interval in self.simulator_interval.items():
            found.append((f"simulator.{name}", interval, self.simulator[name]))
        return found

    def fleet_exchanges(self) -> dict[str, ExchangeStats]:
        """Per action over all models, merged by adding histograms (never by
        averaging percentiles)."""
        merged: dict[str, ExchangeStats] = {}
        for model in self.models.values():
            for action, stats in model.exchanges.items():
                if action not in merged:
                    merged[action] = ExchangeStats(0.0)
                    merged[action].declared_timeout_us = stats.declared_timeout_us
                else:
                    merged[action].declared_timeout_us = min(
                        merged[action].declared_timeout_us, stats.declared_timeout_us
                    )
                merged[action].merge(stats)
        return merged

    def counters(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for model in self.models.values():
            total.update(model.counters)
        return total

    def summary(self) -> dict[str, object]:
        """``models``, ``fleet`` and ``simulator`` of ``summary.json`` (cumulative:
        up to the last fold)."""
        return recorder_summary(self)
