"""One recorder for a run split over processes, kept as the run goes: what
the coordinator of ``fleetsim run --workers`` judges ``abort`` thresholds on,
so that they judge the whole fleet, never one worker's part of it.

Each worker sends, with every interval it closes, the lines that interval
gave its ``latency.hlog`` (added here into cumulative histograms, exactly as
``fleetsim merge`` adds them) and a :class:`Tally` of its counts so far
(answers, errors, timeouts, counters: cumulative, so the latest of each
worker replaces its previous one).  Pure: no clock, no IO.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec

from fleetsim.metrics import hlog
from fleetsim.metrics.histogram import Histogram, new_histogram, us
from fleetsim.metrics.recorder import ModelStats, Recorder


class ExchangeTally(msgspec.Struct, array_like=True, frozen=True):
    answered: int
    errors: dict[str, int]
    timeouts: int
    late: int


class ModelTally(msgspec.Struct, frozen=True):
    declared_timeout_s: float
    declared_reaction_max_s: dict[str, float]
    counters: dict[str, int]
    exchanges: dict[str, ExchangeTally]


class Tally(msgspec.Struct, frozen=True):
    """One process's counts so far (what its summary.json would count)."""

    models: dict[str, ModelTally] = {}
    simulator_counters: dict[str, int] = {}

    @classmethod
    def of(cls, recorder: Recorder) -> Tally:
        return cls({model_id: ModelTally(
            model.declared_timeout_s, dict(model.declared_reaction_max_s), dict(model.counters),
            {action: ExchangeTally(stats.answered, dict(stats.errors), stats.timeouts, stats.late)
             for action, stats in model.exchanges.items()})
            for model_id, model in recorder.models.items()}, dict(recorder.simulator_counters))


class LiveMerge:
    """The processes' histograms added, and their latest tallies added: a
    :class:`Recorder` (``self.recorder``, the same object throughout) that
    reads as one process's would."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self._tallies: dict[int, Tally] = {}

    def add_lines(self, lines: Iterable[str]) -> None:
        """An interval's lines of one process's latency.hlog."""
        for line in lines:
            self.add_histogram(*hlog.parse_interval_line(line))

    def add_histogram(self, tag: str, histogram: Histogram) -> None:
        """One series' interval histogram (its latency.hlog tag)."""
        self._total(tag).add(histogram)

    def set_tally(self, process: int, tally: Tally) -> None:
        """``process``'s counts so far; the counts of the recorder are then
        those of every process's latest tally."""
        self._tallies[process] = tally
        recorder = self.recorder
        for model in recorder.models.values():
            model.counters = Counter()
            for stats in model.exchanges.values():
                stats.answered = stats.timeouts = stats.late = 0
                stats.errors = Counter()
        recorder.simulator_counters = Counter()
        for tally in self._tallies.values():
            for model_id, figures in tally.models.items():
                model = self._model(model_id, figures.declared_timeout_s)
                model.declared_reaction_max_s.update(figures.declared_reaction_max_s)
                model.counters.update(figures.counters)
                for action, counts in figures.exchanges.items():
                    model.exchange(action).add_counts(counts.answered, counts.errors, counts.timeouts, counts.late)
            recorder.simulator_counters.update(tally.simulator_counters)

    def _model(self, model_id: str, declared_timeout_s: float | None = None) -> ModelStats:
        model = self.recorder.models.get(model_id)
        if model is None:
            model = self.recorder.model(model_id, declared_timeout_s if declared_timeout_s is not None else 3600.0)
        elif declared_timeout_s is not None and model.declared_timeout_s != declared_timeout_s:
            model.declared_timeout_s = declared_timeout_s  # a line came before the model's tally
            for stats in model.exchanges.values():
                stats.declared_timeout_us = us(declared_timeout_s)
        return model

    def _total(self, tag: str) -> Histogram:
        view, model_id, name = hlog.split_tag(tag)
        if view == "simulator":
            name = tag.partition(".")[2]
            self.recorder.simulator_interval.setdefault(name, new_histogram())
            return self.recorder.simulator.setdefault(name, new_histogram())
        model = self._model(model_id)
        if view == "reaction":
            model.reactions_interval.setdefault(name, new_histogram())
            return model.reactions.setdefault(name, new_histogram())
        stats = model.exchange(name)
        return stats.corrected if view == "corrected" else stats.service
