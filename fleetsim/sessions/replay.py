"""Replay of recorded sessions (a CSV of arrival, departure,
delivered_energy_kwh, station_id) on a fleet group's connectors.

The file's station ids, in sorted order, go to the group's connectors in
order (station by station, connector by connector), wrapping round when the
file has more ids than the group has connectors.  Times shift to the run:
"time-of-day" puts the file's first day on the run's simulated start date,
each session at its own local time of day; "now" puts the first arrival at
the run's start.  Time acceleration applies as to every simulated duration.
The EV of a replayed session wants the recorded energy."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from fleetsim.sessions.config import ReplaySessions
from fleetsim.sessions.fitting import RecordedSession, parse_sessions
from fleetsim.sessions.generate import BADGE_DELAY_S, station_seed
from fleetsim.sessions.play import PlannedSession, RemoteStart, connector_free, play
from fleetsim.sessions.tags import draw_tag
from fleetsim.station.power import Ev

if TYPE_CHECKING:
    from fleetsim.station.station import Station

REPLAY_SOC_START = 0.2
REPLAY_SOC_END_MAX = 0.6  # below the DC taper, so the EV takes the recorded energy at full power


class Unfit(StrEnum):
    DEPARTURE_BEFORE_ARRIVAL = "departure_before_arrival"
    TOO_MUCH_ENERGY = "too_much_energy"  # more than the connector's power delivers in the connected time
    BEFORE_START = "before_start"  # time-of-day shift: its time of day on the first day is before the run starts
    CONNECTOR_BUSY = "connector_busy"  # an earlier session of the file is still on that connector


class ConnectorSlot(msgspec.Struct, frozen=True):
    """A connector of the fleet group, as replay sees it."""

    charge_point_id: str
    connector_id: int
    max_power_kw: float


class ReplayedSession(msgspec.Struct, frozen=True):
    line: int  # of the file
    slot: int  # index into the connectors
    start_s: float  # simulated seconds from the run's start
    connected_s: float
    energy_kwh: float


class ReplayReport(msgspec.Struct, frozen=True):
    file: str
    sessions: int  # in the file
    station_ids: int  # distinct, in the file
    connectors: int  # of the fleet group
    fit: tuple[ReplayedSession, ...]
    unfit: tuple[tuple[ReplayedSession, Unfit], ...]

    def unfit_by_reason(self) -> dict[str, int]:
        return dict(Counter(str(reason) for _, reason in self.unfit))


def load(config: ReplaySessions, base_dir: Path | None = None) -> list[RecordedSession]:
    """The file's sessions; an unreadable file or a bad row raises ValueError
    naming the file (and the line)."""
    path = Path(config.file) if base_dir is None else base_dir / config.file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"{path}: cannot read the sessions file: {error.strerror or error}") from None
    sessions = parse_sessions(text, str(path))
    if not sessions:
        raise ValueError(f"{path}: no sessions in the file")
    return sessions


def _offsets_s(sessions: Sequence[RecordedSession], shift: str, sim_start: datetime | None) -> list[float]:
    """Each session's arrival in simulated seconds from the run's start."""
    if shift == "now":
        first = min(s.arrival for s in sessions)
        return [(s.arrival - first).total_seconds() for s in sessions]
    # Local wall time of day, as the file's offsets give it.
    day0 = min(s.arrival.replace(tzinfo=None) for s in sessions).replace(hour=0, minute=0, second=0, microsecond=0)
    start = sim_start.replace(tzinfo=None) if sim_start is not None else day0
    start_of_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    lead_s = (start - start_of_day).total_seconds()
    return [(s.arrival.replace(tzinfo=None) - day0).total_seconds() - lead_s for s in sessions]


def check_replay(config: ReplaySessions, connectors: Sequence[ConnectorSlot], sim_start: datetime | None = None,
                 *, base_dir: Path | None = None, sessions: Sequence[RecordedSession] | None = None) -> ReplayReport:
    """Which of the file's sessions fit the group's connectors, and why the
    others do not.  ``sim_start``: the run's simulated start (for the
    time-of-day shift; None: midnight of the first day)."""
    if not connectors:
        raise ValueError("replay needs at least one connector in the fleet group")
    rows = list(sessions) if sessions is not None else load(config, base_dir)
    ids = sorted({s.station_id for s in rows})
    slot_of = {station_id: i % len(connectors) for i, station_id in enumerate(ids)}
    offsets = _offsets_s(rows, config.shift, sim_start)
    planned = sorted(
        (ReplayedSession(line, slot_of[s.station_id], start_s, (s.departure - s.arrival).total_seconds(), s.energy_kwh)
         for line, (s, start_s) in enumerate(zip(rows, offsets, strict=True), start=2)),
        key=lambda r: (r.slot, r.start_s, r.line),
    )
    busy_until: dict[int, float] = {}
    fit: list[ReplayedSession] = []
    unfit: list[tuple[ReplayedSession, Unfit]] = []
    for session in planned:
        reason = _unfit_reason(session, connectors[session.slot], busy_until.get(session.slot, float("-inf")))
        if reason is None:
            fit.append(session)
            busy_until[session.slot] = session.start_s + session.connected_s
        else:
            unfit.append((session, reason))
    fit.sort(key=lambda r: (r.start_s, r.slot))
    return ReplayReport(config.file, len(rows), len(ids), len(connectors), tuple(fit), tuple(unfit))


def _unfit_reason(session: ReplayedSession, slot: ConnectorSlot, busy_until_s: float) -> Unfit | None:
    if session.connected_s <= 0:
        return Unfit.DEPARTURE_BEFORE_ARRIVAL
    if session.energy_kwh > slot.max_power_kw * session.connected_s / 3600.0:
        return Unfit.TOO_MUCH_ENERGY
    if session.start_s < 0:
        return Unfit.BEFORE_START
    if session.start_s < busy_until_s:
        return Unfit.CONNECTOR_BUSY
    return None


def slots_of(stations: Sequence[Station], connector_ids: tuple[int, ...] | None = None) -> list[ConnectorSlot]:
    """The connectors sessions are replayed onto: ``connector_ids`` of each
    station (a scenario group's), or all of them."""
    return [ConnectorSlot(s.charge_point_id, c.connector_id, c.rating.max_power_w / 1000.0)
            for s in stations for c in s.connectors if connector_ids is None or c.connector_id in connector_ids]


def slots_of_ids(charge_point_ids: Sequence[str], model: Station,
                 connector_ids: tuple[int, ...] | None = None) -> list[ConnectorSlot]:
    """The slots of a group of stations of one model, given by their charge
    point ids (``model``: one of them), as :func:`slots_of` would give for
    all of them: the same slots in a shard as in the whole fleet."""
    return [ConnectorSlot(cp_id, c.connector_id, c.rating.max_power_w / 1000.0)
            for cp_id in charge_point_ids for c in model.connectors
            if connector_ids is None or c.connector_id in connector_ids]


def replay_ev(energy_kwh: float, max_power_kw: float) -> Ev:
    """An EV that takes the recorded energy at the connector's full power."""
    battery = max(58.0, energy_kwh / (REPLAY_SOC_END_MAX - REPLAY_SOC_START))
    return Ev(battery_kwh=battery, soc_start=REPLAY_SOC_START, max_ac_kw=max_power_kw, max_dc_kw=max_power_kw,
              energy_wanted_kwh=energy_kwh)


class StationReplay:
    """The replayed sessions of one station, played one after the other."""

    __slots__ = ("config", "next_index", "remote_start", "seed", "sessions", "slots", "station")

    def __init__(self, station: Station, sessions: tuple[ReplayedSession, ...], slots: Sequence[ConnectorSlot],
                 config: ReplaySessions, seed: int, remote_start: RemoteStart | None) -> None:
        self.station = station
        self.sessions = sessions  # sorted by start
        self.slots = slots
        self.config = config
        self.seed = station_seed(seed, station.charge_point_id)
        self.next_index = 0
        self.remote_start = remote_start

    def start(self, now_s: float) -> None:
        self._schedule_next(now_s)

    def _schedule_next(self, origin_s: float) -> None:
        if self.next_index < len(self.sessions):
            session = self.sessions[self.next_index]
            self.station.at(origin_s + self.station.sim_s(session.start_s), lambda now: self._arrive(origin_s, now))

    def _arrive(self, origin_s: float, now_s: float) -> None:
        station = self.station
        session = self.sessions[self.next_index]
        self.next_index += 1
        slot = self.slots[session.slot]
        if station.closing:
            return
        if connector_free(station, slot.connector_id, now_s):
            rng = random.Random((self.seed << 32) + session.line)
            tags = self.config.id_tags
            planned = PlannedSession(session.connected_s, replay_ev(session.energy_kwh, slot.max_power_kw),
                                     draw_tag(tags, rng), rng.random() < tags.remote_start_share,
                                     rng.uniform(*BADGE_DELAY_S), session.start_s)
            # From the plan's origin, as the arrivals: check_replay's fit holds however late this runs.
            play(station, slot.connector_id, planned, now_s, self.remote_start, origin_s=origin_s)
        else:
            station.stats.count("session.lost_busy")
        self._schedule_next(origin_s)
