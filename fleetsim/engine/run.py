"""One load test from start to end: start the embedded CSMS when no target is
given, build the stations, ramp them up, run for the duration, stop them
cleanly, and hand back what was recorded."""

from __future__ import annotations

import math
import random
import signal
import ssl
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import trio

from fleetsim.csms.config import CsmsConfig
from fleetsim.csms.server import RunningCsms, serve_csms
from fleetsim.engine.faults import apply_clock_skew, inject_faults
from fleetsim.engine.fleet import OFF, ConnectOptions, Fleet, Progress
from fleetsim.engine.link import Target
from fleetsim.engine.steering import ClosedInterval, Steer, Steering, Ticks, drive_stages, run_steered
from fleetsim.engine.watch import collect_young, watch_gc, watch_loop_lag
from fleetsim.metrics import hlog
from fleetsim.metrics.intervals import Census, IntervalWriter
from fleetsim.metrics.recorder import ModelStats, Recorder, fold_into
from fleetsim.metrics.stages import StageBook
from fleetsim.metrics.tally import Tally
from fleetsim.ocpp.enums import AuthorizationStatus, Reason
from fleetsim.profiles.profile import StationProfile
from fleetsim.sessions.config import ReplaySessions
from fleetsim.sessions.faults import FaultPlan, FaultSchedule
from fleetsim.sessions.play import RemoteStart
from fleetsim.sessions.simple import drive
from fleetsim.sessions.start import start_sessions
from fleetsim.sessions.tags import id_tag_verdicts
from fleetsim.spec.run import (  # the spec's names, where the engine's callers have always found them
    FleetShare,
    RunSpec,
    interleave,
    shard_ids,
    shard_positions,
    share_ids,
    shares,
    station_ids,
)
from fleetsim.spec.stages import stage_windows
from fleetsim.station.build import build_model
from fleetsim.station.model import StationModel
from fleetsim.station.station import Station
from fleetsim.station.timebase import Timebase

__all__ = ["FleetShare", "RunOutcome", "RunSpec", "build_stations", "run", "share_ids", "shares", "station_ids"]


class RunOutcome(msgspec.Struct):
    started_at: datetime
    ended_at: datetime
    csms_url: str
    embedded_csms: bool
    stations: int
    progress: Progress
    interrupted: bool = False
    aborted: str | None = None  # why the run stopped itself early (an interval callback's reason)
    stages: list[dict[str, Any]] | None = None  # summary.json's ``stages`` (fleetsim.metrics.stages)


ProgressCallback = Callable[[Progress, Recorder, float], None]  # progress, recorder, seconds since start
# Awaited after each interval's fold with the seconds since the start (the
# recorder's cumulative histograms then hold everything so far): a reason
# stops the run cleanly, as reaching its duration does (thresholds' abort).
IntervalCallback = Callable[[float], Awaitable[str | None]]


def build_stations(spec: RunSpec, profiles: dict[str, StationProfile], recorder: Recorder, timebase: Timebase,
                   remote_start: RemoteStart | None = None) -> list[Station]:
    """The stations of the fleet (of ``spec.shard``'s part of it), in ramp
    order, their sessions scheduled: a share's own ``sessions`` (segment model
    or replay; ``remote_start`` is how its app-started sessions reach the
    CSMS), else ``spec.sessions``."""
    return StationMaker(spec, profiles, recorder, timebase, remote_start).fleet()


