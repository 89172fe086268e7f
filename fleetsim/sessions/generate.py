"""Sessions drawn from a segment model, lazily: each station has one pending
arrival at a time, drawn when the previous one arrives, so a fleet of 20,000
stations holds 20,000 small records and timers, never a day's list each.

Arrivals per station are a non-homogeneous Poisson process whose rate follows
the hour of the day of simulated local time, weekday or weekend by simulated
date (Lahariya et al. 2020, on ElaadNL data), drawn by thinning (Lewis and
Shedler 1979): candidates at the peak rate, each kept with probability
rate(t) / peak.  Every draw comes from a generator seeded by the run's seed,
the charge point id and the arrival's number, so the same seed gives the same
sessions whatever the CSMS does."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import msgspec

from fleetsim.sessions.config import IdTags, SegmentSessions
from fleetsim.sessions.models import SEGMENTS, SegmentModel, draw, draw_ev
from fleetsim.sessions.play import PlannedSession, RemoteStart, connector_free, play
from fleetsim.sessions.tags import draw_tag
from fleetsim.station.power import Ev

if TYPE_CHECKING:
    from fleetsim.station.station import Station

DC_SOC_RANGE: Final = (0.1, 0.4)  # arrival state of charge at DC fast chargers
AC_SOC_END_MIN: Final = 0.8  # AC drivers leave with 80..100 % unless they want more
BADGE_DELAY_S: Final = (5.0, 30.0)  # plug-in to RFID badge
MAX_CANDIDATES: Final = 100_000  # thinning gives up (a rate of zero everywhere)


class SegmentPlan(msgspec.Struct, frozen=True):
    """What the stations of one fleet group share."""

    model: SegmentModel
    per_day: float  # sessions per connector per weekday
    tags: IdTags

    @classmethod
    def of(cls, config: SegmentSessions) -> SegmentPlan:
        model = SEGMENTS[config.segment]
        per_day = config.sessions_per_connector_per_day
        if per_day is None:
            per_day = model.sessions_per_connector_per_day
        if per_day < 0:
            raise ValueError(f"sessions_per_connector_per_day must be >= 0, not {per_day}")
        return cls(model, per_day, config.id_tags)

    def rate_per_hour(self, when: datetime, connectors: int) -> float:
        return connectors * self.model.hourly_rate_per_connector(when.hour, when.weekday() >= 5, self.per_day)

    def peak_per_hour(self, connectors: int) -> float:
        return connectors * self.model.peak_rate_per_connector(self.per_day)


def station_seed(seed: int, charge_point_id: str) -> int:
    digest = hashlib.sha256(f"{seed}/{charge_point_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def next_arrival_gap_s(plan: SegmentPlan, start: datetime, connectors: int, rng: random.Random) -> float | None:
    """Simulated seconds from ``start`` to the next arrival (None: never)."""
    peak = plan.peak_per_hour(connectors)
    if peak <= 0:
        return None
    gap_s = 0.0
    for _ in range(MAX_CANDIDATES):
        gap_s += rng.expovariate(peak) * 3600.0
        if rng.random() * peak < plan.rate_per_hour(start + timedelta(seconds=gap_s), connectors):
            return gap_s
    return None


def draw_session(plan: SegmentPlan, dc: bool, rng: random.Random) -> PlannedSession:
    """The EV, the energy it wants, how long it stays, the tag it presents."""
    spec = draw_ev(rng)
    battery = spec.battery_kwh
    energy = plan.model.energy_kwh
    wanted = draw(energy, rng)
    if dc:
        soc_start = rng.uniform(*DC_SOC_RANGE)
        wanted = min(wanted, (1.0 - soc_start) * battery)
    else:
        # The SoC at arrival is what is left when the wanted energy fills the
        # battery to where the driver stops (at least the wanted share).
        wanted = min(wanted, battery)
        soc_end = rng.uniform(max(AC_SOC_END_MIN, wanted / battery), 1.0)
        soc_start = max(0.0, soc_end - wanted / battery)
    ev = Ev(battery_kwh=battery, soc_start=soc_start, max_ac_kw=spec.max_ac_kw, max_dc_kw=spec.max_dc_kw,
            energy_wanted_kwh=wanted)
    connected_s = draw(plan.model.connection_h, rng) * 3600.0
    remote = rng.random() < plan.tags.remote_start_share
    return PlannedSession(connected_s, ev, draw_tag(plan.tags, rng), remote, rng.uniform(*BADGE_DELAY_S))


class StationSessions:
    """The sessions of one station: its seed and how many arrivals it has had."""

    __slots__ = ("arrivals", "connector_ids", "plan", "remote_start", "seed", "station")

    def __init__(self, station: Station, plan: SegmentPlan, seed: int, remote_start: RemoteStart | None,
                 connector_ids: tuple[int, ...] | None = None) -> None:
        self.station = station
        self.plan = plan
        self.seed = station_seed(seed, station.charge_point_id)
        self.arrivals = 0
        self.remote_start = remote_start
        # The connectors drivers use (a scenario group's); None: all of them.
        self.connector_ids = connector_ids or tuple(c.connector_id for c in station.connectors)

    def _rng(self, purpose: int) -> random.Random:
        return random.Random((self.seed << 32) + 2 * self.arrivals + purpose)

    def start(self, now_s: float) -> None:
        self._schedule_next(now_s)

    def _schedule_next(self, due_s: float) -> None:
        """The arrival after the one due at ``due_s``: from the plan, not from
        when that arrival's timer ran (late by the loop's lag)."""
        station = self.station
        gap_s = next_arrival_gap_s(self.plan, station.timebase.simulated(due_s), len(self.connector_ids), self._rng(0))
        if gap_s is not None:
            next_s = due_s + station.sim_s(gap_s)
            station.at(next_s, lambda now: self._arrive(next_s, now))

    def _arrive(self, due_s: float, now_s: float) -> None:
        station = self.station
        if station.closing:
            return
        rng = self._rng(1)
        self.arrivals += 1
        free = [connector_id for connector_id in self.connector_ids if connector_free(station, connector_id, now_s)]
        if free:
            connector_id = rng.choice(free)
            dc = station.connectors[connector_id - 1].rating.dc
            play(station, connector_id, draw_session(self.plan, dc, rng), now_s, self.remote_start, origin_s=due_s)
        else:
            station.stats.count("session.lost_busy")  # a driver who finds every connector taken leaves
        self._schedule_next(due_s)
