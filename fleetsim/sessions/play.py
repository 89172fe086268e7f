"""One charging session played on a station, as the driver does it: arrive,
plug in (Preparing), badge an RFID tag after a moment or wait for the CSMS to
start the transaction remotely (the driver's app asked it), charge until the
EV is full or has what it wanted (SuspendedEV), stay plugged until departure,
unplug (StopTransaction reason EVDisconnected, Finishing, Available).

What the station does with the tag (Authorize, local list, cache, offline
rules, StopTransactionOnInvalidId) is the station model's business: the
driver only presents it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from fleetsim.station.power import Ev

if TYPE_CHECKING:
    from fleetsim.station.station import Station

# (charge point id, connector id, id tag) -> whether a CSMS took the request.
# Wired to the embedded CSMS by the engine; against another CSMS nothing can ask.
RemoteStart = Callable[[str, int, str], bool]


class PlannedSession(msgspec.Struct, frozen=True, gc=False):
    """A session as it will be played (durations in simulated seconds)."""

    connected_s: float  # plug-in to unplug
    ev: Ev
    id_tag: str
    remote: bool = False  # started by RemoteStartTransaction, not by RFID
    badge_delay_s: float = 10.0  # plug-in to the RFID badge (or to the app's request)
    arrival_s: float = 0.0  # plug-in, after the plan's origin (see play)


def connector_free(station: Station, connector_id: int, now_s: float) -> bool:
    """Nobody on it, and it can take a session (not Unavailable or Faulted,
    the station not down: Station.usable)."""
    connector = station.connectors[connector_id - 1]
    return not (connector.plugged or connector.transaction is not None or connector.authorized_id_tag is not None
                or station.closing) and station.usable(connector, now_s)


def play(station: Station, connector_id: int, session: PlannedSession, now_s: float,
         remote_start: RemoteStart | None, *, origin_s: float | None = None) -> bool:
    """Plug the session's EV into ``connector_id`` now and schedule the rest;
    False if the station refused the plug.

    The badge and the departure are due where the plan puts them: at
    ``origin_s`` (engine seconds; default now) plus the session's simulated
    offsets, never at ``now_s`` plus a duration.  ``now_s`` is when the
    arrival's timer ran, late by the event loop's lag; a departure scheduled
    from it could fall after the connector's next planned arrival (at 3600x
    a minute of slack is 17 ms of lag), and that arrival would find the
    connector busy although the plan fits.  Both are one formula of the
    plan's origin, so a departure is never due after an arrival the plan
    puts at or after it, and the station's timers run in order of their due
    times however late they run."""
    connector = station.connectors[connector_id - 1]
    ev = session.ev
    station.plug_in(connector_id, ev, now_s)
    if connector.ev is not ev:
        return False
    station.stats.count("session.arrived")
    origin_s = now_s if origin_s is None else origin_s
    badge_s = origin_s + station.sim_s(session.arrival_s + min(session.badge_delay_s, session.connected_s / 2))
    if session.remote:
        station.at(badge_s, lambda now: _ask_remote_start(station, connector_id, session, remote_start, now))
    else:
        station.at(badge_s, lambda now: _badge(station, connector_id, session, now))
    station.at(origin_s + station.sim_s(session.arrival_s + session.connected_s),
               lambda now: _depart(station, connector_id, ev, now, remote=session.remote))
    return True


def _still_here(station: Station, connector_id: int, ev: Ev) -> bool:
    return station.connectors[connector_id - 1].ev is ev


def _badge(station: Station, connector_id: int, session: PlannedSession, now_s: float) -> None:
    if _still_here(station, connector_id, session.ev):
        station.present_id_tag(connector_id, session.id_tag, now_s)


# How long a driver's app waits before asking again while the station is not
# online and accepted (simulated seconds): the CSMS could not reach it yet.
APP_RETRY_S = 30.0


def _ask_remote_start(station: Station, connector_id: int, session: PlannedSession,
                      remote_start: RemoteStart | None, now_s: float) -> None:
    if not _still_here(station, connector_id, session.ev):
        return
    if remote_start is not None and not station.accepted_online():
        # Timers planned before the station first connected run when it does,
        # ahead of its BootNotification: the app asks again, until the EV leaves.
        station.at(now_s + station.sim_s(APP_RETRY_S),
                   lambda now: _ask_remote_start(station, connector_id, session, remote_start, now))
        return
    station.stats.count("session.remote_start_asked")
    if remote_start is not None and not remote_start(station.charge_point_id, connector_id, session.id_tag):
        station.stats.count("session.remote_start_not_sent")


def _depart(station: Station, connector_id: int, ev: Ev, now_s: float, *, remote: bool = False) -> None:
    if not _still_here(station, connector_id, ev):
        return
    connector = station.connectors[connector_id - 1]
    if remote and connector.transaction is None and connector.delivered_wh == 0:
        # Judged at departure, not after ConnectionTimeOut: under acceleration
        # the model's measured reaction to RemoteStartTransaction (real
        # seconds) can outlast a simulated minute, and the start still counts.
        station.stats.count("session.remote_start_missing")  # the EV stayed plugged in and left without charging
    station.unplug(connector_id, now_s)
    station.stats.count("session.departed")