class StationMaker:
    """Makes the fleet's stations: all of them at the start of a run, and one
    again when a station removed from the load (stages) is added back, as a
    station powered on anew."""

    def __init__(self, spec: RunSpec, profiles: dict[str, StationProfile], recorder: Recorder, timebase: Timebase,
                 remote_start: RemoteStart | None = None) -> None:
        self.spec = spec
        self.timebase = timebase
        self.remote_start = remote_start
        self.models: dict[str, StationModel] = {pid: build_model(profiles[pid])
                                                for pid in {s.profile_id for s in spec.fleet}}
        self.stats: dict[str, ModelStats] = {}
        for profile_id, model in self.models.items():
            self.stats[profile_id] = recorder.model(model.model_id, model.response_timeout_s)
            self.stats[profile_id].declared_reaction_max_s.update(declared_reactions(profiles[profile_id]))
        self._share_of: dict[str, FleetShare] = {}

    def _station(self, charge_point_id: str, share: FleetShare) -> Station:
        spec = self.spec
        station = Station(charge_point_id, self.models[share.profile_id], self.stats[share.profile_id],
                          random.Random(f"{spec.seed}/{charge_point_id}"), self.timebase,
                          reaction_delays=spec.reaction_delays)
        for key, value in share.configuration:
            station.config.change(key, value)
        return station

    def fleet(self) -> list[Station]:
        spec = self.spec
        groups = []
        for share in spec.fleet:
            group = [self._station(charge_point_id, share) for charge_point_id in shard_ids(spec, share)]
            if share.sessions is not None:
                start_sessions(group, share.sessions, spec.seed, self.timebase.origin_s, remote_start=self.remote_start,
                               connector_ids=share.connectors,
                               group_ids=None if spec.shard.whole else share_ids(spec, share))
            elif spec.sessions is not None:
                for station in group:
                    drive(station, spec.sessions, station.rng, self.timebase.origin_s, share.connectors)
            groups.append(group)
        return interleave(groups)

    def renew(self, old: Station, now_s: float) -> Station:
        """``old``'s station powered on anew at ``now_s``: it boots, and its
        sessions start from now.  Replayed sessions are laid out on the
        whole group once, at the start: a station added back plays none
        (counted, ``stage.readded_without_replay``)."""
        if not self._share_of:  # made at the first renewal: a run whose load never drops has none
            for each in self.spec.fleet:
                self._share_of.update(dict.fromkeys(shard_ids(self.spec, each), each))
        share = self._share_of[old.charge_point_id]
        station = self._station(old.charge_point_id, share)
        station.timebase = old.timebase  # its clock, skewed or not
        station.ever_booted = old.ever_booted  # the fleet's stations ever Accepted count it once
        if isinstance(share.sessions, ReplaySessions):
            station.stats.count("stage.readded_without_replay")
        elif share.sessions is not None:
            start_sessions([station], share.sessions, self.spec.seed, now_s, remote_start=self.remote_start,
                           connector_ids=share.connectors)
        elif self.spec.sessions is not None:
            drive(station, self.spec.sessions, station.rng, now_s, share.connectors)
        return station


def session_id_tags(spec: RunSpec) -> dict[str, AuthorizationStatus]:
    """The verdicts the fleet's sessions expect of the CSMS, for its tags."""
    verdicts: dict[str, AuthorizationStatus] = {}
    for share in spec.fleet:
        if share.sessions is not None:
            verdicts.update(id_tag_verdicts(share.sessions.id_tags))
    return verdicts


class _RemoteStartDesk:
    """Where the sessions' app requests go: the embedded CSMS once it runs;
    against another CSMS nothing can ask (the sessions count it)."""

    __slots__ = ("csms",)

    def __init__(self) -> None:
        self.csms: RunningCsms | None = None

    def __call__(self, charge_point_id: str, connector_id: int, id_tag: str) -> bool:
        return self.csms is not None and self.csms.request_remote_start(charge_point_id, connector_id, id_tag)


def declared_reactions(profile: StationProfile) -> dict[str, float]:
    """The reaction times the station records (fleetsim.station.handlers), by
    name, against the certificate's declared maxima."""
    performance = profile.performance
    named = {
        "RemoteStartTransaction→StartTransaction": performance.remote_start,
        "RemoteStopTransaction→StopTransaction": performance.remote_stop,
        "TriggerMessage→message": performance.triggered,
    }
    return {name: timing.declared_max_s for name, timing in named.items() if timing.declared_max_s is not None}


