"""Faults a scenario injects, and their seeded schedule (pure).

These Structs are the scenario file's ``[faults]`` table as it is
(fleetsim.scenario decodes TOML straight into them).  Times are simulated
seconds from the start of the run (``at_s``) and simulated durations
(``for_s``); time acceleration shrinks them on the engine's clock.  Shares are
of the fleet (0..1); rates are per station (or connector) per simulated hour.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

from fleetsim.ocpp.enums import ChargePointErrorCode

# Checked when a scenario is decoded: the error names the field.
Share = Annotated[float, Meta(ge=0.0, le=1.0)]
Rate = Annotated[float, Meta(ge=0.0)]
Seconds = Annotated[float, Meta(ge=0.0)]


class _Fault(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Drops(_Fault):
    """Random connection drops: each station loses its connection at this
    rate (a Poisson process), then reconnects with back-off."""

    per_station_per_hour: Rate


class Storm(_Fault):
    """A share of the fleet (all of it by default) loses its connection at
    once, then reconnects with back-off: a reconnect storm."""

    at_s: Seconds
    share: Share = 1.0


class Outage(_Fault):
    """The CSMS is unreachable for ``for_s``: every connection drops and no new
    one gets through.  The stations keep charging, queue their transaction
    messages and deliver them in order afterwards."""

    at_s: Seconds
    for_s: Seconds


class Reboots(_Fault):
    """Stations reboot (as after a hard Reset): at ``at_s`` a share of the fleet,
    or randomly at ``per_station_per_hour``."""

    at_s: Seconds | None = None
    share: Share = 1.0
    per_station_per_hour: Rate = 0.0


class ConnectorFaults(_Fault):
    """Connectors go Faulted with ``error_code`` at this rate and recover
    (Available again) after ``recover_after_s``."""

    per_connector_per_hour: Rate
    error_code: ChargePointErrorCode = ChargePointErrorCode.GROUND_FAILURE
    recover_after_s: Seconds = 300.0


class PowerLoss(_Fault):
    """A share of the fleet loses power at ``at_s`` for ``for_s``: transactions
    end with reason PowerLoss, reported before going down or after coming back
    as the model certified (AQ-7.1 / AQ-7.2)."""

    at_s: Seconds
    for_s: Seconds = 60.0
    share: Share = 1.0


class ClockSkew(_Fault):
    """A share of the stations run with a wrong clock: each one's timestamps
    are off by a uniform draw in [-max_skew_s, +max_skew_s]."""

    share: Share
    max_skew_s: Seconds


class FaultPlan(_Fault):
    drops: Drops | None = None
    storms: tuple[Storm, ...] = ()
    outages: tuple[Outage, ...] = ()
    reboots: tuple[Reboots, ...] = ()
    connector_faults: ConnectorFaults | None = None
    power_loss: tuple[PowerLoss, ...] = ()
    clock_skew: ClockSkew | None = None


# ---------------------------------------------------------------- the schedule

_HOUR_S = 3600.0


class FaultKind(StrEnum):
    """What a fault does to one station; ``fault.<kind>`` counts them."""

    DROP = "drop"
    STORM = "storm"
    REBOOT = "reboot"
    CONNECTOR = "connector"
    POWER_LOSS = "power_loss"


class StationFault(msgspec.Struct, frozen=True, kw_only=True):
    """One fault of one station: ``station`` is its index in the fleet's order;
    times are simulated seconds from the start of the run."""

    at_s: float
    kind: FaultKind
    station: int
    connector_id: int = 0  # CONNECTOR: which one
    error_code: ChargePointErrorCode = ChargePointErrorCode.NO_ERROR  # CONNECTOR
    for_s: float = 0.0  # CONNECTOR: until recovery; POWER_LOSS: until power returns


FaultEvent = StationFault | Outage


class FaultSchedule:
    """Which station gets which fault when, from a plan, the run's seed and the
    fleet (each station's charge point id and connector count, in fleet order).

    Pure and seeded: the same inputs give the same faults.  Random processes are
    generated lazily, as a merged stream in time order, so a day of a
    20,000-station fleet costs no list of its faults.  A share of the fleet is
    an exact, seeded sample of ``round(share × stations)`` stations."""

    def __init__(self, plan: FaultPlan, seed: int, stations: Sequence[tuple[str, int]]) -> None:
        self.plan = plan
        self.seed = seed
        self.connectors = [count for _, count in stations]
        self._skews: dict[int, float] = {}
        if plan.clock_skew is not None:
            rng = self._rng("clock_skew")
            bound = plan.clock_skew.max_skew_s
            self._skews = {i: rng.uniform(-bound, bound) for i in self.sample(plan.clock_skew.share, "clock_skew")}

    @property
    def empty(self) -> bool:
        """No fault happens during the run (a clock skew is no event)."""
        plan = self.plan
        return not (plan.drops or plan.storms or plan.outages or plan.reboots or plan.connector_faults
                    or plan.power_loss)

    def _rng(self, label: str) -> random.Random:
        return random.Random(f"{self.seed}/faults/{label}")

    def sample(self, share: float, label: str) -> list[int]:
        """The stations (indices, ascending) a share of the fleet picks."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"faults: a share is between 0 and 1, got {share} ({label})")
        n = len(self.connectors)
        return sorted(self._rng(label).sample(range(n), round(share * n)))

    def skew_s(self, station: int) -> float:
        """How far station ``station``'s clock is off (0: not at all)."""
        return self._skews.get(station, 0.0)

    def events(self) -> Iterator[FaultEvent]:
        """Every fault in time order (endless when a random process runs)."""
        plan = self.plan
        streams: list[Iterable[FaultEvent]] = []
        for n, storm in enumerate(plan.storms):
            streams.append(self._at_once(storm.at_s, FaultKind.STORM, storm.share, f"storm/{n}"))
        streams.append(sorted(plan.outages, key=lambda outage: outage.at_s))
        for n, reboots in enumerate(plan.reboots):
            if reboots.at_s is not None:
                streams.append(self._at_once(reboots.at_s, FaultKind.REBOOT, reboots.share, f"reboot/{n}"))
            if reboots.per_station_per_hour > 0:
                streams.append(self._per_station(reboots.per_station_per_hour, FaultKind.REBOOT, f"reboots/{n}"))
        for n, loss in enumerate(plan.power_loss):
            streams.append(self._at_once(loss.at_s, FaultKind.POWER_LOSS, loss.share, f"power_loss/{n}", loss.for_s))
        if plan.drops is not None and plan.drops.per_station_per_hour > 0:
            streams.append(self._per_station(plan.drops.per_station_per_hour, FaultKind.DROP, "drops"))
        if plan.connector_faults is not None and plan.connector_faults.per_connector_per_hour > 0:
            streams.append(self._per_connector(plan.connector_faults))
        return heapq.merge(*streams, key=lambda event: event.at_s)

    def _at_once(self, at_s: float, kind: FaultKind, share: float, label: str, for_s: float = 0.0,
                 ) -> Iterator[StationFault]:
        for station in self.sample(share, label):
            yield StationFault(at_s=at_s, kind=kind, station=station, for_s=for_s)

    def _per_station(self, per_hour: float, kind: FaultKind, label: str) -> Iterator[StationFault]:
        # Independent Poisson processes of rate λ per station, superposed, are
        # one Poisson process of rate N·λ whose every event belongs to a
        # uniformly drawn station: one random stream, however large the fleet.
        stations = len(self.connectors)
        if stations == 0:
            return
        rng = self._rng(label)
        for at_s in _poisson(rng, stations * per_hour / _HOUR_S):
            yield StationFault(at_s=at_s, kind=kind, station=rng.randrange(stations))

    def _per_connector(self, faults: ConnectorFaults) -> Iterator[StationFault]:
        # The same superposition over every connector of the fleet.
        owners = list(itertools.accumulate(self.connectors))  # cumulative counts: bisect finds the station
        total = owners[-1] if owners else 0
        if total == 0:
            return
        rng = self._rng("connector_faults")
        for at_s in _poisson(rng, total * faults.per_connector_per_hour / _HOUR_S):
            k = rng.randrange(total)
            station = bisect.bisect_right(owners, k)
            first = owners[station - 1] if station else 0
            yield StationFault(at_s=at_s, kind=FaultKind.CONNECTOR, station=station, connector_id=k - first + 1,
                               error_code=faults.error_code, for_s=faults.recover_after_s)


def _poisson(rng: random.Random, rate_per_s: float) -> Iterator[float]:
    """Arrival times of a Poisson process from 0 (exponential gaps)."""
    at_s = 0.0
    while True:
        at_s += rng.expovariate(rate_per_s)
        yield at_s
