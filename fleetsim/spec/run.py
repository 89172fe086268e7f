"""The run spec: everything one load test needs, resolved (no files, no
environment), and the charge point ids it gives its stations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import msgspec

from fleetsim.csms.config import CsmsConfig, TrafficRule
from fleetsim.metrics.percentiles import DEFAULT_PERCENTILES
from fleetsim.ocpp.enums import AuthorizationStatus
from fleetsim.sessions.config import SessionConfig
from fleetsim.sessions.faults import FaultPlan
from fleetsim.sessions.simple import SimpleSessions
from fleetsim.spec.shard import Shard
from fleetsim.spec.stages import Stage
from fleetsim.station.backoff import Backoff
from fleetsim.station.build import group_ids

T = TypeVar("T")


class FleetShare(msgspec.Struct, frozen=True):
    profile_id: str
    stations: int
    # The share's own sessions (a scenario group's); None: RunSpec.sessions.
    sessions: SessionConfig | None = None
    # Its charge point ids: a str.format pattern of ``n`` (1, 2, ...) and
    # ``model``; None: ``<id_prefix>-<model>-<n:05d>``.
    id_pattern: str | None = None
    connectors: tuple[int, ...] | None = None  # the connectors drivers use; None: all
    # Configuration keys as the CSMS set them before the run (applied as a
    # ChangeConfiguration would be; the scenario checked each one).
    configuration: tuple[tuple[str, str], ...] = ()


class RunSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a run needs, resolved (no files, no environment)."""

    fleet: tuple[FleetShare, ...]
    duration_s: float
    ramp_per_s: float = 100.0
    seed: int = 1
    csms_url: str | None = None  # None: the embedded CSMS on loopback
    id_prefix: str = "FS"
    speed: float = 1.0
    reaction_delays: bool = True
    sessions: SimpleSessions | None = SimpleSessions()
    stop_grace_s: float = 10.0  # time to deliver StopTransactions at the end
    end_transactions: bool = True  # False: just close the connections
    source_addresses: tuple[str, ...] = ()
    embedded_traffic: tuple[TrafficRule, ...] = ()
    connect_timeout_s: float = 10.0
    reconnect: Backoff = Backoff()  # the stations' waits before connecting again
    interval_s: float = 1.0  # of latency.hlog and the time series
    faults: FaultPlan = FaultPlan()
    wall_timestamps: bool = False  # see Timebase.wall_timestamps
    sim_start: datetime | None = None  # see Timebase.sim_origin
    embedded_csms: CsmsConfig | None = None  # the embedded CSMS's settings (traffic and speed are set by the run)
    # The embedded CSMS's verdict for a tag it does not know (OCPP 1.6 §7.2);
    # None: Invalid when the sessions present tags of their own, else embedded_csms's.
    unknown_id_tag: AuthorizationStatus | None = None
    scenario: str | None = None  # the scenario's name, for the results; None: the command line
    # The percentiles of summary.json's latency blocks (besides max; those of
    # schema 1 are always added): fleetsim.metrics.percentiles.
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    # The part of the fleet this process runs (fleetsim.spec.shard); the
    # fields above always describe the whole run.
    shard: Shard = Shard()
    # A wall-clock time to start at (the stations built, the connections not
    # yet opened), so that shards on several machines ramp together; None: at once.
    start_at: datetime | None = None
    # Load that changes during the run (fleetsim.spec.stages): the fleet
    # starts empty and each stage moves it to its target; the run lasts their
    # sum (duration_s).  Empty: every station is started by the ramp and runs
    # for duration_s.
    stages: tuple[Stage, ...] = ()

    def stations_per_model(self) -> dict[str, int]:
        """This shard's stations per model, over every share of it, in the
        fleet's order (the whole fleet's when the run is not split)."""
        counts: dict[str, int] = {}
        for share in self.fleet:
            counts[share.profile_id] = counts.get(share.profile_id, 0) + self.shard.size(share.stations)
        return counts

    def stations(self) -> int:
        """This shard's stations."""
        return sum(self.shard.size(share.stations) for share in self.fleet)

    def fleet_stations(self) -> int:
        """The whole fleet's stations, over every shard."""
        return sum(share.stations for share in self.fleet)


def station_ids(spec: RunSpec) -> list[tuple[str, str]]:
    """(charge point id, profile id) of every station of the whole fleet, in
    ramp order: the models interleaved, so a partial ramp is a fair sample of
    the mix."""
    return interleave([[(cp_id, share.profile_id) for cp_id in share_ids(spec, share)] for share in spec.fleet])


def shard_station_ids(spec: RunSpec) -> list[tuple[str, str]]:
    """(charge point id, profile id) of this shard's stations, in its ramp
    order: the whole fleet's order with the other shards' stations left out."""
    return interleave([[(cp_id, share.profile_id) for cp_id in shard_ids(spec, share)] for share in spec.fleet])


def shard_positions(spec: RunSpec) -> list[int]:
    """Where each of this shard's stations (in its ramp order) stands in the
    whole fleet's ramp order: what fleet-wide draws (faults) are indexed by."""
    positions = [[] for _ in spec.fleet]  # type: list[list[int]]
    place = 0
    # The order of interleave(): round n takes the n-th station of every share that has one.
    for n in range(max((share.stations for share in spec.fleet), default=0)):
        for share, mine in zip(spec.fleet, positions, strict=True):
            if n < share.stations:
                if n % spec.shard.count == spec.shard.index:
                    mine.append(place)
                place += 1
    return interleave(positions)


def interleave(groups: Sequence[Sequence[T]]) -> list[T]:
    """One of each group in turn, until all are used up."""
    longest = max((len(group) for group in groups), default=0)
    return [group[n] for n in range(longest) for group in groups if n < len(group)]


def share_ids(spec: RunSpec, share: FleetShare) -> list[str]:
    """The charge point ids of one share, in order (every shard's)."""
    return group_ids(share.id_pattern, spec.id_prefix, share.profile_id, share.stations)


def shard_ids(spec: RunSpec, share: FleetShare) -> list[str]:
    """The charge point ids of one share that fall to this shard, in order."""
    ids = share_ids(spec, share)
    return ids if spec.shard.whole else [ids[p] for p in spec.shard.positions(len(ids))]




def shares(profile_ids: Sequence[str], stations: int, weights: Sequence[float] | None = None) -> tuple[FleetShare, ...]:
    """Split ``stations`` over profiles by weight (equal by default), exactly:
    the shares add up to ``stations`` (a profile whose part rounds to none
    is left out).  Raises ValueError for a weight that is not a finite
    number above 0."""
    weights = list(weights) if weights is not None else [1.0] * len(profile_ids)
    for profile_id, weight in zip(profile_ids, weights, strict=True):
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"share {weight!r} of {profile_id} must be a finite number above 0")
    # Scaled by the largest first, so that no sum of weights overflows to inf.
    largest = max(weights, default=1.0)
    scaled = [weight / largest for weight in weights]
    total = sum(scaled)
    exact = [stations * weight / total for weight in scaled]
    counts = [int(part) for part in exact]
    for i in sorted(range(len(counts)), key=lambda i: exact[i] - counts[i], reverse=True):
        if sum(counts) >= stations:
            break
        counts[i] += 1
    return tuple(FleetShare(pid, n) for pid, n in zip(profile_ids, counts, strict=True) if n > 0)