async def run(spec: RunSpec, profiles: dict[str, StationProfile], recorder: Recorder, *,
              ssl_context: ssl.SSLContext | None = None, passwords: Callable[[str], bytes | None] | None = None,
              on_progress: ProgressCallback | None = None, progress_every_s: float = 1.0,
              handle_signals: bool = False, results_dir: Path | None = None,
              on_interval: IntervalCallback | None = None, steer: Steer | None = None) -> RunOutcome:
    """Run the load test.  With ``handle_signals``, a first Ctrl-C (or SIGTERM)
    ends the run early but cleanly, like reaching the duration; a second one
    closes everything at once.  Either way the caller gets what was recorded.
    With ``results_dir``, the interval logs (``latency.hlog``, the time series)
    are written there every ``spec.interval_s`` as the run goes, and closed
    with the last interval however the run ends.  ``on_interval`` is awaited
    after each interval (with or without ``results_dir``) and may stop the run.
    ``steer`` drives the load instead of the ramp and ``spec.stages`` (the
    fleet starts empty): it is handed a :class:`Steering` and the run ends
    when it returns (or at ``spec.duration_s``, whichever comes first)."""
    # With spec.start_at, the run starts then: the stations are built now,
    # the connections opened at that time (a moment already past: at once).
    now = datetime.now(UTC)
    wait_s = max(0.0, (spec.start_at - now).total_seconds()) if spec.start_at is not None else 0.0
    started_at = now + timedelta(seconds=wait_s)
    start_s = trio.current_time() + wait_s
    writer = IntervalWriter(results_dir, recorder, started_at) if results_dir is not None else None
    stop = trio.Event()
    aborted: list[str] = []
    fleet: Fleet | None = None
    windows = stage_windows(spec.stages, spec.ramp_per_s, spec.interval_s) if spec.stages else []
    book = StageBook(windows, spec.interval_s, spec.percentiles) if windows else None

    steering: list[Steering] = []
    ticks = Ticks()

    async def after_fold(elapsed_s: float) -> None:
        if (book is not None or steering) and fleet is not None:
            progress = fleet.progress
            tally = Tally.of(recorder)
            if book is not None:
                book.tick(elapsed_s, progress.interval_lines, tally, progress.interval_messages)
                ticks.closed(elapsed_s)
            for steered in steering:
                steered.closed(ClosedInterval(elapsed_s, progress.interval_lines, tally, *progress.interval_messages))
        if on_interval is not None and not stop.is_set():
            reason = await on_interval(elapsed_s)
            if reason is not None and not stop.is_set():
                aborted.append(reason)
                stop.set()

    # The stations are built before the collector is watched: its pauses then
    # (thousands of stations allocated) delay no message, as none is in flight.
    timebase = Timebase(start_s, started_at, spec.speed, wall_timestamps=spec.wall_timestamps,
                        sim_origin=spec.sim_start)
    desk = _RemoteStartDesk()
    maker = StationMaker(spec, profiles, recorder, timebase, desk)
    stations = maker.fleet()
    await trio.sleep_until(start_s)
    try:
        async with trio.open_nursery() as nursery:
            csms, url = await _start_csms(nursery, spec)
            desk.csms = csms
            if csms is not None:
                nursery.start_soon(collect_young)  # (see there: the CSMS's objects in the fleet's process)
            options = ConnectOptions(Target.parse(url), ssl_context=ssl_context, passwords=passwords,
                                     source_addresses=spec.shard.source_addresses(spec.source_addresses),
                                     connect_timeout_s=spec.connect_timeout_s, reconnect=spec.reconnect)
            fleet = Fleet(stations, options, recorder,
                          random.Random(spec.seed if spec.shard.whole else f"{spec.seed}/shard/{spec.shard}"),
                          renew=maker.renew)
            note = writer.event if writer is not None else None
            if steer is not None:
                fleet.target = 0  # the driver starts the first stations
                steering.append(Steering(fleet, spec, start_s, note, stop))
                nursery.start_soon(run_steered, steer, steering[0])
            elif windows:
                fleet.target = 0  # the first stage starts the first stations
                nursery.start_soon(drive_stages, fleet, spec, windows, start_s, note, ticks)
            schedule, positions = _fault_schedule(spec, stations, profiles)
            apply_clock_skew(stations, schedule, positions)
            if not schedule.empty:
                nursery.start_soon(inject_faults, fleet, schedule, timebase, recorder,
                                   writer.event if writer is not None else None, positions)
            if handle_signals:
                nursery.start_soon(_watch_signals, stop, nursery.cancel_scope)
            if on_progress is not None:
                nursery.start_soon(_report_progress, fleet, recorder, on_progress, progress_every_s)
            if writer is not None or on_interval is not None or book is not None or steer is not None:
                nursery.start_soon(_write_intervals, fleet, writer, recorder, spec.interval_s, start_s, after_fold)
            # The collector's pauses count while stations send; those of the
            # shutdown after (the heap unfrozen) delay no measured message.
            with watch_gc(recorder):
                await _drive_fleet(fleet, spec, stop, recorder)
            nursery.cancel_scope.cancel()
    finally:
        if writer is not None:
            writer.close(trio.current_time() - start_s, fleet.census_now() if fleet is not None else Census())
        if book is not None and fleet is not None:
            book.close(Tally.of(recorder), (fleet.progress.messages_out, fleet.progress.messages_in))
    return RunOutcome(started_at, datetime.now(UTC), url, csms is not None, len(stations), fleet.progress,
                      stop.is_set() and not aborted and not (steering and steering[0].finished),
                      aborted[0] if aborted else None,
                      book.sections() if book is not None else None)


