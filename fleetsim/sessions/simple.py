"""A simple, seeded session model: each connector alternates idle periods and
sessions (plug in, badge an RFID tag, charge, stay plugged a while, unplug),
with exponentially distributed durations.  It drives a station through the
same calls a person at the charger would make."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import msgspec

from fleetsim.station.power import Ev

if TYPE_CHECKING:
    from fleetsim.station.station import Station


class SimpleSessions(msgspec.Struct, frozen=True):
    """Durations are simulated seconds (time acceleration shrinks them)."""

    mean_idle_s: float = 600.0
    mean_connected_s: float = 3600.0
    badge_delay_s: float = 5.0  # plug-in to RFID badge
    id_tags: tuple[str, ...] = ("TAG-0001",)
    ac_ev: Ev = Ev(battery_kwh=58.0, soc_start=0.3, max_ac_kw=11.0)
    dc_ev: Ev = Ev(battery_kwh=58.0, soc_start=0.2, max_dc_kw=100.0)


def drive(station: Station, plan: SimpleSessions, rng: random.Random, now_s: float,
          connector_ids: tuple[int, ...] | None = None) -> None:
    """Start the session cycle of ``connector_ids`` of ``station`` (all: None)."""
    for connector in station.connectors:
        if connector_ids is None or connector.connector_id in connector_ids:
            _schedule_arrival(station, connector.connector_id, plan, rng, now_s)


def _schedule_arrival(station: Station, connector_id: int, plan: SimpleSessions, rng: random.Random,
                      due_s: float) -> None:
    # Every event is due at the previous one's due time plus a duration (not at
    # when its timer ran, late by the loop's lag): lag never stretches the cycle.
    arrive_s = due_s + station.sim_s(rng.expovariate(1.0 / plan.mean_idle_s))
    station.at(arrive_s, lambda now: _arrive(station, connector_id, plan, rng, arrive_s, now))


def _arrive(station: Station, connector_id: int, plan: SimpleSessions, rng: random.Random, due_s: float,
            now_s: float) -> None:
    connector = station.connector(connector_id)
    assert connector is not None
    if station.closing:
        return  # the run is ending: nobody arrives any more
    if connector.plugged or connector.transaction is not None or not station.usable(connector, now_s):
        _schedule_arrival(station, connector_id, plan, rng, due_s)  # occupied or out of order: come back later
        return
    ev = plan.dc_ev if connector.rating.dc else plan.ac_ev
    soc = min(0.95, max(0.0, rng.gauss(ev.soc_start, 0.1)))
    station.plug_in(connector_id, msgspec.structs.replace(ev, soc_start=soc), now_s)
    tag = rng.choice(plan.id_tags)
    station.at(due_s + station.sim_s(plan.badge_delay_s), lambda now: station.present_id_tag(connector_id, tag, now))
    leave_s = due_s + station.sim_s(plan.badge_delay_s + rng.expovariate(1.0 / plan.mean_connected_s))
    station.at(leave_s, lambda now: _leave(station, connector_id, plan, rng, leave_s, now))


def _leave(station: Station, connector_id: int, plan: SimpleSessions, rng: random.Random, due_s: float,
           now_s: float) -> None:
    station.unplug(connector_id, now_s)
    _schedule_arrival(station, connector_id, plan, rng, due_s)
