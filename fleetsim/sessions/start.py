"""Where the engine starts a fleet group's sessions: segment models or replay,
scheduled on the group's stations from the run's start."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fleetsim.sessions.config import ReplaySessions, SegmentSessions, SessionConfig
from fleetsim.sessions.generate import SegmentPlan, StationSessions
from fleetsim.sessions.play import RemoteStart
from fleetsim.sessions.replay import ReplayReport, StationReplay, check_replay, slots_of, slots_of_ids
from fleetsim.sessions.tags import check_id_tags

if TYPE_CHECKING:
    from fleetsim.station.station import Station


def start_sessions(stations: Sequence[Station], config: SessionConfig, seed: int, now_s: float, *,
                   remote_start: RemoteStart | None = None, base_dir: Path | None = None,
                   connector_ids: tuple[int, ...] | None = None,
                   group_ids: Sequence[str] | None = None) -> ReplayReport | None:
    """Schedule the sessions of one fleet group on its stations (on
    ``connector_ids`` of each, or all) from engine time ``now_s`` (the run's start).  A bad configuration raises ValueError
    saying what is wrong; for replay, the report of what fits (the unfit
    sessions are also counted on the stations, ``replay.unfit.<reason>``).
    ``group_ids``: the whole group's charge point ids when ``stations`` are
    one shard's part of it (fleetsim.spec.shard): the recorded sessions are
    laid out on the whole group, and each station plays its own."""
    problems = check_id_tags(config.id_tags)
    if problems:
        raise ValueError("; ".join(problems))
    match config:
        case SegmentSessions():
            plan = SegmentPlan.of(config)
            for station in stations:
                StationSessions(station, plan, seed, remote_start, connector_ids).start(now_s)
            return None
        case ReplaySessions():
            return _start_replay(stations, config, seed, now_s, remote_start, base_dir, connector_ids, group_ids)
    raise AssertionError(f"unreachable: {config!r}")


def _start_replay(stations: Sequence[Station], config: ReplaySessions, seed: int, now_s: float,
                  remote_start: RemoteStart | None, base_dir: Path | None,
                  connector_ids: tuple[int, ...] | None, group_ids: Sequence[str] | None) -> ReplayReport | None:
    if group_ids is not None and not stations:
        return None  # none of the group's stations is this shard's
    slots = slots_of(stations, connector_ids) if group_ids is None else \
        slots_of_ids(group_ids, stations[0], connector_ids)
    # The run's simulated start: [run] start, else the real start of the run
    # (UTC); the scenario's plan places the file's sessions from the same origin.
    sim_start = stations[0].timebase.simulated(now_s) if stations else None
    report = check_replay(config, slots, sim_start, base_dir=base_dir)
    by_id = {station.charge_point_id: station for station in stations}
    for session, reason in report.unfit:
        if (owner := by_id.get(slots[session.slot].charge_point_id)) is not None:  # else another shard's
            owner.stats.count(f"replay.unfit.{reason}")
    per_station: dict[str, list] = {station.charge_point_id: [] for station in stations}
    for session in report.fit:
        if (mine := per_station.get(slots[session.slot].charge_point_id)) is not None:
            mine.append(session)
    for station in stations:
        StationReplay(station, tuple(per_station[station.charge_point_id]), slots, config, seed,
                      remote_start).start(now_s)
    return report