def _fault_schedule(spec: RunSpec, stations: list[Station],
                    profiles: dict[str, StationProfile]) -> tuple[FaultSchedule, list[int] | None]:
    """The faults, drawn over the whole fleet; for a shard, with where each of
    its stations stands in it (None: the stations are the whole fleet)."""
    if spec.shard.whole:
        return FaultSchedule(spec.faults, spec.seed, [(s.charge_point_id, len(s.connectors)) for s in stations]), None
    if spec.faults == FaultPlan():
        return FaultSchedule(spec.faults, spec.seed, []), None
    connectors = {pid: len(build_model(profiles[pid]).ratings) for pid in {share.profile_id for share in spec.fleet}}
    fleet = [(cp_id, connectors[profile_id]) for cp_id, profile_id in station_ids(spec)]
    return FaultSchedule(spec.faults, spec.seed, fleet), shard_positions(spec)


async def _start_csms(nursery: trio.Nursery, spec: RunSpec) -> tuple[RunningCsms | None, str]:
    """The target: the given URL, or the embedded CSMS, started in ``nursery``."""
    if spec.csms_url is not None:
        return None, spec.csms_url
    csms = await nursery.start(serve_csms, embedded_config(spec))
    return csms, csms.url


def embedded_config(spec: RunSpec) -> CsmsConfig:
    """The embedded CSMS's settings for a run against it: the scenario's,
    with the run's traffic, seed and clock, and the verdicts of the tags the
    sessions present."""
    # The embedded CSMS's call rates are per simulated hour, like the sessions.
    traffic = tuple(msgspec.structs.replace(rule, per_station_per_hour=rule.per_station_per_hour * spec.speed,
                                            per_station_per_s=rule.per_station_per_s * spec.speed)
                    for rule in spec.embedded_traffic)
    # Its clock follows the stations' timestamps: accelerated, or the real
    # one when they carry the wall clock.
    simulated_clock = not spec.wall_timestamps
    config = msgspec.structs.replace(spec.embedded_csms or CsmsConfig(), traffic=traffic, seed=spec.seed,
                                     speed=spec.speed if simulated_clock else 1.0,
                                     clock_origin=spec.sim_start if simulated_clock else None)
    verdicts = session_id_tags(spec)
    if verdicts:
        # The sessions' tags get the verdicts they were drawn for; a tag of
        # the "unknown" share is one no CSMS knows (§7.2 Invalid).  The simple
        # sessions' tags of shares without their own stay Accepted.
        if spec.sessions is not None and any(share.sessions is None for share in spec.fleet):
            verdicts.update(dict.fromkeys(spec.sessions.id_tags, AuthorizationStatus.ACCEPTED))
        config = msgspec.structs.replace(config, id_tags={**config.id_tags, **verdicts},
                                         unknown_id_tag=AuthorizationStatus.INVALID)
    if spec.unknown_id_tag is not None:  # given explicitly: it wins over the default above
        config = msgspec.structs.replace(config, unknown_id_tag=spec.unknown_id_tag)
    return config


async def _write_intervals(fleet: Fleet, writer: IntervalWriter | None, recorder: Recorder, interval_s: float,
                           start_s: float, after_fold: Callable[[float], Awaitable[None]]) -> None:
    """Tick the interval writer every ``interval_s``, on a fixed grid (a late
    tick does not push the later ones back), letting the loop's other tasks
    run between the writer's steps; then ``after_fold``.  Without a writer
    the intervals are folded into the totals all the same."""
    tick_s = start_s
    while True:
        tick_s += interval_s
        await trio.sleep_until(tick_s)
        elapsed_s = trio.current_time() - start_s
        if writer is not None:
            census = await fleet.take_census()
            # closing(): a cancelled tick still writes what it folded, at once.
            with closing(writer.tick_steps(elapsed_s, census)) as steps:
                for _ in steps:
                    await trio.lowlevel.checkpoint()
            fleet.progress.last_interval = writer.last  # for the live views (fleetsim.metrics.live)
            fleet.progress.interval_lines = writer.last_lines
            fleet.progress.interval_messages = (census.messages_out, census.messages_in)
        else:
            lines = []
            for tag, interval, total in recorder.series():  # a series a step, as the writer does
                if interval.total_count:
                    lines.append(hlog.interval_line(tag, elapsed_s - interval_s, interval_s, interval))
                fold_into(total, interval)
                await trio.lowlevel.checkpoint()
            fleet.progress.interval_lines = tuple(lines)
            fleet.progress.interval_messages = (fleet.progress.messages_out, fleet.progress.messages_in)
        await after_fold(elapsed_s)
        tick_s = max(tick_s, trio.current_time() - interval_s)  # fell behind by a whole interval: skip, don't rush


