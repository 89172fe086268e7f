"""Figures for a stretch of a run: a stage's plateau (fleetsim.spec.stages),
a capacity search's step.  The same histograms the run logs interval by
interval, added over the stretch's whole intervals, and the counts (answers,
errors, timeouts, connections) the run made in it: a summary.json of the
stretch alone, which thresholds judge as they judge a run's.

Fed at every interval tick with the interval's ``latency.hlog`` lines and the
run's counts so far (a :class:`Tally`; cumulative, so a stretch's counts are
the difference of two).  In one process the engine feeds it its own lines; the
coordinator of a split run feeds it the lines and tallies of every worker
added.  Pure: no clock, no IO.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

from fleetsim.metrics.percentiles import DEFAULT_PERCENTILES
from fleetsim.metrics.summary import recorder_summary
from fleetsim.metrics.tally import ExchangeTally, LiveMerge, ModelTally, Tally

# A tick lands within this much of the grid time it stands for (the engine's
# ticks are late by its loop's lag at most a fraction of an interval).
_SLACK_FRACTION: Final = 0.5


def difference(now: Tally, before: Tally) -> Tally:
    """The counts made between two tallies of one run."""
    models = {}
    for model_id, model in now.models.items():
        earlier = before.models.get(model_id)
        exchanges = {}
        for action, counts in model.exchanges.items():
            was = earlier.exchanges.get(action) if earlier is not None else None
            if was is None:
                exchanges[action] = counts
                continue
            errors = Counter(counts.errors)
            errors.subtract(was.errors)
            exchanges[action] = ExchangeTally(counts.answered - was.answered, +errors, counts.timeouts - was.timeouts,
                                              counts.late - was.late)
        counters = Counter(model.counters)
        if earlier is not None:
            counters.subtract(earlier.counters)
        models[model_id] = ModelTally(model.declared_timeout_s, model.declared_reaction_max_s, dict(+counters),
                                      exchanges)
    simulator = Counter(now.simulator_counters)
    simulator.subtract(before.simulator_counters)
    return Tally(models, dict(+simulator))


def added(tallies: Iterable[Tally]) -> Tally:
    """Several processes' counts together (each one's so far)."""
    merge = LiveMerge()
    for index, tally in enumerate(tallies):
        merge.set_tally(index, tally)
    return Tally.of(merge.recorder)


class Stretch:
    """One stretch of a run being measured: from ``start_s`` to ``end_s``
    (seconds since the run's start, on the interval grid)."""

    def __init__(self, start_s: float, end_s: float, interval_s: float) -> None:
        self.start_s = start_s
        self.end_s = end_s
        self.interval_s = interval_s
        self.first: Tally | None = None  # the counts at its start
        self.last: Tally | None = None
        self.merge = LiveMerge()
        self.intervals = 0
        self.messages_out = self.messages_in = 0

    @property
    def open(self) -> bool:
        return self.last is None

    def tick(self, end_s: float, lines: Iterable[str], tally: Tally, messages: tuple[int, int] = (0, 0)) -> bool:
        """The interval that ended at ``end_s``; True once the stretch is whole."""
        slack_s = self.interval_s * _SLACK_FRACTION
        if self.first is None:
            if end_s >= self.start_s - slack_s:
                self.begin(tally, messages)
            return False
        if self.last is not None:
            return True
        self.merge.add_lines(lines)
        self.intervals += 1
        if end_s >= self.end_s - slack_s:
            self.last = tally
            self.messages_out = messages[0] - self._messages_at_start[0]
            self.messages_in = messages[1] - self._messages_at_start[1]
            self.merge.set_tally(0, difference(tally, self.first))
            return True
        return False

    def begin(self, tally: Tally, messages: tuple[int, int] = (0, 0)) -> None:
        """The counts (and messages) at the stretch's start: the intervals
        ticked from now on are its."""
        self.first = tally
        self._messages_at_start = messages

    def close(self, tally: Tally, messages: tuple[int, int] = (0, 0)) -> None:
        """The run ended before the stretch did: what it has is its figures."""
        if self.first is not None and self.last is None:
            self.last = tally
            self.messages_out = messages[0] - self._messages_at_start[0]
            self.messages_in = messages[1] - self._messages_at_start[1]
            self.merge.set_tally(0, difference(tally, self.first))

    @property
    def measured_s(self) -> float:
        return self.intervals * self.interval_s

    def summary(self, percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
        """The stretch's figures (:func:`figures`)."""
        return figures(self.merge, self.measured_s, self.messages_out, self.messages_in, percentiles)


def figures(merge: LiveMerge, measured_s: float, messages_out: int, messages_in: int,
            percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
    """``fleet`` and ``models`` as summary.json has them, for a stretch alone
    (``merge``: its histograms and counts), with ``calls_per_s`` answered
    and ``messages_per_s`` both ways over the ``measured_s`` it lasted."""
    document = recorder_summary(merge.recorder, percentiles)
    answered = sum(exchange["answered"] for exchange in document["fleet"]["exchanges"].values())
    per_s = 1.0 / measured_s if measured_s > 0 else 0.0
    return {
        "measured_s": round(measured_s, 3),
        "calls_per_s": round(answered * per_s, 3),
        "messages_per_s": {"out": round(messages_out * per_s, 3), "in": round(messages_in * per_s, 3)},
        "fleet": document["fleet"],
        "models": document["models"],
    }


def place(window: Any) -> dict[str, Any]:
    """A stage's place in the run, as summary.json's ``stages`` gives it."""
    return {
        "index": window.index, "stations": window.stations, "from_stations": window.from_stations,
        "start_s": round(window.start_s, 3), "ramp_end_s": round(window.ramp_end_s, 3),
        "plateau_start_s": round(window.plateau_start_s, 3), "end_s": round(window.end_s, 3),
        "plateau_s": round(window.plateau_s, 3), "excluded_s": round(window.excluded_s, 3),
    }


def last_tick(plateau_start_s: float, end_s: float, interval_s: float) -> float:
    """The last interval tick at or before a stage's ``end_s``: where its
    plateau's whole intervals end.  A stage may end between ticks (a 6.5 s
    stage); the interval that spans its end holds the next stage's ramp."""
    whole = math.floor((end_s - plateau_start_s) / interval_s + 1e-9)  # a hair of float error must not lose one
    return plateau_start_s + max(0, whole) * interval_s


class StageBook:
    """Every stage's plateau of a staged run, measured as the run goes."""

    def __init__(self, windows: Sequence[Any], interval_s: float,
                 percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> None:
        self.windows = list(windows)
        self.percentiles = percentiles
        self.stretches = [Stretch(w.plateau_start_s, last_tick(w.plateau_start_s, w.end_s, interval_s), interval_s)
                          for w in self.windows]
        # A plateau's figures, made when it ends; its histograms (a hundred
        # series' worth) are let go then, so a plan of MAX_STAGES stages holds
        # one stage's at a time, not all of them.
        self._figures: list[dict[str, Any] | None] = [None] * len(self.windows)

    def tick(self, end_s: float, lines: Sequence[str], tally: Tally, messages: tuple[int, int]) -> None:
        for index, stretch in enumerate(self.stretches):
            if stretch.open and stretch.tick(end_s, lines, tally, messages):
                self._settle(index)

    def close(self, tally: Tally, messages: tuple[int, int]) -> None:
        for index, stretch in enumerate(self.stretches):
            if stretch.open:
                stretch.close(tally, messages)
                self._settle(index)

    def _settle(self, index: int) -> None:
        stretch = self.stretches[index]
        if self._figures[index] is None and stretch.first is not None and stretch.intervals:
            self._figures[index] = stretch.summary(self.percentiles)
            stretch.merge = LiveMerge()

    def sections(self) -> list[dict[str, Any]]:
        """summary.json's ``stages``: each stage's place in the run and its
        plateau's figures (none for a plateau the run never reached)."""
        sections = []
        for index, (window, stretch) in enumerate(zip(self.windows, self.stretches, strict=True)):
            section = place(window)
            figures = self._figures[index]
            if figures is None and stretch.first is not None and stretch.intervals:
                figures = stretch.summary(self.percentiles)  # still open (the run ended before the close)
            if figures is not None:
                section.update(figures)
            sections.append(section)
        return sections


def tally_of(document: dict[str, Any]) -> Tally:
    """The counts of a summary.json-shaped section (``models``): what a
    shard's stage says it counted, for adding shards' stages (fleetsim merge)."""
    models = {}
    for model_id, model in (document.get("models") or {}).items():
        exchanges = {action: ExchangeTally(int(e.get("answered", 0)),
                                           dict(e.get("errors") or {}), int(e.get("timeouts", 0)),
                                           int(e.get("late", 0)))
                     for action, e in (model.get("exchanges") or {}).items()}
        models[model_id] = ModelTally(float(model.get("declared_timeout_s") or 0.0), {},
                                      dict(model.get("counters") or {}), exchanges)
    return Tally(models)


_PLACE_KEYS: Final = ("index", "stations", "from_stations", "start_s", "ramp_end_s", "plateau_start_s", "end_s",
                      "plateau_s", "excluded_s")


def merged_stages(shard_stages: Sequence[Sequence[dict[str, Any]]], intervals: Iterable[tuple[float, float, str,
                  Any]], percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> list[dict[str, Any]]:
    """The stages of a run split over shards (fleetsim merge): each shard's
    counts added, and the merged log's ``intervals`` ((start_s since the
    run's start, length_s, tag, histogram)) that fall in a plateau added
    into it.  The shards ran one stage plan (ValueError otherwise)."""
    plans = {tuple(tuple(stage.get(key) for key in _PLACE_KEYS) for stage in stages) for stages in shard_stages}
    if len(plans) != 1:
        raise ValueError("the shards ran different stage plans: they are not parts of one run")
    template = shard_stages[0]
    merges = [LiveMerge() for _ in template]
    # Where the shards' measurements ended: their plateau's whole intervals
    # (a stage may end between ticks; the interval spanning its end is the
    # next stage's ramp), or as far as they got.
    ends = [stage["plateau_start_s"] + max((stages[index].get("measured_s", 0.0) for stages in shard_stages),
                                           default=0.0) for index, stage in enumerate(template)]
    for start_s, length_s, tag, histogram in intervals:
        for stage, end_s, merge in zip(template, ends, merges, strict=True):
            slack_s = length_s * _SLACK_FRACTION
            if stage["plateau_start_s"] - slack_s <= start_s and start_s + length_s <= end_s + slack_s:
                merge.add_histogram(tag, histogram)
    sections = []
    for index, (stage, merge) in enumerate(zip(template, merges, strict=True)):
        section = {key: stage[key] for key in _PLACE_KEYS}
        parts = [stages[index] for stages in shard_stages if "fleet" in stages[index]]
        if parts:
            for shard, part in enumerate(parts):
                merge.set_tally(shard, tally_of(part))
            measured_s = max(part.get("measured_s", 0.0) for part in parts)
            out = sum(part["messages_per_s"]["out"] for part in parts) * measured_s
            back = sum(part["messages_per_s"]["in"] for part in parts) * measured_s
            section.update(figures(merge, measured_s, round(out), round(back), percentiles))
        sections.append(section)
    return sections
