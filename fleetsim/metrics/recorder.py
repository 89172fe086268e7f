"""The recorder: every exchange of every station goes through here.

Latency is recorded in microseconds into HdrHistograms, per station model and
action, in two views (as wrk2 does):

* **corrected**: from the time the CALL was *due* (its intended send time) to
  the answer.  OCPP-J §4.1.1 allows one CALL in flight per station, so when a
  CSMS is slow, later calls wait in the station's queue; that wait is the
  CSMS's doing and belongs in its latency (coordinated omission).
* **service**: from the time the CALL was written to the socket to the answer.

Pure: callers pass the times (seconds, from the engine's clock).
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from hdrh.histogram import HdrHistogram

LOWEST_US: Final = 1
HIGHEST_US: Final = 3_600_000_000  # an hour: anything longer is clamped to it
SIGNIFICANT_DIGITS: Final = 3
PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9)


class Histogram(HdrHistogram):
    """An HdrHistogram whose ``record_value`` is computed inline.

    Recording is on the hot path of every exchange (twice: corrected and
    service time).  The library's method spends about 1 µs in five method
    calls and a ``bin()`` string; this one does the same arithmetic (bucket
    by the value's bit length, sub-bucket by shifting) in one, and fills the
    very same counts array, so encoding, adding and percentiles are the
    library's.  A property test checks it against the library value by value.
    """

    def __init__(self, lowest: int, highest: int, significant_digits: int) -> None:
        super().__init__(lowest, highest, significant_digits)
        self._bucket_shift = self.unit_magnitude + self.sub_bucket_half_count_magnitude + 1

    def record_value(self, value: int, count: int = 1) -> bool:
        if value < 0:
            return False
        bucket = (value | self.sub_bucket_mask).bit_length() - self._bucket_shift
        index = ((bucket + 1) << self.sub_bucket_half_count_magnitude) + (
            (value >> (bucket + self.unit_magnitude)) - self.sub_bucket_half_count
        )
        if index >= self.counts_len:
            return False
        self.counts[index] += count
        self.total_count += count
        if value < self.min_value:
            self.min_value = value
        if value > self.max_value:
            self.max_value = value
        return True


def new_histogram() -> Histogram:
    return Histogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def _us(seconds: float) -> int:
    value = round(seconds * 1_000_000)
    return LOWEST_US if value < LOWEST_US else HIGHEST_US if value > HIGHEST_US else value


class ExchangeStats:
    """What one station model saw of one action it initiated."""

    __slots__ = ("corrected", "service", "answered", "errors", "timeouts", "late", "declared_timeout_us")

    def __init__(self, declared_timeout_s: float) -> None:
        self.corrected = new_histogram()
        self.service = new_histogram()
        self.answered = 0
        self.errors: Counter[str] = Counter()
        self.timeouts = 0
        self.late = 0
        self.declared_timeout_us = _us(declared_timeout_s)

    def record_answer(self, due_s: float, sent_s: float, answered_s: float) -> None:
        """A CALLRESULT or CALLERROR arrived (both are answers, both have latency)."""
        service_us = _us(answered_s - sent_s)
        self.corrected.record_value(_us(answered_s - due_s))
        self.service.record_value(service_us)
        self.answered += 1
        if service_us > self.declared_timeout_us:
            self.late += 1

    def record_error(self, code: str) -> None:
        self.errors[code] += 1

    def record_timeout(self) -> None:
        """No answer within the model's declared response timeout."""
        self.timeouts += 1

    def merge(self, other: ExchangeStats) -> None:
        self.corrected.add(other.corrected)
        self.service.add(other.service)
        self.answered += other.answered
        self.errors.update(other.errors)
        self.timeouts += other.timeouts
        self.late += other.late

    def summary(self) -> dict[str, object]:
        return {
            "count": self.answered + self.timeouts,
            "answered": self.answered,
            "errors": dict(sorted(self.errors.items())),
            "timeouts": self.timeouts,
            "late": self.late,
            "declared_timeout_ms": self.declared_timeout_us / 1000,
            "corrected_ms": _percentiles_ms(self.corrected),
            "service_ms": _percentiles_ms(self.service),
        }


def _percentiles_ms(histogram: HdrHistogram) -> dict[str, float] | None:
    if histogram.get_total_count() == 0:
        return None
    figures = {f"p{p:g}": histogram.get_value_at_percentile(p) / 1000 for p in PERCENTILES}
    figures["max"] = histogram.get_max_value() / 1000
    return figures


class ModelStats:
    """Everything recorded for one station model.  Stations of the model hold a
    reference to it, so the hot path is one dict lookup by action."""

    __slots__ = ("model_id", "declared_timeout_s", "exchanges", "counters", "reactions")

    def __init__(self, model_id: str, declared_timeout_s: float) -> None:
        self.model_id = model_id
        self.declared_timeout_s = declared_timeout_s
        self.exchanges: dict[str, ExchangeStats] = {}
        self.counters: Counter[str] = Counter()
        self.reactions: dict[str, HdrHistogram] = {}

    def exchange(self, action: str) -> ExchangeStats:
        stats = self.exchanges.get(action)
        if stats is None:
            stats = self.exchanges[action] = ExchangeStats(self.declared_timeout_s)
        return stats

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def record_reaction(self, name: str, seconds: float) -> None:
        """A station's own reaction time (e.g. RemoteStart → StartTransaction)."""
        histogram = self.reactions.get(name)
        if histogram is None:
            histogram = self.reactions[name] = new_histogram()
        histogram.record_value(_us(seconds))


class Recorder:
    def __init__(self) -> None:
        self.models: dict[str, ModelStats] = {}

    def model(self, model_id: str, declared_timeout_s: float) -> ModelStats:
        stats = self.models.get(model_id)
        if stats is None:
            stats = self.models[model_id] = ModelStats(model_id, declared_timeout_s)
        return stats

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
        return {
            "models": {
                model_id: {
                    "declared_timeout_s": model.declared_timeout_s,
                    "exchanges": {a: s.summary() for a, s in sorted(model.exchanges.items())},
                    "counters": dict(sorted(model.counters.items())),
                    "reactions_ms": {n: _percentiles_ms(h) for n, h in sorted(model.reactions.items())},
                }
                for model_id, model in sorted(self.models.items())
            },
            "fleet": {
                "exchanges": {a: s.summary() for a, s in sorted(self.fleet_exchanges().items())},
                "counters": dict(sorted(self.counters().items())),
            },
        }