async def _watch_signals(stop: trio.Event, everything: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if stop.is_set():
                everything.cancel()  # a second signal: no more waiting
                return
            stop.set()


async def _watch_loop_lag(recorder: Recorder, scope: trio.CancelScope, since_s: float) -> None:
    with scope:
        await watch_loop_lag(recorder, since_s=since_s)


async def _drive_fleet(fleet: Fleet, spec: RunSpec, stop: trio.Event, recorder: Recorder) -> None:
    async with trio.open_nursery() as nursery:
        # The loop's lag is the run's from the fleet's start (the moment it
        # reports, before its first station: a ramp of 0 starts them all at
        # once): not its start-up collection of every station built (a full
        # one, 0.14 s at 19,000, before any station connects; see managed_gc).
        started_s = await nursery.start(fleet.run, spec.shard.ramp_per_s(spec.ramp_per_s))
        lag_watch = trio.CancelScope()
        nursery.start_soon(_watch_loop_lag, recorder, lag_watch, started_s)
        with trio.move_on_after(spec.duration_s):
            await stop.wait()
        fleet.ramp_stopped = True  # no station starts while the run winds down
        if spec.end_transactions:
            await _end_transactions(fleet, spec.stop_grace_s)
        # The loop's lag is the run's up to here.  Closing every connection
        # at once holds the loop (about 20 µs a connection: 0.4 s for 19,000)
        # and delays no message that is measured: not the run's lag.
        lag_watch.cancel()
        nursery.cancel_scope.cancel()


# How often the run's end wakes to stop the transactions that are due (see _end_transactions).
END_STEP_S = 0.005


async def _end_transactions(fleet: Fleet, grace_s: float) -> None:
    """Stop every transaction and give the StopTransactions time to reach the
    CSMS, so the run leaves it in a clean state."""
    # Spread over a moment, as people leave, rather than in one burst of our
    # own making that would then show up as CSMS latency.
    start = trio.current_time()
    spread_s = min(1.0, grace_s / 4)
    # Stations removed from the load (stages) have ended theirs already.
    runners = [r for r in fleet.runners if r.state != OFF]
    leaving = sorted(((start + fleet.rng.random() * spread_s, r) for r in runners), key=lambda x: x[0])
    # Those whose moment has come go together, a wake-up at most every
    # END_STEP_S: a wake-up a station (19,000 in a second) would take the
    # loop from the fleet's own timers.
    at = 0
    while at < len(leaving):
        now_s = trio.current_time()
        while at < len(leaving) and leaving[at][0] <= now_s:
            runner = leaving[at][1]
            at += 1
            if runner.scheduled_s == math.inf:
                # Nothing of this station's waited in the heap (it never connected):
                # what falls due now is no lateness of the simulator's timers.
                runner.started_s = now_s
            runner.station.end_sessions(Reason.OTHER, now_s)
            fleet.after(runner)
        if at < len(leaving):
            await trio.sleep_until(max(leaving[at][0], now_s + END_STEP_S))
    with trio.move_on_after(grace_s):
        while any(r.station.queue.pending_transaction_messages() for r in fleet.runners if r.link is not None):
            await trio.sleep(0.05)
    for runner in runners:
        if undelivered := runner.station.queue.pending_transaction_messages():
            runner.station.stats.count("end.undelivered_transaction_messages", undelivered)


async def _report_progress(fleet: Fleet, recorder: Recorder, callback: ProgressCallback, every_s: float) -> None:
    start = trio.current_time()
    while True:
        await trio.sleep(every_s)
        await fleet.take_census()  # sets progress.booted and .charging
        callback(fleet.progress, recorder, trio.current_time() - start)
